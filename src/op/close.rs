//! `IORING_OP_CLOSE`: closes a file descriptor and reports the error close returns.

use std::io;
use std::os::fd::{IntoRawFd, OwnedFd};

use io_uring::{opcode, squeue, types};

use crate::driver::{Completion, Mode, Op, OpCode};
use crate::sys::syscall;

pub(crate) struct Close {
    /// The fd, until it is handed to the kernel (or the syscall). If the op is dropped
    /// before that, `OwnedFd` closes it.
    fd: Option<OwnedFd>,
}

impl Close {
    /// Closes `fd`, which no other handle or op uses any more (invariant 4).
    pub(crate) fn new(fd: OwnedFd) -> Op<Close> {
        Op::new(Close { fd: Some(fd) })
    }

    fn take(&mut self) -> libc::c_int {
        self.fd
            .take()
            .expect("a close is started only once")
            .into_raw_fd()
    }
}

// SAFETY: the SQE carries no pointer; the fd's ownership passes to the kernel, which
// closes it whatever happens to the op.
unsafe impl OpCode for Close {
    type Output = io::Result<()>;

    fn sqe(&mut self) -> squeue::Entry {
        opcode::Close::new(types::Fd(self.take())).build()
    }

    fn mode(&self) -> Mode<'_> {
        Mode::Immediate
    }

    fn syscall(&mut self) -> io::Result<u32> {
        let fd = self.take();
        // SAFETY: close takes no pointer; `fd` was owned by the op and is closed once.
        syscall!(close(fd))?;
        Ok(0)
    }

    fn complete(self, completion: Completion) -> io::Result<()> {
        completion.result.map(drop)
    }
}
