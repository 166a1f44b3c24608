//! Timers: wake-up order, never early, timeout both ways, interval ticks, a million sleeps.

mod util;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use proactor::time::{interval, interval_at, sleep, sleep_until, timeout, MissedTickBehavior};
use proactor::{Driver, JoinSet};
use std::future::Future;
use util::block_on;

fn sleeps_wake_in_deadline_order(driver: Driver) {
    let order = block_on(driver, async {
        let order = Rc::new(RefCell::new(Vec::new()));
        let mut set = JoinSet::new();
        for ms in [30u64, 10, 50, 20, 40] {
            let order = order.clone();
            set.spawn(async move {
                sleep(Duration::from_millis(ms)).await;
                order.borrow_mut().push(ms);
            });
        }
        while set.join_next().await.is_some() {}
        order.take()
    });
    assert_eq!(order, vec![10, 20, 30, 40, 50]);
}

fn sleep_never_fires_early(driver: Driver) {
    block_on(driver, async {
        for ms in [1u64, 3, 7, 15] {
            let d = Duration::from_millis(ms);
            let start = Instant::now();
            sleep(d).await;
            assert!(start.elapsed() >= d, "slept {:?} < {d:?}", start.elapsed());
        }
        let deadline = Instant::now() + Duration::from_millis(5);
        sleep_until(deadline).await;
        assert!(Instant::now() >= deadline);
        // A deadline in the past completes at once.
        sleep_until(Instant::now() - Duration::from_secs(1)).await;
        sleep(Duration::ZERO).await;
    });
}

fn timeout_elapses(driver: Driver) {
    block_on(driver, async {
        let dropped = Rc::new(Cell::new(false));
        let flag = dropped.clone();
        let slow = async move {
            let _guard = Guard(flag);
            sleep(Duration::from_secs(3600)).await;
            7
        };
        let res = timeout(Duration::from_millis(10), slow).await;
        let err = res.unwrap_err();
        assert!(dropped.get(), "the timed-out future is dropped");
        assert_eq!(err.to_string(), "deadline has elapsed");
        let io: std::io::Error = err.into();
        assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);
        assert_eq!(proactor::runtime::stats().timers, 0, "no timer left behind");
    });
}

fn timeout_does_not_elapse(driver: Driver) {
    block_on(driver, async {
        let res = timeout(Duration::from_secs(3600), async {
            sleep(Duration::from_millis(2)).await;
            5
        })
        .await;
        assert_eq!(res, Ok(5));
        let ready = timeout(Duration::ZERO, async { 6 }).await;
        assert_eq!(
            ready,
            Ok(6),
            "a ready future wins even against a zero timeout"
        );
        assert_eq!(proactor::runtime::stats().timers, 0);
    });
}

fn interval_ticks_on_schedule(driver: Driver) {
    block_on(driver, async {
        let period = Duration::from_millis(10);
        let start = Instant::now();
        let mut iv = interval_at(start, period);
        for k in 0..4u32 {
            let tick = iv.tick().await;
            assert_eq!(tick, start + period * k);
            assert!(Instant::now() >= tick);
        }
        assert_eq!(iv.period(), period);
    });
}

fn interval_missed_ticks(driver: Driver) {
    block_on(driver, async {
        let period = Duration::from_millis(10);

        // Burst: the missed ticks come back to back, on the original schedule.
        let mut iv = interval(period);
        let t0 = iv.tick().await;
        std::thread::sleep(period * 3 + period / 2); // the task is busy: ticks are missed
        for k in 1..=3u32 {
            assert_eq!(iv.tick().await, t0 + period * k);
        }

        // Delay: one late tick, then a full period after it.
        let mut iv = interval(period);
        iv.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let t0 = iv.tick().await;
        std::thread::sleep(period * 3 + period / 2);
        let late = iv.tick().await;
        assert_eq!(late, t0 + period);
        let after = Instant::now();
        let next = iv.tick().await;
        assert!(
            next >= after + period - Duration::from_millis(1),
            "delay keeps a full period"
        );

        // Skip: one late tick, then the next multiple of the period.
        let mut iv = interval(period);
        iv.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let t0 = iv.tick().await;
        std::thread::sleep(period * 3 + period / 2);
        assert_eq!(iv.tick().await, t0 + period);
        let next = iv.tick().await;
        assert_eq!((next - t0).as_nanos() % period.as_nanos(), 0);
        assert!(
            next >= t0 + period * 4,
            "skipped to the schedule, not bursting"
        );
    });
}

