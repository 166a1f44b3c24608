//! The in-flight table of the completion driver: one slot per submitted operation, keyed by
//! the `user_data` the kernel hands back, and the [`Lifecycle`] of each slot.
//!
//! `user_data` packs the slab key in the low 32 bits and a 31-bit generation above it, so a
//! completion that arrives for a slot that has since been freed and reused (a stale
//! completion) is recognised and ignored instead of completing the newer operation. Values
//! with the top bit set are reserved for the driver's own requests (see [`RESERVED`]).

use std::any::Any;
use std::cell::Cell;
use std::collections::VecDeque;
use std::io;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use slab::Slab;

/// Top bit of `user_data`: set on the driver's own requests, never on an operation's.
pub(crate) const RESERVED: u64 = 1 << 63;

/// `IORING_CQE_F_MORE`: more completions follow for the same submission.
pub(crate) const CQE_F_MORE: u32 = 1 << 1;

/// What the kernel reported for one operation.
#[derive(Debug)]
pub(crate) struct Completion {
    /// The result: byte count, fd, or the errno as an error.
    pub(crate) result: io::Result<u32>,
    /// The CQE flags (`IORING_CQE_F_*`): buffer id, more-to-come, notification.
    pub(crate) flags: u32,
}

impl Completion {
    /// Whether more completions follow for the same submission (`IORING_CQE_F_MORE`):
    /// false on the last completion of a multishot op and on every single-shot one.
    pub(crate) fn more(&self) -> bool {
        io_uring::cqueue::more(self.flags)
    }
}

/// The state of one in-flight operation.
pub(crate) enum Lifecycle {
    /// Submitted; the future has not registered a waker yet.
    Submitted,
    /// Submitted; this waker is woken when the completion arrives.
    Waiting(Waker),
    /// The future was dropped before its completion arrived. The box owns everything the
    /// kernel may still read or write (buffers, addresses, the fd); it is freed only when
    /// the completion arrives (invariant 2).
    Ignored(Box<dyn Any>),
    /// The completion arrived; the future has not collected it yet.
    Completed(Completion),
    /// A multishot submission: completions queue up here, in order, until the owner takes
    /// them; the slot lives until the owner takes the one without `IORING_CQE_F_MORE`
    /// (invariant 5). The waker, if any, is woken on each arrival.
    Multi {
        queue: VecDeque<Completion>,
        waker: Option<Waker>,
        /// The owner's bound on `queue` ([`MultiPolicy::cap`]).
        cap: Option<usize>,
        capping: Capping,
    },
}

/// Where a multishot slot stands with its [`MultiPolicy::cap`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Capping {
    /// Below the cap (or reached, then taken below it before the driver checked again).
    Open,
    /// The queue reached the cap on an arrival ([`Outcome::Capped`]); the driver checks
    /// again at its next turn ([`InFlight::cancel_if_over_cap`]).
    Reached,
    /// Still full at that check: the submission was asked to stop.
    Cancelled,
}

/// What a multishot slot does besides queueing, set by the op's owner when it arms the op.
#[derive(Clone, Debug, Default)]
pub(crate) struct MultiPolicy {
    /// When this many completions wait untaken, and still do at the driver's next turn
    /// (after the owner had a chance to run and take them), the submission is cancelled;
    /// the ones queued, and those the kernel still posts before its last (`-ECANCELED`, or
    /// whatever ended it first), are delivered in order as usual. `None`: no bound.
    /// Checking again at the next turn spares a busy owner, which takes a whole batch of
    /// arrivals each turn, a cancel and re-arm per batch; the cancel is not later for it:
    /// the next turn's enter is the first to submit anything anyway.
    pub(crate) cap: Option<usize>,
    /// A count of free provided buffers, decremented as each completion that names one
    /// (`IORING_CQE_F_BUFFER`) arrives, whether its owner is live or dropped: so the count
    /// does not include buffers sitting in untaken completions.
    pub(crate) free_buffers: Option<Rc<Cell<usize>>>,
}

struct Slot {
    generation: u32,
    lifecycle: Lifecycle,
    /// [`MultiPolicy::free_buffers`]: kept here, not in the lifecycle, so that it counts the
    /// completions of a dropped op too.
    free_buffers: Option<Rc<Cell<usize>>>,
}

