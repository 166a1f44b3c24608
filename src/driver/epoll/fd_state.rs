//! The epoll backend's state of one fd ([`FdState`], kept in its
//! [`SharedFd`](crate::driver::fd::SharedFd)): where it is registered, its readiness bits,
//! and the wakers of the ops waiting on it.
//!
//! A readiness bit is set by an event and cleared only by an `EAGAIN`: on this single thread
//! no event can slip between the two, so no edge is lost. Closing an fd removes it from the
//! epoll set (the kernel does that), and dropping its state pushes its token onto a free
//! list the backend drains at its next turn: no `RefCell` of the backend is touched from a
//! drop, which may run while the backend is borrowed.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::Rc;
use std::task::Waker;

use crate::driver::op::Interest;

/// Readiness bits of an fd.
const READ: u8 = 1;
const WRITE: u8 = 2;

/// Tokens of registered fds that have closed; the backend removes them from its table at
/// its next turn. A `Cell`, not a `RefCell`: an fd may close at any time, even while the
/// backend is borrowed, and taking the vector out and putting it back cannot fail.
#[derive(Default)]
pub(super) struct ClosedSlots(Cell<Vec<u64>>);

impl ClosedSlots {
    fn push(&self, token: u64) {
        let mut tokens = self.0.take();
        tokens.push(token);
        self.0.set(tokens);
    }

    /// The tokens pushed since the last call.
    pub(super) fn take(&self) -> Vec<u64> {
        self.0.take()
    }
}

/// Where an fd is registered: its token in one backend's table, and that backend's free
/// list.
pub(super) struct Registration {
    pub(super) token: u64,
    pub(super) closed: Rc<ClosedSlots>,
}

impl Registration {
    /// Hands the slot back to the backend that owns it.
    fn release(self) {
        self.closed.push(self.token);
    }
}

/// The epoll backend's state of one fd.
#[derive(Default)]
pub(crate) struct FdState {
    registration: Cell<Option<Registration>>,
    ready: Cell<u8>,
    /// The peer hung up or the socket failed (`EPOLLRDHUP`, `EPOLLHUP`, `EPOLLERR`): no
    /// edge comes after that, so a short read no longer means "wait".
    hup: Cell<bool>,
    /// A read that comes back short emptied the receive queue ([`FdState::drained`]): set
    /// for TCP streams ([`SharedFd::short_reads_drain`](crate::driver::fd::SharedFd)), and
    /// cleared for good once urgent data arrives (`EPOLLPRI`: a read stops at the urgent
    /// mark with data still queued). Not for other fds: a Unix stream read also stops at a
    /// message carrying descriptors or new credentials, with data behind it.
    short_reads_drain: Cell<bool>,
    /// Ops waiting for readability.
    readers: RefCell<Waiters>,
    /// Ops waiting for writability.
    writers: RefCell<Waiters>,
}

/// The ops waiting for one direction of an fd, by waiter id: the first in place, with the
/// fd's other state (an fd mostly has one waiter a direction: a request touches no list on
/// the heap then), the others in a list.
#[derive(Default)]
pub(super) struct Waiters {
    /// Empty only when `rest` is too: an event's check for waiters reads this alone.
    first: Option<(u64, Waker)>,
    rest: Vec<(u64, Waker)>,
}

impl Waiters {
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.rest.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    #[inline]
    fn find_mut(&mut self, id: u64) -> Option<&mut Waker> {
        match &mut self.first {
            Some((i, w)) if *i == id => Some(w),
            _ => self.rest.iter_mut().find(|(i, _)| *i == id).map(|(_, w)| w),
        }
    }

    #[inline]
    fn push(&mut self, id: u64, waker: Waker) {
        match self.first {
            None => self.first = Some((id, waker)),
            Some(_) => self.rest.push((id, waker)),
        }
    }

    #[inline]
    fn remove(&mut self, id: u64) -> Option<Waker> {
        match &self.first {
            // The last of the rest takes its place.
            Some((i, _)) if *i == id => {
                std::mem::replace(&mut self.first, self.rest.pop()).map(|(_, w)| w)
            }
            _ => {
                let pos = self.rest.iter().position(|(i, _)| *i == id)?;
                Some(self.rest.swap_remove(pos).1)
            }
        }
    }
}

impl FdState {
    fn bit(interest: Interest) -> u8 {
        match interest {
            Interest::Read => READ,
            Interest::Write => WRITE,
        }
    }

    pub(super) fn waiters(&self, interest: Interest) -> &RefCell<Waiters> {
        match interest {
            Interest::Read => &self.readers,
            Interest::Write => &self.writers,
        }
    }

    pub(super) fn is_ready(&self, interest: Interest) -> bool {
        self.ready.get() & Self::bit(interest) != 0
    }

