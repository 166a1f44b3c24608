//! asyncio's `run_coroutine_threadsafe`: a plain thread hands coroutines to the runtime's
//! loop through a [`Handle`] and waits for their results (the asyncio tour,
//! `docs/asyncio-tour.md`).
//!
//! ```text
//! cargo run --example asyncio_threadsafe
//! ```

use std::future::Future;
use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use proactor::runtime::Handle;
use proactor::{JoinError, JoinHandle};

async fn add(a: u32, b: u32) -> u32 {
    a + b
}

/// `concurrent.futures.Future.result(timeout)`: parks this thread (not a runtime's) until
/// the task is done. A `JoinHandle` is an ordinary future, awaitable from any thread.
fn result<T>(task: JoinHandle<T>, timeout: Duration) -> Result<T, JoinError> {
    struct Unpark(Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut task = pin!(task);
    let deadline = Instant::now() + timeout;
    loop {
        if let Poll::Ready(res) = task.as_mut().poll(&mut cx) {
            return res;
        }
        let now = Instant::now();
        if now >= deadline {
            task.abort(); // as `fut.cancel()` after a `TimeoutError`
            return Err(JoinError::Cancelled);
        }
        thread::park_timeout(deadline - now);
    }
}

/// Runs on another thread: submits coroutines to the loop and waits for their results.
fn worker(handle: Handle) -> Result<(), JoinError> {
    // future = asyncio.run_coroutine_threadsafe(add(1, 2), loop)
    let future = handle.spawn(add(1, 2));
    println!("add(1, 2) = {}", result(future, Duration::from_secs(5))?);

    // A coroutine that uses the runtime's own timers or sockets is not `Send`: send a
    // closure that makes it on the runtime's thread instead.
    let future = handle.spawn_pinned(|| async {
        proactor::time::sleep(Duration::from_millis(10)).await;
        "slept on the loop"
    });
    println!("{}", result(future, Duration::from_secs(5))?);
    Ok(())
}

fn main() -> io::Result<()> {
    proactor::block_on(async {
        // await loop.run_in_executor(None, worker, loop): the loop keeps running the
        // coroutines the worker submits while it waits for the worker.
        let handle = Handle::current();
        proactor::spawn_blocking(move || worker(handle)).await??;

        // From a thread of its own, the same.
        let handle = Handle::current();
        let thread = thread::spawn(move || worker(handle));
        proactor::spawn_blocking(move || thread.join().expect("the worker panicked")).await??;
        Ok(())
    })
}
