//! Tests of the epoll backend's readiness machinery and its offloaded calls, driven by hand
//! through a [`Rig`] (no runtime) on non-blocking socket pairs.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use super::wait::timeout_ms;
use super::{Epoll, FdState, BUDGET};
use crate::driver::testing::{counter, socketpair, write_to, Nop, Read, Rig, Write};
use crate::driver::{
    Blocking, Completion, Driver, Engine, Interest, Mode, OpCode, OpKind, ReadyOp, Ring, UringOp,
};

fn rig() -> Rig {
    Rig::new(Driver::Epoll)
}

/// Runs `f` on the rig's epoll backend.
fn epoll<R>(rig: &Rig, f: impl FnOnce(&mut Epoll) -> R) -> R {
    rig.engine(|e| match e {
        Engine::Epoll(d) => f(d),
        Engine::Uring(_) => panic!("not an epoll backend"),
    })
}

#[test]
fn timed_read_gives_up_its_wait_at_the_deadline() {
    let rig = rig();
    let (a, b) = socketpair();
    let mut read = rig.start_timed(Read::new(&a, 64), Duration::from_millis(20));
    assert_eq!(
        epoll(&rig, |d| d.waiting),
        1,
        "the read waits for readiness"
    );
    let err = rig.finish(&mut read).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    assert_eq!(epoll(&rig, |d| d.waiting), 0, "its waiter is forgotten");
    // Data that came before the deadline was seen goes to the last try, not to a timeout.
    let mut read = rig.start_timed(Read::new(&a, 64), Duration::from_millis(20));
    write_to(&b, b"late").unwrap();
    std::thread::sleep(Duration::from_millis(25));
    assert_eq!(read.poll(&rig).unwrap().unwrap(), b"late");
}

#[test]
fn read_waits_for_readiness_then_retries() {
    let rig = rig();
    let (a, b) = socketpair();
    let mut read = rig.start(Read::new(&a, 64));
    assert_eq!(epoll(&rig, |d| d.waiting), 1, "the read must be waiting");
    rig.turn();
    assert!(read.poll(&rig).is_none(), "no data yet");
    write_to(&b, b"ping").unwrap();
    assert_eq!(rig.finish(&mut read).unwrap(), b"ping");
    assert!(read.wakes() >= 1, "woken by the readiness event");
    let stats = rig.stats();
    assert_eq!(stats.ops_in_flight, 0);
    assert!(stats.submissions >= 2, "attempt and retry: {stats:?}");
    assert!(
        stats.completions >= 1,
        "a readiness event was handled: {stats:?}"
    );
    // One registration per fd, however many ops use it.
    for _ in 0..3 {
        write_to(&b, b"x").unwrap();
        rig.run(Read::new(&a, 8)).unwrap();
    }
    assert_eq!(epoll(&rig, |d| d.fds.len()), 1);
}

#[test]
fn write_waits_for_room_then_completes() {
    let rig = rig();
    let (a, b) = socketpair();
    let chunk = vec![7u8; 64 * 1024];
    while write_to(&a, &chunk).is_ok() {} // fill the socket buffer: EAGAIN
    let mut write = rig.start(Write {
        fd: a.clone(),
        buf: chunk.clone(),
    });
    assert_eq!(
        epoll(&rig, |d| d.waiting),
        1,
        "the writer must wait for room"
    );
    let mut room = vec![0u8; 64 * 1024];
    // SAFETY: `room` is 64 KiB of writable memory for each call.
    while crate::sys::syscall!(read(b.raw(), room.as_mut_ptr().cast(), room.len())).is_ok() {}
    assert!(rig.finish(&mut write).unwrap() > 0);
    assert!(write.wakes() >= 1, "woken by writability");
    assert_eq!(rig.stats().ops_in_flight, 0);
}

#[test]
fn dropping_a_waiting_op_leaves_nothing_in_flight() {
    let rig = rig();
    let (a, _b) = socketpair();
    for _ in 0..3 {
        let read = rig.start(Read::new(&a, 16));
        assert_eq!(rig.stats().ops_in_flight, 1);
        read.drop_in(&rig);
        assert_eq!(rig.stats().ops_in_flight, 0);
        let readers = a.epoll().waiters(Interest::Read).borrow().len();
        assert_eq!(readers, 0, "waker left behind");
    }
}

