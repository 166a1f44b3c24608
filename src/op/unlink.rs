//! `IORING_OP_UNLINKAT`: removes a file, or an empty directory.

use std::ffi::CString;
use std::io;

use io_uring::{opcode, squeue, types};

use crate::driver::{Completion, Mode, Op, OpCode};
use crate::sys::syscall;

pub(crate) struct Unlink {
    /// Heap memory the kernel reads (invariant 1).
    path: CString,
    flags: libc::c_int,
}

impl Unlink {
    /// Removes the file `path`, or the empty directory `path` when `dir` is true.
    pub(crate) fn new(path: CString, dir: bool) -> Op<Unlink> {
        let flags = if dir { libc::AT_REMOVEDIR } else { 0 };
        Op::new(Unlink { path, flags })
    }
}

// SAFETY: the only pointer in the SQE is `path`, heap memory owned by the op.
unsafe impl OpCode for Unlink {
    type Output = io::Result<()>;

    fn sqe(&mut self) -> squeue::Entry {
        opcode::UnlinkAt::new(types::Fd(libc::AT_FDCWD), self.path.as_ptr())
            .flags(self.flags)
            .build()
    }

    fn mode(&self) -> Mode<'_> {
        Mode::Immediate
    }

    fn syscall(&mut self) -> io::Result<u32> {
        // SAFETY: `path` is a NUL-terminated string owned by the op, valid for the call.
        syscall!(unlinkat(libc::AT_FDCWD, self.path.as_ptr(), self.flags))?;
        Ok(0)
    }

    fn complete(self, completion: Completion) -> io::Result<()> {
        completion.result.map(drop)
    }
}
