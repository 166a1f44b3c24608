//! `IORING_OP_POLL_ADD` / `poll(2)`: waits until a descriptor is ready in one direction,
//! for an op the kernel answers `EAGAIN` without waiting itself (a splice into a full
//! socket: [`TcpStream::sendfile`](crate::net::TcpStream::sendfile)).

use std::io;

use io_uring::{opcode, squeue, types};

use crate::driver::{Completion, Interest, Mode, OpCode, OpKind, ReadyOp, Ring, SharedFd, UringOp};
use crate::sys::syscall;

pub(crate) struct PollAdd {
    /// Held until the completion (`[fd-outlives-op]`).
    fd: SharedFd,
    interest: Interest,
}

impl PollAdd {
    /// Waits until `fd` is writable (or in error, or hung up).
    pub(crate) fn writable(fd: &SharedFd) -> PollAdd {
        PollAdd {
            fd: fd.clone(),
            interest: Interest::Write,
        }
    }

    fn events(&self) -> i16 {
        match self.interest {
            Interest::Read => libc::POLLIN,
            Interest::Write => libc::POLLOUT,
        }
    }
}

impl OpCode for PollAdd {
    /// The events that are ready (`POLL*` bits).
    type Output = io::Result<u32>;
    const KIND: OpKind = OpKind::Poll;

    fn complete(self, completion: Completion) -> io::Result<u32> {
        completion.result
    }
}

// SAFETY: a poll SQE carries no pointers; the fd is held by `self.fd` (`[fd-outlives-op]`).
unsafe impl UringOp for PollAdd {
    const CANCEL_FINDS: bool = true;

    fn sqe(&mut self, _ring: &Ring<'_>) -> io::Result<squeue::Entry> {
        let fd = types::Fd(self.fd.raw());
        Ok(opcode::PollAdd::new(fd, self.events() as u32).build())
    }
}

impl ReadyOp for PollAdd {
    fn mode(&self) -> Mode<'_> {
        Mode::Readiness(&self.fd, self.interest)
    }

    fn syscall(&mut self) -> io::Result<u32> {
        let mut pfd = libc::pollfd {
            fd: self.fd.raw(),
            events: self.events(),
            revents: 0,
        };
        // SAFETY: `pfd` is one live pollfd for the call; a zero timeout never waits.
        match syscall!(poll(&mut pfd, 1, 0))? {
            0 => Err(io::ErrorKind::WouldBlock.into()),
            _ => Ok(pfd.revents as u16 as u32),
        }
    }
}
