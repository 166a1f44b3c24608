//! `IORING_OP_SYMLINKAT`: makes a symbolic link (`symlinkat(2)` on the epoll backend's
//! thread pool; where the ring lacks the opcode, the caller runs [`symlink_at`] on the
//! pool).

use std::ffi::{CStr, CString};
use std::io;

use io_uring::{opcode, squeue, types};

use super::lacking_on_ring;
use crate::driver::{Blocking, Completion, Mode, OpCode, OpKind, Raw, ReadyOp, Ring, UringOp};
use crate::sys::syscall;

pub(crate) struct Symlink {
    /// What the link points to; read by the kernel: a CString's heap buffer
    /// (`[heap-owned]`).
    target: CString,
    /// The link's own path; read by the kernel: a CString's heap buffer (`[heap-owned]`).
    link: CString,
    /// Set when the op went through the ring, whose kernel may lack the opcode.
    via_ring: bool,
}

impl Symlink {
    pub(crate) fn new(target: CString, link: CString) -> Symlink {
        Symlink {
            target,
            link,
            via_ring: false,
        }
    }
}

/// `symlinkat(2)` relative to the working directory.
///
/// # Safety
/// `target` and `link` point to NUL-terminated strings live for the call.
unsafe fn symlinkat(target: *const libc::c_char, link: *const libc::c_char) -> io::Result<u32> {
    // SAFETY: the caller's contract: two live NUL-terminated strings.
    syscall!(symlinkat(target, libc::AT_FDCWD, link)).map(|_| 0)
}

/// The blocking call, for a caller whose ring lacks the opcode.
pub(crate) fn symlink_at(target: &CStr, link: &CStr) -> io::Result<u32> {
    // SAFETY: both are live NUL-terminated strings borrowed for the call.
    unsafe { symlinkat(target.as_ptr(), link.as_ptr()) }
}

impl OpCode for Symlink {
    type Output = io::Result<()>;
    const KIND: OpKind = OpKind::Symlink;

    fn complete(self, completion: Completion) -> io::Result<()> {
        lacking_on_ring(completion.result, self.via_ring).map(drop)
    }
}

// SAFETY: the SQE's only pointers are `target` and `link`, heap memory owned by the op
// (`[heap-owned]`); AT_FDCWD is not an fd the op needs to hold open (`[fd-outlives-op]`).
unsafe impl UringOp for Symlink {
    fn sqe(&mut self, _ring: &Ring<'_>) -> io::Result<squeue::Entry> {
        self.via_ring = true;
        let cwd = types::Fd(libc::AT_FDCWD);
        Ok(opcode::SymlinkAt::new(cwd, self.target.as_ptr(), self.link.as_ptr()).build())
    }
}

impl ReadyOp for Symlink {
    fn mode(&self) -> Mode<'_> {
        Mode::Offload
    }

    fn syscall(&mut self) -> io::Result<u32> {
        Err(io::ErrorKind::WouldBlock.into()) // a path lookup may wait on the disk
    }

    fn blocking(&mut self) -> Option<Blocking> {
        // SAFETY: the op's NUL-terminated heap strings, kept until the call's completion
        // (`[heap-owned]`).
        let (target, link) =
            unsafe { (Raw::new(self.target.as_ptr()), Raw::new(self.link.as_ptr())) };
        // SAFETY: `target` and `link` are live NUL-terminated strings (see above).
        Some(Blocking::new(move || unsafe {
            symlinkat(target.get(), link.get())
        }))
    }
}