/// What [`InFlight::complete`] did with a completion.
pub(crate) enum Outcome {
    /// The owning future was woken (or will find the result on its next poll).
    Delivered,
    /// The owner had been dropped: these resources are now free to drop. The caller drops
    /// them outside any runtime borrow, since dropping may run user code.
    Released(Box<dyn Any>),
    /// No live slot matches this `user_data`: a stale or unknown completion, ignored.
    Stale,
    /// Delivered, and the multishot queue reached its [`MultiPolicy::cap`]: before its
    /// next submission the caller calls [`InFlight::cancel_if_over_cap`].
    Capped,
}

/// The table of operations the kernel currently owns.
#[derive(Default)]
pub(crate) struct InFlight {
    slots: Slab<Slot>,
    next_generation: u32,
}

const KEY_BITS: u32 = 32;
const GEN_MASK: u32 = (1 << 31) - 1;

fn split(user_data: u64) -> Option<(usize, u32)> {
    if user_data & RESERVED != 0 {
        return None;
    }
    Some(((user_data as u32) as usize, (user_data >> KEY_BITS) as u32))
}

impl InFlight {
    /// Number of operations submitted whose final completion has not been collected.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Reserves a slot for a new submission and returns its `user_data`.
    pub(crate) fn insert(&mut self, waker: &Waker) -> u64 {
        let generation = self.next_generation;
        self.next_generation = (generation + 1) & GEN_MASK;
        let key = self.slots.insert(Slot {
            generation,
            lifecycle: Lifecycle::Waiting(waker.clone()),
            free_buffers: None,
        });
        assert!(
            key < u32::MAX as usize,
            "in-flight table exceeds 2^32 operations"
        );
        ((generation as u64) << KEY_BITS) | key as u64
    }

    /// Reserves a slot for a multishot submission (many completions) under `policy` and
    /// returns its `user_data`.
    pub(crate) fn insert_multi(&mut self, waker: &Waker, policy: &MultiPolicy) -> u64 {
        let user_data = self.insert(waker);
        let slot = slot_of(self, user_data);
        slot.lifecycle = Lifecycle::Multi {
            queue: VecDeque::new(),
            waker: Some(waker.clone()),
            cap: policy.cap,
            capping: Capping::Open,
        };
        slot.free_buffers = policy.free_buffers.clone();
        user_data
    }

    fn remove(&mut self, user_data: u64) -> Lifecycle {
        let (key, _) = split(user_data).expect("a live operation's user_data");
        self.slots.remove(key).lifecycle
    }

    fn slot_mut(&mut self, user_data: u64) -> Option<&mut Slot> {
        let (key, generation) = split(user_data)?;
        self.slots
            .get_mut(key)
            .filter(|slot| slot.generation == generation)
    }

