//! The runtime: [`Runtime`], its [`Builder`], [`block_on`], tasks and their handles.
//!
//! One runtime per thread. Its tasks need not be `Send`: they run on the thread that runs
//! the runtime. Wakers are `Send`, so a task can be woken from any thread; a remote wake
//! costs an eventfd write only while the runtime is parked.

mod cell;
pub(crate) mod context;
mod handle;
mod join_set;
pub(crate) mod op;
mod per_core;
pub(crate) mod task;
pub(crate) mod timers;

use std::fmt;
use std::future::Future;
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use crate::driver::{Driver, DriverKind, OpCounts, OpKind, OpStats, RingFeatures, Stats};
pub use handle::{Handle, TryCurrentError};
pub use join_set::JoinSet;
pub use per_core::{run_per_core, ThreadPerCore};
pub use task::{spawn, yield_now, AbortHandle, JoinError, JoinHandle};

use crate::driver::Config;
use context::{Core, Shared};

/// Configures and builds a [`Runtime`].
#[derive(Clone, Debug)]
pub struct Builder {
    config: Config,
    event_interval: usize,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            config: Config::default(),
            event_interval: 128,
        }
    }
}

impl Builder {
    /// A builder with the defaults: 1024 ring entries, 128 tasks per turn, `Driver::Auto`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Submission queue size of the io_uring (rounded up to a power of two, at least 4 and
    /// at most 32768; the completion queue gets four times as many). More entries batch more
    /// per system call.
    pub fn entries(&mut self, entries: u32) -> &mut Self {
        self.config.entries = entries;
        self
    }

    /// How many tasks run between two turns of the I/O driver.
    pub fn event_interval(&mut self, tasks: usize) -> &mut Self {
        self.event_interval = tasks;
        self
    }

    /// Which driver to use (default [`Driver::Auto`]: io_uring if the ring can be set up and
    /// supports every opcode the runtime uses, else epoll). Under `Auto` the environment
    /// variable `PROACTOR_DRIVER=uring|epoll|auto` decides instead (an invalid value makes
    /// [`build`](Builder::build) fail); an explicit choice here ignores it. `Uring` where
    /// io_uring is unavailable makes `build` fail with the cause.
    ///
    /// ```
    /// use proactor::{Driver, DriverKind, Runtime};
    /// let rt = Runtime::builder().driver(Driver::Epoll).build()?;
    /// assert_eq!(rt.driver(), DriverKind::Epoll);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn driver(&mut self, driver: Driver) -> &mut Self {
        self.config.driver = driver;
        self
    }

    /// Whether the io_uring fast paths are asked for: multishot accept
    /// ([`TcpListener::incoming`](crate::net::TcpListener::incoming)), multishot recv from
    /// provided-buffer rings ([`TcpStream::recv_multi`](crate::net::TcpStream::recv_multi)),
    /// and the ring features of [`RingFeatures`]; off, those APIs run their single-shot
    /// fallbacks, as on epoll.
    ///
    /// The default is on, unless the environment variable `PROACTOR_FAST_PATHS` is `off`
    /// (or `0`, `false`); an invalid value makes [`build`](Builder::build) fail. An
    /// explicit choice here ignores the variable. With them off the ring runs as plain as
    /// the kernel allows, which is how the test suite checks the fallbacks.
    ///
    /// ```
    /// use proactor::{Driver, Runtime};
    /// let rt = Runtime::builder().driver(Driver::Uring).fast_paths(false).build();
    /// if let Ok(rt) = rt {
    ///     assert!(!rt.ring_features().unwrap().defer_taskrun);
    /// }
    /// ```
    pub fn fast_paths(&mut self, on: bool) -> &mut Self {
        self.config.fast_paths = Some(on);
        self
    }

    /// How many registered file slots the ring sets up for sockets (default 4096, capped at
    /// the process's `RLIMIT_NOFILE`; 0 turns them off; fast paths only). A TCP or Unix
    /// stream takes a slot at its first send or receive and gives it back when closed; its
    /// sends, receives and shutdown then name the slot, which spares the kernel a file
    /// lookup per operation. Streams past the last free slot use their fd as usual.
    /// The table is set up on Linux 6.13 and later only: before, an emptied slot's socket
    /// is released only once every older request that named any slot completed, so an
    /// idle connection's pending receive could keep closed sockets open.
    /// [`RingFeatures::fixed_files`] tells whether the table was set up, and
    /// [`Stats::fixed_files`] how many slots are in use.
    pub fn fixed_files(&mut self, slots: u32) -> &mut Self {
        self.config.fixed_files = slots;
        self
    }

    /// How many file reads and writes ([`File::read_at`](crate::fs::File::read_at),
    /// [`write_at`](crate::fs::File::write_at) and their fixed-buffer forms) the io_uring
    /// driver queues before it submits them in the middle of a loop turn (default 4; 0
    /// submits them only at the end of the turn, with everything else). A storage device
    /// gets requests sooner in small groups than in one group per turn, for at most one
    /// extra `io_uring_enter` per `n` file operations; a single read in flight is
    /// submitted with the turn's wait, as before. No effect on epoll.
    pub fn file_batch(&mut self, n: u32) -> &mut Self {
        self.config.file_batch = n;
        self
    }

    /// How long the runtime's shutdown (its drop, or
    /// [`shutdown_timeout`](Runtime::shutdown_timeout)) lets the sends that
    /// [`queue_write`](crate::net::future::QueueWrite) left to the kernel finish before it
    /// cancels them: 10 s by default, and at most half the shutdown's time. Zero cancels
    /// them at once, as every other operation: for a server whose stop drops what its
    /// peers have not taken. No effect on epoll, which leaves no send to the kernel.
    pub fn queue_write_linger(&mut self, linger: Duration) -> &mut Self {
        self.config.queue_write_linger = linger;
        self
    }

    /// Builds the runtime on the current thread.
    pub fn build(&self) -> io::Result<Runtime> {
        let shared = Arc::new(Shared::new()?);
        let (driver, reason) = crate::driver::build(&self.config, shared.eventfd())?;
        let core = Core::new(shared, driver, self.event_interval, reason);
        Ok(Runtime {
            core: Rc::new(core),
        })
    }
}

