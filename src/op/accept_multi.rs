//! Multishot `IORING_OP_ACCEPT` (`IORING_ACCEPT_MULTISHOT`): one submission accepts
//! connection after connection. Where the fast path is off or missing, the same op is a
//! single-shot accept submitted again per connection (and `accept4(2)` on epoll).
//!
//! No peer address is asked for: a multishot accept has no per-connection storage for it.
//! Accepted sockets are non-blocking and close-on-exec; one accepted after the stream was
//! dropped is closed by the orphan hook, so nothing leaks.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::ptr;

use io_uring::{opcode, squeue, types};

use crate::driver::{Completion, Interest, Mode, OpCode, OpKind, ReadyOp, Ring, SharedFd, UringOp};
use crate::sys::syscall;

const FLAGS: i32 = libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK;

pub(crate) struct AcceptMulti {
    /// The listener, held until the last completion (`[fd-outlives-op]`).
    fd: SharedFd,
    multishot: bool,
}

impl AcceptMulti {
    pub(crate) fn new(fd: &SharedFd, multishot: bool) -> AcceptMulti {
        AcceptMulti {
            fd: fd.clone(),
            multishot,
        }
    }

    /// Whether the next submission is multishot (where the ring has it) or one accept.
    pub(crate) fn set_multishot(&mut self, on: bool) {
        self.multishot = on;
    }

    /// The listening socket.
    pub(crate) fn listener(&self) -> std::os::fd::RawFd {
        self.fd.raw()
    }
}

/// Turns one completion of a (multishot) accept into the accepted descriptor.
pub(crate) fn accepted(completion: Completion) -> io::Result<OwnedFd> {
    let fd = completion.result?;
    // SAFETY: a successful accept returns a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

impl OpCode for AcceptMulti {
    type Output = io::Result<OwnedFd>;
    const KIND: OpKind = OpKind::Accept;

    fn complete(self, completion: Completion) -> io::Result<OwnedFd> {
        accepted(completion)
    }

    fn complete_orphan(&mut self, completion: Completion) {
        drop(accepted(completion)); // closes a connection accepted after the drop
    }
}

// SAFETY: the SQE carries no pointers (null address arguments); the listening fd is held by
// `self.fd` (`[fd-outlives-op]`).
unsafe impl UringOp for AcceptMulti {
    const CANCEL_FINDS: bool = true;

    fn sqe(&mut self, _ring: &Ring<'_>) -> io::Result<squeue::Entry> {
        let fd = types::Fd(self.fd.raw());
        Ok(if self.multishot {
            opcode::AcceptMulti::new(fd).flags(FLAGS).build()
        } else {
            opcode::Accept::new(fd, ptr::null_mut(), ptr::null_mut())
                .flags(FLAGS)
                .build()
        })
    }
}

impl ReadyOp for AcceptMulti {
    fn mode(&self) -> Mode<'_> {
        Mode::Readiness(&self.fd, Interest::Read)
    }

    fn syscall(&mut self) -> io::Result<u32> {
        // SAFETY: null address and length pointers ask accept4 for no peer address.
        syscall!(accept4(
            self.fd.raw(),
            ptr::null_mut(),
            ptr::null_mut(),
            FLAGS
        ))
        .map(|fd| fd as u32)
    }
}
