//! [`SharedFd`]: a reference-counted file descriptor, closed when the last holder drops.
//!
//! Every op that uses an fd holds a clone; a dropped in-flight op parks its clone with its
//! other resources, so the descriptor stays open until the kernel completes the op
//! (invariant 4), and the number cannot be reused under an operation still in flight.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::rc::Rc;

/// A shared handle to an open file descriptor.
#[derive(Clone, Debug)]
pub(crate) struct SharedFd {
    inner: Rc<Inner>,
}

#[derive(Debug)]
struct Inner {
    fd: RawFd,
}

#[allow(dead_code)] // used by the socket and file ops
impl SharedFd {
    /// Takes ownership of `fd`.
    pub(crate) fn new(fd: OwnedFd) -> SharedFd {
        SharedFd {
            inner: Rc::new(Inner {
                fd: fd.into_raw_fd(),
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
}

impl SharedFd {
    /// The descriptor itself when this is the only handle, so it can be closed through the
    /// driver; otherwise the handle back.
    pub(crate) fn try_unwrap(self) -> Result<OwnedFd, SharedFd> {
        match Rc::try_unwrap(self.inner) {
            Ok(inner) => {
                let inner = std::mem::ManuallyDrop::new(inner);
                // SAFETY: `inner` owned the fd and is never dropped (ManuallyDrop), so
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

impl Drop for Inner {
    fn drop(&mut self) {
        // SAFETY: `fd` is owned by this `Inner` (taken from an `OwnedFd`), and the last
        // handle is going away: no op holds it any more, so closing cannot race a use.
        let _ = crate::sys::syscall!(close(self.fd));
    }
}
