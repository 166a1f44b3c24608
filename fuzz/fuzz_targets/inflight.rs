//! The in-flight table's state machine (`src/driver/inflight.rs`, through `proactor::__fuzz`)
//! fed arbitrary sequences of insert / insert_multi / poll / complete (any flags) / ignore /
//! cancel_if_over_cap, plus completions for stale tokens, checked against a model after
//! every step. Only the documented misuse (which panics) is never generated: polling or
//! dropping an op that is not in flight, and a second completion for a single-shot op
//! whose first was not collected.
//!
//! Checked: `len()` and `pending()` agree with the model; every completion reaches the
//! live future (in arrival order, none lost or doubled) or the dropped op's orphan hook;
//! the last waker registered is woken by the arrival; a dropped op's resources are freed
//! exactly once, and only with its final completion; a stale token changes nothing; the
//! free-buffer count goes down once per completion that names a buffer; the cap asks for
//! one cancel per time the queue reached it and stayed full. At the end every op gets its
//! final completion and the table is empty.
#![no_main]

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use proactor::__fuzz::{Cqe, Orphan, Outcome, Table};

const F_BUFFER: u32 = 1;
const F_MORE: u32 = 1 << 1;
const F_NOTIF: u32 = 1 << 3;
const RESERVED: u64 = 1 << 63;
const FREE_BUFFERS: usize = 6;

#[derive(Arbitrary, Debug)]
enum Step {
    Insert,
    InsertMulti {
        cap: Option<u8>,
        buffers: bool,
    },
    Poll {
        op: u8,
        other_waker: bool,
    },
    Complete {
        op: u8,
        err: bool,
        more: bool,
        buffer: Option<u16>,
        notif: bool,
    },
    Stale {
        op: u8,
        reserved: bool,
    },
    Ignore {
        op: u8,
    },
    CancelIfOverCap {
        op: u8,
    },
}

struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A waker and the count of its wakes.
#[derive(Clone)]
struct Counted(Arc<Count>, Waker);

impl Counted {
    fn new() -> Counted {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        Counted(count.clone(), Waker::from(count))
    }
    fn wakes(&self) -> usize {
        self.0 .0.load(Ordering::SeqCst)
    }
}

/// What a dropped op's resources saw: completions handed to the hook, and drops.
#[derive(Default)]
struct Seen {
    orphaned: RefCell<Vec<u32>>,
    drops: Cell<usize>,
}

struct Resources(Rc<Seen>);

impl Orphan for Resources {
    fn orphan(&mut self, cqe: Cqe) {
        self.0.orphaned.borrow_mut().push(seq_of(&cqe));
    }
}

impl Drop for Resources {
    fn drop(&mut self) {
        self.0.drops.set(self.0.drops.get() + 1);
    }
}

