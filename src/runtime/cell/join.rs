//! [`RawJoin`]: the cell's side of a task's `JoinHandle`, its output and the join waker
//! under the `[cell-access]` rules of `cell.rs`.

use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, Waker};

use super::{release, update, waker_of, Header, WakerFns, COMPLETE, JOIN_INTEREST, JOIN_WAKER};

/// The handle of a task's output (`T`, the future's output): awaited by the
/// `JoinHandle`. Holds a reference.
pub(crate) struct RawJoin<T, M> {
    pub(super) ptr: NonNull<Header<M>>,
    pub(super) _output: PhantomData<T>,
}

// SAFETY: the handle reaches the cell through its state word (atomic), its join waker
// (under the cell's protocol, `[cell-access]`) and `&M` (`Sync`); the output it takes or
// drops is `T`, `Send` here.
unsafe impl<T: Send, M: Send + Sync> Send for RawJoin<T, M> {}
// SAFETY: shared access only reads the state word and `M`, and wakes.
unsafe impl<T: Send, M: Send + Sync> Sync for RawJoin<T, M> {}

impl<T, M> RawJoin<T, M> {
    /// The runtime's data of the task.
    pub(crate) fn metadata(&self) -> &M {
        // SAFETY: the handle's reference keeps the cell alive.
        unsafe { &self.ptr.as_ref().meta }
    }

    fn header(&self) -> &Header<M> {
        // SAFETY: the handle's reference keeps the cell alive.
        unsafe { self.ptr.as_ref() }
    }

    /// A waker of the task (a reference of its own).
    pub(crate) fn waker(&self) -> Waker {
        waker_of(self.ptr)
    }

    /// Wakes the task, as its wakers do.
    pub(crate) fn wake(&self) {
        // SAFETY: the handle's reference keeps the cell alive for the call.
        unsafe { WakerFns::<M>::wake_by_ref(self.ptr.as_ptr().cast_const().cast()) }
    }

    /// Whether the task completed (its future is gone).
    pub(crate) fn is_finished(&self) -> bool {
        self.header().state.load(Ordering::Acquire) & COMPLETE != 0
    }

    /// The output once the task completed: `Some(None)` if its future was dropped before
    /// it finished (the runtime shut down). Must not be polled again after `Ready`.
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let header = self.header();
        let state = header.state.load(Ordering::Acquire);
        if state & COMPLETE == 0 {
            let set = if state & JOIN_WAKER == 0 {
                self.set_join_waker(cx.waker())
            } else {
                // SAFETY: JOIN_WAKER is set: the runner may read the waker, nobody writes
                // it; reading is allowed (`[cell-access]`).
                let same = unsafe { &*header.join_waker.get() }
                    .as_ref()
                    .is_some_and(|w| w.will_wake(cx.waker()));
                if same {
                    return Poll::Pending;
                }
                // Take the waker back to replace it; fails once COMPLETE is set.
                let unset = update(&header.state, |s| {
                    (s & COMPLETE == 0).then_some(s & !JOIN_WAKER)
                });
                match unset {
                    Ok(_) => self.set_join_waker(cx.waker()),
                    Err(_) => false,
                }
            };
            if set {
                return Poll::Pending;
            }
        }
        let mut out: Option<T> = None;
        // SAFETY: COMPLETE is set and this handle held JOIN_INTEREST at completion (it
        // still does); `out` is an `Option` of the future's output type.
        unsafe {
            (header.vtable.read_output)(self.ptr.cast(), (&mut out as *mut Option<T>).cast())
        };
        Poll::Ready(out)
    }

    /// Stores `waker` as the join waker and sets JOIN_WAKER; false if the task completed
    /// first (the waker is dropped again). Called with JOIN_WAKER clear.
    fn set_join_waker(&self, waker: &Waker) -> bool {
        let header = self.header();
        // SAFETY: JOIN_WAKER is clear and COMPLETE was not set: the waker is the handle's
        // (`[cell-access]`).
        unsafe { *header.join_waker.get() = Some(waker.clone()) };
        let set = update(&header.state, |s| {
            (s & COMPLETE == 0).then_some(s | JOIN_WAKER)
        });
        if set.is_err() {
            // SAFETY: JOIN_WAKER stayed clear: still the handle's.
            drop(unsafe { (*header.join_waker.get()).take() });
            return false;
        }
        true
    }
}

impl<T, M> Drop for RawJoin<T, M> {
    fn drop(&mut self) {
        let header = self.header();
        let prev = update(&header.state, |s| {
            let next = s & !JOIN_INTEREST;
            // Not complete: the waker is ours again (the runner will not read it).
            Some(match s & COMPLETE {
                0 => next & !JOIN_WAKER,
                _ => next,
            })
        })
        .unwrap_or_else(|s| s);
        if prev & COMPLETE != 0 {
            // The output is ours (JOIN_INTEREST was set at completion): dropped here.
            // SAFETY: as in `poll`.
            unsafe { (header.vtable.drop_output)(self.ptr.cast()) };
        }
        if prev & COMPLETE == 0 || prev & JOIN_WAKER == 0 {
            // JOIN_WAKER is clear now and stays so: the waker is ours.
            // SAFETY: the runner reads it only while JOIN_WAKER is set (`[cell-access]`).
            drop(unsafe { (*header.join_waker.get()).take() });
        }
        // SAFETY: the handle's reference, given up.
        unsafe { release::<M>(self.ptr.cast()) };
    }
}
