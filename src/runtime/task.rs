//! Tasks: spawning, [`JoinHandle`], [`JoinError`], and [`yield_now`].

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};

use super::cell::{self, RawJoin};
use super::context::{self, Core, Shared};
use crate::trace;
use std::sync::Arc;

/// Per-task state stored inside the task's allocation (the cell's header, `cell.rs`).
pub(crate) struct TaskHeader {
    aborted: AtomicBool,
    /// Set at the task's first poll: from then on a task spawned from another thread may
    /// hold what is tied to the runtime's thread (see [`spawn_remote`]).
    pub(crate) started: AtomicBool,
    /// The runtime the task runs on, whose queue a wake hands it to.
    pub(crate) shared: Arc<Shared>,
}

impl TaskHeader {
    fn new(shared: &Arc<Shared>) -> TaskHeader {
        TaskHeader {
            aborted: AtomicBool::new(false),
            started: AtomicBool::new(false),
            shared: shared.clone(),
        }
    }
}

/// A live task in its runtime's registry: how shutdown reaches it, whatever it waits on.
pub(crate) struct TaskEntry {
    waker: Waker,
    /// Points into the task's allocation, which `waker` keeps alive.
    header: NonNull<TaskHeader>,
}

impl TaskEntry {
    /// Marks the task cancelled (it ends at its next poll) and returns its waker, to run it.
    pub(crate) fn abort(&self) -> Waker {
        // SAFETY: the header lives in the task allocation, which `self.waker` (a reference
        // to the task) keeps alive.
        unsafe { self.header.as_ref() }
            .aborted
            .store(true, Ordering::Release);
        self.waker.clone()
    }
}

/// The future a task runs: the user's future plus cancellation and panic capture.
struct TaskFuture<F> {
    fut: Option<F>,
    key: usize,
    /// The runtime that registered `key` (compared by address only, never dereferenced).
    owner: *const Shared,
    /// Set for a task spawned from another thread ([`spawn_remote`]): it registers itself in
    /// its runtime's registry at its first poll, on the runtime's thread.
    register: bool,
    /// The header in the task's cell, which outlives the future (it is dropped in place,
    /// before the cell is freed).
    header: NonNull<TaskHeader>,
    /// Entered while the task is polled (feature `tracing`; nothing without it).
    span: trace::Span,
}

impl<F> TaskFuture<F> {
    fn header(&self) -> &TaskHeader {
        // SAFETY: the cell holding the header outlives the future (see the field).
        unsafe { self.header.as_ref() }
    }

    /// The task is over: drop its future and forget it in the runtime's registry.
    fn finish(&mut self) {
        // Assigning drops the future in place (it is pinned: it must not move first).
        // Dropping it may run arbitrary user code, which may panic.
        let _ = catch_unwind(AssertUnwindSafe(|| self.fut = None));
        let key = std::mem::replace(&mut self.key, usize::MAX);
        if key != usize::MAX {
            context::try_with_current(|core| {
                if std::ptr::eq(Arc::as_ptr(&core.shared), self.owner) {
                    core.tasks.borrow_mut().try_remove(key);
                }
            });
        }
    }
}

impl<F> TaskFuture<F> {
    /// Enters the task in the registry of the runtime polling it (its own: only that
    /// runtime's thread runs it), so that shutdown reaches it like a task spawned there.
    /// Whether it was entered: not when polled outside its runtime or while it shuts down.
    fn register_here(&mut self, waker: &Waker) -> bool {
        let header = self.header;
        context::try_with_current(|core| {
            if !std::ptr::eq(Arc::as_ptr(&core.shared), self.owner) || core.shutting_down.get() {
                return false;
            }
            let entry = TaskEntry {
                waker: waker.clone(),
                header,
            };
            self.key = core.tasks.borrow_mut().insert(entry);
            core.tasks_spawned.set(core.tasks_spawned.get() + 1);
            true
        })
        .unwrap_or(false)
    }
}

impl<F: Future> Future for TaskFuture<F> {
    type Output = Result<F::Output, JoinError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `fut` is structurally pinned: it is never moved while it is `Some`, only
        // dropped in place by `finish`, and `TaskFuture` has no `Unpin` impl or other
        // projection.
        let this = unsafe { self.get_unchecked_mut() };
        let span = this.span.clone();
        let _entered = span.enter();
        this.header().started.store(true, Ordering::Release);
        // A task spawned from another thread enters its runtime's registry at its first
        // poll; one its runtime cannot take (shutting down) never runs.
        if std::mem::take(&mut this.register) && !this.register_here(cx.waker()) {
            this.finish();
            return Poll::Ready(Err(JoinError::Cancelled));
        }
        // Aborted by its handle, or by the runtime's shutdown (which aborts every task).
        if this.header().aborted.load(Ordering::Acquire) {
            this.finish();
            return Poll::Ready(Err(JoinError::Cancelled));
        }
        let Some(fut) = this.fut.as_mut() else {
            return Poll::Ready(Err(JoinError::Cancelled));
        };
        // SAFETY: see above; the future stays at this address until dropped.
        let fut = unsafe { Pin::new_unchecked(fut) };
        let out = match catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(out)) => Ok(out),
            Err(panic) => Err(JoinError::Panic(panic)),
        };
        this.finish();
        Poll::Ready(out)
    }
}

