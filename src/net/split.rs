//! [`OwnedReadHalf`] and [`OwnedWriteHalf`]: the two directions of a stream, for one task
//! to read while another writes.

use std::io;
use std::net::Shutdown;

use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::net::socket::Socket;

/// The reading half of a stream, from [`TcpStream::into_split`](super::TcpStream::into_split)
/// or [`UnixStream::into_split`](super::UnixStream::into_split).
#[derive(Debug)]
pub struct OwnedReadHalf {
    pub(crate) inner: Socket,
}

/// The writing half of a stream, from [`TcpStream::into_split`](super::TcpStream::into_split)
/// or [`UnixStream::into_split`](super::UnixStream::into_split).
///
/// The connection stays open until both halves are dropped; call
/// [`shutdown`](OwnedWriteHalf::shutdown) to send EOF earlier.
#[derive(Debug)]
pub struct OwnedWriteHalf {
    pub(crate) inner: Socket,
}

impl OwnedReadHalf {
    /// Reads into `buf`; `Ok(0)` means the peer closed its side (EOF).
    pub async fn read<B: IoBufMut>(&self, buf: B) -> BufResult<usize, B> {
        self.inner.read(buf).await
    }

    /// Fills `buf`'s whole capacity; `UnexpectedEof` if the peer closes first.
    pub async fn read_exact<B: IoBufMut>(&self, buf: B) -> BufResult<(), B> {
        self.inner.read_exact(buf).await
    }
}

impl OwnedWriteHalf {
    /// Writes some of `buf`'s initialised bytes; returns how many.
    pub async fn write<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
        self.inner.write(buf).await
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
