//! The epoll backend: the readiness-based variant of the same op contract.
//!
//! An op first tries its non-blocking system call ([`ReadyOp::syscall`]). On `EAGAIN` it
//! waits for its fd to become ready in the direction its [`Mode`] names, then retries; this
//! retry logic exists here once, for every op. [`Mode::Immediate`] ops (nop, close,
//! shutdown) run inline. [`Mode::Offload`] ops (file I/O, which may wait on a device) try a
//! non-blocking call first (a read of cached pages, `RWF_NOWAIT`) and otherwise run their
//! blocking call on the thread pool (`offload.rs`), so a cold read or an fsync never blocks
//! the loop.
//!
//! Registration is per fd, not per op: on its first `EAGAIN` an fd is added to the epoll
//! set once, edge-triggered, for both directions (`EPOLLIN | EPOLLOUT | EPOLLRDHUP |
//! EPOLLET`). Its readiness bits and waiting wakers live with the fd ([`FdState`],
//! `fd_state.rs`); the backend's table holds only a weak handle, under a token that carries
//! a generation (`[generation]`), so an event for a freed and reused slot is ignored.
//!
//! The runtime's eventfd (cross-thread wake-up) is in the epoll set too, under [`WAKE`], and
//! so is the offload queue's, under [`OFFLOAD`]. `wait.rs` waits with a timer's precision.

mod fd_state;
mod offload;
#[cfg(test)]
mod tests;
mod wait;

use std::cell::Cell;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

pub(crate) use fd_state::FdState;
use fd_state::{ClosedSlots, Registration};
use offload::Offload;

use super::fd::{SharedFd, WeakFd};
use super::inflight::MultiPolicy;
use super::op::{timed_out, Completion, Interest, Mode, OpState, Operation, Parked};
use super::stats::{OpStats, Stats};
use super::token::{Tokens, RESERVED};
use super::{Backend, Expired, Park};
use crate::sys::{self, syscall};

/// Token of the runtime's eventfd in the epoll set (reserved: fd tokens never have the top
/// bit).
const WAKE: u64 = RESERVED | 1;
/// Token of the offload queue's eventfd.
const OFFLOAD: u64 = RESERVED | 2;

/// The events every fd is registered for, once.
const FD_EVENTS: u32 =
    (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLPRI | libc::EPOLLET) as u32;

/// How many ops may complete in one poll of a task (the runtime renews the budget before
/// each, [`Handle::renew_budget`](crate::driver::Handle::renew_budget), and a turn renews
/// it too) before the next one yields. On epoll an op whose syscall succeeds completes at
/// its first poll, so a task looping over ready ops would otherwise never return to the
/// executor (io_uring ops always yield once). Per poll, not per turn: many tasks each
/// doing a few ready ops in one turn never yield for want of a budget spent by others.
/// A turn (the `epoll_wait`, timers, the remote queue) still comes after at most
/// `event_interval` polls, so up to `event_interval` × this many ops may complete
/// between two.
pub(crate) const BUDGET: u32 = 128;

/// Events per `epoll_wait`, at first; the buffer doubles when a wait fills it.
const EVENTS_INITIAL: usize = 256;
const EVENTS_MAX: usize = 4096;

pub(crate) struct Epoll {
    epfd: OwnedFd,
    /// The runtime's eventfd (a dup), registered under [`WAKE`].
    wake_fd: OwnedFd,
    events: Vec<libc::epoll_event>,
    /// Registered fds, by token.
    fds: Tokens<WeakFd>,
    closed: Rc<ClosedSlots>,
    next_waiter: u64,
    /// Ops currently waiting for readiness.
    waiting: usize,
    /// Calls running on the thread pool.
    offload: Offload,
    /// Whether `epoll_pwait2` may be tried (cleared on `ENOSYS`/`EPERM`).
    pwait2: bool,
    /// Whether `epoll_pwait` is called directly (cleared on `ENOSYS`/`EPERM`: a seccomp
    /// filter that allows only libc's `epoll_wait`).
    raw_pwait: bool,
    /// Ops that may still complete before the task polled yields ([`BUDGET`]); shared with
    /// the driver's handle, which renews it before each poll of a task.
    budget: Rc<Cell<u32>>,
    submissions: u64,
    enters: u64,
    completions: u64,
    /// System call attempts and completions per kind of op.
    ops: OpStats,
    /// `epoll_wait`s by how many events they gave ([`Stats::completions_per_enter`]).
    per_enter: [u64; 7],
}

