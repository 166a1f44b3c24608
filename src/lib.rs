//! # proactor
//!
//! An async runtime for Linux built on io_uring: operations are submitted to a completion
//! ring, and a proactor loop reaps completions and wakes the task that owns each one. The
//! same API also runs on a readiness-based epoll variant driver.
//!
//! ```
//! fn main() -> std::io::Result<()> {
//!     proactor::block_on(async {
//!         let h = proactor::spawn(async { 40 + 2 });
//!         assert_eq!(h.await.unwrap(), 42);
//!         proactor::time::sleep(std::time::Duration::from_millis(10)).await;
//!         Ok(())
//!     })
//! }
//! ```
//!
//! The concepts map onto Python's asyncio: the event loop is a [`Runtime`]
//! (`run_until_complete` is [`block_on`]); a task is [`spawn`]ed and awaited through its
//! [`JoinHandle`]; `gather` and `as_completed` are [`JoinSet::join_all`] and
//! [`JoinSet::join_next`]; `asyncio.sleep` and `wait_for` are [`time::sleep`] and
//! [`time::timeout`]; `run_coroutine_threadsafe` is [`runtime::Handle::spawn`] (or
//! [`spawn_pinned`](runtime::Handle::spawn_pinned) for a future that uses the runtime's
//! I/O).
//!
//! # Layout
//! From the bottom up: each layer imports only those listed before it (`ci/test.sh` checks
//! that the driver and the ops never name the runtime).
//! - `sys.rs`: the `syscall!` helper through which every raw libc call goes (a leaf).
//! - [`buf`]: [`IoBuf`](buf::IoBuf) / [`IoBufMut`](buf::IoBufMut), the owned-buffer
//!   contract, and [`Slice`](buf::Slice) (a leaf); `buf/pool.rs`, the memory of a receive
//!   pool, sits on the driver, which registers its ring.
//! - `pool.rs`: the blocking thread pool (a leaf), for `spawn_blocking` and the epoll
//!   backend's file I/O.
//! - `driver/`: the backend contract, written once (`mod.rs`: the `Backend` trait, the
//!   `Engine` enum that is the one place the backends are told apart, the `Handle` the
//!   runtime and its op futures share, the memory-safety invariants); the op traits
//!   (`op.rs`: `OpCode`, `UringOp`, `ReadyOp`, `Completion`); the in-flight table and its
//!   `Lifecycle` (`inflight.rs`); the generation-carrying key of every table (`token.rs`);
//!   the fd handle (`fd.rs`); backend selection (`select.rs`); stats and ring features
//!   (`stats.rs`).
//!   - `driver/uring/`: the io_uring backend: ring setup (`setup.rs`), submission
//!     (`mod.rs`), enter, reap and drain (`enter.rs`), what an SQE may name on this ring
//!     (`sqe.rs`), registered file slots (`fixed.rs`), registered buffers (`bufs.rs`),
//!     linked timeouts (`linked.rs`).
//!   - `driver/epoll/`: the epoll backend: readiness retry (`mod.rs`), per-fd readiness
//!     state (`fd_state.rs`), waiting (`wait.rs`), file I/O on the thread pool
//!     (`offload.rs`).
//! - `op/`: one operation per file, each with its io_uring half and its readiness half:
//!   accept, accept_multi, connect, recv, recv_multi, recv_from, recv_vectored, recv_fds,
//!   send, send_queued (a whole-buffer send left to the kernel), send_zc, send_msg (a
//!   datagram to an address, or bytes with descriptors
//!   attached), send_vectored, shutdown, close, nop, read (of a signalfd); open, read_at
//!   (and `READ_FIXED`), write_at (and `WRITE_FIXED`), vectored_at (`READV`, `WRITEV`),
//!   fsync, ftruncate, fallocate, statx, mkdir, rename, unlink, link, symlink; splice,
//!   poll_add and sendfile (`sendfile(2)`, epoll only), for
//!   [`TcpStream::sendfile`](net::TcpStream::sendfile) (`net/sendfile.rs`). Ops on opcodes
//!   newer than those the ring requires fall back to their system
//!   call on the blocking pool where the ring answers `EINVAL` (`op/mod.rs`).
//! - [`io`] (`io/mod.rs`): the owned-buffer trait pair
//!   ([`AsyncReadRent`](io::AsyncReadRent), [`AsyncWriteRent`](io::AsyncWriteRent)) and the
//!   one copy of `read_exact` / `write_all`, for streams and positional I/O.
//! - `runtime/`: [`Runtime`], [`Builder`], the loop and its thread-local context
//!   (`context.rs`), the op futures (`op.rs`), the timer store (`timers.rs`), tasks
//!   ([`JoinHandle`], [`JoinSet`]) in cells of the runtime's own (`cell.rs`: one allocation
//!   a task, its state word, future, output and join waker), the cross-thread [`runtime::Handle`] (`handle.rs`) and
//!   thread-per-core ([`runtime::ThreadPerCore`]).
//! - [`signal`]: `ctrl_c` and Unix signals on a signalfd read through the driver
//!   (`op/read.rs`), shared by every listener of the process (`signal/registry.rs`).
//! - [`time`], [`net`], [`fs`], [`BufRing`](buf::BufRing) and
//!   [`FixedBufPool`](buf::FixedBufPool) (`buf/ring.rs`, `buf/fixed.rs`), `blocking.rs`
//!   ([`spawn_blocking`]): the public API on top. In `net/`: the socket types (`tcp.rs`,
//!   `tcp_socket.rs`, `udp.rs`, `unix.rs`, `split.rs`, over `socket.rs`), name lookup
//!   (`addr.rs`), the owned-buffer views the streams dereference to (`stream_io.rs`) and
//!   their `queue_write` (`queue_write.rs`), the descriptor traits of every socket (`raw.rs`), the multishot streams (`incoming.rs`),
//!   and the poll-based bridge (`compat/`: `read.rs`, `write.rs`, and the trait impls
//!   `tokio.rs`, `futures.rs`).
//! - `trace.rs`: the optional `tracing` feature's spans and events (a leaf; without the
//!   feature its macros expand to nothing).
//! - `#[proactor::main]` and `#[proactor::test]` (feature `macros`): the attributes, from
//!   the `proactor-macros/` member crate, which has no dependencies.
//! - Outside the library: `echo-server/` (a member crate, with its CLI dependencies), a
//!   thread-per-core TCP echo server on the public API; `examples/` (`echo_client` is its
//!   load generator, `download` a concurrent downloader over http:// and https://,
//!   `hyper_server` / `hyper_tokio_server`, `lines`, `compat_echo_server` on the bridge,
//!   the asyncio tour `asyncio_*`); `benches/` (`echo`, `http`, `ops`, `fs`, `sendfile`).
//! - `fuzz.rs`, built only under `cfg(fuzzing)` (`cargo fuzz`), hands the in-flight table
//!   to the fuzz targets in `fuzz/` (a crate outside the workspace).
//!
//! # Features
//! All off by default: the library's dependencies stay io-uring, slab, libc and socket2.
//! - `macros`: `#[proactor::main]` and `#[proactor::test]`.
//! - `tokio-io`: `tokio::io::{AsyncRead, AsyncBufRead, AsyncWrite}` for
//!   [`TcpStream`](net::TcpStream), [`UnixStream`](net::UnixStream) and
//!   [`OwnedReadHalf`](net::OwnedReadHalf) / [`OwnedWriteHalf`](net::OwnedWriteHalf), so
//!   hyper (through hyper-util's `TokioIo`), tokio-util codecs and tokio-rustls run on
//!   proactor unchanged (tokio with no default feature: only its I/O traits).
//! - `futures-io`: `futures_io::{AsyncRead, AsyncBufRead, AsyncWrite}` for the same types.
//! - `stream`: `futures_core::Stream` for [`Incoming`](net::Incoming),
//!   [`RecvStream`](net::RecvStream) and [`Interval`](time::Interval).
//!
//! The bridge is an io_uring path (multishot receives from a shared provided-buffer ring,
//! staged sends), not a readiness emulation; its buffering and cancellation rules are in
//! the [`net`] docs, and how both styles share one stream in the [`io`] docs.
//!
//! # An operation's life on both backends
//! ```text
//!  stream.read(buf).await ─ Op future (runtime/op.rs), first poll: Handle::poll_op
//!        │
//!        ├─ io_uring ── sqe(&Ring) ─ in-flight slot, user_data = key+generation ─ SQ
//!        │                 └ one io_uring_enter per turn submits it and reaps the CQE
//!        │              CQE ─ InFlight::complete ─ wake ─ poll again ─ complete(cqe)
//!        │
//!        └─ epoll ───── syscall() ─ done ──────────────────────────── complete(result)
//!                          ├ EAGAIN on a socket: waker on the fd's FdState; epoll_wait
//!                          │   event ─ wake ─ poll again ─ syscall() again
//!                          └ EAGAIN on a file (Offload): blocking() on the thread pool;
//!                              its result ─ in-flight slot ─ eventfd ─ wake ─ complete
//!
//!  future dropped while the backend holds the op ─ Handle::drop_op: parked in the slot
//!  (io_uring: plus one AsyncCancel) until the final completion frees it; a drop while the
//!  driver is busy waits in the handle for the next turn
//!
//!  stream.queue_write(buf) on io_uring ─ Handle::start_detached: parked in its slot from
//!  the submission, no waker, no cancel; CQE ─ orphan hook: the stream's queue is told ─
//!  released after the turn (the buffer freed, the op's box kept for the stream's next)
//! ```
//!
//! # Observability
//! [`runtime::stats`] (or [`Runtime::stats`]) gives the runtime's counters. Among them:
//! - [`Stats::ops`]: submissions and completions per kind of operation, an
//!   [`OpStats`](runtime::OpStats) table indexed by [`OpKind`](runtime::OpKind) (one array
//!   increment per op on the hot path: no allocation, no hashing). `OpStats::get(kind)`
//!   gives one kind's [`OpCounts`](runtime::OpCounts), `OpStats::iter` the kinds that ran.
//!   Both drivers count the same kinds; on epoll a submission is a system call attempt.
//! - [`Stats::completions_per_enter`]: a histogram of how many completions each loop turn
//!   that entered the kernel reaped (`io_uring_enter`; readiness events per `epoll_wait`),
//!   in the buckets [`Stats::COMPLETION_BUCKETS`].
//!
//! ```
//! use proactor::runtime::OpKind;
//! proactor::block_on(async {
//!     for _ in 0..3 {
//!         proactor::nop().await.unwrap();
//!     }
//!     let stats = proactor::runtime::stats();
//!     assert_eq!(stats.ops.get(OpKind::Nop).completed, 3);
//!     for (kind, counts) in stats.ops.iter() {
//!         println!("{kind:?}: {} submitted, {} completed", counts.submitted, counts.completed);
//!     }
//! });
//! ```
//!
//! With the `tracing` feature (off by default; it adds the `tracing` crate, without its
//! proc-macros; without it the instrumentation compiles to nothing) the runtime emits,
//! under the target `proactor`:
//! - spans (TRACE): `runtime.spawn` per spawned task (field `task.id`, no parent, as
//!   tokio's), entered each time the task is polled; `driver.turn` per driver turn (field
//!   `park`);
//! - INFO: the driver chosen and why (fields `driver`, `reason`);
//! - WARN: the fallback to epoll when io_uring cannot be set up; a registered file slot
//!   the kernel would not fill;
//! - DEBUG: the io_uring setup flags, fast paths and file table the kernel refused; ops
//!   that run on the blocking pool because the ring lacks their opcode;
//! - ERROR: io_uring requested but unavailable; completions the kernel dropped; failed
//!   registered slot updates; a failed `io_uring_enter`; a shutdown that had to leak.
//!
//! # Implementation
//! One runtime per thread. A loop turn runs ready tasks (at most `event_interval`), then
//! one `io_uring_enter` submits every queued SQE and, only when nothing is runnable, waits
//! for a completion, a cross-thread wake-up or the next timer deadline (`EXT_ARG`);
//! completions are reaped from shared memory, and due timers fire. File reads and writes
//! also go to the kernel every [`Builder::file_batch`] queued (default 4), without waiting
//! for the end of the turn: a disk gets them sooner in small groups.
//!
//! Memory safety rests on ownership: an operation owns its buffers and fd handle; if its
//! future is dropped while the kernel still owns the operation, those resources move into
//! the in-flight table and are freed only when the completion arrives. Dropping the runtime
//! cancels every operation once and waits for every completion before unmapping the ring
//! ([`Runtime::shutdown_timeout`] bounds that wait: past it the ring and what the kernel may
//! still touch are leaked, never freed).
//! An operation whose completion creates something (an accepted socket, descriptors received
//! over a Unix socket) releases it in `OpCode::complete_orphan` when its future was dropped,
//! so a cancelled accept or `recv_fds` leaks no fd.
//! `user_data` carries a generation, so a stale completion cannot complete a newer
//! operation that reused its slot. The invariants are named in `driver/mod.rs`
//! (`[heap-owned]`, `[parked-on-drop]`, `[generation]`, `[fd-outlives-op]`,
//! `[multishot-slot]`, `[drain-before-unmap]`, `[slot-lifetime]`, `[driver-owned]`), and
//! every `unsafe` block names the one it relies on.
//!
//! An operation may carry a deadline (the futures of [`net::future`]: `stream.read(buf)
//! .timeout(d)`): on io_uring it is submitted with `IOSQE_IO_LINK` and an
//! `IORING_OP_LINK_TIMEOUT` behind it (`driver/uring/linked.rs`), one submission whose
//! expiry the kernel enforces by cancelling the op; on epoll the runtime's timer gives up
//! its readiness wait. Either way its output is `TimedOut` with the buffers back.
//!
//! The epoll variant runs the same ops: a socket op tries its non-blocking system call and,
//! on `EAGAIN`, waits for its fd's readiness (one edge-triggered registration per fd) and
//! retries; a file op tries a read or write of the page cache that never waits
//! (`RWF_NOWAIT`) and otherwise runs its blocking call on the thread pool, so the loop's
//! thread never waits on a disk. [`Driver::Auto`] picks io_uring when the ring can be set
//! up and supports every opcode the runtime uses, else epoll (`Runtime::driver_reason` says
//! why); `PROACTOR_DRIVER=uring|epoll` overrides `Auto`, and `PROACTOR_LOG=debug` prints
//! the choice.
//!
//! Fast paths, each probed and left off where the kernel refuses it, all off with
//! [`Builder::fast_paths(false)`](Builder::fast_paths) or `PROACTOR_FAST_PATHS=off`, and
//! reported by [`Runtime::ring_features`]: `SINGLE_ISSUER` + `DEFER_TASKRUN` (completions
//! are posted only when the runtime enters the ring, so a busy loop is not interrupted,
//! and a parked one wakes once per batch), a registered ring fd for `io_uring_enter`,
//! multishot accept ([`TcpListener::incoming`](net::TcpListener::incoming)) and multishot
//! recv from a provided-buffer ring ([`TcpStream::recv_multi`](net::TcpStream::recv_multi);
//! the in-flight slot queues completions until one without `IORING_CQE_F_MORE`, bounded by
//! [`BufRing::max_queued`](buf::BufRing::max_queued)), registered buffers
//! ([`buf::FixedBufPool`]), zero-copy sends ([`net::TcpStream::send_zc`], whose buffer is
//! kept until the kernel's notification), registered file slots for sockets
//! ([`Builder::fixed_files`]; `driver/uring/fixed.rs`: a slot is filled by an update riding
//! ahead of the stream's first send or receive, named only once filled, and emptied before
//! the fd closes), and file reads and writes answered inline from the page cache
//! (`RWF_NOWAIT`, bounded per loop turn). Where the kernel lacks them, on epoll, or with
//! the fast paths off, the same APIs run single-shot behind the same calls.

