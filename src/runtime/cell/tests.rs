//! The cell's protocol on its own: a queue of tasks as the runtime, wakers and join handles
//! from several threads, drop counters for what the cell holds. Also run under Miri:
//! `cargo +nightly miri test --lib runtime::cell`.

use super::*;
use std::collections::VecDeque;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::task::Wake;

/// The "runtime": where a woken task's `Task` goes; counts its frees.
struct Queue {
    tasks: Mutex<VecDeque<Task<Meta>>>,
    freed: AtomicUsize,
}

struct Meta(Arc<Queue>);

impl Drop for Meta {
    fn drop(&mut self) {
        self.0.freed.fetch_add(1, Ordering::SeqCst);
    }
}

fn schedule(task: Task<Meta>) {
    let queue = task.metadata().0.clone();
    queue.tasks.lock().unwrap().push_back(task);
}

fn queue() -> Arc<Queue> {
    Arc::new(Queue {
        tasks: Mutex::new(VecDeque::new()),
        freed: AtomicUsize::new(0),
    })
}

/// Runs every queued task; how many runs.
fn run_all(queue: &Queue) -> usize {
    let mut runs = 0;
    loop {
        let task = queue.tasks.lock().unwrap().pop_front();
        let Some(task) = task else { return runs };
        task.run();
        runs += 1;
    }
}

fn spawn_on<F: Future + Send + 'static>(queue: &Arc<Queue>, fut: F) -> RawJoin<F::Output, Meta>
where
    F::Output: Send,
{
    // SAFETY: `F` is `Send`: running or dropping it anywhere is sound.
    let (task, join) = unsafe { spawn(Meta(queue.clone()), schedule, |_| fut) };
    task.schedule();
    join
}

/// A waker counting its wakes.
#[derive(Default)]
struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn poll_join<T, M>(join: &mut RawJoin<T, M>, count: &Arc<Count>) -> Poll<Option<T>> {
    let waker = Waker::from(count.clone());
    join.poll(&mut Context::from_waker(&waker))
}

/// Counts drops of what it is put in.
struct Dropped(Arc<AtomicUsize>);

