//! [`Handle`]: a runtime reached from any thread (asyncio's `run_coroutine_threadsafe`).
//!
//! A handle holds only the runtime's cross-thread state ([`Shared`]: the remote run queue
//! and the eventfd that wakes a parked loop), never the loop itself, so it is `Send`,
//! `Sync` and cheap to clone, and it may outlive the runtime.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use super::context::{self, Shared};
use super::task::{self, JoinHandle};

/// A handle to a [`Runtime`](super::Runtime), usable from any thread: spawns `Send` futures
/// and blocking jobs onto it.
///
/// Tasks spawned through a handle from another thread go through the runtime's
/// cross-thread queue (waking its loop if it is parked) and run on the runtime's thread, at
/// its next turn inside a `block_on`; their [`JoinHandle`] can be awaited, or aborted, from
/// any thread.
///
/// A handle may outlive its runtime. Once the runtime is dropped, what is spawned through
/// the handle is dropped unrun, and its `JoinHandle` resolves at once to
/// [`JoinError::Cancelled`](super::JoinError::Cancelled): never a hang.
///
/// ```
/// use std::sync::mpsc;
/// let rt = proactor::Runtime::new()?;
/// let handle = rt.handle();
/// let (tx, rx) = mpsc::channel();
/// let producer = std::thread::spawn(move || {
///     // From a plain thread: the task runs on the runtime's thread.
///     let task = handle.spawn(async { 6 * 7 });
///     tx.send(task).unwrap();
/// });
/// producer.join().unwrap();
/// let task = rx.recv().unwrap();
/// assert_eq!(rt.block_on(task).unwrap(), 42);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct Handle {
    shared: Arc<Shared>,
}

impl Handle {
    pub(crate) fn new(shared: Arc<Shared>) -> Handle {
        Handle { shared }
    }

    /// The handle of the runtime running on this thread.
    ///
    /// # Panics
    /// Outside a runtime (use [`try_current`](Handle::try_current) to handle that case).
    ///
    /// ```
    /// proactor::block_on(async {
    ///     let handle = proactor::runtime::Handle::current();
    ///     let task = std::thread::spawn(move || handle.spawn(async { 1 })).join().unwrap();
    ///     assert_eq!(task.await.unwrap(), 1);
    /// });
    /// ```
    #[track_caller]
    pub fn current() -> Handle {
        match Handle::try_current() {
            Ok(handle) => handle,
            Err(e) => panic!("{e}"),
        }
    }

    /// The handle of the runtime running on this thread, or an error outside one.
    pub fn try_current() -> Result<Handle, TryCurrentError> {
        context::try_with_current(|core| Handle::new(core.shared.clone())).ok_or(TryCurrentError)
    }

    /// Spawns `fut` on the runtime from any thread; returns a handle to await (from any
    /// thread) or abort its output. The task runs on the runtime's thread, whenever it runs
    /// a `block_on`; called from that thread, this is [`spawn`](crate::spawn).
    ///
    /// The runtime's own I/O and timer futures belong to its thread (they are not `Send`):
    /// to run those, send a closure that makes them there with
    /// [`spawn_pinned`](Handle::spawn_pinned).
    ///
    /// When the runtime is gone, `fut` is dropped unrun and the handle gives
    /// [`JoinError::Cancelled`](super::JoinError::Cancelled).
    pub fn spawn<F>(&self, fut: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        // SAFETY: `fut` is `Send`: it may be moved and dropped anywhere, polled or not.
        self.spawn_any(fut, |fut| unsafe { task::spawn_remote(&self.shared, fut) })
    }

    /// Sends `create` to the runtime's thread and spawns the future it makes there: the
    /// future need not be `Send`, so it can use the runtime's sockets, files and timers
    /// (tokio-util's `spawn_pinned`). Only `create` and the output cross threads.
    ///
    /// When the runtime is gone, `create` is dropped uncalled and the handle gives
    /// [`JoinError::Cancelled`](super::JoinError::Cancelled).
    ///
    /// ```
    /// use std::time::Duration;
    /// let rt = proactor::Runtime::new()?;
    /// let handle = rt.handle();
    /// let task = std::thread::spawn(move || {
    ///     handle.spawn_pinned(|| async {
    ///         proactor::time::sleep(Duration::from_millis(1)).await; // not Send
    ///         "slept"
    ///     })
    /// })
    /// .join()
    /// .unwrap();
    /// assert_eq!(rt.block_on(task).unwrap(), "slept");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn spawn_pinned<C, Fut>(&self, create: C) -> JoinHandle<Fut::Output>
    where
        C: FnOnce() -> Fut + Send + 'static,
        Fut: Future + 'static,
        Fut::Output: Send + 'static,
    {
        // Until its first poll the task's future is `create` alone, which is `Send`; the
        // future `create` makes exists only on the runtime's thread.
        let fut = async move { create().await };
        // SAFETY: see above: `fut` is `Send` until its first poll.
        self.spawn_any(fut, |fut| unsafe { task::spawn_remote(&self.shared, fut) })
    }

    /// `fut` spawned locally when this is the runtime's thread, else by `remote`.
    fn spawn_any<F: Future + 'static>(
        &self,
        fut: F,
        remote: impl FnOnce(F) -> JoinHandle<F::Output>,
    ) -> JoinHandle<F::Output>
    where
        F::Output: 'static,
    {
        if self.shared.is_current() {
            let mut fut = Some(fut);
            let local = self.spawn_local(|| fut.take().expect("taken once"));
            if let Some(handle) = local {
                return handle;
            }
            return remote(fut.expect("not taken: no runtime here after all"));
        }
        remote(fut)
    }

    /// Spawns `create()` on this thread's runtime, if it is this handle's.
    fn spawn_local<Fut: Future + 'static>(
        &self,
        create: impl FnOnce() -> Fut,
    ) -> Option<JoinHandle<Fut::Output>>
    where
        Fut::Output: 'static,
    {
        context::try_with_current(|core| {
            Arc::ptr_eq(&core.shared, &self.shared).then(|| task::spawn_on(core, create()))
        })
        .flatten()
    }

    /// Runs `f` on the blocking thread pool and returns a handle to await its result from
    /// any thread, as [`spawn_blocking`](crate::spawn_blocking) does inside the runtime.
    ///
    /// When the runtime is gone, `f` is not run and the handle gives
    /// [`JoinError::Cancelled`](super::JoinError::Cancelled).
    ///
    /// ```
    /// let rt = proactor::Runtime::new()?;
    /// let handle = rt.handle();
    /// let job = std::thread::spawn(move || handle.spawn_blocking(|| 2 + 2)).join().unwrap();
    /// assert_eq!(rt.block_on(job).unwrap(), 4);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn spawn_blocking<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let (outcome, job) = crate::blocking::job(f);
        let handle = self.spawn(outcome);
        if !self.shared.is_closed() {
            crate::pool::submit(crate::pool::Kind::User, job);
        }
        handle
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("closed", &self.shared.is_closed())
            .finish_non_exhaustive()
    }
}

/// The error of [`Handle::try_current`] outside a runtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TryCurrentError;

impl fmt::Display for TryCurrentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "no proactor runtime on this thread: call Handle::current() inside \
             proactor::block_on(...) or Runtime::block_on(...), or pass a Handle from \
             Runtime::handle() to this thread",
        )
    }
}

impl std::error::Error for TryCurrentError {}

#[allow(dead_code)]
fn _assert_send() {
    fn is_send<T: Send + Sync>() {}
    is_send::<Handle>();
}
