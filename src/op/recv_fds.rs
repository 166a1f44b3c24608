//! `IORING_OP_RECVMSG` / `recvmsg(2)` with a control buffer: receives bytes and the file
//! descriptors an `SCM_RIGHTS` message carried over a Unix socket.
//!
//! The descriptors arrive close-on-exec (`MSG_CMSG_CLOEXEC`) and are owned at once: the
//! output's, or, when the future was dropped before the completion was taken, closed by the
//! orphan hook, so a cancelled receive leaks none. A control buffer too small for what was
//! sent (`MSG_CTRUNC`: the kernel closed the descriptors that did not fit) is an error, and
//! the descriptors that did fit are closed too.

use std::io;
use std::mem::size_of;
use std::os::fd::{FromRawFd, OwnedFd};

use io_uring::{opcode, squeue, types};

use crate::buf::{BufResult, IoBufMut};
use crate::driver::{Completion, Interest, Mode, OpCode, OpKind, ReadyOp, Ring, SharedFd, UringOp};
use crate::sys::syscall;

const FLAGS: libc::c_int = libc::MSG_CMSG_CLOEXEC;

/// The most descriptors one message carries (the kernel's `SCM_MAX_FD`).
pub(crate) const MAX_FDS: usize = 253;

/// The message header, its one iovec and the control buffer: one heap block whose inner
/// pointers refer to itself and to `control`'s heap buffer, so it must never move while the
/// kernel holds it (it is boxed).
struct Msg {
    hdr: libc::msghdr,
    iov: libc::iovec,
    /// Room for one `SCM_RIGHTS` message of `max` descriptors, in `u64`s for alignment.
    control: Vec<u64>,
    /// The control length offered to the kernel: exactly `max` descriptors' worth.
    control_len: usize,
    /// The most descriptors the receive takes.
    max: usize,
}

pub(crate) struct RecvFds<B> {
    /// Held until the completion (`[fd-outlives-op]`).
    fd: SharedFd,
    /// The kernel writes into its heap memory (`[heap-owned]`).
    buf: B,
    /// Read and written by the kernel: on the heap, owned by the op (`[heap-owned]`).
    msg: Box<Msg>,
}

impl<B: IoBufMut> RecvFds<B> {
    /// Receives into `buf`, with room for at most `max` descriptors (capped at
    /// [`MAX_FDS`]).
    pub(crate) fn new(fd: &SharedFd, buf: B, max: usize) -> RecvFds<B> {
        // SAFETY: an all-zero msghdr and iovec are valid (null pointers, zero lengths).
        let (hdr, iov) = unsafe { (std::mem::zeroed(), std::mem::zeroed()) };
        let max = max.min(MAX_FDS);
        let (control, control_len) = match max {
            0 => (Vec::new(), 0),
            max => {
                let data_len = (max * size_of::<libc::c_int>()) as libc::c_uint;
                // SAFETY: CMSG_SPACE and CMSG_LEN only compute lengths. The kernel fits as
                // many descriptors as `CMSG_LEN` leaves room for: exactly `max`.
                let (space, len) =
                    unsafe { (libc::CMSG_SPACE(data_len), libc::CMSG_LEN(data_len)) };
                let words = (space as usize).div_ceil(size_of::<u64>());
                (vec![0u64; words], len as usize)
            }
        };
        RecvFds {
            fd: fd.clone(),
            buf,
            msg: Box::new(Msg {
                hdr,
                iov,
                control,
                control_len,
                max,
            }),
        }
    }

    /// Points the header at the iovec, the buffer and the control buffer (again before
    /// every attempt: the kernel shortens `msg_controllen` and sets `msg_flags`).
    fn prepare(&mut self) -> *mut libc::msghdr {
        let msg = &mut *self.msg;
        super::point_recv_iov(&mut msg.hdr, &mut msg.iov, &mut self.buf);
        msg.hdr.msg_control = if msg.control_len == 0 {
            std::ptr::null_mut()
        } else {
            msg.control.as_mut_ptr().cast()
        };
        msg.hdr.msg_controllen = msg.control_len;
        msg.hdr.msg_flags = 0;
        &mut msg.hdr
    }