impl Epoll {
    /// Creates the epoll set; `wake_fd` is the runtime's eventfd.
    pub(crate) fn new(wake_fd: OwnedFd) -> io::Result<Epoll> {
        // SAFETY: epoll_create1 takes no pointers.
        let raw = syscall!(epoll_create1(libc::EPOLL_CLOEXEC))?;
        // SAFETY: epoll_create1 just returned this fd and nothing else owns it.
        let epfd = unsafe { OwnedFd::from_raw_fd(raw) };
        let offload = Offload::new()?;
        for (fd, token) in [(wake_fd.as_raw_fd(), WAKE), (offload.eventfd(), OFFLOAD)] {
            let mut ev = libc::epoll_event {
                events: (libc::EPOLLIN | libc::EPOLLET) as u32,
                u64: token,
            };
            // SAFETY: `ev` is a live epoll_event for the duration of the call; both fds are
            // open.
            syscall!(epoll_ctl(
                epfd.as_raw_fd(),
                libc::EPOLL_CTL_ADD,
                fd,
                &mut ev
            ))?;
        }
        Ok(Epoll {
            epfd,
            wake_fd,
            events: vec![libc::epoll_event { events: 0, u64: 0 }; EVENTS_INITIAL],
            fds: Tokens::default(),
            closed: Rc::default(),
            next_waiter: 0,
            waiting: 0,
            offload,
            pwait2: true,
            raw_pwait: true,
            budget: Rc::new(Cell::new(BUDGET)),
            submissions: 0,
            enters: 0,
            completions: 0,
            ops: OpStats::default(),
            per_enter: [0; 7],
        })
    }

    /// The op budget, for the driver's handle to renew ([`BUDGET`]).
    pub(crate) fn budget(&self) -> Rc<Cell<u32>> {
        self.budget.clone()
    }

    /// The syscall would block: registers the fd if needed and parks the op's waker on it.
    #[inline(always)]
    fn wait(
        &mut self,
        state: &mut OpState,
        fd: &SharedFd,
        interest: Interest,
        cx: &mut Context<'_>,
    ) -> io::Result<()> {
        let fd_state = fd.epoll();
        fd_state.clear_ready(interest);
        self.register(fd)?;
        let id = match *state {
            OpState::Pending(id) => id,
            OpState::Idle => {
                let id = self.next_waiter;
                self.next_waiter += 1;
                self.waiting += 1;
                *state = OpState::Pending(id);
                id
            }
        };
        fd_state.set_waker(interest, id, cx.waker());
        Ok(())
    }

    /// Forgets the op's waiter, if it had one (`mode` is the op's).
    #[inline]
    fn stop_waiting(&mut self, state: &mut OpState, mode: &Mode<'_>) {
        if let OpState::Pending(id) = std::mem::replace(state, OpState::Idle) {
            if let Mode::Readiness(fd, interest) = mode {
                fd.epoll().remove_waker(*interest, id);
            }
            self.waiting -= 1;
        }
    }

    /// Adds `fd` to the epoll set, unless this backend already did.
    #[inline]
    fn register(&mut self, fd: &SharedFd) -> io::Result<()> {
        if fd.epoll().is_registered_with(&self.closed) {
            return Ok(());
        }
        self.register_new(fd)
    }

    /// Adds `fd`, not yet in this backend's epoll set, to it.
    #[inline(never)]
    fn register_new(&mut self, fd: &SharedFd) -> io::Result<()> {
        let fd_state = fd.epoll();
        let token = self.fds.insert(fd.downgrade());
        let mut ev = libc::epoll_event {
            events: FD_EVENTS,
            u64: token,
        };
        let (epfd, raw) = (self.epfd.as_raw_fd(), fd.raw());
        // SAFETY: `ev` is a live epoll_event for the duration of the call; `fd` is held open
        // by the handle borrowed here.
        let mut added = syscall!(epoll_ctl(epfd, libc::EPOLL_CTL_ADD, raw, &mut ev));
        if added
            .as_ref()
            .is_err_and(|e| e.raw_os_error() == Some(libc::EEXIST))
        {
            // The descriptor stayed in the set under an older handle (given away as an
            // `OwnedFd` and wrapped again): take the registration over.
            // SAFETY: as above.
            added = syscall!(epoll_ctl(epfd, libc::EPOLL_CTL_MOD, raw, &mut ev));
        }
        if let Err(e) = added {
            self.fds.remove(token);
            return Err(e);
        }
        let closed = self.closed.clone();
        fd_state.set_registration(Registration { token, closed });
        Ok(())
    }

