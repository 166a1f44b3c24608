//! The owned-buffer views the streams dereference to: [`StreamIo`] (of
//! [`TcpStream`](super::TcpStream) and [`UnixStream`](super::UnixStream)), [`ReadIo`] (of
//! [`OwnedReadHalf`](super::OwnedReadHalf)) and [`WriteIo`] (of
//! [`OwnedWriteHalf`](super::OwnedWriteHalf)).
//!
//! The owned-buffer methods live here rather than on the streams so that a poll-based
//! trait's method of the same name, imported, is found first (Rust tries the stream's own
//! methods and those of the traits in scope before it looks through `Deref`); without such
//! an import, `stream.read(buf)` reaches these. See [`crate::io`].

use std::fmt;
use std::future::Future;
use std::io;
use std::net::Shutdown;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use super::compat::{ReadCompat, WriteCompat};
use super::socket::Socket;
use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::driver::timed_out;
use crate::io::{AsyncReadRent, AsyncWriteRent};
use crate::net::future::{Deadline, QueueWrite, Read, ReadVectored, Write, WriteVectored};

/// The owned-buffer I/O of a stream, reached through the stream (it dereferences to this):
/// `stream.read(buf)`, `stream.write_all(buf)`. Every method takes the buffer by value and
/// hands it back with the result.
#[derive(Debug)]
pub struct StreamIo {
    pub(super) socket: Socket,
    pub(super) rd: ReadCompat,
    pub(super) wr: WriteCompat,
}

/// The owned-buffer reads of a stream's reading half (it dereferences to this).
#[derive(Debug)]
pub struct ReadIo {
    pub(super) socket: Socket,
    pub(super) rd: ReadCompat,
}

/// The owned-buffer writes of a stream's writing half (it dereferences to this).
#[derive(Debug)]
pub struct WriteIo {
    pub(super) socket: Socket,
    pub(super) wr: WriteCompat,
}

/// The owned-buffer reads (`read`, `read_exact`) of the views with `socket` and `rd` fields.
macro_rules! owned_reads {
    ($($view:ty),*) => {$(
        impl $view {
            /// Reads into `buf` (up to its capacity, from its start); `Ok(0)` means the peer
            /// closed its side. Takes a deadline with [`StreamRead::timeout`].
            #[inline]
            pub fn read<B: IoBufMut>(&self, buf: B) -> StreamRead<'_, B> {
                StreamRead::new(&self.rd, &self.socket, buf)
            }

            /// Fills `buf`'s whole capacity; `UnexpectedEof` if the peer closes first.
            pub async fn read_exact<B: IoBufMut>(&self, buf: B) -> BufResult<(), B> {
                // The whole buffer first: one read usually fills it.
                let total = buf.bytes_total();
                let (res, buf) = self.read(buf).await;
                match res {
                    Ok(n) if n >= total => (Ok(()), buf),
                    res => {
                        let read = |rest, _| self.read(rest);
                        crate::io::read_exact_after(res, buf, total, read).await
                    }
                }
            }
        }
    )*};
}

/// The owned-buffer writes (`write`, `write_all`) of the views with `socket` and `wr`
/// fields.
macro_rules! owned_writes {
    ($($view:ty),*) => {$(
        impl $view {
            /// Writes some of `buf`'s initialised bytes; returns how many. Takes a deadline
            /// with `timeout` ([`StreamWrite`]).
            #[inline]
            pub fn write<B: IoBuf>(&self, buf: B) -> StreamWrite<'_, Write<B>> {
                StreamWrite::new(&self.wr, Write::new(self.socket.write(buf)))
            }

            /// Writes all of `buf`'s initialised bytes, however many writes it takes
            /// ([`WriteAll`]).
            #[inline]
            pub fn write_all<B: IoBuf>(&self, buf: B) -> WriteAll<'_, B> {
                WriteAll::new(&self.socket, &self.wr, buf)
            }

            /// Writes all of `buf`'s initialised bytes, without handing the buffer back:
            /// on io_uring ready as soon as the send is handed to the kernel, which
            /// finishes it alone; a failure is told by the stream's next write, flush or
            /// shutdown ([`QueueWrite`]).
            #[inline]
            pub fn queue_write<B: IoBuf>(&self, buf: B) -> QueueWrite<'_, B> {
                QueueWrite::new(&self.socket, &self.wr, buf)
            }
        }
    )*};
}

