//! Completions the kernel dropped: with `IORING_FEAT_NODROP` the kernel keeps completions
//! that overflow the CQ in a list of its own, but when it cannot even allocate that list's
//! entries (critically low memory) it drops them and says so once, with `EBADR` from
//! `io_uring_enter`. Which ones were lost it does not say.
//!
//! So every op in flight at that moment becomes suspect and gets a probe: an async cancel
//! under a `user_data` of the driver's own ([`PROBE`]). What a probe proves depends on the op:
//! - A probe that finds the op cancels it; its final completion then comes.
//! - A probe that finds nothing (`ENOENT`) for an op still pending after every completion
//!   before the probe's was reaped proves that op's final completion lost, but only for an
//!   op that a cancel finds while the kernel holds anything of it
//!   ([`UringOp::CANCEL_FINDS`](crate::driver::UringOp::CANCEL_FINDS): sockets, pollable
//!   reads, no-ops): it completes with [`lost`] at once. For file I/O it proves nothing (the
//!   kernel may hold the op where a cancel does not look: waiting on a page lock, in the
//!   block layer, still writing the buffer), so such an op keeps its slot and its
//!   resources until a real completion arrives, however long that takes; the drain at
//!   shutdown leaks what never completes (`[drain-before-unmap]`). Nothing is freed or
//!   handed back before the kernel is done with it (`[parked-on-drop]`).
//! - The final completion of a suspect op ([`settle`]) is delivered as the kernel posted it
//!   (a single-shot op's only completion proves nothing of it was lost, and what it
//!   carries, an accepted fd or the bytes read, reaches its owner), except that the
//!   `ECANCELED` of a probe's cancel becomes [`lost`]; a multishot op's stream ends with
//!   [`lost`] after what came (one of its completions may have been the one dropped: no
//!   stream goes on as if nothing was missing).
//!
//! The driver's wake-up read of its eventfd is probed too (a pollable read, which a cancel
//! finds): if its completion was the one lost, the next turn arms it again. A zero-copy
//! send whose result is in waits only for its notification, which needs its pages: it is
//! not probed (if its notification was the one lost, the drain leaks it). The updates of
//! registered file slots are not probed: a lost one leaves its slot in the table until the
//! ring goes (the op itself goes on with its fd).

use std::collections::HashSet;
use std::io;

use super::enter::deliver;
use super::{Uring, PROBE, WAKE};
use crate::driver::inflight::{InFlight, Outcome};
use crate::driver::op::{Completion, Parked, CQE_F_MORE};

/// The error an op whose completion may have been dropped by the kernel completes with.
pub(super) fn lost() -> io::Error {
    io::Error::new(
        io::ErrorKind::OutOfMemory,
        "the kernel dropped io_uring completions (EBADR: it is critically low on memory); \
         this operation was cancelled and its outcome is unknown",
    )
}

/// What a probe asks about.
#[derive(Clone, Copy, Debug)]
pub(super) enum Probed {
    /// The op of this token.
    Op(u64),
    /// The wake-up read, as armed for the `n`-th time ([`Uring::wake_arms`]).
    Wake(u64),
}

impl Uring {
    /// Queues a probe of `target`.
    fn probe(&mut self, target: Probed, token: u64) {
        let probe = self.next_probe;
        self.next_probe = self.next_probe.wrapping_add(1);
        self.probes.insert(probe, target);
        let sqe = io_uring::opcode::AsyncCancel::new(token)
            .build()
            .user_data(PROBE | u64::from(probe));
        // SAFETY: an async-cancel SQE carries no pointers, only the target's user_data.
        unsafe { self.push(&sqe) };
    }

    /// `io_uring_enter` said completions were dropped: probes every op in flight, and the
    /// wake-up read.
    pub(super) fn completions_lost(&mut self) {
        self.lost_completions += 1;
        crate::trace::event!(
            error,
            in_flight = self.inflight.len(),
            "the kernel dropped io_uring completions (EBADR); failing the operations in flight"
        );
        if self.lost_completions == 1 {
            eprintln!(
                "proactor: the kernel dropped io_uring completions (EBADR: out of memory); \
                 failing the operations in flight whose outcome is lost (logged once)"
            );
        }
        if self.wake_armed {
            self.probe(Probed::Wake(self.wake_arms), WAKE);
        }
        let pending: Vec<u64> = self.inflight.pending().collect();
        for token in pending {
            if matches!(self.notifying.get(&token), Some(Some(_))) {
                // Its result is in; only a notification is awaited, which needs the pages:
                // if it was the one dropped, the op waits until the drain leaks its buffer.
                continue;
            }
            self.suspect.insert(token);
            self.probe(Probed::Op(token), token);
        }
    }

    /// The completion of probe `user_data` with `res`.
    pub(super) fn probe_completed(&mut self, user_data: u64, res: i32) {
        let Some(target) = self.probes.remove(&(user_data as u32)) else {
            return;
        };
        if res != -libc::ENOENT {
            return; // found and cancelled: its final completion comes
        }
        let token = match target {
            Probed::Wake(arms) => {
                // Not in the kernel, and not re-armed since: its completion was lost.
                if self.wake_armed && self.wake_arms == arms {
                    self.wake_armed = false;
                }
                return;
            }
            Probed::Op(token) => token,
        };
        if !self.suspect.remove(&token) {
            return; // already completed
        }
        if !self.inflight.is_findable(token) {
            // Proves nothing: the kernel may still hold it. It completes when the kernel
            // says so, as it says so.
            return;
        }
        // Nothing of the op is left in the kernel, and every completion posted before the
        // probe's was reaped: its final one was dropped.
        self.notifying.remove(&token);
        if let Outcome::Released(parked) =
            self.inflight.complete(token, Completion::of(Err(lost())))
        {
            self.released.push(parked);
        }
    }
}

/// A completion of `token` while some ops are suspect: the final one of a suspect op is
/// settled (see the module docs) before it is delivered, with a last completion after it
/// for a multishot op.
#[cold]
pub(super) fn settle(
    suspect: &mut HashSet<u64>,
    (inflight, released, over_cap): (&mut InFlight, &mut Vec<Box<dyn Parked>>, &mut Vec<u64>),
    token: u64,
    mut completion: Completion,
) {
    let last = settled(suspect, inflight, token, &mut completion);
    deliver(inflight, released, over_cap, token, completion);
    if let Some(last) = last {
        deliver(inflight, released, over_cap, token, last);
    }
}

/// What [`settle`] makes of `completion`, and the last completion to deliver after it.
fn settled(
    suspect: &mut HashSet<u64>,
    inflight: &InFlight,
    token: u64,
    completion: &mut Completion,
) -> Option<Completion> {
    if completion.more() || !suspect.remove(&token) {
        return None;
    }
    let cancelled =
        matches!(&completion.result, Err(e) if e.raw_os_error() == Some(libc::ECANCELED));
    match (&completion.result, inflight.is_multi(token)) {
        (Ok(_), true) => {
            // What it carries is delivered, then the stream ends with the loss.
            completion.flags |= CQE_F_MORE;
            Some(Completion::of(Err(lost())))
        }
        (Err(_), true) => {
            completion.result = Err(lost());
            None
        }
        (Err(_), false) if cancelled => {
            completion.result = Err(lost());
            None
        }
        _ => None,
    }
}
