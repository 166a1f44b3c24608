//! `IORING_OP_RECVMSG` / `recvmsg(2)`: receives one datagram and the address it came from.

use std::io;
use std::mem::size_of;

use io_uring::{opcode, squeue, types};
use socket2::{SockAddr, SockAddrStorage};

use crate::buf::{BufResult, IoBufMut};
use crate::driver::{Completion, Interest, Mode, OpCode, OpKind, ReadyOp, Ring, SharedFd, UringOp};
use crate::sys::syscall;

/// The message header, its one iovec and the source address: one heap block whose inner
/// pointers refer to itself, so it must never move while the kernel holds it (it is boxed).
struct Msg {
    hdr: libc::msghdr,
    iov: libc::iovec,
    addr: SockAddrStorage,
}

pub(crate) struct RecvFrom<B> {
    /// Held until the completion (`[fd-outlives-op]`).
    fd: SharedFd,
    /// The kernel writes into its heap memory (`[heap-owned]`).
    buf: B,
    /// Read and written by the kernel: on the heap, owned by the op (`[heap-owned]`).
    msg: Box<Msg>,
}

impl<B: IoBufMut> RecvFrom<B> {
    pub(crate) fn new(fd: &SharedFd, buf: B) -> RecvFrom<B> {
        // SAFETY: an all-zero msghdr and iovec are valid (null pointers, zero lengths).
        let (hdr, iov) = unsafe { (std::mem::zeroed(), std::mem::zeroed()) };
        RecvFrom {
            fd: fd.clone(),
            buf,
            msg: Box::new(Msg {
                hdr,
                iov,
                addr: SockAddrStorage::zeroed(),
            }),
        }
    }

    /// Points the header at the iovec, the address storage and the buffer (again before
    /// every attempt: the kernel shortens `msg_namelen`).
    fn prepare(&mut self) -> *mut libc::msghdr {
        let msg = &mut *self.msg;
        super::point_recv_iov(&mut msg.hdr, &mut msg.iov, &mut self.buf);
        msg.hdr.msg_name = (&mut msg.addr as *mut SockAddrStorage).cast();
        msg.hdr.msg_namelen = size_of::<SockAddrStorage>() as libc::socklen_t;
        &mut msg.hdr
    }
}

impl<B: IoBufMut> OpCode for RecvFrom<B> {
    type Output = BufResult<(usize, SockAddr), B>;
    const KIND: OpKind = OpKind::RecvMsg;

    fn complete(mut self, completion: Completion) -> Self::Output {
        let n = match completion.result {
            Ok(n) => n as usize,
            Err(e) => return (Err(e), self.buf),
        };
        // SAFETY: the kernel wrote `n` bytes at the start of the buffer.
        unsafe { self.buf.set_init(n) };
        let msg = *self.msg;
        // SAFETY: the kernel initialised `msg_namelen` bytes of the address storage.
        let addr = unsafe { SockAddr::new(msg.addr, msg.hdr.msg_namelen) };
        (Ok((n, addr)), self.buf)
    }
}

// SAFETY: the header, iovec and address storage are in `self.msg` (a Box owned by the op)
// and the iovec points into `self.buf`, whose pointer is stable (`[heap-owned]`); the fd is
// held by `self.fd` (`[fd-outlives-op]`).
unsafe impl<B: IoBufMut> UringOp for RecvFrom<B> {
    const CANCEL_FINDS: bool = true;

    fn sqe(&mut self, _ring: &Ring<'_>) -> io::Result<squeue::Entry> {
        let hdr = self.prepare();
        Ok(opcode::RecvMsg::new(types::Fd(self.fd.raw()), hdr).build())
    }
}

impl<B: IoBufMut> ReadyOp for RecvFrom<B> {
    fn mode(&self) -> Mode<'_> {
        Mode::Readiness(&self.fd, Interest::Read)
    }

    fn syscall(&mut self) -> io::Result<u32> {
        let hdr = self.prepare();
        // SAFETY: `hdr` and everything it points to are live and owned by the op.
        syscall!(recvmsg(self.fd.raw(), hdr, 0)).map(|n| n as u32)
    }
}
