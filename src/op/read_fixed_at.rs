//! `IORING_OP_READ_FIXED` at an offset: positional read into a registered
//! [`FixedBuf`]; a plain `READ` (or `pread` on epoll) when its pool is not registered.

use std::io;

use io_uring::{opcode, squeue, types};

use crate::buf::{BufResult, FixedBuf, IoBuf, IoBufMut};
use crate::driver::{Completion, Mode, Op, OpCode};
use crate::fd::SharedFd;
use crate::sys::syscall;

pub(crate) struct ReadFixedAt {
    /// Holds the fd open until the completion (invariant 4).
    fd: SharedFd,
    /// The kernel writes into the pool's memory, which the buffer's `Rc` keeps (invariant 1).
    buf: FixedBuf,
    offset: u64,
}

impl ReadFixedAt {
    pub(crate) fn new(fd: &SharedFd, buf: FixedBuf, offset: u64) -> Op<ReadFixedAt> {
        Op::new(ReadFixedAt {
            fd: fd.clone(),
            buf,
            offset,
        })
    }

    fn len(&self) -> u32 {
        self.buf.bytes_total().min(u32::MAX as usize) as u32
    }
}

// SAFETY: the SQE points into the buffer's slot of the pool, kept alive and in place by the
// buffer's `Rc` owned by the op (and, once registered, by the driver); the fd is held open.
unsafe impl OpCode for ReadFixedAt {
    type Output = BufResult<usize, FixedBuf>;

    fn sqe(&mut self) -> squeue::Entry {
        let (fd, len, ptr) = (
            types::Fd(self.fd.raw()),
            self.len(),
            self.buf.stable_mut_ptr(),
        );
        if self.buf.registered() {
            opcode::ReadFixed::new(fd, ptr, len, self.buf.buf_index())
                .offset(self.offset)
                .build()
        } else {
            opcode::Read::new(fd, ptr, len).offset(self.offset).build()
        }
    }

    fn mode(&self) -> Mode<'_> {
        Mode::Immediate
    }

    fn syscall(&mut self) -> io::Result<u32> {
        let len = self.len() as usize;
        // SAFETY: `buf` owns `len` writable bytes at its stable pointer; the fd is open.
        let n = syscall!(pread64(
            self.fd.raw(),
            self.buf.stable_mut_ptr().cast(),
            len,
            self.offset as libc::off64_t
        ))?;
        Ok(n as u32)
    }

    fn complete(mut self, completion: Completion) -> BufResult<usize, FixedBuf> {
        let res = completion.result.map(|n| {
            // SAFETY: the kernel initialised the first `n` bytes of the buffer.
            unsafe { self.buf.set_init(n as usize) };
            n as usize
        });
        (res, self.buf)
    }
}
