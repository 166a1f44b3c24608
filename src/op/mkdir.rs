//! `IORING_OP_MKDIRAT`: creates a directory (`mkdirat(2)` on the epoll backend's thread pool).

use std::ffi::CString;
use std::io;

use io_uring::{opcode, squeue, types};

use crate::driver::{Blocking, Completion, Mode, OpCode, OpKind, Raw, ReadyOp, Ring, UringOp};
use crate::sys::syscall;

pub(crate) struct Mkdir {
    /// Read by the kernel: a CString's heap buffer (`[heap-owned]`).
    path: CString,
    mode: libc::mode_t,
}

impl Mkdir {
    pub(crate) fn new(path: CString, mode: libc::mode_t) -> Mkdir {
        Mkdir { path, mode }
    }
}

impl OpCode for Mkdir {
    type Output = io::Result<()>;
    const KIND: OpKind = OpKind::Mkdir;

    fn complete(self, completion: Completion) -> io::Result<()> {
        completion.result.map(drop)
    }
}

// SAFETY: the SQE's only pointers are `path`, heap memory owned by the op
// (`[heap-owned]`).
unsafe impl UringOp for Mkdir {
    fn sqe(&mut self, _ring: &Ring<'_>) -> io::Result<squeue::Entry> {
        Ok(
            opcode::MkDirAt::new(types::Fd(libc::AT_FDCWD), self.path.as_ptr())
                .mode(self.mode)
                .build(),
        )
    }
}

impl ReadyOp for Mkdir {
    fn mode(&self) -> Mode<'_> {
        Mode::Offload
    }

    fn syscall(&mut self) -> io::Result<u32> {
        Err(io::ErrorKind::WouldBlock.into()) // a path lookup may wait on the disk
    }

    fn blocking(&mut self) -> Option<Blocking> {
        let mode = self.mode;
        // SAFETY: the op's NUL-terminated heap string, kept until the call's completion
        // (`[heap-owned]`).
        let path = unsafe { Raw::new(self.path.as_ptr()) };
        Some(Blocking::new(move || {
            // SAFETY: `path` is a live NUL-terminated string (see above).
            syscall!(mkdirat(libc::AT_FDCWD, path.get(), mode)).map(|_| 0)
        }))
    }
}
