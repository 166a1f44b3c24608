//! Tasks and the executor: spawn/join, abort, panics, JoinSet, cross-thread wake, shutdown.

mod util;

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::rc::Rc;
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::Duration;

use proactor::task::yield_now;
use proactor::{Driver, JoinSet};
use util::{block_on, runtime};

fn spawn_and_join(driver: Driver) {
    let v = block_on(driver, async {
        let h = proactor::spawn(async { 40 + 2 });
        h.await.unwrap()
    });
    assert_eq!(v, 42);
}

fn non_send_futures_and_outputs(driver: Driver) {
    let out = block_on(driver, async {
        let shared = Rc::new(Cell::new(1));
        let s2 = shared.clone();
        let h = proactor::spawn(async move {
            yield_now().await;
            s2.set(s2.get() + 1);
            s2
        });
        let back = h.await.unwrap();
        assert!(Rc::ptr_eq(&back, &shared));
        shared.get()
    });
    assert_eq!(out, 2);
}

fn nested_spawn(driver: Driver) {
    let v = block_on(driver, async {
        proactor::spawn(async {
            let inner = proactor::spawn(async { proactor::spawn(async { 7 }).await.unwrap() * 2 });
            inner.await.unwrap() + 1
        })
        .await
        .unwrap()
    });
    assert_eq!(v, 15);
}

fn many_tasks(driver: Driver) {
    const N: u64 = 100_000;
    let sum = block_on(driver, async {
        let handles: Vec<_> = (0..N).map(|i| proactor::spawn(async move { i })).collect();
        let mut sum = 0;
        for h in handles {
            sum += h.await.unwrap();
        }
        assert_eq!(proactor::runtime::stats().tasks_alive, 0);
        sum
    });
    assert_eq!(sum, N * (N - 1) / 2);
}

fn abort_cancels_at_next_await(driver: Driver) {
    block_on(driver, async {
        let dropped = Rc::new(Cell::new(false));
        let guard = DropFlag(dropped.clone());
        let h = proactor::spawn(async move {
            let _guard = guard;
            proactor::time::sleep(Duration::from_secs(3600)).await;
        });
        yield_now().await;
        assert!(!h.is_finished());
        h.abort();
        let err = h.await.unwrap_err();
        assert!(err.is_cancelled(), "{err:?}");
        assert!(dropped.get(), "aborted task's future must be dropped");
        assert_eq!(err.to_string(), "task was cancelled");
    });
}

fn abort_after_completion_keeps_output(driver: Driver) {
    block_on(driver, async {
        let h = proactor::spawn(async { 5 });
        while !h.is_finished() {
            yield_now().await;
        }
        h.abort();
        assert_eq!(h.await.unwrap(), 5);
    });
}

fn abort_from_another_thread(driver: Driver) {
    block_on(driver, async {
        let h = proactor::spawn(proactor::time::sleep(Duration::from_secs(3600)));
        let abort = h.abort_handle();
        std::thread::spawn(move || abort.abort()).join().unwrap();
        assert!(h.await.unwrap_err().is_cancelled());
    });
}

fn panic_is_isolated(driver: Driver) {
    block_on(driver, async {
        let bad = proactor::spawn(async {
            yield_now().await;
            panic!("boom {}", 1);
        });
        let good = proactor::spawn(async {
            for _ in 0..10 {
                yield_now().await;
            }
            "fine"
        });
        let err = bad.await.unwrap_err();
        assert!(err.is_panic());
        assert_eq!(err.to_string(), "task panicked: boom 1");
        let payload = err.into_panic();
        assert_eq!(panic_text(&*payload), "boom 1");
        assert_eq!(good.await.unwrap(), "fine");
        // The runtime keeps running new work after a panic.
        assert_eq!(proactor::spawn(async { 3 }).await.unwrap(), 3);
    });
}

fn dropped_handle_detaches(driver: Driver) {
    block_on(driver, async {
        let ran = Rc::new(Cell::new(false));
        let r = ran.clone();
        drop(proactor::spawn(async move {
            yield_now().await;
            r.set(true);
        }));
        for _ in 0..5 {
            yield_now().await;
        }
        assert!(ran.get(), "a detached task keeps running");
    });
}

fn yield_now_lets_others_run(driver: Driver) {
    block_on(driver, async {
        let log = Rc::new(RefCell::new(Vec::new()));
        let mut set = JoinSet::new();
        for id in 0..3 {
            let log = log.clone();
            set.spawn(async move {
                for step in 0..3 {
                    log.borrow_mut().push((step, id));
                    yield_now().await;
                }
            });
        }
        while set.join_next().await.is_some() {}
        let log = log.borrow();
        let expected: Vec<_> = (0..3).flat_map(|s| (0..3).map(move |i| (s, i))).collect();
        assert_eq!(*log, expected, "tasks interleave at each yield");
    });
}

