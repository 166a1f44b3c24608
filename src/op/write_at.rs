//! `IORING_OP_WRITE` at an offset: positional write from an owned buffer.

use std::cell::Cell;
use std::io;
use std::rc::Rc;

use io_uring::{opcode, squeue, types};

use crate::buf::{BufResult, IoBuf};
use crate::driver::{Completion, Mode, Op, OpCode};
use crate::fd::SharedFd;
use crate::sys::{self, syscall, Dir};

pub(crate) struct WriteAt<B> {
    /// Holds the fd open until the completion (invariant 4).
    fd: SharedFd,
    /// The kernel reads its heap memory (invariant 1).
    buf: B,
    offset: u64,
    /// Whether a non-blocking buffered write may be tried first (not for `O_DIRECT`).
    inline: Rc<Cell<bool>>,
}

impl<B: IoBuf> WriteAt<B> {
    pub(crate) fn new(
        fd: &SharedFd,
        buf: B,
        offset: u64,
        inline: &Rc<Cell<bool>>,
    ) -> Op<WriteAt<B>> {
        Op::new(WriteAt {
            fd: fd.clone(),
            buf,
            offset,
            inline: inline.clone(),
        })
    }

    fn len(&self) -> u32 {
        self.buf.bytes_init().min(u32::MAX as usize) as u32
    }
}

// SAFETY: the SQE points into `buf`, whose `IoBuf` contract keeps its memory in place while
// the op owns it; the fd is held open by `fd`.
unsafe impl<B: IoBuf> OpCode for WriteAt<B> {
    type Output = BufResult<usize, B>;

    fn sqe(&mut self) -> squeue::Entry {
        let len = self.len();
        opcode::Write::new(types::Fd(self.fd.raw()), self.buf.stable_ptr(), len)
            .offset(self.offset)
            .build()
    }

    fn mode(&self) -> Mode<'_> {
        Mode::Immediate
    }

    fn syscall(&mut self) -> io::Result<u32> {
        let len = self.len() as usize;
        // SAFETY: `buf` owns `len` initialised bytes at its stable pointer; the fd is open.
        let n = syscall!(pwrite64(
            self.fd.raw(),
            self.buf.stable_ptr().cast(),
            len,
            self.offset as libc::off64_t
        ))?;
        Ok(n as u32)
    }

    fn try_inline(&mut self) -> Option<io::Result<u32>> {
        let (ptr, len) = (self.buf.stable_ptr().cast_mut(), self.len() as usize);
        // SAFETY: `buf` owns `len` initialised bytes at its stable pointer for the call;
        // a write only reads them.
        unsafe {
            sys::rw_nowait(
                self.fd.raw(),
                &self.inline,
                Dir::Write,
                ptr,
                len,
                self.offset,
            )
        }
        .map(Ok)
    }

    fn complete(self, completion: Completion) -> BufResult<usize, B> {
        (completion.result.map(|n| n as usize), self.buf)
    }
}
