//! The task cell: one allocation per task holding its state word, its future (then its
//! output), the waker of whoever awaits its [`JoinHandle`](super::task::JoinHandle), and the
//! runtime's data of the task (`M`, the [`TaskHeader`](super::task::TaskHeader)).
//!
//! Three kinds of handle hold a reference each: a [`Task`] (the right to run the task: at
//! most one exists, while `NOTIFIED` is set), every [`Waker`], and the [`RawJoin`] of the
//! task's `JoinHandle`. The last one dropped frees the cell.
//!
//! Who touches what (`[cell-access]`):
//! - the stage (future, then output) belongs to the holder of the `Task` while it runs or
//!   drops it (`RUNNING` set, by that holder only); after `COMPLETE`, the output belongs to
//!   the `RawJoin` if `JOIN_INTEREST` was set when `COMPLETE` was, else it was dropped by
//!   the runner;
//! - the join waker belongs to the `RawJoin` while `JOIN_WAKER` is clear and `COMPLETE` is
//!   not set; while `JOIN_WAKER` is set the runner may read (wake) it and nobody writes it;
//!   once `COMPLETE` is set the runner clears `JOIN_WAKER` after waking, and whichever of
//!   the runner and the `RawJoin` sees the other gone drops it (or the cell's free does).
//!
//! A task runs and its future is dropped only where its schedule function sends its `Task`:
//! the spawner's contract (`spawn`'s safety section).

use std::cell::UnsafeCell;
use std::future::Future;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

/// A `Task` exists for the task: queued, about to be, or running (then the run queues it
/// again when the poll returns).
const NOTIFIED: usize = 1;
/// The holder of the `Task` is polling the future (or dropping it).
const RUNNING: usize = 2;
/// The future is gone: its output is in the stage (or was taken or dropped).
const COMPLETE: usize = 4;
/// The `RawJoin` exists: the output is kept for it.
const JOIN_INTEREST: usize = 8;
/// The join waker is set, and the runner may wake it.
const JOIN_WAKER: usize = 16;
/// One reference; the count is the state's bits from here up.
const REF_ONE: usize = 64;
const REF_MASK: usize = !(REF_ONE - 1);

/// The functions that know the future's type.
struct Vtable {
    /// Polls the future once (the `Task`'s reference is consumed).
    run: unsafe fn(NonNull<()>),
    /// Drops the future unpolled (the `Task`'s reference is consumed).
    cancel: unsafe fn(NonNull<()>),
    /// Moves the output into `*mut Option<Output>`; `None` when the future was dropped
    /// before it finished.
    read_output: unsafe fn(NonNull<()>, *mut ()),
    /// Drops the output, if still there.
    drop_output: unsafe fn(NonNull<()>),
    /// Frees the cell.
    dealloc: unsafe fn(NonNull<()>),
}

/// The part of a cell every handle sees, whatever the future's type: first in the cell, so
/// a pointer to it is a pointer to the cell.
#[repr(C)]
pub(crate) struct Header<M> {
    state: AtomicUsize,
    vtable: &'static Vtable,
    /// Where a `Task` goes when the task is woken.
    schedule: fn(Task<M>),
    join_waker: UnsafeCell<Option<Waker>>,
    meta: M,
}

#[repr(C)]
struct Cell<F: Future, M> {
    header: Header<M>,
    stage: UnsafeCell<Stage<F>>,
}

enum Stage<F: Future> {
    Running(F),
    Finished(F::Output),
    Consumed,
}

pub(crate) use join::RawJoin;

/// The right to run a task once: run it, or drop it (which drops the future unrun).
pub(crate) struct Task<M> {
    ptr: NonNull<Header<M>>,
}

// SAFETY: a `Task` is moved to its runtime's thread through the remote queue; the future
// behind it is polled or dropped only where the spawner's contract allows (`spawn`), and
// the header's data `M` is shared between threads only if it is `Sync`.
unsafe impl<M: Send + Sync> Send for Task<M> {}
// SAFETY: as above; a shared `Task` only gives `&M`.
unsafe impl<M: Send + Sync> Sync for Task<M> {}

