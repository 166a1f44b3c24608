//! `IORING_OP_STATX`: a file's metadata, by path or by open fd.

use std::ffi::CString;
use std::io;

use io_uring::{opcode, squeue, types};

use crate::driver::{Completion, Mode, Op, OpCode};
use crate::fd::SharedFd;
use crate::sys::syscall;

pub(crate) struct Statx {
    /// The open file to describe (with an empty path), or `None` for a path lookup; held
    /// open until the completion (invariant 4).
    fd: Option<SharedFd>,
    /// Heap memory the kernel reads (invariant 1).
    path: CString,
    flags: libc::c_int,
    /// Heap memory the kernel writes (invariant 1).
    buf: Box<libc::statx>,
}

const MASK: u32 = libc::STATX_BASIC_STATS | libc::STATX_BTIME;

impl Statx {
    /// Metadata of the open file `fd`.
    pub(crate) fn fd(fd: &SharedFd) -> Op<Statx> {
        Self::build(Some(fd.clone()), CString::default(), libc::AT_EMPTY_PATH)
    }

    /// Metadata of `path`, following a final symlink unless `follow` is false.
    pub(crate) fn path(path: CString, follow: bool) -> Op<Statx> {
        let flags = if follow { 0 } else { libc::AT_SYMLINK_NOFOLLOW };
        Self::build(None, path, flags)
    }

    fn build(fd: Option<SharedFd>, path: CString, flags: libc::c_int) -> Op<Statx> {
        // SAFETY: `statx` is plain old data (integers only); all-zero is a valid value.
        let buf = Box::new(unsafe { std::mem::zeroed::<libc::statx>() });
        Op::new(Statx {
            fd,
            path,
            flags,
            buf,
        })
    }

    fn dirfd(&self) -> libc::c_int {
        self.fd.as_ref().map_or(libc::AT_FDCWD, SharedFd::raw)
    }
}

// SAFETY: the SQE points to `path` and `buf`, both heap memory owned by the op; the fd, if
// any, is held open by `fd`.
unsafe impl OpCode for Statx {
    type Output = io::Result<Box<libc::statx>>;

    fn sqe(&mut self) -> squeue::Entry {
        let buf: *mut libc::statx = &mut *self.buf;
        opcode::Statx::new(types::Fd(self.dirfd()), self.path.as_ptr(), buf.cast())
            .flags(self.flags)
            .mask(MASK)
            .build()
    }

    fn mode(&self) -> Mode<'_> {
        Mode::Immediate
    }

    fn syscall(&mut self) -> io::Result<u32> {
        let buf: *mut libc::statx = &mut *self.buf;
        // SAFETY: `path` is NUL-terminated and `buf` a writable statx, both owned by the op
        // and valid for the call; the fd, if any, is open.
        syscall!(statx(
            self.dirfd(),
            self.path.as_ptr(),
            self.flags,
            MASK,
            buf
        ))?;
        Ok(0)
    }

    fn complete(self, completion: Completion) -> io::Result<Box<libc::statx>> {
        completion.result?;
        Ok(self.buf)
    }
}