    pub(super) fn clear_ready(&self, interest: Interest) {
        self.ready.set(self.ready.get() & !Self::bit(interest));
    }

    /// A read came back short: on a TCP stream the receive queue is then empty, and the
    /// next data raises an edge. Not once the peer hung up (its FIN raised none after the
    /// data before it), nor once urgent data came.
    #[inline]
    pub(super) fn drained(&self) {
        if self.short_reads_drain.get() && !self.hup.get() {
            self.clear_ready(Interest::Read);
        }
    }

    /// See [`FdState::short_reads_drain`].
    pub(crate) fn set_short_reads_drain(&self) {
        self.short_reads_drain.set(true);
    }

    /// The token of its registration, if it has one.
    #[cfg(test)]
    pub(super) fn token(&self) -> Option<u64> {
        let reg = self.registration.take();
        let token = reg.as_ref().map(|r| r.token);
        self.registration.set(reg);
        token
    }

    /// Whether the fd is registered in the epoll set whose free list is `closed`.
    #[inline]
    pub(super) fn is_registered_with(&self, closed: &Rc<ClosedSlots>) -> bool {
        let reg = self.registration.take();
        let same = reg.as_ref().is_some_and(|r| Rc::ptr_eq(&r.closed, closed));
        self.registration.set(reg);
        same
    }

    /// Records a new registration, releasing one with another (older) backend if any.
    pub(super) fn set_registration(&self, reg: Registration) {
        if let Some(old) = self.registration.replace(Some(reg)) {
            old.release();
        }
    }

    /// Makes `waker` the one woken for waiter `id`.
    #[inline(always)]
    pub(super) fn set_waker(&self, interest: Interest, id: u64, waker: &Waker) {
        let mut list = self.waiters(interest).borrow_mut();
        let old = match list.find_mut(id) {
            Some(w) if w.will_wake(waker) => None,
            Some(w) => Some(std::mem::replace(w, waker.clone())),
            None => {
                list.push(id, waker.clone());
                None
            }
        };
        drop(list);
        drop(old); // outside the borrow: dropping a waker may run its vtable's code
    }

    #[inline]
    pub(super) fn remove_waker(&self, interest: Interest, id: u64) {
        let removed = self.waiters(interest).borrow_mut().remove(id);
        drop(removed);
    }

    /// Records the readiness an event reports and wakes the ops waiting for it.
    #[inline]
    pub(super) fn on_event(&self, events: u32) {
        const HANGUP: i32 = libc::EPOLLHUP | libc::EPOLLERR;
        const READABLE: u32 = (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLPRI | HANGUP) as u32;
        const WRITABLE: u32 = (libc::EPOLLOUT | HANGUP) as u32;
        let mut bits = 0;
        if events & (libc::EPOLLRDHUP | HANGUP) as u32 != 0 {
            self.hup.set(true);
        }
        if events & libc::EPOLLPRI as u32 != 0 {
            self.short_reads_drain.set(false);
        }
        if events & READABLE != 0 {
            bits |= READ;
        }
        if events & WRITABLE != 0 {
            bits |= WRITE;
        }
        self.ready.set(self.ready.get() | bits);
        // An edge-triggered event reports both directions: mostly only one has waiters.
        if bits & READ != 0 && !self.readers.borrow().is_empty() {
            wake_all(&self.readers);
        }
        if bits & WRITE != 0 && !self.writers.borrow().is_empty() {
            wake_all(&self.writers);
        }
    }
}

/// Wakes and forgets every waiter of `list`, without holding its borrow while waking, and
/// keeps the list's allocation.
#[inline(always)]
fn wake_all(list: &RefCell<Waiters>) {
    let mut waiters = list.borrow_mut();
    if waiters.rest.is_empty() {
        // The common case, one waiter (or none): taken out, the borrow released, then woken;
        // a panic of the wake leaves nothing half done.
        let waiter = waiters.first.take();
        drop(waiters);
        if let Some((_, waker)) = waiter {
            waker.wake();
        }
        return;
    }
    drop(waiters);
    wake_many(list);
}

/// [`wake_all`] of two or more waiters.
#[cold]
#[inline(never)]
fn wake_many(list: &RefCell<Waiters>) {
    let mut waiters = list.borrow_mut();
    let first = waiters.first.take();
    let mut rest = std::mem::take(&mut waiters.rest);
    drop(waiters);
    let woken = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let all = first.into_iter().chain(rest.drain(..));
        crate::driver::wake_all(all.map(|(_, waker)| waker));
    }));
    let mut waiters = list.borrow_mut();
    if waiters.rest.is_empty() {
        waiters.rest = rest;
    }
    drop(waiters);
    if let Err(payload) = woken {
        std::panic::resume_unwind(payload);
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
