//! `IORING_OP_SEND_ZC`: a zero-copy send of an owned buffer's initialised bytes.
//!
//! The kernel posts two completions: the result (with `IORING_CQE_F_MORE`), then a
//! notification (`IORING_CQE_F_NOTIF`) once it no longer reads the buffer. The driver keeps
//! the op's in-flight slot, and so the buffer, until that notification
//! ([`UringOp::NOTIFIES`]); a result without `F_MORE` (an error) is the only completion.
//! The readiness backend runs a plain non-blocking `send(2)`. `MSG_NOSIGNAL` on both.

use std::io;

use io_uring::{opcode, squeue};

use crate::buf::{BufResult, IoBuf};
use crate::driver::{
    on_target, Completion, Interest, Mode, OpCode, OpKind, ReadyOp, Ring, SharedFd, UringOp,
};
use crate::sys;

pub(crate) struct SendZc<B> {
    /// Held until the result completion (`[fd-outlives-op]`); let go of then when the future
    /// was dropped, since the notification needs only the pages.
    fd: Option<SharedFd>,
    /// The kernel reads its heap memory until the notification (`[heap-owned]`).
    buf: B,
}

impl<B: IoBuf> SendZc<B> {
    pub(crate) fn new(fd: &SharedFd, buf: B) -> SendZc<B> {
        SendZc {
            fd: Some(fd.clone()),
            buf,
        }
    }

    fn len(&self) -> u32 {
        self.buf.bytes_init().min(u32::MAX as usize) as u32
    }

    fn fd(&self) -> &SharedFd {
        self.fd.as_ref().expect("held until the result is in")
    }
}

impl<B: IoBuf> OpCode for SendZc<B> {
    type Output = BufResult<usize, B>;
    const KIND: OpKind = OpKind::SendZc;

    fn complete(self, completion: Completion) -> BufResult<usize, B> {
        (completion.result.map(|n| n as usize), self.buf)
    }
}

// SAFETY: the SQE points into `self.buf`, whose `IoBuf` pointer is stable across moves and
// owned by the op until the notification completion (the driver holds the slot until then,
// `[heap-owned]`); the fd (or its registered slot, `[slot-lifetime]`) is held by `self.fd`.
unsafe impl<B: IoBuf> UringOp for SendZc<B> {
    const NOTIFIES: bool = true;
    const CANCEL_FINDS: bool = true;

    fn sqe(&mut self, ring: &Ring<'_>) -> io::Result<squeue::Entry> {
        let (ptr, len) = (self.buf.stable_ptr(), self.len());
        let sqe = on_target!(ring.target(self.fd()), |fd| {
            opcode::SendZc::new(fd, ptr, len)
                .flags(libc::MSG_NOSIGNAL)
                .build()
        });
        Ok(sqe)
    }

    fn fixed_fd(&self) -> Option<&SharedFd> {
        self.fd.as_ref()
    }

    fn result_in(&mut self) {
        self.fd = None;
    }
}

impl<B: IoBuf> ReadyOp for SendZc<B> {
    fn mode(&self) -> Mode<'_> {
        match &self.fd {
            Some(fd) => Mode::Readiness(fd, Interest::Write),
            None => Mode::Immediate, // let go of after its result: nothing to wait for
        }
    }

    fn syscall(&mut self) -> io::Result<u32> {
        let (ptr, len) = (self.buf.stable_ptr().cast(), self.len() as usize);
        // SAFETY: `ptr` points to `len` initialised bytes of the owned buffer.
        unsafe { sys::send(self.fd().raw(), ptr, len, libc::MSG_NOSIGNAL) }.map(|n| n as u32)
    }
}
