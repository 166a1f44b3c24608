//! `IORING_OP_OPENAT`: opens a path relative to the working directory.

use std::ffi::CString;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

use io_uring::{opcode, squeue, types};

use crate::driver::{Completion, Mode, Op, OpCode};
use crate::sys::syscall;

pub(crate) struct Open {
    /// Heap memory the kernel reads after submission (invariant 1).
    path: CString,
    flags: libc::c_int,
    mode: libc::mode_t,
}

impl Open {
    /// Opens `path` with `flags` (`O_CLOEXEC` is always added) and creation `mode`.
    pub(crate) fn new(path: CString, flags: libc::c_int, mode: libc::mode_t) -> Op<Open> {
        Op::new(Open {
            path,
            flags: flags | libc::O_CLOEXEC,
            mode,
        })
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

// SAFETY: the only pointer in the SQE is `path`, a CString's heap buffer owned by the op;
// AT_FDCWD is not an fd the op needs to hold open.
unsafe impl OpCode for Open {
    type Output = io::Result<OwnedFd>;

    fn sqe(&mut self) -> squeue::Entry {
        opcode::OpenAt::new(types::Fd(libc::AT_FDCWD), self.path.as_ptr())
            .flags(self.flags)
            .mode(self.mode)
            .build()
    }

    fn mode(&self) -> Mode<'_> {
        Mode::Immediate
    }

    fn syscall(&mut self) -> io::Result<u32> {
        // SAFETY: `path` is a NUL-terminated string owned by the op, valid for the call.
        let fd = syscall!(openat(
            libc::AT_FDCWD,
            self.path.as_ptr(),
            self.flags,
            self.mode as libc::c_uint
        ))?;
        Ok(fd as u32)
    }

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
