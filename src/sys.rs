//! Raw system calls. Every libc call in the crate goes through [`syscall!`], which turns the
//! C convention (`-1` and `errno`) into an [`io::Result`](std::io::Result). The calls of the
//! readiness hot path (`recv`, `send`, `epoll_wait`) go through `syscall(2)` itself, not
//! libc's cancellation-point wrappers ([`recv`]).

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

use std::cell::Cell;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// `recv(2)` as the system call itself, through `syscall(2)`. libc's `recv` is a
/// cancellation point: in a process with more than one thread it turns asynchronous
/// cancellation on and off around the call, two calls into libc per read that the
/// runtime's non-blocking sockets never need (nothing here is ever cancelled that way).
///
/// # Safety
/// `ptr` must be valid for writes of `len` bytes for the call.
#[inline]
pub(crate) unsafe fn recv(
    fd: RawFd,
    ptr: *mut libc::c_void,
    len: usize,
    flags: libc::c_int,
) -> io::Result<usize> {
    // SAFETY: the caller's contract.
    unsafe { transfer(libc::SYS_recvfrom, fd, ptr, len, flags) }
}

/// `send(2)` as the system call itself (see [`recv`]).
///
/// # Safety
/// `ptr` must be valid for reads of `len` bytes for the call.
#[inline]
pub(crate) unsafe fn send(
    fd: RawFd,
    ptr: *const libc::c_void,
    len: usize,
    flags: libc::c_int,
) -> io::Result<usize> {
    // SAFETY: the caller's contract (`sendto` only reads the buffer).
    unsafe { transfer(libc::SYS_sendto, fd, ptr.cast_mut(), len, flags) }
}

/// `recvfrom` or `sendto` with no address: what `recv` and `send` are.
///
/// # Safety
/// `ptr` must be valid for `len` bytes for the call: writable for `recvfrom`, readable for
/// `sendto`.
#[inline]
unsafe fn transfer(
    call: libc::c_long,
    fd: RawFd,
    ptr: *mut libc::c_void,
    len: usize,
    flags: libc::c_int,
) -> io::Result<usize> {
    // SAFETY: the caller's contract covers `ptr`; the null address and null length (zero
    // for `sendto`'s by-value length) ask for no peer address, as `recv` and `send` do.
    syscall!(syscall(
        call,
        fd,
        ptr,
        len,
        flags,
        std::ptr::null_mut::<libc::sockaddr>(),
        std::ptr::null_mut::<libc::socklen_t>()
    ))
    .map(|n| n as usize)
}

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

/// Which way [`rw_nowait`] moves bytes.
#[derive(Clone, Copy)]
pub(crate) enum Dir {
    Read,
    Write,
}

/// One positional `preadv2`/`pwritev2` with `RWF_NOWAIT`, for an op's
/// [`try_inline`](crate::driver::UringOp::try_inline) (and its first try on the epoll
/// backend): the count, or `None` where the kernel
/// would have to wait (pages not cached, dirty-page throttling) or refuses (a file that
/// cannot seek; no NOWAIT support, e.g. buffered writes on ext4). The op then goes through
/// the ring, which reports its own result. `enabled` is the file's switch for this
/// direction: off, nothing is tried; `EOPNOTSUPP` turns it off for good.
///
/// # Safety
/// `ptr` points to `len` bytes that stay valid for the call: writable for `Dir::Read`,
/// initialised for `Dir::Write`.
pub(crate) unsafe fn rw_nowait(
    fd: RawFd,
    enabled: &Cell<bool>,
    dir: Dir,
    ptr: *mut u8,
    len: usize,
    offset: u64,
) -> Option<u32> {
    let iov = libc::iovec {
        iov_base: ptr.cast(),
        iov_len: len,
    };
    // SAFETY: `iov` describes the caller's `len` bytes (see the contract above) and lives on
    // this frame for the call.
    unsafe { rwv_nowait(fd, enabled, dir, &iov, 1, offset) }
}