    /// Polls the operation `user_data`: its completion if it arrived (freeing the slot),
    /// otherwise registers the waker.
    pub(crate) fn poll(&mut self, user_data: u64, cx: &mut Context<'_>) -> Poll<Completion> {
        let slot = self
            .slot_mut(user_data)
            .expect("polled an operation that is not in flight");
        match &mut slot.lifecycle {
            Lifecycle::Completed(_) => {
                let (key, _) = split(user_data).expect("checked by slot_mut");
                match self.slots.remove(key).lifecycle {
                    Lifecycle::Completed(c) => Poll::Ready(c),
                    _ => unreachable!("matched Completed above"),
                }
            }
            Lifecycle::Waiting(w) if w.will_wake(cx.waker()) => Poll::Pending,
            lifecycle @ (Lifecycle::Waiting(_) | Lifecycle::Submitted) => {
                *lifecycle = Lifecycle::Waiting(cx.waker().clone());
                Poll::Pending
            }
            Lifecycle::Multi { queue, waker, .. } => match queue.pop_front() {
                Some(c) => {
                    if !c.more() {
                        self.remove(user_data);
                    }
                    Poll::Ready(c)
                }
                None => {
                    if !waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                        *waker = Some(cx.waker().clone());
                    }
                    Poll::Pending
                }
            },
            Lifecycle::Ignored(_) => unreachable!("polled an operation after dropping it"),
        }
    }

    /// Records the completion for `user_data`.
    pub(crate) fn complete(&mut self, user_data: u64, completion: Completion) -> Outcome {
        let Some(slot) = self.slot_mut(user_data) else {
            return Outcome::Stale;
        };
        if let Some(free) = &slot.free_buffers {
            if io_uring::cqueue::buffer_select(completion.flags).is_some() {
                free.set(free.get().saturating_sub(1));
            }
        }
        match std::mem::replace(&mut slot.lifecycle, Lifecycle::Submitted) {
            Lifecycle::Waiting(waker) => {
                slot.lifecycle = Lifecycle::Completed(completion);
                waker.wake();
                Outcome::Delivered
            }
            Lifecycle::Submitted => {
                slot.lifecycle = Lifecycle::Completed(completion);
                Outcome::Delivered
            }
            Lifecycle::Multi {
                mut queue,
                waker,
                cap,
                mut capping,
            } => {
                let full = completion.more() && cap.is_some_and(|c| queue.len() + 1 >= c);
                let reached = full && capping == Capping::Open;
                if reached {
                    capping = Capping::Reached;
                }
                queue.push_back(completion);
                slot.lifecycle = Lifecycle::Multi {
                    queue,
                    waker: None,
                    cap,
                    capping,
                };
                if let Some(waker) = waker {
                    waker.wake();
                }
                if reached {
                    Outcome::Capped
                } else {
                    Outcome::Delivered
                }
            }
            Lifecycle::Ignored(mut resources) if completion.more() => {
                // A dropped multishot op: what this completion created is released now;
                // the resources stay parked until the last completion.
                super::orphan_completed(&mut resources, completion);
                slot.lifecycle = Lifecycle::Ignored(resources);
                Outcome::Delivered
            }
            Lifecycle::Ignored(resources) => {
                self.remove(user_data);
                Outcome::Released(resources)
            }
            Lifecycle::Completed(_) => {
                unreachable!("a second completion for a single-shot operation")
            }
        }
    }

    /// The future of `user_data` was dropped. If the completion already arrived the slot is
    /// freed and the resources are handed back to be dropped now; otherwise they are parked
    /// in the slot until the completion arrives, and `None` is returned.
    /// A completion that arrived but was never collected is handed to the resources'
    /// orphan hook first, so what it created (an accepted fd) is released too.
    pub(crate) fn ignore(
        &mut self,
        user_data: u64,
        mut resources: Box<dyn Any>,
    ) -> Option<Box<dyn Any>> {
        // Only ops this table handed a `user_data` to are dropped in flight: a missing slot
        // is a bug, and returning the resources would drop them inside the driver borrow.
        let slot = self
            .slot_mut(user_data)
            .expect("dropped an operation that is not in flight");
        match std::mem::replace(&mut slot.lifecycle, Lifecycle::Submitted) {
            Lifecycle::Completed(c) => {
                self.remove(user_data);
                super::orphan_completed(&mut resources, c);
                Some(resources)
            }
            Lifecycle::Multi { queue, .. } => {
                let mut finished = false;
                for c in queue {
                    finished |= !c.more();
                    super::orphan_completed(&mut resources, c);
                }
                if finished {
                    self.remove(user_data);
                    return Some(resources);
                }
                slot_of(self, user_data).lifecycle = Lifecycle::Ignored(resources);
                None
            }
            _ => {
                slot_of(self, user_data).lifecycle = Lifecycle::Ignored(resources);
                None
            }
        }
    }

    /// For a multishot slot whose queue reached its cap ([`Outcome::Capped`]): whether it
    /// is still full now, its owner having had a turn to take from it. If so the slot is
    /// marked and `true` is returned once: the caller cancels the submission. Otherwise
    /// (taken below the cap, or the slot is gone) the cap is watched again.
    pub(crate) fn cancel_if_over_cap(&mut self, user_data: u64) -> bool {
        let Some(slot) = self.slot_mut(user_data) else {
            return false;
        };
        let Lifecycle::Multi {
            queue,
            cap: Some(cap),
            capping,
            ..
        } = &mut slot.lifecycle
        else {
            return false;
        };
        if *capping != Capping::Reached {
            return false;
        }
        let finished = queue.back().is_some_and(|c| !c.more());
        if queue.len() >= *cap && !finished {
            *capping = Capping::Cancelled;
            true
        } else {
            *capping = Capping::Open;
            false
        }
    }

    /// The `user_data` of every operation whose completion has not arrived yet.
    pub(crate) fn pending(&self) -> impl Iterator<Item = u64> + '_ {
        self.slots
            .iter()
            .filter_map(|(key, slot)| match &slot.lifecycle {
                Lifecycle::Completed(_) => None,
                Lifecycle::Multi { queue, .. } if queue.iter().any(|c| !c.more()) => None,
                _ => Some(((slot.generation as u64) << KEY_BITS) | key as u64),
            })
    }
}

