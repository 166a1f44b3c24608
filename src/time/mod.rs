//! Timers: [`sleep`], [`sleep_until`], [`timeout`], [`interval`].
//!
//! One timer store per runtime, shared by both drivers: the loop parks until the earliest
//! deadline and fires what is due after every driver turn. Resolution is whatever the
//! driver's wait offers (nanoseconds on io_uring, milliseconds on epoll); a timer never
//! fires early.

use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use crate::runtime::context::{self, Core};
use crate::runtime::timers::TimerKey;

/// Far enough in the future to mean "never" while staying representable.
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86400 * 365 * 30)
}

/// `at + d`, or "never" where that is past what an `Instant` holds: a timer saturates, it
/// never panics and never fires early.
fn later(at: Instant, d: Duration) -> Instant {
    at.checked_add(d).unwrap_or_else(|| far_future().max(at))
}

/// Waits until `duration` has elapsed.
///
/// ```
/// proactor::block_on(async {
///     let start = std::time::Instant::now();
///     proactor::time::sleep(std::time::Duration::from_millis(5)).await;
///     assert!(start.elapsed() >= std::time::Duration::from_millis(5));
/// });
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    sleep_until(later(Instant::now(), duration))
}

/// Waits until `deadline`.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline,
        timer: None,
    }
}

/// The future of [`sleep`] and [`sleep_until`]. Registers with the runtime on first poll;
/// dropping it removes the timer. Polled on another runtime later, it registers there,
/// for the same deadline: it never fires early.
pub struct Sleep {
    deadline: Instant,
    timer: Option<(Rc<Core>, TimerKey)>,
}

impl Sleep {
    /// The instant this sleep completes at.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Whether the deadline has passed.
    pub fn is_elapsed(&self) -> bool {
        Instant::now() >= self.deadline
    }

    /// Moves the deadline, re-arming the sleep even if it had completed.
    pub fn reset(&mut self, deadline: Instant) {
        self.deadline = deadline;
        self.deregister();
    }

    fn deregister(&mut self) {
        if let Some((core, key)) = self.timer.take() {
            // The store is never borrowed while user code runs (due timers are woken after
            // the borrow ends), but should a waker's `clone` drop a sleep inside `insert`,
            // the entry is left to be freed with the store rather than panicking.
            if let Ok(mut timers) = core.timers.try_borrow_mut() {
                timers.remove(key);
            }
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        if this
            .timer
            .as_ref()
            .is_some_and(|(core, _)| !context::is_current(core))
        {
            // Registered with another runtime (or one that is gone): its store says nothing
            // about this one's clock. Register again here, for the same deadline.
            this.deregister();
        }
        if let Some((core, key)) = &mut this.timer {
            let fired = core.timers.borrow_mut().poll(*key, cx.waker());
            if !fired {
                return Poll::Pending;
            }
            core.timers.borrow_mut().remove(*key);
            this.timer = None;
            return Poll::Ready(());
        }
        if Instant::now() >= this.deadline {
            return Poll::Ready(());
        }
        let core = context::current();
        let key = core.timers.borrow_mut().insert(this.deadline, cx.waker());
        this.timer = Some((core, key));
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.deregister();
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .finish()
    }
}

/// The error of [`timeout`]: the deadline passed before the future completed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Elapsed(());

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

impl From<Elapsed> for std::io::Error {
    fn from(e: Elapsed) -> Self {
        std::io::Error::new(std::io::ErrorKind::TimedOut, e)
    }
}

/// Runs `fut` with a time limit: its output, or [`Elapsed`] if `duration` passes first (the
/// future is then dropped, cancelling what it was doing). For a single socket operation,
/// its future's own `timeout` ([`net::future`](crate::net::future)) does the same in the
/// kernel on io_uring, and gives its buffer back.
///
/// ```
/// use std::time::Duration;
/// proactor::block_on(async {
///     let slow = proactor::time::sleep(Duration::from_secs(10));
///     let res = proactor::time::timeout(Duration::from_millis(5), slow).await;
///     assert!(res.is_err());
/// });
/// ```
pub fn timeout<F: Future>(duration: Duration, fut: F) -> Timeout<F> {
    Timeout {
        fut,
        sleep: sleep(duration),
    }
}

/// Like [`timeout`], with an absolute deadline.
pub fn timeout_at<F: Future>(deadline: Instant, fut: F) -> Timeout<F> {
    Timeout {
        fut,
        sleep: sleep_until(deadline),
    }
}

/// The future of [`timeout`].
#[derive(Debug)]
pub struct Timeout<F> {
    fut: F,
    sleep: Sleep,
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `fut` is structurally pinned (never moved out of `Timeout`, which has no
        // `Unpin` impl beyond the auto one that requires `F: Unpin`); `sleep` is `Unpin`.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: as above, `fut` stays where it is until `Timeout` is dropped.
        let fut = unsafe { Pin::new_unchecked(&mut this.fut) };
        if let Poll::Ready(out) = fut.poll(cx) {
            return Poll::Ready(Ok(out));
        }
        ready!(Pin::new(&mut this.sleep).poll(cx));
        Poll::Ready(Err(Elapsed(())))
    }
}

/// What an [`Interval`] does when ticks were missed because the task was busy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MissedTickBehavior {
    /// Fire the missed ticks back to back until caught up, then keep the original
    /// schedule (`start + n * period`). The default.
    #[default]
    Burst,
    /// Fire once now, and schedule the next tick one `period` after this late one.
    Delay,
    /// Fire once now, and skip to the next multiple of `period` on the original schedule.
    Skip,
}

