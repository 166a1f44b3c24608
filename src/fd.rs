//! [`SharedFd`]: a reference-counted file descriptor, closed when the last holder drops.
//!
//! Every op that uses an fd holds a clone; a dropped in-flight op parks its clone with its
//! other resources, so the descriptor stays open until the kernel completes the op
//! (invariant 4), and the number cannot be reused under an operation still in flight.

use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
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

    /// The fd itself if this is the only handle, else the handle back.
    pub(crate) fn try_unwrap(self) -> Result<OwnedFd, SharedFd> {
        let inner = Rc::try_unwrap(self.inner).map_err(|inner| SharedFd { inner })?;
        let fd = std::mem::ManuallyDrop::new(inner).fd;
        // SAFETY: `inner` owned `fd` and is never dropped (ManuallyDrop), so ownership
        // passes to the returned `OwnedFd` alone.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
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
