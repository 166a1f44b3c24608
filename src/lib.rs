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
//! [`time::timeout`].
//!
//! # Layout
//! - `runtime/`: [`Runtime`], [`Builder`], the loop and its thread-local context, tasks
//!   ([`JoinHandle`], [`JoinSet`]), and thread-per-core
//!   ([`runtime::ThreadPerCore`]: one runtime per thread, optionally pinned).
//! - `driver/`: the driver contract (`OpCode`, the `Op<T>` future, the `Backend` enum that
//!   dispatches between backends in one place), the in-flight table and its `Lifecycle`,
//!   the io_uring backend, and the epoll backend (`driver/epoll.rs`).
//! - `op/`: one operation per file (nop; socket ops: accept, connect, recv, send,
//!   recvmsg, sendmsg, shutdown, close; file ops: open, read_at, write_at, fsync,
//!   ftruncate, statx, mkdir, rename, unlink).
//! - `echo-server/` (a member crate, with its CLI dependencies): a thread-per-core TCP echo
//!   server on the public API;
//!   `examples/echo_client.rs` is its load generator.
//! - [`fs`]: [`File`](fs::File), [`OpenOptions`](fs::OpenOptions) and directory calls,
//!   each a ring operation.
//! - [`net`]: TCP, UDP and Unix sockets (`TcpListener`, `TcpStream`, `UdpSocket`, ...).
//! - [`buf`]: [`IoBuf`](buf::IoBuf) / [`IoBufMut`](buf::IoBufMut), the owned-buffer contract,
//!   and [`BufRing`](buf::BufRing) (`buf/ring.rs`), a receive pool that is a provided-buffer
//!   ring on io_uring.
//! - `blocking.rs`: [`spawn_blocking`], a bounded pool of threads for blocking calls.
//! - [`time`]: sleep, timeout, interval, over one timer store per runtime.
//! - `sys.rs`: the `syscall!` helper through which every raw libc call goes.
//!
//! # Implementation
//! One runtime per thread. A loop turn runs ready tasks (at most `event_interval`), then
//! one `io_uring_enter` submits every queued SQE and, only when nothing is runnable, waits
//! for a completion, a cross-thread wake-up or the next timer deadline (`EXT_ARG`);
//! completions are reaped from shared memory, and due timers fire.
//!
//! Memory safety rests on ownership: an operation owns its buffers and fd handle; if its
//! future is dropped while the kernel still owns the operation, those resources move into
//! the in-flight table and are freed only when the completion arrives. Dropping the runtime
//! cancels every operation and waits for every completion before unmapping the ring.
//! An operation whose completion creates something (an accepted socket) releases it in
//! `OpCode::complete_orphan` when its future was dropped, so a cancelled accept leaks no fd.
//! `user_data` carries a generation, so a stale completion cannot complete a newer
//! operation that reused its slot. The invariants are listed in `driver/mod.rs`, and every
//! `unsafe` block names the one it relies on.
//!
//! The epoll variant runs the same ops: each tries its non-blocking system call and, on
//! `EAGAIN`, waits for its fd's readiness (one edge-triggered registration per fd) and
//! retries. [`Driver::Auto`] picks io_uring when the ring can be set up and supports every
//! opcode the runtime uses, else epoll (`Runtime::driver_reason` says why);
//! `PROACTOR_DRIVER=uring|epoll` overrides `Auto`, and `PROACTOR_LOG=debug` prints the
//! choice.
//!
//! Fast paths: [`TcpListener::incoming`](net::TcpListener::incoming) is one multishot accept
//! and [`TcpStream::recv_multi`](net::TcpStream::recv_multi) one multishot recv from a
//! provided-buffer ring; `driver/multi.rs` drives such an op (its in-flight slot queues
//! completions, `Lifecycle::Multi`, until one without `IORING_CQE_F_MORE`, and re-arms it;
//! a receive's queue is bounded by [`BufRing::max_queued`](buf::BufRing::max_queued): when
//! full, the op is cancelled and re-armed once its consumer took the queue).
//! Where the kernel lacks them, on epoll, or with [`Builder::fast_paths`]`(false)` /
//! `PROACTOR_FAST_PATHS=off`, the same ops run single-shot behind the same API.
//!
//! Fast paths, each probed and left off where the kernel refuses it, all off with
//! [`Builder::fast_paths(false)`](Builder::fast_paths) or `PROACTOR_FAST_PATHS=off`, and
//! reported by [`Runtime::ring_features`]: `SINGLE_ISSUER` + `DEFER_TASKRUN` (completions
//! are posted only when the runtime enters the ring, so a busy loop is not interrupted,
//! and a parked one wakes once per batch), a registered ring fd for `io_uring_enter`,
//! registered buffers ([`buf::FixedBufPool`]), zero-copy sends
//! ([`net::TcpStream::send_zc`], whose buffer is kept until the kernel's notification),
//! registered file slots for sockets ([`Builder::fixed_files`]; `driver/fixed.rs`: a slot is
//! filled by an update riding ahead of the stream's first send or receive, named only once
//! filled, and emptied before the fd closes), and file reads and writes answered inline
//! from the page cache (`RWF_NOWAIT`, bounded per loop turn).

#![warn(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod blocking;
pub mod buf;
mod driver;
mod fd;
pub mod fs;
pub mod net;
mod op;
pub mod runtime;
mod sys;
pub mod time;

pub use blocking::spawn_blocking;
pub use op::nop::nop;
pub use runtime::{
    block_on, spawn, Builder, Driver, DriverKind, JoinError, JoinHandle, JoinSet, RingFeatures,
    Runtime, Stats,
};

/// Tasks: spawning, handles, sets, and cooperative yielding.
pub mod task {
    pub use crate::blocking::spawn_blocking;
    pub use crate::runtime::{spawn, yield_now, AbortHandle, JoinError, JoinHandle, JoinSet};
}
