//! Deadlines in the kernel: an op with a deadline goes in as a linked pair, its own SQE
//! with `IOSQE_IO_LINK` and an `IORING_OP_LINK_TIMEOUT` right behind it, pushed into room
//! reserved for both so that one `io_uring_enter` submits them together. When the timeout
//! fires first the kernel cancels the op, whose completion is then `-ECANCELED` (read as
//! the deadline passing, [`timed_out`](crate::driver::op::timed_out)); when the op
//! completes first the timeout is cancelled. Either way each SQE posts its own completion.
//!
//! The timeout's `user_data` is [`LINK_TIMEOUT`] with the key of its timespec: heap memory
//! of the driver's, kept until that completion ([`LinkTimeouts`]), which the reap
//! recognises and counts. No userspace timer is involved.

use std::time::Duration;

use io_uring::{opcode, squeue, types};
use slab::Slab;

use super::Uring;
use crate::driver::stats::OpKind;
use crate::driver::token::RESERVED;

/// `user_data` of a link timeout (its timespec's key in the low 32 bits).
pub(super) const LINK_TIMEOUT: u64 = RESERVED | 4 << 32;
/// The bits of `user_data` that tell a link timeout from the driver's other requests.
pub(super) const LINK_KIND: u64 = RESERVED | 7 << 32;

/// How many freed timespec boxes are kept for reuse.
const SPARE: usize = 64;

/// The link timeouts in flight.
#[derive(Default)]
pub(super) struct LinkTimeouts {
    /// The timespec each one's SQE points at, by key: boxed, so the slab growing never
    /// moves one, and freed only when that timeout's own completion is reaped
    /// (`[heap-owned]`; the drain waits for them, `[drain-before-unmap]`).
    specs: Slab<Box<types::Timespec>>,
    /// Boxes whose timeout completed, kept for the next ones (at most [`SPARE`]): a timed op
    /// then costs no allocation.
    #[allow(clippy::vec_box)] // each goes back into `specs`, where its address must not move
    spare: Vec<Box<types::Timespec>>,
}

/// The farthest deadline a link timeout is given.
const MAX_DEADLINE: Duration = Duration::from_secs(u32::MAX as u64);

impl LinkTimeouts {
    /// A timespec of `after` for a new link timeout: its key, and where it lives until
    /// [`completed`](LinkTimeouts::completed) is called with that key.
    fn insert(&mut self, after: Duration) -> (usize, *const types::Timespec) {
        // The kernel's seconds are signed: a deadline past ~136 years (`Duration::MAX` as
        // "none") is that far instead, not a negative time the kernel refuses.
        let spec = types::Timespec::from(after.min(MAX_DEADLINE));
        let spec = match self.spare.pop() {
            Some(mut spare) => {
                *spare = spec;
                spare
            }
            None => Box::new(spec),
        };
        let key = self.specs.insert(spec);
        assert!(key < u32::MAX as usize, "more than 2^32 link timeouts");
        (key, &*self.specs[key])
    }

    /// Whether none is in flight.
    pub(super) fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }

    /// The completion `res` of the link timeout `user_data`: its timespec may go. Whether
    /// it fired (`-ETIME`: its op's deadline passed, and the kernel cancelled the op).
    pub(super) fn completed(&mut self, user_data: u64, res: i32) -> bool {
        let key = (user_data as u32) as usize;
        let Some(spec) = self.specs.try_remove(key) else {
            return false;
        };
        if self.spare.len() < SPARE {
            self.spare.push(spec);
        }
        res == -libc::ETIME
    }

    /// What is left when the ring is leaked: never freed, as the ring's own memory.
    pub(super) fn leak(&mut self) {
        std::mem::forget(std::mem::take(&mut self.specs));
    }
}

impl Uring {
    /// Pushes `sqe` (its `user_data` set) linked to a timeout `after` from its submission.
    /// The caller reserved room for both ([`Uring::reserve`]), so neither push enters the
    /// kernel: the pair is never split across two submissions.
    pub(super) fn push_linked(&mut self, sqe: squeue::Entry, after: Duration) {
        let (key, ts) = self.links.insert(after);
        self.ops.submitted(OpKind::LinkTimeout);
        let timeout = opcode::LinkTimeout::new(ts)
            .build()
            .user_data(LINK_TIMEOUT | key as u64);
        debug_assert!({
            let sq = self.ring.submission();
            sq.capacity() - sq.len() >= 2
        });
        // SAFETY: the op's SQE: the caller's (its pointers are the op's heap memory,
        // `[heap-owned]`, kept until its completion, `[parked-on-drop]`). The timeout's: its
        // one pointer is the boxed timespec above, freed only when this timeout's completion
        // is reaped (`LinkTimeouts::completed`) or leaked with the ring (`[drain-before-unmap]`).
        unsafe {
            self.push(&sqe.flags(squeue::Flags::IO_LINK));
            self.push(&timeout);
        }
    }
}
