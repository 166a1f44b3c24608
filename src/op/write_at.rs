//! `IORING_OP_WRITE` at an offset (`WRITE_FIXED` from a registered buffer): positional write
//! from an owned buffer. On epoll: `pwritev2(RWF_NOWAIT)` into the page cache, else `pwrite`
//! on the thread pool.

use std::cell::Cell;
use std::io;
use std::rc::Rc;

use io_uring::{opcode, squeue, types};

use crate::buf::{BufResult, IoBuf};
use crate::driver::{
    Blocking, Completion, Mode, OpCode, OpKind, Raw, ReadyOp, Ring, SharedFd, UringOp,
};
use crate::sys::{self, Dir};

pub(crate) struct WriteAt<B> {
    /// Holds the fd open until the completion (`[fd-outlives-op]`).
    fd: SharedFd,
    /// The kernel reads its heap memory (`[heap-owned]`).
    buf: B,
    offset: u64,
    /// Whether a non-blocking buffered write may be tried first (not for `O_DIRECT`).
    inline: Rc<Cell<bool>>,
    /// For a buffer of a [`FixedBufPool`](crate::buf::FixedBufPool): the pool's id and the
    /// buffer's index, named (`WRITE_FIXED`) where the ring registered that pool.
    fixed: Option<(usize, u16)>,
}

impl<B: IoBuf> WriteAt<B> {
    pub(crate) fn new(
        fd: &SharedFd,
        buf: B,
        offset: u64,
        inline: &Rc<Cell<bool>>,
        fixed: Option<(usize, u16)>,
    ) -> WriteAt<B> {
        WriteAt {
            fd: fd.clone(),
            buf,
            offset,
            inline: inline.clone(),
            fixed,
        }
    }

    fn len(&self) -> u32 {
        self.buf.bytes_init().min(u32::MAX as usize) as u32
    }

    /// A write into the page cache that never waits; `None` where it would (or is off).
    fn nowait(&mut self) -> Option<u32> {
        let (ptr, len) = (self.buf.stable_ptr().cast_mut(), self.len() as usize);
        // SAFETY: `buf` owns `len` initialised bytes at its stable pointer for the call; a
        // write only reads them.
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
    }
}

impl<B: IoBuf> OpCode for WriteAt<B> {
    type Output = BufResult<usize, B>;
    const KIND: OpKind = OpKind::Write;

    fn complete(self, completion: Completion) -> BufResult<usize, B> {
        (completion.result.map(|n| n as usize), self.buf)
    }
}

// SAFETY: the SQE points into `buf`, whose `IoBuf` contract keeps its memory in place while
// the op owns it (`[heap-owned]`); the fd is held open by `fd` (`[fd-outlives-op]`).
unsafe impl<B: IoBuf> UringOp for WriteAt<B> {
    const FILE_IO: bool = true;

    fn sqe(&mut self, ring: &Ring<'_>) -> io::Result<squeue::Entry> {
        let (fd, ptr, len) = (types::Fd(self.fd.raw()), self.buf.stable_ptr(), self.len());
        Ok(match self.fixed {
            Some((pool, index)) if ring.has_buffers(pool) => {
                opcode::WriteFixed::new(fd, ptr, len, index)
                    .offset(self.offset)
                    .build()
            }
            _ => opcode::Write::new(fd, ptr, len).offset(self.offset).build(),
        })
    }

    fn try_inline(&mut self) -> Option<io::Result<u32>> {
        self.nowait().map(Ok)
    }
}

impl<B: IoBuf> ReadyOp for WriteAt<B> {
    fn mode(&self) -> Mode<'_> {
        Mode::Offload
    }

    fn syscall(&mut self) -> io::Result<u32> {
        self.nowait()
            .ok_or_else(|| io::ErrorKind::WouldBlock.into())
    }

    fn blocking(&mut self) -> Option<Blocking> {
        let (fd, len, offset) = (self.fd.raw(), self.len() as usize, self.offset);
        // SAFETY: the pointer is `len` initialised bytes of `buf` (only read), owned by the op
        // until the call's completion (`[heap-owned]`); `fd` is held by `self.fd`
        // (`[fd-outlives-op]`).
        let ptr = unsafe { Raw::new(self.buf.stable_ptr()) };
        // SAFETY: `ptr` stays valid for the call (see above); `fd` is open.
        Some(Blocking::new(move || unsafe {
            sys::rw_at(fd, Dir::Write, ptr.get(), len, offset)
        }))
    }
}
