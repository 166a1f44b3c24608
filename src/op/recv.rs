//! `IORING_OP_RECV` / `recv(2)`: reads from a socket into an owned buffer.

use std::io;

use io_uring::{opcode, squeue};

use crate::buf::{BufResult, IoBufMut};
use crate::driver::{
    on_target, Completion, Interest, Mode, OpCode, OpKind, ReadyOp, Ring, SharedFd, UringOp,
};
use crate::sys;

pub(crate) struct Recv<B> {
    /// Held until the completion (`[fd-outlives-op]`).
    fd: SharedFd,
    /// The kernel writes into its heap memory (`[heap-owned]`).
    buf: B,
    /// A stream socket: a short read means its receive queue is empty (a datagram socket
    /// gives one datagram per read, however many wait).
    stream: bool,
}

impl<B: IoBufMut> Recv<B> {
    /// A read from a stream socket.
    pub(crate) fn new(fd: &SharedFd, buf: B) -> Recv<B> {
        Recv {
            fd: fd.clone(),
            buf,
            stream: true,
        }
    }

    /// One datagram from a datagram socket.
    pub(crate) fn datagram(fd: &SharedFd, buf: B) -> Recv<B> {
        Recv {
            stream: false,
            ..Recv::new(fd, buf)
        }
    }

    fn len(&self) -> u32 {
        super::fill_len(&self.buf)
    }
}

impl<B: IoBufMut> OpCode for Recv<B> {
    type Output = BufResult<usize, B>;
    const KIND: OpKind = OpKind::Recv;

    fn complete(self, completion: Completion) -> BufResult<usize, B> {
        super::filled(self.buf, completion)
    }
}

// SAFETY: the SQE points into `self.buf`, whose `IoBufMut` pointer is stable across moves
// and owned by the op (`[heap-owned]`); the fd (or its registered slot, `[slot-lifetime]`)
// is held by `self.fd` (`[fd-outlives-op]`).
unsafe impl<B: IoBufMut> UringOp for Recv<B> {
    const CANCEL_FINDS: bool = true;

    fn sqe(&mut self, ring: &Ring<'_>) -> io::Result<squeue::Entry> {
        let (ptr, len) = (self.buf.stable_mut_ptr(), self.len());
        let sqe = on_target!(ring.target(&self.fd), |fd| opcode::Recv::new(fd, ptr, len)
            .build());
        Ok(sqe)
    }

    fn fixed_fd(&self) -> Option<&SharedFd> {
        Some(&self.fd)
    }
}

impl<B: IoBufMut> ReadyOp for Recv<B> {
    fn mode(&self) -> Mode<'_> {
        Mode::Readiness(&self.fd, Interest::Read)
    }

    fn drained(&self, n: u32) -> bool {
        self.stream && n > 0 && n < self.len()
    }

    fn syscall(&mut self) -> io::Result<u32> {
        let (ptr, len) = (self.buf.stable_mut_ptr().cast(), self.len() as usize);
        // SAFETY: `ptr` points to `len` writable bytes of the owned buffer.
        unsafe { sys::recv(self.fd.raw(), ptr, len, 0) }.map(|n| n as u32)
    }
}
