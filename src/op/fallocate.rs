//! `IORING_OP_FALLOCATE`: allocates a file's blocks for a range (`fallocate(2)` on the
//! epoll backend's thread pool). The opcode came with Linux 5.6, before every other one
//! the ring requires, so no kernel the ring runs on lacks it.

use std::io;
use std::os::fd::RawFd;

use io_uring::{opcode, squeue, types};

use crate::driver::{Blocking, Completion, Mode, OpCode, OpKind, ReadyOp, Ring, SharedFd, UringOp};
use crate::sys::syscall;

pub(crate) struct Fallocate {
    /// Holds the fd open until the completion (`[fd-outlives-op]`).
    fd: SharedFd,
    offset: u64,
    len: u64,
    mode: i32,
}

impl Fallocate {
    /// `offset` and `len` at most `i64::MAX` (the caller checks).
    pub(crate) fn new(fd: &SharedFd, offset: u64, len: u64, mode: i32) -> Fallocate {
        Fallocate {
            fd: fd.clone(),
            offset,
            len,
            mode,
        }
    }
}

fn fallocate(fd: RawFd, mode: i32, offset: u64, len: u64) -> io::Result<u32> {
    let (offset, len) = (offset as libc::off64_t, len as libc::off64_t);
    // SAFETY: fallocate takes no pointer; the caller holds the fd open.
    syscall!(fallocate64(fd, mode, offset, len)).map(|_| 0)
}

impl OpCode for Fallocate {
    type Output = io::Result<()>;
    const KIND: OpKind = OpKind::Fallocate;

    fn complete(self, completion: Completion) -> io::Result<()> {
        completion.result.map(drop)
    }
}

// SAFETY: the SQE carries no pointer; the fd is held open by `fd` (`[fd-outlives-op]`).
unsafe impl UringOp for Fallocate {
    fn sqe(&mut self, _ring: &Ring<'_>) -> io::Result<squeue::Entry> {
        Ok(opcode::Fallocate::new(types::Fd(self.fd.raw()), self.len)
            .offset(self.offset)
            .mode(self.mode)
            .build())
    }
}

impl ReadyOp for Fallocate {
    fn mode(&self) -> Mode<'_> {
        Mode::Offload
    }

    fn syscall(&mut self) -> io::Result<u32> {
        Err(io::ErrorKind::WouldBlock.into()) // allocating blocks may wait on the disk
    }

    fn blocking(&mut self) -> Option<Blocking> {
        // The call names only `fd`, held open by the op until its completion
        // (`[fd-outlives-op]`).
        let (fd, mode, offset, len) = (self.fd.raw(), self.mode, self.offset, self.len);
        Some(Blocking::new(move || fallocate(fd, mode, offset, len)))
    }
}
