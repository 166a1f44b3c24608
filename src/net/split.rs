//! [`OwnedReadHalf`] and [`OwnedWriteHalf`]: the two directions of a stream, for one task
//! to read while another writes.

use std::ops::Deref;

use crate::net::stream_io::{ReadIo, WriteIo};

/// The reading half of a stream, from [`TcpStream::into_split`](super::TcpStream::into_split)
/// or [`UnixStream::into_split`](super::UnixStream::into_split).
///
/// Its owned-buffer reads (`read`, `read_exact`) are those of [`ReadIo`], which it
/// dereferences to.
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
    pub(super) io: ReadIo,
}

/// The writing half of a stream, from [`TcpStream::into_split`](super::TcpStream::into_split)
/// or [`UnixStream::into_split`](super::UnixStream::into_split).
///
/// Its owned-buffer writes (`write`, `write_all`, `shutdown`) are those of [`WriteIo`],
/// which it dereferences to. The connection stays open until both halves are dropped; call
/// [`shutdown`](WriteIo::shutdown) to send EOF earlier.
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
    pub(super) io: WriteIo,
}

impl Deref for OwnedReadHalf {
    type Target = ReadIo;

    fn deref(&self) -> &ReadIo {
        &self.io
    }
}

impl Deref for OwnedWriteHalf {
    type Target = WriteIo;

    fn deref(&self) -> &WriteIo {
        &self.io
    }
}
