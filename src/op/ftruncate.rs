//! `IORING_OP_FTRUNCATE`: sets a file's length (`ftruncate(2)` on the epoll backend's
//! thread pool, and on io_uring where the opcode is missing).

use std::io;
use std::os::fd::RawFd;

use io_uring::{opcode, squeue, types};

use crate::driver::{Blocking, Completion, Mode, OpCode, OpKind, ReadyOp, Ring, SharedFd, UringOp};
use crate::sys::syscall;

pub(crate) struct Ftruncate {
    /// Holds the fd open until the completion (`[fd-outlives-op]`).
    fd: SharedFd,
    len: u64,
    /// Set when the op went through the ring, whose kernel may lack the opcode.
    via_ring: bool,
}

impl Ftruncate {
    pub(crate) fn new(fd: &SharedFd, len: u64) -> Ftruncate {
        Ftruncate {
            fd: fd.clone(),
            len,
            via_ring: false,
        }
    }
}

fn truncate(fd: RawFd, len: u64) -> io::Result<u32> {
    // SAFETY: ftruncate takes no pointer; the caller holds the fd open.
    syscall!(ftruncate64(fd, len as libc::off64_t)).map(|_| 0)
}

impl OpCode for Ftruncate {
    type Output = io::Result<()>;
    const KIND: OpKind = OpKind::Ftruncate;

    fn complete(self, completion: Completion) -> io::Result<()> {
        match completion.result {
            // Kernels before 6.9 have no IORING_OP_FTRUNCATE and answer EINVAL: do it
            // directly (ftruncate's own EINVAL comes back again from the syscall).
            Err(e) if self.via_ring && e.raw_os_error() == Some(libc::EINVAL) => {
                truncate(self.fd.raw(), self.len).map(drop)
            }
            res => res.map(drop),
        }
    }
}

// SAFETY: the SQE carries no pointer; the fd is held open by `fd` (`[fd-outlives-op]`).
unsafe impl UringOp for Ftruncate {
    fn sqe(&mut self, _ring: &Ring<'_>) -> io::Result<squeue::Entry> {
        self.via_ring = true;
        Ok(opcode::Ftruncate::new(types::Fd(self.fd.raw()), self.len).build())
    }
}

impl ReadyOp for Ftruncate {
    fn mode(&self) -> Mode<'_> {
        Mode::Offload
    }

    fn syscall(&mut self) -> io::Result<u32> {
        Err(io::ErrorKind::WouldBlock.into()) // may write metadata to the disk
    }

    fn blocking(&mut self) -> Option<Blocking> {
        // The call names only `fd`, held open by the op until its completion
        // (`[fd-outlives-op]`).
        let (fd, len) = (self.fd.raw(), self.len);
        Some(Blocking::new(move || truncate(fd, len)))
    }
}
