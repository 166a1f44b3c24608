//! The epoll backend: the readiness-based variant of the same op contract.
//!
//! An op first tries its non-blocking system call ([`OpCode::syscall`]). On `EAGAIN` it
//! waits for its fd to become ready in the direction its [`Mode`] names, then retries; this
//! retry logic exists here once, for every op. Ops whose mode is [`Mode::Immediate`]
//! (nop, close, regular-file I/O, fsync, open, statx) run their syscall inline on the
//! loop's thread: page-cache file I/O takes microseconds, far less than a hop to a thread
//! pool and back, but a cold read (or an fsync) blocks the whole loop until the disk
//! answers. That is the price of this driver; io_uring runs those ops asynchronously.
//!
//! Registration is per fd, not per op: on its first `EAGAIN` an fd is added to the epoll
//! set once, edge-triggered, for both directions (`EPOLLIN | EPOLLOUT | EPOLLRDHUP |
//! EPOLLET`). Its readiness bits and waiting wakers live with the fd ([`FdState`], inside
//! [`SharedFd`]); the driver's table holds only a weak handle. A readiness bit is set by an
//! event and cleared only by an `EAGAIN`: on this single thread no event can slip between
//! the two, so no edge is lost. Closing an fd removes it from the epoll set (the kernel does
//! that), and dropping its state pushes its slot onto a free list the driver drains at its
//! next turn: no `RefCell` of the driver is touched from a drop, which may run while the
//! driver is borrowed. The token of a registration carries a generation, so an event for a
//! freed and reused slot is ignored.
//!
//! The runtime's eventfd (cross-thread wake-up) is in the epoll set too, under [`WAKE`].
//! Timeouts use `epoll_pwait2` (nanoseconds) where the kernel has it (Linux 5.11+), else
//! `epoll_wait` with the timeout rounded up to whole milliseconds, so a timer never fires
//! early.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use slab::Slab;

use super::{Completion, Interest, Mode, OpCode, OpState, Park};
use crate::fd::{SharedFd, WeakFd};
use crate::runtime::Stats;
use crate::sys::{self, syscall};

/// Token of the runtime's eventfd in the epoll set; fd tokens never reach it (their key is
/// below 2^32 and their generation below 2^31).
const WAKE: u64 = u64::MAX;

/// Readiness bits of an fd.
const READ: u8 = 1;
const WRITE: u8 = 2;

