//! `IORING_OP_READ` at an offset (`READ_FIXED` into a registered buffer): positional read
//! into an owned buffer. On epoll: `preadv2(RWF_NOWAIT)` from the page cache, else `pread`
//! on the thread pool.

use std::cell::Cell;
use std::io;
use std::rc::Rc;

use io_uring::{opcode, squeue, types};

use crate::buf::{BufResult, IoBufMut};
use crate::driver::{
    Blocking, Completion, Mode, OpCode, OpKind, Raw, ReadyOp, Ring, SharedFd, UringOp,
};
use crate::sys::{self, Dir};

pub(crate) struct ReadAt<B> {
    /// Holds the fd open until the completion (`[fd-outlives-op]`).
    fd: SharedFd,
    /// The kernel writes into its heap memory (`[heap-owned]`).
    buf: B,
    offset: u64,
    /// Whether a non-blocking read of cached pages may be tried first (not for `O_DIRECT`
    /// files, whose reads wait on the device even with `RWF_NOWAIT`).
    inline: Rc<Cell<bool>>,
    /// For a buffer of a [`FixedBufPool`](crate::buf::FixedBufPool): the pool's id and the
    /// buffer's index, named (`READ_FIXED`) where the ring registered that pool.
    fixed: Option<(usize, u16)>,
}

impl<B: IoBufMut> ReadAt<B> {
    pub(crate) fn new(
        fd: &SharedFd,
        buf: B,
        offset: u64,
        inline: &Rc<Cell<bool>>,
        fixed: Option<(usize, u16)>,
    ) -> ReadAt<B> {
        ReadAt {
            fd: fd.clone(),
            buf,
            offset,
            inline: inline.clone(),
            fixed,
        }
    }

    fn len(&self) -> u32 {
        super::fill_len(&self.buf)
    }

    /// A read of cached pages that never waits; `None` where it would (or is off).
    fn nowait(&mut self) -> Option<u32> {
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
    }
}

impl<B: IoBufMut> OpCode for ReadAt<B> {
    type Output = BufResult<usize, B>;
    const KIND: OpKind = OpKind::Read;

    fn complete(self, completion: Completion) -> BufResult<usize, B> {
        super::filled(self.buf, completion)
    }
}

// SAFETY: the SQE points into `buf`, whose `IoBufMut` contract keeps its memory in place
// while the op owns it (`[heap-owned]`); the fd is held open by `fd` (`[fd-outlives-op]`).
unsafe impl<B: IoBufMut> UringOp for ReadAt<B> {
    const FILE_IO: bool = true;

    fn sqe(&mut self, ring: &Ring<'_>) -> io::Result<squeue::Entry> {
        let (fd, ptr, len) = (
            types::Fd(self.fd.raw()),
            self.buf.stable_mut_ptr(),
            self.len(),
        );
        Ok(match self.fixed {
            Some((pool, index)) if ring.has_buffers(pool) => {
                opcode::ReadFixed::new(fd, ptr, len, index)
                    .offset(self.offset)
                    .build()
            }
            _ => opcode::Read::new(fd, ptr, len).offset(self.offset).build(),
        })
    }

    fn try_inline(&mut self) -> Option<io::Result<u32>> {
        self.nowait().map(Ok)
    }
}

impl<B: IoBufMut> ReadyOp for ReadAt<B> {
    fn mode(&self) -> Mode<'_> {
        Mode::Offload
    }

    fn syscall(&mut self) -> io::Result<u32> {
        self.nowait()
            .ok_or_else(|| io::ErrorKind::WouldBlock.into())
    }

    fn blocking(&mut self) -> Option<Blocking> {
        let (fd, len, offset) = (self.fd.raw(), self.len() as usize, self.offset);
        // SAFETY: the pointer is `len` writable bytes of `buf`, owned by the op until the
        // call's completion and used by nothing else meanwhile (`[heap-owned]`); `fd` is held
        // by `self.fd` (`[fd-outlives-op]`).
        let ptr = unsafe { Raw::new(self.buf.stable_mut_ptr()) };
        // SAFETY: `ptr` stays valid for the call (see above); `fd` is open.
        Some(Blocking::new(move || unsafe {
            sys::rw_at(fd, Dir::Read, ptr.get(), len, offset)
        }))
    }
}
