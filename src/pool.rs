//! The blocking thread pool: a bounded, process-wide set of threads for calls that would
//! stall a runtime's thread. [`spawn_blocking`](crate::spawn_blocking) runs user closures
//! on it, and the epoll backend runs file I/O on it
//! ([`Mode::Offload`](crate::driver::Mode::Offload)).
//!
//! There are two such pools ([`Kind`]), each lazy: a thread is started when a job arrives
//! and no thread is idle (up to [`MAX_THREADS`]; beyond that jobs queue), and a thread idle
//! for [`IDLE_TIMEOUT`] exits.
//! A job must not unwind: each caller catches its own panics inside the job.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::thread;
use std::time::Duration;

/// Most threads the pool runs at once.
const MAX_THREADS: usize = 64;
/// How long an idle pool thread waits for a job before exiting.
const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// A job of the pool; it must not unwind.
pub(crate) type Job = Box<dyn FnOnce() + Send>;

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
    /// Its threads' name (at most 15 characters, the kernel's `comm`).
    name: &'static str,
}

/// Which of the two pools a job runs on: user closures and the epoll backend's file calls
/// have a pool each, so long user jobs never hold up file I/O (nor the drain that waits
/// for it).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Kind {
    /// [`spawn_blocking`](crate::spawn_blocking).
    User,
    /// The epoll backend's blocking file calls.
    Files,
}

fn pool(kind: Kind) -> &'static Pool {
    static USER: OnceLock<Pool> = OnceLock::new();
    static FILES: OnceLock<Pool> = OnceLock::new();
    let (cell, name) = match kind {
        Kind::User => (&USER, "proactor-block"),
        Kind::Files => (&FILES, "proactor-file"),
    };
    cell.get_or_init(|| Pool {
        state: Mutex::new(State::default()),
        job_ready: Condvar::new(),
        name,
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
            .name(self.name.into())
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
                job(); // never unwinds: every caller catches its panics inside the job
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

/// Runs `job` on a thread of pool `kind`.
pub(crate) fn submit(kind: Kind, job: Job) {
    pool(kind).submit(job);
}
