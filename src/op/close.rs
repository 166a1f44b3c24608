//! `IORING_OP_CLOSE` / `close(2)`: closes a descriptor through the driver, reporting errors
//! that a close on drop would have to swallow.

use std::io;
use std::os::fd::{IntoRawFd, OwnedFd};

use io_uring::{opcode, squeue, types};

use crate::driver::{Completion, Mode, OpCode, OpKind, ReadyOp, Ring, UringOp};
use crate::sys::syscall;

pub(crate) struct Close {
    /// The descriptor until it is handed to the kernel (or to `close`); an op dropped
    /// before submission closes it on drop.
    fd: Option<OwnedFd>,
}

impl Close {
    pub(crate) fn new(fd: OwnedFd) -> Close {
        Close { fd: Some(fd) }
    }

    fn take_raw(&mut self) -> i32 {
        self.fd.take().map_or(-1, IntoRawFd::into_raw_fd)
    }
}

impl OpCode for Close {
    type Output = io::Result<()>;
    const KIND: OpKind = OpKind::Close;

    fn complete(self, completion: Completion) -> io::Result<()> {
        completion.result.map(drop)
    }
}

// SAFETY: a close SQE carries no pointers; the fd it names is owned by nobody else once
// taken out of `self.fd`, so no other op can be using it (`[fd-outlives-op]`).
unsafe impl UringOp for Close {
    fn sqe(&mut self, _ring: &Ring<'_>) -> io::Result<squeue::Entry> {
        Ok(opcode::Close::new(types::Fd(self.take_raw())).build())
    }
}

impl ReadyOp for Close {
    fn mode(&self) -> Mode<'_> {
        Mode::Immediate
    }

    fn syscall(&mut self) -> io::Result<u32> {
        // SAFETY: the descriptor was owned by this op and is closed exactly once, here.
        match syscall!(close(self.take_raw())) {
            // On Linux the descriptor is released even when close reports EINTR: retrying
            // would close -1 (or worse, a reused number).
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => Ok(0),
            res => res.map(|_| 0),
        }
    }
}