/// Allocates a task running the future `build` makes from a pointer to the header's data.
/// Returns the `Task` to schedule its first run and the handle of its output, a reference
/// each.
///
/// # Safety
/// The future is polled and dropped wherever `schedule` sends the task's `Task`, and
/// dropped wherever a `Task` is dropped unrun: the caller guarantees that is sound for `F`
/// (e.g. `schedule` keeps it on one thread, or `F` is `Send` until its first poll). `F`
/// and its output must outlive the cell: they are `'static` at the callers.
pub(crate) unsafe fn spawn<F, M>(
    meta: M,
    schedule: fn(Task<M>),
    build: impl FnOnce(NonNull<M>) -> F,
) -> (Task<M>, RawJoin<F::Output, M>)
where
    F: Future,
{
    let cell = Box::new(Cell::<F, M> {
        header: Header {
            // The `Task` and the `RawJoin` returned.
            state: AtomicUsize::new(NOTIFIED | JOIN_INTEREST | (2 * REF_ONE)),
            vtable: &Cell::<F, M>::VTABLE,
            schedule,
            join_waker: UnsafeCell::new(None),
            meta,
        },
        stage: UnsafeCell::new(Stage::Consumed),
    });
    let cell = NonNull::from(Box::leak(cell));
    // SAFETY: the cell was just allocated and nothing else points at it yet; its data
    // stays at this address until the cell is freed.
    unsafe {
        let meta = NonNull::from(&(*cell.as_ptr()).header.meta);
        *(*cell.as_ptr()).stage.get() = Stage::Running(build(meta));
    }
    let ptr = cell.cast::<Header<M>>();
    (
        Task { ptr },
        RawJoin {
            ptr,
            _output: PhantomData,
        },
    )
}

impl<F: Future, M> Cell<F, M> {
    const VTABLE: Vtable = Vtable {
        run: Self::run,
        cancel: Self::cancel,
        read_output: Self::read_output,
        drop_output: Self::drop_output,
        dealloc: Self::dealloc,
    };

    /// Takes RUNNING for the holder of the cell's `Task`, which gives NOTIFIED up: both flip
    /// at once (NOTIFIED is set and RUNNING clear while a `Task` exists unrun).
    ///
    /// # Safety
    /// `ptr` is a live cell of this type whose `Task` the caller holds; the header is used
    /// only until that `Task`'s reference is given up.
    unsafe fn claim<'a>(ptr: NonNull<()>) -> &'a Header<M> {
        // SAFETY: the caller's contract.
        let header = unsafe { &(*ptr.cast::<Self>().as_ptr()).header };
        header
            .state
            .fetch_xor(NOTIFIED | RUNNING, Ordering::Acquire);
        header
    }

    /// # Safety
    /// `ptr` is a live cell of this type whose `Task` the caller gives up.
    unsafe fn run(ptr: NonNull<()>) {
        let cell = ptr.cast::<Self>();
        // SAFETY: the caller's `Task` keeps the cell alive until its reference is given up
        // below (`complete`, `dealloc`), after the last use of `header`.
        let header = unsafe { Self::claim(ptr) };
        // The `Task`'s reference backs this waker while the poll lasts; a clone takes its own.
        // SAFETY: the data and vtable make a waker of this cell (`waker_vtable`).
        let waker = ManuallyDrop::new(unsafe {
            Waker::from_raw(RawWaker::new(ptr.as_ptr(), waker_vtable::<M>()))
        });
        let mut cx = Context::from_waker(&waker);
        // SAFETY: the cell is alive (above).
        let stage = unsafe { (*cell.as_ptr()).stage.get() };
        // SAFETY: RUNNING is ours: nobody else touches the stage (`[cell-access]`).
        let Stage::Running(fut) = (unsafe { &mut *stage }) else {
            unreachable!("a task ran after it finished")
        };
        // A panic out of the poll (the runtime's wrapper catches the future's own, so none
        // is expected) completes the task without output rather than leaving it RUNNING.
        let mut guard = Unwinding::<F, M> {
            ptr,
            future_dropped: false,
            _cell: PhantomData,
        };
        // SAFETY: the future never moves out of the cell while `Running`: it is dropped in
        // place.
        let poll = unsafe { Pin::new_unchecked(fut) }.poll(&mut cx);
        match poll {
            Poll::Pending => {
                std::mem::forget(guard);
                let state = update(&header.state, |state| {
                    // Woken while polled: the `Task`'s reference goes to its next run.
                    Some(match state & NOTIFIED {
                        0 => (state & !RUNNING) - REF_ONE,
                        _ => state & !RUNNING,
                    })
                })
                .unwrap_or_else(|state| state);
                if state & NOTIFIED != 0 {
                    (header.schedule)(Task { ptr: ptr.cast() });
                } else if state & REF_MASK == REF_ONE {
                    // The last reference: nothing can wake the task any more. Its future is
                    // still there and may only be dropped here, on the runtime's thread.
                    // SAFETY: no handle is left; RUNNING was ours; the stage is ours.
                    unsafe {
                        *(*cell.as_ptr()).stage.get() = Stage::Consumed;
                        Self::dealloc(ptr);
                    }
                }
            }
            Poll::Ready(out) => {
                // The future is dropped in place (still guarded: a panic there completes the
                // task without output; the stage counts as dropped then), then the output
                // takes its place.
                guard.future_dropped = true;
                // SAFETY: RUNNING is ours (`[cell-access]`); the stage holds the future.
                unsafe { std::ptr::drop_in_place(stage) };
                std::mem::forget(guard);
                // SAFETY: as above; the stage's value was dropped: overwritten, not dropped.
                unsafe { std::ptr::write(stage, Stage::Finished(out)) };
                // SAFETY: as above; the `Task`'s reference is given up.
                unsafe { Self::complete(ptr) };
            }
        }
    }

