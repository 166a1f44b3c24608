//! Unix signals: [`signal`] makes a [`Signal`] listener of one [`SignalKind`].

use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use super::registry::{self, Listener};
use crate::driver::SharedFd;
use crate::op::read::Read;
use crate::runtime::op::Op;
use crate::sys::syscall;

/// The size of one record a signalfd read gives (`struct signalfd_siginfo`).
const SIGINFO: usize = std::mem::size_of::<libc::signalfd_siginfo>();
/// Records one read takes at most.
const BATCH: usize = 8;

/// A kind of Unix signal, named as in tokio (`SignalKind::interrupt()` is `SIGINT`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SignalKind(libc::c_int);

impl SignalKind {
    /// Any signal by number; [`signal`] refuses those that cannot be listened to.
    pub const fn from_raw(signum: i32) -> SignalKind {
        SignalKind(signum)
    }

    /// The signal's number.
    pub const fn as_raw_value(&self) -> i32 {
        self.0
    }

    /// `SIGALRM`.
    pub const fn alarm() -> SignalKind {
        SignalKind(libc::SIGALRM)
    }

    /// `SIGCHLD`.
    pub const fn child() -> SignalKind {
        SignalKind(libc::SIGCHLD)
    }

    /// `SIGHUP`.
    pub const fn hangup() -> SignalKind {
        SignalKind(libc::SIGHUP)
    }

    /// `SIGINT`: Ctrl-C in a terminal.
    pub const fn interrupt() -> SignalKind {
        SignalKind(libc::SIGINT)
    }

    /// `SIGIO`.
    pub const fn io() -> SignalKind {
        SignalKind(libc::SIGIO)
    }

    /// `SIGPIPE`.
    pub const fn pipe() -> SignalKind {
        SignalKind(libc::SIGPIPE)
    }

    /// `SIGQUIT`.
    pub const fn quit() -> SignalKind {
        SignalKind(libc::SIGQUIT)
    }

    /// `SIGTERM`: what `kill` sends by default.
    pub const fn terminate() -> SignalKind {
        SignalKind(libc::SIGTERM)
    }

    /// `SIGUSR1`.
    pub const fn user_defined1() -> SignalKind {
        SignalKind(libc::SIGUSR1)
    }

    /// `SIGUSR2`.
    pub const fn user_defined2() -> SignalKind {
        SignalKind(libc::SIGUSR2)
    }

    /// `SIGWINCH`: the terminal's size changed.
    pub const fn window_change() -> SignalKind {
        SignalKind(libc::SIGWINCH)
    }
}

impl From<i32> for SignalKind {
    fn from(signum: i32) -> SignalKind {
        SignalKind(signum)
    }
}

impl fmt::Debug for SignalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SignalKind({})", self.0)
    }
}

/// Whether a listener may take `signo`; the error says why not.
fn check(signo: libc::c_int) -> io::Result<()> {
    let refuse = |why: &str| {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("cannot listen to signal {signo}: {why}"),
        ))
    };
    match signo {
        libc::SIGKILL | libc::SIGSTOP => refuse("it cannot be caught"),
        libc::SIGSEGV
        | libc::SIGBUS
        | libc::SIGFPE
        | libc::SIGILL
        | libc::SIGTRAP
        | libc::SIGSYS => refuse("it reports a fault of the thread that raised it"),
        // Below SIGRTMIN (32 and 33 with glibc): the C library's own (thread
        // cancellation, setxid).
        s if (32..libc::SIGRTMIN()).contains(&s) => refuse("the C library reserves it"),
        s if (1..=libc::SIGRTMAX()).contains(&s) => Ok(()),
        _ => refuse("no such signal"),
    }
}