/// The events every fd is registered for, once.
const FD_EVENTS: u32 = (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32;

/// How many ops may complete between two driver turns before the next one yields. On epoll
/// an op whose syscall succeeds completes at its first poll, so a task looping over ready
/// ops would otherwise never return to the executor (io_uring ops always yield once).
const BUDGET: u32 = 128;

/// Events per `epoll_wait`, at first; the buffer doubles when a wait fills it.
const EVENTS_INITIAL: usize = 256;
const EVENTS_MAX: usize = 4096;

/// Slots of registered fds that have closed; the driver removes them from its table at its
/// next turn. A `Cell`, not a `RefCell`: an fd may close at any time, even while the driver
/// is borrowed, and taking the vector out and putting it back cannot fail.
#[derive(Default)]
struct ClosedSlots(Cell<Vec<usize>>);

impl ClosedSlots {
    fn push(&self, key: usize) {
        let mut keys = self.0.take();
        keys.push(key);
        self.0.set(keys);
    }
}

/// Where an fd is registered: its token in one driver's table, and that driver's free list.
struct Registration {
    token: u64,
    closed: Rc<ClosedSlots>,
}

impl Registration {
    /// Hands the slot back to the driver that owns it.
    fn release(self) {
        self.closed.push(slot_key(self.token));
    }
}

fn slot_key(token: u64) -> usize {
    token as u32 as usize
}

/// Per-fd readiness state, stored inside [`SharedFd`].
#[derive(Default)]
pub(crate) struct FdState {
    registration: Cell<Option<Registration>>,
    ready: Cell<u8>,
    /// Ops waiting for readability, by waiter id.
    readers: RefCell<Vec<(u64, Waker)>>,
    /// Ops waiting for writability, by waiter id.
    writers: RefCell<Vec<(u64, Waker)>>,
}

impl FdState {
    fn bit(interest: Interest) -> u8 {
        match interest {
            Interest::Read => READ,
            Interest::Write => WRITE,
        }
    }

    fn waiters(&self, interest: Interest) -> &RefCell<Vec<(u64, Waker)>> {
        match interest {
            Interest::Read => &self.readers,
            Interest::Write => &self.writers,
        }
    }

    fn is_ready(&self, interest: Interest) -> bool {
        self.ready.get() & Self::bit(interest) != 0
    }

    fn clear_ready(&self, interest: Interest) {
        self.ready.set(self.ready.get() & !Self::bit(interest));
    }

    /// Whether the fd is registered in the epoll set whose free list is `closed`.
    fn is_registered_with(&self, closed: &Rc<ClosedSlots>) -> bool {
        let reg = self.registration.take();
        let same = reg.as_ref().is_some_and(|r| Rc::ptr_eq(&r.closed, closed));
        self.registration.set(reg);
        same
    }

    /// Records a new registration, releasing one with another (older) driver if any.
    fn set_registration(&self, reg: Registration) {
        if let Some(old) = self.registration.replace(Some(reg)) {
            old.release();
        }
    }

    /// Makes `waker` the one woken for waiter `id`.
    fn set_waker(&self, interest: Interest, id: u64, waker: &Waker) {
        let mut list = self.waiters(interest).borrow_mut();
        let old = match list.iter_mut().find(|(i, _)| *i == id) {
            Some((_, w)) if w.will_wake(waker) => None,
            Some((_, w)) => Some(std::mem::replace(w, waker.clone())),
            None => {
                list.push((id, waker.clone()));
                None
            }
        };
        drop(list);
        drop(old); // outside the borrow: dropping a waker may run its vtable's code
    }

    fn remove_waker(&self, interest: Interest, id: u64) {
        let mut list = self.waiters(interest).borrow_mut();
        let removed = list
            .iter()
            .position(|(i, _)| *i == id)
            .map(|pos| list.swap_remove(pos));
        drop(list);
        drop(removed);
    }

    /// Records the readiness an event reports and wakes the ops waiting for it.
    fn on_event(&self, events: u32) {
        const HANGUP: i32 = libc::EPOLLHUP | libc::EPOLLERR;
        const READABLE: u32 = (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLPRI | HANGUP) as u32;
        const WRITABLE: u32 = (libc::EPOLLOUT | HANGUP) as u32;
        let mut bits = 0;
        if events & READABLE != 0 {
            bits |= READ;
        }
        if events & WRITABLE != 0 {
            bits |= WRITE;
        }
        self.ready.set(self.ready.get() | bits);
        if bits & READ != 0 {
            wake_all(&self.readers);
        }
        if bits & WRITE != 0 {
            wake_all(&self.writers);
        }
    }
}

/// Wakes and forgets every waiter of `list`, without holding its borrow while waking, and
/// keeps the list's allocation.
fn wake_all(list: &RefCell<Vec<(u64, Waker)>>) {
    let mut wakers = std::mem::take(&mut *list.borrow_mut());
    for (_, waker) in wakers.drain(..) {
        waker.wake();
    }
    let mut slot = list.borrow_mut();
    if slot.is_empty() {
        *slot = wakers;
    }
}

impl Drop for FdState {
    fn drop(&mut self) {
        if let Some(reg) = self.registration.take() {
            reg.release();
        }
    }
}

impl fmt::Debug for FdState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reg = self.registration.take();
        let token = reg.as_ref().map(|r| r.token);
        self.registration.set(reg);
        f.debug_struct("FdState")
            .field("token", &token)
            .field("ready", &self.ready.get())
            .finish_non_exhaustive()
    }
}

/// An op waiting for readiness: the state [`OpState::Waiting`] holds.
#[derive(Debug)]
pub(crate) struct Waiter {
    fd: SharedFd,
    interest: Interest,
    id: u64,
}

pub(crate) struct Epoll {
    epfd: OwnedFd,
    /// The runtime's eventfd (a dup), registered under [`WAKE`].
    wake_fd: OwnedFd,
    events: Vec<libc::epoll_event>,
    /// Registered fds by slot key, with the slot's generation.
    fds: Slab<(u32, WeakFd)>,
    closed: Rc<ClosedSlots>,
    next_generation: u32,
    next_waiter: u64,
    /// Ops currently waiting for readiness.
    waiting: usize,
    /// Whether `epoll_pwait2` may be tried (cleared on `ENOSYS`/`EPERM`).
    pwait2: bool,
    /// Ops that may still complete before the next turn ([`BUDGET`]).
    budget: u32,
    submissions: u64,
    enters: u64,
    completions: u64,
}

