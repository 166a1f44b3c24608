//! [`OwnedReadHalf`] and [`OwnedWriteHalf`]: the two directions of a stream, for one task
//! to read while another writes.

use std::io;
use std::net::Shutdown;

use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::net::future::{Read, Write};
use crate::net::socket::Socket;

/// The reading half of a stream, from [`TcpStream::into_split`](super::TcpStream::into_split)
/// or [`UnixStream::into_split`](super::UnixStream::into_split).
///
/// ```
/// use proactor::net::UnixStream;
/// proactor::block_on(async {
///     let (ours, theirs) = UnixStream::pair()?;
///     let (read, write) = ours.into_split();
///     // One task writes while another reads the same connection.
///     let writer = proactor::spawn(async move {
///         let (res, _) = write.write_all(&b"to the peer"[..]).await;
///         res?;
///         write.shutdown().await
///     });
///     let echo = proactor::spawn(async move {
///         let (res, buf) = theirs.read(Vec::with_capacity(64)).await;
///         let n = res?;
///         let (res, _) = theirs.write_all(buf).await;
///         res.map(|()| n)
///     });
///     let (res, buf) = read.read_exact(vec![0u8; 11]).await;
///     res?;
///     assert_eq!(buf, b"to the peer");
///     writer.await??;
///     assert_eq!(echo.await??, 11);
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct OwnedReadHalf {
    pub(crate) inner: Socket,
}

/// The writing half of a stream, from [`TcpStream::into_split`](super::TcpStream::into_split)
/// or [`UnixStream::into_split`](super::UnixStream::into_split).
///
/// The connection stays open until both halves are dropped; call
/// [`shutdown`](OwnedWriteHalf::shutdown) to send EOF earlier.
///
/// ```
/// use proactor::net::UnixStream;
/// proactor::block_on(async {
///     let (ours, theirs) = UnixStream::pair()?;
///     let (_read, write) = ours.into_split();
///     let (res, _) = write.write_all(&b"last words"[..]).await;
///     res?;
///     write.shutdown().await?; // EOF for the peer, though the read half lives on
///     let (res, buf) = theirs.read_exact(vec![0u8; 10]).await;
///     res?;
///     assert_eq!(buf, b"last words");
///     let (res, _) = theirs.read(Vec::with_capacity(1)).await;
///     assert_eq!(res?, 0);
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct OwnedWriteHalf {
    pub(crate) inner: Socket,
}

impl OwnedReadHalf {
    /// Reads into `buf`; `Ok(0)` means the peer closed its side (EOF). Takes a deadline
    /// with [`Read::timeout`].
    pub fn read<B: IoBufMut>(&self, buf: B) -> Read<B> {
        Read::new(self.inner.read(buf))
    }

    /// Fills `buf`'s whole capacity; `UnexpectedEof` if the peer closes first.
    pub async fn read_exact<B: IoBufMut>(&self, buf: B) -> BufResult<(), B> {
        self.inner.read_exact(buf).await
    }
}

impl OwnedWriteHalf {
    /// Writes some of `buf`'s initialised bytes; returns how many. Takes a deadline with
    /// [`Write::timeout`].
    pub fn write<B: IoBuf>(&self, buf: B) -> Write<B> {
        Write::new(self.inner.write(buf))
    }

    /// Writes all of `buf`'s initialised bytes.
    pub async fn write_all<B: IoBuf>(&self, buf: B) -> BufResult<(), B> {
        self.inner.write_all(buf).await
    }

    /// Shuts down the write direction: the peer reads EOF once it has read what was sent.
    pub async fn shutdown(&self) -> io::Result<()> {
        self.inner.shutdown(Shutdown::Write).await
    }
}
