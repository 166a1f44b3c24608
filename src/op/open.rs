//! `IORING_OP_OPENAT`: opens a path relative to the working directory (`openat(2)` on the
//! epoll backend's thread pool).

use std::ffi::CString;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

use io_uring::{opcode, squeue, types};

use crate::driver::{Blocking, Completion, Mode, OpCode, OpKind, Raw, ReadyOp, Ring, UringOp};
use crate::sys::syscall;

pub(crate) struct Open {
    /// Read by the kernel after submission: a CString's heap buffer (`[heap-owned]`).
    path: CString,
    flags: libc::c_int,
    mode: libc::mode_t,
}

impl Open {
    /// Opens `path` with `flags` (`O_CLOEXEC` is always added) and creation `mode`.
    pub(crate) fn new(path: CString, flags: libc::c_int, mode: libc::mode_t) -> Open {
        Open {
            path,
            flags: flags | libc::O_CLOEXEC,
            mode,
        }
    }
}

/// Takes ownership of the fd a successful open returned.
fn owned(completion: &Completion) -> Option<OwnedFd> {
    let fd = *completion.result.as_ref().ok()?;
    // SAFETY: a successful open's result is a new fd that nothing else owns; whoever calls
    // this takes the completion's fd exactly once (`complete` or `complete_orphan`, never
    // both).
    Some(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

impl OpCode for Open {
    type Output = io::Result<OwnedFd>;
    const KIND: OpKind = OpKind::Open;

    fn complete(self, completion: Completion) -> io::Result<OwnedFd> {
        match owned(&completion) {
            Some(fd) => Ok(fd),
            None => Err(completion.result.expect_err("no fd means an error")),
        }
    }

    fn complete_orphan(&mut self, completion: Completion) {
        // The future is gone: close the file it would have received instead of leaking it.
        drop(owned(&completion));
    }
}

// SAFETY: the only pointer in the SQE is `path`, a CString's heap buffer owned by the op
// (`[heap-owned]`); AT_FDCWD is not an fd the op needs to hold open.
unsafe impl UringOp for Open {
    fn sqe(&mut self, _ring: &Ring<'_>) -> io::Result<squeue::Entry> {
        Ok(
            opcode::OpenAt::new(types::Fd(libc::AT_FDCWD), self.path.as_ptr())
                .flags(self.flags)
                .mode(self.mode)
                .build(),
        )
    }
}

impl ReadyOp for Open {
    fn mode(&self) -> Mode<'_> {
        Mode::Offload
    }

    fn syscall(&mut self) -> io::Result<u32> {
        Err(io::ErrorKind::WouldBlock.into()) // a path lookup may wait on the disk
    }

    fn blocking(&mut self) -> Option<Blocking> {
        let (flags, mode) = (self.flags, self.mode as libc::c_uint);
        // SAFETY: the op's NUL-terminated heap string, kept until the call's completion
        // (`[heap-owned]`).
        let path = unsafe { Raw::new(self.path.as_ptr()) };
        Some(Blocking::new(move || {
            // SAFETY: `path` is a live NUL-terminated string (see above).
            syscall!(openat(libc::AT_FDCWD, path.get(), flags, mode)).map(|fd| fd as u32)
        }))
    }
}
