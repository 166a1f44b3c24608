//! The descriptor side of every socket type: `AsFd`, `AsRawFd`, `FromRawFd`, `IntoRawFd`
//! and `into_std`, written once ([`fd_traits!`]). With `AsFd`,
//! `socket2::SockRef::from(&stream)` reaches every socket option (keepalive, buffer sizes,
//! TTL) without unsafe code.
//!
//! Taking the descriptor out (`into_std`, `into_raw_fd`) must not close or hand over an fd
//! an operation still uses (`[fd-outlives-op]`): it fails instead, with
//! `ErrorKind::ResourceBusy`.

/// Implements the descriptor traits and `into_std` for `$ty`, which has
/// `socket(&self) -> &Socket`, `from_socket(Socket) -> Self` and
/// `into_socket(self) -> io::Result<Socket>`; `$std` is its std counterpart.
macro_rules! fd_traits {
    ($ty:ident, $std:ty) => {
        impl std::os::fd::AsFd for $ty {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                std::os::fd::AsFd::as_fd(self.socket().fd())
            }
        }

        impl std::os::fd::AsRawFd for $ty {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                self.socket().fd().raw()
            }
        }

        impl std::os::fd::FromRawFd for $ty {
            /// Takes ownership of `fd`, which must be an open socket of this kind, and makes
            /// it non-blocking (both drivers need that).
            unsafe fn from_raw_fd(fd: std::os::fd::RawFd) -> Self {
                // SAFETY: the caller hands over an open descriptor it owns (the contract of
                // `FromRawFd`), so this is its one owner.
                let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
                $ty::from_socket($crate::net::socket::Socket::adopt(fd))
            }
        }

        impl std::os::fd::IntoRawFd for $ty {
            /// The descriptor, which the caller then owns (still non-blocking).
            ///
            /// # Panics
            /// When an operation still uses the descriptor: see
            /// [`into_std`](Self::into_std), which reports that as an error instead.
            fn into_raw_fd(self) -> std::os::fd::RawFd {
                match self.into_std() {
                    Ok(std) => std::os::fd::IntoRawFd::into_raw_fd(std),
                    Err(e) => panic!(
                        "proactor: {}::into_raw_fd: {e} (into_std returns this error instead)",
                        stringify!($ty)
                    ),
                }
            }
        }

        impl $ty {
            #[doc = concat!("Turns into a [`", stringify!($std), "`], which owns the descriptor from")]
            /// then on (left non-blocking, as tokio's `into_std` leaves it).
            ///
            /// Fails with `ErrorKind::ResourceBusy` while an operation still uses the
            /// descriptor, which would otherwise be closed or read under it: a future of
            /// this socket dropped before it completed (on io_uring until its cancellation
            /// completes, at the runtime's next turn), an [`Incoming`](crate::net::Incoming)
            /// or [`RecvStream`](crate::net::RecvStream) still alive, the other half of a
            /// split stream, or the poll-based traits' armed receive or unsent bytes. The
            /// socket is then dropped (closed once those are done).
            pub fn into_std(self) -> std::io::Result<$std> {
                let fd = self.into_socket()?.into_fd()?;
                Ok(<$std>::from(fd))
            }
        }
    };
}

pub(crate) use fd_traits;
