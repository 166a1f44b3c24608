//! [`SharedFd`]: the driver's handle on a file descriptor, reference-counted and closed when
//! the last holder drops.
//!
//! Every op that uses an fd holds a clone; a dropped in-flight op parks its clone with its
//! other resources, so the descriptor stays open until the kernel completes the op, and its
//! number cannot be reused under an operation still in flight (`[fd-outlives-op]`).
//!
//! Each backend keeps its private per-fd state here, in a type of its own folder: the epoll
//! backend's readiness registration ([`epoll::FdState`]), the io_uring backend's registered
//! slot ([`uring::FdSlot`]). It lives with the fd so that closing the fd and forgetting it in
//! the backend happen together; a backend's tables hold only a [`WeakFd`].

use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::rc::{Rc, Weak};

use super::{epoll, uring};

/// A shared handle to an open file descriptor.
#[derive(Clone)]
pub(crate) struct SharedFd {
    inner: Rc<Inner>,
}

/// A handle that does not keep the fd open: a backend's table entry for a registered fd.
pub(crate) struct WeakFd(Weak<Inner>);

struct Inner {
    fd: RawFd,
    /// The epoll backend's readiness registration; untouched on io_uring. Dropped after
    /// `fd` is closed (in `Drop for Inner`), which frees the backend's slot.
    epoll: epoll::FdState,
    /// The io_uring backend's registered slot for this fd, once it took one (sockets, at
    /// their first send or receive); emptied before `fd` is closed (`[slot-lifetime]`).
    uring: uring::FdSlot,
}

impl SharedFd {
    /// Takes ownership of `fd`.
    pub(crate) fn new(fd: OwnedFd) -> SharedFd {
        SharedFd {
            inner: Rc::new(Inner {
                fd: fd.into_raw_fd(),
                epoll: epoll::FdState::default(),
                uring: uring::FdSlot::default(),
            }),
        }
    }

    /// The raw descriptor, valid while this handle lives.
    pub(crate) fn raw(&self) -> RawFd {
        self.inner.fd
    }

    /// The epoll backend's state for this fd.
    pub(super) fn epoll(&self) -> &epoll::FdState {
        &self.inner.epoll
    }

    /// Marks a TCP stream: a read of it that comes back short emptied its receive queue
    /// (unless urgent data came, which the epoll backend sees), so the epoll backend waits
    /// for the next edge rather than try a read that would find nothing.
    pub(crate) fn short_reads_drain(&self) {
        self.inner.epoll.set_short_reads_drain();
    }

    /// The io_uring backend's registered slot for this fd.
    pub(super) fn uring(&self) -> &uring::FdSlot {
        &self.inner.uring
    }

    /// A handle that lets the fd close.
    pub(crate) fn downgrade(&self) -> WeakFd {
        WeakFd(Rc::downgrade(&self.inner))
    }

    /// The descriptor itself when this is the only handle, so it can be closed through the
    /// driver; otherwise the handle back.
    pub(crate) fn try_unwrap(self) -> Result<OwnedFd, SharedFd> {
        match Rc::try_unwrap(self.inner) {
            Ok(mut inner) => {
                // Hand the backends' slots back now: the fd leaves this handle's care.
                inner.uring.release();
                drop(std::mem::take(&mut inner.epoll));
                let inner = std::mem::ManuallyDrop::new(inner);
                // SAFETY: `inner` owned the fd and is never dropped (ManuallyDrop; what it
                // still holds is an empty `FdState` and `FdSlot`, which own nothing), so
                // ownership moves to the new `OwnedFd` exactly once.
                Ok(unsafe { OwnedFd::from_raw_fd(inner.fd) })
            }
            Err(inner) => Err(SharedFd { inner }),
        }
    }
}

impl WeakFd {
    /// The fd, if some handle still holds it open.
    pub(crate) fn upgrade(&self) -> Option<SharedFd> {
        self.0.upgrade().map(|inner| SharedFd { inner })
    }
}

impl AsFd for SharedFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        // SAFETY: the fd stays open while any handle lives, and the borrow cannot outlive
        // `self` (`[fd-outlives-op]`).
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
            .field("epoll", &self.inner.epoll)
            .field("uring", &self.inner.uring)
            .finish()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The ring's slot first: a table entry would keep the socket open past close(2).
        self.uring.release();
        // SAFETY: `fd` is owned by this `Inner` (taken from an `OwnedFd`), and the last
        // handle is going away: no op holds it any more, so closing cannot race a use
        // (`[fd-outlives-op]`).
        let _ = crate::sys::syscall!(close(self.fd));
        // `epoll` drops next: closing removed the fd from any epoll set, and dropping the
        // state hands its slot back to the backend that registered it.
    }
}