fn join_set_completion_order(driver: Driver) {
    block_on(driver, async {
        let mut set = JoinSet::new();
        for id in 0..5usize {
            // Task `id` finishes after 5 - id yields: the last spawned finishes first.
            set.spawn(async move {
                for _ in 0..(5 - id) * 3 {
                    yield_now().await;
                }
                id
            });
        }
        assert_eq!(set.len(), 5);
        let mut order = Vec::new();
        while let Some(res) = set.join_next().await {
            order.push(res.unwrap());
        }
        assert_eq!(order, vec![4, 3, 2, 1, 0]);
        assert!(set.is_empty());
        assert!(set.join_next().await.is_none());
    });
}

fn join_set_join_all_in_spawn_order(driver: Driver) {
    block_on(driver, async {
        let mut set = JoinSet::new();
        for id in 0..4u32 {
            set.spawn(async move {
                for _ in 0..(4 - id) {
                    yield_now().await;
                }
                if id == 2 {
                    panic!("task two fails");
                }
                id
            });
        }
        let results = set.join_all().await;
        assert_eq!(results.len(), 4);
        assert_eq!(*results[0].as_ref().unwrap(), 0);
        assert_eq!(*results[1].as_ref().unwrap(), 1);
        assert!(results[2].as_ref().unwrap_err().is_panic());
        assert_eq!(*results[3].as_ref().unwrap(), 3);
    });
}

fn join_set_abort_all_and_drop(driver: Driver) {
    block_on(driver, async {
        let mut set = JoinSet::new();
        for _ in 0..10 {
            set.spawn(proactor::time::sleep(Duration::from_secs(3600)));
        }
        yield_now().await;
        set.abort_all();
        let mut cancelled = 0;
        while let Some(res) = set.join_next().await {
            assert!(res.unwrap_err().is_cancelled());
            cancelled += 1;
        }
        assert_eq!(cancelled, 10);

        let dropped = Rc::new(Cell::new(0));
        let mut set = JoinSet::new();
        for _ in 0..10 {
            let flag = DropCount(dropped.clone());
            set.spawn(async move {
                let _flag = flag;
                proactor::time::sleep(Duration::from_secs(3600)).await;
            });
        }
        yield_now().await;
        drop(set);
        for _ in 0..3 {
            yield_now().await;
        }
        assert_eq!(dropped.get(), 10, "dropping a JoinSet aborts its tasks");
        assert_eq!(proactor::runtime::stats().tasks_alive, 0);
    });
}

fn join_set_many(driver: Driver) {
    block_on(driver, async {
        let mut set = JoinSet::new();
        for i in 0..20_000u64 {
            set.spawn(async move {
                yield_now().await;
                i
            });
        }
        let mut sum = 0;
        while let Some(r) = set.join_next().await {
            sum += r.unwrap();
        }
        assert_eq!(sum, 20_000 * 19_999 / 2);
    });
}

/// A one-shot slot a std thread fills and wakes.
#[derive(Default)]
struct Slot {
    value: Option<u32>,
    waker: Option<Waker>,
}

fn wake_from_std_thread_unparks(driver: Driver) {
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let rt = runtime(driver);
        let got = rt.block_on(async {
            let slot = Arc::new(Mutex::new(Slot::default()));
            let remote = slot.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                let mut s = remote.lock().unwrap();
                s.value = Some(9);
                if let Some(w) = s.waker.take() {
                    w.wake();
                }
            });
            // A spawned task waits for the other thread: the runtime has nothing to run and
            // no timer, so only the cross-thread wake can unpark it.
            let task = proactor::spawn(poll_fn(move |cx| {
                let mut s = slot.lock().unwrap();
                match s.value {
                    Some(v) => Poll::Ready(v),
                    None => {
                        s.waker = Some(cx.waker().clone());
                        Poll::Pending
                    }
                }
            }));
            task.await.unwrap()
        });
        let stats = rt.stats();
        done_tx.send((got, stats)).unwrap();
    });
    let (got, stats) = done_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("runtime was not woken by the other thread");
    assert_eq!(got, 9);
    assert!(stats.parks >= 1, "{stats:?}");
    assert!(stats.remote_wakeups >= 1, "{stats:?}");
}

fn main_future_woken_from_std_thread(driver: Driver) {
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let got = block_on(driver, async {
            let (tx, rx) = mpsc::channel::<Waker>();
            let flag = Arc::new(Mutex::new(false));
            let f2 = flag.clone();
            std::thread::spawn(move || {
                let w = rx.recv().unwrap();
                std::thread::sleep(Duration::from_millis(30));
                *f2.lock().unwrap() = true;
                w.wake();
            });
            let mut sent = false;
            poll_fn(move |cx| {
                if *flag.lock().unwrap() {
                    return Poll::Ready(1);
                }
                if !sent {
                    tx.send(cx.waker().clone()).unwrap();
                    sent = true;
                }
                Poll::Pending
            })
            .await
        });
        done_tx.send(got).unwrap();
    });
    let got = done_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("block_on future was not woken by the other thread");
    assert_eq!(got, 1);
}

fn runtime_drop_cancels_pending_tasks(driver: Driver) {
    let dropped = Rc::new(Cell::new(0));
    let rt = runtime(driver);
    let d = dropped.clone();
    rt.block_on(async move {
        for _ in 0..100 {
            let flag = DropCount(d.clone());
            proactor::spawn(async move {
                let _flag = flag;
                loop {
                    proactor::nop().await.unwrap();
                    proactor::time::sleep(Duration::from_secs(3600)).await;
                }
            });
        }
        yield_now().await;
    });
    assert_eq!(dropped.get(), 0);
    drop(rt);
    assert_eq!(dropped.get(), 100, "shutdown drops every task's future");
}