#![warn(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod blocking;
pub mod buf;
mod driver;
pub mod fs;
// The in-flight table for the fuzz targets (`fuzz/`): only where `cargo fuzz` builds.
#[cfg(fuzzing)]
#[doc(hidden)]
#[path = "fuzz.rs"]
pub mod __fuzz;
pub mod io;
pub mod net;
mod op;
mod pool;
pub mod runtime;
pub mod signal;
mod sys;
pub mod time;
mod trace;

pub use blocking::spawn_blocking;
pub use runtime::op::nop;
pub use runtime::{
    block_on, spawn, Builder, Driver, DriverKind, JoinError, JoinHandle, JoinSet, RingFeatures,
    Runtime, Stats,
};

/// Runs an `async fn main` to completion on a new runtime (feature `macros`).
///
/// ```no_run
/// #[proactor::main]
/// async fn main() -> std::io::Result<()> {
///     proactor::time::sleep(std::time::Duration::from_millis(1)).await;
///     Ok(())
/// }
/// ```
///
/// expands to a `fn main` that builds a runtime with [`Builder`] and [`Driver::Auto`]
/// (`#[proactor::main(driver = "epoll")]`, or `"uring"`, picks the driver), panics with the
/// cause if it cannot be built, and runs the body with [`Runtime::block_on`]. The function
/// must be `async`, take no arguments and have no generic parameters; a wrong argument or
/// function is a compile error that says what is wrong:
///
/// ```compile_fail
/// #[proactor::main(driver = "kqueue")] // unknown driver "kqueue": expected "uring", ...
/// async fn main() {}
/// ```
///
/// ```compile_fail
/// #[proactor::main]
/// fn main() {} // the function must be `async fn`
/// ```
#[cfg(feature = "macros")]
#[doc(inline)]
pub use proactor_macros::main;

