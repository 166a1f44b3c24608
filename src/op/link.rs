//! `IORING_OP_LINKAT`: makes a hard link (`linkat(2)` on the epoll backend's thread pool;
//! where the ring lacks the opcode, the caller runs [`link_at`] on the pool).

use std::ffi::{CStr, CString};
use std::io;

use io_uring::{opcode, squeue, types};

use super::lacking_on_ring;
use crate::driver::{Blocking, Completion, Mode, OpCode, OpKind, Raw, ReadyOp, Ring, UringOp};
use crate::sys::syscall;

pub(crate) struct Link {
    /// Read by the kernel: a CString's heap buffer (`[heap-owned]`).
    original: CString,
    /// Read by the kernel: a CString's heap buffer (`[heap-owned]`).
    link: CString,
    /// Set when the op went through the ring, whose kernel may lack the opcode.
    via_ring: bool,
}

impl Link {
    pub(crate) fn new(original: CString, link: CString) -> Link {
        Link {
            original,
            link,
            via_ring: false,
        }
    }
}

/// `linkat(2)` relative to the working directory, not following a final symlink (as
/// `std::fs::hard_link` on Linux).
///
/// # Safety
/// `original` and `link` point to NUL-terminated strings live for the call.
unsafe fn linkat(original: *const libc::c_char, link: *const libc::c_char) -> io::Result<u32> {
    // SAFETY: the caller's contract: two live NUL-terminated strings.
    syscall!(linkat(libc::AT_FDCWD, original, libc::AT_FDCWD, link, 0)).map(|_| 0)
}

/// The blocking call, for a caller whose ring lacks the opcode.
pub(crate) fn link_at(original: &CStr, link: &CStr) -> io::Result<u32> {
    // SAFETY: both are live NUL-terminated strings borrowed for the call.
    unsafe { linkat(original.as_ptr(), link.as_ptr()) }
}

impl OpCode for Link {
    type Output = io::Result<()>;
    const KIND: OpKind = OpKind::Link;

    fn complete(self, completion: Completion) -> io::Result<()> {
        lacking_on_ring(completion.result, self.via_ring).map(drop)
    }
}

// SAFETY: the SQE's only pointers are `original` and `link`, heap memory owned by the op
// (`[heap-owned]`); AT_FDCWD is not an fd the op needs to hold open (`[fd-outlives-op]`).
unsafe impl UringOp for Link {
    fn sqe(&mut self, _ring: &Ring<'_>) -> io::Result<squeue::Entry> {
        self.via_ring = true;
        let cwd = types::Fd(libc::AT_FDCWD);
        Ok(opcode::LinkAt::new(cwd, self.original.as_ptr(), cwd, self.link.as_ptr()).build())
    }
}

impl ReadyOp for Link {
    fn mode(&self) -> Mode<'_> {
        Mode::Offload
    }

    fn syscall(&mut self) -> io::Result<u32> {
        Err(io::ErrorKind::WouldBlock.into()) // a path lookup may wait on the disk
    }

    fn blocking(&mut self) -> Option<Blocking> {
        // SAFETY: the op's NUL-terminated heap strings, kept until the call's completion
        // (`[heap-owned]`).
        let (original, link) = unsafe {
            (
                Raw::new(self.original.as_ptr()),
                Raw::new(self.link.as_ptr()),
            )
        };
        // SAFETY: `original` and `link` are live NUL-terminated strings (see above).
        Some(Blocking::new(move || unsafe {
            linkat(original.get(), link.get())
        }))
    }
}
