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
//!   ([`JoinHandle`], [`JoinSet`]).
//! - `driver/`: the driver contract (`OpCode`, the `Op<T>` future, the `Backend` enum that
//!   dispatches between backends in one place), the in-flight table and its `Lifecycle`,
//!   and the io_uring backend.
//! - `op/`: one operation per file.
//! - [`fs`]: [`File`](fs::File), [`OpenOptions`](fs::OpenOptions) and directory calls,
//!   each a ring operation.
//! - [`net`]: TCP, UDP and Unix sockets (`TcpListener`, `TcpStream`, `UdpSocket`, ...).
//! - [`buf`]: [`IoBuf`](buf::IoBuf) / [`IoBufMut`](buf::IoBufMut), the owned-buffer contract.
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
//! `user_data` carries a generation, so a stale completion cannot complete a newer
//! operation that reused its slot. The invariants are listed in `driver/mod.rs`, and every
//! `unsafe` block names the one it relies on.

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
    block_on, spawn, Builder, Driver, DriverKind, JoinError, JoinHandle, JoinSet, Runtime, Stats,
};

/// Tasks: spawning, handles, sets, and cooperative yielding.
pub mod task {
    pub use crate::blocking::spawn_blocking;
    pub use crate::runtime::{spawn, yield_now, AbortHandle, JoinError, JoinHandle, JoinSet};
}