/// What a stream type (`$ty`, with its std counterpart `$std`) built on a [`StreamIo`] in
/// its `io` field has: the view behind `Deref`, and the descriptor traits
/// ([`fd_traits!`](super::raw::fd_traits)) over its socket.
macro_rules! stream_type {
    ($ty:ident, $std:ty) => {
        impl $ty {
            fn socket(&self) -> &Socket {
                &self.io.socket
            }

            fn into_socket(self) -> io::Result<Socket> {
                self.io.into_socket()
            }
        }

        impl std::ops::Deref for $ty {
            type Target = StreamIo;

            /// The owned-buffer I/O: `read`, `write`, `read_exact`, `write_all`,
            /// `read_vectored`, `write_vectored`, `shutdown`.
            fn deref(&self) -> &StreamIo {
                &self.io
            }
        }

        super::raw::fd_traits!($ty, $std);
    };
}

pub(super) use stream_type;

owned_reads!(StreamIo, ReadIo);
owned_writes!(StreamIo, WriteIo);

impl StreamIo {
    pub(super) fn new(socket: Socket) -> StreamIo {
        StreamIo {
            socket,
            rd: ReadCompat::default(),
            wr: WriteCompat::default(),
        }
    }

    /// Reads into several buffers at once (`readv`), filling each to its capacity before the
    /// next; returns how many bytes in all (`Ok(0)`: the peer closed its side, or the
    /// buffers have no room). At most 1024 buffers (`IOV_MAX`: more is the
    /// kernel's `EINVAL`, or `EMSGSIZE` from a socket). It reads the socket itself: bytes
    /// the poll-based traits already received are not in it (read those with `read`).
    pub fn read_vectored<B: IoBufMut>(&self, bufs: Vec<B>) -> ReadVectored<B> {
        ReadVectored::new(self.socket.read_vectored(bufs))
    }

    /// Writes the initialised bytes of several buffers, in order, at once (`writev`, as a
    /// `sendmsg`); returns how many were written, which may be fewer than all of them.
    /// After the bytes written through the poll-based traits.
    pub fn write_vectored<B: IoBuf>(&self, bufs: Vec<B>) -> StreamWrite<'_, WriteVectored<B>> {
        StreamWrite::new(
            &self.wr,
            WriteVectored::new(self.socket.write_vectored(bufs)),
        )
    }

    /// Shuts down one or both directions; `Shutdown::Write` sends EOF while reading goes on
    /// (after the bytes written through the poll-based traits are sent).
    pub async fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        if how != Shutdown::Read {
            self.wr.flush().await?;
        }
        self.socket.shutdown(how).await
    }

    #[cfg_attr(
        not(any(feature = "tokio-io", feature = "futures-io")),
        allow(dead_code)
    )]
    pub(super) fn reader(&mut self) -> (&Socket, &mut ReadCompat) {
        (&self.socket, &mut self.rd)
    }

    #[cfg_attr(
        not(any(feature = "tokio-io", feature = "futures-io")),
        allow(dead_code)
    )]
    pub(super) fn writer(&mut self) -> (&Socket, &mut WriteCompat) {
        (&self.socket, &mut self.wr)
    }

    /// The two directions, each with its own handle on the socket and its bridge state.
    pub(super) fn split(self) -> (ReadIo, WriteIo) {
        let StreamIo { socket, rd, wr } = self;
        let rd = ReadIo {
            socket: socket.clone(),
            rd,
        };
        (rd, WriteIo { socket, wr })
    }

    /// The socket alone, for a conversion out of proactor; an error while the bridge holds
    /// bytes or an armed receive.
    pub(super) fn into_socket(self) -> io::Result<Socket> {
        let StreamIo { socket, rd, wr } = self;
        rd.release()?;
        wr.release()?;
        Ok(socket)
    }
}

