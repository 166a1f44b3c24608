//! The driver contract, written once.
//!
//! An operation is a struct implementing [`OpCode`]: it owns its fd handle and every buffer
//! the kernel touches, builds its io_uring SQE, knows its non-blocking syscall for the
//! readiness driver, and turns the raw result into the user-facing output (handing buffers
//! back). [`Op<T>`] is the one future that drives any `OpCode` on whichever backend the
//! runtime runs; [`Backend`] is the one place where the choice of backend is dispatched:
//! each of its methods holds a single `match`.
//!
//! Memory-safety invariants (cited by the `// SAFETY:` comments of the crate):
//! 1. Anything the kernel reads or writes after submission is heap memory owned by the op;
//!    moving the op never moves that memory.
//! 2. Dropping an in-flight op moves its owned resources into the in-flight slot
//!    (`Lifecycle::Ignored`); they are freed only when the completion arrives.
//! 3. `user_data` is the slot key plus a generation; reserved values have the top bit set.
//! 4. A file descriptor is closed only after every op using it has completed (ops hold a
//!    [`SharedFd`](crate::fd::SharedFd) clone, which is parked with them).
//! 5. Multishot ops (accept, recv with provided buffers) keep their in-flight slot until a
//!    completion without `IORING_CQE_F_MORE`; a provided buffer goes back to its ring when its
//!    owner drops it, and the ring's memory outlives every op that may select from it.
//! 6. Dropping the runtime cancels and drains every in-flight op before the ring is unmapped.
//! 7. A registered file slot is named in an SQE only while the [`SharedFd`] it was taken for
//!    lives (the op holds it), only after the update that fills it completed, and it is
//!    emptied before that fd is closed; a slot is reused only after its emptying completed
//!    ([`fixed`]).

pub(crate) mod epoll;
pub(crate) mod fixed;
pub(crate) mod inflight;
pub(crate) mod multi;
mod ring_setup;
pub(crate) mod uring;

use std::any::Any;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

pub(crate) use inflight::Completion;

use crate::fd::SharedFd;
use crate::runtime::context::{self, Core};
use crate::runtime::{DriverKind, RingFeatures, Stats};

/// One asynchronous operation.
///
/// # Safety
/// Implementors guarantee invariant 1: every pointer placed in the SQE returned by
/// [`sqe`](OpCode::sqe) points into heap memory owned by `self` (a `Box`, `Vec`, or an
/// [`IoBuf`](crate::buf::IoBuf) whose pointer is stable across moves), valid until `self`
/// is dropped; and any fd in the SQE is held open by a [`SharedFd`] owned by `self`.
pub(crate) unsafe trait OpCode: 'static {
    /// What awaiting the operation gives the user.
    type Output;

    /// Whether the kernel follows the result with a notification completion
    /// (`IORING_CQE_F_NOTIF`, zero-copy sends): the io_uring driver then keeps the op's slot
    /// and resources until the notification, and delivers the result with it.
    const NOTIFIES: bool = false;

    /// The io_uring submission entry (without `user_data`, which the driver sets).
    fn sqe(&mut self) -> io_uring::squeue::Entry;

    /// How the readiness driver runs this operation.
    fn mode(&self) -> Mode<'_>;

    /// The non-blocking system call the readiness driver runs, with the completion's
    /// convention: a count or fd on success, the errno as an error.
    fn syscall(&mut self) -> io::Result<u32>;

    /// Turns the completion into the output, giving back the buffers the op owned.
    fn complete(self, completion: Completion) -> Self::Output;

    /// A non-blocking attempt the io_uring driver may make instead of submitting, where the
    /// kernel can answer at once without waiting on a device (a read of cached pages):
    /// `Some` is the result a completion would carry; `None` (the default) submits the SQE.
    /// The driver bounds how many ops finish this way per loop turn, so a task looping on
    /// such ops still yields.
    fn try_inline(&mut self) -> Option<io::Result<u32>> {
        None
    }

    /// Called instead of [`complete`](OpCode::complete) when the completion of an op whose
    /// future was dropped arrives: releases what the completion created (an accepted fd).
    /// The op is dropped right after. Most ops create nothing and keep the default.
    fn complete_orphan(&mut self, _completion: Completion) {}

    /// The socket this op may name through a registered file slot (send, recv, shutdown):
    /// the io_uring driver gives it a slot before building the SQE, and
    /// [`sqe`](OpCode::sqe) uses [`SharedFd::fixed_slot`] once that slot is filled.
    fn fixed_fd(&self) -> Option<&SharedFd> {
        None
    }
}

/// A dropped op parked in the backend, with the hook that lets it release what its
/// completion created ([`OpCode::complete_orphan`]).
struct Orphan {
    op: Box<dyn Any>,
    hook: fn(&mut dyn Any, Completion),
}

impl Orphan {
    fn boxed<T: OpCode>(op: T) -> Box<dyn Any> {
        fn hook<T: OpCode>(op: &mut dyn Any, completion: Completion) {
            if let Some(op) = op.downcast_mut::<T>() {
                op.complete_orphan(completion);
            }
        }
        Box::new(Orphan {
            op: Box::new(op),
            hook: hook::<T>,
        })
    }
}

