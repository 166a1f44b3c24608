//! The in-flight table (`driver/inflight.rs`) as the fuzz targets (`fuzz/`) drive it: built
//! only under `cfg(fuzzing)`, which `cargo fuzz` sets, so a normal build and the docs have
//! none of it. A thin wrapper: the table's own code, with completions as plain values and
//! parked resources of the caller's type.

use std::cell::Cell;
use std::io;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use crate::driver::inflight::{self, InFlight, MultiPolicy};
use crate::driver::{Completion, Mode, Parked};

/// A completion as the kernel reports it: the result (a count, or `Err(errno)`) and the
/// CQE flags (`IORING_CQE_F_MORE` = 2, `IORING_CQE_F_BUFFER` = 1 with the buffer id in the
/// top 16 bits).
pub type Cqe = (Result<u32, i32>, u32);

/// What a dropped op's resources do with the completions handed to their orphan hook.
pub trait Orphan: 'static {
    /// The hook (`OpCode::complete_orphan`): called with each completion the dropped op's
    /// future never took.
    fn orphan(&mut self, cqe: Cqe);
}

struct Held<T>(T);

impl<T: Orphan> Parked for Held<T> {
    fn orphan(&mut self, completion: Completion) {
        self.0.orphan(to_cqe(completion));
    }
    fn mode(&self) -> Mode<'_> {
        Mode::Immediate
    }
    fn result_in(&mut self) {}
}

fn to_cqe(c: Completion) -> Cqe {
    let result = c.result.map_err(|e| e.raw_os_error().unwrap_or(-1));
    (result, c.flags)
}

/// Resources the table handed back: dropping this drops them.
pub struct Released(#[allow(dead_code)] Box<dyn Parked>);

/// What [`Table::complete`] did (`inflight::Outcome`).
pub enum Outcome {
    /// Delivered to the live op (or its dropped op's hook, more to come).
    Delivered,
    /// The dropped op's final completion: its resources are free.
    Released(Released),
    /// No live slot has this token: ignored.
    Stale,
    /// Delivered, and the multishot queue reached its cap.
    Capped,
}

/// The in-flight table.
#[derive(Default)]
pub struct Table(InFlight);

impl Table {
    /// Slots whose final completion was not collected.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no slot is live.
    pub fn is_empty(&self) -> bool {
        self.0.len() == 0
    }

    /// A single-shot op's slot.
    pub fn insert(&mut self, waker: &Waker) -> u64 {
        self.0.insert(waker)
    }

    /// A multishot op's slot, with its queue's cap and free-buffer count.
    pub fn insert_multi(
        &mut self,
        waker: &Waker,
        cap: Option<usize>,
        free_buffers: Option<Rc<Cell<usize>>>,
    ) -> u64 {
        let policy = MultiPolicy { cap, free_buffers };
        self.0.insert_multi(waker, &policy)
    }

    /// Polls the op of `token` (documented misuse, which panics: a token not in flight, or
    /// one whose future was dropped).
    pub fn poll(&mut self, token: u64, cx: &mut Context<'_>) -> Poll<Cqe> {
        self.0.poll(token, cx).map(to_cqe)
    }

    /// A completion for `token` (documented misuse, which panics: a second completion for
    /// a single-shot op whose first was not collected).
    pub fn complete(&mut self, token: u64, cqe: Cqe) -> Outcome {
        let result = cqe.0.map_err(io::Error::from_raw_os_error);
        let completion = Completion {
            result,
            flags: cqe.1,
        };
        match self.0.complete(token, completion) {
            inflight::Outcome::Delivered => Outcome::Delivered,
            inflight::Outcome::Released(r) => Outcome::Released(Released(r)),
            inflight::Outcome::Stale => Outcome::Stale,
            inflight::Outcome::Capped => Outcome::Capped,
        }
    }

    /// The future of `token` was dropped, leaving `resources` (documented misuse, which
    /// panics: a token not in flight). `Some`: free now; `None`: parked in the slot.
    pub fn ignore<T: Orphan>(&mut self, token: u64, resources: T) -> Option<Released> {
        self.0
            .ignore(token, Box::new(Held(resources)))
            .map(Released)
    }

    /// Whether `token`'s slot holds parked resources.
    pub fn is_parked(&mut self, token: u64) -> bool {
        self.0.parked_mut(token).is_some()
    }

    /// The driver's check of a capped multishot slot at its next turn.
    pub fn cancel_if_over_cap(&mut self, token: u64) -> bool {
        self.0.cancel_if_over_cap(token)
    }

    /// The tokens whose final completion has not arrived.
    pub fn pending(&self) -> Vec<u64> {
        self.0.pending().collect()
    }
}
