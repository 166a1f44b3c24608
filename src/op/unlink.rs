//! `IORING_OP_UNLINKAT`: removes a file, or an empty directory (`unlinkat(2)` on the epoll
//! backend's thread pool).

use std::ffi::CString;
use std::io;

use io_uring::{opcode, squeue, types};

use crate::driver::{Blocking, Completion, Mode, OpCode, OpKind, Raw, ReadyOp, Ring, UringOp};
use crate::sys::syscall;

pub(crate) struct Unlink {
    /// Read by the kernel: a CString's heap buffer (`[heap-owned]`).
    path: CString,
    flags: libc::c_int,
}

impl Unlink {
    /// Removes the file `path`, or the empty directory `path` when `dir` is true.
    pub(crate) fn new(path: CString, dir: bool) -> Unlink {
        let flags = if dir { libc::AT_REMOVEDIR } else { 0 };
        Unlink { path, flags }
    }
}

impl OpCode for Unlink {
    type Output = io::Result<()>;
    const KIND: OpKind = OpKind::Unlink;

    fn complete(self, completion: Completion) -> io::Result<()> {
        completion.result.map(drop)
    }
}

// SAFETY: the SQE's only pointers are `path`, heap memory owned by the op
// (`[heap-owned]`).
unsafe impl UringOp for Unlink {
    fn sqe(&mut self, _ring: &Ring<'_>) -> io::Result<squeue::Entry> {
        Ok(
            opcode::UnlinkAt::new(types::Fd(libc::AT_FDCWD), self.path.as_ptr())
                .flags(self.flags)
                .build(),
        )
    }
}

impl ReadyOp for Unlink {
    fn mode(&self) -> Mode<'_> {
        Mode::Offload
    }

    fn syscall(&mut self) -> io::Result<u32> {
        Err(io::ErrorKind::WouldBlock.into()) // a path lookup may wait on the disk
    }

    fn blocking(&mut self) -> Option<Blocking> {
        let flags = self.flags;
        // SAFETY: the op's NUL-terminated heap string, kept until the call's completion
        // (`[heap-owned]`).
        let path = unsafe { Raw::new(self.path.as_ptr()) };
        Some(Blocking::new(move || {
            // SAFETY: `path` is a live NUL-terminated string (see above).
            syscall!(unlinkat(libc::AT_FDCWD, path.get(), flags)).map(|_| 0)
        }))
    }
}
