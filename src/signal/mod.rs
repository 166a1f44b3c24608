//! Signals through the ring: [`ctrl_c`] and [`unix::signal`] listen to Unix signals on a
//! signalfd whose reads are driver operations (`IORING_OP_READ` on io_uring, a readiness
//! wait and `read(2)` on epoll): no thread, and no self-pipe.
//!
//! ```no_run
//! # fn main() -> std::io::Result<()> {
//! proactor::block_on(async {
//!     println!("press Ctrl-C");
//!     proactor::signal::ctrl_c().await?;
//!     println!("bye");
//!     Ok(())
//! })
//! # }
//! ```
//!
//! # What listening does to the process
//! A signalfd only sees signals that are blocked, and the kernel hands a signal sent to the
//! process (`kill`, a terminal's Ctrl-C) to one thread that does not block it. So the first
//! listener of a signal **claims it for the process, for good**:
//! - it blocks the signal in the calling thread (threads started from there later inherit
//!   the mask: create listeners before starting the others, as thread-per-core servers do
//!   in `main`), and every later listener blocks it in its own thread;
//! - it installs a handler for any other thread: a thread that does not block the signal
//!   and receives it blocks it from then on and sends it back to the process, where it
//!   waits for a listener's read.
//!
//! From then on the signal's default action (ending the process, for `SIGINT` and
//! `SIGTERM`) no longer happens, even once every listener is dropped: a signal that arrives
//! while no listener exists waits in the kernel (pending; standard signals merge) and goes
//! to the next listeners created. Child processes started with `std::process::Command`
//! begin with an empty signal mask and default handlers, as usual.
//!
//! # Several listeners
//! Every listener of a signal receives each delivery, in every thread and runtime of the
//! process: each listener has its own signalfd and keeps a read of it in flight while its
//! `recv` is awaited; the first read to take the signal from the kernel hands it to all the
//! listeners of that signal, whose `recv` then completes. With thread-per-core, a `SIGTERM`
//! sent to the process thus reaches each thread's listener once, whichever thread the
//! kernel picked. Deliveries between two `recv` calls of a listener are reported once. A
//! listener dropped while its read is in flight (or whose runtime shuts down) may still
//! take a signal from the kernel before the read is cancelled: that read's completion hands
//! it to the other listeners all the same, so none is lost.
//!
//! A signal sent to one thread rather than to the process (`pthread_kill`, `raise`,
//! `tgkill`) reaches the listeners when that thread does not block it (its handler sends
//! it to the process) or when it is the thread of a listener whose read is in flight; one
//! sent to any other thread that blocks it stays pending there. Send signals to the
//! process (`kill(getpid(), sig)`).

pub mod unix;

mod registry;

use std::io;

/// Completes at the next `SIGINT` (Ctrl-C in a terminal) the process receives once this
/// future has been polled: its first poll creates the listener ([`unix::signal`] with
/// [`SignalKind::interrupt`](unix::SignalKind::interrupt)), which claims `SIGINT` for the
/// process. To catch a Ctrl-C that comes before that, create a listener earlier.
///
/// # Errors
/// The error of creating the listener.
pub async fn ctrl_c() -> io::Result<()> {
    let mut interrupts = unix::signal(unix::SignalKind::interrupt())?;
    match interrupts.recv().await {
        Some(()) => Ok(()),
        None => Err(io::Error::other("the SIGINT listener failed")),
    }
}