#[test]
fn closed_fds_free_their_slots() {
    let rig = rig();
    for _ in 0..4 {
        let (a, b) = socketpair();
        rig.start(Read::new(&a, 16)).drop_in(&rig);
        assert_eq!(epoll(&rig, |d| d.fds.len()), 1);
        drop((a, b));
        rig.turn();
        assert_eq!(epoll(&rig, |d| d.fds.len()), 0, "slot of a closed fd kept");
    }
}

#[test]
fn peer_close_wakes_a_waiting_read() {
    let rig = rig();
    let (a, b) = socketpair();
    let mut read = rig.start(Read::new(&a, 16));
    drop(b);
    let got = rig.finish(&mut read).unwrap();
    assert!(got.is_empty(), "EOF after the peer closed");
}

#[test]
fn immediate_ops_run_inline() {
    let rig = rig();
    for _ in 0..10 {
        let mut nop = rig.start(Nop);
        assert!(nop.poll(&rig).is_some(), "completes at its first poll");
    }
    let stats = rig.stats();
    assert_eq!(stats.submissions, 10);
    assert_eq!(stats.ops_in_flight, 0);
}

#[test]
fn ready_ops_yield_once_the_turn_budget_is_spent() {
    let rig = rig();
    let mut done = 0;
    let mut last = loop {
        let mut nop = rig.start(Nop);
        if nop.poll(&rig).is_none() {
            break nop;
        }
        done += 1;
    };
    assert_eq!(
        done, BUDGET,
        "every op completes inline until the budget is spent"
    );
    assert!(
        last.wakes() >= 1,
        "the op that found it spent asks to run again"
    );
    rig.turn();
    assert!(last.poll(&rig).is_some(), "a new turn, a new budget");
}

#[test]
fn millisecond_timeouts_round_up() {
    assert_eq!(timeout_ms(None), -1);
    assert_eq!(timeout_ms(Some(Duration::ZERO)), 0);
    assert_eq!(timeout_ms(Some(Duration::from_nanos(1))), 1);
    assert_eq!(timeout_ms(Some(Duration::from_millis(1))), 1);
    assert_eq!(timeout_ms(Some(Duration::from_micros(1001))), 2);
    assert_eq!(
        timeout_ms(Some(Duration::from_secs(u64::MAX))),
        libc::c_int::MAX
    );
}

#[test]
fn fd_state_wakes_each_direction_once() {
    let state = FdState::default();
    let (count, waker) = counter();
    state.set_waker(Interest::Read, 1, &waker);
    state.set_waker(Interest::Read, 1, &waker);
    state.set_waker(Interest::Write, 2, &waker);
    assert_eq!(
        state.waiters(Interest::Read).borrow().len(),
        1,
        "one entry per waiter"
    );
    state.on_event(libc::EPOLLOUT as u32);
    assert!(state.is_ready(Interest::Write) && !state.is_ready(Interest::Read));
    assert_eq!(count.0.load(std::sync::atomic::Ordering::SeqCst), 1);
    state.on_event(libc::EPOLLRDHUP as u32);
    assert!(state.is_ready(Interest::Read));
    assert_eq!(count.0.load(std::sync::atomic::Ordering::SeqCst), 2);
    assert!(state.waiters(Interest::Read).borrow().is_empty());
    assert!(state.waiters(Interest::Write).borrow().is_empty());
}

