//! `IORING_OP_READV` / `IORING_OP_WRITEV` at an offset: positional reads into, and writes
//! from, several owned buffers. On epoll: `preadv2`/`pwritev2(RWF_NOWAIT)` on the page
//! cache, else `preadv`/`pwritev` on the thread pool.
//!
//! Both are one op, [`VectoredAt`]: [`At`] is what it tells the kernel, its [`Bufs`] the way
//! the bytes go and what the completion does with the buffers.

use std::cell::Cell;
use std::io;
use std::rc::Rc;

use io_uring::{opcode, squeue, types};

use super::IoVecs;
use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::driver::{
    Blocking, Completion, Mode, OpCode, OpKind, Raw, ReadyOp, Ring, SharedFd, UringOp,
};
use crate::sys::{self, Dir};

/// The fd, iovecs and offset of a vectored positional op.
struct At {
    /// Holds the fd open until the completion (`[fd-outlives-op]`).
    fd: SharedFd,
    /// Read by the kernel (and the pool thread): on the heap, owned by the op, pointing into
    /// the op's buffers (`[heap-owned]`).
    iovecs: IoVecs,
    offset: u64,
    /// Whether a non-blocking try on the page cache may come first (not for `O_DIRECT`).
    inline: Rc<Cell<bool>>,
}

impl At {
    fn sqe(&self, dir: Dir) -> squeue::Entry {
        let fd = types::Fd(self.fd.raw());
        let (iov, n) = (self.iovecs.as_ptr(), self.iovecs.len() as u32);
        match dir {
            Dir::Read => opcode::Readv::new(fd, iov, n).offset(self.offset).build(),
            Dir::Write => opcode::Writev::new(fd, iov, n).offset(self.offset).build(),
        }
    }

    /// A transfer on the page cache that never waits; `None` where it would (or is off).
    fn nowait(&self, dir: Dir) -> Option<u32> {
        let (iov, n) = (self.iovecs.as_ptr(), self.iovecs.len());
        // SAFETY: the iovecs describe the op's buffers (writable for a read, initialised for
        // a write), owned by the op for the call.
        unsafe { sys::rwv_nowait(self.fd.raw(), &self.inline, dir, iov, n, self.offset) }
    }

    fn blocking(&self, dir: Dir) -> Blocking {
        let (fd, n, offset) = (self.fd.raw(), self.iovecs.len(), self.offset);
        // SAFETY: the iovecs and the buffers they describe are the op's heap memory, kept
        // (parked if the future is dropped) until the call's completion and used by nothing
        // else meanwhile (`[heap-owned]`, `[parked-on-drop]`); `fd` is held by `self.fd`
        // (`[fd-outlives-op]`).
        let iov = unsafe { Raw::new(self.iovecs.as_ptr()) };
        // SAFETY: `iov` stays valid for the call (see above); `fd` is open.
        Blocking::new(move || unsafe { sys::rwv_at(fd, dir, iov.get(), n, offset) })
    }
}

/// The buffers of a vectored positional op, and the way the bytes go.
pub(crate) trait Bufs: 'static {
    const DIR: Dir;
    type Output;
    /// The iovecs describing them: for a read their whole capacity, for a write their
    /// initialised bytes.
    fn iovecs(&mut self) -> IoVecs;
    fn complete(self, result: io::Result<u32>) -> Self::Output;
}

/// A read's buffers, each filled to its capacity before the next.
pub(crate) struct Fill<B>(Vec<B>);

/// A write's buffers, whose initialised bytes go out in order.
pub(crate) struct Gather<B>(Vec<B>);

impl<B: IoBufMut> Bufs for Fill<B> {
    const DIR: Dir = Dir::Read;
    type Output = BufResult<usize, Vec<B>>;

    fn iovecs(&mut self) -> IoVecs {
        IoVecs::to_fill(&mut self.0)
    }

    fn complete(self, result: io::Result<u32>) -> Self::Output {
        super::filled_vectored(self.0, result)
    }
}

impl<B: IoBuf> Bufs for Gather<B> {
    const DIR: Dir = Dir::Write;
    type Output = BufResult<usize, Vec<B>>;

    fn iovecs(&mut self) -> IoVecs {
        IoVecs::to_send(&self.0)
    }

    fn complete(self, result: io::Result<u32>) -> Self::Output {
        (result.map(|n| n as usize), self.0)
    }
}

/// A positional read into several buffers (`READV`).
pub(crate) type ReadVectoredAt<B> = VectoredAt<Fill<B>>;
/// A positional write from several buffers (`WRITEV`).
pub(crate) type WriteVectoredAt<B> = VectoredAt<Gather<B>>;

pub(crate) struct VectoredAt<V> {
    at: At,
    /// The kernel reads or writes their heap memory (`[heap-owned]`).
    bufs: V,
}

impl<B: IoBufMut> ReadVectoredAt<B> {
    pub(crate) fn read(fd: &SharedFd, bufs: Vec<B>, offset: u64, inline: &Rc<Cell<bool>>) -> Self {
        VectoredAt::new(fd, Fill(bufs), offset, inline)
    }
}

impl<B: IoBuf> WriteVectoredAt<B> {
    pub(crate) fn write(fd: &SharedFd, bufs: Vec<B>, offset: u64, inline: &Rc<Cell<bool>>) -> Self {
        VectoredAt::new(fd, Gather(bufs), offset, inline)
    }
}

impl<V: Bufs> VectoredAt<V> {
    fn new(fd: &SharedFd, mut bufs: V, offset: u64, inline: &Rc<Cell<bool>>) -> Self {
        let at = At {
            fd: fd.clone(),
            iovecs: bufs.iovecs(),
            offset,
            inline: inline.clone(),
        };
        VectoredAt { at, bufs }
    }
}

impl<V: Bufs> OpCode for VectoredAt<V> {
    type Output = V::Output;
    const KIND: OpKind = match V::DIR {
        Dir::Read => OpKind::Readv,
        Dir::Write => OpKind::Writev,
    };

    fn complete(self, completion: Completion) -> Self::Output {
        self.bufs.complete(completion.result)
    }
}

// SAFETY: the SQE points at `at.iovecs`, a boxed slice owned by the op, which points into
// the op's buffers (`bufs`), whose `IoBuf`/`IoBufMut` contract keeps their memory in place
// while the op owns them (`[heap-owned]`); the fd is held open by `at.fd`
// (`[fd-outlives-op]`).
unsafe impl<V: Bufs> UringOp for VectoredAt<V> {
    // File I/O, as `read_at` / `write_at`: batched, and not `CANCEL_FINDS` (a cancel may
    // miss it where it waits on a page lock or in the block layer).
    const FILE_IO: bool = true;

    fn sqe(&mut self, _ring: &Ring<'_>) -> io::Result<squeue::Entry> {
        Ok(self.at.sqe(V::DIR))
    }

    fn try_inline(&mut self) -> Option<io::Result<u32>> {
        self.at.nowait(V::DIR).map(Ok)
    }
}

impl<V: Bufs> ReadyOp for VectoredAt<V> {
    fn mode(&self) -> Mode<'_> {
        Mode::Offload
    }

    fn syscall(&mut self) -> io::Result<u32> {
        let n = self.at.nowait(V::DIR);
        n.ok_or_else(|| io::ErrorKind::WouldBlock.into())
    }

    fn blocking(&mut self) -> Option<Blocking> {
        Some(self.at.blocking(V::DIR))
    }
}
