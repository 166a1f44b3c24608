//! Operations, one per file. Each is a struct with three short impl blocks: what both
//! backends share ([`OpCode`](crate::driver::OpCode): the owned resources and `complete`),
//! its io_uring half ([`UringOp`](crate::driver::UringOp): the SQE for the ring at hand),
//! and its readiness half ([`ReadyOp`](crate::driver::ReadyOp): the non-blocking syscall,
//! or the blocking call the epoll backend runs on its thread pool). The runtime's op
//! futures drive them; nothing here knows the runtime.

pub(crate) mod accept;
pub(crate) mod accept_multi;
pub(crate) mod close;
pub(crate) mod connect;
pub(crate) mod fallocate;
pub(crate) mod fsync;
pub(crate) mod ftruncate;
pub(crate) mod link;
pub(crate) mod mkdir;
pub(crate) mod nop;
pub(crate) mod open;
pub(crate) mod poll_add;
pub(crate) mod read;
pub(crate) mod read_at;
pub(crate) mod recv;
pub(crate) mod recv_fds;
pub(crate) mod recv_from;
pub(crate) mod recv_multi;
pub(crate) mod recv_vectored;
pub(crate) mod rename;
pub(crate) mod send;
pub(crate) mod send_msg;
pub(crate) mod send_queued;
pub(crate) mod send_vectored;
pub(crate) mod send_zc;
pub(crate) mod sendfile;
pub(crate) mod shutdown;
pub(crate) mod splice;
pub(crate) mod statx;
pub(crate) mod symlink;
pub(crate) mod unlink;
pub(crate) mod vectored_at;
pub(crate) mod write_at;

#[cfg(test)]
mod tests;

use std::fmt;
use std::io;

use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::driver::Completion;

/// The length an op asks the kernel to fill: the buffer's capacity, capped at `u32::MAX`.
pub(crate) fn fill_len<B: IoBufMut>(buf: &B) -> u32 {
    buf.bytes_total().min(u32::MAX as usize) as u32
}

/// Points `hdr` at the one iovec `iov`, itself pointed at all of `buf`'s capacity: the
/// receive half of a msghdr (the kernel may write the whole capacity).
pub(crate) fn point_recv_iov<B: IoBufMut>(
    hdr: &mut libc::msghdr,
    iov: &mut libc::iovec,
    buf: &mut B,
) {
    iov.iov_base = buf.stable_mut_ptr().cast();
    iov.iov_len = buf.bytes_total();
    hdr.msg_iov = iov;
    hdr.msg_iovlen = 1;
}

/// A read's result and buffer: on success the kernel wrote that many bytes at the start of
/// `buf`, which are then initialised.
pub(crate) fn filled<B: IoBufMut>(mut buf: B, completion: Completion) -> BufResult<usize, B> {
    let res = completion.result.map(|n| n as usize);
    if let Ok(n) = res {
        // SAFETY: the kernel wrote `n` bytes at the start of the buffer (the completion
        // of a read into it).
        unsafe { buf.set_init(n) };
    }
    (res, buf)
}

/// The iovec array of a vectored op, one entry per buffer: heap memory owned by the op
/// (`[heap-owned]`), built once, since the buffers it points into stay in place while the
/// op owns them.
pub(crate) struct IoVecs(Box<[libc::iovec]>);

impl IoVecs {
    /// For a read: the whole capacity of each buffer, from its start.
    pub(crate) fn to_fill<B: IoBufMut>(bufs: &mut [B]) -> IoVecs {
        let iov = |b: &mut B| libc::iovec {
            iov_base: b.stable_mut_ptr().cast(),
            iov_len: b.bytes_total(),
        };
        IoVecs(bufs.iter_mut().map(iov).collect())
    }

    /// For a write: the initialised bytes of each buffer.
    pub(crate) fn to_send<B: IoBuf>(bufs: &[B]) -> IoVecs {
        let iov = |b: &B| libc::iovec {
            iov_base: b.stable_ptr().cast_mut().cast(),
            iov_len: b.bytes_init(),
        };
        IoVecs(bufs.iter().map(iov).collect())
    }

    pub(crate) fn as_ptr(&self) -> *const libc::iovec {
        self.0.as_ptr()
    }

    /// How many iovecs (more than `IOV_MAX`, 1024, is the kernel's `EINVAL`).
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// The bytes they describe together.
    pub(crate) fn total(&self) -> usize {
        self.0.iter().map(|iov| iov.iov_len).sum()
    }
}

/// A vectored read's result and buffers: on success the kernel wrote that many bytes
/// across the buffers in order, filling each before the next, which are initialised that
/// far.
pub(crate) fn filled_vectored<B: IoBufMut>(
    mut bufs: Vec<B>,
    result: io::Result<u32>,
) -> BufResult<usize, Vec<B>> {
    let res = result.map(|n| n as usize);
    if let Ok(n) = res {
        let mut left = n;
        for buf in bufs.iter_mut() {
            let here = left.min(buf.bytes_total());
            // SAFETY: the kernel filled the buffers in order, each to its capacity before
            // the next: `here` bytes at the start of this one.
            unsafe { buf.set_init(here) };
            left -= here;
        }
    }
    (res, bufs)
}

/// What an op completes with when it went through a ring whose kernel lacks its opcode
/// (the ring answers `EINVAL` to an unknown one): its caller then runs the system call on
/// the blocking pool instead (which gives the call's own `EINVAL` back, if that is what it
/// was). Opcodes newer than those the ring requires are never required; they fall back.
#[derive(Debug)]
pub(crate) struct LackingOnRing;

impl fmt::Display for LackingOnRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("this kernel's io_uring lacks the operation")
    }
}

impl std::error::Error for LackingOnRing {}

/// `result`, with an `EINVAL` of the ring turned into [`LackingOnRing`].
pub(crate) fn lacking_on_ring(result: io::Result<u32>, via_ring: bool) -> io::Result<u32> {
    match result {
        Err(e) if via_ring && e.raw_os_error() == Some(libc::EINVAL) => {
            Err(io::Error::new(io::ErrorKind::Unsupported, LackingOnRing))
        }
        res => res,
    }
}

/// Whether `e` is [`LackingOnRing`].
pub(crate) fn is_lacking_on_ring(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|e| e.is::<LackingOnRing>())
}
