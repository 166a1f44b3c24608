//! Completions the kernel dropped: with `IORING_FEAT_NODROP` the kernel keeps completions
//! that overflow the CQ in a list of its own, but when it cannot even allocate that list's
//! entries (critically low memory) it drops them and says so once, with `EBADR` from
//! `io_uring_enter`. Which ones were lost it does not say.
//!
//! So every op in flight at that moment becomes suspect and gets a probe: an async cancel
//! under a `user_data` of the driver's own ([`PROBE`]). A probe that finds nothing
//! (`ENOENT`) for an op still pending after every completion before it was reaped proves
//! that op's final completion lost: the op completes with [`lost`] at once. A probe that
//! finds the op cancels it; its final completion then comes, and turns into [`lost`] too.
//! Either way no slot waits for ever, and no op reports success for data it may have lost
//! (an intermediate completion of a multishot receive). Parked resources are freed only
//! once the probe or the final completion proved the kernel done (`[parked-on-drop]`). A
//! zero-copy send whose result is in waits only for its notification, which needs its
//! pages: it is not probed (if its notification was the one lost, the drain leaks it).

use std::io;

use super::{Uring, PROBE};
use crate::driver::inflight::Outcome;
use crate::driver::op::Completion;

/// The error an op whose completion may have been dropped by the kernel completes with.
pub(super) fn lost() -> io::Error {
    io::Error::new(
        io::ErrorKind::OutOfMemory,
        "the kernel dropped io_uring completions (EBADR: it is critically low on memory); \
         this operation was cancelled and its outcome is unknown",
    )
}

impl Uring {
    /// `io_uring_enter` said completions were dropped: probes every op in flight.
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
                 failing the operations in flight (logged once)"
            );
        }
        let pending: Vec<u64> = self.inflight.pending().collect();
        for token in pending {
            if matches!(self.notifying.get(&token), Some(Some(_))) {
                // Its result is in; only a notification is awaited, which needs the pages:
                // if it was the one dropped, the op waits until the drain leaks its buffer.
                continue;
            }
            let probe = self.next_probe;
            self.next_probe = self.next_probe.wrapping_add(1);
            self.probes.insert(probe, token);
            self.suspect.insert(token);
            let sqe = io_uring::opcode::AsyncCancel::new(token)
                .build()
                .user_data(PROBE | u64::from(probe));
            // SAFETY: an async-cancel SQE carries no pointers, only the target's user_data.
            unsafe { self.push(&sqe) };
        }
    }

    /// The completion of probe `user_data` with `res`.
    pub(super) fn probe_completed(&mut self, user_data: u64, res: i32) {
        let Some(token) = self.probes.remove(&(user_data as u32)) else {
            return;
        };
        if res != -libc::ENOENT || !self.suspect.remove(&token) {
            return; // found (its final completion comes), or already completed
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

/// A completion of `token`: the final one of a suspect op turns into [`lost`].
pub(super) fn settle(
    suspect: &mut std::collections::HashSet<u64>,
    token: u64,
    completion: &mut Completion,
) {
    if !completion.more() && suspect.remove(&token) {
        completion.result = Err(lost());
    }
}
