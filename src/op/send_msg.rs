//! `IORING_OP_SENDMSG` / `sendmsg(2)`: sends one message: a datagram to an address, or
//! bytes with file descriptors attached (an `SCM_RIGHTS` control message, over a Unix
//! socket).
//!
//! A control message names descriptors by number, and the kernel reads it when the send
//! runs, which on io_uring may be after the future was dropped. So the op sends duplicates
//! it owns, closed only with the op after the completion: the numbers keep naming the same
//! files however late the kernel reads them, even if the caller closed its own.

use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, OwnedFd};

use io_uring::{opcode, squeue, types};
use socket2::SockAddr;

use crate::buf::{BufResult, IoBuf};
use crate::driver::{Completion, Interest, Mode, OpCode, OpKind, ReadyOp, Ring, SharedFd, UringOp};
use crate::sys::syscall;

/// The message header, its one iovec, the destination and the control message: one heap
/// block whose inner pointers refer to itself and to `control`'s heap buffer, so it must
/// never move while the kernel holds it (it is boxed).
struct Msg {
    hdr: libc::msghdr,
    iov: libc::iovec,
    /// The destination, if any (else the connected peer).
    addr: Option<SockAddr>,
    /// One `cmsghdr` and the descriptors' numbers, in `u64`s for the header's alignment;
    /// empty when no descriptor is sent.
    control: Vec<u64>,
}

pub(crate) struct SendMsg<B> {
    /// The socket, held until the completion (`[fd-outlives-op]`).
    fd: SharedFd,
    /// The kernel reads its heap memory (`[heap-owned]`).
    buf: B,
    /// The descriptors sent, named by number in the control message: held until the
    /// completion (`[fd-outlives-op]`).
    fds: Vec<OwnedFd>,
    /// Read by the kernel: on the heap, owned by the op (`[heap-owned]`).
    msg: Box<Msg>,
}

impl<B: IoBuf> SendMsg<B> {
    /// One datagram of `buf` to `addr`.
    pub(crate) fn to(fd: &SharedFd, buf: B, addr: SockAddr) -> SendMsg<B> {
        SendMsg::new(fd, buf, Some(addr), Vec::new())
    }

    /// `buf` with `fds` (duplicates the op owns) attached to its first byte.
    pub(crate) fn with_fds(fd: &SharedFd, buf: B, fds: Vec<OwnedFd>) -> SendMsg<B> {
        SendMsg::new(fd, buf, None, fds)
    }

    fn new(fd: &SharedFd, buf: B, addr: Option<SockAddr>, fds: Vec<OwnedFd>) -> SendMsg<B> {
        // SAFETY: an all-zero msghdr and iovec are valid (null pointers, zero lengths).
        let (hdr, iov) = unsafe { (std::mem::zeroed(), std::mem::zeroed()) };
        let mut msg = Box::new(Msg {
            hdr,
            iov,
            addr,
            control: Vec::new(),
        });
        if !fds.is_empty() {
            write_rights(&mut msg, &fds);
        }
        let mut op = SendMsg {
            fd: fd.clone(),
            buf,
            fds,
            msg,
        };
        op.prepare();
        op
    }

    /// Points the header at the iovec, the buffer and the destination (the control
    /// message is in place).
    fn prepare(&mut self) -> *const libc::msghdr {
        let msg = &mut *self.msg;
        msg.iov.iov_base = self.buf.stable_ptr().cast_mut().cast();
        msg.iov.iov_len = self.buf.bytes_init();
        msg.hdr.msg_iov = &mut msg.iov;
        msg.hdr.msg_iovlen = 1;
        if let Some(addr) = &msg.addr {
            msg.hdr.msg_name = addr.as_ptr().cast_mut().cast();
            msg.hdr.msg_namelen = addr.len();
        }
        &msg.hdr
    }
}

/// Fills `msg.control` with one `SCM_RIGHTS` message naming `fds`, and points the header
/// at it.
fn write_rights(msg: &mut Msg, fds: &[OwnedFd]) {
    let data_len = (fds.len() * size_of::<libc::c_int>()) as libc::c_uint;
    // SAFETY: CMSG_SPACE and CMSG_LEN only compute lengths.
    let (space, len) = unsafe { (libc::CMSG_SPACE(data_len), libc::CMSG_LEN(data_len)) };
    msg.control = vec![0u64; (space as usize).div_ceil(size_of::<u64>())];
    msg.hdr.msg_control = msg.control.as_mut_ptr().cast();
    msg.hdr.msg_controllen = space as usize;
    // SAFETY: the control buffer holds `space` bytes, room for one cmsghdr and `data_len`
    // bytes of data, and is aligned for a cmsghdr (u64s); CMSG_FIRSTHDR is not null since
    // `msg_controllen` exceeds a cmsghdr.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg.hdr);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = len as usize;
        let data = libc::CMSG_DATA(cmsg).cast::<libc::c_int>();
        for (i, fd) in fds.iter().enumerate() {
            data.add(i).write_unaligned(fd.as_raw_fd());
        }
    }
}

impl<B: IoBuf> OpCode for SendMsg<B> {
    type Output = BufResult<usize, B>;
    const KIND: OpKind = OpKind::SendMsg;

    fn complete(self, completion: Completion) -> BufResult<usize, B> {
        // The duplicates close now: the kernel took its own references.
        drop(self.fds);
        (completion.result.map(|n| n as usize), self.buf)
    }
}

// SAFETY: the header, iovec, destination and control message are in `self.msg` (a Box
// owned by the op, the control bytes in its Vec) and the iovec points into `self.buf`,
// whose pointer is stable (`[heap-owned]`); the socket is held by `self.fd`, and the
// descriptors the control message names by `self.fds` (`[fd-outlives-op]`).
unsafe impl<B: IoBuf> UringOp for SendMsg<B> {
    const CANCEL_FINDS: bool = true;

    fn sqe(&mut self, _ring: &Ring<'_>) -> io::Result<squeue::Entry> {
        let hdr = self.prepare();
        Ok(opcode::SendMsg::new(types::Fd(self.fd.raw()), hdr)
            .flags(libc::MSG_NOSIGNAL as u32)
            .build())
    }
}

impl<B: IoBuf> ReadyOp for SendMsg<B> {
    fn mode(&self) -> Mode<'_> {
        Mode::Readiness(&self.fd, Interest::Write)
    }

    fn syscall(&mut self) -> io::Result<u32> {
        let hdr = self.prepare();
        // SAFETY: `hdr` and everything it points to are live and owned by the op.
        syscall!(sendmsg(self.fd.raw(), hdr, libc::MSG_NOSIGNAL)).map(|n| n as u32)
    }
}
