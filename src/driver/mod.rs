//! The driver: the backend contract, written once, and the handle the runtime and its op
//! futures share.
//!
//! # The backend contract
//! A backend is one of the two folders, `uring/` (completion-based) and `epoll/`
//! (readiness-based), each implementing [`Backend`]:
//! - `poll_op(state, op, cx)`: drives one [`Operation`] a step; `Ready` with its completion,
//!   the state back to [`OpState::Idle`].
//! - `poll_op_timed(state, op, after, expired, cx)`: the same under a deadline `after`
//!   from the op's start, on expiry an error of kind `TimedOut`: enforced in the kernel
//!   where the backend can (io_uring: a linked timeout), else with the caller's userspace
//!   timer `expired` (epoll).
//! - `poll_multi(state, op, policy, cx)`: the same for an op that completes many times
//!   (multishot accept and recv on io_uring; one completion per poll on epoll); the state
//!   goes back to idle with the completion that ends it.
//! - `drop_op(state, op)`: the op's future is gone; the backend keeps what the kernel (or
//!   its thread pool) may still touch, and hands back what may be freed now.
//! - `start_detached(op)`: starts an op that nobody polls, parked from the start; its
//!   completion goes to its orphan hook. Refused (the op handed back) where nothing would
//!   run it: on epoll, whose ops run only when polled.
//! - `turn(park, released)`: submits what is queued, waits as [`Park`] allows, dispatches
//!   what completed; resources of dropped ops whose completion arrived go to `released`.
//! - `shutdown(deadline, released)`: cancels every operation once and waits for all
//!   completions until `deadline`; past it, leaks what the kernel may still touch.
//! - `fill_stats(stats)`: its counters.
//!
//! Dispatch between the two happens in one place, [`Engine`], whose methods each hold one
//! `match`. What only io_uring has (ring features, fixed buffers, buffer rings, registered
//! file slots) is reached through one accessor, [`Handle::with_uring`], not through stub
//! methods of the contract. Each backend keeps its private per-fd state in its own folder
//! ([`epoll::FdState`], [`uring::FdSlot`]), stored in the [`SharedFd`].
//!
//! # Memory-safety invariants
//! Cited by name on the fields they protect and in the `// SAFETY:` comments of the crate.
//! - `[heap-owned]`: anything the kernel reads or writes after submission (buffers,
//!   sockaddr storage, msghdr, iovecs, timespecs, paths, statx buffers) is heap memory owned
//!   by the op; moving the op never moves that memory.
//! - `[parked-on-drop]`: dropping an in-flight op moves its owned resources into its
//!   in-flight slot ([`Parked`]), freed only when the final completion arrives; a cancel may
//!   be submitted, the resources still wait. A drop that happens while the driver is busy
//!   (inside a turn: a waker's `wake`, an `IoBuf` method) is deferred to the next turn,
//!   never lost.
//! - `[generation]`: a token (`user_data`, an epoll registration) is the slot key plus a
//!   generation; reserved values are named constants; a stale completion can never complete
//!   a newer op ([`token`]).
//! - `[fd-outlives-op]`: a file descriptor is closed only after every op that uses it
//!   completed: each op holds a [`SharedFd`] clone, parked with it; and no op holds an fd
//!   longer than the kernel needs it (a zero-copy send's notification needs the pages, not
//!   the socket).
//! - `[multishot-slot]`: a multishot op keeps its slot until a completion without
//!   `IORING_CQE_F_MORE`; its queue is bounded by its policy; a provided buffer goes back to
//!   its ring when its owner drops it, and the ring's memory outlives every op that may
//!   select from it.
//! - `[drain-before-unmap]`: dropping the runtime cancels each op once and waits for every
//!   completion before the ring is unmapped; if it cannot, it leaks rather than frees.
//! - `[slot-lifetime]`: a registered file slot is named only while its fd lives, only after
//!   it was filled, only by its own ring, and emptied before the fd closes.
//! - `[driver-owned]`: memory the driver itself hands the kernel (the wake buffer,
//!   registered buffers, buffer rings, the fixed-file table) lives as long as the ring.