impl ReadIo {
    #[cfg_attr(
        not(any(feature = "tokio-io", feature = "futures-io")),
        allow(dead_code)
    )]
    pub(super) fn reader(&mut self) -> (&Socket, &mut ReadCompat) {
        (&self.socket, &mut self.rd)
    }
}

impl WriteIo {
    /// Shuts down the write direction: the peer reads EOF once it has read what was sent
    /// (including the bytes written through the poll-based traits).
    pub async fn shutdown(&self) -> io::Result<()> {
        self.wr.flush().await?;
        self.socket.shutdown(Shutdown::Write).await
    }

    #[cfg_attr(
        not(any(feature = "tokio-io", feature = "futures-io")),
        allow(dead_code)
    )]
    pub(super) fn writer(&mut self) -> (&Socket, &mut WriteCompat) {
        (&self.socket, &mut self.wr)
    }
}

impl AsyncReadRent for StreamIo {
    async fn read<B: IoBufMut>(&self, buf: B) -> BufResult<usize, B> {
        StreamIo::read(self, buf).await
    }
}

impl AsyncWriteRent for StreamIo {
    async fn write<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
        StreamIo::write(self, buf).await
    }

    async fn shutdown_write(&self) -> io::Result<()> {
        StreamIo::shutdown(self, Shutdown::Write).await
    }
}

impl AsyncReadRent for ReadIo {
    async fn read<B: IoBufMut>(&self, buf: B) -> BufResult<usize, B> {
        ReadIo::read(self, buf).await
    }
}

impl AsyncWriteRent for WriteIo {
    async fn write<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
        WriteIo::write(self, buf).await
    }

    async fn shutdown_write(&self) -> io::Result<()> {
        WriteIo::shutdown(self).await
    }
}

/// The owned-buffer traits for the types that dereference to a view, through the view.
macro_rules! rent_via_view {
    (read: $($ty:ty),*) => {$(
        impl AsyncReadRent for $ty {
            async fn read<B: IoBufMut>(&self, buf: B) -> BufResult<usize, B> {
                (**self).read(buf).await
            }
        }
    )*};
    (write: $($ty:ty),*) => {$(
        impl AsyncWriteRent for $ty {
            async fn write<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
                (**self).write(buf).await
            }

            async fn shutdown_write(&self) -> io::Result<()> {
                AsyncWriteRent::shutdown_write(&**self).await
            }
        }
    )*};
}

rent_via_view!(read: super::TcpStream, super::UnixStream, super::OwnedReadHalf);
rent_via_view!(write: super::TcpStream, super::UnixStream, super::OwnedWriteHalf);

/// The future of a stream's `read` (of [`TcpStream`](super::TcpStream), [`UnixStream`](super::UnixStream)
/// and [`OwnedReadHalf`](super::OwnedReadHalf), through their owned-buffer views): a
/// [`Read`] of the socket itself, or, where the stream was read through the poll-based
/// traits and they hold received bytes or an armed receive, a read served by them (the byte
/// order stays whole). Takes a deadline with [`timeout`](StreamRead::timeout).
#[must_use = "futures do nothing unless polled"]
pub struct StreamRead<'a, B: IoBufMut> {
    inner: StreamReadInner<'a, B>,
}

enum StreamReadInner<'a, B: IoBufMut> {
    Socket(Read<B>),
    Bridged {
        rd: &'a ReadCompat,
        socket: &'a Socket,
        /// `None` once the output is given.
        buf: Option<B>,
        /// The deadline, with a timer of the runtime's (the bridge's receive is shared by
        /// every read of the stream, so the kernel cannot time one read out).
        deadline: Option<Deadline>,
    },
}