    /// A [`Mode::Offload`] op: a non-blocking try, then the blocking call on the pool.
    fn poll_offload<T: Operation>(
        &mut self,
        state: &mut OpState,
        op: &mut T,
        cx: &mut Context<'_>,
    ) -> Poll<Completion> {
        if let OpState::Pending(token) = *state {
            let completion = std::task::ready!(self.offload.poll(token, cx));
            *state = OpState::Idle;
            self.ops.completed(T::KIND);
            return Poll::Ready(completion);
        }
        if self.budget.get() == 0 {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.submissions += 1;
        self.ops.submitted(T::KIND);
        let result = match op.syscall() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => match op.blocking() {
                Some(call) => {
                    *state = OpState::Pending(self.offload.submit(call, cx.waker()));
                    return Poll::Pending;
                }
                None => Err(e),
            },
            res => res,
        };
        self.budget.set(self.budget.get() - 1);
        self.ops.completed(T::KIND);
        Poll::Ready(Completion::of(result))
    }

    /// Runs the op's system call, again on `EINTR`.
    #[inline]
    fn try_syscall<T: Operation>(&mut self, op: &mut T) -> io::Result<u32> {
        loop {
            self.submissions += 1;
            self.ops.submitted(T::KIND);
            match op.syscall() {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                res => return res,
            }
        }
    }

    /// The op is done with `result`: a short stream read marks its fd drained, its waiter
    /// (if any) is forgotten, and it counts against the poll's budget.
    #[inline]
    fn finish<T: Operation>(
        &mut self,
        state: &mut OpState,
        op: &T,
        result: io::Result<u32>,
    ) -> Completion {
        if let (Ok(n), Mode::Readiness(fd, Interest::Read)) = (&result, op.mode()) {
            if op.drained(*n) {
                fd.epoll().drained();
            }
        }
        self.stop_waiting(state, &op.mode());
        self.budget.set(self.budget.get().saturating_sub(1));
        self.ops.completed(T::KIND);
        Completion::of(result)
    }

    fn dispatch(&mut self, token: u64, events: u32, released: &mut Vec<Box<dyn Parked>>) {
        self.completions += 1;
        match token {
            WAKE => sys::eventfd_drain(self.wake_fd.as_raw_fd()),
            OFFLOAD => {
                self.offload.collect(released);
            }
            token => {
                if let Some(fd) = self.fds.get(token).and_then(WeakFd::upgrade) {
                    fd.epoll().on_event(events);
                }
            }
        }
    }
}

impl Backend for Epoll {
    /// Runs `op`'s syscall; on `EAGAIN`, waits for readiness and tries again when polled.
    #[inline]
    fn poll_op<T: Operation>(
        &mut self,
        state: &mut OpState,
        op: &mut T,
        cx: &mut Context<'_>,
    ) -> Poll<Completion> {
        if matches!(op.mode(), Mode::Offload) {
            return self.poll_offload(state, op, cx);
        }
        if let Mode::Readiness(fd, interest) = op.mode() {
            let fd_state = fd.epoll();
            if !fd_state.is_ready(interest) {
                match *state {
                    OpState::Pending(id) => {
                        fd_state.set_waker(interest, id, cx.waker());
                        return Poll::Pending;
                    }
                    // Known not ready (a registered fd whose last try found it empty):
                    // wait for the edge rather than try a call that fails with EAGAIN.
                    OpState::Idle if fd_state.is_registered_with(&self.closed) => {
                        return match self.wait(state, fd, interest, cx) {
                            Ok(()) => Poll::Pending,
                            Err(e) => Poll::Ready(Completion::of(Err(e))),
                        };
                    }
                    OpState::Idle => {}
                }
            }
        }
        if self.budget.get() == 0 {
            // Yield to the executor; the syscall is tried when the task is polled again.
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let result = match self.try_syscall(op) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => match op.mode() {
                Mode::Readiness(fd, interest) => match self.wait(state, fd, interest, cx) {
                    Ok(()) => return Poll::Pending,
                    Err(e) => Err(e),
                },
                Mode::Immediate | Mode::Offload => Err(e),
            },
            res => res,
        };
        Poll::Ready(self.finish(state, op, result))
    }

