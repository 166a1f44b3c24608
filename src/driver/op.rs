//! The operation contract: what an op is to the drivers.
//!
//! An operation is one struct (under `op/`, one per file) with three short impl blocks:
//! - [`OpCode`]: what both backends share; the op owns its fd handle and every buffer the
//!   kernel touches, and turns the completion into the user's output, handing buffers back.
//! - [`UringOp`]: its io_uring half, the SQE, built for the ring at hand ([`Ring`] says how
//!   the SQE may name the op's socket: a registered slot of that ring, or the number).
//! - [`ReadyOp`]: its readiness half for the epoll backend: a [`Mode`] and the non-blocking
//!   system call, or, for file I/O that may wait on a device, the [`Blocking`] call the
//!   backend runs on its thread pool instead of on the loop's thread.
//!
//! [`Operation`] is both halves; the runtime's op futures drive any `Operation` on whichever
//! backend the runtime runs. A dropped op that a backend still owns is kept as a
//! [`Parked`] until its completion arrives (`[parked-on-drop]`).

use std::io;

use io_uring::squeue;

use super::fd::SharedFd;
use super::stats::OpKind;
use super::uring::Ring;

/// `IORING_CQE_F_MORE`: more completions follow for the same submission.
pub(crate) const CQE_F_MORE: u32 = 1 << 1;

/// What the kernel (or the readiness backend, in the same convention) reported for one
/// operation.
#[derive(Debug)]
pub(crate) struct Completion {
    /// The result: byte count, fd, or the errno as an error.
    pub(crate) result: io::Result<u32>,
    /// The CQE flags (`IORING_CQE_F_*`): buffer id, more-to-come, notification; 0 on epoll.
    pub(crate) flags: u32,
}

impl Completion {
    /// A completion with no flags.
    pub(crate) fn of(result: io::Result<u32>) -> Completion {
        Completion { result, flags: 0 }
    }

    /// Whether more completions follow for the same submission (`IORING_CQE_F_MORE`):
    /// false on the last completion of a multishot op and on every single-shot one.
    pub(crate) fn more(&self) -> bool {
        io_uring::cqueue::more(self.flags)
    }
}

/// The error of an operation whose deadline passed first
/// ([`Backend::poll_op_timed`](super::Backend::poll_op_timed)).
pub(crate) fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "the operation's deadline passed")
}

/// What both backends share of an operation.
pub(crate) trait OpCode: 'static {
    /// What awaiting the operation gives the user.
    type Output;

    /// What [`Stats::ops`](crate::Stats::ops) counts it as (no default: a new op picks
    /// its kind).
    const KIND: OpKind;

    /// Turns the completion into the output, giving back the buffers the op owned.
    fn complete(self, completion: Completion) -> Self::Output;

    /// Called instead of [`complete`](OpCode::complete) when the completion of an op whose
    /// future was dropped arrives: releases what the completion created (an accepted fd).
    /// The op is dropped right after. Most ops create nothing and keep the default.
    fn complete_orphan(&mut self, _completion: Completion) {}

    /// The driver is done with the op of a dropped future (or one started detached): after
    /// its last completion, once the driver is no longer borrowed. Drops it, unless the op
    /// keeps its allocation for another use.
    fn release(self: Box<Self>) {}
}

/// The io_uring half of an operation.
///
/// # Safety
/// Implementors guarantee `[heap-owned]`: every pointer placed in the SQE returned by
/// [`sqe`](UringOp::sqe) points into heap memory owned by `self` (a `Box`, `Vec`, or an
/// [`IoBuf`](crate::buf::IoBuf) whose pointer is stable across moves), valid until `self`
/// is dropped; and `[fd-outlives-op]`: any fd the SQE names is held open by a [`SharedFd`]
/// owned by `self`.
pub(crate) unsafe trait UringOp: OpCode {
    /// Whether the kernel follows the result with a notification completion
    /// (`IORING_CQE_F_NOTIF`, zero-copy sends): the driver then keeps the op's slot and
    /// resources until the notification, and delivers the result with it.
    const NOTIFIES: bool = false;