pub(crate) mod epoll;
pub(crate) mod fd;
pub(crate) mod inflight;
mod op;
mod select;
mod stats;
#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;
pub(crate) mod token;
pub(crate) mod uring;

use std::cell::{Cell, RefCell, RefMut};
use std::io;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

pub(crate) use fd::SharedFd;
pub(crate) use inflight::MultiPolicy;
pub(crate) use op::{
    timed_out, Blocking, Completion, Interest, Mode, OpCode, OpState, Operation, Parked, Raw,
    ReadyOp, UringOp,
};
pub use select::Driver;
pub(crate) use select::{build, Config};
pub use stats::{DriverKind, OpCounts, OpKind, OpStats, RingFeatures, Stats};
pub(crate) use uring::{on_target, Ring, Target};

use epoll::Epoll;
use uring::{FixedFiles, Uring};

/// The panic of an op polled while the driver is borrowed.
#[cold]
#[inline(never)]
fn polled_inside() -> ! {
    panic!(
        "proactor: an operation was polled from inside the driver (from an IoBuf method or a \
         waker's wake or drop); poll it from a task instead"
    )
}

/// Wakes every waker of `wakers`, even when one of them panics (user code): the others are
/// still woken, then the first panic goes on. A task woken by none would wait forever.
pub(crate) fn wake_all(wakers: impl IntoIterator<Item = std::task::Waker>) {
    let mut panic = None;
    for waker in wakers {
        let woke = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| waker.wake()));
        if let Err(payload) = woke {
            panic.get_or_insert(payload);
        }
    }
    if let Some(payload) = panic {
        std::panic::resume_unwind(payload);
    }
}

/// The userspace timer of an op with a deadline ([`Backend::poll_op_timed`]): polled with
/// the op's context, it registers the context's waker and says whether the deadline passed.
pub(crate) type Expired<'a> = &'a mut dyn FnMut(&mut Context<'_>) -> bool;

/// When a backend may block in a turn.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Park {
    /// Do not block: submit what is queued, collect what is ready.
    No,
    /// Block until at least one event, a wake-up, or the timeout (`None`: no timeout).
    Until(Option<Duration>),
}

/// The contract both backends implement (see the module docs).
pub(crate) trait Backend {
    /// Drives `op` one step; `Ready` once its completion is in (the state then idle).
    fn poll_op<T: Operation>(
        &mut self,
        state: &mut OpState,
        op: &mut T,
        cx: &mut Context<'_>,
    ) -> Poll<Completion>;

    /// Drives `op` one step under a deadline `after` from its start: as
    /// [`poll_op`](Backend::poll_op), but once the deadline passed it completes with a
    /// [`timed_out`](op::timed_out) error instead of waiting on (the kernel or the backend
    /// gave up the op: its buffers are free). A backend that can enforces the deadline in
    /// the kernel and never calls `expired`; one that cannot polls `expired`, the caller's
    /// timer, while the op waits. What cannot be given up (a call running on the epoll
    /// backend's thread pool) finishes with its own result.
    fn poll_op_timed<T: Operation>(
        &mut self,
        state: &mut OpState,
        op: &mut T,
        after: Duration,
        expired: Expired<'_>,
        cx: &mut Context<'_>,
    ) -> Poll<Completion>;

    /// Drives a repeating op one step: its next completion. The state goes back to idle
    /// with the completion that ends the op (no `IORING_CQE_F_MORE`); `policy` bounds a
    /// multishot submission's queue.
    fn poll_multi<T: Operation>(
        &mut self,
        state: &mut OpState,
        op: &mut T,
        policy: &MultiPolicy,
        cx: &mut Context<'_>,
    ) -> Poll<Completion>;

    /// The op's future was dropped in `state`; returns the op if it may be freed now,
    /// else keeps it until its completion (`[parked-on-drop]`).
    fn drop_op(&mut self, state: OpState, op: Box<dyn Parked>) -> Option<Box<dyn Parked>>;

