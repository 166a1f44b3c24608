//! Raw system calls. Every libc call in the crate goes through [`syscall!`], which turns the
//! C convention (`-1` and `errno`) into an [`io::Result`](std::io::Result).

/// Calls a libc function and maps a `-1` return to `io::Error::last_os_error()`.
///
/// The expansion contains an `unsafe` block: the caller writes a `// SAFETY:` comment at the
/// call site naming why the arguments are valid for that call.
macro_rules! syscall {
    ($fn:ident ( $($arg:expr),* $(,)? )) => {{
        #[allow(clippy::undocumented_unsafe_blocks)]
        let res = unsafe { ::libc::$fn($($arg),*) };
        if res == -1 {
            Err(::std::io::Error::last_os_error())
        } else {
            Ok(res)
        }
    }};
}
pub(crate) use syscall;

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// Creates a non-blocking, close-on-exec eventfd: the cross-thread wake-up channel.
pub(crate) fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: eventfd takes no pointers.
    let fd = syscall!(eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK))?;
    // SAFETY: eventfd just returned this fd and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Adds one to an eventfd's counter, waking whoever waits on it.
pub(crate) fn eventfd_signal(fd: RawFd) {
    let one: u64 = 1;
    // SAFETY: `one` is a live 8-byte value for the duration of the call. The only possible
    // failure is EAGAIN when the counter is saturated, which already means "woken".
    let _ = syscall!(write(fd, (&one as *const u64).cast(), 8));
}

/// Drains an eventfd's counter (non-blocking; EAGAIN means it was already zero).
#[allow(dead_code)] // used by the readiness driver
pub(crate) fn eventfd_drain(fd: RawFd) {
    let mut val: u64 = 0;
    // SAFETY: `val` is a live, writable 8-byte value for the duration of the call.
    let _ = syscall!(read(fd, (&mut val as *mut u64).cast(), 8));
}

/// Converts a raw io_uring completion result (`-errno` on failure) into an `io::Result`.
/// This is the one place where a negative result becomes an error.
#[inline]
pub(crate) fn cqe_result(res: i32) -> io::Result<u32> {
    if res < 0 {
        Err(io::Error::from_raw_os_error(-res))
    } else {
        Ok(res as u32)
    }
}