/// Runs an `async fn` test on a new runtime, or once on each driver (feature `macros`).
///
/// ```
/// #[proactor::test]
/// async fn on_the_default_driver() {
///     proactor::nop().await.unwrap();
/// }
///
/// #[proactor::test(driver = "epoll")]
/// async fn on_epoll() -> std::io::Result<()> {
///     assert_eq!(proactor::runtime::current_driver(), Some(proactor::DriverKind::Epoll));
///     proactor::nop().await
/// }
///
/// // Two tests, `on_both::uring` and `on_both::epoll`, as `on_each_driver!` makes.
/// #[proactor::test(each_driver)]
/// async fn on_both() {
///     proactor::time::sleep(std::time::Duration::from_millis(1)).await;
/// }
/// ```
///
/// Each expands to a `#[test]` function building its runtime with [`Builder`] on the named
/// driver ([`Driver::Auto`] when none is named), which fails the test with the cause if it
/// cannot be built. Other attributes (`#[should_panic]`, `#[ignore]`) go on the generated
/// test(s). With `each_driver`, the `async fn` stays as written and a module of its name
/// holds one test per driver. The function must be `async`, take no arguments and have no
/// generic parameters; mistakes are compile errors that say what is wrong:
///
/// ```compile_fail
/// #[proactor::test(each_driver, driver = "epoll")] // each_driver runs on every driver
/// async fn both() {}
/// ```
///
/// ```compile_fail
/// #[proactor::test(drivers = "epoll")] // unknown argument `drivers`
/// async fn typo() {}
/// ```
///
/// ```compile_fail
/// #[proactor::test]
/// async fn takes(x: u32) {} // the function cannot take arguments
/// ```
#[cfg(feature = "macros")]
#[doc(inline)]
pub use proactor_macros::test;

/// Tasks: spawning, handles, sets, and cooperative yielding.
pub mod task {
    pub use crate::blocking::spawn_blocking;
    pub use crate::runtime::{spawn, yield_now, AbortHandle, JoinError, JoinHandle, JoinSet};
}
