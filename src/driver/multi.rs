//! [`MultiOp`]: drives one [`OpCode`] for a stream of completions.
//!
//! On io_uring the op's SQE may be multishot (accept, recv with provided buffers): one
//! submission, many completions, queued in the in-flight slot until taken (invariant 5).
//! When the last completion arrives (no `IORING_CQE_F_MORE`: an error, a full buffer ring,
//! or a single-shot SQE) the op is armed again on the next poll. On the readiness driver the
//! same op is simply run again for each item. Dropping a `MultiOp` in flight parks the op
//! (cancelling it on io_uring); completions that still arrive go to its orphan hook.

use std::rc::Rc;
use std::task::{Context, Poll};

use super::{Completion, OpCode, OpState};
use crate::runtime::context::{self, Core};

/// The repeating counterpart of [`Op`](super::Op): `poll_next` gives each completion.
pub(crate) struct MultiOp<T: OpCode> {
    data: Option<T>,
    state: OpState,
    core: Option<Rc<Core>>,
}

impl<T: OpCode> MultiOp<T> {
    pub(crate) fn new(data: T) -> Self {
        MultiOp {
            data: Some(data),
            state: OpState::Idle,
            core: None,
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
        let completion = std::task::ready!(core.driver_mut().poll_multi(&mut self.state, data, cx));
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
