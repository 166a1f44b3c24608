//! `IORING_OP_FSYNC`: flushes a file's data (and metadata, unless `datasync`) to disk.

use std::io;

use io_uring::{opcode, squeue, types};

use crate::driver::{Completion, Mode, Op, OpCode};
use crate::fd::SharedFd;
use crate::sys::syscall;

pub(crate) struct Fsync {
    /// Holds the fd open until the completion (invariant 4).
    fd: SharedFd,
    datasync: bool,
}

impl Fsync {
    pub(crate) fn new(fd: &SharedFd, datasync: bool) -> Op<Fsync> {
        Op::new(Fsync {
            fd: fd.clone(),
            datasync,
        })
    }
}

// SAFETY: the SQE carries no pointer; the fd is held open by `fd`.
unsafe impl OpCode for Fsync {
    type Output = io::Result<()>;

    fn sqe(&mut self) -> squeue::Entry {
        let flags = if self.datasync {
            types::FsyncFlags::DATASYNC
        } else {
            types::FsyncFlags::empty()
        };
        opcode::Fsync::new(types::Fd(self.fd.raw()))
            .flags(flags)
            .build()
    }

    fn mode(&self) -> Mode<'_> {
        Mode::Immediate
    }

    fn syscall(&mut self) -> io::Result<u32> {
        if self.datasync {
            // SAFETY: fdatasync takes no pointer; the fd is open.
            syscall!(fdatasync(self.fd.raw()))?;
        } else {
            // SAFETY: fsync takes no pointer; the fd is open.
            syscall!(fsync(self.fd.raw()))?;
        }
        Ok(0)
    }

    fn complete(self, completion: Completion) -> io::Result<()> {
        completion.result.map(drop)
    }
}