/// A single-threaded runtime: an executor, an I/O driver and a timer store.
///
/// ```
/// let rt = proactor::Runtime::new()?;
/// let answer = rt.block_on(async { proactor::spawn(async { 42 }).await.unwrap() });
/// assert_eq!(answer, 42);
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// Dropping the runtime cancels its tasks, cancels every operation in flight and waits for
/// the kernel to complete them before the ring is unmapped.
pub struct Runtime {
    core: Rc<Core>,
}

impl Runtime {
    /// A runtime with the default configuration.
    pub fn new() -> io::Result<Runtime> {
        Builder::new().build()
    }

    /// A builder to configure a runtime.
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// Runs `fut` to completion on the current thread, running spawned tasks meanwhile.
    ///
    /// # Panics
    /// When called from inside a runtime's `block_on` on this thread.
    pub fn block_on<F: Future>(&self, fut: F) -> F::Output {
        self.core.block_on(fut)
    }

    /// Spawns a task on this runtime; it runs during `block_on`.
    pub fn spawn<F>(&self, fut: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        task::spawn_on(&self.core, fut)
    }

    /// A handle to this runtime, to spawn onto it from any thread (see [`Handle`]).
    pub fn handle(&self) -> Handle {
        Handle::new(self.core.shared.clone())
    }

    /// The driver this runtime runs on.
    pub fn driver(&self) -> DriverKind {
        self.core.driver_kind()
    }

    /// Why that driver was chosen: "io_uring available", "epoll requested (by
    /// PROACTOR_DRIVER)", or the fallback's cause, e.g. "io_uring unavailable
    /// (io_uring_setup: Operation not permitted); using epoll".
    pub fn driver_reason(&self) -> &str {
        &self.core.driver_reason
    }

    /// The io_uring fast paths this runtime runs with; `None` on epoll.
    pub fn ring_features(&self) -> Option<RingFeatures> {
        self.core.driver().with_uring(|u| u.features())
    }

    /// The runtime's counters.
    pub fn stats(&self) -> Stats {
        self.core.stats()
    }

    /// Shuts the runtime down, waiting at most `timeout` for the kernel: every task is
    /// cancelled (its future dropped, as on a drop of the runtime), every operation still in
    /// flight is cancelled, and their completions are awaited until `timeout` has passed.
    ///
    /// An operation the kernel has not finished by then (a read stuck in a device, a
    /// blocking file call of the epoll backend still running on the thread pool) is not
    /// waited for: what it may still write into (its buffers, and on io_uring the ring
    /// itself) is leaked, never freed under the kernel's feet, and a line on stderr says
    /// so. Dropping the runtime is `shutdown_timeout` with a limit of 30 s.
    ///
    /// Sends left to the kernel by `queue_write` (whose writers were told they are done)
    /// are not cancelled at once: they get up to 10 s (half of `timeout` at most; see
    /// [`Builder::queue_write_linger`]) to finish first.
    ///
    /// ```
    /// use std::time::Duration;
    /// let rt = proactor::Runtime::new()?;
    /// rt.spawn(proactor::time::sleep(Duration::from_secs(3600)));
    /// rt.block_on(proactor::task::yield_now());
    /// rt.shutdown_timeout(Duration::from_secs(1)); // the sleeping task is cancelled
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn shutdown_timeout(self, timeout: Duration) {
        let now = Instant::now();
        let deadline = now
            .checked_add(timeout)
            .unwrap_or_else(|| now + Duration::from_secs(365 * 24 * 3600));
        self.core.shutdown(deadline);
    }

    /// Shuts the runtime down without waiting for the kernel: `shutdown_timeout` with a
    /// zero timeout. Operations that cancel at once are freed; the others are leaked.
    pub fn shutdown_background(self) {
        self.shutdown_timeout(Duration::ZERO);
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.core.shutdown(Instant::now() + SHUTDOWN_LIMIT);
    }
}

/// How long dropping a runtime waits for the kernel to finish its cancelled operations.
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(30);

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("driver", &self.driver())
            .finish_non_exhaustive()
    }
}

/// Builds a default runtime, runs `fut` to completion on it, and drops the runtime.
///
/// # Panics
/// If no runtime can be built (use [`Runtime::new`] to handle that error), or when called
/// inside a runtime.
///
/// ```
/// fn main() -> std::io::Result<()> {
///     proactor::block_on(async {
///         let h = proactor::spawn(async { 40 + 2 });
///         assert_eq!(h.await.unwrap(), 42);
///         proactor::time::sleep(std::time::Duration::from_millis(10)).await;
///         Ok(())
///     })
/// }
/// ```
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let rt = Runtime::new().unwrap_or_else(|e| panic!("proactor: cannot build a runtime: {e}"));
    rt.block_on(fut)
}

/// The counters of the runtime running on this thread.
///
/// # Panics
/// Outside a runtime.
pub fn stats() -> Stats {
    context::current().stats()
}

/// The io_uring fast paths of the runtime running on this thread; `None` on epoll.
///
/// # Panics
/// Outside a runtime.
pub fn ring_features() -> Option<RingFeatures> {
    context::current().driver().with_uring(|u| u.features())
}

/// The driver of the runtime running on this thread, or `None` outside one.
pub fn current_driver() -> Option<DriverKind> {
    context::try_with_current(|core| core.driver_kind())
}
