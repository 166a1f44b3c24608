//! Many threads waking a parked runtime, on both drivers: the stress counterpart of the
//! model check in `wake-model/` (the `parked` / `has_remote` / eventfd protocol). The
//! runtime has no timer, so it parks with no timeout: a single lost wake-up would leave
//! it blocked for good. The threads pass a turn around, one wake at a time (so the runtime
//! goes idle and parks between wakes, and each wake races with its parking); or each
//! waits only for its own wake to be taken; or they fire all their wakes at once. The
//! runtime runs on its own thread and the test waits for it (bounded): a hang fails the
//! test with the counts where it stopped.

mod util;

use std::future::poll_fn;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use proactor::{Driver, JoinSet};

const THREADS: usize = 8;
const ROUNDS: u64 = 1000;
const LIMIT: Duration = Duration::from_secs(60);

/// One waking thread's mailbox: what it sent, what the runtime took, and the waker.
#[derive(Default)]
struct Mailbox {
    sent: AtomicU64,
    taken: Mutex<u64>,
    taken_cond: Condvar,
    waker: Mutex<Option<Waker>>,
}

impl Mailbox {
    /// From another thread: one more, and wake whoever waits.
    fn send(&self) {
        self.sent.fetch_add(1, Ordering::SeqCst);
        if let Some(w) = self.waker.lock().unwrap().take() {
            w.wake();
        }
    }

    /// On the runtime: waits until something new was sent; returns the total sent.
    async fn recv(&self, seen: u64) -> u64 {
        poll_fn(|cx| {
            let sent = self.sent.load(Ordering::SeqCst);
            if sent > seen {
                return Poll::Ready(sent);
            }
            *self.waker.lock().unwrap() = Some(cx.waker().clone());
            // A send between the first look and the registration is seen here.
            let sent = self.sent.load(Ordering::SeqCst);
            if sent > seen {
                Poll::Ready(sent)
            } else {
                Poll::Pending
            }
        })
        .await
    }

    /// On the runtime: tells the sender that `n` were taken.
    fn ack(&self, n: u64) {
        *self.taken.lock().unwrap() = n;
        self.taken_cond.notify_all();
    }

    /// From the sender: waits (bounded) until the runtime took `n`.
    fn wait_taken(&self, n: u64) -> bool {
        let deadline = Instant::now() + LIMIT;
        let mut taken = self.taken.lock().unwrap();
        while *taken < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            taken = self.taken_cond.wait_timeout(taken, left).unwrap().0;
        }
        true
    }
}

/// Who takes the wakes on the runtime.
#[derive(Clone, Copy)]
enum Taker {
    /// One task per mailbox: each wake schedules a task from another thread.
    Tasks,
    /// The `block_on` future itself: its waker, woken from another thread.
    BlockOn,
}

/// How the waking threads pace their wakes.
#[derive(Clone, Copy, Debug)]
enum Pace {
    /// One wake in flight in all: a thread sends when its turn comes, waits until the
    /// runtime took it, and passes the turn on.
    Relay,
    /// Each thread waits until the runtime took its last wake before the next.
    PingPong,
    /// No waiting.
    Storm,
}

/// The turn of `Pace::Relay`: the number of the next wake to send.
#[derive(Default)]
struct Turn {
    next: Mutex<u64>,
    cond: Condvar,
}

impl Turn {
    fn wait_for(&self, n: u64) -> bool {
        let deadline = Instant::now() + LIMIT;
        let mut next = self.next.lock().unwrap();
        while *next != n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            next = self.cond.wait_timeout(next, left).unwrap().0;
        }
        true
    }

    fn pass(&self, n: u64) {
        *self.next.lock().unwrap() = n + 1;
        self.cond.notify_all();
    }
}