impl Drop for Dropped {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Pending `n` times (waking itself each time when `wake`), then ready with `out`.
struct Steps<T> {
    n: usize,
    wake: bool,
    out: Option<T>,
    parked: Arc<Mutex<Option<Waker>>>,
}

impl<T: Unpin> Future for Steps<T> {
    type Output = T;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        if self.n == 0 {
            return Poll::Ready(self.out.take().expect("polled after ready"));
        }
        self.n -= 1;
        match self.wake {
            true => cx.waker().wake_by_ref(),
            false => *self.parked.lock().unwrap() = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

fn steps<T>(n: usize, wake: bool, out: T) -> (Steps<T>, Arc<Mutex<Option<Waker>>>) {
    let parked = Arc::new(Mutex::new(None));
    let fut = Steps {
        n,
        wake,
        out: Some(out),
        parked: parked.clone(),
    };
    (fut, parked)
}

#[test]
fn output_reaches_the_join_handle_and_its_waker_is_woken() {
    let q = queue();
    let (fut, parked) = steps(1, false, 42);
    let mut join = spawn_on(&q, fut);
    let count = Arc::new(Count::default());
    assert!(poll_join(&mut join, &count).is_pending());
    assert_eq!(run_all(&q), 1);
    assert!(!join.is_finished());
    assert!(poll_join(&mut join, &count).is_pending()); // the same waker: kept
    parked.lock().unwrap().take().unwrap().wake();
    assert_eq!(run_all(&q), 1);
    assert!(join.is_finished());
    assert_eq!(count.0.load(Ordering::SeqCst), 1);
    assert_eq!(poll_join(&mut join, &count), Poll::Ready(Some(42)));
    assert_eq!(q.freed.load(Ordering::SeqCst), 0);
    drop(join);
    assert_eq!(q.freed.load(Ordering::SeqCst), 1);
}

#[test]
fn a_new_join_waker_replaces_the_old_one() {
    let q = queue();
    let (fut, parked) = steps(1, false, ());
    let mut join = spawn_on(&q, fut);
    let (first, second) = (Arc::new(Count::default()), Arc::new(Count::default()));
    assert!(poll_join(&mut join, &first).is_pending());
    assert!(poll_join(&mut join, &second).is_pending());
    run_all(&q);
    parked.lock().unwrap().take().unwrap().wake();
    run_all(&q);
    assert_eq!(first.0.load(Ordering::SeqCst), 0);
    assert_eq!(second.0.load(Ordering::SeqCst), 1);
    assert!(poll_join(&mut join, &second).is_ready());
}

#[test]
fn a_wake_while_running_runs_the_task_again_once() {
    let q = queue();
    let (fut, _parked) = steps(3, true, 7);
    let mut join = spawn_on(&q, fut);
    assert_eq!(run_all(&q), 4);
    let count = Arc::new(Count::default());
    assert_eq!(poll_join(&mut join, &count), Poll::Ready(Some(7)));
}

#[test]
fn output_of_a_detached_task_is_dropped_by_its_run() {
    let q = queue();
    let drops = Arc::new(AtomicUsize::new(0));
    let (fut, parked) = steps(1, false, Dropped(drops.clone()));
    let join = spawn_on(&q, fut);
    run_all(&q);
    drop(join);
    assert_eq!(q.freed.load(Ordering::SeqCst), 0); // the parked waker holds it
    parked.lock().unwrap().take().unwrap().wake();
    run_all(&q);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert_eq!(q.freed.load(Ordering::SeqCst), 1);
}

#[test]
fn output_never_read_is_dropped_with_the_join_handle() {
    let q = queue();
    let drops = Arc::new(AtomicUsize::new(0));
    let (fut, _parked) = steps(0, false, Dropped(drops.clone()));
    let join = spawn_on(&q, fut);
    run_all(&q);
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    drop(join);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert_eq!(q.freed.load(Ordering::SeqCst), 1);
}

#[test]
fn a_task_dropped_unrun_drops_its_future_and_gives_no_output() {
    let q = queue();
    let drops = Arc::new(AtomicUsize::new(0));
    let guard = Dropped(drops.clone());
    let mut join = spawn_on(&q, async move {
        let _guard = guard;
        std::future::pending::<()>().await;
    });
    let count = Arc::new(Count::default());
    assert!(poll_join(&mut join, &count).is_pending());
    let task = q.tasks.lock().unwrap().pop_front().unwrap();
    drop(task);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert_eq!(count.0.load(Ordering::SeqCst), 1);
    assert_eq!(poll_join(&mut join, &count), Poll::Ready(None));
    drop(join);
    assert_eq!(q.freed.load(Ordering::SeqCst), 1);
}

#[test]
fn a_task_nothing_can_wake_is_dropped_by_its_last_run() {
    let q = queue();
    let drops = Arc::new(AtomicUsize::new(0));
    let guard = Dropped(drops.clone());
    let join = spawn_on(&q, async move {
        let _guard = guard;
        std::future::pending::<()>().await; // keeps no waker
    });
    drop(join);
    run_all(&q);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert_eq!(q.freed.load(Ordering::SeqCst), 1);
}

#[test]
fn wakes_after_completion_do_nothing_and_the_last_waker_frees() {
    let q = queue();
    let (fut, parked) = steps(1, false, ());
    let join = spawn_on(&q, fut);
    run_all(&q);
    let waker = parked.lock().unwrap().take().unwrap();
    let spare = waker.clone();
    waker.wake_by_ref();
    run_all(&q);
    drop(join);
    spare.wake_by_ref();
    assert_eq!(run_all(&q), 0);
    assert_eq!(q.freed.load(Ordering::SeqCst), 0);
    waker.wake(); // by value: consumes a reference
    assert_eq!(q.freed.load(Ordering::SeqCst), 0);
    drop(spare);
    assert_eq!(q.freed.load(Ordering::SeqCst), 1);
}

#[test]
fn wakers_and_join_handles_on_other_threads() {
    let rounds = if cfg!(miri) { 3 } else { 200 };
    for _ in 0..rounds {
        let q = queue();
        let (fut, parked) = steps(20, false, 5usize);
        let mut join = spawn_on(&q, fut);
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let waking = {
            let (parked, done) = (parked.clone(), done.clone());
            std::thread::spawn(move || {
                while !done.load(Ordering::SeqCst) {
                    let waker = parked.lock().unwrap().clone();
                    if let Some(waker) = waker {
                        let twin = waker.clone();
                        twin.wake_by_ref();
                        waker.wake();
                        drop(twin);
                    }
                    std::thread::yield_now();
                }
            })
        };
        let joining = std::thread::spawn(move || {
            let count = Arc::new(Count::default());
            loop {
                if let Poll::Ready(out) = poll_join(&mut join, &count) {
                    return out;
                }
                std::thread::yield_now();
            }
        });
        while !joining.is_finished() {
            run_all(&q);
            std::thread::yield_now();
        }
        assert_eq!(joining.join().unwrap(), Some(5));
        done.store(true, Ordering::SeqCst);
        waking.join().unwrap();
        run_all(&q);
        drop(parked);
        assert_eq!(q.freed.load(Ordering::SeqCst), 1);
    }
}

/// Loops of the races below: fewer under Miri, which is slow.
fn rounds(normal: usize, miri: usize) -> usize {
    if cfg!(miri) {
        miri
    } else {
        normal
    }
}

#[test]
fn the_last_two_wakers_dropped_at_once_free_the_cell_once() {
    for _ in 0..rounds(2000, 20) {
        let q = queue();
        let (fut, parked) = steps(1, false, ());
        let join = spawn_on(&q, fut);
        run_all(&q);
        let waker = parked.lock().unwrap().take().unwrap();
        let twin = waker.clone();
        waker.wake_by_ref();
        run_all(&q);
        drop(join);
        let barrier = Arc::new(std::sync::Barrier::new(2));
        let other = barrier.clone();
        let t = std::thread::spawn(move || {
            other.wait();
            drop(twin);
        });
        barrier.wait();
        drop(waker);
        t.join().unwrap();
        assert_eq!(q.freed.load(Ordering::SeqCst), 1);
    }
}

/// Pending until `flag` is seen; parks its waker at each poll.
struct Flag {
    flag: Arc<std::sync::atomic::AtomicBool>,
    parked: Arc<Mutex<Option<Waker>>>,
}

impl Future for Flag {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        *self.parked.lock().unwrap() = Some(cx.waker().clone());
        match self.flag.load(Ordering::Acquire) {
            true => Poll::Ready(()),
            false => Poll::Pending,
        }
    }
}

#[test]
fn a_wake_of_a_queued_task_publishes_what_the_waker_wrote() {
    for _ in 0..rounds(5000, 30) {
        let q = queue();
        let flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let parked = Arc::new(Mutex::new(None));
        let join = spawn_on(
            &q,
            Flag {
                flag: flag.clone(),
                parked: parked.clone(),
            },
        );
        run_all(&q);
        // Queued (NOTIFIED), not running.
        parked.lock().unwrap().as_ref().unwrap().wake_by_ref();
        let waker = parked.lock().unwrap().clone().unwrap();
        let set = flag.clone();
        let t = std::thread::spawn(move || {
            set.store(true, Ordering::Relaxed);
            waker.wake_by_ref();
        });
        run_all(&q);
        t.join().unwrap();
        run_all(&q);
        assert!(
            join.is_finished(),
            "lost wake-up: the flag was set, the task sleeps"
        );
        drop(join);
        parked.lock().unwrap().take();
    }
}

#[test]
fn join_polls_with_new_wakers_race_the_completion() {
    for i in 0..rounds(2000, 10) {
        let q = queue();
        let drops = Arc::new(AtomicUsize::new(0));
        let (fut, parked) = steps(1, false, Dropped(drops.clone()));
        let mut join = spawn_on(&q, fut);
        run_all(&q);
        let (a, b) = (Arc::new(Count::default()), Arc::new(Count::default()));
        assert!(poll_join(&mut join, &a).is_pending());
        let waker = parked.lock().unwrap().take().unwrap();
        let (a2, b2) = (a.clone(), b.clone());
        let t = std::thread::spawn(move || {
            let mut last = None;
            for k in 0..4 {
                let count = if k % 2 == 0 { &b2 } else { &a2 };
                match poll_join(&mut join, count) {
                    Poll::Ready(out) => {
                        drop(out);
                        return (None, join);
                    }
                    Poll::Pending => last = Some(count.clone()),
                }
            }
            (last, join)
        });
        waker.wake();
        run_all(&q);
        let (last, mut join) = t.join().unwrap();
        if let Some(count) = last {
            assert!(
                count.0.load(Ordering::SeqCst) >= 1,
                "join waker never woken"
            );
        }
        if i % 2 == 1 {
            let _ = poll_join(&mut join, &a);
        }
        drop(join);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        assert_eq!(q.freed.load(Ordering::SeqCst), 1);
        assert_eq!(Arc::strong_count(&a), 1);
        assert_eq!(Arc::strong_count(&b), 1);
    }
}

#[test]
fn a_join_handle_dropped_during_the_completion() {
    for _ in 0..rounds(2000, 10) {
        let q = queue();
        let drops = Arc::new(AtomicUsize::new(0));
        let (fut, parked) = steps(1, false, Dropped(drops.clone()));
        let mut join = spawn_on(&q, fut);
        run_all(&q);
        let count = Arc::new(Count::default());
        assert!(poll_join(&mut join, &count).is_pending());
        let waker = parked.lock().unwrap().take().unwrap();
        let t = std::thread::spawn(move || drop(join));
        waker.wake();
        run_all(&q);
        t.join().unwrap();
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        assert_eq!(q.freed.load(Ordering::SeqCst), 1);
        assert_eq!(Arc::strong_count(&count), 1);
    }
}

/// Panics at its first poll.
struct Panics(#[allow(dead_code)] Dropped);

impl Future for Panics {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        panic!("a poll that unwinds");
    }
}

#[test]
fn a_poll_that_unwinds_completes_the_task_without_output() {
    let q = queue();
    let drops = Arc::new(AtomicUsize::new(0));
    let mut join = spawn_on(&q, Panics(Dropped(drops.clone())));
    let count = Arc::new(Count::default());
    assert!(poll_join(&mut join, &count).is_pending());
    let task = q.tasks.lock().unwrap().pop_front().unwrap();
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| task.run()));
    assert!(unwound.is_err());
    assert_eq!(drops.load(Ordering::SeqCst), 1, "the future is dropped");
    assert_eq!(
        count.0.load(Ordering::SeqCst),
        1,
        "the join handle is woken"
    );
    assert_eq!(poll_join(&mut join, &count), Poll::Ready(None));
    drop(join);
    assert_eq!(q.freed.load(Ordering::SeqCst), 1);
}

/// Ready at once; its drop panics.
struct PanicsOnDrop(#[allow(dead_code)] Dropped);

impl Future for PanicsOnDrop {
    type Output = u8;
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<u8> {
        Poll::Ready(1)
    }
}

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("a future whose drop unwinds");
    }
}

#[test]
fn a_future_whose_drop_unwinds_completes_the_task_without_output() {
    let q = queue();
    let drops = Arc::new(AtomicUsize::new(0));
    let mut join = spawn_on(&q, PanicsOnDrop(Dropped(drops.clone())));
    let task = q.tasks.lock().unwrap().pop_front().unwrap();
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| task.run()));
    assert!(unwound.is_err());
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "the rest of the future is dropped once"
    );
    let count = Arc::new(Count::default());
    assert_eq!(poll_join(&mut join, &count), Poll::Ready(None));
    drop(join);
    assert_eq!(q.freed.load(Ordering::SeqCst), 1);
}
