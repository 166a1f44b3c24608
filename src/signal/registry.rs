//! The process-wide side of signals: which signals the process has claimed, and the
//! listeners each one goes to.
//!
//! Claiming a signal (once per process, at its first listener) installs [`forward`] as its
//! handler; every listener blocks it in the thread that creates it. A thread that does not
//! block it and receives it runs the handler, which blocks it in that thread from then on
//! and sends it to the process again: it ends up pending for the process, where a
//! listener's signalfd reads it. Whoever reads it hands it to every listener of that signal
//! ([`broadcast`]).

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::Waker;

use crate::sys::syscall;

/// One listener's share of a signal: how many deliveries it was handed, and the waker of
/// the task waiting for the next one.
#[derive(Default)]
pub(super) struct Listener {
    pub(super) delivered: AtomicU64,
    pub(super) waker: Mutex<Option<Waker>>,
}

#[derive(Default)]
struct Registry {
    /// Signals whose handler is installed (bit `n` for signal `n`).
    claimed: u128,
    listeners: Vec<(libc::c_int, Weak<Listener>)>,
}

fn registry() -> MutexGuard<'static, Registry> {
    static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
        claimed: 0,
        listeners: Vec::new(),
    });
    // Nothing here can be left half-done by a panic: poisoning is ignored.
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

/// Claims `signo` for the process (once) and blocks it in the calling thread; returns a new
/// listener of it.
pub(super) fn listen(signo: libc::c_int) -> io::Result<Arc<Listener>> {
    let mut reg = registry();
    block_here(signo)?;
    if reg.claimed & (1 << signo) == 0 {
        install(signo)?;
        reg.claimed |= 1 << signo;
    }
    let listener = Arc::new(Listener::default());
    reg.listeners.retain(|(_, l)| l.strong_count() > 0);
    reg.listeners.push((signo, Arc::downgrade(&listener)));
    Ok(listener)
}

/// `signo` arrived: every live listener of it gets one more delivery and is woken.
pub(super) fn broadcast(signo: libc::c_int) {
    let wakers: Vec<Waker> = {
        let mut reg = registry();
        reg.listeners.retain(|(_, l)| l.strong_count() > 0);
        reg.listeners
            .iter()
            .filter(|(s, _)| *s == signo)
            .filter_map(|(_, l)| l.upgrade())
            .filter_map(|l| {
                l.delivered.fetch_add(1, Ordering::AcqRel);
                l.waker.lock().unwrap_or_else(|e| e.into_inner()).take()
            })
            .collect()
    };
    // Outside the lock: a waker may run anything.
    crate::driver::wake_all(wakers);
}

/// The set holding only `signo`.
pub(super) fn sigset(signo: libc::c_int) -> io::Result<libc::sigset_t> {
    // SAFETY: an all-zero sigset_t is a valid value for sigemptyset to overwrite.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a live sigset_t.
    syscall!(sigemptyset(&mut set))?;
    // SAFETY: as above; `signo` was checked to be a valid signal number.
    syscall!(sigaddset(&mut set, signo))?;
    Ok(set)
}

/// Blocks `signo` in the calling thread (threads it spawns later inherit the mask).
fn block_here(signo: libc::c_int) -> io::Result<()> {
    let set = sigset(signo)?;
    // SAFETY: `set` is a live sigset_t; no old mask is asked for.
    let res = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    match res {
        0 => Ok(()),
        errno => Err(io::Error::from_raw_os_error(errno)),
    }
}

/// Installs [`forward`] as the handler of `signo`.
fn install(signo: libc::c_int) -> io::Result<()> {
    // SAFETY: an all-zero sigaction is a valid value to fill in.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = forward as *const () as libc::sighandler_t;
    action.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART | libc::SA_ONSTACK;
    // SAFETY: `sa_mask` is a live sigset_t inside `action`.
    syscall!(sigemptyset(&mut action.sa_mask))?;
    // SAFETY: `action` is a live, initialised sigaction; no old action is asked for.
    syscall!(sigaction(signo, &action, std::ptr::null_mut())).map(drop)
}

/// The handler of a claimed signal, run by a thread that does not block it: blocks it in
/// this thread from the handler's return on (the mask restored on return is the one in
/// `ctx`), and sends it to the process again, where a listener's signalfd reads it (or
/// another such thread forwards it too). Only async-signal-safe calls; `errno` is kept.
extern "C" fn forward(signo: libc::c_int, _info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: errno is thread-local; its location is valid for this thread's life.
    let errno = unsafe { *libc::__errno_location() };
    let uc = ctx.cast::<libc::ucontext_t>();
    if !uc.is_null() {
        // SAFETY: with SA_SIGINFO, `ctx` is the kernel's signal frame for this delivery,
        // writable by the handler. libc's `ucontext_t` (glibc, musl) lays out the kernel's
        // `struct ucontext` up to and including `uc_sigmask` on the Linux targets this
        // runs on (x86_64, aarch64), and `signo` is at most 64, so sigaddset touches only
        // the first word of the kernel's mask; sigaddset is async-signal-safe.
        unsafe { libc::sigaddset(&mut (*uc).uc_sigmask, signo) };
    }
    // SAFETY: getpid and kill are async-signal-safe and take no pointers. While the handler
    // runs, `signo` is blocked in this thread (no SA_NODEFER), so it goes elsewhere.
    unsafe { libc::kill(libc::getpid(), signo) };
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno };
}