    /// Takes ownership of the descriptors the kernel placed in the control buffer (once:
    /// the control length is zeroed after).
    fn take_fds(&mut self) -> Vec<OwnedFd> {
        let msg = &mut *self.msg;
        // Never past the buffer, whatever the header says.
        msg.hdr.msg_controllen = msg.hdr.msg_controllen.min(msg.control_len);
        let mut fds = Vec::new();
        // SAFETY: after a successful receive the kernel wrote `msg_controllen` bytes of
        // control messages at `msg_control`, which points into `msg.control` (live, aligned
        // for a cmsghdr, and at least that long); CMSG_FIRSTHDR / CMSG_NXTHDR stay within
        // `msg_controllen`. Each SCM_RIGHTS message's data is that many descriptors the
        // kernel installed in this process for this receive, owned by nothing else.
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(&msg.hdr);
            while !cmsg.is_null() {
                if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                    let data = libc::CMSG_DATA(cmsg).cast::<libc::c_int>();
                    let bytes = (*cmsg).cmsg_len - libc::CMSG_LEN(0) as usize;
                    for i in 0..bytes / size_of::<libc::c_int>() {
                        fds.push(OwnedFd::from_raw_fd(data.add(i).read_unaligned()));
                    }
                }
                cmsg = libc::CMSG_NXTHDR(&msg.hdr, cmsg);
            }
        }
        msg.hdr.msg_controllen = 0;
        fds
    }
}

impl<B: IoBufMut> OpCode for RecvFds<B> {
    type Output = BufResult<(usize, Vec<OwnedFd>), B>;
    const KIND: OpKind = OpKind::RecvMsg;

    fn complete(mut self, completion: Completion) -> Self::Output {
        let n = match completion.result {
            Ok(n) => n as usize,
            Err(e) => return (Err(e), self.buf),
        };
        // SAFETY: the kernel wrote `n` bytes at the start of the buffer.
        unsafe { self.buf.set_init(n) };
        let fds = self.take_fds();
        if self.msg.hdr.msg_flags & libc::MSG_CTRUNC != 0 {
            let arrived = fds.len();
            drop(fds);
            let err = io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the control data did not fit (MSG_CTRUNC): more file descriptors were \
                     sent than the {} the receive had room for; the {arrived} that arrived \
                     were closed, the others discarded; the {n} bytes received are in the \
                     buffer",
                    self.msg.max,
                ),
            );
            return (Err(err), self.buf);
        }
        (Ok((n, fds)), self.buf)
    }

    fn complete_orphan(&mut self, completion: Completion) {
        if completion.result.is_ok() {
            // Nobody will take them: close them now.
            drop(self.take_fds());
        }
    }
}

// SAFETY: the header, iovec and control buffer are in `self.msg` (a Box owned by the op,
// the control bytes in its Vec) and the iovec points into `self.buf`, whose pointer is
// stable (`[heap-owned]`); the fd is held by `self.fd` (`[fd-outlives-op]`).
unsafe impl<B: IoBufMut> UringOp for RecvFds<B> {
    const CANCEL_FINDS: bool = true;

    fn sqe(&mut self, _ring: &Ring<'_>) -> io::Result<squeue::Entry> {
        let hdr = self.prepare();
        Ok(opcode::RecvMsg::new(types::Fd(self.fd.raw()), hdr)
            .flags(FLAGS as u32)
            .build())
    }
}

impl<B: IoBufMut> ReadyOp for RecvFds<B> {
    fn mode(&self) -> Mode<'_> {
        Mode::Readiness(&self.fd, Interest::Read)
    }

    fn syscall(&mut self) -> io::Result<u32> {
        let hdr = self.prepare();
        // SAFETY: `hdr` and everything it points to are live and owned by the op.
        syscall!(recvmsg(self.fd.raw(), hdr, FLAGS)).map(|n| n as u32)
    }
}
