//! [`spawn_blocking`]: runs blocking code on the bounded thread pool ([`pool`](crate::pool);
//! asyncio's `run_in_executor`), so the runtime's thread keeps running tasks and I/O
//! meanwhile. A job's result is handed to the awaiting task through a shared slot and the
//! task's waker, which reaches the runtime through its cross-thread queue.

use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread;

use crate::runtime::JoinHandle;

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
    let (outcome, job) = job(f);
    // Spawn first: outside a runtime this panics before any job is queued.
    let handle = crate::spawn(outcome);
    crate::pool::submit(crate::pool::Kind::User, job);
    handle
}

/// `f` as a job of the pool, and the future that gives its result (re-raising its panic,
/// which the task awaiting it turns into its `JoinError::Panic`).
pub(crate) fn job<F, R>(f: F) -> (impl Future<Output = R> + Send + 'static, crate::pool::Job)
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let slot = Arc::new(Mutex::new(Slot {
        result: None,
        waker: None,
    }));
    let outcome = Outcome(slot.clone());
    let fut = async move {
        match outcome.await {
            Ok(value) => value,
            // Re-raised inside the task, the panic becomes the task's `JoinError::Panic`.
            Err(payload) => panic::resume_unwind(payload),
        }
    };
    let job: crate::pool::Job = Box::new(move || {
        let result = panic::catch_unwind(AssertUnwindSafe(f));
        let waker = {
            let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
            slot.result = Some(result);
            slot.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    });
    (fut, job)
}