fn seq_of(cqe: &Cqe) -> u32 {
    match cqe.0 {
        Ok(n) => n,
        Err(e) => e as u32,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Capping {
    Open,
    Reached,
    Cancelled,
}

/// The model of one op.
struct Op {
    token: u64,
    multi: bool,
    cap: Option<usize>,
    free: Option<Rc<Cell<usize>>>,
    free_model: usize,
    wakers: [Counted; 2],
    /// Index into `wakers` of the waker the slot holds, if any.
    registered: Option<usize>,
    /// Expected wakes of each waker.
    wakes: [usize; 2],
    /// Arrived, not taken by the future: (seq, more).
    queued: VecDeque<(u32, bool)>,
    /// Every seq that arrived and was not taken by the live future.
    not_taken: Vec<u32>,
    final_arrived: bool,
    slot_live: bool,
    dropped: Option<Rc<Seen>>,
    capping: Capping,
}

impl Op {
    fn pending(&self) -> bool {
        if !self.slot_live {
            return false;
        }
        if self.dropped.is_some() {
            return true;
        }
        if self.multi {
            !self.queued.iter().any(|(_, more)| !more)
        } else {
            self.queued.is_empty()
        }
    }

    /// Whether the kernel may post a completion for this op now (the misuse is a second
    /// completion for a single-shot op whose first was not taken).
    fn may_complete(&self) -> bool {
        self.slot_live
            && !self.final_arrived
            && (self.multi || self.dropped.is_some() || self.queued.is_empty())
    }
}

struct Fuzz {
    table: Table,
    ops: Vec<Op>,
    seq: u32,
}

fn pick(ops: &mut [Op], i: u8, ok: impl Fn(&Op) -> bool) -> Option<&mut Op> {
    let n = ops.iter().filter(|o| ok(o)).count();
    if n == 0 {
        return None;
    }
    ops.iter_mut().filter(|o| ok(o)).nth(usize::from(i) % n)
}

impl Fuzz {
    fn insert(&mut self, multi: bool, cap: Option<u8>, buffers: bool) {
        let wakers = [Counted::new(), Counted::new()];
        let cap = cap.map(|c| usize::from(c % 6) + 1).filter(|_| multi);
        let free = (multi && buffers).then(|| Rc::new(Cell::new(FREE_BUFFERS)));
        let token = if multi {
            self.table.insert_multi(&wakers[0].1, cap, free.clone())
        } else {
            self.table.insert(&wakers[0].1)
        };
        assert_eq!(token & RESERVED, 0, "a reserved token handed out");
        assert!(
            self.ops.iter().all(|o| o.token != token),
            "a token handed out twice"
        );
        self.ops.push(Op {
            token,
            multi,
            cap,
            free,
            free_model: FREE_BUFFERS,
            wakers,
            registered: Some(0),
            wakes: [0, 0],
            queued: VecDeque::new(),
            not_taken: Vec::new(),
            final_arrived: false,
            slot_live: true,
            dropped: None,
            capping: Capping::Open,
        });
    }

    fn poll(&mut self, i: u8, other: bool) {
        let Some(op) = pick(&mut self.ops, i, |o| o.slot_live && o.dropped.is_none()) else {
            return;
        };
        let w = usize::from(other);
        let waker = op.wakers[w].1.clone();
        match self.table.poll(op.token, &mut Context::from_waker(&waker)) {
            Poll::Ready(cqe) => {
                let (seq, more) = op.queued.pop_front().expect("Ready with nothing arrived");
                assert_eq!(seq_of(&cqe), seq, "completions out of order");
                assert_eq!(cqe.1 & F_MORE != 0, more);
                if !op.multi || !more {
                    op.slot_live = false;
                }
            }
            Poll::Pending => {
                assert!(op.queued.is_empty(), "Pending with a completion arrived");
                op.registered = Some(w);
            }
        }
    }

    fn complete(&mut self, i: u8, err: bool, more: bool, buffer: Option<u16>, notif: bool) {
        let seq = self.seq;
        self.seq += 1;
        let Some(op) = pick(&mut self.ops, i, Op::may_complete) else {
            return;
        };
        let mut flags = if more { F_MORE } else { 0 };
        if let Some(bid) = buffer {
            flags |= F_BUFFER | u32::from(bid) << 16;
            op.free_model = op.free_model.saturating_sub(1);
        }
        if notif {
            flags |= F_NOTIF;
        }
        let result = if err { Err(seq as i32) } else { Ok(seq) };
        let outcome = self.table.complete(op.token, (result, flags));
        if !more {
            op.final_arrived = true;
        }
        if let Some(seen) = &op.dropped {
            op.not_taken.push(seq);
            if more {
                assert!(matches!(outcome, Outcome::Delivered));
            } else {
                let Outcome::Released(released) = outcome else {
                    panic!("a dropped op's final completion did not release it");
                };
                assert_eq!(seen.drops.get(), 0, "freed before its final completion");
                drop(released);
                op.slot_live = false;
            }
            assert_eq!(*seen.orphaned.borrow(), op.not_taken, "orphan hook");
            return;
        }
        // Full: reported on every arrival from the first that fills the queue until the
        // driver's check (which takes repeats).
        let full = op.multi && more && op.cap.is_some_and(|c| op.queued.len() + 1 >= c);
        if full && op.capping == Capping::Open {
            op.capping = Capping::Reached;
        }
        let reached = full && op.capping == Capping::Reached;
        op.queued.push_back((seq, more));
        if let Some(w) = op.registered.take() {
            op.wakes[w] += 1;
        }
        match outcome {
            Outcome::Capped => assert!(reached, "Capped below the cap"),
            Outcome::Delivered => assert!(!reached, "the cap was reached unreported"),
            _ => panic!("a completion of a live op not delivered"),
        }
    }

    fn stale(&mut self, i: u8, reserved: bool) {
        let len = self.table.len();
        let token = if reserved {
            RESERVED | u64::from(i)
        } else {
            let dead: Vec<u64> = self
                .ops
                .iter()
                .filter(|o| !o.slot_live)
                .map(|o| o.token)
                .collect();
            let Some(&token) = dead.get(usize::from(i) % dead.len().max(1)) else {
                return;
            };
            token
        };
        let outcome = self.table.complete(token, (Ok(0), 0));
        assert!(
            matches!(outcome, Outcome::Stale),
            "a stale token was not ignored"
        );
        assert!(!self.table.cancel_if_over_cap(token));
        assert_eq!(self.table.len(), len);
    }

    fn ignore(&mut self, i: u8) {
        let Some(op) = pick(&mut self.ops, i, |o| o.slot_live && o.dropped.is_none()) else {
            return;
        };
        let seen = Rc::new(Seen::default());
        let back = self.table.ignore(op.token, Resources(seen.clone()));
        op.not_taken.extend(op.queued.iter().map(|(seq, _)| *seq));
        assert_eq!(
            *seen.orphaned.borrow(),
            op.not_taken,
            "queued completions not orphaned"
        );
        let done = if op.multi {
            op.queued.iter().any(|(_, more)| !more)
        } else {
            !op.queued.is_empty()
        };
        op.queued.clear();
        op.registered = None;
        assert_eq!(
            back.is_some(),
            done,
            "freed at once iff the final completion is in"
        );
        drop(back);
        assert_eq!(seen.drops.get(), usize::from(done));
        op.slot_live = !done;
        op.dropped = Some(seen);
    }

    fn cancel_if_over_cap(&mut self, i: u8) {
        let Some(op) = pick(&mut self.ops, i, |_| true) else {
            return;
        };
        let got = self.table.cancel_if_over_cap(op.token);
        let mut want = false;
        if op.slot_live && op.dropped.is_none() && op.capping == Capping::Reached {
            let cap = op.cap.expect("reached a cap");
            let finished = op.queued.back().is_some_and(|(_, more)| !more);
            want = op.queued.len() >= cap && !finished;
            op.capping = if want {
                Capping::Cancelled
            } else {
                Capping::Open
            };
        }
        assert_eq!(got, want, "cancel_if_over_cap");
    }

    fn check(&mut self) {
        let live = self.ops.iter().filter(|o| o.slot_live).count();
        assert_eq!(self.table.len(), live, "len()");
        let mut pending = self.table.pending();
        pending.sort_unstable();
        let mut want: Vec<u64> = self
            .ops
            .iter()
            .filter(|o| o.pending())
            .map(|o| o.token)
            .collect();
        want.sort_unstable();
        assert_eq!(pending, want, "pending()");
        for op in &self.ops {
            for w in 0..2 {
                assert_eq!(op.wakers[w].wakes(), op.wakes[w], "wakes of waker {w}");
            }
            if let Some(free) = &op.free {
                assert_eq!(free.get(), op.free_model, "free buffers");
            }
            if let Some(seen) = &op.dropped {
                assert_eq!(
                    seen.drops.get(),
                    usize::from(!op.slot_live),
                    "resources freed"
                );
            }
        }
        for op in &mut self.ops {
            let parked = op.slot_live && op.dropped.is_some();
            assert_eq!(self.table.is_parked(op.token), parked, "is_parked");
        }
    }

    /// Every op gets its final completion and has it taken (or released): nothing is left.
    fn finish(&mut self) {
        for i in 0..self.ops.len() {
            while self.ops[i].slot_live {
                if self.ops[i].may_complete() {
                    let seq = self.seq;
                    self.seq += 1;
                    let op = &mut self.ops[i];
                    let outcome = self.table.complete(op.token, (Ok(seq), 0));
                    op.final_arrived = true;
                    match &op.dropped {
                        Some(_) => {
                            assert!(matches!(outcome, Outcome::Released(_)));
                            op.not_taken.push(seq);
                            op.slot_live = false;
                        }
                        None => {
                            op.queued.push_back((seq, false));
                            if let Some(w) = op.registered.take() {
                                op.wakes[w] += 1;
                            }
                        }
                    }
                } else {
                    let op = &mut self.ops[i];
                    let waker = op.wakers[0].1.clone();
                    let Poll::Ready(cqe) =
                        self.table.poll(op.token, &mut Context::from_waker(&waker))
                    else {
                        panic!("an arrived completion was not ready");
                    };
                    let (seq, more) = op.queued.pop_front().expect("arrived");
                    assert_eq!(seq_of(&cqe), seq);
                    if !op.multi || !more {
                        op.slot_live = false;
                    }
                }
            }
            self.check();
        }
        assert!(self.table.is_empty());
        for op in &self.ops {
            if let Some(seen) = &op.dropped {
                assert_eq!(seen.drops.get(), 1, "resources freed exactly once");
                assert_eq!(*seen.orphaned.borrow(), op.not_taken);
            }
        }
    }
}

fuzz_target!(|steps: Vec<Step>| {
    let mut f = Fuzz {
        table: Table::default(),
        ops: Vec::new(),
        seq: 0,
    };
    for step in steps {
        match step {
            Step::Insert => f.insert(false, None, false),
            Step::InsertMulti { cap, buffers } => f.insert(true, cap, buffers),
            Step::Poll { op, other_waker } => f.poll(op, other_waker),
            Step::Complete {
                op,
                err,
                more,
                buffer,
                notif,
            } => f.complete(op, err, more, buffer, notif),
            Step::Stale { op, reserved } => f.stale(op, reserved),
            Step::Ignore { op } => f.ignore(op),
            Step::CancelIfOverCap { op } => f.cancel_if_over_cap(op),
        }
        f.check();
    }
    f.finish();
});
