//! The poll-based bridge: the state behind `tokio::io::{AsyncRead, AsyncBufRead, AsyncWrite}`
//! (feature `tokio-io`) and `futures_io::{AsyncRead, AsyncBufRead, AsyncWrite}` (feature
//! `futures-io`) on the streams and their halves. The rules it keeps are the
//! [`net`](crate::net#the-poll-based-bridge) module's docs.
//!
//! Each direction of a stream has a cell ([`ReadCompat`], [`WriteCompat`]) that stays empty
//! until the first poll through a trait: a stream never used through them allocates
//! nothing and submits nothing. The cells also let the owned-buffer methods keep the byte
//! order when one stream is used both ways: an owned-buffer read takes the bytes the
//! bridge received first, and an owned-buffer write waits until the bytes the bridge
//! accepted are sent.

// Without a trait feature nothing polls the bridge: its cells stay empty, and the owned-
// buffer methods' check of them is all that is left.
#![cfg_attr(
    not(any(feature = "tokio-io", feature = "futures-io")),
    allow(dead_code)
)]

mod read;
#[cfg(test)]
mod tests;
pub(crate) mod write;

#[cfg(feature = "futures-io")]
mod futures;
#[cfg(feature = "tokio-io")]
mod tokio;

use std::cell::{OnceCell, RefCell};
use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::rc::Rc;
use std::task::{ready, Context, Poll};

use read::ReadState;
use write::WriteState;

use crate::buf::IoBufMut;
use crate::net::socket::Socket;
use crate::op::send_queued::SendQueue;

/// The reading direction's bridge state, allocated at its first use.
#[derive(Default)]
pub(crate) struct ReadCompat(RefCell<Option<Box<ReadState>>>);

/// The writing direction's state: the bridge's, allocated at its first use and shared with
/// its pump task while one runs; and the queue of the owned-buffer `queue_write`s.
#[derive(Default)]
pub(crate) struct WriteCompat {
    pub(super) bridge: Option<Rc<RefCell<WriteState>>>,
    queue: OnceCell<QueueCell>,
}

/// A stream's [`SendQueue`], and whether its sends may be left to the kernel.
pub(crate) struct QueueCell {
    pub(crate) queue: Rc<SendQueue>,
    /// Whether the kernel finishes a send on its own ([`write::kernel_completes_sends`]).
    pub(crate) detach: bool,
}

impl ReadCompat {
    fn state(&mut self) -> &mut ReadState {
        self.0
            .get_mut()
            .get_or_insert_with(|| Box::new(ReadState::new()))
    }

    /// Whether no received byte waits and no receive is armed.
    #[inline]
    pub(crate) fn is_idle(&self) -> bool {
        self.0.borrow().as_ref().is_none_or(|s| s.is_idle())
    }

    pub(crate) fn poll_fill<'a>(
        &'a mut self,
        cx: &mut Context<'_>,
        socket: &Socket,
    ) -> Poll<io::Result<&'a [u8]>> {
        self.state().poll_fill(cx, socket)
    }

    pub(crate) fn consume(&mut self, n: usize) {
        if let Some(state) = self.0.get_mut() {
            state.consume(n);
        }
    }

    #[cfg(feature = "futures-io")]
    pub(crate) fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        socket: &Socket,
        dst: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.state().poll_read(cx, socket, dst)
    }

    /// An owned-buffer read served by the bridge, for when it holds received bytes or an
    /// armed receive (not [`is_idle`](ReadCompat::is_idle)); otherwise the read goes
    /// straight to the socket (`net::future::StreamRead`), with nothing of the bridge on
    /// its way.
    pub(crate) fn poll_read_owned<B: IoBufMut>(
        &self,
        cx: &mut Context<'_>,
        socket: &Socket,
        buf: &mut B,
    ) -> Poll<io::Result<usize>> {
        let mut cell = self.0.borrow_mut();
        let state = cell.get_or_insert_with(|| Box::new(ReadState::new()));
        state.poll_read_owned(cx, socket, buf)
    }

    /// Drops the state; an error if it holds received bytes or an armed receive (a
    /// conversion to a std stream would lose them).
    pub(crate) fn release(self) -> io::Result<()> {
        if self.is_idle() {
            return Ok(());
        }
        Err(busy(
            "it was read through the tokio/futures traits, which keep a receive armed (or \
             hold bytes received and not read yet)",
        ))
    }
}

impl WriteCompat {
    fn state(&mut self, socket: &Socket) -> &Rc<RefCell<WriteState>> {
        self.bridge
            .get_or_insert_with(|| Rc::new(RefCell::new(WriteState::new(socket.fd()))))
    }

