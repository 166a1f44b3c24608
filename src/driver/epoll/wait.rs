//! Waiting for events: `epoll_pwait2` (a nanosecond timeout, Linux 5.11+) where the kernel
//! has it, else `epoll_wait` with the timeout rounded up to whole milliseconds, so a timer
//! never fires early.

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
                Some(t) if self.pwait2 && !t.is_zero() => match self.pwait2(t) {
                    Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) => {
                        self.pwait2 = false; // an older kernel or a seccomp filter
                        continue;
                    }
                    res => res,
                },
                _ if self.raw_pwait => match self.raw_pwait(timeout) {
                    Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) => {
                        self.raw_pwait = false; // a seccomp filter that allows only epoll_wait
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

    /// `epoll_wait` as the system call itself: `epoll_pwait` with no signal mask (the same
    /// call; the only one on the newer architectures). libc's `epoll_wait` is a
    /// cancellation point, which costs two calls into libc per wait (see `sys::recv`).
    fn raw_pwait(&mut self, timeout: Option<Duration>) -> io::Result<i32> {
        let (events, max) = (self.events.as_mut_ptr(), self.events.len() as libc::c_int);
        // SAFETY: `events` points to `max` writable epoll_events owned by the driver; a null
        // sigmask leaves the thread's mask unchanged (its size is then not read).
        syscall!(syscall(
            libc::SYS_epoll_pwait,
            self.epfd.as_raw_fd(),
            events,
            max,
            timeout_ms(timeout),
            std::ptr::null::<libc::sigset_t>(),
            KERNEL_SIGSET_SIZE
        ))
        .map(|n| n as i32)
    }

    /// `epoll_pwait2`: a nanosecond timeout (Linux 5.11+), through `syscall(2)` so that an
    /// older C library still links.
    fn pwait2(&mut self, timeout: Duration) -> io::Result<i32> {
        let ts = libc::timespec {
            tv_sec: timeout.as_secs().min(i64::MAX as u64) as libc::time_t,
            tv_nsec: timeout.subsec_nanos() as libc::c_long,
        };
        let (events, max) = (self.events.as_mut_ptr(), self.events.len() as libc::c_int);
        // SAFETY: `events` points to `max` writable epoll_events owned by the driver; `ts` is
        // live for the call; a null sigmask leaves the thread's mask unchanged.
        syscall!(syscall(
            libc::SYS_epoll_pwait2,
            self.epfd.as_raw_fd(),
            events,
            max,
            &ts as *const libc::timespec,
            std::ptr::null::<libc::sigset_t>(),
            KERNEL_SIGSET_SIZE
        ))
        .map(|n| n as i32)
    }
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