/// Hands the completion of a dropped op to its [`OpCode::complete_orphan`]; backends call
/// it on the resources of a dropped op when that op's completion arrives.
pub(crate) fn orphan_completed(parked: &mut Box<dyn Any>, completion: Completion) {
    if let Some(orphan) = parked.downcast_mut::<Orphan>() {
        (orphan.hook)(&mut *orphan.op, completion);
    }
}

/// The io_uring fast paths a backend offers; all off on epoll or when disabled.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FastPaths {
    /// `IORING_OP_ACCEPT` with `IORING_ACCEPT_MULTISHOT` (Linux 5.19).
    pub(crate) accept_multi: bool,
    /// Multishot `IORING_OP_RECV` from a provided-buffer ring (Linux 6.0).
    pub(crate) recv_multi: bool,
}

/// How the readiness driver runs an operation.
pub(crate) enum Mode<'a> {
    /// Retry the syscall whenever the fd is ready in this direction.
    Readiness(&'a SharedFd, Interest),
    /// The syscall never blocks for long (nop, close, page-cache file I/O): run it inline.
    Immediate,
}

/// A direction of readiness.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Interest {
    /// Readable (or acceptable, or peer closed).
    Read,
    /// Writable (or connected).
    Write,
}

/// Where an [`Op`] stands with its backend.
#[derive(Debug)]
pub(crate) enum OpState {
    /// Not yet started.
    Idle,
    /// Submitted to the ring under this `user_data`.
    Submitted(u64),
    /// Readiness driver: the syscall would block; waiting for the fd to become ready.
    Waiting(epoll::Waiter),
}

/// When the backend may block in a turn.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Park {
    /// Do not block: submit what is queued, collect what is ready.
    No,
    /// Block until at least one event, a wake-up, or the timeout (`None`: no timeout).
    Until(Option<Duration>),
}

/// The future that drives one [`OpCode`] to completion on the current runtime's backend.
///
/// Lazy: nothing is submitted until the first poll. Dropping it while in flight parks the
/// op's resources in the backend until the kernel is done with them (invariant 2).
pub(crate) struct Op<T: OpCode> {
    data: Option<T>,
    state: OpState,
    core: Option<Rc<Core>>,
}

// Moving an `Op` moves only handles: the memory the kernel uses is on the heap (invariant 1).
impl<T: OpCode> Unpin for Op<T> {}

impl<T: OpCode> Op<T> {
    pub(crate) fn new(data: T) -> Self {
        Op {
            data: Some(data),
            state: OpState::Idle,
            core: None,
        }
    }
}

impl<T: OpCode> Future for Op<T> {
    type Output = T::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T::Output> {
        let this = self.get_mut();
        let core = this.core.get_or_insert_with(context::current);
        let data = this.data.as_mut().expect("Op polled after completion");
        let completion = ready!(core.driver_mut().poll_op(&mut this.state, data, cx));
        this.state = OpState::Idle;
        let data = this.data.take().expect("checked above");
        Poll::Ready(data.complete(completion))
    }
}

impl<T: OpCode> Drop for Op<T> {
    fn drop(&mut self) {
        park_dropped(self.core.as_ref(), &mut self.state, &mut self.data);
    }
}

/// The drop path of an op future (single-shot or repeating): an op the kernel may still
/// own is handed to the backend, which parks its resources until the final completion
/// (invariant 2).
pub(crate) fn park_dropped<T: OpCode>(
    core: Option<&Rc<Core>>,
    state: &mut OpState,
    data: &mut Option<T>,
) {
    if let OpState::Idle = state {
        return;
    }
    let (Some(core), Some(data)) = (core, data.take()) else {
        return;
    };
    let state = std::mem::replace(state, OpState::Idle);
    let Ok(mut driver) = core.try_driver_mut() else {
        // The driver is busy further up this stack: keeping the resources forever is
        // the only choice that cannot let the kernel write into freed memory.
        std::mem::forget(data);
        return;
    };
    let release = driver.drop_op(state, Orphan::boxed(data));
    drop(driver);
    drop(release);
}

/// The backend a runtime runs on. Every method is a single `match`: this is the only place
/// where the backends are told apart.
// One per runtime: the size difference costs nothing, while boxing the larger variant would
// add a pointer chase to every operation.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Backend {
    /// io_uring: completion-based.
    Uring(uring::Uring),
    /// epoll: readiness-based, the same ops through their non-blocking syscalls.
    Epoll(epoll::Epoll),
}

impl Backend {
    /// Drives `op` one step; `Ready` once its completion is in.
    pub(crate) fn poll_op<T: OpCode>(
        &mut self,
        state: &mut OpState,
        op: &mut T,
        cx: &mut Context<'_>,
    ) -> Poll<Completion> {
        match self {
            Backend::Uring(d) => d.poll_op(state, op, cx),
            Backend::Epoll(d) => d.poll_op(state, op, cx),
        }
    }