impl<'a, B: IoBufMut> StreamRead<'a, B> {
    /// A read of the socket while the bridge of `rd` is idle, else a read served by it.
    #[inline]
    pub(crate) fn new(rd: &'a ReadCompat, socket: &'a Socket, buf: B) -> Self {
        let inner = if rd.is_idle() {
            StreamReadInner::Socket(Read::new(socket.read(buf)))
        } else {
            StreamReadInner::Bridged {
                rd,
                socket,
                buf: Some(buf),
                deadline: None,
            }
        };
        StreamRead { inner }
    }

    /// Gives the read a deadline `after` from its first poll: past it, the output is an
    /// error of kind `TimedOut` with the buffer (see [the `future` module docs](super::future)).
    pub fn timeout(self, after: Duration) -> Self {
        let inner = match self.inner {
            StreamReadInner::Socket(read) => StreamReadInner::Socket(read.timeout(after)),
            StreamReadInner::Bridged {
                rd, socket, buf, ..
            } => StreamReadInner::Bridged {
                rd,
                socket,
                buf,
                deadline: Some(Deadline::new(after)),
            },
        };
        StreamRead { inner }
    }
}

// Nothing is pinned structurally: the buffer is only moved, and the read it may become is
// `Unpin`.
impl<B: IoBufMut> Unpin for StreamRead<'_, B> {}

impl<B: IoBufMut> Future for StreamRead<'_, B> {
    type Output = BufResult<usize, B>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.get_mut().inner {
            StreamReadInner::Socket(read) => Pin::new(read).poll(cx),
            StreamReadInner::Bridged {
                rd,
                socket,
                buf,
                deadline,
            } => {
                let b = buf.as_mut().expect("polled after completion");
                if let Poll::Ready(res) = rd.poll_read_owned(cx, socket, b) {
                    return Poll::Ready((res, buf.take().expect("taken once")));
                }
                if deadline.as_mut().is_some_and(|d| d.expired(cx)) {
                    return Poll::Ready((Err(timed_out()), buf.take().expect("taken once")));
                }
                Poll::Pending
            }
        }
    }
}

impl<B: IoBufMut> fmt::Debug for StreamRead<'_, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamRead").finish_non_exhaustive()
    }
}

/// The future of a stream's `write` or `write_vectored` (`F`: [`Write`] or
/// [`WriteVectored`]): the operation, after the bytes written before through the poll-based
/// traits are sent, if any are not (the byte order stays whole). Takes a deadline with
/// `timeout`, which counts from the first poll of the operation itself.
#[must_use = "futures do nothing unless polled"]
pub struct StreamWrite<'a, F> {
    /// The bridge to flush first (what it accepted, a queued send), checked at the first
    /// poll, when the write takes its place in the stream's order; `None` once done.
    flush: Option<&'a WriteCompat>,
    /// `None` once the output is given.
    op: Option<F>,
}

impl<'a, F> StreamWrite<'a, F> {
    #[inline]
    pub(crate) fn new(wr: &'a WriteCompat, op: F) -> Self {
        StreamWrite {
            flush: Some(wr),
            op: Some(op),
        }
    }
}

/// The writes a [`StreamWrite`] runs: unpolled, they can end with an error of the bridge's
/// flush instead, their buffers back.
pub(crate) trait FailUnpolled: Future {
    fn fail(self, e: io::Error) -> Self::Output;
}

impl<B: IoBuf> FailUnpolled for Write<B> {
    fn fail(self, e: io::Error) -> BufResult<usize, B> {
        Write::fail(self, e)
    }
}

impl<B: IoBuf> FailUnpolled for WriteVectored<B> {
    fn fail(self, e: io::Error) -> BufResult<usize, Vec<B>> {
        WriteVectored::fail(self, e)
    }
}

impl<B: IoBuf> StreamWrite<'_, Write<B>> {
    /// Gives the write a deadline `after` from its first poll: past it, the output is an
    /// error of kind `TimedOut` with the buffer (see [the `future` module docs](super::future)).
    pub fn timeout(mut self, after: Duration) -> Self {
        self.op = self.op.map(|op| op.timeout(after));
        self
    }
}

