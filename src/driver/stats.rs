//! What a driver reports about itself: which backend it is ([`DriverKind`]), its counters
//! ([`Stats`], with the runtime's own), and the io_uring fast paths it runs with
//! ([`RingFeatures`]).

use std::fmt;

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
///
/// ```
/// let rt = proactor::Runtime::new()?;
/// rt.block_on(async {
///     proactor::spawn(async {}).await.unwrap();
///     proactor::nop().await
/// })?;
/// let stats = rt.stats();
/// assert_eq!(stats.driver, rt.driver());
/// assert_eq!(stats.tasks_spawned, 1);
/// assert_eq!(stats.tasks_alive, 0);
/// assert!(stats.submissions >= 1, "the nop");
/// assert_eq!(stats.ops_in_flight, 0);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// The driver the runtime runs on.
    pub driver: DriverKind,
    /// Operations submitted whose final completion has not been collected (including
    /// dropped operations waiting for their completion). On epoll: operations waiting
    /// for readiness, and file calls running on the thread pool.
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
    /// Times the kernel dropped io_uring completions (`EBADR`: it ran critically low on
    /// memory); the operations in flight then fail with an `OutOfMemory` error. 0 on epoll.
    pub lost_completions: u64,
    /// Registered file slots in use by sockets
    /// ([`Builder::fixed_files`](crate::Builder::fixed_files)); 0 on epoll.
    pub fixed_files: usize,
}

/// The io_uring fast paths a runtime runs with
/// ([`Runtime::ring_features`](crate::Runtime::ring_features)). Each is probed when the ring
/// is set up and left off where the kernel refuses it, or when fast paths are turned off
/// ([`Builder::fast_paths`](crate::Builder::fast_paths)).
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
    /// A table of registered file slots for sockets
    /// ([`Builder::fixed_files`](crate::Builder::fixed_files)).
    pub fixed_files: bool,
}

/// The io_uring fast paths ops may use on a backend; all off on epoll or when disabled.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FastPaths {
    /// `IORING_OP_ACCEPT` with `IORING_ACCEPT_MULTISHOT` (Linux 5.19).
    pub(crate) accept_multi: bool,
    /// Multishot `IORING_OP_RECV` from a provided-buffer ring (Linux 6.0).
    pub(crate) recv_multi: bool,
}
