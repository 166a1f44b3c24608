//! Waiting for events: `epoll_pwait2` (a nanosecond timeout, Linux 5.11+) where the kernel
//! has it, else `epoll_wait` with the timeout rounded up to whole milliseconds, so a timer
//! never fires early. Both as system calls of their own (`syscall(2)`), falling back to
//! libc's `epoll_wait` where they are refused.

use std::io;
use std::os::fd::AsRawFd;
use std::time::Duration;

use super::Epoll;
use crate::sys::syscall;

impl Epoll {
    /// One `epoll_wait` (or `epoll_pwait2`); a signal ends the wait with no events.
    pub(super) fn wait_events(&mut self, timeout: Option<Duration>) -> io::Result<usize> {
        loop {
            self.enters += 1;
            let res = match timeout {
                Some(t) if self.pwait2 && !t.is_zero() => {
                    let ts = libc::timespec {
                        tv_sec: t.as_secs().min(i64::MAX as u64) as libc::time_t,
                        tv_nsec: t.subsec_nanos() as libc::c_long,
                    };
                    // SAFETY: `epoll_pwait2`'s timeout points at `ts`, on this frame for the
                    // call.
                    let res = unsafe {
                        self.pwait(libc::SYS_epoll_pwait2, &ts as *const _ as libc::c_long)
                    };
                    if refused(&res) {
                        self.pwait2 = false; // an older kernel or a seccomp filter
                        continue;
                    }
                    res
                }
                _ if self.raw_pwait => {
                    // SAFETY: `epoll_pwait`'s timeout is a number of milliseconds, no pointer.
                    let res =
                        unsafe { self.pwait(libc::SYS_epoll_pwait, timeout_ms(timeout).into()) };
                    if refused(&res) {
                        self.raw_pwait = false; // a seccomp filter that allows only epoll_wait
                        continue;
                    }
                    res
                }
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

    /// `epoll_pwait` (`timeout`: milliseconds) or `epoll_pwait2` (`timeout`: a pointer to a
    /// live timespec), with no signal mask, through `syscall(2)`: libc's `epoll_wait` is a
    /// cancellation point, which costs two calls into libc per wait (see `sys::recv`), and
    /// `epoll_pwait2` may be missing from an older C library. `epoll_pwait` with no mask is
    /// `epoll_wait` (the only form on the newer architectures).
    ///
    /// # Safety
    /// `call` is `SYS_epoll_pwait` (`timeout` in milliseconds) or `SYS_epoll_pwait2`
    /// (`timeout` the address of a `timespec` live for the call).
    unsafe fn pwait(&mut self, call: libc::c_long, timeout: libc::c_long) -> io::Result<i32> {
        let (events, max) = (self.events.as_mut_ptr(), self.events.len() as libc::c_int);
        // SAFETY: `events` points to `max` writable epoll_events owned by the driver; an
        // `epoll_pwait2` timeout points at a timespec live for the call (this function's
        // contract); a null sigmask leaves the thread's mask unchanged.
        syscall!(syscall(
            call,
            self.epfd.as_raw_fd(),
            events,
            max,
            timeout,
            std::ptr::null::<libc::sigset_t>(),
            KERNEL_SIGSET_SIZE
        ))
        .map(|n| n as i32)
    }
}

/// Whether the kernel (or a seccomp filter) refused the call itself: the next wait uses
/// another.
fn refused(res: &io::Result<i32>) -> bool {
    matches!(res, Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)))
}

/// The size of the kernel's signal set (64 signals), which the `epoll_pwait` calls take with
/// their mask (not libc's larger `sigset_t`).
const KERNEL_SIGSET_SIZE: usize = 8;

/// `epoll_wait`'s timeout: milliseconds rounded up (a timer never fires early), -1 for none.
pub(super) fn timeout_ms(timeout: Option<Duration>) -> libc::c_int {
    match timeout {
        None => -1,
        Some(t) => t
            .as_nanos()
            .div_ceil(1_000_000)
            .min(libc::c_int::MAX as u128) as libc::c_int,
    }
}