impl<B: IoBuf> StreamWrite<'_, WriteVectored<B>> {
    /// Gives the write a deadline `after` from its first poll: past it, the output is an
    /// error of kind `TimedOut` with the buffers (see [the `future` module docs](super::future)).
    pub fn timeout(mut self, after: Duration) -> Self {
        self.op = self.op.map(|op| op.timeout(after));
        self
    }
}

impl<F: FailUnpolled + Unpin> Future for StreamWrite<'_, F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        if let Some(wr) = this.flush {
            let flushed = ready!(wr.poll_flush_owned(cx));
            this.flush = None;
            if let Err(e) = flushed {
                let op = this.op.take().expect("polled after completion");
                return Poll::Ready(op.fail(e));
            }
        }
        let op = this.op.as_mut().expect("polled after completion");
        Pin::new(op).poll(cx)
    }
}

/// The future of a stream's `write_all`. The whole buffer goes in one write first, awaited
/// in place: one send usually takes it all. After a short write (the socket's buffer was
/// full) the rest goes in a loop of writes of its own, boxed, off the common path. It has
/// no deadline of its own (it may take many writes): put one around it with
/// [`time::timeout`](crate::time::timeout), which gives up the write in flight.
#[must_use = "futures do nothing unless polled"]
pub struct WriteAll<'a, B: IoBuf> {
    state: WriteAllState<'a, B>,
}

enum WriteAllState<'a, B: IoBuf> {
    /// The first write, of the whole buffer, on `socket` behind the bridge `wr`.
    First {
        write: StreamWrite<'a, Write<B>>,
        socket: &'a Socket,
        wr: &'a WriteCompat,
    },
    /// The writes of the rest, after a short first one.
    Rest(Pin<Box<dyn Future<Output = BufResult<(), B>> + 'a>>),
    /// The output was given.
    Done,
}

impl<'a, B: IoBuf> WriteAllState<'a, B> {
    /// The writes of the rest of `buf`, past the `done` bytes a first write took (short,
    /// or none when it was interrupted).
    #[cold]
    #[inline(never)]
    fn rest(buf: B, done: usize, socket: &'a Socket, wr: &'a WriteCompat) -> Self {
        let write = move |rest, _| StreamWrite::new(wr, Write::new(socket.write(rest)));
        WriteAllState::Rest(Box::pin(crate::io::write_all_from(buf, done, write)))
    }
}

impl<'a, B: IoBuf> WriteAll<'a, B> {
    #[inline]
    fn new(socket: &'a Socket, wr: &'a WriteCompat, buf: B) -> Self {
        WriteAll {
            state: WriteAllState::First {
                write: StreamWrite::new(wr, Write::new(socket.write(buf))),
                socket,
                wr,
            },
        }
    }
}

impl<B: IoBuf> Future for WriteAll<'_, B> {
    type Output = BufResult<(), B>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<BufResult<(), B>> {
        let this = self.get_mut();
        loop {
            match &mut this.state {
                WriteAllState::First { write, socket, wr } => {
                    let (res, buf) = ready!(Pin::new(write).poll(cx));
                    let done = match res {
                        Ok(n) if n < buf.bytes_init() => n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => 0,
                        // All written, or failed.
                        res => {
                            this.state = WriteAllState::Done;
                            return Poll::Ready((res.map(drop), buf));
                        }
                    };
                    this.state = WriteAllState::rest(buf, done, socket, wr);
                }
                WriteAllState::Rest(rest) => {
                    let out = ready!(rest.as_mut().poll(cx));
                    this.state = WriteAllState::Done;
                    return Poll::Ready(out);
                }
                WriteAllState::Done => panic!("proactor: WriteAll polled after completion"),
            }
        }
    }
}

impl<B: IoBuf> fmt::Debug for WriteAll<'_, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteAll").finish_non_exhaustive()
    }
}

impl<F> fmt::Debug for StreamWrite<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamWrite").finish_non_exhaustive()
    }
}