    /// The stream's queue of sends left to the kernel (`queue_write`), made at its first
    /// use; `detach` says whether its sends may be left to the kernel at all.
    #[inline]
    pub(crate) fn queue(&self) -> &QueueCell {
        self.queue.get_or_init(|| QueueCell {
            queue: Rc::default(),
            detach: write::kernel_completes_sends(),
        })
    }

    /// Whether this stream's `queue_write`s leave their sends to the kernel: fixed at the
    /// first ask inside a runtime.
    #[inline]
    pub(crate) fn detaches(&self) -> bool {
        if let Some(cell) = self.queue.get() {
            return cell.detach;
        }
        crate::runtime::current_driver().is_some() && self.queue().detach
    }

    /// Whether every byte accepted through the traits is sent, and no queued send is in
    /// flight or has a failure to tell.
    #[inline]
    pub(crate) fn is_idle(&self) -> bool {
        self.queue.get().is_none_or(|q| q.queue.is_idle())
            && self.bridge.as_ref().is_none_or(|s| s.borrow().is_idle())
    }

    /// Ready once no queued send is in flight (with its failure, if it failed).
    #[inline]
    fn poll_queue(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.queue.get() {
            Some(q) => q.queue.poll_done(cx),
            None => Poll::Ready(Ok(())),
        }
    }

    pub(crate) fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        socket: &Socket,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_queue(cx))?;
        let state = self.state(socket);
        let (res, stuck) = state.borrow_mut().poll_write(cx, bufs);
        if stuck {
            write::start_pump(state);
        }
        res
    }

    pub(crate) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_queue(cx))?;
        match &self.bridge {
            Some(state) => state.borrow_mut().poll_flush(cx),
            None => Poll::Ready(Ok(())),
        }
    }

    pub(crate) fn poll_shutdown(
        &mut self,
        cx: &mut Context<'_>,
        socket: &Socket,
    ) -> Poll<io::Result<()>> {
        ready!(self.poll_queue(cx))?;
        self.state(socket).borrow_mut().poll_shutdown(cx)
    }

    /// Waits until the bytes accepted through the traits, and the queued sends, are sent
    /// (before an owned-buffer write or shutdown, which must come after them).
    pub(crate) async fn flush(&self) -> io::Result<()> {
        poll_fn(|cx| self.poll_flush_owned(cx)).await
    }

    /// The poll form of [`flush`](WriteCompat::flush), for the owned-buffer writes
    /// (`net::future::StreamWrite`).
    #[inline]
    pub(crate) fn poll_flush_owned(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.is_idle() {
            return Poll::Ready(Ok(()));
        }
        self.poll_flush_busy(cx)
    }

    #[cold]
    #[inline(never)]
    fn poll_flush_busy(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_queue(cx))?;
        let Some(state) = &self.bridge else {
            return Poll::Ready(Ok(()));
        };
        if state.borrow().is_idle() {
            return Poll::Ready(Ok(()));
        }
        state.borrow_mut().poll_flush_as(cx, true)
    }

    /// Drops the state; an error if bytes accepted through the traits, or a queued send,
    /// are not sent yet.
    pub(crate) fn release(self) -> io::Result<()> {
        if self.queue.get().is_some_and(|q| q.queue.is_busy()) {
            return Err(busy(
                "a queued write is still being sent: flush the stream first",
            ));
        }
        if self.bridge.as_ref().is_none_or(|s| s.borrow().is_idle()) {
            return Ok(());
        }
        Err(busy(
            "bytes written through the tokio/futures traits are still being sent (a flush \
             on io_uring only hands them to the kernel): shut the write direction down first",
        ))
    }
}

impl Drop for WriteCompat {
    fn drop(&mut self) {
        // Bytes accepted are sent even when the stream goes away first (as the kernel sends
        // a closed socket's buffer), by the pump, within `LINGER`; the socket closes after
        // them. Outside a runtime (or while it shuts down) the sends are dropped as any op.
        // A queued send in flight goes on (the kernel finishes it, and the op keeps the
        // socket open until then), for at most `LINGER` too.
        if let Some(cell) = self.queue.get() {
            super::queue_write::linger(&cell.queue);
        }
        let Some(state) = self.bridge.take() else {
            return;
        };
        if state.borrow().is_idle() {
            return;
        }
        if state.borrow().pump_running() {
            write::orphan(&state);
        } else {
            write::start_pump(&state);
        }
    }
}

/// The error of a conversion that would take the descriptor from operations still using
/// it.
pub(crate) fn busy(why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::ResourceBusy,
        format!("the socket cannot be taken out of proactor: {why}"),
    )
}

impl std::fmt::Debug for ReadCompat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.is_idle() { "idle" } else { "active" })
    }
}

impl std::fmt::Debug for WriteCompat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.is_idle() { "idle" } else { "active" })
    }
}
