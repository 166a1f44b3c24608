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
pub(crate) mod read;
pub(crate) mod read_at;
pub(crate) mod recv;
pub(crate) mod recv_fds;
pub(crate) mod recv_from;
pub(crate) mod recv_multi;
pub(crate) mod rename;
pub(crate) mod send;
pub(crate) mod send_msg;
pub(crate) mod send_zc;
pub(crate) mod shutdown;
pub(crate) mod statx;
pub(crate) mod symlink;
pub(crate) mod unlink;
pub(crate) mod write_at;

#[cfg(test)]
mod tests;

use std::fmt;
use std::io;

use crate::buf::{BufResult, IoBufMut};
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
