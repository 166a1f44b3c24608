//! [`spawn_blocking`]: runs blocking code on a bounded pool of threads (asyncio's
//! `run_in_executor`), so the runtime's thread keeps running tasks and I/O meanwhile.
//!
//! The pool is process-wide and lazy: a thread is started when a job arrives and no thread
//! is idle (up to [`MAX_THREADS`]; beyond that jobs queue), and a thread idle for
//! [`IDLE_TIMEOUT`] exits. A job's result is handed to the awaiting task through a shared
//! slot and the task's waker, which reaches the runtime through its cross-thread queue.

use std::collections::VecDeque;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::Duration;

use crate::runtime::JoinHandle;

/// Most threads the pool runs at once.
const MAX_THREADS: usize = 64;
/// How long an idle pool thread waits for a job before exiting.
const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

type Job = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    threads: usize,
    /// Threads waiting for a job and not yet claimed by a notification.
    idle: usize,
    /// Notifications sent and not yet taken by a waiting thread: each was taken off `idle`
    /// when sent, so a second job arriving meanwhile starts a thread instead of waiting
    /// behind one that is already claimed.
    notified: usize,
}

struct Pool {
    state: Mutex<State>,
    job_ready: Condvar,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool {
        state: Mutex::new(State::default()),
        job_ready: Condvar::new(),
    })
}

impl Pool {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Jobs run outside the lock and their panics are caught: poisoning cannot leave
        // the state inconsistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn submit(&'static self, job: Job) {
        let mut state = self.lock();
        state.queue.push_back(job);
        if state.idle > 0 {
            state.idle -= 1;
            state.notified += 1;
            drop(state);
            self.job_ready.notify_one();
            return;
        }
        if state.threads >= MAX_THREADS {
            return; // a busy thread takes it when done
        }
        state.threads += 1;
        drop(state);
        let spawned = thread::Builder::new()
            .name("proactor-block".into()) // within the 15 characters of comm
            .spawn(move || self.work());
        if spawned.is_err() {
            let mut state = self.lock();
            state.threads -= 1;
            if state.threads == 0 {
                // No thread can take the queue: run it here rather than never.
                let jobs = std::mem::take(&mut state.queue);
                drop(state);
                jobs.into_iter().for_each(|job| job());
            }
        }
    }

    /// A pool thread: runs jobs until none arrives for `IDLE_TIMEOUT`.
    fn work(&self) {
        let mut state = self.lock();
        loop {
            if let Some(job) = state.queue.pop_front() {
                drop(state);
                job(); // never unwinds: `spawn_blocking` catches the panic inside the job
                state = self.lock();
                continue;
            }
            state.idle += 1;
            loop {
                let (guard, timeout) = self
                    .job_ready
                    .wait_timeout(state, IDLE_TIMEOUT)
                    .unwrap_or_else(|e| e.into_inner());
                state = guard;
                if state.notified > 0 {
                    state.notified -= 1; // claimed: `submit` already took it off `idle`
                    break;
                }
                if timeout.timed_out() {
                    state.idle -= 1;
                    if state.queue.is_empty() {
                        state.threads -= 1;
                        return;
                    }
                    break;
                }
                // A spurious wake-up: keep waiting.
            }
        }
    }
}

/// Where a pool thread leaves a job's outcome for the task awaiting it.
struct Slot<R> {
    result: Option<thread::Result<R>>,
    waker: Option<Waker>,
}

/// The awaiting side of a job.
struct Outcome<R>(Arc<Mutex<Slot<R>>>);

impl<R> Future for Outcome<R> {
    type Output = thread::Result<R>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<thread::Result<R>> {
        let mut slot = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match slot.result.take() {
            Some(result) => Poll::Ready(result),
            None => {
                slot.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// Runs `f` on the blocking thread pool and returns a handle to await its result.
///
/// Use it for work that would stall the runtime's thread: blocking system calls with no
/// ring operation (`getaddrinfo`), CPU-heavy computation, or a blocking library. A panic in
/// `f` is reported as [`JoinError::is_panic`](crate::JoinError::is_panic). Aborting the handle
/// stops waiting for the result, not `f` itself, which runs to its end.
///
/// # Panics
/// Outside a runtime.
///
/// ```
/// proactor::block_on(async {
///     let addrs = proactor::spawn_blocking(|| {
///         std::net::ToSocketAddrs::to_socket_addrs("127.0.0.1:80").map(Vec::from_iter)
///     });
///     assert_eq!(addrs.await.unwrap().unwrap().len(), 1);
/// });
/// ```
#[track_caller]
pub fn spawn_blocking<F, R>(f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let slot = Arc::new(Mutex::new(Slot {
        result: None,
        waker: None,
    }));
    let outcome = Outcome(slot.clone());
    // Spawn first: outside a runtime this panics before any job is queued.
    let handle = crate::spawn(async move {
        match outcome.await {
            Ok(value) => value,
            // Re-raised inside the task, the panic becomes the task's `JoinError::Panic`.
            Err(payload) => panic::resume_unwind(payload),
        }
    });
    pool().submit(Box::new(move || {
        let result = panic::catch_unwind(AssertUnwindSafe(f));
        let waker = {
            let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
            slot.result = Some(result);
            slot.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }));
    handle
}
