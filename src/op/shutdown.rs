//! `IORING_OP_SHUTDOWN` / `shutdown(2)`: closes one or both directions of a connection.

use std::io;
use std::net::Shutdown as How;

use io_uring::{opcode, squeue};

use crate::driver::{
    on_target, Completion, Mode, OpCode, OpKind, ReadyOp, Ring, SharedFd, UringOp,
};
use crate::sys::syscall;

pub(crate) struct Shutdown {
    /// Held until the completion (`[fd-outlives-op]`).
    fd: SharedFd,
    how: i32,
}

impl Shutdown {
    pub(crate) fn new(fd: &SharedFd, how: How) -> Shutdown {
        let how = match how {
            How::Read => libc::SHUT_RD,
            How::Write => libc::SHUT_WR,
            How::Both => libc::SHUT_RDWR,
        };
        Shutdown {
            fd: fd.clone(),
            how,
        }
    }
}

impl OpCode for Shutdown {
    type Output = io::Result<()>;
    const KIND: OpKind = OpKind::Shutdown;

    fn complete(self, completion: Completion) -> io::Result<()> {
        completion.result.map(drop)
    }
}

// SAFETY: a shutdown SQE carries no pointers; the fd (or its registered slot,
// `[slot-lifetime]`) is held by `self.fd` (`[fd-outlives-op]`).
unsafe impl UringOp for Shutdown {
    const CANCEL_FINDS: bool = true;

    fn sqe(&mut self, ring: &Ring<'_>) -> io::Result<squeue::Entry> {
        let sqe = on_target!(ring.target(&self.fd), |fd| opcode::Shutdown::new(
            fd, self.how
        )
        .build());
        Ok(sqe)
    }

    fn fixed_fd(&self) -> Option<&SharedFd> {
        Some(&self.fd)
    }
}

impl ReadyOp for Shutdown {
    fn mode(&self) -> Mode<'_> {
        Mode::Immediate
    }

    fn syscall(&mut self) -> io::Result<u32> {
        // SAFETY: shutdown takes no pointers; the fd is open while `self.fd` lives.
        syscall!(shutdown(self.fd.raw(), self.how)).map(|_| 0)
    }
}
