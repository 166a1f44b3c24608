//! `IORING_OP_READ` at an offset: positional read into an owned buffer.

use std::cell::Cell;
use std::io;
use std::rc::Rc;

use io_uring::{opcode, squeue, types};

use crate::buf::{BufResult, IoBufMut};
use crate::driver::{Completion, Mode, Op, OpCode};
use crate::fd::SharedFd;
use crate::sys::{self, syscall, Dir};

pub(crate) struct ReadAt<B> {
    /// Holds the fd open until the completion (invariant 4).
    fd: SharedFd,
    /// The kernel writes into its heap memory (invariant 1).
    buf: B,
    offset: u64,
    /// Whether a non-blocking read of cached pages may be tried first (not for `O_DIRECT`
    /// files, whose reads wait on the device even with `RWF_NOWAIT`).
    inline: Rc<Cell<bool>>,
}

impl<B: IoBufMut> ReadAt<B> {
    pub(crate) fn new(
        fd: &SharedFd,
        buf: B,
        offset: u64,
        inline: &Rc<Cell<bool>>,
    ) -> Op<ReadAt<B>> {
        Op::new(ReadAt {
            fd: fd.clone(),
            buf,
            offset,
            inline: inline.clone(),
        })
    }

    fn len(&self) -> u32 {
        self.buf.bytes_total().min(u32::MAX as usize) as u32
    }
}

// SAFETY: the SQE points into `buf`, whose `IoBufMut` contract keeps its memory in place
// while the op owns it; the fd is held open by `fd`.
unsafe impl<B: IoBufMut> OpCode for ReadAt<B> {
    type Output = BufResult<usize, B>;

    fn sqe(&mut self) -> squeue::Entry {
        let len = self.len();
        opcode::Read::new(types::Fd(self.fd.raw()), self.buf.stable_mut_ptr(), len)
            .offset(self.offset)
            .build()
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

    fn try_inline(&mut self) -> Option<io::Result<u32>> {
        let (ptr, len) = (self.buf.stable_mut_ptr(), self.len() as usize);
        // SAFETY: `buf` owns `len` writable bytes at its stable pointer for the call.
        unsafe {
            sys::rw_nowait(
                self.fd.raw(),
                &self.inline,
                Dir::Read,
                ptr,
                len,
                self.offset,
            )
        }
        .map(Ok)
    }

    fn complete(mut self, completion: Completion) -> BufResult<usize, B> {
        let res = completion.result.map(|n| {
            // SAFETY: the kernel initialised the first `n` bytes of the buffer.
            unsafe { self.buf.set_init(n as usize) };
            n as usize
        });
        (res, self.buf)
    }
}
