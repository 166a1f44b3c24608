//! The same protocol, explored exhaustively under sequential consistency: what loom 0.7
//! cannot check (the crate docs), checked exactly.
//!
//! Every access of the protocol is `SeqCst` but one, and a program whose atomics are all
//! `SeqCst` (and which has no data race) behaves as some interleaving of its threads'
//! steps, the order `S` of the language; so the interleavings of these steps are all its
//! executions. The one `Relaxed` load (`run_tasks`'s first look at `has_remote`) may read
//! `false` even after a `true` was stored: here it reads either, whatever the latest is.
//! A mutex's critical section is one step (nothing else touches what it guards), and so
//! is each atomic access; the eventfd write is a step apart from the swap that decided it.
//! The io_uring backend, which may also read the eventfd in a turn that does not block,
//! and the epoll one, which does not, are both covered: such a turn drains it or not.
//!
//! A state where the loop waits on an empty eventfd and every other thread is done is a
//! lost wake-up: [`explore`] returns the steps that lead there.

use std::collections::HashSet;

/// What another thread does, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// `schedule_remote` of a task.
    Push,
    /// Sets the data the `block_on` future waits for (`SeqCst`), then `wake_by_ref`.
    Wake,
}

/// The code as it is, or broken on purpose (the fields of [`crate::Variant`]).
#[derive(Clone, Copy, Debug)]
pub struct Code {
    pub recheck: bool,
    pub clear_first: bool,
    pub push_first: bool,
}

