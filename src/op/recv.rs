//! `IORING_OP_RECV` / `recv(2)`: reads from a socket into an owned buffer.

use std::io;

use io_uring::{opcode, squeue};

use crate::buf::{BufResult, IoBufMut};
use crate::driver::{Completion, Interest, Mode, OpCode};
use crate::fd::{on_fd, SharedFd};
use crate::sys::syscall;

pub(crate) struct Recv<B> {
    fd: SharedFd,
    buf: B,
}

impl<B: IoBufMut> Recv<B> {
    pub(crate) fn new(fd: &SharedFd, buf: B) -> Recv<B> {
        Recv {
            fd: fd.clone(),
            buf,
        }
    }

    fn len(&self) -> u32 {
        self.buf.bytes_total().min(u32::MAX as usize) as u32
    }
}

// SAFETY: the SQE points into `self.buf`, whose `IoBufMut` pointer is stable across moves
// and owned by the op; the fd (or its registered slot, invariant 7) is held by `self.fd`.
unsafe impl<B: IoBufMut> OpCode for Recv<B> {
    type Output = BufResult<usize, B>;

    fn sqe(&mut self) -> squeue::Entry {
        let len = self.len();
        let ptr = self.buf.stable_mut_ptr();
        on_fd!(self.fd, |fd| opcode::Recv::new(fd, ptr, len).build())
    }

    fn mode(&self) -> Mode<'_> {
        Mode::Readiness(&self.fd, Interest::Read)
    }

    fn fixed_fd(&self) -> Option<&SharedFd> {
        Some(&self.fd)
    }

    fn syscall(&mut self) -> io::Result<u32> {
        let len = self.len() as usize;
        let ptr = self.buf.stable_mut_ptr().cast();
        // SAFETY: `ptr` points to `len` writable bytes of the owned buffer.
        syscall!(recv(self.fd.raw(), ptr, len, 0)).map(|n| n as u32)
    }

    fn complete(mut self, completion: Completion) -> BufResult<usize, B> {
        let res = completion.result.map(|n| n as usize);
        if let Ok(n) = res {
            // SAFETY: the kernel wrote `n` bytes at the start of the buffer.
            unsafe { self.buf.set_init(n) };
        }
        (res, self.buf)
    }
}
