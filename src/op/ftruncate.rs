//! `IORING_OP_FTRUNCATE`: sets a file's length.

use std::io;

use io_uring::{opcode, squeue, types};

use crate::driver::{Completion, Mode, Op, OpCode};
use crate::fd::SharedFd;
use crate::sys::syscall;

pub(crate) struct Ftruncate {
    /// Holds the fd open until the completion (invariant 4).
    fd: SharedFd,
    len: u64,
}

impl Ftruncate {
    pub(crate) fn new(fd: &SharedFd, len: u64) -> Op<Ftruncate> {
        Op::new(Ftruncate {
            fd: fd.clone(),
            len,
        })
    }
}

// SAFETY: the SQE carries no pointer; the fd is held open by `fd`.
unsafe impl OpCode for Ftruncate {
    type Output = io::Result<()>;

    fn sqe(&mut self) -> squeue::Entry {
        opcode::Ftruncate::new(types::Fd(self.fd.raw()), self.len).build()
    }

    fn mode(&self) -> Mode<'_> {
        Mode::Immediate
    }

    fn syscall(&mut self) -> io::Result<u32> {
        // SAFETY: ftruncate takes no pointer; the fd is open.
        syscall!(ftruncate64(self.fd.raw(), self.len as libc::off64_t))?;
        Ok(0)
    }

    fn complete(mut self, completion: Completion) -> io::Result<()> {
        match completion.result {
            // Kernels before 6.9 have no IORING_OP_FTRUNCATE and answer EINVAL: do it
            // directly (ftruncate's own EINVAL comes back again from the syscall).
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => self.syscall().map(drop),
            res => res.map(drop),
        }
    }
}
