//! What a driver reports about itself: which backend it is ([`DriverKind`]), its counters
//! ([`Stats`], with the runtime's own: per kind of operation, [`OpKind`], and a histogram
//! of completions per kernel entry), and the io_uring fast paths it runs with
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
    /// Counters per kind of operation ([`OpStats::get`]).
    pub ops: OpStats,
    /// How many completions each driver turn that entered the kernel reaped: the number of
    /// turns whose `io_uring_enter` (or `epoll_wait`) was followed by 0, 1, 2-3, 4-7, 8-15,
    /// 16-31 and 32 or more completions (readiness events on epoll), in that order
    /// ([`Stats::COMPLETION_BUCKETS`], [`Stats::completion_bucket`]). A turn counts once
    /// even when it entered more than once (a retry after `EINTR`, a flush of an overflowed
    /// completion queue), so the sum is the number of turns that entered, at most
    /// [`enters`](Stats::enters) (which also counts the enters of
    /// [`Builder::file_batch`](crate::Builder::file_batch) between turns); a turn with
    /// nothing to submit or wait for does not enter and is not counted.
    pub completions_per_enter: [u64; 7],
}

impl Stats {
    /// The labels of [`completions_per_enter`](Stats::completions_per_enter)'s buckets.
    pub const COMPLETION_BUCKETS: [&'static str; 7] =
        ["0", "1", "2-3", "4-7", "8-15", "16-31", "32+"];

    /// The bucket of [`completions_per_enter`](Stats::completions_per_enter) that `n`
    /// completions fall in.
    pub fn completion_bucket(n: usize) -> usize {
        ((usize::BITS - n.leading_zeros()) as usize).min(6)
    }
}

/// The kinds of operation [`Stats::ops`] counts, by opcode (a multishot op counts under its
/// single-shot kind; the file reads and writes, `READ_FIXED` and `WRITE_FIXED` under `Read`
/// and `Write`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OpKind {
    /// `NOP` ([`nop`](crate::nop)).
    Nop,
    /// `ACCEPT`, single-shot or multishot.
    Accept,
    /// `CONNECT`.
    Connect,
    /// `RECV` (stream reads, datagrams), single-shot or multishot.
    Recv,
    /// `SEND` (stream writes, datagrams).
    Send,
    /// `SEND_ZC`.
    SendZc,
    /// `RECVMSG`: `recv_from`, `read_vectored`, `recv_msg`.
    RecvMsg,
    /// `SENDMSG`: `send_to`, `write_vectored`, `send_msg`.
    SendMsg,
    /// `SHUTDOWN`.
    Shutdown,
    /// `CLOSE`.
    Close,
    /// `READ` / `READ_FIXED`: file reads, signalfd reads.
    Read,
    /// `WRITE` / `WRITE_FIXED`: file writes.
    Write,
    /// `READV`: `read_vectored_at`.
    Readv,
    /// `WRITEV`: `write_vectored_at`.
    Writev,
    /// `FSYNC`.
    Fsync,
    /// `FTRUNCATE`.
    Ftruncate,
    /// `FALLOCATE`.
    Fallocate,
    /// `STATX`.
    Statx,
    /// `OPENAT`.
    Open,
    /// `MKDIRAT`.
    Mkdir,
    /// `RENAMEAT`.
    Rename,
    /// `UNLINKAT`.
    Unlink,
    /// `LINKAT`.
    Link,
    /// `SYMLINKAT`.
    Symlink,
    /// `SPLICE` (`sendfile` on io_uring).
    Splice,
    /// `POLL_ADD`.
    Poll,
    /// `sendfile(2)` (epoll only).
    SendFile,
    /// The `IORING_OP_LINK_TIMEOUT` of an op with a deadline (io_uring only): submitted
    /// with its op, completed when it fired (the op's deadline passed).
    LinkTimeout,
    /// An op of no kind above.
    Other,
}

impl OpKind {
    /// How many kinds there are.
    pub const COUNT: usize = OpKind::Other as usize + 1;

    /// Every kind, in [`OpStats`]' order.
    pub const ALL: [OpKind; OpKind::COUNT] = [
        OpKind::Nop,
        OpKind::Accept,
        OpKind::Connect,
        OpKind::Recv,
        OpKind::Send,
        OpKind::SendZc,
        OpKind::RecvMsg,
        OpKind::SendMsg,
        OpKind::Shutdown,
        OpKind::Close,
        OpKind::Read,
        OpKind::Write,
        OpKind::Readv,
        OpKind::Writev,
        OpKind::Fsync,
        OpKind::Ftruncate,
        OpKind::Fallocate,
        OpKind::Statx,
        OpKind::Open,
        OpKind::Mkdir,
        OpKind::Rename,
        OpKind::Unlink,
        OpKind::Link,
        OpKind::Symlink,
        OpKind::Splice,
        OpKind::Poll,
        OpKind::SendFile,
        OpKind::LinkTimeout,
        OpKind::Other,
    ];
}

/// The counters of one kind of operation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpCounts {
    /// Submissions: on io_uring the SQEs pushed for ops of this kind (a multishot op's
    /// re-arms too) and the ops that finished inline; on epoll the system call attempts
    /// (a retry after readiness is one more), as [`Stats::submissions`] counts them.
    pub submitted: u64,
    /// Completions delivered to ops of this kind (each of a multishot op's; not those of
    /// ops dropped before them, nor those of the sends `queue_write` leaves to the kernel,
    /// which nobody collects).
    pub completed: u64,
}

/// [`OpCounts`] per [`OpKind`]: a small fixed table, indexed by the kind.
///
/// ```
/// use proactor::runtime::OpKind;
/// proactor::block_on(async {
///     proactor::nop().await.unwrap();
///     let nops = proactor::runtime::stats().ops.get(OpKind::Nop);
///     assert_eq!((nops.submitted, nops.completed), (1, 1));
/// });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpStats([OpCounts; OpKind::COUNT]);

impl Default for OpStats {
    fn default() -> Self {
        OpStats([OpCounts::default(); OpKind::COUNT])
    }
}

impl OpStats {
    /// The counters of `kind`.
    pub fn get(&self, kind: OpKind) -> OpCounts {
        self.0[kind as usize]
    }

    /// Every kind with its counters, the kinds with none left out.
    pub fn iter(&self) -> impl Iterator<Item = (OpKind, OpCounts)> + '_ {
        OpKind::ALL
            .into_iter()
            .zip(self.0)
            .filter(|(_, c)| c.submitted > 0 || c.completed > 0)
    }

    /// One more submission of `kind`.
    #[inline]
    pub(crate) fn submitted(&mut self, kind: OpKind) {
        self.0[kind as usize].submitted += 1;
    }

    /// One more completion of `kind`.
    #[inline]
    pub(crate) fn completed(&mut self, kind: OpKind) {
        self.0[kind as usize].completed += 1;
    }
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