    /// The deadline is the caller's timer: polled while the op waits for readiness, and once
    /// it passed the waiter is forgotten (the kernel holds nothing of a readiness op) and
    /// the op completes as timed out, after one last try. A call on the thread pool cannot
    /// be given up: it finishes with its own result.
    fn poll_op_timed<T: Operation>(
        &mut self,
        state: &mut OpState,
        op: &mut T,
        _after: Duration,
        expired: Expired<'_>,
        cx: &mut Context<'_>,
    ) -> Poll<Completion> {
        if let Poll::Ready(completion) = self.poll_op(state, op, cx) {
            return Poll::Ready(completion);
        }
        // Idle: it yielded to the executor before trying; it tries when polled again.
        let waits = matches!(*state, OpState::Pending(_));
        if !waits || matches!(op.mode(), Mode::Offload) || !expired(cx) {
            return Poll::Pending;
        }
        // One last try, without waiting: what arrived before the deadline (its event not
        // yet seen) is delivered; a deadline of zero tries once, as on io_uring.
        let result = match self.try_syscall(op) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Err(timed_out()),
            res => res,
        };
        Poll::Ready(self.finish(state, op, result))
    }

    /// One completion per poll: the readiness path runs a multishot op as a single-shot one
    /// each time, so nothing queues and the policy has nothing to bound.
    #[inline]
    fn poll_multi<T: Operation>(
        &mut self,
        state: &mut OpState,
        op: &mut T,
        _policy: &MultiPolicy,
        cx: &mut Context<'_>,
    ) -> Poll<Completion> {
        self.poll_op(state, op, cx)
    }

    fn drop_op(&mut self, mut state: OpState, op: Box<dyn Parked>) -> Option<Box<dyn Parked>> {
        let offloaded = matches!(op.mode(), Mode::Offload);
        match state {
            OpState::Pending(token) if offloaded => self.offload.ignore(token, op),
            _ => {
                // The kernel holds nothing of a waiting op: its resources can go at once.
                self.stop_waiting(&mut state, &op.mode());
                Some(op)
            }
        }
    }

    /// Nothing here runs an op that nobody polls.
    fn start_detached<T: Operation>(&mut self, op: Box<T>) -> Result<u64, Box<T>> {
        Err(op)
    }

    fn turn(&mut self, park: Park, released: &mut Vec<Box<dyn Parked>>) -> io::Result<()> {
        self.budget.set(BUDGET);
        for token in self.closed.take() {
            self.fds.remove(token);
        }
        let timeout = match park {
            // Readiness matters only to waiting ops; events stay queued in the kernel
            // (and the wake-up needs no draining while the loop is awake).
            Park::No if self.waiting == 0 && self.offload.len() == 0 => return Ok(()),
            Park::No => Some(Duration::ZERO),
            Park::Until(timeout) => timeout,
        };
        let n = self.wait_events(timeout)?;
        self.per_enter[Stats::completion_bucket(n)] += 1;
        for i in 0..n {
            let ev = self.events[i];
            self.dispatch(ev.u64, ev.events, released);
        }
        if n == self.events.len() && n < EVENTS_MAX {
            let empty = libc::epoll_event { events: 0, u64: 0 };
            self.events.resize(n * 2, empty);
        }
        Ok(())
    }

    /// The kernel holds no memory of a readiness op, and the ops still waiting were dropped
    /// with their tasks; calls still running on the pool are waited for.
    fn shutdown(&mut self, deadline: Instant, released: &mut Vec<Box<dyn Parked>>) {
        self.offload.drain(deadline, released);
    }

    fn fill_stats(&self, stats: &mut Stats) {
        stats.ops_in_flight = self.waiting + self.offload.len();
        stats.submissions = self.submissions;
        stats.enters = self.enters;
        stats.completions = self.completions;
        stats.ops = self.ops;
        stats.completions_per_enter = self.per_enter;
    }
}
