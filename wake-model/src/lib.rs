//! A model of the runtime's cross-thread wake-up (`src/runtime/context.rs`), for loom.
//!
//! The protocol: a thread that is not the runtime's pushes a task onto the remote queue
//! (`Shared::schedule_remote`) or wakes the `block_on` future (`MainWaker::wake_by_ref`),
//! then calls `Shared::unpark`, which writes the eventfd only if the loop announced it is
//! about to block (`parked`). The loop (`Core::block_on`, `tick`, `run_tasks`, `turn`,
//! `park_timeout`) announces `parked`, then looks once more for a remote task or a wake of
//! its future before it blocks on the eventfd. The claim checked: no wake-up is lost, i.e.
//! a task pushed remotely (or a wake of the future) is either seen by the loop before it
//! blocks or wakes it through the eventfd. A lost one leaves the loop blocked forever,
//! which loom reports as a deadlock.
//!
//! Every atomic access of those functions is here, in the same order and with the same
//! ordering, the plain stores of two flags aside (below); `tests/mirror.rs` fails, naming
//! the line, when `context.rs` changes one.
//! Left out: the `closed` flag (shutdown, not waking) and the `remote_wakeups` counter
//! (statistics). The eventfd is a counter under a mutex and condvar: a write adds one and
//! wakes the waiter; a blocked turn waits until it is non-zero and reads it back to zero
//! (the io_uring read and the epoll wait both return at once when it is already
//! non-zero). Timers are left out: with none, a park has no timeout, which is the case
//! where a lost wake-up hangs.
//!
//! # What loom can check here, and what `sc` checks instead
//! Loom 0.7 judges two patterns of this code wrongly, reporting executions the language
//! forbids (`tests/loom_wake.rs` shows both on litmus tests):
//! - it treats `SeqCst` accesses as `AcqRel` (its README, "Unsupported features"), so it
//!   misses the single total order of `SeqCst` accesses on which the handshake rests: the
//!   waker stores `has_remote` (or `woken`) then swaps `parked`, the loop stores `parked`
//!   then loads `has_remote` and `woken`; one of the two must see the other's store;
//! - it keeps a location's modification order partial and lets a read-modify-write read
//!   any latest store, so a swap may read a value that a concurrent plain store already
//!   replaced (tokio-rs/loom issues 254 and 282).
//!
//! So with `Variant::REAL` each plain store of `parked` is a `swap` whose result is
//! ignored (`Variant::swaps`; the runtime's own write of `woken` is a swap already, and the
//! model's follows the variant too): the flags' writes form one chain, as the
//! language's total modification order makes them, and each side acquires what the other
//! released, which makes the handshake hold without the total order. Loom then checks the
//! logic: the order of the steps, the second look before blocking, the queue and its flag,
//! and the eventfd on both backends; what the stand-in takes away, the reliance on the
//! total order of `SeqCst` accesses with the real stores, is checked by [`sc`], which
//! explores every interleaving of the same steps (exact for `SeqCst` accesses).
//!
//! `Variant`'s other fields are deliberate breakages, for tests that show both checkers
//! catch lost wake-ups.

pub mod sc;

#[cfg(loom)]
use loom::sync::{
    atomic::{AtomicBool, AtomicUsize, Ordering},
    Arc, Condvar, Mutex,
};
#[cfg(not(loom))]
use std::sync::{
    atomic::{AtomicBool, AtomicUsize, Ordering},
    Arc, Condvar, Mutex,
};

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

const SEQ_CST: Ordering = Ordering::SeqCst;

/// A task: its number.
pub type Task = usize;

/// How the model departs from the real code.
#[derive(Clone, Copy, Debug)]
pub struct Variant {
    /// `park_timeout` looks again for remote work after announcing `parked`.
    pub recheck: bool,
    /// `take_remote` clears `has_remote` before it takes the queue (after, when false).
    pub clear_first: bool,
    /// `schedule_remote` pushes the task before it unparks (after, when false).
    pub push_first: bool,
    /// The backend reads the eventfd on every turn (io_uring: its read is always armed),
    /// not only on a blocking one (epoll).
    pub drain_every_turn: bool,
    /// Loom's swap-for-store stand-ins (see the module docs).
    pub swaps: bool,
}

impl Variant {
    /// The real code on the epoll backend, with loom's stand-ins.
    pub const REAL: Variant = Variant {
        recheck: true,
        clear_first: true,
        push_first: true,
        drain_every_turn: false,
        swaps: true,
    };
    /// The real code on the io_uring backend, with loom's stand-ins.
    pub const REAL_URING: Variant = Variant {
        drain_every_turn: true,
        ..Variant::REAL
    };
}

/// A flag store: the real `store`, or loom's stand-in.
fn set(flag: &AtomicBool, value: bool, variant: Variant) {
    if variant.swaps {
        flag.swap(value, SEQ_CST);
    } else {
        flag.store(value, SEQ_CST);
    }
}

/// The runtime's eventfd.
#[derive(Default)]
pub struct EventFd {
    count: Mutex<u64>,
    cond: Condvar,
}

impl EventFd {
    /// `sys::eventfd_signal`.
    pub fn signal(&self) {
        *self.count.lock().unwrap() += 1;
        self.cond.notify_one();
    }

    /// A blocking turn: returns once the counter is non-zero, and reads it to zero.
    fn wait(&self) {
        let mut count = self.count.lock().unwrap();
        while *count == 0 {
            count = self.cond.wait(count).unwrap();
        }
        *count = 0;
    }