fn sleep_reset_and_drop(driver: Driver) {
    block_on(driver, async {
        let mut s = sleep(Duration::from_secs(3600));
        let poll_once = std::future::poll_fn(|cx| {
            assert!(std::pin::Pin::new(&mut s).poll(cx).is_pending());
            std::task::Poll::Ready(())
        });
        poll_once.await;
        assert_eq!(proactor::runtime::stats().timers, 1);
        s.reset(Instant::now() + Duration::from_millis(3));
        s.await;
        assert_eq!(proactor::runtime::stats().timers, 0);
    });
}

fn a_million_sleeps(driver: Driver) {
    const N: usize = 1_000_000;
    block_on(driver, async {
        let done = Rc::new(Cell::new(0usize));
        // The deadlines are set once every task is spawned (the tasks first run after this
        // loop), late enough for every task to register first: 3 s, or three times what the
        // spawning took on a slow host (one pass over the tasks costs about as much).
        let base = Rc::new(Cell::new(Instant::now()));
        let spawning = Instant::now();
        for i in 0..N {
            let (done, base) = (done.clone(), base.clone());
            proactor::spawn(async move {
                // 200 distinct deadlines.
                sleep_until(base.get() + Duration::from_micros((i % 200) as u64)).await;
                done.set(done.get() + 1);
            });
        }
        let margin = Duration::from_secs(3).max(spawning.elapsed() * 3);
        base.set(Instant::now() + margin);
        // Let every task run once and register its timer: all N are pending together.
        let mut turns = 0;
        while proactor::runtime::stats().timers < N && done.get() == 0 && turns < N {
            proactor::task::yield_now().await;
            turns += 1;
        }
        assert_eq!(proactor::runtime::stats().timers, N);
        assert_eq!(done.get(), 0);
        while done.get() < N {
            sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(proactor::runtime::stats().timers, 0);
        assert_eq!(proactor::runtime::stats().tasks_alive, 0);
    });
}

thread_local! {
    /// The sleep a [`DropOnWake`] waker drops, and whether it ran.
    static VICTIM: RefCell<Option<proactor::time::Sleep>> = const { RefCell::new(None) };
    static WOKEN: Cell<bool> = const { Cell::new(false) };
}

/// A waker that drops another registered sleep from inside `wake`.
struct DropOnWake;
impl std::task::Wake for DropOnWake {
    fn wake(self: std::sync::Arc<Self>) {
        drop(VICTIM.with(|v| v.borrow_mut().take()));
        WOKEN.with(|w| w.set(true));
    }
}

/// A timer's waker that drops another sleep frees that sleep's timer at once (the store is
/// not borrowed while due timers are woken).
fn waker_dropping_a_sleep_frees_its_timer(driver: Driver) {
    block_on(driver, async {
        let mut victim = sleep(Duration::from_secs(3600));
        std::future::poll_fn(|cx| {
            assert!(std::pin::Pin::new(&mut victim).poll(cx).is_pending());
            std::task::Poll::Ready(())
        })
        .await;
        VICTIM.with(|v| *v.borrow_mut() = Some(victim));
        let mut trigger = sleep(Duration::from_millis(2));
        let waker = std::task::Waker::from(std::sync::Arc::new(DropOnWake));
        let mut cx = std::task::Context::from_waker(&waker);
        assert!(std::pin::Pin::new(&mut trigger).poll(&mut cx).is_pending());
        assert_eq!(proactor::runtime::stats().timers, 2);
        while !WOKEN.with(Cell::get) {
            sleep(Duration::from_millis(1)).await;
        }
        assert!(VICTIM.with(|v| v.borrow().is_none()));
        drop(trigger);
        assert_eq!(
            proactor::runtime::stats().timers,
            0,
            "the dropped sleep's timer must be freed, not left in the store"
        );
    });
    WOKEN.with(|w| w.set(false));
}

struct Guard(Rc<Cell<bool>>);
impl Drop for Guard {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

on_each_driver!(
    sleeps_wake_in_deadline_order,
    sleep_never_fires_early,
    timeout_elapses,
    timeout_does_not_elapse,
    interval_ticks_on_schedule,
    interval_missed_ticks,
    sleep_reset_and_drop,
    a_million_sleeps,
    waker_dropping_a_sleep_frees_its_timer,
);
