//! Owned-buffer I/O, generically: the [`AsyncReadRent`] / [`AsyncWriteRent`] trait pair that
//! every stream type and half implements, and the one copy of the loops that finish a
//! partial transfer (`read_exact`, `write_all`), over a stream and over a file.
//!
//! # Two styles on one stream
//! A stream ([`TcpStream`](crate::net::TcpStream), [`UnixStream`](crate::net::UnixStream)
//! and the split halves) dereferences to its owned-buffer view
//! ([`StreamIo`](crate::net::StreamIo), [`ReadIo`](crate::net::ReadIo),
//! [`WriteIo`](crate::net::WriteIo)), which carries `read`, `write`, `read_exact`,
//! `write_all` and `shutdown`. Rust looks for a method on the stream itself, with every trait
//! in scope, before it looks through the dereference: so with no I/O trait imported,
//! `stream.read(buf)` is the owned-buffer read, and with `tokio::io::AsyncReadExt` imported
//! (feature `tokio-io`) it is tokio's. Each module picks its style by what it imports.
//!
//! The owned-buffer style: the buffer is moved in and handed back.
//! ```
//! # proactor::block_on(async {
//! use proactor::net::UnixStream;
//! let (a, b) = UnixStream::pair()?;
//! let (res, _) = a.write_all(b"ping".to_vec()).await;
//! res?;
//! let (res, buf) = b.read_exact(Vec::with_capacity(4)).await;
//! res?;
//! assert_eq!(buf, b"ping");
//! # Ok::<(), std::io::Error>(())
//! # }).unwrap();
//! ```
//!
//! Generic owned-buffer code names the traits:
//! ```
//! # proactor::block_on(async {
//! use proactor::io::{AsyncReadRent, AsyncWriteRent};
//! use proactor::net::UnixStream;
//!
//! /// Echoes one message of up to 64 bytes, on any stream or pair of halves.
//! async fn echo_once(rd: &impl AsyncReadRent, wr: &impl AsyncWriteRent) -> std::io::Result<()> {
//!     let (res, buf) = rd.read(Vec::with_capacity(64)).await;
//!     res?;
//!     wr.write_all(buf).await.0
//! }
//!
//! let (a, b) = UnixStream::pair()?;
//! let (rd, wr) = b.into_split();
//! let (res, _) = a.write_all(b"hello".as_slice()).await;
//! res?;
//! echo_once(&rd, &wr).await?;
//! let (res, buf) = a.read_exact(Vec::with_capacity(5)).await;
//! res?;
//! assert_eq!(buf, b"hello");
//! # Ok::<(), std::io::Error>(())
//! # }).unwrap();
//! ```
//!
//! The poll-based style of the ecosystem (feature `tokio-io`; `futures-io` is alike),
//! for code written against `tokio::io`: hyper, tokio-util codecs, tokio-rustls.
#![cfg_attr(feature = "tokio-io", doc = "```")]
#![cfg_attr(not(feature = "tokio-io"), doc = "```ignore")]
//! # proactor::block_on(async {
//! use proactor::net::UnixStream;
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! let (mut a, mut b) = UnixStream::pair()?;
//! a.write_all(b"ping").await?; // tokio's write_all, borrowing the bytes
//! a.flush().await?;
//! let mut buf = [0u8; 4];
//! b.read_exact(&mut buf).await?;
//! assert_eq!(&buf, b"ping");
//! # Ok::<(), std::io::Error>(())
//! # }).unwrap();
//! ```
//! How that path buffers and what a dropped future leaves behind is written down in the
//! [`net`](crate::net#the-poll-based-bridge) docs.

use std::future::Future;
use std::io;

use crate::buf::{BufResult, IoBuf, IoBufMut, Slice};

/// Reads into owned buffers: the buffer is moved into the read and handed back with the
/// result, because the kernel may write into it after the future is dropped.
///
/// Implemented by [`TcpStream`](crate::net::TcpStream), [`UnixStream`](crate::net::UnixStream),
/// [`OwnedReadHalf`](crate::net::OwnedReadHalf) and their views. monoio's `AsyncReadRent`
/// is the precedent; here the methods take `&self`, so one stream can be shared (e.g. in an
/// `Rc`) by a reading task and a writing task.
pub trait AsyncReadRent {
    /// Reads into `buf` (up to its capacity, from its start); `Ok(0)` means the peer closed
    /// its side.
    fn read<B: IoBufMut>(&self, buf: B) -> impl Future<Output = BufResult<usize, B>>;

    /// Fills `buf`'s whole capacity; `UnexpectedEof` if the peer closes first (the bytes read
    /// so far are in the buffer).
    fn read_exact<B: IoBufMut>(&self, buf: B) -> impl Future<Output = BufResult<(), B>> {
        read_exact(buf, move |rest, _| self.read(rest))
    }
}