/// [`rw_nowait`] of the `count` buffers an iovec array describes (`preadv2`/`pwritev2`).
///
/// # Safety
/// `iov` points to `count` iovecs, each describing memory valid for the call: writable for
/// `Dir::Read`, initialised for `Dir::Write`.
pub(crate) unsafe fn rwv_nowait(
    fd: RawFd,
    enabled: &Cell<bool>,
    dir: Dir,
    iov: *const libc::iovec,
    count: usize,
    offset: u64,
) -> Option<u32> {
    if !enabled.get() {
        return None;
    }
    let (offset, flags, count) = (offset as libc::off_t, libc::RWF_NOWAIT, count as i32);
    // SAFETY: the caller's contract: `iov` is `count` iovecs of memory valid for the call.
    let res = match dir {
        Dir::Read => syscall!(preadv2(fd, iov, count, offset, flags)),
        Dir::Write => syscall!(pwritev2(fd, iov, count, offset, flags)),
    };
    match res {
        Ok(n) => Some(n as u32),
        Err(e) => {
            if e.raw_os_error() == Some(libc::EOPNOTSUPP) {
                enabled.set(false); // the file system never will: stop paying for the try
            }
            None
        }
    }
}

/// One positional `pread` (`Dir::Read`) or `pwrite` (`Dir::Write`): the blocking call of a
/// file op on the epoll backend's thread pool.
///
/// # Safety
/// `ptr` points to `len` bytes that stay valid for the call: writable for `Dir::Read`,
/// initialised for `Dir::Write`.
pub(crate) unsafe fn rw_at(
    fd: RawFd,
    dir: Dir,
    ptr: *mut u8,
    len: usize,
    offset: u64,
) -> io::Result<u32> {
    let offset = offset as libc::off64_t;
    // SAFETY: the caller's contract: `ptr` is valid for `len` bytes for the call.
    let n = match dir {
        Dir::Read => syscall!(pread64(fd, ptr.cast(), len, offset))?,
        Dir::Write => syscall!(pwrite64(fd, ptr.cast(), len, offset))?,
    };
    Ok(n as u32)
}

/// One positional `preadv` (`Dir::Read`) or `pwritev` (`Dir::Write`) of the `count`
/// buffers an iovec array describes: the blocking call of a vectored file op on the epoll
/// backend's thread pool.
///
/// # Safety
/// `iov` points to `count` iovecs, each describing memory valid for the call: writable for
/// `Dir::Read`, initialised for `Dir::Write`.
pub(crate) unsafe fn rwv_at(
    fd: RawFd,
    dir: Dir,
    iov: *const libc::iovec,
    count: usize,
    offset: u64,
) -> io::Result<u32> {
    let (offset, count) = (offset as libc::off64_t, count as i32);
    // SAFETY: the caller's contract: `iov` is `count` iovecs of memory valid for the call.
    let n = match dir {
        Dir::Read => syscall!(preadv64(fd, iov, count, offset))?,
        Dir::Write => syscall!(pwritev64(fd, iov, count, offset))?,
    };
    Ok(n as u32)
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

/// The running kernel's (major, minor) version, from `uname(2)`.
pub(crate) fn kernel_version() -> Option<(u32, u32)> {
    // SAFETY: `utsname` is plain bytes; all-zero is a valid value for uname to overwrite.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `uts` is a live utsname for uname to fill.
    syscall!(uname(&mut uts)).ok()?;
    // SAFETY: uname NUL-terminates `release`, which lives in `uts` for this borrow.
    let release = unsafe { std::ffi::CStr::from_ptr(uts.release.as_ptr()) };
    parse_kernel_version(release.to_str().ok()?)
}

/// `"6.18.44-fc-v657"` → `(6, 18)`.
fn parse_kernel_version(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// How many connections wait in a listening TCP socket's accept queue: for a listener,
/// `TCP_INFO` reports the queue's length in `tcpi_unacked` (what `ss -lt` shows as Recv-Q).
/// `None` where it cannot be read (not a TCP listener).
pub(crate) fn accept_queue_len(fd: RawFd) -> Option<u32> {
    // SAFETY: `tcp_info` is plain integers; all-zero is a valid value to overwrite.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    let info_ptr: *mut libc::tcp_info = &mut info;
    // SAFETY: `info` and `len` are live and writable for the call, `len` its size.
    syscall!(getsockopt(
        fd,
        libc::IPPROTO_TCP,
        libc::TCP_INFO,
        info_ptr.cast(),
        &mut len
    ))
    .ok()?;
    const TCP_LISTEN: u8 = 10; // `TCP_LISTEN` of <netinet/tcp.h>'s state enum
    (info.tcpi_state == TCP_LISTEN).then_some(info.tcpi_unacked)
}

/// The soft `RLIMIT_NOFILE`: how many descriptors this process may hold.
pub(crate) fn nofile_limit() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a live rlimit for getrlimit to fill.
    syscall!(getrlimit(libc::RLIMIT_NOFILE, &mut lim)).ok()?;
    Some(lim.rlim_cur)
}

#[cfg(test)]
mod tests;
