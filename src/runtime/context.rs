//! The per-thread runtime core, the thread-local pointer to it, and the loop.
//!
//! A loop turn: run ready tasks (at most `event_interval`) → one backend turn that submits
//! every queued SQE and reaps completions, parking only when nothing is runnable (timeout =
//! next timer deadline) → fire due timers.

use std::any::{Any, TypeId};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::pin::pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use slab::Slab;

use super::task::{TaskEntry, TaskHeader};
use super::timers::TimerStore;
use crate::driver::{DriverKind, Handle, OpStats, Park, Stats, WeakHandle};
use crate::sys;

pub(crate) type Task = super::cell::Task<TaskHeader>;

thread_local! {
    /// The core of the runtime whose `block_on` (or shutdown) is running on this thread.
    static CURRENT: Cell<*const Core> = const { Cell::new(std::ptr::null()) };
}

/// State reachable from any thread: the remote run queue and the wake-up channel.
pub(crate) struct Shared {
    remote: Mutex<Vec<Task>>,
    has_remote: AtomicBool,
    /// True while the runtime is (about to be) blocked in the backend: only then does a
    /// remote wake pay for an eventfd write.
    parked: AtomicBool,
    closed: AtomicBool,
    eventfd: OwnedFd,
    remote_wakeups: AtomicU64,
}

impl Shared {
    pub(crate) fn new() -> std::io::Result<Shared> {
        Ok(Shared {
            remote: Mutex::new(Vec::new()),
            has_remote: AtomicBool::new(false),
            parked: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            eventfd: sys::eventfd()?,
            remote_wakeups: AtomicU64::new(0),
        })
    }

    pub(crate) fn eventfd(&self) -> &OwnedFd {
        &self.eventfd
    }

    /// Whether the calling thread is inside this runtime.
    pub(crate) fn is_current(self: &Arc<Self>) -> bool {
        CURRENT
            .try_with(|c| {
                let core = c.get();
                // SAFETY: CURRENT is non-null only while an `Enter` guard is in scope,
                // created by `block_on`/`shutdown` from a `&Rc<Core>` they hold: the core
                // is alive.
                !core.is_null() && Arc::ptr_eq(unsafe { &(*core).shared }, self)
            })
            .unwrap_or(false)
    }

    /// The schedule function of every task spawned on its runtime's thread: the task goes
    /// to the local run queue when woken on that thread, else to the remote queue. A plain
    /// function (size zero): the runtime is the task's, in its header.
    pub(crate) fn schedule(task: Task) {
        let mut task = Some(task);
        // If the thread-local is already gone (thread exiting), `task` stays here and takes
        // the remote path: it must never be dropped on a thread that does not own it.
        let _ = CURRENT.try_with(|c| {
            // SAFETY: CURRENT is non-null only while an `Enter` guard is in scope, created by
            // `block_on`/`shutdown` from a `&Rc<Core>` they hold: the core is alive.
            if let Some(core) = unsafe { c.get().as_ref() } {
                let ours = task
                    .as_ref()
                    .is_some_and(|t| Arc::ptr_eq(&core.shared, &t.metadata().shared));
                if ours {
                    let task = task.take().expect("taken once");
                    core.run_queue.borrow_mut().push_back(task);
                }
            }
        });
        if let Some(task) = task {
            Shared::schedule_elsewhere(task);
        }
    }

    /// [`schedule`](Shared::schedule) of a task woken off its runtime's thread.
    #[cold]
    fn schedule_elsewhere(task: Task) {
        // A reference of our own: the task may run, finish and free its header on the
        // runtime's thread as soon as it is in the remote queue.
        let shared = task.metadata().shared.clone();
        if let Err(task) = shared.schedule_remote(task) {
            // The runtime is gone: the task's future was already dropped at shutdown on
            // the runtime's thread; leaking this handle keeps it from being touched here.
            std::mem::forget(task);
        }
    }

