//! `IORING_OP_SENDMSG` / `sendmsg(2)`: sends one datagram to an address.

use std::io;

use io_uring::{opcode, squeue, types};
use socket2::SockAddr;

use crate::buf::{BufResult, IoBuf};
use crate::driver::{Completion, Interest, Mode, OpCode, OpKind, ReadyOp, Ring, SharedFd, UringOp};
use crate::sys::syscall;

/// The message header, its one iovec and the destination: one heap block whose inner
/// pointers refer to itself, so it must never move while the kernel holds it (it is boxed).
struct Msg {
    hdr: libc::msghdr,
    iov: libc::iovec,
    addr: SockAddr,
}

pub(crate) struct SendTo<B> {
    /// Held until the completion (`[fd-outlives-op]`).
    fd: SharedFd,
    /// The kernel reads its heap memory (`[heap-owned]`).
    buf: B,
    /// Read by the kernel: on the heap, owned by the op (`[heap-owned]`).
    msg: Box<Msg>,
}

impl<B: IoBuf> SendTo<B> {
    pub(crate) fn new(fd: &SharedFd, buf: B, addr: SockAddr) -> SendTo<B> {
        // SAFETY: an all-zero msghdr and iovec are valid (null pointers, zero lengths).
        let (hdr, iov) = unsafe { (std::mem::zeroed(), std::mem::zeroed()) };
        let mut op = SendTo {
            fd: fd.clone(),
            buf,
            msg: Box::new(Msg { hdr, iov, addr }),
        };
        op.prepare();
        op
    }

    fn prepare(&mut self) -> *const libc::msghdr {
        let msg = &mut *self.msg;
        msg.iov.iov_base = self.buf.stable_ptr().cast_mut().cast();
        msg.iov.iov_len = self.buf.bytes_init();
        msg.hdr.msg_iov = &mut msg.iov;
        msg.hdr.msg_iovlen = 1;
        msg.hdr.msg_name = msg.addr.as_ptr().cast_mut().cast();
        msg.hdr.msg_namelen = msg.addr.len();
        &msg.hdr
    }
}

impl<B: IoBuf> OpCode for SendTo<B> {
    type Output = BufResult<usize, B>;
    const KIND: OpKind = OpKind::SendMsg;

    fn complete(self, completion: Completion) -> BufResult<usize, B> {
        (completion.result.map(|n| n as usize), self.buf)
    }
}

// SAFETY: the header, iovec and address are in `self.msg` (a Box owned by the op) and the
// iovec points into `self.buf`, whose pointer is stable (`[heap-owned]`); the fd is held by
// `self.fd` (`[fd-outlives-op]`).
unsafe impl<B: IoBuf> UringOp for SendTo<B> {
    fn sqe(&mut self, _ring: &Ring<'_>) -> io::Result<squeue::Entry> {
        let hdr = self.prepare();
        Ok(opcode::SendMsg::new(types::Fd(self.fd.raw()), hdr)
            .flags(libc::MSG_NOSIGNAL as u32)
            .build())
    }
}

impl<B: IoBuf> ReadyOp for SendTo<B> {
    fn mode(&self) -> Mode<'_> {
        Mode::Readiness(&self.fd, Interest::Write)
    }

    fn syscall(&mut self) -> io::Result<u32> {
        let hdr = self.prepare();
        // SAFETY: `hdr` and everything it points to are live and owned by the op.
        syscall!(sendmsg(self.fd.raw(), hdr, libc::MSG_NOSIGNAL)).map(|n| n as u32)
    }
}
