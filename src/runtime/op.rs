//! The op futures: [`Op`] drives one [`Operation`] to its completion, [`MultiOp`] drives one
//! for a stream of completions. Both hold only the driver's [`Handle`], taken from the
//! current runtime at the first poll, never the executor.
//!
//! Lazy: nothing is submitted until the first poll. Dropping either while the backend holds
//! the op hands the op to the backend, which keeps what the kernel may still touch until its
//! final completion (`[parked-on-drop]`).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use super::context;
use crate::driver::{Completion, Expired, Handle, MultiPolicy, OpState, Operation};
use crate::op::nop::Nop;

/// What both futures hold: the op, where it stands, and the driver it was started on.
struct Slot<T: Operation> {
    data: Option<T>,
    state: OpState,
    driver: Option<Handle>,
}

impl<T: Operation> Slot<T> {
    fn new(data: T) -> Self {
        Slot {
            data: Some(data),
            state: OpState::Idle,
            driver: None,
        }
    }

    /// The driver and the op, for one step: the current runtime's driver. An op that is
    /// not handed off moves to the runtime polling it; one that is handed off cannot
    /// (another ring or epoll set holds it), and polling it elsewhere is a clear panic.
    #[inline]
    fn parts(&mut self) -> (&Handle, &mut OpState, &mut T) {
        match &self.driver {
            // Its runtime's block_on runs: on this thread that is the current runtime.
            Some(bound) if bound.is_active() => {}
            Some(_) if self.state != OpState::Idle => panic!(
                "proactor: an operation started on one runtime was polled on another (or \
                 after its runtime was dropped); await it on the runtime that started it"
            ),
            _ => self.driver = Some(context::current_driver()),
        }
        let driver = self.driver.as_ref().expect("bound above");
        let data = self.data.as_mut().expect("op polled after completion");
        (driver, &mut self.state, data)
    }
}

impl<T: Operation> Drop for Slot<T> {
    #[inline]
    fn drop(&mut self) {
        if self.data.is_none() {
            return; // collected: nothing of the op is left to hand over
        }
        if let (Some(driver), Some(data)) = (&self.driver, self.data.take()) {
            driver.drop_op(self.state, data);
        }
    }
}

/// The future that drives one operation to completion on the current runtime's driver.
pub(crate) struct Op<T: Operation> {
    slot: Slot<T>,
}

// Moving an `Op` moves only handles: the memory the kernel uses is on the heap
// (`[heap-owned]`).
impl<T: Operation> Unpin for Op<T> {}

impl<T: Operation> Op<T> {
    pub(crate) fn new(data: T) -> Self {
        Op {
            slot: Slot::new(data),
        }
    }

    /// Whether the op was polled (it may be in the kernel).
    pub(crate) fn is_started(&self) -> bool {
        self.slot.state != OpState::Idle || self.slot.driver.is_some()
    }

    /// The output of an op that was never polled (so the kernel never saw it), as if it
    /// had failed with `e`: its buffers come back with the error.
    pub(crate) fn fail(mut self, e: io::Error) -> T::Output {
        assert!(
            self.slot.state == OpState::Idle,
            "proactor: an op in flight cannot be failed"
        );
        let data = self
            .slot
            .data
            .take()
            .expect("an op never polled has its data");
        data.complete(Completion::of(Err(e)))
    }
}

impl<T: Operation> Op<T> {
    /// Polls the op under a deadline `after` from its start ([`Handle::poll_op_timed`]):
    /// an io_uring backend links a timeout to its submission; the epoll backend polls
    /// `expired`, the caller's timer, while the op waits. On expiry the output carries an
    /// error of kind `TimedOut` (and the buffers back).
    pub(crate) fn poll_timed(
        &mut self,
        after: Duration,
        expired: Expired<'_>,
        cx: &mut Context<'_>,
    ) -> Poll<T::Output> {
        let slot = &mut self.slot;
        let (driver, state, data) = slot.parts();
        let completion = ready!(driver.poll_op_timed(state, data, after, expired, cx));
        let data = slot.data.take().expect("checked above");
        Poll::Ready(data.complete(completion))
    }
}

impl<T: Operation> Future for Op<T> {
    type Output = T::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T::Output> {
        let slot = &mut self.get_mut().slot;
        let (driver, state, data) = slot.parts();
        let completion = ready!(driver.poll_op(state, data, cx));
        let data = slot.data.take().expect("checked above");
        Poll::Ready(data.complete(completion))
    }
}

/// The repeating counterpart of [`Op`]: `poll_next` gives each completion.
///
/// On io_uring the op's SQE may be multishot (accept, recv with provided buffers): one
/// submission, many completions, queued in the in-flight slot until taken
/// (`[multishot-slot]`). When the last completion arrives (no `IORING_CQE_F_MORE`: an error,
/// a full buffer ring, a cancel, or a single-shot SQE) the op is armed again on the next
/// poll. On the readiness backend the same op is simply run again for each item. Dropping a
/// `MultiOp` in flight parks the op (cancelling it on io_uring); completions that still
/// arrive go to its orphan hook.
///
/// A [`MultiPolicy`] may bound the queue: when that many completions wait untaken, and
/// still do at the driver's next turn, it cancels the submission. Nothing is lost: the
/// completions queued before the cancel took effect, and its last one (`-ECANCELED`, or data
/// that ended the op first), are delivered in order; taking the last sets the op back to
/// idle, and the next poll arms it again.
pub(crate) struct MultiOp<T: Operation> {
    slot: Slot<T>,
    policy: MultiPolicy,
}

impl<T: Operation> MultiOp<T> {
    /// A repeating op whose multishot submissions follow `policy`.
    pub(crate) fn with_policy(data: T, policy: MultiPolicy) -> Self {
        MultiOp {
            slot: Slot::new(data),
            policy,
        }
    }

    /// The op itself, to turn a completion into an item.
    pub(crate) fn get_mut(&mut self) -> &mut T {
        self.slot.data.as_mut().expect("present until dropped")
    }

    /// Whether no submission is outstanding (the next poll arms the op again).
    pub(crate) fn is_idle(&self) -> bool {
        self.slot.state == OpState::Idle
    }

    /// The next completion; submits (again) when the op is not armed.
    #[inline]
    pub(crate) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Completion> {
        let (driver, state, data) = self.slot.parts();
        driver.poll_multi(state, data, &self.policy, cx)
    }
}

/// Submits a no-op to the driver and waits for its completion: the cost of one operation
/// round trip with no I/O. Useful to measure the driver, or to yield through the ring.
///
/// ```
/// proactor::block_on(async { proactor::nop().await.unwrap() });
/// ```
pub async fn nop() -> io::Result<()> {
    Op::new(Nop).await
}
