//! `IORING_OP_FSYNC`: flushes a file's data (and metadata, unless `datasync`) to disk
//! (`fsync(2)`/`fdatasync(2)` on the epoll backend's thread pool).

use std::io;

use io_uring::{opcode, squeue, types};

use crate::driver::{Blocking, Completion, Mode, OpCode, OpKind, ReadyOp, Ring, SharedFd, UringOp};
use crate::sys::syscall;

pub(crate) struct Fsync {
    /// Holds the fd open until the completion (`[fd-outlives-op]`).
    fd: SharedFd,
    datasync: bool,
}

impl Fsync {
    pub(crate) fn new(fd: &SharedFd, datasync: bool) -> Fsync {
        Fsync {
            fd: fd.clone(),
            datasync,
        }
    }
}

impl OpCode for Fsync {
    type Output = io::Result<()>;
    const KIND: OpKind = OpKind::Fsync;

    fn complete(self, completion: Completion) -> io::Result<()> {
        completion.result.map(drop)
    }
}

// SAFETY: the SQE carries no pointer; the fd is held open by `fd` (`[fd-outlives-op]`).
unsafe impl UringOp for Fsync {
    fn sqe(&mut self, _ring: &Ring<'_>) -> io::Result<squeue::Entry> {
        let flags = if self.datasync {
            types::FsyncFlags::DATASYNC
        } else {
            types::FsyncFlags::empty()
        };
        Ok(opcode::Fsync::new(types::Fd(self.fd.raw()))
            .flags(flags)
            .build())
    }
}

impl ReadyOp for Fsync {
    fn mode(&self) -> Mode<'_> {
        Mode::Offload
    }

    fn syscall(&mut self) -> io::Result<u32> {
        Err(io::ErrorKind::WouldBlock.into()) // a sync waits on the device
    }

    fn blocking(&mut self) -> Option<Blocking> {
        // The call names only `fd`, held open by the op until its completion
        // (`[fd-outlives-op]`).
        let (fd, datasync) = (self.fd.raw(), self.datasync);
        Some(Blocking::new(move || {
            if datasync {
                // SAFETY: fdatasync takes no pointer; the fd is open.
                syscall!(fdatasync(fd)).map(|_| 0)
            } else {
                // SAFETY: fsync takes no pointer; the fd is open.
                syscall!(fsync(fd)).map(|_| 0)
            }
        }))
    }
}