    /// Whether an async cancel finds this op for as long as the kernel holds anything of it:
    /// ops that wait armed on a file's poll or queued to the io-wq workers (sockets, reads of
    /// pollable fds, no-ops). After the kernel dropped completions (`lost.rs`), a probe that
    /// finds nothing proves such an op's completion lost. Not for file I/O, which the
    /// kernel may hold where a cancel does not look (waiting on a page lock, in the block
    /// layer): the default, so that a probe never frees what the kernel may still write.
    const CANCEL_FINDS: bool = false;

    /// Whether the op is done only once the kernel's retries of short transfers moved all
    /// of it (`MSG_WAITALL` on a stream socket, which io_uring keeps on the rings that have
    /// `SEND_ZC`, Linux 6.0 and later): such an op is started detached
    /// ([`Backend::start_detached`](super::Backend::start_detached)) only on such a ring.
    const WHOLE_BY_KERNEL: bool = false;

    /// Whether the op waits on a storage device (a file read or write): the driver hands
    /// such SQEs to the kernel in small groups as they are queued, rather than all at the
    /// end of the loop's turn (see [`Config::file_batch`](super::Config)).
    const FILE_IO: bool = false;

    /// The submission entry (without `user_data`, which the driver sets), for `ring`; an
    /// error where this ring cannot run the op (e.g. its buffers belong to another ring),
    /// which the op then completes with, without a submission.
    fn sqe(&mut self, ring: &Ring<'_>) -> io::Result<squeue::Entry>;

    /// The socket this op names through [`Ring::target`], for which the driver takes a
    /// registered slot when it has none yet (send, recv, shutdown).
    fn fixed_fd(&self) -> Option<&SharedFd> {
        None
    }

    /// The result of a notifying op ([`NOTIFIES`](UringOp::NOTIFIES)) arrived after its
    /// future was dropped: release what only the kernel's work on the request needed (the
    /// socket of a zero-copy send), keeping what the notification still needs (its pages):
    /// `[fd-outlives-op]`, no longer than the kernel needs it.
    fn result_in(&mut self) {}

    /// A non-blocking attempt the driver may make instead of submitting, where the kernel
    /// can answer at once without waiting on a device (a read of cached pages): `Some` is
    /// the result a completion would carry; `None` (the default) submits the SQE. The driver
    /// bounds how many ops finish this way per loop turn, so a task looping on them yields.
    fn try_inline(&mut self) -> Option<io::Result<u32>> {
        None
    }
}

/// How the readiness backend runs an operation.
pub(crate) enum Mode<'a> {
    /// Run [`ReadyOp::syscall`]; on `EAGAIN`, wait until the fd is ready in this direction
    /// and run it again.
    Readiness(&'a SharedFd, Interest),
    /// The syscall never blocks for long (nop, close, shutdown): run it inline.
    Immediate,
    /// File I/O that may wait on a device: try [`ReadyOp::syscall`] (a non-blocking attempt,
    /// e.g. a read of cached pages); on `EAGAIN` run [`ReadyOp::blocking`] on the thread pool,
    /// so the loop's thread never waits on a disk.
    Offload,
}

/// A direction of readiness.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Interest {
    /// Readable (or acceptable, or peer closed).
    Read,
    /// Writable (or connected).
    Write,
}

/// The readiness half of an operation.
pub(crate) trait ReadyOp: OpCode {
    /// How the backend runs it. The same for the op's whole life.
    fn mode(&self) -> Mode<'_>;

    /// The non-blocking system call, with the completion's convention: a count or fd on
    /// success, the errno as an error (`WouldBlock` when it would wait).
    fn syscall(&mut self) -> io::Result<u32>;

