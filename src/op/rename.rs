//! `IORING_OP_RENAMEAT`: renames a file or directory, replacing the target if it exists.

use std::ffi::CString;
use std::io;

use io_uring::{opcode, squeue, types};

use crate::driver::{Completion, Mode, Op, OpCode};
use crate::sys::syscall;

pub(crate) struct Rename {
    /// Heap memory the kernel reads (invariant 1).
    from: CString,
    /// Heap memory the kernel reads (invariant 1).
    to: CString,
}

impl Rename {
    pub(crate) fn new(from: CString, to: CString) -> Op<Rename> {
        Op::new(Rename { from, to })
    }
}

// SAFETY: the SQE's pointers are `from` and `to`, heap memory owned by the op.
unsafe impl OpCode for Rename {
    type Output = io::Result<()>;

    fn sqe(&mut self) -> squeue::Entry {
        let cwd = types::Fd(libc::AT_FDCWD);
        opcode::RenameAt::new(cwd, self.from.as_ptr(), cwd, self.to.as_ptr()).build()
    }

    fn mode(&self) -> Mode<'_> {
        Mode::Immediate
    }

    fn syscall(&mut self) -> io::Result<u32> {
        // SAFETY: both paths are NUL-terminated strings owned by the op, valid for the call.
        syscall!(renameat(
            libc::AT_FDCWD,
            self.from.as_ptr(),
            libc::AT_FDCWD,
            self.to.as_ptr()
        ))?;
        Ok(0)
    }

    fn complete(self, completion: Completion) -> io::Result<()> {
        completion.result.map(drop)
    }
}
