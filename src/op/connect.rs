//! `IORING_OP_CONNECT` / `connect(2)`: connects a socket to an address.
//!
//! On the readiness path the first attempt calls `connect`; `EINPROGRESS` means "wait until
//! writable", and the retry reads the outcome from `SO_ERROR`.

use std::io;

use io_uring::{opcode, squeue, types};
use socket2::{SockAddr, SockRef};

use crate::driver::{Completion, Interest, Mode, OpCode};
use crate::fd::SharedFd;
use crate::sys::syscall;

pub(crate) struct Connect {
    fd: SharedFd,
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

// SAFETY: the address is in `self.addr`, a Box owned by the op; the fd is held by `self.fd`.
unsafe impl OpCode for Connect {
    type Output = io::Result<()>;

    fn sqe(&mut self) -> squeue::Entry {
        opcode::Connect::new(
            types::Fd(self.fd.raw()),
            self.addr.as_ptr().cast(),
            self.addr.len(),
        )
        .build()
    }

    fn mode(&self) -> Mode<'_> {
        Mode::Readiness(&self.fd, Interest::Write)
    }

    fn syscall(&mut self) -> io::Result<u32> {
        if self.started {
            return match SockRef::from(&self.fd).take_error()? {
                Some(err) => Err(err),
                None => Ok(0),
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

    fn complete(self, completion: Completion) -> io::Result<()> {
        completion.result.map(drop)
    }
}
