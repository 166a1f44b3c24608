//! `IORING_OP_STATX`: a file's metadata, by path or by open fd (`statx(2)` on the epoll
//! backend's thread pool).

use std::ffi::CString;
use std::io;

use io_uring::{opcode, squeue, types};

use crate::driver::{
    Blocking, Completion, Mode, OpCode, OpKind, Raw, ReadyOp, Ring, SharedFd, UringOp,
};
use crate::sys::syscall;

pub(crate) struct Statx {
    /// The open file to describe (with an empty path), or `None` for a path lookup; held
    /// open until the completion (`[fd-outlives-op]`).
    fd: Option<SharedFd>,
    /// Read by the kernel: a CString's heap buffer (`[heap-owned]`).
    path: CString,
    flags: libc::c_int,
    /// Written by the kernel: on the heap, owned by the op (`[heap-owned]`).
    buf: Box<libc::statx>,
}

const MASK: u32 = libc::STATX_BASIC_STATS | libc::STATX_BTIME;

impl Statx {
    /// Metadata of the open file `fd`.
    pub(crate) fn fd(fd: &SharedFd) -> Statx {
        Self::build(Some(fd.clone()), CString::default(), libc::AT_EMPTY_PATH)
    }

    /// Metadata of `path`, following a final symlink unless `follow` is false.
    pub(crate) fn path(path: CString, follow: bool) -> Statx {
        let flags = if follow { 0 } else { libc::AT_SYMLINK_NOFOLLOW };
        Self::build(None, path, flags)
    }

    fn build(fd: Option<SharedFd>, path: CString, flags: libc::c_int) -> Statx {
        // SAFETY: `statx` is plain old data (integers only); all-zero is a valid value.
        let buf = Box::new(unsafe { std::mem::zeroed::<libc::statx>() });
        Statx {
            fd,
            path,
            flags,
            buf,
        }
    }

    fn dirfd(&self) -> libc::c_int {
        self.fd.as_ref().map_or(libc::AT_FDCWD, SharedFd::raw)
    }
}

impl OpCode for Statx {
    type Output = io::Result<Box<libc::statx>>;
    const KIND: OpKind = OpKind::Statx;

    fn complete(self, completion: Completion) -> io::Result<Box<libc::statx>> {
        completion.result?;
        Ok(self.buf)
    }
}

// SAFETY: the SQE points to `path` and `buf`, both heap memory owned by the op
// (`[heap-owned]`); the fd, if any, is held open by `fd` (`[fd-outlives-op]`).
unsafe impl UringOp for Statx {
    fn sqe(&mut self, _ring: &Ring<'_>) -> io::Result<squeue::Entry> {
        let buf: *mut libc::statx = &mut *self.buf;
        Ok(
            opcode::Statx::new(types::Fd(self.dirfd()), self.path.as_ptr(), buf.cast())
                .flags(self.flags)
                .mask(MASK)
                .build(),
        )
    }
}

impl ReadyOp for Statx {
    fn mode(&self) -> Mode<'_> {
        Mode::Offload
    }

    fn syscall(&mut self) -> io::Result<u32> {
        Err(io::ErrorKind::WouldBlock.into()) // a path lookup may wait on the disk
    }

    fn blocking(&mut self) -> Option<Blocking> {
        let (dirfd, flags) = (self.dirfd(), self.flags);
        // SAFETY: the op's heap string and statx buffer, kept until the call's completion
        // (`[heap-owned]`); `dirfd` is held by the op (`[fd-outlives-op]`).
        let (path, buf) = unsafe { (Raw::new(self.path.as_ptr()), Raw::new(&*self.buf)) };
        Some(Blocking::new(move || {
            // SAFETY: `path` is NUL-terminated and `buf` a writable statx (see above).
            syscall!(statx(dirfd, path.get(), flags, MASK, buf.get())).map(|_| 0)
        }))
    }
}