    /// The schedule function of a task spawned through a [`Handle`](super::Handle): like
    /// [`schedule`](Shared::schedule), but once the runtime is gone a task that never
    /// started is dropped here, so its handle reports it cancelled. That is sound because
    /// such a future is `Send` until its first poll (`task::spawn_remote`); one that started
    /// (only possible if a shutdown left it behind) is leaked as a local task is.
    pub(crate) fn schedule_send(task: Task) {
        if task.metadata().shared.is_current() {
            Shared::schedule(task);
            return;
        }
        // A reference of our own, as in `schedule`'s remote path.
        let shared = task.metadata().shared.clone();
        if let Err(task) = shared.schedule_remote(task) {
            if task.metadata().started.load(Ordering::Acquire) {
                std::mem::forget(task);
            } else {
                drop(task);
            }
        }
    }

    /// Whether the runtime has shut down: no task it receives will run.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Queues `task` for the runtime's thread, or gives it back when the runtime is gone.
    fn schedule_remote(&self, task: Task) -> Result<(), Task> {
        let mut queue = self.remote.lock().unwrap_or_else(|e| e.into_inner());
        if self.closed.load(Ordering::Acquire) {
            drop(queue);
            return Err(task);
        }
        queue.push(task);
        self.has_remote.store(true, Ordering::SeqCst);
        drop(queue);
        self.unpark();
        Ok(())
    }

    /// Wakes the runtime if it is parked; costs nothing when it is awake.
    pub(crate) fn unpark(&self) {
        if self.parked.swap(false, Ordering::SeqCst) {
            self.remote_wakeups.fetch_add(1, Ordering::Relaxed);
            sys::eventfd_signal(self.eventfd.as_raw_fd());
        }
    }

    fn take_remote(&self) -> Vec<Task> {
        self.has_remote.store(false, Ordering::SeqCst);
        std::mem::take(&mut *self.remote.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// The waker of the future passed to `block_on`.
struct MainWaker {
    woken: AtomicBool,
    shared: Arc<Shared>,
}

impl Wake for MainWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        // A swap, not a store: an RMW continues the release sequence of a wake from another
        // thread, so the loop's `swap(false)` that reads this one still synchronises with
        // that thread's wake (a plain store here could hide it: a lost wake-up).
        self.woken.swap(true, Ordering::SeqCst);
        if !self.shared.is_current() {
            self.shared.unpark();
        }
    }
}

/// Everything a runtime owns, reached through `CURRENT` from the futures it runs.
pub(crate) struct Core {
    pub(crate) shared: Arc<Shared>,
    /// The driver; op futures hold clones of the handle, never the core.
    driver: Handle,
    pub(crate) timers: RefCell<TimerStore>,
    run_queue: RefCell<VecDeque<Task>>,
    /// Every live task, so shutdown can reach tasks parked on anything.
    pub(crate) tasks: RefCell<Slab<TaskEntry>>,
    pub(crate) shutting_down: Cell<bool>,
    event_interval: usize,
    pub(crate) driver_reason: String,
    pub(crate) tasks_spawned: Cell<u64>,
    polls: Cell<u64>,
    parks: Cell<u64>,
    /// The wakers of the timers a turn fired, woken after the store's borrow ends.
    due: RefCell<Vec<Waker>>,
    /// Per-runtime values of the layers above, one per type ([`Core::local`]): the runtime
    /// stores them without knowing what they are. Dropped at shutdown, after the driver
    /// drained and before it goes.
    locals: RefCell<Vec<(TypeId, Rc<dyn Any>)>>,
}

impl Core {
    pub(crate) fn new(
        shared: Arc<Shared>,
        driver: Handle,
        event_interval: usize,
        driver_reason: String,
    ) -> Core {
        Core {
            shared,
            driver,
            timers: RefCell::new(TimerStore::default()),
            run_queue: RefCell::new(VecDeque::with_capacity(256)),
            tasks: RefCell::new(Slab::new()),
            shutting_down: Cell::new(false),
            event_interval: event_interval.max(1),
            driver_reason,
            tasks_spawned: Cell::new(0),
            polls: Cell::new(0),
            parks: Cell::new(0),
            due: RefCell::new(Vec::new()),
            locals: RefCell::new(Vec::new()),
        }
    }

