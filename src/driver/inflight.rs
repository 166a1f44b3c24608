//! The in-flight table: one slot per operation a backend handed off (an io_uring
//! submission, or a call on the epoll backend's thread pool), keyed by the token the
//! completion comes back with (`[generation]`: a stale completion is ignored), and the
//! [`Lifecycle`] of each slot.

use std::cell::Cell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use super::op::{Completion, Parked};
use super::token::Tokens;

/// The state of one in-flight operation.
pub(crate) enum Lifecycle {
    /// Handed off; the future has not registered a waker yet.
    Submitted,
    /// Handed off; this waker is woken when the completion arrives.
    Waiting(Waker),
    /// The future was dropped before its completion arrived. The box owns everything the
    /// kernel may still read or write (buffers, addresses, the fd); it is freed only when
    /// the completion arrives (`[parked-on-drop]`).
    Ignored(Box<dyn Parked>),
    /// The completion arrived; the future has not collected it yet.
    Completed(Completion),
    /// A multishot submission (boxed: the other states stay small): completions queue up
    /// in order until the owner takes them; the slot lives until the owner takes the one
    /// without `IORING_CQE_F_MORE` (`[multishot-slot]`).
    Multi(Box<Multi>),
    /// Given up on at shutdown while its future lives (a zero-copy send whose notification
    /// may never come): never completes; when the future is dropped its resources are
    /// leaked, never freed (the kernel may still read them).
    Abandoned,
}

/// The state of a multishot slot.
pub(crate) struct Multi {
    queue: VecDeque<Completion>,
    /// The owner's waker, kept between arrivals: the owner waits again on the same task
    /// mostly, and then needs no clone of it.
    waker: Waker,
    /// Whether the owner waits: the next arrival wakes it (once).
    waiting: bool,
    /// The owner's bound on `queue` ([`MultiPolicy::cap`]).
    cap: Option<usize>,
    capping: Capping,
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
    lifecycle: Lifecycle,
    /// [`UringOp::CANCEL_FINDS`](crate::driver::UringOp::CANCEL_FINDS) of its op.
    findable: bool,
    /// Started with nobody to poll it ([`InFlight::insert_parked`]): a runtime's drain lets
    /// it finish for a while before it cancels it.
    detached: bool,
    /// [`MultiPolicy::free_buffers`]: kept here, not in the lifecycle, so that it counts the
    /// completions of a dropped op too.
    free_buffers: Option<Rc<Cell<usize>>>,
}

/// What [`InFlight::complete`] did with a completion.
pub(crate) enum Outcome {
    /// The owning future was woken (or will find the result on its next poll).
    Delivered,
    /// The owner had been dropped: these resources are now free to drop. The caller drops
    /// them outside any driver borrow, since dropping may run user code.
    Released(Box<dyn Parked>),
    /// No live slot matches this token: a stale or unknown completion, ignored.
    Stale,
    /// Delivered, and the multishot queue reached its [`MultiPolicy::cap`]: before its
    /// next submission the caller calls [`InFlight::cancel_if_over_cap`].
    Capped,
}

/// The table of operations a backend handed off.
#[derive(Default)]
pub(crate) struct InFlight {
    slots: Tokens<Slot>,
}

impl InFlight {
    /// Number of operations handed off whose final completion has not been collected.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Reserves a slot for a new operation and returns its token.
    #[inline]
    pub(crate) fn insert(&mut self, waker: &Waker) -> u64 {
        self.slots.insert(Slot {
            lifecycle: Lifecycle::Waiting(waker.clone()),
            findable: true,
            detached: false,
            free_buffers: None,
        })
    }

    /// Reserves a slot for an operation nobody polls, parked from the start: its
    /// completion goes to the resources' orphan hook, then they are released.
    #[inline]
    pub(crate) fn insert_parked(&mut self, resources: Box<dyn Parked>) -> u64 {
        self.slots.insert(Slot {
            lifecycle: Lifecycle::Ignored(resources),
            findable: true,
            detached: true,
            free_buffers: None,
        })
    }

    /// Reserves a slot for a multishot submission (many completions) under `policy` and
    /// returns its token.
    pub(crate) fn insert_multi(&mut self, waker: &Waker, policy: &MultiPolicy) -> u64 {
        self.slots.insert(Slot {
            lifecycle: Lifecycle::Multi(Box::new(Multi {
                queue: VecDeque::new(),
                waker: waker.clone(),
                waiting: true,
                cap: policy.cap,
                capping: Capping::Open,
            })),
            findable: true,
            detached: false,
            free_buffers: policy.free_buffers.clone(),
        })
    }

