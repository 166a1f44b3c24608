//! `IORING_OP_READ` at the fd's own position / `read(2)` on readiness: reads a pollable,
//! non-seekable fd (a signalfd) into an owned buffer. What a read of a dropped op took
//! from the fd can still be handed on ([`Read::on_orphan`]): a signalfd's read consumes the
//! signals it returns.

use std::io;

use io_uring::{opcode, squeue, types};

use crate::buf::{BufResult, IoBufMut};
use crate::driver::{Completion, Interest, Mode, OpCode, OpKind, ReadyOp, Ring, SharedFd, UringOp};
use crate::sys::syscall;

pub(crate) struct Read<B> {
    /// Held until the completion (`[fd-outlives-op]`).
    fd: SharedFd,
    /// The kernel writes into its heap memory (`[heap-owned]`).
    buf: B,
    /// Given the buffer of a completion that arrived after the op's future was dropped.
    orphan: Option<fn(&B)>,
}

impl<B: IoBufMut> Read<B> {
    pub(crate) fn new(fd: &SharedFd, buf: B) -> Read<B> {
        Read {
            fd: fd.clone(),
            buf,
            orphan: None,
        }
    }

    /// Hands the bytes a completion brings after the future was dropped to `hook`, instead
    /// of dropping them with the buffer.
    pub(crate) fn on_orphan(mut self, hook: fn(&B)) -> Read<B> {
        self.orphan = Some(hook);
        self
    }

    fn len(&self) -> u32 {
        super::fill_len(&self.buf)
    }
}

impl<B: IoBufMut> OpCode for Read<B> {
    type Output = BufResult<usize, B>;
    const KIND: OpKind = OpKind::Read;

    fn complete(self, completion: Completion) -> BufResult<usize, B> {
        super::filled(self.buf, completion)
    }

    fn complete_orphan(&mut self, completion: Completion) {
        if let (Some(hook), Ok(n)) = (self.orphan, completion.result) {
            // SAFETY: the kernel wrote `n` bytes at the start of the buffer.
            unsafe { self.buf.set_init(n as usize) };
            hook(&self.buf);
        }
    }
}

// SAFETY: the SQE points into `self.buf`, whose `IoBufMut` pointer is stable across moves
// and owned by the op (`[heap-owned]`); the fd is held open by `self.fd`
// (`[fd-outlives-op]`).
unsafe impl<B: IoBufMut> UringOp for Read<B> {
    const CANCEL_FINDS: bool = true;

    fn sqe(&mut self, _ring: &Ring<'_>) -> io::Result<squeue::Entry> {
        let (ptr, len) = (self.buf.stable_mut_ptr(), self.len());
        // Offset -1: the fd's own position, the only one a stream fd has.
        Ok(opcode::Read::new(types::Fd(self.fd.raw()), ptr, len)
            .offset(u64::MAX)
            .build())
    }
}

impl<B: IoBufMut> ReadyOp for Read<B> {
    fn mode(&self) -> Mode<'_> {
        Mode::Readiness(&self.fd, Interest::Read)
    }

    fn syscall(&mut self) -> io::Result<u32> {
        let (ptr, len) = (self.buf.stable_mut_ptr().cast(), self.len() as usize);
        // SAFETY: `ptr` points to `len` writable bytes of the owned buffer.
        syscall!(read(self.fd.raw(), ptr, len)).map(|n| n as u32)
    }
}