    /// This runtime's value of type `T`, made by `init` the first time it is asked for (an
    /// error of `init` is returned and nothing is stored, so the next call tries again).
    /// The extension slot of the layers above: `net` keeps the buffer pool of its
    /// poll-based reads here, and the runtime never names its type.
    pub(crate) fn local<T: Any>(&self, init: impl FnOnce() -> io::Result<T>) -> io::Result<Rc<T>> {
        let id = TypeId::of::<T>();
        let find = |locals: &[(TypeId, Rc<dyn Any>)]| {
            let value = locals.iter().find(|(key, _)| *key == id)?.1.clone();
            value.downcast::<T>().ok()
        };
        if let Some(value) = find(&self.locals.borrow()) {
            return Ok(value);
        }
        // Not borrowed while `init` runs: it may ask for another local.
        let value = Rc::new(init()?);
        let mut locals = self.locals.borrow_mut();
        if let Some(first) = find(&locals) {
            return Ok(first); // `init` made one itself, by a nested call: that one stays
        }
        locals.push((id, value.clone()));
        Ok(value)
    }

    /// The driver's handle.
    pub(crate) fn driver(&self) -> &Handle {
        &self.driver
    }

    pub(crate) fn driver_kind(&self) -> DriverKind {
        self.driver.kind()
    }

    pub(crate) fn stats(&self) -> Stats {
        let mut stats = Stats {
            driver: self.driver_kind(),
            ops_in_flight: 0,
            submissions: 0,
            enters: 0,
            completions: 0,
            tasks_spawned: self.tasks_spawned.get(),
            tasks_alive: self.tasks.borrow().len(),
            polls: self.polls.get(),
            parks: self.parks.get(),
            remote_wakeups: self.shared.remote_wakeups.load(Ordering::Relaxed),
            timers: self.timers.borrow().len(),
            lost_completions: 0,
            fixed_files: 0,
            ops: OpStats::default(),
            completions_per_enter: [0; 7],
        };
        self.driver.fill_stats(&mut stats);
        stats
    }

    /// Runs `fut` to completion on this thread, driving every task and operation meanwhile.
    pub(crate) fn block_on<F: Future>(self: &Rc<Self>, fut: F) -> F::Output {
        let _enter = Enter::new(self);
        let _drive = self.driver.drive();
        let main = Arc::new(MainWaker {
            woken: AtomicBool::new(true),
            shared: self.shared.clone(),
        });
        let waker = Waker::from(main.clone());
        let mut cx = Context::from_waker(&waker);
        let mut fut = pin!(fut);
        loop {
            if main.woken.swap(false, Ordering::SeqCst) {
                self.polls.set(self.polls.get() + 1);
                self.driver.renew_budget();
                if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
                    return out;
                }
            }
            self.tick(&main.woken);
        }
    }

    /// One iteration of the loop past the `block_on` future's poll: the ready tasks, then
    /// one backend turn (parking if nothing is ready). Not generic, and the turn's whole
    /// chain (this runtime's part, the driver handle's, the backend's) is inlined into it:
    /// one call a turn instead of five, which is most of a turn's own cost when each
    /// carries little (a paced server turns twice per request).
    #[inline(never)]
    fn tick(&self, main_woken: &AtomicBool) {
        self.run_tasks();
        let idle = self.run_queue.borrow().is_empty() && !main_woken.load(Ordering::SeqCst);
        self.turn(idle, main_woken);
    }

    /// Runs at most `event_interval` ready tasks.
    #[inline(always)]
    fn run_tasks(&self) {
        if self.shared.has_remote.load(Ordering::Relaxed) {
            let remote = self.shared.take_remote();
            self.run_queue.borrow_mut().extend(remote);
        }
        for _ in 0..self.event_interval {
            let Some(task) = self.run_queue.borrow_mut().pop_front() else {
                break;
            };
            self.polls.set(self.polls.get() + 1);
            // Each poll has a budget of ops that complete at once (epoll), its own.
            self.driver.renew_budget();
            task.run();
        }
    }