impl Epoll {
    /// Creates the epoll set; `wake_fd` is the runtime's eventfd.
    pub(crate) fn new(wake_fd: OwnedFd) -> io::Result<Epoll> {
        // SAFETY: epoll_create1 takes no pointers.
        let raw = syscall!(epoll_create1(libc::EPOLL_CLOEXEC))?;
        // SAFETY: epoll_create1 just returned this fd and nothing else owns it.
        let epfd = unsafe { OwnedFd::from_raw_fd(raw) };
        let mut ev = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLET) as u32,
            u64: WAKE,
        };
        // SAFETY: `ev` is a live epoll_event for the duration of the call; both fds are open.
        syscall!(epoll_ctl(
            epfd.as_raw_fd(),
            libc::EPOLL_CTL_ADD,
            wake_fd.as_raw_fd(),
            &mut ev
        ))?;
        Ok(Epoll {
            epfd,
            wake_fd,
            events: vec![libc::epoll_event { events: 0, u64: 0 }; EVENTS_INITIAL],
            fds: Slab::new(),
            closed: Rc::default(),
            next_generation: 0,
            next_waiter: 0,
            waiting: 0,
            pwait2: true,
            budget: BUDGET,
            submissions: 0,
            enters: 0,
            completions: 0,
        })
    }

    /// Runs `op`'s syscall; on `EAGAIN`, waits for readiness and tries again when polled.
    pub(crate) fn poll_op<T: OpCode>(
        &mut self,
        state: &mut OpState,
        op: &mut T,
        cx: &mut Context<'_>,
    ) -> Poll<Completion> {
        if let OpState::Waiting(w) = state {
            let fd_state = w.fd.poll_state();
            if !fd_state.is_ready(w.interest) {
                fd_state.set_waker(w.interest, w.id, cx.waker());
                return Poll::Pending;
            }
        }
        if self.budget == 0 {
            // Yield to the executor; the syscall is tried when the task is polled again.
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let result = loop {
            self.submissions += 1;
            match op.syscall() {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => match op.mode() {
                    Mode::Readiness(fd, interest) => match self.wait(state, fd, interest, cx) {
                        Ok(()) => return Poll::Pending,
                        Err(e) => break Err(e),
                    },
                    Mode::Immediate => break Err(e),
                },
                res => break res,
            }
        };
        self.stop_waiting(state);
        self.budget -= 1;
        Poll::Ready(Completion { result, flags: 0 })
    }

    /// The syscall would block: registers the fd if needed and parks the op's waker on it.
    fn wait(
        &mut self,
        state: &mut OpState,
        fd: &SharedFd,
        interest: Interest,
        cx: &mut Context<'_>,
    ) -> io::Result<()> {
        let fd_state = fd.poll_state();
        fd_state.clear_ready(interest);
        self.register(fd)?;
        let id = match state {
            OpState::Waiting(w) if w.fd.raw() == fd.raw() && w.interest == interest => w.id,
            _ => {
                self.stop_waiting(state);
                let id = self.next_waiter;
                self.next_waiter += 1;
                self.waiting += 1;
                let fd = fd.clone();
                *state = OpState::Waiting(Waiter { fd, interest, id });
                id
            }
        };
        fd_state.set_waker(interest, id, cx.waker());
        Ok(())
    }

    /// Forgets the op's waiter, if it had one.
    fn stop_waiting(&mut self, state: &mut OpState) {
        if let OpState::Waiting(w) = std::mem::replace(state, OpState::Idle) {
            w.fd.poll_state().remove_waker(w.interest, w.id);
            self.waiting -= 1;
        }
    }

    /// Adds `fd` to the epoll set, unless this driver already did.
    fn register(&mut self, fd: &SharedFd) -> io::Result<()> {
        let fd_state = fd.poll_state();
        if fd_state.is_registered_with(&self.closed) {
            return Ok(());
        }
        let generation = self.next_generation;
        self.next_generation = (generation + 1) & ((1 << 31) - 1);
        let key = self.fds.insert((generation, fd.downgrade()));
        let token = (u64::from(generation) << 32) | key as u64;
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
            self.fds.remove(key);
            return Err(e);
        }
        let closed = self.closed.clone();
        fd_state.set_registration(Registration { token, closed });
        Ok(())
    }

    pub(crate) fn drop_op(&mut self, mut state: OpState, op: Box<dyn Any>) -> Option<Box<dyn Any>> {
        // The kernel holds nothing of a waiting op: its resources can go at once.
        self.stop_waiting(&mut state);
        Some(op)
    }

    pub(crate) fn turn(&mut self, park: Park, _garbage: &mut Vec<Box<dyn Any>>) -> io::Result<()> {
        self.budget = BUDGET;
        for key in self.closed.0.take() {
            self.fds.try_remove(key);
        }
        let timeout = match park {
            // Readiness matters only to waiting ops; events stay queued in the kernel
            // (and the wake-up needs no draining while the loop is awake).
            Park::No if self.waiting == 0 => return Ok(()),
            Park::No => Some(Duration::ZERO),
            Park::Until(timeout) => timeout,
        };
        let n = self.wait_events(timeout)?;
        for i in 0..n {
            let ev = self.events[i];
            self.dispatch(ev.u64, ev.events);
        }
        if n == self.events.len() && n < EVENTS_MAX {
            let empty = libc::epoll_event { events: 0, u64: 0 };
            self.events.resize(n * 2, empty);
        }
        Ok(())
    }

    /// One `epoll_wait` (or `epoll_pwait2`); a signal ends the wait with no events.
    fn wait_events(&mut self, timeout: Option<Duration>) -> io::Result<usize> {
        loop {
            self.enters += 1;
            let res = match timeout {
                Some(t) if self.pwait2 && !t.is_zero() => match self.pwait2(t) {
                    Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) => {
                        self.pwait2 = false; // an older kernel or a seccomp filter
                        continue;
                    }
                    res => res,
                },
                _ => {
                    let (events, max) = (self.events.as_mut_ptr(), self.events.len() as i32);
                    // SAFETY: `events` points to `max` writable epoll_events owned by the
                    // driver.
                    syscall!(epoll_wait(
                        self.epfd.as_raw_fd(),
                        events,
                        max,
                        timeout_ms(timeout)
                    ))
                }
            };
            return match res {
                Ok(n) => Ok(n as usize),
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => Ok(0),
                Err(e) => Err(e),
            };
        }
    }

    /// `epoll_pwait2`: a nanosecond timeout (Linux 5.11+), through `syscall(2)` so that an
    /// older C library still links.
    fn pwait2(&mut self, timeout: Duration) -> io::Result<i32> {
        let ts = libc::timespec {
            tv_sec: timeout.as_secs().min(i64::MAX as u64) as libc::time_t,
            tv_nsec: timeout.subsec_nanos() as libc::c_long,
        };
        let (events, max) = (self.events.as_mut_ptr(), self.events.len() as libc::c_int);
        let sigset_size = std::mem::size_of::<libc::sigset_t>();
        // SAFETY: `events` points to `max` writable epoll_events owned by the driver; `ts` is
        // live for the call; a null sigmask leaves the thread's mask unchanged.
        syscall!(syscall(
            libc::SYS_epoll_pwait2,
            self.epfd.as_raw_fd(),
            events,
            max,
            &ts as *const libc::timespec,
            std::ptr::null::<libc::sigset_t>(),
            sigset_size
        ))
        .map(|n| n as i32)
    }

    fn dispatch(&mut self, token: u64, events: u32) {
        self.completions += 1;
        if token == WAKE {
            sys::eventfd_drain(self.wake_fd.as_raw_fd());
            return;
        }
        let generation = (token >> 32) as u32;
        let fd = self
            .fds
            .get(slot_key(token))
            .filter(|(g, _)| *g == generation)
            .and_then(|(_, weak)| weak.upgrade());
        if let Some(fd) = fd {
            fd.poll_state().on_event(events);
        }
    }

    /// Nothing to drain: the kernel holds no memory of a readiness op, and the ops still
    /// waiting were dropped with their tasks.
    pub(crate) fn shutdown(&mut self, _garbage: &mut Vec<Box<dyn Any>>) {}

    pub(crate) fn fill_stats(&self, stats: &mut Stats) {
        stats.ops_in_flight = self.waiting;
        stats.submissions = self.submissions;
        stats.enters = self.enters;
        stats.completions = self.completions;
    }
}

/// `epoll_wait`'s timeout: milliseconds rounded up (a timer never fires early), -1 for none.
fn timeout_ms(timeout: Option<Duration>) -> libc::c_int {
    match timeout {
        None => -1,
        Some(t) => t
            .as_nanos()
            .div_ceil(1_000_000)
            .min(libc::c_int::MAX as u128) as libc::c_int,
    }
}

#[cfg(test)]
#[path = "epoll_tests.rs"]
mod tests;
