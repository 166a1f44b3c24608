//! The runtime: [`Runtime`], its [`Builder`], [`block_on`], tasks and their handles.
//!
//! One runtime per thread. Its tasks need not be `Send`: they run on the thread that runs
//! the runtime. Wakers are `Send`, so a task can be woken from any thread; a remote wake
//! costs an eventfd write only while the runtime is parked.

pub(crate) mod context;
mod join_set;
mod per_core;
pub(crate) mod task;

use std::fmt;
use std::future::Future;
use std::io;
use std::rc::Rc;
use std::str::FromStr;
use std::sync::Arc;

pub use join_set::JoinSet;
pub use per_core::{run_per_core, ThreadPerCore};
pub use task::{spawn, yield_now, AbortHandle, JoinError, JoinHandle};

use crate::driver::{epoll::Epoll, uring::Uring, Backend};
use context::{Core, Shared};

/// Which I/O driver a runtime should use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Driver {
    /// io_uring where it can be set up and supports what the runtime needs, else epoll.
    #[default]
    Auto,
    /// io_uring, or an error when it is unavailable.
    Uring,
    /// The readiness-based epoll variant.
    Epoll,
}

/// The I/O driver a runtime runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DriverKind {
    /// Completion-based io_uring.
    Uring,
    /// Readiness-based epoll.
    Epoll,
}

impl fmt::Display for DriverKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DriverKind::Uring => "io_uring",
            DriverKind::Epoll => "epoll",
        })
    }
}

/// Counters of a runtime, for tests, benchmarks and monitoring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// The driver the runtime runs on.
    pub driver: DriverKind,
    /// Operations submitted whose final completion has not been collected (including
    /// dropped operations waiting for their completion). On epoll: operations waiting
    /// for readiness.
    pub ops_in_flight: usize,
    /// Submission queue entries pushed (operations, cancels and wake-up reads). On epoll:
    /// non-blocking system call attempts.
    pub submissions: u64,
    /// `io_uring_enter` (or `epoll_wait`) system calls made.
    pub enters: u64,
    /// Completion queue entries reaped (or readiness events handled).
    pub completions: u64,
    /// Tasks spawned since the runtime was built.
    pub tasks_spawned: u64,
    /// Tasks spawned and not yet finished.
    pub tasks_alive: usize,
    /// Task polls (including the `block_on` future).
    pub polls: u64,
    /// Times the runtime blocked in the driver with nothing to run.
    pub parks: u64,
    /// Wake-ups from other threads that had to write the runtime's eventfd.
    pub remote_wakeups: u64,
    /// Timers registered and not yet fired or dropped.
    pub timers: usize,
    /// Registered file slots in use by sockets ([`Builder::fixed_files`]); 0 on epoll.
    pub fixed_files: usize,
}

/// The io_uring fast paths a runtime runs with ([`Runtime::ring_features`]). Each is probed
/// when the ring is set up and left off where the kernel refuses it, or when fast paths are
/// turned off ([`Builder::fast_paths`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RingFeatures {
    /// `IORING_SETUP_SINGLE_ISSUER`: only the runtime's thread submits.
    pub single_issuer: bool,
    /// `IORING_SETUP_DEFER_TASKRUN`: completion work runs when the runtime asks for events,
    /// not by interrupting it.
    pub defer_taskrun: bool,
    /// `IORING_SETUP_COOP_TASKRUN` with `TASKRUN_FLAG` (on even without fast paths).
    pub coop_taskrun: bool,
    /// `io_uring_enter` on a registered ring index instead of the ring's fd.
    pub registered_ring_fd: bool,
    /// Zero-copy sends (`IORING_OP_SEND_ZC`) are available to
    /// [`TcpStream::send_zc`](crate::net::TcpStream::send_zc).
    pub send_zc: bool,
    /// A [`FixedBufPool`](crate::buf::FixedBufPool) may be registered with the ring
    /// (`IORING_REGISTER_BUFFERS`).
    pub fixed_buffers: bool,
    /// File reads and writes first try `preadv2`/`pwritev2` with `RWF_NOWAIT` and finish
    /// at once when the page cache can take them without waiting (at most 64 per loop
    /// turn); otherwise, and for `O_DIRECT` files, they go through the ring.
    pub inline_file_io: bool,
    /// A table of registered file slots for sockets ([`Builder::fixed_files`]).
    pub fixed_files: bool,
}

/// Configures and builds a [`Runtime`].
#[derive(Clone, Debug)]
pub struct Builder {
    entries: u32,
    event_interval: usize,
    driver: Driver,
    fast_paths: Option<bool>,
    fixed_files: u32,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            entries: 1024,
            event_interval: 128,
            driver: Driver::Auto,
            fast_paths: None,
            fixed_files: 4096,
        }
    }
}

impl Builder {
    /// A builder with the defaults: 1024 ring entries, 128 tasks per turn, `Driver::Auto`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Submission queue size of the io_uring (rounded up to a power of two; the completion
    /// queue gets four times as many). More entries batch more per system call.
    pub fn entries(&mut self, entries: u32) -> &mut Self {
        self.entries = entries;
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
        self.driver = driver;
        self
    }

    /// Whether the io_uring fast paths are asked for: multishot accept
    /// ([`TcpListener::incoming`](crate::net::TcpListener::incoming)), multishot recv from
    /// provided-buffer rings ([`TcpStream::recv_multi`](crate::net::TcpStream::recv_multi)),
    /// and the ring features of [`RingFeatures`]; off, those APIs run their single-shot
    /// fallbacks, as on epoll.
    ///
    /// The default is on, unless the environment variable `PROACTOR_FAST_PATHS` is `off` (or `0`, `false`); an
    /// invalid value makes [`build`](Builder::build) fail. An explicit choice here ignores
    /// the variable. With them off the ring runs as plain as the kernel allows, which is
    /// how the test suite checks the fallbacks.
    ///
    /// ```
    /// use proactor::{Driver, Runtime};
    /// let rt = Runtime::builder().driver(Driver::Uring).fast_paths(false).build();
    /// if let Ok(rt) = rt {
    ///     assert!(!rt.ring_features().unwrap().defer_taskrun);
    /// }
    /// ```
    pub fn fast_paths(&mut self, on: bool) -> &mut Self {
        self.fast_paths = Some(on);
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
        self.fixed_files = slots;
        self
    }

