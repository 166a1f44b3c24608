//! `IORING_OP_SHUTDOWN` / `shutdown(2)`: closes one or both directions of a connection.

use std::io;
use std::net::Shutdown as How;

use io_uring::{opcode, squeue};

use crate::driver::{Completion, Mode, OpCode};
use crate::fd::{on_fd, SharedFd};
use crate::sys::syscall;

pub(crate) struct Shutdown {
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

// SAFETY: a shutdown SQE carries no pointers; the fd (or its registered slot, invariant 7)
// is held by `self.fd`.
unsafe impl OpCode for Shutdown {
    type Output = io::Result<()>;

    fn sqe(&mut self) -> squeue::Entry {
        on_fd!(self.fd, |fd| opcode::Shutdown::new(fd, self.how).build())
    }

    fn mode(&self) -> Mode<'_> {
        Mode::Immediate
    }

    fn fixed_fd(&self) -> Option<&SharedFd> {
        Some(&self.fd)
    }

    fn syscall(&mut self) -> io::Result<u32> {
        // SAFETY: shutdown takes no pointers; the fd is open while `self.fd` lives.
        syscall!(shutdown(self.fd.raw(), self.how)).map(|_| 0)
    }

    fn complete(self, completion: Completion) -> io::Result<()> {
        completion.result.map(drop)
    }
}
