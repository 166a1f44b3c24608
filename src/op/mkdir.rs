//! `IORING_OP_MKDIRAT`: creates a directory.

use std::ffi::CString;
use std::io;

use io_uring::{opcode, squeue, types};

use crate::driver::{Completion, Mode, Op, OpCode};
use crate::sys::syscall;

pub(crate) struct Mkdir {
    /// Heap memory the kernel reads (invariant 1).
    path: CString,
    mode: libc::mode_t,
}

impl Mkdir {
    pub(crate) fn new(path: CString, mode: libc::mode_t) -> Op<Mkdir> {
        Op::new(Mkdir { path, mode })
    }
}

// SAFETY: the only pointer in the SQE is `path`, heap memory owned by the op.
unsafe impl OpCode for Mkdir {
    type Output = io::Result<()>;

    fn sqe(&mut self) -> squeue::Entry {
        opcode::MkDirAt::new(types::Fd(libc::AT_FDCWD), self.path.as_ptr())
            .mode(self.mode)
            .build()
    }

    fn mode(&self) -> Mode<'_> {
        Mode::Immediate
    }

    fn syscall(&mut self) -> io::Result<u32> {
        // SAFETY: `path` is a NUL-terminated string owned by the op, valid for the call.
        syscall!(mkdirat(libc::AT_FDCWD, self.path.as_ptr(), self.mode))?;
        Ok(0)
    }

    fn complete(self, completion: Completion) -> io::Result<()> {
        completion.result.map(drop)
    }
}