    /// The op's future was dropped in `state`; returns resources that may be freed now.
    pub(crate) fn drop_op(&mut self, state: OpState, op: Box<dyn Any>) -> Option<Box<dyn Any>> {
        match self {
            Backend::Uring(d) => d.drop_op(state, op),
            Backend::Epoll(d) => d.drop_op(state, op),
        }
    }

    /// One turn: submit what is queued, wait as `park` allows, dispatch what completed.
    /// Resources released by completions of dropped ops are pushed to `garbage`, to be
    /// dropped by the caller once it no longer borrows the backend.
    pub(crate) fn turn(&mut self, park: Park, garbage: &mut Vec<Box<dyn Any>>) -> io::Result<()> {
        match self {
            Backend::Uring(d) => d.turn(park, garbage),
            Backend::Epoll(d) => d.turn(park, garbage),
        }
    }

    /// The io_uring backend's registered file table, if it has one.
    pub(crate) fn fixed_files(&self) -> Option<Rc<fixed::FixedFiles>> {
        match self {
            Backend::Uring(d) => d.fixed_files(),
            Backend::Epoll(_) => None,
        }
    }

    /// At the end of a `block_on`: submits the emptying of registered slots released since
    /// the last turn, since no turn may come.
    pub(crate) fn flush_fixed(&mut self) {
        match self {
            Backend::Uring(d) => d.flush_fixed(),
            Backend::Epoll(_) => {}
        }
    }

    /// Cancels every operation in flight and waits for all their completions.
    pub(crate) fn shutdown(&mut self, garbage: &mut Vec<Box<dyn Any>>) {
        match self {
            Backend::Uring(d) => d.shutdown(garbage),
            Backend::Epoll(d) => d.shutdown(garbage),
        }
    }

    /// Drives a repeating op ([`multi::MultiOp`]) one step: its next completion. The state
    /// goes back to `Idle` once a completion without `IORING_CQE_F_MORE` is taken. `policy`
    /// applies to a multishot submission's queue (io_uring only: elsewhere one completion
    /// is made per poll, so nothing queues).
    pub(crate) fn poll_multi<T: OpCode>(
        &mut self,
        state: &mut OpState,
        op: &mut T,
        policy: &inflight::MultiPolicy,
        cx: &mut Context<'_>,
    ) -> Poll<Completion> {
        match self {
            Backend::Uring(d) => d.poll_multi(state, op, policy, cx),
            Backend::Epoll(d) => d.poll_op(state, op, cx),
        }
    }

    /// Which io_uring fast paths ops may use on this backend (none on epoll).
    pub(crate) fn fast_paths(&self) -> FastPaths {
        match self {
            Backend::Uring(d) => d.fast_paths(),
            Backend::Epoll(_) => FastPaths::default(),
        }
    }

    /// Registers a provided-buffer ring of `entries` entries at `ring_addr`; returns its
    /// buffer group id, or `None` when the backend has no buffer rings (epoll, fast paths
    /// off, or a kernel without `IORING_REGISTER_PBUF_RING`).
    ///
    /// # Safety
    /// `ring_addr` is a page-aligned, zeroed allocation of `entries` `io_uring_buf`s that
    /// stays allocated until [`unregister_buf_ring`](Backend::unregister_buf_ring) or the
    /// backend's drop (invariant 5).
    pub(crate) unsafe fn register_buf_ring(&mut self, ring_addr: u64, entries: u16) -> Option<u16> {
        match self {
            // SAFETY: forwarded from the caller.
            Backend::Uring(d) => unsafe { d.register_buf_ring(ring_addr, entries) },
            Backend::Epoll(_) => None,
        }
    }

    /// Unregisters the buffer ring of group `bgid`; afterwards its memory may be freed.
    pub(crate) fn unregister_buf_ring(&mut self, bgid: u16) -> io::Result<()> {
        match self {
            Backend::Uring(d) => d.unregister_buf_ring(bgid),
            Backend::Epoll(_) => Ok(()),
        }
    }

    /// Which backend this is.
    pub(crate) fn kind(&self) -> DriverKind {
        match self {
            Backend::Uring(_) => DriverKind::Uring,
            Backend::Epoll(_) => DriverKind::Epoll,
        }
    }

    /// The io_uring fast paths in use; `None` on epoll.
    pub(crate) fn ring_features(&self) -> Option<RingFeatures> {
        match self {
            Backend::Uring(d) => Some(d.features()),
            Backend::Epoll(_) => None,
        }
    }

    /// Registers `bufs` as the ring's fixed buffers, keeping `keep` (their memory) until the
    /// backend is dropped; `false` where they are not registered (epoll, fast paths off, a
    /// set already registered, or the kernel refused).
    pub(crate) fn register_buffers(&mut self, bufs: &[libc::iovec], keep: Box<dyn Any>) -> bool {
        match self {
            Backend::Uring(d) => d.register_buffers(bufs, keep),
            Backend::Epoll(_) => false,
        }
    }

    /// Adds the backend's counters to `stats`.
    pub(crate) fn fill_stats(&self, stats: &mut Stats) {
        match self {
            Backend::Uring(d) => d.fill_stats(stats),
            Backend::Epoll(d) => d.fill_stats(stats),
        }
    }
}