    /// Starts `op` with nobody to poll it: parked from its submission, as a dropped op is
    /// (`[parked-on-drop]`, but cancelled only by the drain or on request), its completion
    /// handed to its orphan hook ([`Parked::orphan`]) and the op then released
    /// ([`Parked::release`]); `Ok` gives its token. `Err` hands the
    /// op back unstarted where the backend cannot run it so: a readiness backend (nothing
    /// retries an op nobody polls), an op that notifies, or one whose SQE cannot be made
    /// (the caller runs it as usual, and gets the error from it).
    fn start_detached<T: Operation>(&mut self, op: Box<T>) -> Result<u64, Box<T>>;

    /// One turn: submit what is queued, wait as `park` allows, dispatch what completed.
    /// Resources released by completions of dropped ops go to `released`, dropped by the
    /// caller once it no longer borrows the backend (dropping may run user code).
    fn turn(&mut self, park: Park, released: &mut Vec<Box<dyn Parked>>) -> io::Result<()>;

    /// Cancels every operation in flight, once, and waits for all their completions
    /// (`[drain-before-unmap]`) until `deadline`; past it, gives up and leaks, for good,
    /// what the kernel (or the thread pool) may still touch.
    fn shutdown(&mut self, deadline: Instant, released: &mut Vec<Box<dyn Parked>>);

    /// Adds the backend's counters to `stats`.
    fn fill_stats(&self, stats: &mut Stats);
}

/// The backend a runtime runs on: the one place where the two are told apart.
// One per runtime: the size difference costs nothing, while boxing the larger variant would
// add a pointer chase to every operation.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Engine {
    Uring(Uring),
    Epoll(Epoll),
}

impl Backend for Engine {
    #[inline]
    fn poll_op<T: Operation>(
        &mut self,
        state: &mut OpState,
        op: &mut T,
        cx: &mut Context<'_>,
    ) -> Poll<Completion> {
        match self {
            Engine::Uring(d) => d.poll_op(state, op, cx),
            Engine::Epoll(d) => d.poll_op(state, op, cx),
        }
    }

    fn poll_op_timed<T: Operation>(
        &mut self,
        state: &mut OpState,
        op: &mut T,
        after: Duration,
        expired: Expired<'_>,
        cx: &mut Context<'_>,
    ) -> Poll<Completion> {
        match self {
            Engine::Uring(d) => d.poll_op_timed(state, op, after, expired, cx),
            Engine::Epoll(d) => d.poll_op_timed(state, op, after, expired, cx),
        }
    }

    #[inline]
    fn poll_multi<T: Operation>(
        &mut self,
        state: &mut OpState,
        op: &mut T,
        policy: &MultiPolicy,
        cx: &mut Context<'_>,
    ) -> Poll<Completion> {
        match self {
            Engine::Uring(d) => d.poll_multi(state, op, policy, cx),
            Engine::Epoll(d) => d.poll_multi(state, op, policy, cx),
        }
    }

    fn drop_op(&mut self, state: OpState, op: Box<dyn Parked>) -> Option<Box<dyn Parked>> {
        match self {
            Engine::Uring(d) => d.drop_op(state, op),
            Engine::Epoll(d) => d.drop_op(state, op),
        }
    }

    #[inline]
    fn start_detached<T: Operation>(&mut self, op: Box<T>) -> Result<u64, Box<T>> {
        match self {
            Engine::Uring(d) => d.start_detached(op),
            Engine::Epoll(d) => d.start_detached(op),
        }
    }

    #[inline(always)]
    fn turn(&mut self, park: Park, released: &mut Vec<Box<dyn Parked>>) -> io::Result<()> {
        match self {
            Engine::Uring(d) => d.turn(park, released),
            Engine::Epoll(d) => d.turn(park, released),
        }
    }