    /// Records that an async cancel may miss the op of `token` while the kernel holds it
    /// ([`UringOp::CANCEL_FINDS`](crate::driver::UringOp::CANCEL_FINDS) is false).
    pub(crate) fn mark_unfindable(&mut self, token: u64) {
        if let Some(slot) = self.slots.get_mut(token) {
            slot.findable = false;
        }
    }

    /// Whether an async cancel finds the op of `token` while the kernel holds it.
    pub(crate) fn is_findable(&self, token: u64) -> bool {
        self.slots.get(token).is_some_and(|s| s.findable)
    }

    /// Whether the op of `token` was started with nobody to poll it.
    pub(crate) fn is_detached(&self, token: u64) -> bool {
        self.slots.get(token).is_some_and(|s| s.detached)
    }

    /// Whether `token` is a multishot slot.
    pub(crate) fn is_multi(&self, token: u64) -> bool {
        self.slots
            .get(token)
            .is_some_and(|s| matches!(s.lifecycle, Lifecycle::Multi(_)))
    }

    fn slot(&mut self, token: u64) -> &mut Slot {
        self.slots
            .get_mut(token)
            .expect("the caller checked the slot")
    }

    /// Polls the operation `token`: its completion if it arrived (freeing the slot, or for
    /// a multishot one taking the next completion), otherwise registers the waker.
    #[inline]
    pub(crate) fn poll(&mut self, token: u64, cx: &mut Context<'_>) -> Poll<Completion> {
        let slot = self
            .slots
            .get_mut(token)
            .expect("polled an operation that is not in flight");
        match &mut slot.lifecycle {
            Lifecycle::Completed(_) => match self.slots.take(token).lifecycle {
                Lifecycle::Completed(c) => Poll::Ready(c),
                _ => unreachable!("matched Completed above"),
            },
            Lifecycle::Waiting(w) if w.will_wake(cx.waker()) => Poll::Pending,
            lifecycle @ (Lifecycle::Waiting(_) | Lifecycle::Submitted) => {
                *lifecycle = Lifecycle::Waiting(cx.waker().clone());
                Poll::Pending
            }
            Lifecycle::Multi(multi) => match multi.queue.pop_front() {
                Some(c) => {
                    if !c.more() {
                        self.slots.remove(token);
                    }
                    Poll::Ready(c)
                }
                None => {
                    multi.waker.clone_from(cx.waker()); // no clone for the same task's
                    multi.waiting = true;
                    Poll::Pending
                }
            },
            Lifecycle::Ignored(_) => unreachable!("polled an operation after dropping it"),
            Lifecycle::Abandoned => Poll::Pending,
        }
    }

    /// Records the completion for `token`.
    #[inline(always)]
    pub(crate) fn complete(&mut self, token: u64, completion: Completion) -> Outcome {
        let Some(slot) = self.slots.get_mut(token) else {
            return Outcome::Stale;
        };
        if let Some(free) = &slot.free_buffers {
            if io_uring::cqueue::buffer_select(completion.flags).is_some() {
                free.set(free.get().saturating_sub(1));
            }
        }
        if let Lifecycle::Multi(multi) = &mut slot.lifecycle {
            // Queued in place; the owner's waker, if it waits, is woken once.
            let full = completion.more() && multi.cap.is_some_and(|c| multi.queue.len() + 1 >= c);
            if full && multi.capping == Capping::Open {
                multi.capping = Capping::Reached;
            }
            // Told on every arrival while full and not yet checked (the check takes repeats):
            // a wake below that panics loses this report, not the cap.
            let reached = full && multi.capping == Capping::Reached;
            multi.queue.push_back(completion);
            if std::mem::take(&mut multi.waiting) {
                multi.waker.wake_by_ref();
            }
            return if reached {
                Outcome::Capped
            } else {
                Outcome::Delivered
            };
        }
        if let Lifecycle::Waiting(_) | Lifecycle::Submitted = slot.lifecycle {
            // The common case, without a drop of the state replaced.
            if let Lifecycle::Waiting(waker) =
                std::mem::replace(&mut slot.lifecycle, Lifecycle::Completed(completion))
            {
                waker.wake();
            }
            return Outcome::Delivered;
        }
        match std::mem::replace(&mut slot.lifecycle, Lifecycle::Submitted) {
            Lifecycle::Waiting(_) | Lifecycle::Submitted | Lifecycle::Multi(_) => {
                unreachable!("handled above")
            }
            Lifecycle::Abandoned => {
                slot.lifecycle = Lifecycle::Abandoned;
                Outcome::Stale
            }
            Lifecycle::Ignored(resources) if completion.more() => {
                // A dropped multishot op: what this completion created is released now; the
                // resources stay parked until the last completion (parked again before the
                // hook runs, so a hook that panics leaves them parked).
                slot.lifecycle = Lifecycle::Ignored(resources);
                if let Lifecycle::Ignored(resources) = &mut slot.lifecycle {
                    resources.orphan(completion);
                }
                Outcome::Delivered
            }
            Lifecycle::Ignored(mut resources) => {
                self.slots.remove(token);
                resources.orphan(completion);
                Outcome::Released(resources)
            }
            Lifecycle::Completed(_) => {
                unreachable!("a second completion for a single-shot operation")
            }
        }
    }

