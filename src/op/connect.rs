//! `IORING_OP_CONNECT` / `connect(2)`: connects a socket to an address.
//!
//! On the readiness path the first attempt calls `connect`; `EINPROGRESS` means "wait until
//! writable", and the retry reads the outcome from `SO_ERROR` (no error and no peer yet:
//! still in progress).

use std::io;

use io_uring::{opcode, squeue, types};
use socket2::{SockAddr, SockRef};

use crate::driver::{Completion, Interest, Mode, OpCode, OpKind, ReadyOp, Ring, SharedFd, UringOp};
use crate::sys::syscall;

pub(crate) struct Connect {
    /// Held until the completion (`[fd-outlives-op]`).
    fd: SharedFd,
    /// Read by the kernel: on the heap, owned by the op (`[heap-owned]`).
    addr: Box<SockAddr>,
    started: bool,
}

impl Connect {
    pub(crate) fn new(fd: &SharedFd, addr: SockAddr) -> Connect {
        Connect {
            fd: fd.clone(),
            addr: Box::new(addr),
            started: false,
        }
    }
}

impl OpCode for Connect {
    type Output = io::Result<()>;
    const KIND: OpKind = OpKind::Connect;

    fn complete(self, completion: Completion) -> io::Result<()> {
        completion.result.map(drop)
    }
}

// SAFETY: the address is in `self.addr`, a Box owned by the op (`[heap-owned]`); the fd is
// held by `self.fd` (`[fd-outlives-op]`).
unsafe impl UringOp for Connect {
    const CANCEL_FINDS: bool = true;

    fn sqe(&mut self, _ring: &Ring<'_>) -> io::Result<squeue::Entry> {
        let (addr, len) = (self.addr.as_ptr().cast(), self.addr.len());
        Ok(opcode::Connect::new(types::Fd(self.fd.raw()), addr, len).build())
    }
}

impl ReadyOp for Connect {
    fn mode(&self) -> Mode<'_> {
        Mode::Readiness(&self.fd, Interest::Write)
    }

    fn syscall(&mut self) -> io::Result<u32> {
        if self.started {
            let sock = SockRef::from(&self.fd);
            return match sock.take_error()? {
                Some(err) => Err(err),
                // Not connected yet (a try before the socket became writable: the last try
                // of a connect whose deadline passed): still in progress.
                None => match sock.peer_addr() {
                    Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => {
                        Err(io::ErrorKind::WouldBlock.into())
                    }
                    _ => Ok(0),
                },
            };
        }
        self.started = true;
        let (addr, len) = (self.addr.as_ptr().cast(), self.addr.len());
        // SAFETY: `addr` points to `len` bytes of a socket address owned by `self.addr`.
        match syscall!(connect(self.fd.raw(), addr, len)) {
            Ok(_) => Ok(0),
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {
                Err(io::ErrorKind::WouldBlock.into())
            }
            Err(e) => Err(e),
        }
    }
}