    fn shutdown(&mut self, deadline: Instant, released: &mut Vec<Box<dyn Parked>>) {
        match self {
            Engine::Uring(d) => d.shutdown(deadline, released),
            Engine::Epoll(d) => d.shutdown(deadline, released),
        }
    }

    fn fill_stats(&self, stats: &mut Stats) {
        match self {
            Engine::Uring(d) => d.fill_stats(stats),
            Engine::Epoll(d) => d.fill_stats(stats),
        }
    }
}

impl Engine {
    fn kind(&self) -> DriverKind {
        match self {
            Engine::Uring(_) => DriverKind::Uring,
            Engine::Epoll(_) => DriverKind::Epoll,
        }
    }

    /// The one accessor of what only io_uring has.
    fn as_uring_mut(&mut self) -> Option<&mut Uring> {
        match self {
            Engine::Uring(d) => Some(d),
            Engine::Epoll(_) => None,
        }
    }
}

/// A dropped op whose backend was busy when it was dropped, waiting for the next turn.
type Deferred = (OpState, Box<dyn Parked>);

/// A runtime's driver, shared by the runtime (which turns it) and the op futures it runs
/// (which submit to it). It holds the backend, never the executor.
#[derive(Clone)]
pub(crate) struct Handle {
    inner: Rc<Inner>,
}

/// A handle that does not keep the driver alive.
#[derive(Clone)]
pub(crate) struct WeakHandle(Weak<Inner>);

struct Inner {
    engine: RefCell<Engine>,
    /// Ops dropped while the engine was borrowed (`[parked-on-drop]`). Borrowed only for a
    /// push or a take, with no user code in between, so a push never finds it borrowed.
    deferred: RefCell<Vec<Deferred>>,
    /// The list a turn hands the released ops in (empty between turns), kept so that a turn
    /// that releases some allocates nothing: taken for the turn, put back after.
    released: Cell<Vec<Box<dyn Parked>>>,
    kind: DriverKind,
    /// Set while a `block_on` of its runtime runs ([`DriveGuard`]): on a thread at most one
    /// runtime is, so an op bound to a driver that is not active is polled elsewhere.
    active: Cell<bool>,
    /// The epoll backend's op budget, renewed before each poll of a task
    /// ([`renew_budget`](Handle::renew_budget)); io_uring has none (a cell nobody reads).
    budget: Rc<Cell<u32>>,
}

impl Handle {
    fn new(engine: Engine) -> Handle {
        let kind = engine.kind();
        let budget = match &engine {
            Engine::Epoll(epoll) => epoll.budget(),
            Engine::Uring(_) => Rc::new(Cell::new(0)),
        };
        Handle {
            inner: Rc::new(Inner {
                engine: RefCell::new(engine),
                deferred: RefCell::new(Vec::new()),
                released: Cell::new(Vec::new()),
                kind,
                active: Cell::new(false),
                budget,
            }),
        }
    }

    /// A new poll of a task begins: on epoll, the ops that complete at once get a full
    /// budget again ([`epoll::BUDGET`]), so a task yields only after many of its own.
    #[inline]
    pub(crate) fn renew_budget(&self) {
        self.inner.budget.set(epoll::BUDGET);
    }

    /// Which backend this is.
    pub(crate) fn kind(&self) -> DriverKind {
        self.inner.kind
    }