impl Code {
    pub const REAL: Code = Code {
        recheck: true,
        clear_first: true,
        push_first: true,
    };
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
struct Remote {
    /// Index of the action, and step within it.
    action: u8,
    step: u8,
    /// The result of the last `parked.swap`.
    swapped: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
struct State {
    // Shared memory.
    queue: u8,
    has_remote: bool,
    parked: bool,
    woken: bool,
    eventfd: u8,
    data: u8,
    // The loop's program counter and locals.
    pc: u8,
    run_queue: u8,
    ran: u8,
    done: bool,
    remotes: Vec<Remote>,
}

/// The steps of one action: a push is its critical section (push, `has_remote = true`),
/// the swap of `parked`, and the eventfd write; a wake is the data, `woken = true`, the
/// swap, the write. A broken `push_first` unparks before it pushes.
fn action_steps(action: Action) -> u8 {
    match action {
        Action::Push => 3,
        Action::Wake => 4,
    }
}

/// Runs step `step` of `action` for remote `r`.
fn remote_step(s: &mut State, r: usize, action: Action, code: Code) {
    let step = s.remotes[r].step;
    let unpark_at = match action {
        Action::Push if !code.push_first => 0,
        Action::Push => 1,
        Action::Wake => 2,
    };
    if step == unpark_at {
        s.remotes[r].swapped = std::mem::replace(&mut s.parked, false);
    } else if step == unpark_at + 1 {
        if s.remotes[r].swapped {
            s.eventfd = (s.eventfd + 1).min(2);
        }
    } else {
        match (action, step) {
            (Action::Push, _) => {
                s.queue += 1;
                s.has_remote = true;
            }
            (Action::Wake, 0) => s.data += 1,
            (Action::Wake, _) => s.woken = true,
        }
    }
    s.remotes[r].step += 1;
    if s.remotes[r].step == action_steps(action) {
        s.remotes[r].action += 1;
        s.remotes[r].step = 0;
    }
}

// The loop's program counter.
const SWAP_WOKEN: u8 = 0;
const LOOK: u8 = 1;
const CLEAR: u8 = 2;
const TAKE: u8 = 3;
const IDLE: u8 = 4;
const ANNOUNCE: u8 = 5;
const LOOK_REMOTE: u8 = 6;
const LOOK_WOKEN: u8 = 7;
const UNANNOUNCE: u8 = 8;
const NO_PARK: u8 = 9;
const BLOCKED: u8 = 10;
const UNPARK: u8 = 11;

/// The loop's next states from `s` (two where a step may go either way).
fn loop_steps(s: &State, code: Code, want: (u8, u8), out: &mut Vec<State>) {
    let mut n = s.clone();
    match s.pc {
        SWAP_WOKEN => {
            let was = std::mem::replace(&mut n.woken, false);
            // A poll sees every task run and every remote wake's data, or it is pending.
            n.done = was && (n.ran, n.data) == want;
            n.pc = LOOK;
        }
        LOOK => {
            // The Relaxed load: `false` is always a value it may read.
            n.pc = IDLE;
            if s.has_remote {
                let mut m = s.clone();
                m.pc = if code.clear_first { CLEAR } else { TAKE };
                out.push(m);
            }
        }
        CLEAR => {
            n.has_remote = false;
            n.pc = if code.clear_first { TAKE } else { IDLE };
        }
        TAKE => {
            n.run_queue += std::mem::take(&mut n.queue);
            // The tasks run; each wakes the future from inside the runtime.
            if n.run_queue > 0 {
                n.ran += std::mem::take(&mut n.run_queue);
                n.woken = true;
            }
            n.pc = if code.clear_first { IDLE } else { CLEAR };
        }
        IDLE => n.pc = if s.woken { NO_PARK } else { ANNOUNCE },
        ANNOUNCE => {
            n.parked = true;
            n.pc = if code.recheck { LOOK_REMOTE } else { BLOCKED };
        }
        LOOK_REMOTE => n.pc = if s.has_remote { UNANNOUNCE } else { LOOK_WOKEN },
        LOOK_WOKEN => n.pc = if s.woken { UNANNOUNCE } else { BLOCKED },
        UNANNOUNCE => {
            n.parked = false;
            n.pc = NO_PARK;
        }
        NO_PARK => {
            // io_uring may reap the eventfd read here; epoll does not look.
            let mut m = s.clone();
            m.eventfd = 0;
            m.pc = SWAP_WOKEN;
            out.push(m);
            n.pc = SWAP_WOKEN;
        }
        BLOCKED if s.eventfd == 0 => return,
        BLOCKED => {
            n.eventfd = 0;
            n.pc = UNPARK;
        }
        UNPARK => {
            n.parked = false;
            n.pc = SWAP_WOKEN;
        }
        _ => unreachable!("pc {}", s.pc),
    }
    out.push(n);
}

/// Explores every interleaving of the loop with one thread per script. `Ok(states)`: the
/// loop always finishes (the count of states seen); `Err(trace)`: the steps (each
/// `loop` or a remote's number) to a lost wake-up.
pub fn explore(scripts: &[&[Action]], code: Code) -> Result<usize, Vec<String>> {
    let pushes = scripts
        .iter()
        .flat_map(|s| s.iter())
        .filter(|a| **a == Action::Push);
    let wakes = scripts
        .iter()
        .flat_map(|s| s.iter())
        .filter(|a| **a == Action::Wake);
    let want = (pushes.count() as u8, wakes.count() as u8);
    let start = State {
        woken: true, // `MainWaker::woken` starts true: the first poll
        remotes: vec![Remote::default(); scripts.len()],
        ..State::default()
    };
    let mut seen = HashSet::new();
    let mut stack = vec![(start, Vec::<String>::new())];
    let mut next = Vec::new();
    while let Some((s, trace)) = stack.pop() {
        if s.done || !seen.insert(s.clone()) {
            continue;
        }
        let mut moved = false;
        next.clear();
        loop_steps(&s, code, want, &mut next);
        for n in next.drain(..) {
            moved = true;
            let mut t = trace.clone();
            t.push(format!("loop pc {} -> {}", s.pc, n.pc));
            stack.push((n, t));
        }
        for (r, script) in scripts.iter().enumerate() {
            let Some(&action) = script.get(usize::from(s.remotes[r].action)) else {
                continue;
            };
            let mut n = s.clone();
            remote_step(&mut n, r, action, code);
            moved = true;
            let mut t = trace.clone();
            t.push(format!("remote {r}: {action:?} step {}", s.remotes[r].step));
            stack.push((n, t));
        }
        if !moved {
            return Err(trace);
        }
    }
    Ok(seen.len())
}
