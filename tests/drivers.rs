//! The runtime's behaviour that must not depend on the driver: each test runs once on
//! io_uring and once on epoll.

mod util;

use std::future::poll_fn;
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use proactor::time::{sleep, timeout};
use proactor::{Driver, DriverKind, JoinSet};

fn kind(driver: Driver) -> DriverKind {
    match driver {
        Driver::Epoll => DriverKind::Epoll,
        _ => DriverKind::Uring,
    }
}

fn reports_the_driver_it_runs(driver: Driver) {
    let rt = util::runtime(driver);
    assert_eq!(rt.driver(), kind(driver));
    assert!(!rt.driver_reason().is_empty());
    let inside = rt.block_on(async { proactor::runtime::current_driver() });
    assert_eq!(inside, Some(kind(driver)));
    assert_eq!(rt.stats().driver, kind(driver));
}

fn nop_round_trips_are_counted(driver: Driver) {
    let rt = util::runtime(driver);
    rt.block_on(async {
        for _ in 0..100 {
            proactor::nop().await.unwrap();
        }
    });
    let stats = rt.stats();
    assert!(stats.submissions >= 100, "{stats:?}");
    assert_eq!(stats.ops_in_flight, 0);
}

fn spawned_tasks_and_join_sets_complete(driver: Driver) {
    let out = util::block_on(driver, async {
        let mut set = JoinSet::new();
        for i in 0..20u64 {
            set.spawn(async move {
                sleep(Duration::from_millis(i % 4)).await;
                proactor::nop().await.unwrap();
                i
            });
        }
        let mut sum = 0;
        while let Some(res) = set.join_next().await {
            sum += res.unwrap();
        }
        sum
    });
    assert_eq!(out, (0..20).sum());
}

fn sleeps_wake_in_deadline_order_and_never_early(driver: Driver) {
    let order = util::block_on(driver, async {
        let order = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let mut set = JoinSet::new();
        for ms in [9u64, 1, 5, 3] {
            let order = order.clone();
            set.spawn(async move {
                let start = Instant::now();
                sleep(Duration::from_millis(ms)).await;
                assert!(start.elapsed() >= Duration::from_millis(ms), "fired early");
                order.borrow_mut().push(ms);
            });
        }
        while let Some(res) = set.join_next().await {
            res.unwrap();
        }
        let v = order.borrow().clone();
        v
    });
    assert_eq!(order, [1, 3, 5, 9]);
}

fn timeout_cancels_a_pending_future(driver: Driver) {
    util::block_on(driver, async {
        let res = timeout(Duration::from_millis(2), sleep(Duration::from_secs(60))).await;
        assert!(res.is_err());
        let res = timeout(Duration::from_secs(60), async { 7 }).await;
        assert_eq!(res.unwrap(), 7);
        assert_eq!(proactor::runtime::stats().timers, 0);
    });
}

#[derive(Default)]
struct Slot {
    done: bool,
    waker: Option<Waker>,
}

/// A future completed by another thread once it has registered its waker.
fn remote_wake(shared: Arc<Mutex<Slot>>) -> impl std::future::Future<Output = ()> {
    poll_fn(move |cx| {
        let mut slot = shared.lock().unwrap();
        if slot.done {
            return Poll::Ready(());
        }
        slot.waker = Some(cx.waker().clone());
        Poll::Pending
    })
}

fn complete_from(shared: Arc<Mutex<Slot>>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || loop {
        let mut slot = shared.lock().unwrap();
        if let Some(w) = slot.waker.take() {
            slot.done = true;
            drop(slot);
            w.wake();
            return;
        }
        drop(slot);
        std::thread::sleep(Duration::from_millis(1));
    })
}

fn another_thread_wakes_a_parked_runtime(driver: Driver) {
    let rt = util::runtime(driver);
    // The main future, then a spawned task: both must wake a runtime blocked in its driver.
    let main = Arc::new(Mutex::new(Slot::default()));
    let thread = complete_from(main.clone());
    let res = rt.block_on(timeout(Duration::from_secs(10), remote_wake(main)));
    thread.join().unwrap();
    assert!(res.is_ok(), "the remote wake never reached the runtime");

    let task = Arc::new(Mutex::new(Slot::default()));
    let thread = complete_from(task.clone());
    let res = rt.block_on(async {
        let h = proactor::spawn(remote_wake(task));
        timeout(Duration::from_secs(10), h).await
    });
    thread.join().unwrap();
    assert!(res.expect("the remote wake never reached the task").is_ok());
}

fn aborted_tasks_leave_nothing_behind(driver: Driver) {
    let rt = util::runtime(driver);
    rt.block_on(async {
        let h = proactor::spawn(sleep(Duration::from_secs(60)));
        proactor::task::yield_now().await;
        h.abort();
        assert!(h.await.unwrap_err().is_cancelled());
    });
    let stats = rt.stats();
    assert_eq!(
        (stats.tasks_alive, stats.ops_in_flight, stats.timers),
        (0, 0, 0)
    );
}

on_each_driver!(
    reports_the_driver_it_runs,
    nop_round_trips_are_counted,
    spawned_tasks_and_join_sets_complete,
    sleeps_wake_in_deadline_order_and_never_early,
    timeout_cancels_a_pending_future,
    another_thread_wakes_a_parked_runtime,
    aborted_tasks_leave_nothing_behind,
);