    /// Drops the future of a `Task` dropped unrun: the task completes with no output.
    ///
    /// # Safety
    /// `ptr` is a live cell of this type whose `Task` the caller gives up.
    unsafe fn cancel(ptr: NonNull<()>) {
        let cell = ptr.cast::<Self>();
        // SAFETY: the caller's `Task` keeps the cell alive until `complete` gives it up.
        unsafe { Self::claim(ptr) };
        // SAFETY: RUNNING is ours (`[cell-access]`): the future is dropped in place.
        unsafe { *(*cell.as_ptr()).stage.get() = Stage::Consumed };
        // SAFETY: as above.
        unsafe { Self::complete(ptr) };
    }

    /// Marks the task complete (the stage holds its output, or `Consumed`), hands the
    /// output to the join handle or drops it, wakes the handle's waker, and gives up the
    /// `Task`'s reference.
    ///
    /// # Safety
    /// RUNNING is set by the caller, which holds the `Task`'s reference.
    unsafe fn complete(ptr: NonNull<()>) {
        let cell = ptr.cast::<Self>();
        // SAFETY: the caller's reference keeps the cell alive.
        let header = unsafe { &(*cell.as_ptr()).header };
        let state = update(&header.state, |state| {
            Some((state & !(RUNNING | NOTIFIED)) | COMPLETE)
        })
        .unwrap_or_else(|state| state);
        if state & JOIN_INTEREST == 0 {
            // Nobody will read the output: dropped here, where the future ran.
            // SAFETY: without JOIN_INTEREST the output is the runner's (`[cell-access]`).
            unsafe { *(*cell.as_ptr()).stage.get() = Stage::Consumed };
        } else if state & JOIN_WAKER != 0 {
            // SAFETY: JOIN_WAKER is set: the handle does not write the waker
            // (`[cell-access]`); reading it is ours.
            if let Some(waker) = unsafe { &*header.join_waker.get() } {
                // Whoever awaits the handle: a panic of its waker is not the task's.
                let _ = std::panic::catch_unwind(AssertUnwindSafe(|| waker.wake_by_ref()));
            }
            let after = header.state.fetch_and(!JOIN_WAKER, Ordering::AcqRel);
            if after & JOIN_INTEREST == 0 {
                // The handle went while we woke its waker; it left the waker to us.
                // SAFETY: the handle is gone and JOIN_WAKER was still set: ours.
                drop(unsafe { (*header.join_waker.get()).take() });
            }
        }
        // SAFETY: the `Task`'s reference, given up.
        unsafe { release::<M>(ptr) };
    }

    /// # Safety
    /// `ptr` is a live cell of this type, `COMPLETE` is set, the caller is its `RawJoin`
    /// (JOIN_INTEREST was set at completion), and `dst` points at an `Option<F::Output>`.
    unsafe fn read_output(ptr: NonNull<()>, dst: *mut ()) {
        let cell = ptr.cast::<Self>();
        // SAFETY: the output is the handle's after COMPLETE (`[cell-access]`).
        let stage =
            unsafe { std::mem::replace(&mut *(*cell.as_ptr()).stage.get(), Stage::Consumed) };
        let out = match stage {
            Stage::Finished(out) => Some(out),
            Stage::Consumed => None,
            Stage::Running(_) => unreachable!("output read before completion"),
        };
        // SAFETY: the caller's contract on `dst`.
        unsafe { *dst.cast::<Option<F::Output>>() = out };
    }

    /// # Safety
    /// As `read_output`, without `dst`.
    unsafe fn drop_output(ptr: NonNull<()>) {
        let cell = ptr.cast::<Self>();
        // SAFETY: the output is the handle's after COMPLETE (`[cell-access]`).
        unsafe { *(*cell.as_ptr()).stage.get() = Stage::Consumed };
    }

