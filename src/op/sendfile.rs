//! `sendfile(2)`: sends a file's bytes to a socket from the page cache: the epoll half of
//! [`TcpStream::sendfile`](crate::net::TcpStream::sendfile), on readiness of the socket.
//! The call reads the file on the loop's thread: pages not yet cached are read from the
//! device there.
//!
//! io_uring has no such opcode; there `sendfile` splices through a pipe (`splice.rs`), and
//! this op's SQE is an error without a submission.

use std::io;

use io_uring::squeue;

use crate::driver::{Completion, Interest, Mode, OpCode, OpKind, ReadyOp, Ring, SharedFd, UringOp};
use crate::sys::syscall;

pub(crate) struct SendFile {
    /// Both held until the completion (`[fd-outlives-op]`).
    socket: SharedFd,
    file: SharedFd,
    offset: u64,
    len: u32,
}

impl SendFile {
    /// Sends up to `len` bytes of `file` from `offset` to `socket`.
    pub(crate) fn new(socket: &SharedFd, file: &SharedFd, offset: u64, len: u32) -> SendFile {
        SendFile {
            socket: socket.clone(),
            file: file.clone(),
            offset,
            len,
        }
    }
}

impl OpCode for SendFile {
    /// How many bytes were sent; 0 at the end of the file.
    type Output = io::Result<u32>;
    const KIND: OpKind = OpKind::SendFile;

    fn complete(self, completion: Completion) -> io::Result<u32> {
        completion.result
    }
}

// SAFETY: no SQE is ever built (the op completes with the error), so nothing reaches the
// kernel through the ring.
unsafe impl UringOp for SendFile {
    fn sqe(&mut self, _ring: &Ring<'_>) -> io::Result<squeue::Entry> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "io_uring has no sendfile(2): TcpStream::sendfile splices through a pipe there",
        ))
    }
}

impl ReadyOp for SendFile {
    fn mode(&self) -> Mode<'_> {
        Mode::Readiness(&self.socket, Interest::Write)
    }

    fn syscall(&mut self) -> io::Result<u32> {
        let mut offset = self.offset as libc::off_t;
        let (out, file, len) = (self.socket.raw(), self.file.raw(), self.len as usize);
        // SAFETY: `offset` is live for the call; both fds are held open by the op.
        syscall!(sendfile(out, file, &mut offset, len)).map(|n| n as u32)
    }
}