#[test]
fn fd_state_waiters_beyond_the_first() {
    use std::sync::atomic::Ordering::SeqCst;
    let state = FdState::default();
    let (c1, w1) = counter();
    let (c2, w2) = counter();
    let (c3, w3) = counter();
    state.set_waker(Interest::Read, 1, &w1);
    state.set_waker(Interest::Read, 2, &w2);
    state.set_waker(Interest::Read, 3, &w3);
    state.remove_waker(Interest::Read, 1); // the one in place
    state.set_waker(Interest::Read, 2, &w3); // replaced in the list
    state.set_waker(Interest::Read, 4, &w1); // in place again
    assert_eq!(state.waiters(Interest::Read).borrow().len(), 3);
    state.on_event(libc::EPOLLIN as u32);
    let counts = [&c1, &c2, &c3].map(|c| c.0.load(SeqCst));
    assert_eq!(
        counts,
        [1, 0, 2],
        "each waiter woken once, by its last waker"
    );
    assert!(state.waiters(Interest::Read).borrow().is_empty());
    state.set_waker(Interest::Read, 5, &w2);
    state.remove_waker(Interest::Read, 5);
    state.on_event(libc::EPOLLIN as u32);
    assert_eq!(c2.0.load(SeqCst), 0, "a removed waiter is not woken");
}

#[test]
fn fd_state_wakes_all_waiters_when_one_panics() {
    use std::sync::atomic::Ordering::SeqCst;
    struct Panics;
    impl std::task::Wake for Panics {
        fn wake(self: Arc<Self>) {
            panic!("boom");
        }
    }
    let state = FdState::default();
    let (c1, w1) = counter();
    let (c3, w3) = counter();
    let bad = std::task::Waker::from(Arc::new(Panics));
    for (id, w) in [(1, &w1), (2, &bad), (3, &w3), (4, &w1)] {
        state.set_waker(Interest::Read, id, w);
    }
    state.remove_waker(Interest::Read, 1); // the last of the list takes its place
    let woke = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        state.on_event(libc::EPOLLIN as u32)
    }));
    assert!(woke.is_err(), "the waker's panic goes on");
    assert_eq!(
        (c1.0.load(SeqCst), c3.0.load(SeqCst)),
        (1, 1),
        "the others woken"
    );
    assert!(state.waiters(Interest::Read).borrow().is_empty());
    state.set_waker(Interest::Read, 5, &w3);
    state.on_event(libc::EPOLLIN as u32);
    assert_eq!(c3.0.load(SeqCst), 2, "waits again after a panic");
}

#[test]
fn stale_tokens_are_ignored() {
    let rig = rig();
    let (a, _b) = socketpair();
    rig.start(Read::new(&a, 8)).drop_in(&rig);
    let old = a.epoll().token().expect("registered");
    drop(a);
    rig.turn();
    let (c, _d) = socketpair();
    rig.start(Read::new(&c, 8)).drop_in(&rig);
    let new = c.epoll().token().expect("registered");
    assert_eq!(old as u32, new as u32, "the slot is reused");
    assert_ne!(old, new, "with a new generation");
    epoll(&rig, |d| {
        d.dispatch(old, libc::EPOLLIN as u32, &mut Vec::new())
    });
    assert!(
        !c.epoll().is_ready(Interest::Read),
        "a stale event reached a new fd"
    );
}

#[test]
fn an_fd_wrapped_again_takes_its_registration_over() {
    let rig = rig();
    let (a, b) = socketpair();
    rig.start(Read::new(&a, 8)).drop_in(&rig);
    // Given away while still in the epoll set, then wrapped in a new handle.
    let a = crate::driver::SharedFd::new(a.try_unwrap().expect("the only handle"));
    rig.turn();
    let mut read = rig.start(Read::new(&a, 8));
    assert_eq!(epoll(&rig, |d| d.waiting), 1);
    write_to(&b, b"again").unwrap();
    assert_eq!(rig.finish(&mut read).unwrap(), b"again");
    rig.turn();
    assert_eq!(epoll(&rig, |d| d.fds.len()), 1, "the old slot was freed");
}

/// An offloaded call: `syscall` would block, so `blocking` runs on the pool; it sleeps
/// `ms`, then gives `7`. Holds a witness, to see who keeps the op alive.
struct Slow {
    ms: u64,
    _witness: Arc<()>,
}

impl OpCode for Slow {
    type Output = io::Result<u32>;
    const KIND: OpKind = OpKind::Other;

    fn complete(self, completion: Completion) -> io::Result<u32> {
        completion.result
    }
}