/// Listens to signal `kind`: the returned [`Signal`]'s [`recv`](Signal::recv) completes
/// each time the process receives it. See the [module docs](crate::signal) for what
/// claiming a signal does to the process, and for how listeners share a signal.
///
/// It may be called anywhere (no runtime is needed until `recv` is awaited); call it early,
/// on the thread that starts the others, so that they inherit the blocked signal.
///
/// # Errors
/// `InvalidInput` for a signal that cannot be listened to: `SIGKILL`, `SIGSTOP`, the fault
/// signals (`SIGSEGV`, `SIGBUS`, `SIGFPE`, `SIGILL`, `SIGTRAP`, `SIGSYS`), the C library's
/// reserved real-time signals, and numbers that name no signal; the error of `signalfd(2)`.
///
/// ```
/// use proactor::signal::unix::{signal, SignalKind};
/// proactor::block_on(async {
///     let mut hangups = signal(SignalKind::hangup())?;
///     // SAFETY: kill takes no pointers.
///     unsafe { libc::kill(libc::getpid(), libc::SIGHUP) };
///     hangups.recv().await;
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn signal(kind: SignalKind) -> io::Result<Signal> {
    let signo = kind.0;
    check(signo)?;
    let listener = registry::listen(signo)?;
    let set = registry::sigset(signo)?;
    let flags = libc::SFD_NONBLOCK | libc::SFD_CLOEXEC;
    // SAFETY: `set` is a live sigset_t; -1 asks for a new signalfd.
    let raw = syscall!(signalfd(-1, &set, flags))?;
    // SAFETY: signalfd just returned this fd and nothing else owns it.
    let fd = SharedFd::new(unsafe { OwnedFd::from_raw_fd(raw) });
    Ok(Signal {
        kind,
        fd,
        listener,
        seen: 0,
        read: None,
    })
}

/// A listener of one signal, made by [`signal`]. Dropping it stops listening; the signal
/// stays claimed by the process.
pub struct Signal {
    kind: SignalKind,
    /// This listener's signalfd, read through the driver.
    fd: SharedFd,
    listener: Arc<Listener>,
    /// Deliveries already reported by `recv`.
    seen: u64,
    /// The read of the signalfd in flight, kept across `recv` calls.
    read: Option<Op<Read<Vec<u8>>>>,
}

impl Signal {
    /// Waits for the next delivery of the signal. Deliveries that arrive between two calls
    /// are reported once (as the kernel merges pending standard signals). `None` only if
    /// the signalfd fails, which it does not in practice.
    ///
    /// # Panics
    /// When awaited outside a runtime.
    pub async fn recv(&mut self) -> Option<()> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Polls for the next delivery (see [`recv`](Signal::recv)).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<()>> {
        loop {
            // Register first, then look: a delivery by another listener in between is seen.
            *lock(&self.listener.waker) = Some(cx.waker().clone());
            let delivered = self.listener.delivered.load(Ordering::Acquire);
            if delivered != self.seen {
                self.seen = delivered;
                return Poll::Ready(Some(()));
            }
            let fd = &self.fd;
            let read = self.read.get_or_insert_with(|| {
                let buf = Vec::with_capacity(SIGINFO * BATCH);
                // A read still in flight when this listener goes may take signals from the
                // kernel: they go to the other listeners all the same.
                Op::new(Read::new(fd, buf).on_orphan(deliver))
            });
            let (res, buf) = ready!(Pin::new(read).poll(cx));
            self.read = None;
            match res {
                Ok(_) => deliver(&buf),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                Err(_) => return Poll::Ready(None),
            }
        }
    }

    /// The signal this listener receives.
    pub fn kind(&self) -> SignalKind {
        self.kind
    }
}

/// Hands each signal a signalfd read returned (records of `signalfd_siginfo`) to every
/// listener of it.
#[allow(clippy::ptr_arg)] // the orphan hook of a read into a `Vec<u8>` takes `&Vec<u8>`
fn deliver(records: &Vec<u8>) {
    for record in records.chunks_exact(SIGINFO) {
        let signo = u32::from_ne_bytes([record[0], record[1], record[2], record[3]]);
        registry::broadcast(signo as libc::c_int);
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signal").field("kind", &self.kind).finish()
    }
}