    /// One backend turn, then the due timers.
    /// `main_woken` is the `block_on` future's flag: a wake of it from another thread must
    /// keep the runtime from parking (see `park_timeout`).
    #[inline(always)]
    fn turn(&self, idle: bool, main_woken: &AtomicBool) {
        let park = if idle {
            self.park_timeout(main_woken)
        } else {
            Park::No
        };
        let parked = matches!(park, Park::Until(_));
        if parked {
            self.parks.set(self.parks.get() + 1);
        }
        let res = self.driver.turn(park);
        if parked {
            self.shared.parked.store(false, Ordering::SeqCst);
        }
        if let Err(e) = res {
            panic!("proactor: the I/O driver failed: {e}");
        }
        if self.timers.borrow().is_empty() {
            return;
        }
        let mut due = std::mem::take(&mut *self.due.borrow_mut());
        {
            let mut timers = self.timers.borrow_mut();
            if !timers.is_empty() {
                timers.fire(Instant::now(), &mut due);
            }
        }
        // Woken outside the store's borrow: a waker may drop or poll a `Sleep`. Each is woken
        // even if another panics.
        let woken = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            crate::driver::wake_all(due.drain(..));
        }));
        *self.due.borrow_mut() = due;
        if let Err(payload) = woken {
            std::panic::resume_unwind(payload);
        }
    }

    /// Decides how long an idle runtime may block, and announces it is about to park.
    fn park_timeout(&self, main_woken: &AtomicBool) -> Park {
        let timeout = {
            let mut timers = self.timers.borrow_mut();
            if timers.is_empty() {
                None
            } else {
                timers.next_timeout(Instant::now())
            }
        };
        if timeout == Some(Duration::ZERO) {
            return Park::No;
        }
        self.shared.parked.store(true, Ordering::SeqCst);
        // A remote wake that raced with the store above either sees `parked` (and writes the
        // eventfd) or left its mark for these loads to see: a task in the remote queue, or
        // the `block_on` future's flag (both stored with SeqCst before the wake reads
        // `parked`).
        if self.shared.has_remote.load(Ordering::SeqCst) || main_woken.load(Ordering::SeqCst) {
            self.shared.parked.store(false, Ordering::SeqCst);
            return Park::No;
        }
        Park::Until(timeout)
    }

    /// Cancels every task, then every in-flight op, and waits for the kernel to finish them
    /// until `deadline`; past it, what the kernel may still touch is leaked. Runs once: a
    /// second call (the drop after `shutdown_timeout`) returns at once.
    pub(crate) fn shutdown(self: &Rc<Self>, deadline: Instant) {
        if self.shared.is_closed() {
            return;
        }
        let _enter = Enter::for_shutdown(self);
        self.shutting_down.set(true);
        loop {
            let wakers: Vec<Waker> = self.tasks.borrow().iter().map(|(_, t)| t.abort()).collect();
            wakers.into_iter().for_each(Waker::wake);
            let remote = self.shared.take_remote();
            self.run_queue.borrow_mut().extend(remote);
            loop {
                let Some(task) = self.run_queue.borrow_mut().pop_front() else {
                    break;
                };
                self.driver.renew_budget();
                task.run();
            }
            if self.tasks.borrow().is_empty() {
                break;
            }
        }
        self.driver.shutdown(deadline);
        let timers = std::mem::take(&mut *self.timers.borrow_mut());
        drop(timers);
        // The driver is drained but alive: a local that hands memory back to it (a buffer
        // ring it unregisters) does so now.
        let locals = std::mem::take(&mut *self.locals.borrow_mut());
        drop(locals);
        let remote = {
            let mut queue = self.shared.remote.lock().unwrap_or_else(|e| e.into_inner());
            self.shared.closed.store(true, Ordering::Release);
            std::mem::take(&mut *queue)
        };
        drop(remote);
    }
}

/// Marks `core` as this thread's current runtime for the guard's lifetime.
struct Enter {
    prev: *const Core,
}