impl<F> Drop for TaskFuture<F> {
    fn drop(&mut self) {
        self.finish();
    }
}

/// The closure the cell calls with a pointer to the header inside the task allocation.
fn task_future<F>(
    fut: F,
    key: usize,
    owner: *const Shared,
) -> impl FnOnce(NonNull<TaskHeader>) -> TaskFuture<F> {
    move |header| TaskFuture {
        fut: Some(fut),
        key,
        owner,
        register: key == usize::MAX,
        header,
        span: trace::task_span(),
    }
}

/// Spawns `fut` on `core`.
pub(crate) fn spawn_on<F>(core: &Core, fut: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let mut tasks = core.tasks.borrow_mut();
    let entry = tasks.vacant_entry();
    let key = entry.key();
    let build = task_future(fut, key, Arc::as_ptr(&core.shared));
    // SAFETY: the schedule function hands the task to this runtime's queue, so the task is
    // only ever run (and its future only dropped) on the runtime's own thread; a task woken
    // after the runtime closed is leaked, never run or dropped elsewhere. The future and
    // output are 'static, so no borrow outlives the task.
    let (runnable, raw) =
        unsafe { cell::spawn(TaskHeader::new(&core.shared), Shared::schedule, build) };
    let task_entry = TaskEntry {
        waker: runnable.waker(),
        header: NonNull::from(raw.metadata()),
    };
    if core.shutting_down.get() {
        task_entry.abort(); // spawned while the runtime shuts down: it never runs
    }
    entry.insert(task_entry);
    drop(tasks);
    core.tasks_spawned.set(core.tasks_spawned.get() + 1);
    JoinHandle::start(runnable, raw)
}

