//! `IORING_OP_SPLICE` / `splice(2)`: moves bytes between two descriptors, one of them a pipe,
//! without copying them through user memory: the io_uring half of
//! [`TcpStream::sendfile`](crate::net::TcpStream::sendfile) (file to pipe, pipe to socket).
//!
//! The kernel runs a splice on its worker threads, never inline. On epoll the call runs on
//! the thread pool (`sendfile` there uses `sendfile(2)` instead, on readiness).

use std::io;

use io_uring::{opcode, squeue, types};

use crate::driver::{Blocking, Completion, Mode, OpCode, OpKind, ReadyOp, Ring, SharedFd, UringOp};
use crate::sys::syscall;

/// A splice; `FROM_FILE`: from a file (at an offset) into a pipe, else from a pipe into a
/// socket. The direction is in the type because a cancel finds a splice into a socket
/// (it waits on the socket) but may not find one reading a file, like any file read
/// ([`UringOp::CANCEL_FINDS`]).
pub(crate) struct Splice<const FROM_FILE: bool> {
    /// Both held until the completion (`[fd-outlives-op]`).
    fd_in: SharedFd,
    fd_out: SharedFd,
    /// The offset to read `fd_in` at (a file), or `None` for its position (a pipe).
    off_in: Option<u64>,
    len: u32,
}

impl Splice<true> {
    /// Moves up to `len` bytes of `file` from `offset` into `pipe`.
    pub(crate) fn from_file(file: &SharedFd, offset: u64, pipe: &SharedFd, len: u32) -> Self {
        Splice {
            fd_in: file.clone(),
            fd_out: pipe.clone(),
            off_in: Some(offset),
            len,
        }
    }
}

impl Splice<false> {
    /// Moves up to `len` bytes out of `pipe` into `socket`.
    pub(crate) fn to_socket(pipe: &SharedFd, socket: &SharedFd, len: u32) -> Self {
        Splice {
            fd_in: pipe.clone(),
            fd_out: socket.clone(),
            off_in: None,
            len,
        }
    }
}

impl<const FROM_FILE: bool> OpCode for Splice<FROM_FILE> {
    /// How many bytes moved; 0 at the end of the input.
    type Output = io::Result<u32>;
    const KIND: OpKind = OpKind::Splice;

    fn complete(self, completion: Completion) -> io::Result<u32> {
        completion.result
    }
}

// SAFETY: a splice SQE carries no pointers, only the two fds (held by `fd_in` and `fd_out`,
// `[fd-outlives-op]`) and an offset by value.
unsafe impl<const FROM_FILE: bool> UringOp for Splice<FROM_FILE> {
    const CANCEL_FINDS: bool = !FROM_FILE;

    fn sqe(&mut self, _ring: &Ring<'_>) -> io::Result<squeue::Entry> {
        let (fd_in, fd_out) = (types::Fd(self.fd_in.raw()), types::Fd(self.fd_out.raw()));
        let off_in = self.off_in.map_or(-1, |off| off as i64);
        Ok(opcode::Splice::new(fd_in, off_in, fd_out, -1, self.len).build())
    }
}

impl<const FROM_FILE: bool> ReadyOp for Splice<FROM_FILE> {
    fn mode(&self) -> Mode<'_> {
        Mode::Offload
    }

    /// Never at once: the call may wait on a device, so it goes to the pool.
    fn syscall(&mut self) -> io::Result<u32> {
        Err(io::ErrorKind::WouldBlock.into())
    }

    fn blocking(&mut self) -> Option<Blocking> {
        let (fd_in, fd_out, off_in, len) = (
            self.fd_in.raw(),
            self.fd_out.raw(),
            self.off_in,
            self.len as usize,
        );
        Some(Blocking::new(move || {
            let mut off = off_in.map(|off| off as libc::loff_t);
            let off_ptr = off
                .as_mut()
                .map_or(std::ptr::null_mut(), |off| off as *mut libc::loff_t);
            // SAFETY: `off_ptr` is null or points to `off` on this frame for the call; both
            // fds are held open by the op until the call's completion (`[fd-outlives-op]`).
            let null = std::ptr::null_mut();
            syscall!(splice(fd_in, off_ptr, fd_out, null, len, 0)).map(|n| n as u32)
        }))
    }
}
