//! [`MultiOp`]: drives one [`OpCode`] for a stream of completions.
//!
//! On io_uring the op's SQE may be multishot (accept, recv with provided buffers): one
//! submission, many completions, queued in the in-flight slot until taken (invariant 5).
//! When the last completion arrives (no `IORING_CQE_F_MORE`: an error, a full buffer ring,
//! or a single-shot SQE) the op is armed again on the next poll. On the readiness driver the
//! same op is simply run again for each item. Dropping a `MultiOp` in flight parks the op
//! (cancelling it on io_uring); completions that still arrive go to its orphan hook.
//!
//! A [`MultiPolicy`] may bound the queue: when that many completions wait untaken, and
//! still do at the driver's next turn, it cancels the submission (the drop path's cancel).
//! Nothing is lost: the completions queued before the cancel took effect, and its last one
//! (`-ECANCELED`, or data that ended the op first), are delivered in order; taking the last
//! sets the op back to idle, and the next poll arms it again.

use std::rc::Rc;
use std::task::{Context, Poll};

use super::inflight::MultiPolicy;
use super::{Completion, OpCode, OpState};
use crate::runtime::context::{self, Core};

/// The repeating counterpart of [`Op`](super::Op): `poll_next` gives each completion.
pub(crate) struct MultiOp<T: OpCode> {
    data: Option<T>,
    state: OpState,
    core: Option<Rc<Core>>,
    policy: MultiPolicy,
}

impl<T: OpCode> MultiOp<T> {
    /// A repeating op whose completions queue without bound (each holds nothing scarce).
    pub(crate) fn new(data: T) -> Self {
        Self::with_policy(data, MultiPolicy::default())
    }

    /// A repeating op whose multishot submissions follow `policy`.
    pub(crate) fn with_policy(data: T, policy: MultiPolicy) -> Self {
        MultiOp {
            data: Some(data),
            state: OpState::Idle,
            core: None,
            policy,
        }
    }

    /// The op itself, to turn a completion into an item.
    pub(crate) fn get_mut(&mut self) -> &mut T {
        self.data.as_mut().expect("present until dropped")
    }

    /// Whether no submission is outstanding (the next poll arms the op again).
    pub(crate) fn is_idle(&self) -> bool {
        matches!(self.state, OpState::Idle)
    }

    /// The next completion; submits (again) when the op is not armed.
    pub(crate) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Completion> {
        let core = self.core.get_or_insert_with(context::current);
        let data = self.data.as_mut().expect("present until dropped");
        let completion = std::task::ready!(core.driver_mut().poll_multi(
            &mut self.state,
            data,
            &self.policy,
            cx
        ));
        if !completion.more() {
            self.state = OpState::Idle;
        }
        Poll::Ready(completion)
    }
}

impl<T: OpCode> Drop for MultiOp<T> {
    fn drop(&mut self) {
        super::park_dropped(self.core.as_ref(), &mut self.state, &mut self.data);
    }
}