    /// Whether fast paths are on: the explicit choice, else `PROACTOR_FAST_PATHS`, else on.
    pub(crate) fn fast_paths_enabled(&self) -> io::Result<bool> {
        if let Some(on) = self.fast_paths {
            return Ok(on);
        }
        fast_paths_from_env()
    }

    /// Builds the runtime on the current thread.
    pub fn build(&self) -> io::Result<Runtime> {
        let shared = Arc::new(Shared::new()?);
        let (backend, reason) = self.backend(&shared)?;
        let core = Core::new(shared, backend, self.event_interval, reason);
        Ok(Runtime {
            core: Rc::new(core),
        })
    }

    /// Builds the backend `self.driver` asks for (`Auto`: `PROACTOR_DRIVER`, else io_uring
    /// with epoll as the fallback), with the reason it was chosen.
    fn backend(&self, shared: &Shared) -> io::Result<(Backend, String)> {
        let (driver, origin) = match self.driver {
            Driver::Auto => match driver_from_env()? {
                Some(driver) => (driver, format!(" by {DRIVER_ENV}")),
                None => (Driver::Auto, String::new()),
            },
            driver => (driver, String::new()),
        };
        let fast = self.fast_paths_enabled()?;
        let uring = || -> io::Result<Backend> {
            let wake = shared.eventfd().try_clone()?;
            Ok(Backend::Uring(
                Uring::new(self.entries, wake, fast, self.fixed_files)?.with_fast_paths(fast),
            ))
        };
        let epoll = || -> io::Result<Backend> {
            let wake = shared.eventfd().try_clone()?;
            Ok(Backend::Epoll(Epoll::new(wake)?))
        };
        let (backend, reason) = match driver {
            Driver::Uring => uring()
                .map(|b| (b, format!("io_uring requested{origin}")))
                .map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!("io_uring is unavailable ({e}); Driver::Auto would use epoll"),
                    )
                })?,
            Driver::Epoll => (epoll()?, format!("epoll requested{origin}")),
            Driver::Auto => match uring() {
                Ok(b) => (b, "io_uring available".to_string()),
                Err(e) => (epoll()?, format!("io_uring unavailable ({e}); using epoll")),
            },
        };
        if std::env::var_os(LOG_ENV).is_some_and(|v| v == "debug") {
            eprintln!("proactor: {} driver: {reason}", backend.kind());
        }
        Ok((backend, reason))
    }
}

/// `off` turns the io_uring fast paths off (see [`Builder::fast_paths`]).
const FAST_PATHS_ENV: &str = "PROACTOR_FAST_PATHS";
/// Overrides [`Driver::Auto`]: `uring`, `epoll` or `auto`.
const DRIVER_ENV: &str = "PROACTOR_DRIVER";
/// `debug` prints the driver choice to stderr when a runtime is built.
const LOG_ENV: &str = "PROACTOR_LOG";

/// What `PROACTOR_FAST_PATHS` asks for: on when unset.
fn fast_paths_from_env() -> io::Result<bool> {
    let Some(value) = std::env::var_os(FAST_PATHS_ENV) else {
        return Ok(true);
    };
    match value
        .to_str()
        .map(|v| v.trim().to_ascii_lowercase())
        .as_deref()
    {
        Some("on" | "1" | "true" | "") => Ok(true),
        Some("off" | "0" | "false") => Ok(false),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{FAST_PATHS_ENV}={value:?}: expected on or off"),
        )),
    }
}

/// The driver `PROACTOR_DRIVER` asks for; `None` when unset or `auto`.
fn driver_from_env() -> io::Result<Option<Driver>> {
    let Some(value) = std::env::var_os(DRIVER_ENV) else {
        return Ok(None);
    };
    let value = value.to_str().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{DRIVER_ENV} is not valid UTF-8: {value:?}"),
        )
    })?;
    match value.parse() {
        Ok(Driver::Auto) => Ok(None),
        Ok(driver) => Ok(Some(driver)),
        Err(e) => Err(io::Error::new(e.kind(), format!("{DRIVER_ENV}: {e}"))),
    }
}

impl FromStr for Driver {
    type Err = io::Error;

    /// Parses `auto`, `uring` (or `io_uring`) or `epoll`, ignoring case.
    ///
    /// ```
    /// use proactor::Driver;
    /// assert_eq!("epoll".parse::<Driver>().unwrap(), Driver::Epoll);
    /// assert!("kqueue".parse::<Driver>().is_err());
    /// ```
    fn from_str(s: &str) -> io::Result<Driver> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Driver::Auto),
            "uring" | "io_uring" | "io-uring" => Ok(Driver::Uring),
            "epoll" => Ok(Driver::Epoll),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("unknown driver {s:?}: expected uring, epoll or auto"),
            )),
        }
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
        self.core.driver_mut().ring_features()
    }

    /// The runtime's counters.
    pub fn stats(&self) -> Stats {
        self.core.stats()
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.core.shutdown();
    }
}

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
    context::current().driver_mut().ring_features()
}

/// The driver of the runtime running on this thread, or `None` outside one.
pub fn current_driver() -> Option<DriverKind> {
    context::try_with_current(|core| core.driver_kind())
}
