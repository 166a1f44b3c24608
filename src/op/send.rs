//! `IORING_OP_SEND` / `send(2)`: writes an owned buffer's initialised bytes to a socket.
//!
//! `MSG_NOSIGNAL`: writing to a closed connection gives `EPIPE`, never `SIGPIPE`. A send made
//! with [`Send::all`] also asks io_uring for `MSG_WAITALL`: the kernel retries a short send
//! on a stream socket itself, so the whole buffer goes out (or an error comes back) without
//! the op being polled again; the readiness half sends what the socket takes, as usual.

use std::io;

use io_uring::{opcode, squeue};

use crate::buf::{BufResult, IoBuf};
use crate::driver::{
    on_target, Completion, Interest, Mode, OpCode, OpKind, ReadyOp, Ring, SharedFd, UringOp,
};
use crate::sys;

pub(crate) struct Send<B> {
    /// Held until the completion (`[fd-outlives-op]`).
    fd: SharedFd,
    /// The kernel reads its heap memory (`[heap-owned]`).
    buf: B,
    /// `MSG_WAITALL` on io_uring (see the module docs).
    all: bool,
}

impl<B: IoBuf> Send<B> {
    pub(crate) fn new(fd: &SharedFd, buf: B) -> Send<B> {
        Send {
            fd: fd.clone(),
            buf,
            all: false,
        }
    }

    /// A send that io_uring completes only once the whole buffer is sent, or on an error.
    pub(crate) fn all(fd: &SharedFd, buf: B) -> Send<B> {
        Send {
            all: true,
            ..Send::new(fd, buf)
        }
    }

    /// The buffer, of a send never started.
    pub(crate) fn into_buf(self) -> B {
        self.buf
    }

    fn len(&self) -> u32 {
        self.buf.bytes_init().min(u32::MAX as usize) as u32
    }
}

impl<B: IoBuf> OpCode for Send<B> {
    type Output = BufResult<usize, B>;
    const KIND: OpKind = OpKind::Send;

    fn complete(self, completion: Completion) -> BufResult<usize, B> {
        (completion.result.map(|n| n as usize), self.buf)
    }
}

// SAFETY: the SQE points into `self.buf`, whose `IoBuf` pointer is stable across moves and
// owned by the op (`[heap-owned]`); the fd (or its registered slot, `[slot-lifetime]`) is
// held by `self.fd` (`[fd-outlives-op]`).
unsafe impl<B: IoBuf> UringOp for Send<B> {
    const CANCEL_FINDS: bool = true;

    #[inline]
    fn sqe(&mut self, ring: &Ring<'_>) -> io::Result<squeue::Entry> {
        let (ptr, len) = (self.buf.stable_ptr(), self.len());
        let flags = libc::MSG_NOSIGNAL | if self.all { libc::MSG_WAITALL } else { 0 };
        let sqe = on_target!(ring.target(&self.fd), |fd| {
            opcode::Send::new(fd, ptr, len).flags(flags).build()
        });
        Ok(sqe)
    }

    fn fixed_fd(&self) -> Option<&SharedFd> {
        Some(&self.fd)
    }
}

impl<B: IoBuf> ReadyOp for Send<B> {
    fn mode(&self) -> Mode<'_> {
        Mode::Readiness(&self.fd, Interest::Write)
    }

    fn syscall(&mut self) -> io::Result<u32> {
        let (ptr, len) = (self.buf.stable_ptr().cast(), self.len() as usize);
        // SAFETY: `ptr` points to `len` initialised bytes of the owned buffer.
        unsafe { sys::send(self.fd.raw(), ptr, len, libc::MSG_NOSIGNAL) }.map(|n| n as u32)
    }
}