/// `THREADS` threads each send `ROUNDS` wakes to their mailbox, paced by `pace`; a runtime
/// of `driver`, on its own thread, takes them all. Fails, with where it stood, if that does
/// not end within `LIMIT`.
fn stress(driver: Driver, taker: Taker, pace: Pace) {
    let boxes: Arc<Vec<Mailbox>> = Arc::new((0..THREADS).map(|_| Mailbox::default()).collect());
    let (done_tx, done) = mpsc::channel();
    let rt_boxes = boxes.clone();
    std::thread::spawn(move || {
        let rt = util::runtime(driver);
        let stats = match taker {
            Taker::Tasks => rt.block_on(tasks(rt_boxes)),
            Taker::BlockOn => rt.block_on(block_on_future(rt_boxes)),
        };
        let _ = done_tx.send(stats);
    });
    let turn = Arc::new(Turn::default());
    let senders: Vec<_> = (0..THREADS)
        .map(|i| {
            let (boxes, turn) = (boxes.clone(), turn.clone());
            std::thread::spawn(move || {
                for n in 1..=ROUNDS {
                    let global = (n - 1) * THREADS as u64 + i as u64;
                    if matches!(pace, Pace::Relay) && !turn.wait_for(global) {
                        return false;
                    }
                    boxes[i].send();
                    if !matches!(pace, Pace::Storm) && !boxes[i].wait_taken(n) {
                        return false;
                    }
                    turn.pass(global);
                }
                true
            })
        })
        .collect();
    let stats = done.recv_timeout(LIMIT).unwrap_or_else(|_| {
        let taken: Vec<u64> = boxes.iter().map(|b| *b.taken.lock().unwrap()).collect();
        let sent: Vec<u64> = boxes
            .iter()
            .map(|b| b.sent.load(Ordering::SeqCst))
            .collect();
        panic!("{driver:?}: the runtime stopped taking wakes: sent {sent:?}, taken {taken:?}")
    });
    for s in senders {
        assert!(s.join().unwrap(), "a sender's wake was never taken");
    }
    eprintln!(
        "{driver:?} {pace:?}: {} wakes from {THREADS} threads; the runtime parked {} times, \
         {} eventfd wake-ups",
        THREADS as u64 * ROUNDS,
        stats.parks,
        stats.remote_wakeups
    );
}

/// One task per mailbox: each remote wake schedules its task from another thread (the
/// remote run queue).
async fn tasks(boxes: Arc<Vec<Mailbox>>) -> proactor::Stats {
    let mut set = JoinSet::new();
    for i in 0..THREADS {
        let boxes = boxes.clone();
        set.spawn(async move {
            let mut seen = 0;
            while seen < ROUNDS {
                seen = boxes[i].recv(seen).await;
                boxes[i].ack(seen);
            }
        });
    }
    while let Some(res) = set.join_next().await {
        res.unwrap();
    }
    proactor::runtime::stats()
}

/// The `block_on` future itself takes every mailbox's wakes (its waker, woken from
/// another thread, writes the eventfd).
async fn block_on_future(boxes: Arc<Vec<Mailbox>>) -> proactor::Stats {
    let mut seen = [0u64; THREADS];
    while seen.iter().any(|s| *s < ROUNDS) {
        let ready = poll_fn(|cx| {
            let mut ready = false;
            for (i, b) in boxes.iter().enumerate() {
                *b.waker.lock().unwrap() = Some(cx.waker().clone());
                let sent = b.sent.load(Ordering::SeqCst);
                if sent > seen[i] {
                    seen[i] = sent;
                    b.ack(sent);
                    ready = true;
                }
            }
            if ready {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        });
        ready.await;
    }
    proactor::runtime::stats()
}

fn remote_task_wakes(driver: Driver) {
    for pace in [Pace::Relay, Pace::PingPong, Pace::Storm] {
        stress(driver, Taker::Tasks, pace);
    }
}

fn block_on_future_wakes(driver: Driver) {
    for pace in [Pace::Relay, Pace::PingPong, Pace::Storm] {
        stress(driver, Taker::BlockOn, pace);
    }
}

on_each_driver!(remote_task_wakes, block_on_future_wakes);
