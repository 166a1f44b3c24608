//! `IORING_OP_ACCEPT` / `accept4(2)`: takes one connection off a listening socket.
//!
//! The accepted socket is non-blocking and close-on-exec. If the future is dropped and the
//! accept completes anyway, the orphan hook closes the new descriptor, so nothing leaks.

use std::io;
use std::mem::size_of;
use std::os::fd::{FromRawFd, OwnedFd};

use io_uring::{opcode, squeue, types};
use socket2::{SockAddr, SockAddrStorage};

use crate::driver::{Completion, Interest, Mode, OpCode, OpKind, ReadyOp, Ring, SharedFd, UringOp};
use crate::sys::syscall;

const FLAGS: i32 = libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK;

/// The peer address the kernel fills in.
struct Peer {
    storage: SockAddrStorage,
    len: libc::socklen_t,
}

pub(crate) struct Accept {
    /// The listener, held until the completion (`[fd-outlives-op]`).
    fd: SharedFd,
    /// Written by the kernel: on the heap, owned by the op (`[heap-owned]`).
    peer: Box<Peer>,
}

impl Accept {
    pub(crate) fn new(fd: &SharedFd) -> Accept {
        Accept {
            fd: fd.clone(),
            peer: Box::new(Peer {
                storage: SockAddrStorage::zeroed(),
                len: size_of::<SockAddrStorage>() as libc::socklen_t,
            }),
        }
    }

    fn addr_ptrs(&mut self) -> (*mut libc::sockaddr, *mut libc::socklen_t) {
        self.peer.len = size_of::<SockAddrStorage>() as libc::socklen_t;
        let storage: *mut SockAddrStorage = &mut self.peer.storage;
        (storage.cast(), &mut self.peer.len)
    }
}

impl OpCode for Accept {
    type Output = io::Result<(OwnedFd, SockAddr)>;
    const KIND: OpKind = OpKind::Accept;

    fn complete(self, completion: Completion) -> Self::Output {
        let fd = completion.result?;
        // SAFETY: a successful accept returns a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        let peer = *self.peer;
        // SAFETY: the kernel initialised `len` bytes of the storage with a socket address.
        let addr = unsafe { SockAddr::new(peer.storage, peer.len) };
        Ok((fd, addr))
    }

    fn complete_orphan(&mut self, completion: Completion) {
        if let Ok(fd) = completion.result {
            // SAFETY: the accepted descriptor is owned by nobody else; dropping closes it.
            drop(unsafe { OwnedFd::from_raw_fd(fd as i32) });
        }
    }
}

// SAFETY: the address storage and its length are in `self.peer`, a Box owned by the op
// (`[heap-owned]`); the listening fd is held by `self.fd` (`[fd-outlives-op]`).
unsafe impl UringOp for Accept {
    const CANCEL_FINDS: bool = true;

    fn sqe(&mut self, _ring: &Ring<'_>) -> io::Result<squeue::Entry> {
        let (addr, len) = self.addr_ptrs();
        Ok(opcode::Accept::new(types::Fd(self.fd.raw()), addr, len)
            .flags(FLAGS)
            .build())
    }
}

impl ReadyOp for Accept {
    fn mode(&self) -> Mode<'_> {
        Mode::Readiness(&self.fd, Interest::Read)
    }

    fn syscall(&mut self) -> io::Result<u32> {
        let (addr, len) = self.addr_ptrs();
        // SAFETY: `addr` and `len` point into `self.peer`, live and writable for the call.
        syscall!(accept4(self.fd.raw(), addr, len, FLAGS)).map(|fd| fd as u32)
    }
}