/// Writes from owned buffers: the buffer is moved into the write and handed back with the
/// result. The counterpart of [`AsyncReadRent`], implemented by the same streams and by
/// [`OwnedWriteHalf`](crate::net::OwnedWriteHalf).
pub trait AsyncWriteRent {
    /// Writes some of `buf`'s initialised bytes; returns how many.
    fn write<B: IoBuf>(&self, buf: B) -> impl Future<Output = BufResult<usize, B>>;

    /// Writes all of `buf`'s initialised bytes, however many writes it takes.
    fn write_all<B: IoBuf>(&self, buf: B) -> impl Future<Output = BufResult<(), B>> {
        write_all(buf, move |rest, _| self.write(rest))
    }

    /// Shuts down the write direction: the peer reads end of stream once it has read what
    /// was sent. (Named apart from the streams' own `shutdown(how)`, which it would
    /// otherwise hide wherever the trait is imported.)
    fn shutdown_write(&self) -> impl Future<Output = io::Result<()>>;
}

/// The error of a read that ended after `done` of `total` bytes.
pub(crate) fn unexpected_eof(done: usize, total: usize) -> io::Error {
    let msg = format!("end of data after {done} of {total} bytes");
    io::Error::new(io::ErrorKind::UnexpectedEof, msg)
}

/// [`read_exact`] after a first read of the whole buffer by the caller (`first`: its
/// result, `total`: the buffer's capacity). One read usually fills a stream's buffer, with
/// no slice and no loop: the caller checks for that before it calls this.
pub(crate) async fn read_exact_after<B, F, Fut>(
    first: io::Result<usize>,
    buf: B,
    total: usize,
    read: F,
) -> BufResult<(), B>
where
    B: IoBufMut,
    F: FnMut(Slice<B>, u64) -> Fut,
    Fut: Future<Output = BufResult<usize, Slice<B>>>,
{
    match first {
        Ok(n) if n >= total => (Ok(()), buf),
        Ok(0) => (Err(unexpected_eof(0, total)), buf),
        Ok(n) => read_exact_from(buf, n, read).await,
        Err(e) if e.kind() == io::ErrorKind::Interrupted => read_exact(buf, read).await,
        Err(e) => (Err(e), buf),
    }
}

/// Fills `buf` to its capacity with `read(rest, done)` calls; `UnexpectedEof` if a read
/// gives 0 first (the bytes read so far are in the buffer).
pub(crate) async fn read_exact<B, F, Fut>(buf: B, read: F) -> BufResult<(), B>
where
    B: IoBufMut,
    F: FnMut(Slice<B>, u64) -> Fut,
    Fut: Future<Output = BufResult<usize, Slice<B>>>,
{
    read_exact_from(buf, 0, read).await
}

/// [`read_exact`] of a buffer whose first `done` bytes are already read.
pub(crate) async fn read_exact_from<B, F, Fut>(buf: B, done: usize, mut read: F) -> BufResult<(), B>
where
    B: IoBufMut,
    F: FnMut(Slice<B>, u64) -> Fut,
    Fut: Future<Output = BufResult<usize, Slice<B>>>,
{
    let total = buf.bytes_total();
    let (mut done, mut buf) = (done, buf);
    while done < total {
        let (res, slice) = read(buf.slice(done..total), done as u64).await;
        buf = slice.into_inner();
        match res {
            Ok(0) => return (Err(unexpected_eof(done, total)), buf),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (Err(e), buf),
        }
    }
    (Ok(()), buf)
}

/// Writes every initialised byte of `buf` with `write(rest, done)` calls; `WriteZero` if a
/// write takes none.
pub(crate) async fn write_all<B, F, Fut>(buf: B, write: F) -> BufResult<(), B>
where
    B: IoBuf,
    F: FnMut(Slice<B>, u64) -> Fut,
    Fut: Future<Output = BufResult<usize, Slice<B>>>,
{
    write_all_from(buf, 0, write).await
}

/// [`write_all`] of a buffer whose first `done` bytes are already written.
pub(crate) async fn write_all_from<B, F, Fut>(buf: B, done: usize, mut write: F) -> BufResult<(), B>
where
    B: IoBuf,
    F: FnMut(Slice<B>, u64) -> Fut,
    Fut: Future<Output = BufResult<usize, Slice<B>>>,
{
    let total = buf.bytes_init();
    let (mut done, mut buf) = (done, buf);
    while done < total {
        let (res, slice) = write(buf.slice(done..total), done as u64).await;
        buf = slice.into_inner();
        match res {
            Ok(0) => {
                let msg = format!("wrote 0 bytes after {done} of {total}");
                return (Err(io::Error::new(io::ErrorKind::WriteZero, msg)), buf);
            }
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (Err(e), buf),
        }
    }
    (Ok(()), buf)
}