/// Ticks every `period`, the first tick completing at once.
///
/// Missed ticks are handled per [`MissedTickBehavior`], by default `Burst`.
///
/// # Panics
/// If `period` is zero.
pub fn interval(period: Duration) -> Interval {
    interval_at(Instant::now(), period)
}

/// Ticks every `period`, the first tick at `start`.
///
/// # Panics
/// If `period` is zero.
pub fn interval_at(start: Instant, period: Duration) -> Interval {
    assert!(!period.is_zero(), "interval period must be non-zero");
    Interval {
        period,
        next: start,
        sleep: sleep_until(start),
        behavior: MissedTickBehavior::default(),
    }
}

/// A stream of ticks; see [`interval`].
///
/// ```
/// use std::time::Duration;
/// proactor::block_on(async {
///     let mut ticks = proactor::time::interval(Duration::from_millis(2));
///     let first = ticks.tick().await; // at once
///     let second = ticks.tick().await; // a period later
///     assert!(second >= first + Duration::from_millis(2));
/// });
/// ```
#[derive(Debug)]
pub struct Interval {
    period: Duration,
    next: Instant,
    sleep: Sleep,
    behavior: MissedTickBehavior,
}

impl Interval {
    /// Waits for the next tick and returns the instant it was scheduled for.
    pub async fn tick(&mut self) -> Instant {
        poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Polls for the next tick.
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        ready!(Pin::new(&mut self.sleep).poll(cx));
        let tick = self.next;
        let now = Instant::now();
        let on_schedule = later(tick, self.period);
        self.next = match self.behavior {
            MissedTickBehavior::Burst => on_schedule,
            _ if now < on_schedule => on_schedule,
            MissedTickBehavior::Delay => later(now, self.period),
            MissedTickBehavior::Skip => {
                let behind =
                    now.saturating_duration_since(tick).as_nanos() / self.period.as_nanos();
                let periods = u32::try_from(behind + 1).unwrap_or(u32::MAX);
                let ahead = self.period.checked_mul(periods).unwrap_or(Duration::MAX);
                later(tick, ahead)
            }
        };
        self.sleep.reset(self.next);
        Poll::Ready(tick)
    }

    /// Sets how missed ticks are handled.
    pub fn set_missed_tick_behavior(&mut self, behavior: MissedTickBehavior) {
        self.behavior = behavior;
    }

    /// How missed ticks are handled.
    pub fn missed_tick_behavior(&self) -> MissedTickBehavior {
        self.behavior
    }

    /// The period between ticks.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// Restarts the schedule: the next tick is one period from now.
    pub fn reset(&mut self) {
        self.next = later(Instant::now(), self.period);
        self.sleep.reset(self.next);
    }
}

#[cfg(feature = "stream")]
impl futures_core::Stream for Interval {
    type Item = Instant;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Instant>> {
        self.get_mut().poll_tick(cx).map(Some)
    }
}