    /// Whether a successful result of `n` may show that the fd's receive queue is now empty:
    /// a stream read that came back shorter than asked. On a TCP stream that the fd marks
    /// ([`SharedFd::short_reads_drain`]) the epoll backend then waits for the next readiness
    /// edge instead of trying a read that would only fail with `EAGAIN` (data arriving later
    /// raises a new edge; a peer's FIN after a short read does not, nor does data behind an
    /// urgent mark, so the backend does not take this shortcut once the peer hung up or
    /// urgent data came).
    fn drained(&self, _n: u32) -> bool {
        false
    }

    /// For [`Mode::Offload`]: the blocking call to run on the thread pool. `None` (the
    /// default, and what ops of the other modes keep) runs [`syscall`](ReadyOp::syscall)
    /// inline instead.
    fn blocking(&mut self) -> Option<Blocking> {
        None
    }
}

/// Both halves: an op either backend can run.
pub(crate) trait Operation: UringOp + ReadyOp {}

impl<T: UringOp + ReadyOp> Operation for T {}

/// A blocking system call the epoll backend runs on its thread pool ([`Mode::Offload`]).
/// The call is `Send`: it names the op's memory through [`Raw`] pointers and its fd by
/// number, and captures nothing else of the op.
pub(crate) struct Blocking(Box<dyn FnOnce() -> io::Result<u32> + Send>);

impl Blocking {
    pub(crate) fn new(call: impl FnOnce() -> io::Result<u32> + Send + 'static) -> Blocking {
        Blocking(Box::new(call))
    }

    /// Runs the call (on a pool thread).
    pub(crate) fn run(self) -> io::Result<u32> {
        (self.0)()
    }
}

/// A pointer into an op's own memory, handed to its [`Blocking`] call on another thread.
/// Use it through [`get`](Raw::get) inside the call (a closure that names the field would
/// capture the bare pointer instead).
pub(crate) struct Raw<T>(*mut T);

// SAFETY: a `Raw` is made only by `Raw::new`, whose caller guarantees the pointee is the
// op's heap memory, kept (and parked if the future is dropped) until the call's completion
// is collected (`[heap-owned]`, `[parked-on-drop]`), and touched by nothing else meanwhile:
// the pool thread is its only user.
unsafe impl<T> Send for Raw<T> {}

impl<T> Raw<T> {
    /// # Safety
    /// `ptr` points into heap memory the op owns and keeps until the completion of the
    /// [`Blocking`] call it is given to, which is the only code that uses it until then.
    pub(crate) unsafe fn new(ptr: *const T) -> Raw<T> {
        Raw(ptr.cast_mut())
    }

    pub(crate) fn get(&self) -> *mut T {
        self.0
    }
}

/// A dropped operation a backend keeps until the kernel (or the thread pool) is done with
/// it: its memory and fds live as long as this value (`[parked-on-drop]`).
pub(crate) trait Parked: 'static {
    /// Its [`OpCode::complete_orphan`]: releases what a completion created.
    fn orphan(&mut self, completion: Completion);
    /// Its [`ReadyOp::mode`], for the readiness backend to forget its waiter.
    fn mode(&self) -> Mode<'_>;
    /// Its [`UringOp::result_in`].
    fn result_in(&mut self);
    /// Its [`OpCode::release`]: the driver is done with it. Dropped by default.
    fn release(self: Box<Self>) {}
}

impl<T: Operation> Parked for T {
    fn orphan(&mut self, completion: Completion) {
        self.complete_orphan(completion);
    }

    fn mode(&self) -> Mode<'_> {
        ReadyOp::mode(self)
    }

    fn result_in(&mut self) {
        UringOp::result_in(self);
    }

    fn release(self: Box<Self>) {
        OpCode::release(self);
    }
}

/// Where an op stands with its backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OpState {
    /// Not started, or its last completion was taken.
    Idle,
    /// The backend holds it under this token: the io_uring `user_data`; on epoll, the
    /// readiness waiter's id or the offloaded call's in-flight token.
    Pending(u64),
}
