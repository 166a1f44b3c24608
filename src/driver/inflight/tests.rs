//! The in-flight table's state machine, fed fabricated completions.

use std::io;

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
    assert!(t.ignore(ud, held(buf.clone())).is_none());
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
    assert!(t.ignore(ud, held(())).is_some());
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
    assert!(matches!(
        t.complete(crate::driver::token::RESERVED | 5, ok(0)),
        Outcome::Stale
    ));
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

#[test]
fn multishot_keeps_its_waker_between_arrivals() {
    let (first, w1) = counter();
    let (second, w2) = counter();
    let mut t = InFlight::default();
    let ud = t.insert_multi(&w1, &MultiPolicy::default());
    let held = Arc::strong_count(&first);
    let mut cx = Context::from_waker(&w1);
    assert!(t.poll(ud, &mut cx).is_pending());
    assert!(matches!(t.complete(ud, more(1)), Outcome::Delivered));
    assert!(matches!(t.complete(ud, more(2)), Outcome::Delivered));
    assert_eq!(first.0.load(Ordering::SeqCst), 1, "woken once per wait");
    assert!(t.poll(ud, &mut cx).is_ready() && t.poll(ud, &mut cx).is_ready());
    assert!(t.poll(ud, &mut cx).is_pending(), "waits again");
    assert_eq!(
        Arc::strong_count(&first),
        held,
        "the same task's waker is not cloned"
    );
    assert!(matches!(t.complete(ud, more(3)), Outcome::Delivered));
    assert_eq!(first.0.load(Ordering::SeqCst), 2);
    // Taken by another task: its waker replaces the first's, which the slot lets go.
    let mut cx2 = Context::from_waker(&w2);
    assert!(t.poll(ud, &mut cx2).is_ready());
    assert!(t.poll(ud, &mut cx2).is_pending());
    assert_eq!(Arc::strong_count(&first), held - 1);
    assert!(matches!(t.complete(ud, more(4)), Outcome::Delivered));
    assert_eq!(
        (
            first.0.load(Ordering::SeqCst),
            second.0.load(Ordering::SeqCst)
        ),
        (2, 1)
    );
    // Not waiting (the owner took what came): an arrival queues without a wake.
    assert!(t.poll(ud, &mut cx2).is_ready());
    let _ = t.complete(ud, more(5));
    assert!(t.poll(ud, &mut cx2).is_ready());
    let _ = t.complete(ud, more(6));
    assert_eq!(second.0.load(Ordering::SeqCst), 1, "no wake without a wait");
}

#[test]
fn a_full_queue_is_told_until_the_check() {
    let (mut t, ud, _, _) = capped_slot(2);
    let _ = t.complete(ud, more(1));
    assert!(matches!(t.complete(ud, more(2)), Outcome::Capped));
    // Told again (a report lost to a panicking wake is made up), and the check decides once.
    assert!(matches!(t.complete(ud, more(3)), Outcome::Capped));
    assert!(t.cancel_if_over_cap(ud));
    assert!(
        !t.cancel_if_over_cap(ud),
        "a repeat of the report is a no-op"
    );
    assert!(matches!(t.complete(ud, more(4)), Outcome::Delivered));
}

/// A table with one multishot slot (its token) whose queue is capped at `cap`, counting
/// down from 8 free buffers; the slot's waker.
fn capped_slot(cap: usize) -> (InFlight, u64, Waker, Rc<Cell<usize>>) {
    let (_c, waker) = counter();
    let mut t = InFlight::default();
    let free = Rc::new(Cell::new(8));
    let policy = MultiPolicy {
        cap: Some(cap),
        free_buffers: Some(free.clone()),
    };
    let ud = t.insert_multi(&waker, &policy);
    (t, ud, waker, free)
}

/// A completion that names provided buffer `bid` (`IORING_CQE_F_BUFFER`).
fn with_buffer(mut c: Completion, bid: u16) -> Completion {
    c.flags |= 1 | (u32::from(bid) << 16);
    c
}

#[test]
fn full_queue_asks_once_for_a_cancel_and_loses_nothing() {
    let (mut t, ud, waker, free) = capped_slot(2);
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
    let (mut t, ud, waker, _) = capped_slot(2);
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
    let (mut t, ud, _, free) = capped_slot(100);
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

/// Parked resources: `held` is what they keep alive, `seen` counts the completions handed to
/// their orphan hook.
struct Held<T> {
    _held: T,
    seen: Arc<AtomicUsize>,
}

impl<T: 'static> Parked for Held<T> {
    fn orphan(&mut self, _: Completion) {
        self.seen.fetch_add(1, Ordering::SeqCst);
    }
    fn mode(&self) -> crate::driver::Mode<'_> {
        crate::driver::Mode::Immediate
    }
    fn result_in(&mut self) {}
}

fn held<T: 'static>(value: T) -> Box<dyn Parked> {
    Box::new(Held {
        _held: value,
        seen: Arc::default(),
    })
}

/// Resources whose orphan hook counts the completions handed to it.
fn hooked(seen: &Arc<AtomicUsize>) -> Box<dyn Parked> {
    Box::new(Held {
        _held: (),
        seen: seen.clone(),
    })
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
        Outcome::Released(res) => drop(res),
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
