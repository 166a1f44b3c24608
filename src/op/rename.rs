//! `IORING_OP_RENAMEAT`: renames a file or directory, replacing the target if it exists
//! (`renameat(2)` on the epoll backend's thread pool).

use std::ffi::CString;
use std::io;

use io_uring::{opcode, squeue, types};

use crate::driver::{Blocking, Completion, Mode, OpCode, OpKind, Raw, ReadyOp, Ring, UringOp};
use crate::sys::syscall;

pub(crate) struct Rename {
    /// Read by the kernel: a CString's heap buffer (`[heap-owned]`).
    from: CString,
    /// Read by the kernel: a CString's heap buffer (`[heap-owned]`).
    to: CString,
}

impl Rename {
    pub(crate) fn new(from: CString, to: CString) -> Rename {
        Rename { from, to }
    }
}

impl OpCode for Rename {
    type Output = io::Result<()>;
    const KIND: OpKind = OpKind::Rename;

    fn complete(self, completion: Completion) -> io::Result<()> {
        completion.result.map(drop)
    }
}

// SAFETY: the SQE's only pointers are `from` and `to`, heap memory owned by the op
// (`[heap-owned]`).
unsafe impl UringOp for Rename {
    fn sqe(&mut self, _ring: &Ring<'_>) -> io::Result<squeue::Entry> {
        let cwd = types::Fd(libc::AT_FDCWD);
        Ok(opcode::RenameAt::new(cwd, self.from.as_ptr(), cwd, self.to.as_ptr()).build())
    }
}

impl ReadyOp for Rename {
    fn mode(&self) -> Mode<'_> {
        Mode::Offload
    }

    fn syscall(&mut self) -> io::Result<u32> {
        Err(io::ErrorKind::WouldBlock.into()) // a path lookup may wait on the disk
    }

    fn blocking(&mut self) -> Option<Blocking> {
        // SAFETY: the op's NUL-terminated heap strings, kept until the call's completion
        // (`[heap-owned]`).
        let (from, to) = unsafe { (Raw::new(self.from.as_ptr()), Raw::new(self.to.as_ptr())) };
        Some(Blocking::new(move || {
            // SAFETY: `from` and `to` are live NUL-terminated strings (see above).
            syscall!(renameat(
                libc::AT_FDCWD,
                from.get(),
                libc::AT_FDCWD,
                to.get()
            ))
            .map(|_| 0)
        }))
    }
}
