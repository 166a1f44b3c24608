//! [`OwnedReadHalf`] and [`OwnedWriteHalf`]: the two directions of a stream, for one task
//! to read while another writes.

use std::ops::Deref;

use crate::net::stream_io::{ReadIo, WriteIo};

/// The reading half of a stream, from [`TcpStream::into_split`](super::TcpStream::into_split)
/// or [`UnixStream::into_split`](super::UnixStream::into_split).
///
/// Its owned-buffer reads (`read`, `read_exact`) are those of [`ReadIo`], which it
/// dereferences to.
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