    /// # Safety
    /// `ptr` is a cell of this type whose last reference is gone.
    unsafe fn dealloc(ptr: NonNull<()>) {
        // SAFETY: allocated as a `Box<Self>` in `spawn`; no reference is left. The stage
        // is `Consumed` or holds what nobody else can reach any more.
        drop(unsafe { Box::from_raw(ptr.cast::<Self>().as_ptr()) });
    }
}

/// Armed while a task's future is polled and dropped: dropped only if that unwinds, it
/// drops the future (unless its drop is what unwound) and completes the task without
/// output, as a cancel does.
struct Unwinding<F: Future, M> {
    ptr: NonNull<()>,
    /// The stage's value was dropped (or is being dropped): it is overwritten, not dropped.
    future_dropped: bool,
    _cell: PhantomData<(F, M)>,
}

impl<F: Future, M> Drop for Unwinding<F, M> {
    fn drop(&mut self) {
        let cell = self.ptr.cast::<Cell<F, M>>();
        // SAFETY: the run that armed the guard holds the `Task`'s reference and RUNNING
        // (`[cell-access]`): the stage is ours, and `complete` takes that reference. A
        // stage whose drop unwound is written over without another drop.
        unsafe {
            let stage = (*cell.as_ptr()).stage.get();
            match self.future_dropped {
                true => std::ptr::write(stage, Stage::Consumed),
                false => *stage = Stage::Consumed,
            }
            Cell::<F, M>::complete(self.ptr);
        }
    }
}

/// Drops one reference; the last frees the cell.
///
/// # Safety
/// The caller holds a reference to the live cell at `ptr` and gives it up.
unsafe fn release<M>(ptr: NonNull<()>) {
    // SAFETY: the caller's reference keeps the cell alive until the decrement, and only
    // until then: after it, another thread may free the cell, so nothing is read from it
    // again unless this was the last reference.
    let state = unsafe { ptr.cast::<Header<M>>().as_ref() }
        .state
        .fetch_sub(REF_ONE, Ordering::AcqRel);
    if state & REF_MASK == REF_ONE {
        // SAFETY: this decrement took the last reference.
        unsafe { free_last::<M>(ptr.as_ptr(), state) };
    }
}

/// The waker vtable of cells with data `M`.
fn waker_vtable<M>() -> &'static RawWakerVTable {
    &WakerFns::<M>::VTABLE
}

struct WakerFns<M>(PhantomData<M>);

impl<M> WakerFns<M> {
    const VTABLE: RawWakerVTable =
        RawWakerVTable::new(Self::clone, Self::wake, Self::wake_by_ref, Self::drop);

    unsafe fn clone(data: *const ()) -> RawWaker {
        // SAFETY: a waker's data is a live cell it holds a reference to.
        let header = unsafe { &*data.cast::<Header<M>>() };
        let prev = header.state.fetch_add(REF_ONE, Ordering::Relaxed);
        if prev > isize::MAX as usize {
            std::process::abort(); // a reference count this large is a leak of wakers
        }
        RawWaker::new(data, waker_vtable::<M>())
    }

    unsafe fn wake(data: *const ()) {
        // SAFETY: as in `clone`; this waker's reference is consumed below.
        let header = unsafe { &*data.cast::<Header<M>>() };
        let prev = update(&header.state, |state| {
            Some(match () {
                _ if state & (COMPLETE | NOTIFIED) != 0 => state - REF_ONE,
                // Running: the run queues it again; this reference goes.
                _ if state & RUNNING != 0 => (state | NOTIFIED) - REF_ONE,
                // This reference becomes the new `Task`'s.
                _ => state | NOTIFIED,
            })
        })
        .unwrap_or_else(|state| state);
        if prev & (COMPLETE | NOTIFIED | RUNNING) == 0 {
            // SAFETY: the state now has NOTIFIED and the reference for the `Task`.
            unsafe { schedule_new::<M>(data) };
        } else if prev & REF_MASK == REF_ONE {
            // The last reference (only possible once COMPLETE).
            // SAFETY: the reference was this waker's; the state is updated.
            unsafe { free_last::<M>(data, prev) };
        }
    }

