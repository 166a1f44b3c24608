//! `IORING_OP_SENDMSG` / `sendmsg(2)` from several owned buffers: a stream's
//! `write_vectored`, and a datagram to an address (`send_msg`; no ancillary data).
//!
//! `MSG_NOSIGNAL`: writing to a closed connection gives `EPIPE`, never `SIGPIPE` (which
//! `writev` would raise).

use std::io;

use io_uring::{opcode, squeue};
use socket2::SockAddr;

use super::IoVecs;
use crate::buf::{BufResult, IoBuf};
use crate::driver::{
    on_target, Completion, Interest, Mode, OpCode, OpKind, ReadyOp, Ring, SharedFd, UringOp,
};
use crate::sys::syscall;

/// The message header and the destination: one heap block whose header points into
/// itself, so it must never move while the kernel holds it (it is boxed).
struct Msg {
    hdr: libc::msghdr,
    addr: Option<SockAddr>,
}

pub(crate) struct SendVectored<B> {
    /// Held until the completion (`[fd-outlives-op]`).
    fd: SharedFd,
    /// The kernel reads their heap memory (`[heap-owned]`).
    bufs: Vec<B>,
    /// Read by the kernel: on the heap, owned by the op (`[heap-owned]`).
    iovecs: IoVecs,
    /// Read by the kernel: on the heap, owned by the op (`[heap-owned]`).
    msg: Box<Msg>,
}

impl<B: IoBuf> SendVectored<B> {
    /// A write to a stream socket (or a connected datagram socket, without `addr`), or one
    /// datagram to `addr`.
    pub(crate) fn new(fd: &SharedFd, bufs: Vec<B>, addr: Option<SockAddr>) -> SendVectored<B> {
        let iovecs = IoVecs::to_send(&bufs);
        // SAFETY: an all-zero msghdr is valid (null pointers, zero lengths).
        let hdr = unsafe { std::mem::zeroed() };
        let mut op = SendVectored {
            fd: fd.clone(),
            bufs,
            iovecs,
            msg: Box::new(Msg { hdr, addr }),
        };
        op.prepare();
        op
    }

    fn prepare(&mut self) -> *const libc::msghdr {
        let msg = &mut *self.msg;
        msg.hdr.msg_iov = self.iovecs.as_ptr().cast_mut();
        msg.hdr.msg_iovlen = self.iovecs.len();
        if let Some(addr) = &msg.addr {
            msg.hdr.msg_name = addr.as_ptr().cast_mut().cast();
            msg.hdr.msg_namelen = addr.len();
        }
        &msg.hdr
    }

    /// A stream (no destination): a registered slot may name its socket.
    fn stream(&self) -> bool {
        self.msg.addr.is_none()
    }
}

impl<B: IoBuf> OpCode for SendVectored<B> {
    type Output = BufResult<usize, Vec<B>>;
    const KIND: OpKind = OpKind::SendMsg;

    fn complete(self, completion: Completion) -> Self::Output {
        (completion.result.map(|n| n as usize), self.bufs)
    }
}

// SAFETY: the header and destination are in `self.msg` (a Box owned by the op), the
// iovecs in `self.iovecs` (a boxed slice owned by the op), pointing into `self.bufs`, whose
// pointers are stable (`[heap-owned]`); the fd (or its registered slot, `[slot-lifetime]`)
// is held by `self.fd` (`[fd-outlives-op]`).
unsafe impl<B: IoBuf> UringOp for SendVectored<B> {
    const CANCEL_FINDS: bool = true;

    fn sqe(&mut self, ring: &Ring<'_>) -> io::Result<squeue::Entry> {
        let hdr = self.prepare();
        let sqe = on_target!(ring.target(&self.fd), |fd| {
            opcode::SendMsg::new(fd, hdr)
                .flags(libc::MSG_NOSIGNAL as u32)
                .build()
        });
        Ok(sqe)
    }

    fn fixed_fd(&self) -> Option<&SharedFd> {
        self.stream().then_some(&self.fd)
    }
}

impl<B: IoBuf> ReadyOp for SendVectored<B> {
    fn mode(&self) -> Mode<'_> {
        Mode::Readiness(&self.fd, Interest::Write)
    }

    fn syscall(&mut self) -> io::Result<u32> {
        let hdr = self.prepare();
        // SAFETY: `hdr` and everything it points to are live and owned by the op.
        syscall!(sendmsg(self.fd.raw(), hdr, libc::MSG_NOSIGNAL)).map(|n| n as u32)
    }
}
