//! [`SharedFd`]: a reference-counted file descriptor, closed when the last holder drops.
//!
//! Every op that uses an fd holds a clone; a dropped in-flight op parks its clone with its
//! other resources, so the descriptor stays open until the kernel completes the op
//! (invariant 4), and the number cannot be reused under an operation still in flight.
//!
//! The fd also carries its readiness state for the epoll driver ([`FdState`]: registration,
//! readiness bits, waiting wakers). It lives with the fd so that closing the fd and
//! forgetting its registration happen together; the driver's table holds only a [`WeakFd`].

use std::cell::OnceCell;
use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::rc::{Rc, Weak};

use crate::driver::epoll::FdState;
use crate::driver::fixed::FixedRef;

/// Builds an SQE on `fd`'s registered slot when it has a filled one, else on its number:
/// `on_fd!(self.fd, |target| opcode::Send::new(target, ptr, len).build())`. Only for ops
/// that name the fd through [`OpCode::fixed_fd`](crate::driver::OpCode::fixed_fd).
macro_rules! on_fd {
    ($fd:expr, |$t:ident| $body:expr) => {
        match $fd.fixed_slot() {
            Some(slot) => {
                let $t = io_uring::types::Fixed(slot);
                $body
            }
            None => {
                let $t = io_uring::types::Fd($fd.raw());
                $body
            }
        }
    };
}
pub(crate) use on_fd;

/// A shared handle to an open file descriptor.
#[derive(Clone)]
pub(crate) struct SharedFd {
    inner: Rc<Inner>,
}

/// A handle that does not keep the fd open: the epoll driver's reference to a registered fd.
pub(crate) struct WeakFd(Weak<Inner>);

struct Inner {
    fd: RawFd,
    /// Readiness registration; untouched on the io_uring driver. Dropped after `fd` is
    /// closed (in `Drop for Inner`), which frees the driver's slot.
    poll: FdState,
    /// The io_uring driver's registered slot for this fd, once it took one (sockets, at
    /// their first send or recv); emptied before `fd` is closed (invariant 7).
    fixed: OnceCell<FixedRef>,
}

#[allow(dead_code)] // used by the socket and file ops
impl SharedFd {
    /// Takes ownership of `fd`.
    pub(crate) fn new(fd: OwnedFd) -> SharedFd {
        SharedFd {
            inner: Rc::new(Inner {
                fd: fd.into_raw_fd(),
                poll: FdState::default(),
                fixed: OnceCell::new(),
            }),
        }
    }

    /// The raw descriptor, valid while this handle lives.
    pub(crate) fn raw(&self) -> RawFd {
        self.inner.fd
    }

    /// Whether this is the only handle (no op in flight holds the fd).
    pub(crate) fn is_unique(&self) -> bool {
        Rc::strong_count(&self.inner) == 1
    }

    /// The fd's readiness state on the epoll driver.
    pub(crate) fn poll_state(&self) -> &FdState {
        &self.inner.poll
    }

    /// The registered slot SQEs may name instead of the fd: set, and its install completed.
    pub(crate) fn fixed_slot(&self) -> Option<u32> {
        let f = self.inner.fixed.get()?;
        f.files.is_ready(f.slot).then_some(f.slot)
    }

    /// Whether the driver already gave this fd a slot (ready or not).
    pub(crate) fn has_fixed(&self) -> bool {
        self.inner.fixed.get().is_some()
    }

    /// Records the slot the driver took for this fd; released when the last handle drops.
    pub(crate) fn set_fixed(&self, fixed: FixedRef) {
        if let Err(fixed) = self.inner.fixed.set(fixed) {
            fixed.release(); // already had one: hand the new one back
        }
    }

    /// A handle that lets the fd close.
    pub(crate) fn downgrade(&self) -> WeakFd {
        WeakFd(Rc::downgrade(&self.inner))
    }
}

impl WeakFd {
    /// The fd, if some handle still holds it open.
    pub(crate) fn upgrade(&self) -> Option<SharedFd> {
        self.0.upgrade().map(|inner| SharedFd { inner })
    }
}

impl SharedFd {
    /// The descriptor itself when this is the only handle, so it can be closed through the
    /// driver; otherwise the handle back.
    pub(crate) fn try_unwrap(self) -> Result<OwnedFd, SharedFd> {
        match Rc::try_unwrap(self.inner) {
            Ok(mut inner) => {
                // Hand the epoll and ring slots back now: the fd leaves this handle's care.
                drop(std::mem::take(&mut inner.poll));
                if let Some(f) = inner.fixed.take() {
                    f.release();
                }
                let inner = std::mem::ManuallyDrop::new(inner);
                // SAFETY: `inner` owned the fd and is never dropped (ManuallyDrop; what it
                // still holds is an empty `FdState` and `OnceCell`, which own nothing), so
                // ownership moves to the new `OwnedFd` exactly once.
                Ok(unsafe { OwnedFd::from_raw_fd(inner.fd) })
            }
            Err(inner) => Err(SharedFd { inner }),
        }
    }
}

impl AsFd for SharedFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        // SAFETY: the fd stays open while any handle lives, and the borrow cannot outlive
        // `self`.
        unsafe { BorrowedFd::borrow_raw(self.inner.fd) }
    }
}

impl AsRawFd for SharedFd {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.fd
    }
}

impl fmt::Debug for SharedFd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedFd")
            .field("fd", &self.inner.fd)
            .field("poll", &self.inner.poll)
            .field("fixed", &self.inner.fixed.get().map(|f| f.slot))
            .finish()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The ring's slot first: a table entry would keep the socket open past close(2).
        if let Some(f) = self.fixed.take() {
            f.release();
        }
        // SAFETY: `fd` is owned by this `Inner` (taken from an `OwnedFd`), and the last
        // handle is going away: no op holds it any more, so closing cannot race a use.
        let _ = crate::sys::syscall!(close(self.fd));
        // `poll` drops next: closing removed the fd from any epoll set, and dropping the
        // state hands its slot back to the driver that registered it.
    }
}