/// Spawns `fut` on the runtime of `shared` from any thread: it goes through the runtime's
/// cross-thread queue and registers itself at its first poll. If the runtime is gone (or
/// goes before the task first runs), the task is dropped unrun, on whatever thread finds
/// the runtime gone, and its handle gives [`JoinError::Cancelled`].
///
/// # Safety
/// `fut` may be moved to and dropped on another thread until its first poll (it is `Send`
/// until then, e.g. a closure that makes the real future when first polled); after it, it
/// is only polled and dropped on the runtime's thread.
pub(crate) unsafe fn spawn_remote<F>(shared: &Arc<Shared>, fut: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: Send + 'static,
{
    let build = task_future(fut, usize::MAX, Arc::as_ptr(shared));
    // SAFETY: until its first poll the future may go to any thread (the caller's
    // contract), and the schedule function drops a task off the runtime's thread only when
    // it never started (`schedule_send`); otherwise the task is run only on the runtime's
    // thread. The output is `Send`; future and output are 'static, so no borrow outlives
    // the task.
    let (runnable, raw) =
        unsafe { cell::spawn(TaskHeader::new(shared), Shared::schedule_send, build) };
    JoinHandle::start(runnable, raw)
}

/// Spawns `fut` on the current runtime, detached; false (and `fut` dropped) outside one.
pub(crate) fn spawn_detached<F>(fut: F) -> bool
where
    F: Future<Output = ()> + 'static,
{
    context::try_with_current(|core| {
        // Never from inside the registry's borrow (a task's future dropped by the
        // registry): the spawn is given up rather than panicking.
        if core.tasks.try_borrow_mut().is_err() {
            return false;
        }
        drop(spawn_on(core, fut));
        true
    })
    .unwrap_or(false)
}

/// Spawns a task on the current thread's runtime and returns a handle to await its output.
///
/// The future need not be `Send`: it runs on this thread only. The task starts running at
/// the runtime's next turn, whether or not the handle is awaited; dropping the handle
/// detaches the task.
///
/// # Panics
/// Outside a runtime (`proactor::block_on` or `Runtime::block_on`).
///
/// ```
/// proactor::block_on(async {
///     let handle = proactor::spawn(async { 40 + 2 });
///     assert_eq!(handle.await.unwrap(), 42);
/// });
/// ```
#[track_caller]
pub fn spawn<F>(fut: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    match context::try_with_current(|core| spawn_on(core, fut)) {
        Some(handle) => handle,
        None => panic!(
            "proactor::spawn called outside a runtime: call it from inside \
             proactor::block_on(...) or Runtime::block_on(...)"
        ),
    }
}

/// An owned permission to await a spawned task's output, or to abort it.
///
/// Awaiting gives `Ok(output)`, or a [`JoinError`] when the task panicked or was aborted.
/// Dropping the handle detaches the task: it keeps running.
pub struct JoinHandle<T> {
    raw: RawJoin<Result<T, JoinError>, TaskHeader>,
    /// The output was given.
    done: bool,
}

impl<T> Unpin for JoinHandle<T> {}

impl<T> JoinHandle<T> {
    /// Schedules the new task's first run and wraps its handle.
    fn start(
        runnable: context::Task,
        raw: RawJoin<Result<T, JoinError>, TaskHeader>,
    ) -> JoinHandle<T> {
        runnable.schedule();
        JoinHandle { raw, done: false }
    }

    /// Cancels the task at its next await point. Awaiting the handle then gives
    /// [`JoinError::Cancelled`], unless the task had already finished. Works from any thread.
    ///
    /// ```
    /// use std::time::Duration;
    /// proactor::block_on(async {
    ///     let task = proactor::spawn(proactor::time::sleep(Duration::from_secs(3600)));
    ///     task.abort(); // its future is dropped, the sleep never ends it
    ///     assert!(task.await.unwrap_err().is_cancelled());
    /// });
    /// ```
    pub fn abort(&self) {
        self.raw.metadata().aborted.store(true, Ordering::Release);
        self.raw.wake();
    }

    /// Whether the task has finished (completed, panicked or been cancelled).
    pub fn is_finished(&self) -> bool {
        self.done || self.raw.is_finished()
    }

    /// A handle that can abort the task without owning its output.
    pub fn abort_handle(&self) -> AbortHandle {
        AbortHandle {
            abort: self.clone_for_abort(),
        }
    }

    fn clone_for_abort(&self) -> Box<dyn Fn() + Send + Sync> {
        let header = SendPtr(NonNull::from(self.raw.metadata()));
        let waker = self.raw.waker();
        Box::new(move || {
            let header = &header;
            // SAFETY: the waker clone keeps the task allocation, and so the header, alive.
            unsafe { header.0.as_ref() }
                .aborted
                .store(true, Ordering::Release);
            waker.wake_by_ref();
        })
    }
}

struct SendPtr(NonNull<TaskHeader>);
// SAFETY: the pointee is a `TaskHeader` (atomics and an `Arc<Shared>`, all `Sync`), shared
// safely between threads.
unsafe impl Send for SendPtr {}
// SAFETY: as above.
unsafe impl Sync for SendPtr {}

/// Aborts a task without owning its [`JoinHandle`].
pub struct AbortHandle {
    abort: Box<dyn Fn() + Send + Sync>,
}

impl AbortHandle {
    /// Cancels the task at its next await point (see [`JoinHandle::abort`]).
    pub fn abort(&self) {
        (self.abort)()
    }
}

impl fmt::Debug for AbortHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AbortHandle").finish_non_exhaustive()
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        assert!(!self.done, "JoinHandle polled after completion");
        let out = std::task::ready!(self.raw.poll(cx));
        self.done = true;
        // `None`: the runtime dropped the task without running it to the end.
        Poll::Ready(out.unwrap_or(Err(JoinError::Cancelled)))
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// Why a task produced no output.
pub enum JoinError {
    /// The task was aborted, or its runtime shut down first.
    Cancelled,
    /// The task panicked; the payload is kept for [`JoinError::into_panic`].
    Panic(Box<dyn Any + Send + 'static>),
}

impl JoinError {
    /// Whether the task was cancelled.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, JoinError::Cancelled)
    }

    /// Whether the task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self, JoinError::Panic(_))
    }

    /// The panic payload. Panics if the task was cancelled instead.
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        match self {
            JoinError::Panic(p) => p,
            JoinError::Cancelled => panic!("JoinError::into_panic on a cancelled task"),
        }
    }

    fn panic_message(&self) -> Option<&str> {
        match self {
            JoinError::Panic(p) => p
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| p.downcast_ref::<String>().map(String::as_str)),
            JoinError::Cancelled => None,
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Cancelled => f.write_str("JoinError::Cancelled"),
            JoinError::Panic(_) => write!(f, "JoinError::Panic({:?})", self.panic_message()),
        }
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self, self.panic_message()) {
            (JoinError::Cancelled, _) => f.write_str("task was cancelled"),
            (JoinError::Panic(_), Some(msg)) => write!(f, "task panicked: {msg}"),
            (JoinError::Panic(_), None) => f.write_str("task panicked"),
        }
    }
}

impl std::error::Error for JoinError {}

impl From<JoinError> for std::io::Error {
    fn from(e: JoinError) -> Self {
        std::io::Error::other(e.to_string())
    }
}

/// Yields to the runtime once: other ready tasks and I/O run before this task resumes.
pub async fn yield_now() {
    struct YieldNow(bool);
    impl Future for YieldNow {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if self.0 {
                return Poll::Ready(());
            }
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
    YieldNow(false).await
}

#[allow(dead_code)]
fn _assert_send() {
    fn is_send<T: Send + Sync>() {}
    is_send::<JoinHandle<u8>>();
    is_send::<AbortHandle>();
}
