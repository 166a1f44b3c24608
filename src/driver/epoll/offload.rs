//! File I/O of the epoll backend that may wait on a device ([`Mode::Offload`]): the op's
//! [`Blocking`] call runs on the thread pool, and its result comes back through a queue and
//! an eventfd in the epoll set, so the loop's thread never waits on a disk.
//!
//! The call names the op's memory and fd by raw pointer and number, so the op is kept (and
//! parked, if its future is dropped) in an in-flight table until the call's completion
//! arrives (`[parked-on-drop]`), exactly as an io_uring submission is; dropping the backend
//! waits for every call still running before that memory can go.
//!
//! [`Mode::Offload`]: crate::driver::Mode::Offload

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::driver::inflight::{InFlight, Outcome};
use crate::driver::op::{Blocking, Completion, Parked};
use crate::sys::{self, syscall};

/// How long dropping the backend waits for calls still running on the pool before it gives
/// up and leaks what they may touch, unless its shutdown was given a deadline of its own.
const DRAIN_LIMIT: Duration = Duration::from_secs(30);

/// Results of finished calls, pushed by pool threads.
struct Done {
    results: Mutex<Vec<(u64, io::Result<u32>)>>,
    /// Signalled after each push; in the backend's epoll set.
    eventfd: OwnedFd,
}

/// The calls handed to the thread pool.
pub(super) struct Offload {
    /// The ops whose call runs, with their memory (`[parked-on-drop]`).
    inflight: InFlight,
    done: Arc<Done>,
    /// Set when the drain gave up: the table (and every op parked in it) is leaked when
    /// the backend goes, never freed under a call that may still run.
    leaked: bool,
}

impl Offload {
    pub(super) fn new() -> io::Result<Offload> {
        Ok(Offload {
            inflight: InFlight::default(),
            done: Arc::new(Done {
                results: Mutex::new(Vec::new()),
                eventfd: sys::eventfd()?,
            }),
            leaked: false,
        })
    }

    /// The eventfd signalled when a call finishes.
    pub(super) fn eventfd(&self) -> RawFd {
        self.done.eventfd.as_raw_fd()
    }

    /// Calls running.
    pub(super) fn len(&self) -> usize {
        self.inflight.len()
    }

    /// Runs `call` on the pool; its completion wakes `waker`. Returns its token.
    pub(super) fn submit(&mut self, call: Blocking, waker: &Waker) -> u64 {
        let token = self.inflight.insert(waker);
        let done = self.done.clone();
        crate::pool::submit(
            crate::pool::Kind::Files,
            Box::new(move || {
                let result = catch_unwind(AssertUnwindSafe(|| call.run()))
                    .unwrap_or_else(|_| Err(io::Error::other("a blocking file call panicked")));
                lock(&done.results).push((token, result));
                sys::eventfd_signal(done.eventfd.as_raw_fd());
            }),
        );
        token
    }

    /// The completion of call `token`, once it finished.
    pub(super) fn poll(&mut self, token: u64, cx: &mut Context<'_>) -> Poll<Completion> {
        self.inflight.poll(token, cx)
    }

    /// The future of call `token` was dropped: its op waits here until the call finished.
    pub(super) fn ignore(&mut self, token: u64, op: Box<dyn Parked>) -> Option<Box<dyn Parked>> {
        self.inflight.ignore(token, op)
    }

    /// Delivers the results of finished calls; the ops of dropped futures go to `released`.
    pub(super) fn collect(&mut self, released: &mut Vec<Box<dyn Parked>>) -> usize {
        sys::eventfd_drain(self.eventfd());
        let results = std::mem::take(&mut *lock(&self.done.results));
        let n = results.len();
        for (token, result) in results {
            if let Outcome::Released(op) = self.inflight.complete(token, Completion::of(result)) {
                released.push(op);
            }
        }
        n
    }

    /// Waits for every call still running until `deadline` (the drop's: [`DRAIN_LIMIT`]);
    /// past it the parked ops are leaked rather than freed under a running call.
    pub(super) fn drain(&mut self, deadline: Instant, released: &mut Vec<Box<dyn Parked>>) {
        let limit = deadline.saturating_duration_since(Instant::now());
        let mut first = true;
        while self.inflight.pending().next().is_some() && !self.leaked {
            // Past the deadline only after one look at what already finished.
            if !std::mem::take(&mut first) && Instant::now() >= deadline {
                crate::trace::event!(
                    error,
                    pending = self.inflight.len(),
                    "blocking file calls still running at the shutdown deadline; leaking them"
                );
                eprintln!(
                    "proactor: {} blocking file calls did not finish within {limit:?} of \
                     shutdown; leaking their buffers instead of freeing memory they may use",
                    self.inflight.len()
                );
                self.leaked = true;
                return;
            }
            let mut pfd = libc::pollfd {
                fd: self.eventfd(),
                events: libc::POLLIN,
                revents: 0,
            };
            let left = deadline.saturating_duration_since(Instant::now());
            let wait = left.as_millis().min(100) as libc::c_int;
            // SAFETY: `pfd` is a live pollfd for the duration of the call.
            let _ = syscall!(poll(&mut pfd, 1, wait));
            self.collect(released);
        }
    }
}

impl Drop for Offload {
    fn drop(&mut self) {
        let mut released = Vec::new();
        self.drain(Instant::now() + DRAIN_LIMIT, &mut released);
        drop(released);
        if self.leaked {
            // Calls may still run on the pool: what they touch stays allocated forever.
            std::mem::forget(std::mem::take(&mut self.inflight));
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
