//! `IORING_OP_RECVMSG` / `recvmsg(2)` into several owned buffers: a stream's
//! `read_vectored`, and a datagram with the address it came from (`recv_msg`; no ancillary
//! data).

use std::io;
use std::mem::size_of;

use io_uring::{opcode, squeue};
use socket2::{SockAddr, SockAddrStorage};

use super::IoVecs;
use crate::buf::{BufResult, IoBufMut};
use crate::driver::{
    on_target, Completion, Interest, Mode, OpCode, OpKind, ReadyOp, Ring, SharedFd, UringOp,
};
use crate::sys::syscall;

/// The message header and the source address: one heap block whose header points into
/// itself, so it must never move while the kernel holds it (it is boxed).
struct Msg {
    hdr: libc::msghdr,
    addr: SockAddrStorage,
}

pub(crate) struct RecvVectored<B> {
    /// Held until the completion (`[fd-outlives-op]`).
    fd: SharedFd,
    /// The kernel writes into their heap memory (`[heap-owned]`).
    bufs: Vec<B>,
    /// Read by the kernel: on the heap, owned by the op (`[heap-owned]`).
    iovecs: IoVecs,
    /// Read and written by the kernel: on the heap, owned by the op (`[heap-owned]`).
    msg: Box<Msg>,
    /// A stream socket (no address, a registered slot may name it; a short read means its
    /// receive queue is empty), else a datagram socket whose sender is asked for.
    stream: bool,
}

impl<B: IoBufMut> RecvVectored<B> {
    /// A read from a stream socket.
    pub(crate) fn stream(fd: &SharedFd, bufs: Vec<B>) -> RecvVectored<B> {
        RecvVectored::new(fd, bufs, true)
    }

    /// One datagram, and its sender.
    pub(crate) fn datagram(fd: &SharedFd, bufs: Vec<B>) -> RecvVectored<B> {
        RecvVectored::new(fd, bufs, false)
    }

    fn new(fd: &SharedFd, mut bufs: Vec<B>, stream: bool) -> RecvVectored<B> {
        let iovecs = IoVecs::to_fill(&mut bufs);
        // SAFETY: an all-zero msghdr is valid (null pointers, zero lengths).
        let hdr = unsafe { std::mem::zeroed() };
        RecvVectored {
            fd: fd.clone(),
            bufs,
            iovecs,
            msg: Box::new(Msg {
                hdr,
                addr: SockAddrStorage::zeroed(),
            }),
            stream,
        }
    }

    /// Points the header at the iovecs and (for a datagram) the address storage, again
    /// before every attempt: the kernel shortens `msg_namelen`.
    fn prepare(&mut self) -> *mut libc::msghdr {
        let msg = &mut *self.msg;
        msg.hdr.msg_iov = self.iovecs.as_ptr().cast_mut();
        msg.hdr.msg_iovlen = self.iovecs.len();
        if !self.stream {
            msg.hdr.msg_name = (&mut msg.addr as *mut SockAddrStorage).cast();
            msg.hdr.msg_namelen = size_of::<SockAddrStorage>() as libc::socklen_t;
        }
        &mut msg.hdr
    }
}

impl<B: IoBufMut> OpCode for RecvVectored<B> {
    /// The count, and for a datagram its sender.
    type Output = BufResult<(usize, Option<SockAddr>), Vec<B>>;
    const KIND: OpKind = OpKind::RecvMsg;

    fn complete(self, completion: Completion) -> Self::Output {
        let (res, bufs) = super::filled_vectored(self.bufs, completion.result);
        let msg = *self.msg;
        let res = res.map(|n| {
            // SAFETY: the kernel initialised `msg_namelen` bytes of the address storage.
            let addr =
                (!self.stream).then(|| unsafe { SockAddr::new(msg.addr, msg.hdr.msg_namelen) });
            (n, addr)
        });
        (res, bufs)
    }
}

// SAFETY: the header and address storage are in `self.msg` (a Box owned by the op), the
// iovecs in `self.iovecs` (a boxed slice owned by the op), pointing into `self.bufs`, whose
// pointers are stable (`[heap-owned]`); the fd (or its registered slot, `[slot-lifetime]`)
// is held by `self.fd` (`[fd-outlives-op]`).
unsafe impl<B: IoBufMut> UringOp for RecvVectored<B> {
    const CANCEL_FINDS: bool = true;

    fn sqe(&mut self, ring: &Ring<'_>) -> io::Result<squeue::Entry> {
        let hdr = self.prepare();
        let sqe = on_target!(ring.target(&self.fd), |fd| opcode::RecvMsg::new(fd, hdr)
            .build());
        Ok(sqe)
    }

    fn fixed_fd(&self) -> Option<&SharedFd> {
        self.stream.then_some(&self.fd)
    }
}

impl<B: IoBufMut> ReadyOp for RecvVectored<B> {
    fn mode(&self) -> Mode<'_> {
        Mode::Readiness(&self.fd, Interest::Read)
    }

    fn drained(&self, n: u32) -> bool {
        self.stream && n > 0 && (n as usize) < self.iovecs.total()
    }

    fn syscall(&mut self) -> io::Result<u32> {
        let hdr = self.prepare();
        // SAFETY: `hdr` and everything it points to are live and owned by the op.
        syscall!(recvmsg(self.fd.raw(), hdr, 0)).map(|n| n as u32)
    }
}
