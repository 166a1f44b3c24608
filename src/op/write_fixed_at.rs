//! `IORING_OP_WRITE_FIXED` at an offset: positional write of a registered [`FixedBuf`]'s
//! bytes; a plain `WRITE` (or `pwrite` on epoll) when its pool is not registered.

use std::io;

use io_uring::{opcode, squeue, types};

use crate::buf::{BufResult, FixedBuf, IoBuf};
use crate::driver::{Completion, Mode, Op, OpCode};
use crate::fd::SharedFd;
use crate::sys::syscall;

pub(crate) struct WriteFixedAt {
    /// Holds the fd open until the completion (invariant 4).
    fd: SharedFd,
    /// The kernel reads the pool's memory, which the buffer's `Rc` keeps (invariant 1).
    buf: FixedBuf,
    offset: u64,
}

impl WriteFixedAt {
    pub(crate) fn new(fd: &SharedFd, buf: FixedBuf, offset: u64) -> Op<WriteFixedAt> {
        Op::new(WriteFixedAt {
            fd: fd.clone(),
            buf,
            offset,
        })
    }

    fn len(&self) -> u32 {
        self.buf.bytes_init().min(u32::MAX as usize) as u32
    }
}

// SAFETY: the SQE points into the buffer's slot of the pool, kept alive and in place by the
// buffer's `Rc` owned by the op (and, once registered, by the driver); the fd is held open.
unsafe impl OpCode for WriteFixedAt {
    type Output = BufResult<usize, FixedBuf>;

    fn sqe(&mut self) -> squeue::Entry {
        let (fd, len, ptr) = (types::Fd(self.fd.raw()), self.len(), self.buf.stable_ptr());
        if self.buf.registered() {
            opcode::WriteFixed::new(fd, ptr, len, self.buf.buf_index())
                .offset(self.offset)
                .build()
        } else {
            opcode::Write::new(fd, ptr, len).offset(self.offset).build()
        }
    }

    fn mode(&self) -> Mode<'_> {
        Mode::Immediate
    }

    fn syscall(&mut self) -> io::Result<u32> {
        let len = self.len() as usize;
        // SAFETY: `buf` holds `len` initialised bytes at its stable pointer; the fd is open.
        let n = syscall!(pwrite64(
            self.fd.raw(),
            self.buf.stable_ptr().cast(),
            len,
            self.offset as libc::off64_t
        ))?;
        Ok(n as u32)
    }

    fn complete(self, completion: Completion) -> BufResult<usize, FixedBuf> {
        (completion.result.map(|n| n as usize), self.buf)
    }
}