// SAFETY: a NOP SQE carries no pointers and no fd (the io_uring half is unused here).
unsafe impl UringOp for Slow {
    fn sqe(&mut self, _ring: &Ring<'_>) -> io::Result<io_uring::squeue::Entry> {
        Ok(io_uring::opcode::Nop::new().build())
    }
}

impl ReadyOp for Slow {
    fn mode(&self) -> Mode<'_> {
        Mode::Offload
    }

    fn syscall(&mut self) -> io::Result<u32> {
        Err(io::ErrorKind::WouldBlock.into())
    }

    fn blocking(&mut self) -> Option<Blocking> {
        let ms = self.ms;
        Some(Blocking::new(move || {
            std::thread::sleep(Duration::from_millis(ms));
            Ok(7)
        }))
    }
}

fn slow(ms: u64) -> (Slow, Arc<()>) {
    let witness = Arc::new(());
    let op = Slow {
        ms,
        _witness: witness.clone(),
    };
    (op, witness)
}

#[test]
fn offloaded_calls_run_on_the_pool_and_wake_the_loop() {
    let rig = rig();
    let (op, _) = slow(20);
    let mut started = rig.start(op);
    assert_eq!(rig.stats().ops_in_flight, 1, "running on the pool");
    assert!(started.poll(&rig).is_none());
    // A parked loop is woken by the call's completion, well before the timeout.
    let start = std::time::Instant::now();
    rig.park(5_000);
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "not woken by the pool"
    );
    assert_eq!(rig.finish(&mut started).unwrap(), 7);
    assert!(started.wakes() >= 1);
    assert_eq!(rig.stats().ops_in_flight, 0);
}

#[test]
fn a_dropped_offloaded_call_keeps_its_op_until_it_finished() {
    let rig = rig();
    let (op, witness) = slow(50);
    rig.start(op).drop_in(&rig);
    assert_eq!(Arc::strong_count(&witness), 2, "freed under a running call");
    rig.until(|| Arc::strong_count(&witness) == 1);
    assert_eq!(rig.stats().ops_in_flight, 0);
}

#[test]
fn shutdown_waits_for_running_calls() {
    let rig = rig();
    let (op, witness) = slow(50);
    rig.start(op).drop_in(&rig);
    rig.handle
        .shutdown(std::time::Instant::now() + Duration::from_secs(30));
    assert_eq!(
        Arc::strong_count(&witness),
        1,
        "the drain frees it once the call finished"
    );
}

#[test]
fn shutdown_past_its_deadline_leaks_a_running_call() {
    let rig = rig();
    let (op, witness) = slow(300);
    rig.start(op).drop_in(&rig);
    // The deadline is already past: the drain gives up at once, and the op the call still
    // writes into is leaked, never freed (`[parked-on-drop]`), even when the backend goes.
    rig.handle.shutdown(std::time::Instant::now());
    assert_eq!(Arc::strong_count(&witness), 2, "freed under a running call");
    drop(rig);
    assert_eq!(Arc::strong_count(&witness), 2, "freed under a running call");
}

#[test]
fn an_op_without_a_blocking_call_reports_its_error() {
    struct Never;
    impl OpCode for Never {
        type Output = io::Result<u32>;
        const KIND: OpKind = OpKind::Other;
        fn complete(self, completion: Completion) -> io::Result<u32> {
            completion.result
        }
    }
    // SAFETY: a NOP SQE carries no pointers and no fd.
    unsafe impl UringOp for Never {
        fn sqe(&mut self, _ring: &Ring<'_>) -> io::Result<io_uring::squeue::Entry> {
            Ok(io_uring::opcode::Nop::new().build())
        }
    }
    impl ReadyOp for Never {
        fn mode(&self) -> Mode<'_> {
            Mode::Offload
        }
        fn syscall(&mut self) -> io::Result<u32> {
            Err(io::ErrorKind::WouldBlock.into())
        }
    }
    let rig = rig();
    let mut started = rig.start(Never);
    match started.poll(&rig) {
        Some(Err(e)) => assert_eq!(e.kind(), io::ErrorKind::WouldBlock),
        other => panic!("expected the error, got {other:?}"),
    }
}