    /// The future of `token` was dropped. If the completion already arrived the slot is
    /// freed and the resources are handed back to be dropped now; otherwise they are parked
    /// in the slot until the completion arrives, and `None` is returned.
    /// A completion that arrived but was never collected is handed to the resources'
    /// orphan hook first, so what it created (an accepted fd) is released too.
    pub(crate) fn ignore(
        &mut self,
        token: u64,
        mut resources: Box<dyn Parked>,
    ) -> Option<Box<dyn Parked>> {
        // Only ops this table handed a token to are dropped in flight: a missing slot is a
        // bug, and returning the resources would drop them inside the driver borrow.
        let slot = self
            .slots
            .get_mut(token)
            .expect("dropped an operation that is not in flight");
        match std::mem::replace(&mut slot.lifecycle, Lifecycle::Submitted) {
            Lifecycle::Completed(c) => {
                self.slots.remove(token);
                resources.orphan(c);
                Some(resources)
            }
            Lifecycle::Abandoned => {
                // The kernel may still read them: leaked, never freed.
                self.slots.remove(token);
                std::mem::forget(resources);
                None
            }
            Lifecycle::Multi(multi) => {
                let queue = multi.queue;
                if queue.iter().any(|c| !c.more()) {
                    // The last completion is in: the kernel is done with the op.
                    self.slots.remove(token);
                    queue.into_iter().for_each(|c| resources.orphan(c));
                    return Some(resources);
                }
                // Parked before the hooks run, so a hook that panics leaves them parked.
                let slot = self.slot(token);
                slot.lifecycle = Lifecycle::Ignored(resources);
                if let Lifecycle::Ignored(resources) = &mut slot.lifecycle {
                    queue.into_iter().for_each(|c| resources.orphan(c));
                }
                None
            }
            _ => {
                self.slot(token).lifecycle = Lifecycle::Ignored(resources);
                None
            }
        }
    }

    /// The parked resources of `token`, if its future was dropped and its final completion
    /// has not arrived.
    pub(crate) fn parked_mut(&mut self, token: u64) -> Option<&mut Box<dyn Parked>> {
        match &mut self.slots.get_mut(token)?.lifecycle {
            Lifecycle::Ignored(resources) => Some(resources),
            _ => None,
        }
    }

    /// Gives up on `token` (for the drain, when only a notification that may never come is
    /// left of the op): parked resources are leaked with the slot, never freed (the kernel
    /// may still read them); a live op's slot stays, [`Lifecycle::Abandoned`], so that its
    /// future, when dropped, leaks them too.
    pub(crate) fn abandon(&mut self, token: u64) {
        let Some(slot) = self.slots.get_mut(token) else {
            return;
        };
        match slot.lifecycle {
            Lifecycle::Ignored(_) => std::mem::forget(self.slots.remove(token)),
            _ => slot.lifecycle = Lifecycle::Abandoned,
        }
    }

    /// For a multishot slot whose queue reached its cap ([`Outcome::Capped`]): whether it
    /// is still full now, its owner having had a turn to take from it. If so the slot is
    /// marked and `true` is returned once: the caller cancels the submission. Otherwise
    /// (taken below the cap, or the slot is gone) the cap is watched again.
    pub(crate) fn cancel_if_over_cap(&mut self, token: u64) -> bool {
        let Some(slot) = self.slots.get_mut(token) else {
            return false;
        };
        let Lifecycle::Multi(multi) = &mut slot.lifecycle else {
            return false;
        };
        let Multi {
            queue,
            cap: Some(cap),
            capping,
            ..
        } = &mut **multi
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

    /// The token of every operation whose final completion has not arrived yet.
    pub(crate) fn pending(&self) -> impl Iterator<Item = u64> + '_ {
        self.slots
            .iter()
            .filter_map(|(token, slot)| match &slot.lifecycle {
                Lifecycle::Completed(_) | Lifecycle::Abandoned => None,
                Lifecycle::Multi(multi) if multi.queue.iter().any(|c| !c.more()) => None,
                _ => Some(token),
            })
    }
}

#[cfg(test)]
mod tests;