impl Enter {
    fn new(core: &Rc<Core>) -> Enter {
        let prev = CURRENT.with(|c| c.replace(Rc::as_ptr(core)));
        if !prev.is_null() && prev != Rc::as_ptr(core) {
            CURRENT.with(|c| c.set(prev));
            panic!(
                "cannot run a proactor runtime from within another one on the same thread: \
                 spawn the work with proactor::spawn instead of nesting block_on"
            );
        }
        if prev == Rc::as_ptr(core) {
            panic!(
                "Runtime::block_on called from within the same runtime: \
                 .await the future instead of nesting block_on"
            );
        }
        Enter { prev }
    }

    /// Shutdown may run anywhere, even inside another runtime's `block_on`.
    fn for_shutdown(core: &Rc<Core>) -> Enter {
        let prev = CURRENT.with(|c| c.replace(Rc::as_ptr(core)));
        Enter { prev }
    }
}

impl Drop for Enter {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.prev));
    }
}

/// Runs `f` with this thread's current runtime core, or returns `None` outside one.
#[inline]
pub(crate) fn try_with_current<R>(f: impl FnOnce(&Core) -> R) -> Option<R> {
    CURRENT
        .try_with(|c| {
            // SAFETY: CURRENT is non-null only while an `Enter` guard is in scope, created by
            // `block_on`/`shutdown` from a `&Rc<Core>` they hold (so the core is alive),
            // and the guard outlives this call.
            unsafe { c.get().as_ref() }.map(f)
        })
        .ok()
        .flatten()
}

/// This thread's current runtime core; panics with the fix outside a runtime.
pub(crate) fn current() -> Rc<Core> {
    CURRENT.with(|c| {
        let core = c.get();
        assert!(
            !core.is_null(),
            "no proactor runtime on this thread: run this inside proactor::block_on(...) or \
             Runtime::block_on(...)"
        );
        // SAFETY: `core` came from `Rc::as_ptr` of a core an `Enter` guard keeps alive, so the
        // allocation is live; incrementing first makes the new `Rc` own its own count.
        unsafe {
            Rc::increment_strong_count(core);
            Rc::from_raw(core)
        }
    })
}

/// The driver of this thread's current runtime, for an op future's first poll; panics with
/// the fix outside a runtime.
#[inline]
pub(crate) fn current_driver() -> Handle {
    try_current_driver().unwrap_or_else(|| {
        panic!(
            "no proactor runtime on this thread: run this inside proactor::block_on(...) or \
             Runtime::block_on(...)"
        )
    })
}

/// Whether `core` is this thread's current runtime.
pub(crate) fn is_current(core: &Rc<Core>) -> bool {
    try_with_current(|c| std::ptr::eq(c, Rc::as_ptr(core))).unwrap_or(false)
}

/// Whether the current runtime's driver is `driver` (false outside a runtime).
#[inline]
pub(crate) fn is_current_driver(driver: &WeakHandle) -> bool {
    try_with_current(|core| core.driver.is(driver)).unwrap_or(false)
}

/// The driver of this thread's current runtime, or `None` outside one.
#[inline]
pub(crate) fn try_current_driver() -> Option<Handle> {
    try_with_current(|core| core.driver.clone())
}

/// The current runtime's value of type `T` ([`Core::local`]); an error outside a runtime.
pub(crate) fn local<T: Any>(init: impl FnOnce() -> io::Result<T>) -> io::Result<Rc<T>> {
    try_with_current(|core| core.local(init)).unwrap_or_else(|| {
        Err(io::Error::other(
            "no proactor runtime on this thread: run this inside proactor::block_on(...) or \
             Runtime::block_on(...)",
        ))
    })
}

/// Runs `f` on the current runtime's io_uring backend ([`Handle::with_uring`]); `None` on
/// epoll or outside a runtime.
pub(crate) fn with_uring<R>(f: impl FnOnce(&mut crate::driver::uring::Uring) -> R) -> Option<R> {
    try_with_current(|core| core.driver.with_uring(f)).flatten()
}