fn tasks_spawned_outside_block_on_run_later(driver: Driver) {
    let rt = runtime(driver);
    let h = rt.spawn(async { 11 });
    assert_eq!(rt.block_on(h).unwrap(), 11);
    // Tasks outlive one block_on and keep running in the next.
    let h = rt.spawn(async {
        proactor::time::sleep(Duration::from_millis(5)).await;
        12
    });
    rt.block_on(yield_now());
    assert_eq!(rt.block_on(h).unwrap(), 12);
}

fn spawn_outside_runtime_panics_with_the_fix(_driver: Driver) {
    let err = std::panic::catch_unwind(|| drop(proactor::spawn(async {}))).unwrap_err();
    let msg = panic_text(&*err);
    assert!(msg.contains("outside a runtime"), "{msg}");
    assert!(msg.contains("block_on"), "{msg}");
}

fn nested_block_on_panics(driver: Driver) {
    let rt = runtime(driver);
    let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(async { block_on(driver, async {}) })
    }));
    assert!(res.is_err());
    // The outer runtime is still usable afterwards.
    assert_eq!(rt.block_on(async { 1 }), 1);
}

fn stats_count_submissions_and_batching(driver: Driver) {
    block_on(driver, async {
        let before = proactor::runtime::stats();
        let mut set = JoinSet::new();
        for _ in 0..64 {
            set.spawn(async {
                for _ in 0..10 {
                    proactor::nop().await.unwrap();
                }
            });
        }
        while set.join_next().await.is_some() {}
        let after = proactor::runtime::stats();
        assert_eq!(after.ops_in_flight, 0);
        assert!(after.tasks_spawned - before.tasks_spawned == 64);
        if after.driver == proactor::DriverKind::Uring {
            assert!(after.completions - before.completions >= 640, "{after:?}");
            assert!(after.submissions - before.submissions >= 640, "{after:?}");
            // 64 tasks submit together: far fewer enters than operations.
            assert!(after.enters - before.enters < 320, "{before:?} {after:?}");
        }
    });
}

/// Ops that complete at once (every op on epoll whose call succeeds) count against a budget
/// of the poll, not of the turn: tasks that each do a few of them in one turn are polled
/// once each, however many there are; a task that loops over them still yields.
fn op_budget_is_per_poll(driver: Driver) {
    const TASKS: usize = 300;
    block_on(driver, async {
        let done = Rc::new(Cell::new(0));
        let before = proactor::runtime::stats();
        for _ in 0..TASKS {
            let done = done.clone();
            drop(proactor::spawn(async move {
                for _ in 0..3 {
                    proactor::nop().await.unwrap();
                }
                done.set(done.get() + 1);
            }));
        }
        let mut main_polls = 0u64;
        poll_fn(|cx| {
            main_polls += 1;
            if done.get() == TASKS {
                return Poll::Ready(());
            }
            cx.waker().wake_by_ref();
            Poll::Pending
        })
        .await;
        // The first of the main future's polls is this one, counted before `before`.
        let task_polls = proactor::runtime::stats().polls - before.polls - (main_polls - 1);
        if driver == Driver::Epoll {
            assert_eq!(
                task_polls, TASKS as u64,
                "each task polled once: its ops complete at once"
            );
        } else {
            assert!(task_polls >= TASKS as u64, "{task_polls}");
        }

        // One task looping over ready ops: the other task runs before the loop ends.
        let other_ran = Rc::new(Cell::new(false));
        let flag = other_ran.clone();
        let looping = proactor::spawn(async move {
            for i in 0..10_000 {
                if flag.get() {
                    return i;
                }
                proactor::nop().await.unwrap();
            }
            10_000
        });
        let flag = other_ran.clone();
        drop(proactor::spawn(async move { flag.set(true) }));
        let seen_at = looping.await.unwrap();
        assert!(seen_at < 10_000, "the looping task never yielded");
    });
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

struct DropFlag(Rc<Cell<bool>>);
impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

struct DropCount(Rc<Cell<usize>>);
impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

on_each_driver!(
    spawn_and_join,
    non_send_futures_and_outputs,
    nested_spawn,
    many_tasks,
    abort_cancels_at_next_await,
    abort_after_completion_keeps_output,
    abort_from_another_thread,
    panic_is_isolated,
    dropped_handle_detaches,
    yield_now_lets_others_run,
    join_set_completion_order,
    join_set_join_all_in_spawn_order,
    join_set_abort_all_and_drop,
    join_set_many,
    wake_from_std_thread_unparks,
    main_future_woken_from_std_thread,
    runtime_drop_cancels_pending_tasks,
    tasks_spawned_outside_block_on_run_later,
    spawn_outside_runtime_panics_with_the_fix,
    nested_block_on_panics,
    stats_count_submissions_and_batching,
    op_budget_is_per_poll,
);