    #[inline]
    fn engine(&self) -> RefMut<'_, Engine> {
        match self.inner.engine.try_borrow_mut() {
            Ok(engine) => engine,
            Err(_) => polled_inside(),
        }
    }

    /// See [`Backend::poll_op`].
    #[inline]
    pub(crate) fn poll_op<T: Operation>(
        &self,
        state: &mut OpState,
        op: &mut T,
        cx: &mut Context<'_>,
    ) -> Poll<Completion> {
        self.engine().poll_op(state, op, cx)
    }

    /// See [`Backend::poll_op_timed`].
    pub(crate) fn poll_op_timed<T: Operation>(
        &self,
        state: &mut OpState,
        op: &mut T,
        after: Duration,
        expired: Expired<'_>,
        cx: &mut Context<'_>,
    ) -> Poll<Completion> {
        self.engine().poll_op_timed(state, op, after, expired, cx)
    }

    /// See [`Backend::poll_multi`].
    #[inline]
    pub(crate) fn poll_multi<T: Operation>(
        &self,
        state: &mut OpState,
        op: &mut T,
        policy: &MultiPolicy,
        cx: &mut Context<'_>,
    ) -> Poll<Completion> {
        self.engine().poll_multi(state, op, policy, cx)
    }

    /// The future of `op` is gone in `state`: the backend parks what the kernel may still
    /// touch. Never lost: when the backend is busy further up this stack, the drop waits
    /// for the next turn (`[parked-on-drop]`).
    pub(crate) fn drop_op<T: Operation>(&self, state: OpState, op: T) {
        if state == OpState::Idle {
            return; // nothing handed off: the op is freed here, as it goes out of scope
        }
        let op: Box<dyn Parked> = Box::new(op);
        let Ok(mut engine) = self.inner.engine.try_borrow_mut() else {
            self.inner.deferred.borrow_mut().push((state, op));
            return;
        };
        let release = engine.drop_op(state, op);
        drop(engine);
        drop(release); // outside the borrow: dropping may run user code
    }

    /// Starts `op` with nobody to poll it ([`Backend::start_detached`]): its token, for
    /// [`cancel_detached`](Handle::cancel_detached); `Err` hands it back unstarted, also
    /// when the driver is busy further up this stack.
    #[inline]
    pub(crate) fn start_detached<T: Operation>(&self, op: Box<T>) -> Result<u64, Box<T>> {
        match self.inner.engine.try_borrow_mut() {
            Ok(mut engine) => engine.start_detached(op),
            Err(_) => Err(op),
        }
    }

    /// Cancels the detached op of `token` if it is still in flight (a stale token, of an op
    /// that completed, is ignored): its completion then comes, and it is released, as usual.
    pub(crate) fn cancel_detached(&self, token: u64) {
        let engine = self.inner.engine.try_borrow_mut();
        // Called from a task, which never runs inside the driver's borrow.
        debug_assert!(
            engine.is_ok(),
            "a detached op cancelled from inside the driver"
        );
        if let Some(uring) = engine.ok().as_deref_mut().and_then(Engine::as_uring_mut) {
            uring.cancel_detached(token);
        }
    }

    /// Hands the deferred drops to the engine.
    #[inline]
    fn run_deferred(&self, engine: &mut Engine, released: &mut Vec<Box<dyn Parked>>) {
        if !self.inner.deferred.borrow().is_empty() {
            self.run_deferred_slow(engine, released);
        }
    }

    #[cold]
    fn run_deferred_slow(&self, engine: &mut Engine, released: &mut Vec<Box<dyn Parked>>) {
        while !self.inner.deferred.borrow().is_empty() {
            let deferred = std::mem::take(&mut *self.inner.deferred.borrow_mut());
            for (state, op) in deferred {
                released.extend(engine.drop_op(state, op));
            }
        }
    }

    /// One turn of the backend ([`Backend::turn`]), with the drops deferred since the last.
    #[inline(always)]
    pub(crate) fn turn(&self, park: Park) -> io::Result<()> {
        let span = crate::trace::turn_span(matches!(park, Park::Until(_)));
        let _entered = span.enter();
        let mut released = self.inner.released.take();
        let mut engine = self.engine();
        self.run_deferred(&mut engine, &mut released);
        let res = engine.turn(park, &mut released);
        // Drops deferred during the turn (by a waker woken in it) are parked now: their
        // cancels go out with the next enter.
        self.run_deferred(&mut engine, &mut released);
        drop(engine);
        // Outside the borrow: releasing may run user code (a buffer's drop). One that
        // panics loses the list's allocation, and drops the rest with it.
        released.drain(..).for_each(Parked::release);
        self.inner.released.set(released);
        res
    }

    /// Cancels every op and waits for every completion until `deadline`
    /// ([`Backend::shutdown`]).
    pub(crate) fn shutdown(&self, deadline: Instant) {
        let mut released = Vec::new();
        let mut engine = self.engine();
        self.run_deferred(&mut engine, &mut released);
        engine.shutdown(deadline, &mut released);
        drop(engine);
        drop(released);
    }

    /// The backend's counters, added to `stats` (left as they are when asked from inside
    /// the driver: a waker's `wake`, an `IoBuf` method).
    pub(crate) fn fill_stats(&self, stats: &mut Stats) {
        if let Ok(engine) = self.inner.engine.try_borrow() {
            engine.fill_stats(stats);
        }
    }

    /// Runs `f` on the io_uring backend: the one accessor of what only io_uring has. `None`
    /// on epoll, or when the backend is busy further up this stack.
    pub(crate) fn with_uring<R>(&self, f: impl FnOnce(&mut Uring) -> R) -> Option<R> {
        let mut engine = self.inner.engine.try_borrow_mut().ok()?;
        engine.as_uring_mut().map(f)
    }

    /// Whether a `block_on` of this driver's runtime runs now (on this thread: the driver
    /// is not `Send`).
    pub(crate) fn is_active(&self) -> bool {
        self.inner.active.get()
    }

    /// Marks the backend as driven by a `block_on` until the guard drops (see
    /// [`DriveGuard`]).
    pub(crate) fn drive(&self) -> DriveGuard<'_> {
        self.inner.active.set(true);
        let files = self.with_uring(|u| u.fixed_files()).flatten();
        if let Some(files) = &files {
            files.set_driving(true);
        }
        DriveGuard {
            handle: self,
            files,
        }
    }

    /// A handle that does not keep the driver alive.
    pub(crate) fn downgrade(&self) -> WeakHandle {
        WeakHandle(Rc::downgrade(&self.inner))
    }

    /// A number no other live driver has (its address), to tell drivers apart cheaply.
    #[inline]
    pub(crate) fn id(&self) -> usize {
        Rc::as_ptr(&self.inner) as usize
    }

    /// Whether `weak` is a handle of this very driver.
    pub(crate) fn is(&self, weak: &WeakHandle) -> bool {
        std::ptr::eq(Rc::as_ptr(&self.inner), weak.0.as_ptr())
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Drops deferred after the last turn go to the engine before it drains, so that they
        // are parked like any dropped op: freed after their completion, or leaked with the
        // engine's table if its drain gives up (`[drain-before-unmap]`).
        let engine = self.engine.get_mut();
        let mut released = Vec::new();
        for (state, op) in self.deferred.get_mut().drain(..) {
            released.extend(engine.drop_op(state, op));
        }
        drop(released);
    }
}

impl WeakHandle {
    /// The driver, if it is still alive.
    pub(crate) fn upgrade(&self) -> Option<Handle> {
        self.0.upgrade().map(|inner| Handle { inner })
    }
}

/// While a `block_on` drives the backend, a turn is coming, so a released registered slot
/// can be emptied at the next turn ([`FixedFiles::set_driving`]); at the end the slots
/// released meanwhile are emptied at once, since no turn may come (`[slot-lifetime]`).
pub(crate) struct DriveGuard<'a> {
    handle: &'a Handle,
    files: Option<Rc<FixedFiles>>,
}

impl Drop for DriveGuard<'_> {
    fn drop(&mut self) {
        self.handle.inner.active.set(false);
        let Some(files) = &self.files else { return };
        files.set_driving(false);
        // Unwinding: no `io_uring_enter` (it may be what panicked). Otherwise the slots
        // released since the last turn are emptied by closes submitted now.
        if !std::thread::panicking() {
            self.handle.with_uring(|u| u.flush_fixed());
        }
        // What is left (all of it when unwinding, or slots whose install completed after
        // their owner left, reaped by that enter) is emptied synchronously: no turn may come.
        files.clear_pending_now();
    }
}