fn slot_of(table: &mut InFlight, user_data: u64) -> &mut Slot {
    table.slot_mut(user_data).expect("checked by the caller")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counter() -> (Arc<Count>, Waker) {
        let c = Arc::new(Count(AtomicUsize::new(0)));
        (c.clone(), Waker::from(c))
    }

    fn ok(n: u32) -> Completion {
        Completion {
            result: Ok(n),
            flags: 0,
        }
    }

    #[test]
    fn waiting_then_completed_then_collected() {
        let (count, waker) = counter();
        let mut t = InFlight::default();
        let ud = t.insert(&waker);
        let mut cx = Context::from_waker(&waker);
        assert!(t.poll(ud, &mut cx).is_pending());
        assert!(matches!(t.complete(ud, ok(7)), Outcome::Delivered));
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        match t.poll(ud, &mut cx) {
            Poll::Ready(c) => assert_eq!(c.result.unwrap(), 7),
            Poll::Pending => panic!("completion lost"),
        }
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn ignored_resources_live_until_completion() {
        let (_c, waker) = counter();
        let mut t = InFlight::default();
        let ud = t.insert(&waker);
        let buf = Arc::new(vec![0u8; 16]);
        assert!(t.ignore(ud, Box::new(buf.clone())).is_none());
        assert_eq!(
            Arc::strong_count(&buf),
            2,
            "slot must keep the buffer alive"
        );
        assert!(t.pending().next().is_some());
        match t.complete(ud, ok(0)) {
            Outcome::Released(res) => drop(res),
            _ => panic!("resources not released on completion"),
        }
        assert_eq!(Arc::strong_count(&buf), 1);
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn ignore_after_completion_frees_at_once() {
        let (_c, waker) = counter();
        let mut t = InFlight::default();
        let ud = t.insert(&waker);
        assert!(matches!(t.complete(ud, ok(1)), Outcome::Delivered));
        assert!(t.pending().next().is_none());
        assert!(t.ignore(ud, Box::new(())).is_some());
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn stale_completion_cannot_complete_a_reused_slot() {
        let (count, waker) = counter();
        let mut t = InFlight::default();
        let old = t.insert(&waker);
        assert!(matches!(t.complete(old, ok(1)), Outcome::Delivered));
        let mut cx = Context::from_waker(&waker);
        assert!(t.poll(old, &mut cx).is_ready());
        let new = t.insert(&waker);
        assert_eq!(old as u32, new as u32, "slab reuses the key");
        assert_ne!(old, new, "generation differs");
        assert!(matches!(t.complete(old, ok(99)), Outcome::Stale));
        assert!(t.poll(new, &mut cx).is_pending());
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(matches!(t.complete(RESERVED | 5, ok(0)), Outcome::Stale));
    }

    fn more(n: u32) -> Completion {
        Completion {
            result: Ok(n),
            flags: 1 << 1, // IORING_CQE_F_MORE
        }
    }

    #[test]
    fn multishot_queues_completions_until_the_last() {
        let (count, waker) = counter();
        let mut t = InFlight::default();
        let ud = t.insert_multi(&waker, &MultiPolicy::default());
        let mut cx = Context::from_waker(&waker);
        assert!(t.poll(ud, &mut cx).is_pending());
        assert!(matches!(t.complete(ud, more(1)), Outcome::Delivered));
        assert!(matches!(t.complete(ud, more(2)), Outcome::Delivered));
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "woken once until polled");
        for n in [1, 2] {
            match t.poll(ud, &mut cx) {
                Poll::Ready(c) => assert_eq!((c.more(), c.result.unwrap()), (true, n)),
                Poll::Pending => panic!("queued completion lost"),
            }
        }
        assert!(t.poll(ud, &mut cx).is_pending());
        assert_eq!(t.len(), 1, "the slot lives while more may come");
        assert!(t.pending().next().is_some());
        assert!(matches!(t.complete(ud, ok(3)), Outcome::Delivered));
        assert_eq!(count.0.load(Ordering::SeqCst), 2);
        assert!(t.pending().next().is_none(), "the last completion is in");
        match t.poll(ud, &mut cx) {
            Poll::Ready(c) => assert!(!c.more()),
            Poll::Pending => panic!("last completion lost"),
        }
        assert_eq!(t.len(), 0);
        assert!(matches!(t.complete(ud, ok(4)), Outcome::Stale));
    }

    fn capped_policy(cap: usize, free: &Rc<Cell<usize>>) -> MultiPolicy {
        MultiPolicy {
            cap: Some(cap),
            free_buffers: Some(free.clone()),
        }
    }

    /// A completion that names provided buffer `bid` (`IORING_CQE_F_BUFFER`).
    fn with_buffer(mut c: Completion, bid: u16) -> Completion {
        c.flags |= 1 | (u32::from(bid) << 16);
        c
    }

    #[test]
    fn full_queue_asks_once_for_a_cancel_and_loses_nothing() {
        let (_c, waker) = counter();
        let mut t = InFlight::default();
        let free = Rc::new(Cell::new(8));
        let ud = t.insert_multi(&waker, &capped_policy(2, &free));
        let mut cx = Context::from_waker(&waker);
        assert!(matches!(t.complete(ud, more(1)), Outcome::Delivered));
        match t.poll(ud, &mut cx) {
            Poll::Ready(c) => assert_eq!(c.result.unwrap(), 1),
            Poll::Pending => panic!("queued completion lost"),
        }
        assert!(matches!(t.complete(ud, more(2)), Outcome::Delivered));
        assert!(matches!(t.complete(ud, more(3)), Outcome::Capped));
        assert!(t.cancel_if_over_cap(ud), "still full at the next turn");
        assert!(!t.cancel_if_over_cap(ud), "one cancel is enough");
        assert!(
            matches!(t.complete(ud, more(4)), Outcome::Delivered),
            "one cancel is enough"
        );
        let cancelled = Completion {
            result: Err(io::Error::from_raw_os_error(libc::ECANCELED)),
            flags: 0,
        };
        assert!(matches!(t.complete(ud, cancelled), Outcome::Delivered));
        assert!(t.pending().next().is_none(), "the last completion is in");
        for n in [2, 3, 4] {
            match t.poll(ud, &mut cx) {
                Poll::Ready(c) => assert_eq!((c.more(), c.result.unwrap()), (true, n)),
                Poll::Pending => panic!("completion queued before the cancel lost"),
            }
        }
        match t.poll(ud, &mut cx) {
            Poll::Ready(c) => {
                assert!(!c.more());
                assert_eq!(c.result.unwrap_err().raw_os_error(), Some(libc::ECANCELED));
            }
            Poll::Pending => panic!("last completion lost"),
        }
        assert_eq!(t.len(), 0);
        assert_eq!(free.get(), 8, "no completion named a buffer");
    }

    #[test]
    fn a_queue_taken_below_the_cap_before_the_check_is_not_cancelled() {
        let (_c, waker) = counter();
        let mut t = InFlight::default();
        let free = Rc::new(Cell::new(8));
        let ud = t.insert_multi(&waker, &capped_policy(2, &free));
        let mut cx = Context::from_waker(&waker);
        let _ = t.complete(ud, more(1));
        assert!(matches!(t.complete(ud, more(2)), Outcome::Capped));
        assert!(t.poll(ud, &mut cx).is_ready(), "the owner takes one");
        assert!(!t.cancel_if_over_cap(ud), "below the cap again");
        assert!(
            matches!(t.complete(ud, more(3)), Outcome::Capped),
            "watched again"
        );
        let _ = t.complete(ud, ok(0));
        assert!(
            !t.cancel_if_over_cap(ud),
            "already finished: nothing to cancel"
        );
        assert!(!t.cancel_if_over_cap(ud + (1 << 32)), "another generation");
    }

    #[test]
    fn arriving_buffers_are_counted_taken_live_or_dropped() {
        let (_c, waker) = counter();
        let mut t = InFlight::default();
        let free = Rc::new(Cell::new(8));
        let ud = t.insert_multi(&waker, &capped_policy(100, &free));
        let _ = t.complete(ud, with_buffer(more(10), 3));
        let _ = t.complete(ud, more(0));
        assert_eq!(free.get(), 7, "counted on arrival, before it is taken");
        let seen = Arc::new(AtomicUsize::new(0));
        assert!(t.ignore(ud, hooked(&seen)).is_none());
        assert_eq!(free.get(), 7, "queued ones are not counted twice");
        let _ = t.complete(ud, with_buffer(more(10), 4));
        assert_eq!(free.get(), 6, "a dropped op's arrivals count too");
        assert!(matches!(
            t.complete(ud, with_buffer(ok(10), 5)),
            Outcome::Released(_)
        ));
        assert_eq!(free.get(), 5);
    }

    /// Resources whose orphan hook counts the completions handed to it.
    fn hooked(seen: &Arc<AtomicUsize>) -> Box<dyn Any> {
        struct Counting(Arc<AtomicUsize>);
        // SAFETY: a test op; it is never submitted.
        unsafe impl crate::driver::OpCode for Counting {
            type Output = ();
            fn sqe(&mut self) -> io_uring::squeue::Entry {
                io_uring::opcode::Nop::new().build()
            }
            fn mode(&self) -> crate::driver::Mode<'_> {
                crate::driver::Mode::Immediate
            }
            fn syscall(&mut self) -> io::Result<u32> {
                Ok(0)
            }
            fn complete(self, _: Completion) {}
            fn complete_orphan(&mut self, _: Completion) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        crate::driver::Orphan::boxed(Counting(seen.clone()))
    }

    #[test]
    fn dropped_multishot_hands_every_completion_to_its_hook() {
        let (_c, waker) = counter();
        let mut t = InFlight::default();
        let seen = Arc::new(AtomicUsize::new(0));
        let ud = t.insert_multi(&waker, &MultiPolicy::default());
        let _ = t.complete(ud, more(1));
        let _ = t.complete(ud, more(2));
        assert!(
            t.ignore(ud, hooked(&seen)).is_none(),
            "parked: more may come"
        );
        assert_eq!(
            seen.load(Ordering::SeqCst),
            2,
            "queued completions released"
        );
        assert!(matches!(t.complete(ud, more(3)), Outcome::Delivered));
        assert_eq!(seen.load(Ordering::SeqCst), 3, "late completion released");
        assert_eq!(t.len(), 1);
        match t.complete(ud, ok(0)) {
            Outcome::Released(mut res) => crate::driver::orphan_completed(&mut res, ok(0)),
            _ => panic!("the last completion must release the resources"),
        }
        assert_eq!(seen.load(Ordering::SeqCst), 4);
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn dropped_multishot_whose_last_completion_is_queued_frees_at_once() {
        let (_c, waker) = counter();
        let mut t = InFlight::default();
        let seen = Arc::new(AtomicUsize::new(0));
        let ud = t.insert_multi(&waker, &MultiPolicy::default());
        let _ = t.complete(ud, more(1));
        let _ = t.complete(ud, ok(0));
        assert!(t.ignore(ud, hooked(&seen)).is_some());
        assert_eq!(seen.load(Ordering::SeqCst), 2);
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn waker_is_replaced_when_polled_from_another_task() {
        let (first, w1) = counter();
        let (second, w2) = counter();
        let mut t = InFlight::default();
        let ud = t.insert(&w1);
        assert!(t.poll(ud, &mut Context::from_waker(&w2)).is_pending());
        let _ = t.complete(ud, ok(0));
        assert_eq!(first.0.load(Ordering::SeqCst), 0);
        assert_eq!(second.0.load(Ordering::SeqCst), 1);
    }
}
