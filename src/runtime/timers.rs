//! The runtime's timer store, independent of the I/O driver: a binary heap of deadlines
//! over a slab of timers. The loop asks it for the park timeout and fires what is due.
//!
//! Removing a timer (a dropped `Sleep`, a `timeout` whose future finished first) frees its
//! slot at once and leaves its heap entry behind, recognised as dead by its sequence number;
//! the heap is rebuilt when dead entries outnumber live ones, so memory stays bounded.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::task::Waker;
use std::time::{Duration, Instant};

use slab::Slab;

/// Identifies one registration of a timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TimerKey {
    key: usize,
    seq: u64,
}

struct Timer {
    seq: u64,
    waker: Option<Waker>,
    fired: bool,
}

#[derive(Default)]
pub(crate) struct TimerStore {
    heap: BinaryHeap<Reverse<(Instant, u64, usize)>>,
    timers: Slab<Timer>,
    next_seq: u64,
}

impl TimerStore {
    /// Number of registered timers (fired or not) whose owner still holds them.
    pub(crate) fn len(&self) -> usize {
        self.timers.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.timers.is_empty()
    }

    fn seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// Registers a timer firing at `deadline` that wakes `waker`.
    pub(crate) fn insert(&mut self, deadline: Instant, waker: &Waker) -> TimerKey {
        let seq = self.seq();
        let key = self.timers.insert(Timer {
            seq,
            waker: Some(waker.clone()),
            fired: false,
        });
        self.heap.push(Reverse((deadline, seq, key)));
        self.compact();
        TimerKey { key, seq }
    }

    /// Whether the timer fired; if not, makes sure `waker` is the one woken.
    pub(crate) fn poll(&mut self, k: TimerKey, waker: &Waker) -> bool {
        match self.timers.get_mut(k.key) {
            Some(t) if t.seq == k.seq => {
                if t.fired {
                    return true;
                }
                match &t.waker {
                    Some(w) if w.will_wake(waker) => {}
                    _ => t.waker = Some(waker.clone()),
                }
                false
            }
            _ => true,
        }
    }

    /// Forgets a timer.
    pub(crate) fn remove(&mut self, k: TimerKey) {
        if self.timers.get(k.key).is_some_and(|t| t.seq == k.seq) {
            self.timers.remove(k.key);
        }
    }

    fn is_live(&self, seq: u64, key: usize) -> bool {
        self.timers
            .get(key)
            .is_some_and(|t| t.seq == seq && !t.fired)
    }

    /// How long until the earliest live deadline: `None` without timers, zero if one is due.
    pub(crate) fn next_timeout(&mut self, now: Instant) -> Option<Duration> {
        while let Some(&Reverse((deadline, seq, key))) = self.heap.peek() {
            if self.is_live(seq, key) {
                return Some(deadline.saturating_duration_since(now));
            }
            self.heap.pop();
        }
        None
    }

    /// Marks every timer due at `now` as fired and moves its waker into `due`; returns how
    /// many. The caller wakes them once it no longer borrows the store, so that a waker that
    /// drops or polls a timer (of this store) finds it free.
    pub(crate) fn fire(&mut self, now: Instant, due: &mut Vec<Waker>) -> usize {
        let mut fired = 0;
        while let Some(&Reverse((deadline, seq, key))) = self.heap.peek() {
            if deadline > now {
                break;
            }
            self.heap.pop();
            let Some(t) = self
                .timers
                .get_mut(key)
                .filter(|t| t.seq == seq && !t.fired)
            else {
                continue;
            };
            t.fired = true;
            due.extend(t.waker.take());
            fired += 1;
        }
        fired
    }

    /// Rebuilds the heap without dead entries once they outnumber the live timers.
    fn compact(&mut self) {
        if self.heap.len() <= 2 * self.timers.len() + 1024 {
            return;
        }
        let heap = std::mem::take(&mut self.heap);
        self.heap = heap
            .into_iter()
            .filter(|Reverse((_, seq, key))| self.is_live(*seq, *key))
            .collect();
    }
}