    unsafe fn wake_by_ref(data: *const ()) {
        // SAFETY: as in `clone`.
        let header = unsafe { &*data.cast::<Header<M>>() };
        let prev = update(&header.state, |state| match () {
            _ if state & COMPLETE != 0 => None,
            // Queued already: a read-modify-write of the same value still, so that what this
            // thread wrote before the wake (an abort flag) is seen by the coming run, whose
            // acquiring `fetch_xor` synchronises with it; a plain load would not publish it.
            _ if state & NOTIFIED != 0 => Some(state),
            // Running: the run queues it again.
            _ if state & RUNNING != 0 => Some(state | NOTIFIED),
            // A new `Task`, with a reference of its own.
            _ => Some((state | NOTIFIED) + REF_ONE),
        });
        if let Ok(prev) = prev {
            if prev & (NOTIFIED | RUNNING) == 0 {
                // SAFETY: the state now has NOTIFIED and the reference for the `Task`.
                unsafe { schedule_new::<M>(data) };
            }
        }
    }

    unsafe fn drop(data: *const ()) {
        // SAFETY: this waker's reference, given up; a waker's data is a non-null pointer
        // to its cell.
        unsafe { release::<M>(NonNull::new_unchecked(data.cast_mut())) };
    }
}

/// A compare-exchange loop on a cell's state: `f` gives the next state, or `None` to leave
/// it; the previous state comes back (`Err` when `f` declined).
#[inline(always)]
fn update(state: &AtomicUsize, f: impl FnMut(usize) -> Option<usize>) -> Result<usize, usize> {
    state.fetch_update(Ordering::AcqRel, Ordering::Acquire, f)
}

/// Hands a new `Task` of the cell at `data` (a waker's pointer) to its schedule function.
///
/// # Safety
/// The caller's update of the state set NOTIFIED and counted a reference for the `Task`.
unsafe fn schedule_new<M>(data: *const ()) {
    // From `data`, not from a `&Header`: the task's pointer must reach the whole cell.
    // SAFETY: a waker's data is a non-null pointer to its live cell (the caller's contract
    // gives the new `Task` its reference).
    let ptr = unsafe { NonNull::new_unchecked(data.cast_mut().cast::<Header<M>>()) };
    // SAFETY: as above.
    let schedule = unsafe { ptr.as_ref().schedule };
    schedule(Task { ptr });
}

/// Frees the cell at `data` after its last reference was dropped by an update from
/// `state` (a count of one), or leaks it if its future is still there.
///
/// # Safety
/// `data` is the non-null pointer to the cell (with the whole cell's provenance) that the
/// caller's reference came with, and the caller's decrement took the last reference.
unsafe fn free_last<M>(data: *const (), state: usize) {
    if state & COMPLETE == 0 {
        // The last reference of a task whose future is still there: impossible while its
        // `Task` exists (it holds one) or while it waits in its runtime's registry (a waker
        // there holds one). Never dropped here, on whatever thread this is: leaked.
        return;
    }
    // SAFETY: no reference is left; the vtable is the cell's; `data` is the caller's
    // non-null pointer to the cell (this function's contract).
    unsafe {
        let vtable = (*data.cast::<Header<M>>()).vtable;
        (vtable.dealloc)(NonNull::new_unchecked(data.cast_mut()));
    }
}

impl<M> Task<M> {
    /// The runtime's data of the task.
    pub(crate) fn metadata(&self) -> &M {
        // SAFETY: the `Task`'s reference keeps the cell alive.
        unsafe { &self.ptr.as_ref().meta }
    }

    /// Polls the task once.
    #[inline]
    pub(crate) fn run(self) {
        let task = ManuallyDrop::new(self);
        // SAFETY: the `Task` (and its reference) is handed to the run.
        unsafe { (task.ptr.as_ref().vtable.run)(task.ptr.cast()) }
    }

    /// Hands the task to its schedule function.
    pub(crate) fn schedule(self) {
        // SAFETY: the `Task`'s reference keeps the cell alive.
        let schedule = unsafe { self.ptr.as_ref().schedule };
        schedule(self);
    }

    /// A waker of the task (a reference of its own).
    pub(crate) fn waker(&self) -> Waker {
        waker_of(self.ptr)
    }
}

impl<M> Drop for Task<M> {
    fn drop(&mut self) {
        // SAFETY: the `Task` (and its reference) is given up to the cancel.
        unsafe { (self.ptr.as_ref().vtable.cancel)(self.ptr.cast()) }
    }
}

/// A new waker of the cell at `ptr`, with a reference of its own.
fn waker_of<M>(ptr: NonNull<Header<M>>) -> Waker {
    // SAFETY: the caller holds a reference, so the cell is alive; the clone takes another.
    unsafe {
        let raw = WakerFns::<M>::clone(ptr.as_ptr().cast_const().cast());
        Waker::from_raw(raw)
    }
}

// Paths of their own, so that `cell-model/` (Miri) can include this file as it is.
#[path = "cell/join.rs"]
mod join;
#[cfg(test)]
#[path = "cell/tests.rs"]
mod tests;