    /// A turn that does not block, on io_uring: a completed read empties the counter.
    fn drain(&self) {
        *self.count.lock().unwrap() = 0;
    }
}

/// `Shared`: what other threads reach.
pub struct Shared {
    remote: Mutex<Vec<Task>>,
    has_remote: AtomicBool,
    parked: AtomicBool,
    eventfd: EventFd,
    variant: Variant,
}

impl Shared {
    pub fn new(variant: Variant) -> Arc<Shared> {
        Arc::new(Shared {
            remote: Mutex::new(Vec::new()),
            has_remote: AtomicBool::new(false),
            parked: AtomicBool::new(false),
            eventfd: EventFd::default(),
            variant,
        })
    }

    /// `Shared::schedule_remote` (the runtime is not closed).
    pub fn schedule_remote(&self, task: Task) {
        if !self.variant.push_first {
            self.unpark();
        }
        let mut queue = self.remote.lock().unwrap();
        queue.push(task);
        self.has_remote.store(true, SEQ_CST);
        drop(queue);
        if self.variant.push_first {
            self.unpark();
        }
    }

    /// `Shared::unpark`.
    pub fn unpark(&self) {
        if self.parked.swap(false, SEQ_CST) {
            self.eventfd.signal();
        }
    }

    /// `Shared::take_remote`.
    fn take_remote(&self) -> Vec<Task> {
        if !self.variant.clear_first {
            let tasks = std::mem::take(&mut *self.remote.lock().unwrap());
            self.has_remote.store(false, SEQ_CST);
            return tasks;
        }
        self.has_remote.store(false, SEQ_CST);
        std::mem::take(&mut *self.remote.lock().unwrap())
    }
}

/// `MainWaker`: the waker of the `block_on` future.
pub struct MainWaker {
    woken: AtomicBool,
    shared: Arc<Shared>,
}

impl MainWaker {
    pub fn new(shared: &Arc<Shared>) -> Arc<MainWaker> {
        Arc::new(MainWaker {
            woken: AtomicBool::new(true),
            shared: shared.clone(),
        })
    }

    /// `MainWaker::wake_by_ref`, from another thread (`is_current` false) or from a task
    /// of the runtime (true).
    pub fn wake_by_ref(&self, is_current: bool) {
        set(&self.woken, true, self.shared.variant);
        if !is_current {
            self.shared.unpark();
        }
    }
}

/// What the loop did.
#[derive(Debug, Default)]
pub struct Ran {
    /// The tasks run, in order.
    pub tasks: Vec<Task>,
    /// Polls of the `block_on` future.
    pub polls: usize,
    /// Blocking turns.
    pub parks: usize,
}

/// `Core`: the loop's own state, on the loop's thread.
pub struct Core {
    shared: Arc<Shared>,
    run_queue: RefCell<VecDeque<Task>>,
    ran: RefCell<Ran>,
    parks: Cell<usize>,
}

impl Core {
    pub fn new(shared: &Arc<Shared>) -> Core {
        Core {
            shared: shared.clone(),
            run_queue: RefCell::default(),
            ran: RefCell::default(),
            parks: Cell::new(0),
        }
    }

    /// `Core::block_on` of a future that is ready once `done` says so (asked at each poll,
    /// i.e. after each wake). Each task run wakes the future from inside the runtime, as a
    /// finished task wakes its `JoinHandle`'s waiter.
    pub fn block_on(&self, main: &MainWaker, mut done: impl FnMut(&Ran) -> bool) -> Ran {
        loop {
            if main.woken.swap(false, SEQ_CST) {
                self.ran.borrow_mut().polls += 1;
                if done(&self.ran.borrow()) {
                    let mut ran = std::mem::take(&mut *self.ran.borrow_mut());
                    ran.parks = self.parks.get();
                    return ran;
                }
            }
            self.run_tasks(main);
            let idle = self.run_queue.borrow().is_empty() && !main.woken.load(SEQ_CST);
            self.turn(idle, &main.woken);
        }
    }

    /// `Core::run_tasks`.
    fn run_tasks(&self, main: &MainWaker) {
        if self.shared.has_remote.load(Ordering::Relaxed) {
            let remote = self.shared.take_remote();
            self.run_queue.borrow_mut().extend(remote);
        }
        loop {
            let Some(task) = self.run_queue.borrow_mut().pop_front() else {
                break;
            };
            self.ran.borrow_mut().tasks.push(task);
            main.wake_by_ref(true);
        }
    }

    /// `Core::turn` with its backend turn.
    fn turn(&self, idle: bool, main_woken: &AtomicBool) {
        let parked = idle && self.park_timeout(main_woken);
        if parked {
            self.parks.set(self.parks.get() + 1);
            self.shared.eventfd.wait();
        } else if self.shared.variant.drain_every_turn {
            self.shared.eventfd.drain();
        }
        if parked {
            set(&self.shared.parked, false, self.shared.variant);
        }
    }

    /// `Core::park_timeout` with no timer: whether to block (`Park::Until(None)`).
    fn park_timeout(&self, main_woken: &AtomicBool) -> bool {
        let variant = self.shared.variant;
        set(&self.shared.parked, true, variant);
        if !variant.recheck {
            return true;
        }
        if self.shared.has_remote.load(SEQ_CST) || main_woken.load(SEQ_CST) {
            set(&self.shared.parked, false, variant);
            return false;
        }
        true
    }
}

/// A count shared between threads, for the futures the model runs.
pub fn counter() -> Arc<AtomicUsize> {
    Arc::new(AtomicUsize::new(0))
}
