//! Tests of the io_uring backend, driven by hand through a [`Rig`] (no runtime): a dropped
//! op's buffer outlives it until the completion, the drain frees what never completes, a
//! full submission queue is flushed, notifications complete zero-copy sends, and the
//! registered file table's state machine.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::task::Context;
use std::time::{Duration, Instant};

use super::enter::hold_for_notif;
use super::FixedFiles;
use crate::driver::testing::{pipe, write_to, FileLikeRead, Nop, Read, Rig};
use crate::driver::{
    Completion, Config, Driver, Engine, Mode, MultiPolicy, OpCode, OpKind, OpState, ReadyOp, Ring,
    UringOp,
};

#[test]
fn dropped_read_keeps_its_buffer_until_completion() {
    let rig = Rig::new(Driver::Uring);
    let (reader, writer) = pipe();
    let read = Read::new(&reader, 8);
    let witness = read.witness.clone();
    let started = rig.start(read);
    started.drop_in(&rig);
    // The cancel races the read; either way the buffer is held until a completion.
    assert_eq!(
        Arc::strong_count(&witness),
        2,
        "kernel-owned buffer was freed"
    );
    write_to(&writer, b"x").unwrap();
    rig.until(|| Arc::strong_count(&witness) == 1);
    assert_eq!(rig.stats().ops_in_flight, 0);
}

/// Whether no link timeout is in flight, and how many fired.
fn links(rig: &Rig) -> (bool, u64) {
    let fired = rig.stats().ops.get(OpKind::LinkTimeout).completed;
    rig.engine(|e| {
        (
            e.as_uring_mut().expect("an io_uring rig").links.is_empty(),
            fired,
        )
    })
}

#[test]
fn linked_timeout_cancels_an_idle_read() {
    let rig = Rig::new(Driver::Uring);
    let (reader, _writer) = pipe();
    let read = Read::new(&reader, 8);
    let witness = read.witness.clone();
    let mut started = rig.start_timed(read, Duration::from_millis(20));
    assert_eq!(links(&rig), (false, 0), "the timeout waits with the read");
    let err = rig.finish(&mut started).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    assert_eq!(
        Arc::strong_count(&witness),
        1,
        "the op is done with its buffer"
    );
    assert_eq!(links(&rig), (true, 1));
    assert_eq!(rig.stats().ops_in_flight, 0);
}

#[test]
fn op_done_first_cancels_its_linked_timeout() {
    let rig = Rig::new(Driver::Uring);
    let (reader, writer) = pipe();
    let mut started = rig.start_timed(Read::new(&reader, 8), Duration::from_secs(60));
    write_to(&writer, b"x").unwrap();
    assert_eq!(rig.finish(&mut started).unwrap(), b"x");
    rig.until(|| links(&rig).0);
    assert_eq!(links(&rig), (true, 0), "it never fired");
}

#[test]
fn dropped_timed_read_frees_its_timeout_and_buffer() {
    let rig = Rig::new(Driver::Uring);
    let (reader, _writer) = pipe();
    let read = Read::new(&reader, 8);
    let witness = read.witness.clone();
    let started = rig.start_timed(read, Duration::from_secs(60));
    started.drop_in(&rig);
    rig.until(|| Arc::strong_count(&witness) == 1 && links(&rig).0);
    assert_eq!(rig.stats().ops_in_flight, 0);
}

#[test]
fn shutdown_drains_a_read_that_never_completes() {
    let rig = Rig::new(Driver::Uring);
    let (reader, _writer) = pipe();
    let read = Read::new(&reader, 8);
    let witness = read.witness.clone();
    let started = rig.start(read);
    rig.turn();
    assert_eq!(rig.stats().ops_in_flight, 1);
    started.drop_in(&rig);
    assert_eq!(Arc::strong_count(&witness), 2);
    rig.handle
        .shutdown(std::time::Instant::now() + std::time::Duration::from_secs(30));
    assert_eq!(
        Arc::strong_count(&witness),
        1,
        "shutdown must cancel and free"
    );
    assert_eq!(rig.stats().ops_in_flight, 0);
}

#[test]
fn full_submission_queue_is_flushed_not_fatal() {
    let rig = Rig::with(Config {
        driver: Driver::Uring,
        entries: 4,
        ..Config::default()
    });
    let mut ops: Vec<_> = (0..100).map(|_| rig.start(Nop)).collect();
    for op in &mut ops {
        rig.finish(op).unwrap();
    }
    assert!(rig.stats().submissions >= 100);
}

#[test]
fn notifying_op_completes_on_its_notification_only() {
    const MORE: u32 = 1 << 1; // IORING_CQE_F_MORE
    const NOTIF: u32 = 1 << 3; // IORING_CQE_F_NOTIF
    let mut held = HashMap::new();
    assert_eq!(
        hold_for_notif(&mut held, 5, 100, 0),
        Some((100, 0)),
        "not notifying"
    );
    held.insert(7, None);
    assert_eq!(
        hold_for_notif(&mut held, 5, 1, 0),
        Some((1, 0)),
        "another op"
    );
    assert_eq!(
        hold_for_notif(&mut held, 7, 4096, MORE),
        None,
        "result held"
    );
    assert_eq!(
        hold_for_notif(&mut held, 7, 0, NOTIF),
        Some((4096, NOTIF)),
        "delivered as the op's last completion: no F_MORE"
    );
    assert!(held.is_empty());
    held.insert(8, None);
    assert_eq!(
        hold_for_notif(&mut held, 8, -32, 0),
        Some((-32, 0)),
        "error: one CQE"
    );
    assert!(held.is_empty());
}

// The registered file table's state machine.

fn table(len: u32) -> FixedFiles {
    FixedFiles::new(-1, len)
}

fn slot_of(r: Option<(u32, *const RawFd)>) -> u32 {
    r.expect("a free slot").0
}

fn to_clear(t: &FixedFiles) -> Vec<u32> {
    std::iter::from_fn(|| t.pop_to_clear()).collect()
}

#[test]
fn a_slot_is_named_only_between_install_and_release() {
    let t = table(2);
    t.set_driving(true);
    let s = slot_of(t.alloc(7));
    assert!(!t.is_ready(s), "not before the install completed");
    t.installed(s, 0);
    assert!(to_clear(&t).is_empty());
    assert!(t.is_ready(s));
    t.release(s);
    assert!(!t.is_ready(s));
    assert_eq!(to_clear(&t), [s]);
    assert_eq!(t.in_use(), 1, "held until the close completes");
    t.cleared(s, 0);
    assert_eq!(t.in_use(), 0);
}

#[test]
fn an_owner_gone_during_install_gets_its_slot_emptied() {
    let t = table(1);
    let s = slot_of(t.alloc(7));
    t.release(s);
    assert!(t.alloc(8).is_none(), "not reused before it is emptied");
    t.installed(s, 0);
    assert_eq!(
        to_clear(&t),
        [s],
        "installed after the owner left: empty it"
    );
    assert!(t.alloc(8).is_none());
    t.cleared(s, 0);
    assert!(t.alloc(8).is_some());
}

#[test]
fn a_refused_install_is_never_named_and_freed_with_its_owner() {
    let t = table(1);
    let s = slot_of(t.alloc(7));
    t.installed(s, -libc::EBADF);
    assert!(to_clear(&t).is_empty());
    assert!(!t.is_ready(s));
    t.release(s);
    assert_eq!(t.in_use(), 0);
    assert!(t.alloc(8).is_some());
}

#[test]
fn a_full_table_hands_out_nothing_and_a_closed_one_ignores_releases() {
    let t = table(1);
    let s = slot_of(t.alloc(7));
    assert!(t.alloc(8).is_none());
    t.installed(s, 0);
    t.close();
    assert!(!t.is_ready(s), "the ring is gone");
    t.release(s); // the ring is gone: no synchronous update on a stale fd
    assert!(t.alloc(9).is_none());
}

/// A slot the kernel never heard of (taken, nothing submitted): its cancel finds nothing
/// and no completion ever comes, like an op the kernel cannot cancel.
fn orphan_slot(rig: &Rig) -> u64 {
    let (_, waker) = crate::driver::testing::counter();
    rig.engine(|e| match e {
        Engine::Uring(u) => u.inflight.insert(&waker),
        Engine::Epoll(_) => unreachable!(),
    })
}

/// The drain at shutdown cancels each op once, then waits: an op that never completes costs
/// a few enters until the limit, not a spin of cancels whose own completions end every wait.
#[test]
fn the_drain_cancels_each_op_once_then_waits() {
    let rig = Rig::new(Driver::Uring);
    let token = orphan_slot(&rig);
    rig.handle.drop_op(OpState::Pending(token), Nop);
    let before = rig.stats().enters;
    let start = Instant::now();
    rig.handle.shutdown(start + Duration::from_millis(300));
    assert!(
        start.elapsed() >= Duration::from_millis(300),
        "gave up before the limit"
    );
    let enters = rig.stats().enters - before;
    assert!(
        enters <= 10,
        "the drain entered the kernel {enters} times in 300 ms"
    );
}

/// An op whose SQE cannot be built (its `sqe()` panics, user code: an `IoBuf` method) leaves
/// no slot behind, multishot or not: the SQE is built before a slot is taken.
#[test]
fn a_panic_building_an_sqe_leaves_no_slot() {
    struct Panics;
    impl OpCode for Panics {
        type Output = ();
        const KIND: OpKind = OpKind::Other;
        fn complete(self, _: Completion) {}
    }
    // SAFETY: never builds an SQE.
    unsafe impl UringOp for Panics {
        fn sqe(&mut self, _ring: &Ring<'_>) -> io::Result<io_uring::squeue::Entry> {
            panic!("an IoBuf method panicked")
        }
    }
    impl ReadyOp for Panics {
        fn mode(&self) -> Mode<'_> {
            Mode::Immediate
        }
        fn syscall(&mut self) -> io::Result<u32> {
            Ok(0)
        }
    }
    let rig = Rig::new(Driver::Uring);
    let (_, waker) = crate::driver::testing::counter();
    let mut cx = Context::from_waker(&waker);
    for multi in [false, true] {
        let mut state = OpState::Idle;
        let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match multi {
            false => drop(rig.handle.poll_op(&mut state, &mut Panics, &mut cx)),
            true => {
                let policy = MultiPolicy::default();
                drop(
                    rig.handle
                        .poll_multi(&mut state, &mut Panics, &policy, &mut cx),
                )
            }
        }));
        assert!(res.is_err());
        assert_eq!(state, OpState::Idle);
        assert_eq!(
            rig.stats().ops_in_flight,
            0,
            "multishot {multi}: a slot was left"
        );
    }
}

/// Completions the kernel dropped (EBADR, injected: the kernel cannot be made to run out of
/// memory for overflow entries here) fail the ops in flight with a clear error instead of
/// leaving their slots for ever: the op whose completion was lost (its probe finds nothing)
/// and the op still running (its probe cancels it). Nothing stays in flight, the error is
/// counted, and the ring goes on working.
#[test]
fn dropped_completions_fail_the_ops_in_flight() {
    let rig = Rig::new(Driver::Uring);
    let (a, a_writer) = pipe();
    let (b, _b_writer) = pipe();
    let mut lost_one = rig.start(Read::new(&a, 8));
    let mut running = rig.start(Read::new(&b, 8));
    rig.turn();
    let OpState::Pending(token) = lost_one.state else {
        panic!("not submitted")
    };
    rig.engine(|e| match e {
        Engine::Uring(u) => u.faults.drop = Some(token),
        Engine::Epoll(_) => unreachable!(),
    });
    write_to(&a_writer, b"x").unwrap();
    rig.until(|| rig.engine(|e| matches!(e, Engine::Uring(u) if u.faults.drop.is_none())));
    rig.engine(|e| match e {
        Engine::Uring(u) => u.faults.ebadr = true,
        Engine::Epoll(_) => unreachable!(),
    });
    for op in [&mut lost_one, &mut running] {
        let err = rig.finish(op).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::OutOfMemory, "{err}");
    }
    assert_eq!(rig.stats().ops_in_flight, 0);
    assert_eq!(rig.stats().lost_completions, 1);
    rig.run(Nop).unwrap();
}

/// Drops the next completion of `token` the way the kernel does when short of memory, and
/// waits until it is gone.
fn drop_completion_of(rig: &Rig, token: u64, then: impl FnOnce()) {
    rig.engine(|e| match e {
        Engine::Uring(u) => u.faults.drop = Some(token),
        Engine::Epoll(_) => unreachable!(),
    });
    then();
    rig.until(|| rig.engine(|e| matches!(e, Engine::Uring(u) if u.faults.drop.is_none())));
}

/// The next enter reports `EBADR` (completions dropped).
fn report_ebadr(rig: &Rig) {
    rig.engine(|e| match e {
        Engine::Uring(u) => u.faults.ebadr = true,
        Engine::Epoll(_) => unreachable!(),
    });
}

/// After dropped completions, a probe that finds nothing proves nothing of an op a cancel
/// may not see (file I/O: a read waiting on a page lock, in the block layer): the op keeps
/// its slot, and its buffer stays with the kernel's op, never freed or handed back; the
/// drain at shutdown leaks it.
#[test]
fn a_probe_that_finds_nothing_frees_nothing_of_file_io() {
    let rig = Rig::new(Driver::Uring);
    let (a, a_writer) = pipe();
    let read = FileLikeRead(Read::new(&a, 8));
    let witness = read.0.witness.clone();
    let mut op = rig.start(read);
    rig.turn();
    let OpState::Pending(token) = op.state else {
        panic!("not submitted")
    };
    drop_completion_of(&rig, token, || {
        write_to(&a_writer, b"x").unwrap();
    });
    report_ebadr(&rig);
    rig.until(|| rig.engine(|e| matches!(e, Engine::Uring(u) if u.probes.is_empty())));
    for _ in 0..3 {
        rig.turn();
        assert!(op.poll(&rig).is_none(), "completed on a probe's word");
    }
    assert_eq!(rig.stats().ops_in_flight, 1);
    op.drop_in(&rig);
    rig.turn();
    assert_eq!(Arc::strong_count(&witness), 2, "freed on a probe's word");
    rig.handle.shutdown(Instant::now()); // gives up on it: leaked, never freed
    assert_eq!(Arc::strong_count(&witness), 2);
}

/// An op suspect after dropped completions whose own completion then arrives gets it as
/// the kernel posted it: a single-shot op's only completion proves nothing of it was lost,
/// and what it carries (the bytes read, an accepted fd) must reach its owner.
#[test]
fn a_suspect_op_gets_its_own_completion() {
    let rig = Rig::new(Driver::Uring);
    let (a, a_writer) = pipe();
    let mut op = rig.start(Read::new(&a, 8));
    rig.turn();
    write_to(&a_writer, b"x").unwrap();
    // The next enter (there is one: a nop waits to be submitted) reports EBADR, before the
    // read's completion is reaped.
    let mut nop = rig.start(Nop);
    report_ebadr(&rig);
    assert_eq!(rig.finish(&mut op).unwrap(), b"x");
    rig.finish(&mut nop).unwrap();
    rig.until(|| rig.engine(|e| matches!(e, Engine::Uring(u) if u.probes.is_empty())));
    assert_eq!(rig.stats().ops_in_flight, 0);
    assert_eq!(rig.stats().lost_completions, 1);
}

/// A dropped completion of the driver's wake-up read is found by its probe: the read is
/// armed again, so a wake from another thread still ends a park.
#[test]
fn a_lost_wake_read_is_armed_again() {
    let rig = Rig::new(Driver::Uring);
    rig.turn(); // arms the wake-up read
    let arms = |rig: &Rig| {
        rig.engine(|e| match e {
            Engine::Uring(u) => (u.wake_armed, u.wake_arms),
            Engine::Epoll(_) => unreachable!(),
        })
    };
    let (armed, before) = arms(&rig);
    assert!(armed);
    let wake = rig.wake.as_raw_fd();
    drop_completion_of(&rig, super::WAKE, || crate::sys::eventfd_signal(wake));
    report_ebadr(&rig);
    rig.until(|| arms(&rig).1 > before);
    assert!(arms(&rig).0, "not armed again");
    // A wake now ends a long park.
    crate::sys::eventfd_signal(wake);
    let start = Instant::now();
    rig.park(10_000);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "the wake was lost"
    );
}

/// With the `tracing` feature, completions the kernel dropped are an ERROR event (injected
/// `EBADR`, as above), with the number of ops in flight.
#[cfg(feature = "tracing")]
#[test]
fn dropped_completions_are_an_error_event() {
    use crate::trace::testing::Recorder;

    let recorder = Recorder::default();
    recorder.record(|| {
        let rig = Rig::new(Driver::Uring);
        let (reader, _writer) = pipe();
        let mut running = rig.start(Read::new(&reader, 8));
        rig.turn();
        report_ebadr(&rig);
        let err = rig.finish(&mut running).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::OutOfMemory, "{err}");
    });
    let lost = recorder.events(tracing::Level::ERROR, "dropped io_uring completions");
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert!(lost[0].contains("in_flight=1"), "{lost:?}");
}

/// A burst of completions larger than a tiny completion queue (8 entries) loses none: the
/// kernel keeps the overflow (`IORING_FEAT_NODROP`) and the turn flushes it.
#[test]
fn a_full_completion_queue_loses_no_completion() {
    let rig = Rig::with(Config {
        driver: Driver::Uring,
        entries: 2,
        ..Config::default()
    });
    let mut ops: Vec<_> = (0..200).map(|_| rig.start(Nop)).collect();
    for op in &mut ops {
        rig.finish(op).unwrap();
    }
    let flushes = rig.engine(|e| match e {
        Engine::Uring(u) => u.overflow_flushes,
        Engine::Epoll(_) => unreachable!(),
    });
    assert!(
        flushes > 0,
        "the burst never overflowed the queue: nothing was tested"
    );
    assert_eq!(rig.stats().lost_completions, 0);
    assert_eq!(rig.stats().ops_in_flight, 0);
}

/// A NOP that counts as a file read or write ([`UringOp::FILE_IO`]).
struct FileNop;

impl OpCode for FileNop {
    type Output = io::Result<()>;
    const KIND: OpKind = OpKind::Other;
    fn complete(self, completion: Completion) -> io::Result<()> {
        completion.result.map(drop)
    }
}

// SAFETY: a NOP SQE carries no pointers and no fd.
unsafe impl UringOp for FileNop {
    const FILE_IO: bool = true;
    fn sqe(&mut self, _ring: &Ring<'_>) -> io::Result<io_uring::squeue::Entry> {
        Ok(io_uring::opcode::Nop::new().build())
    }
}

impl ReadyOp for FileNop {
    fn mode(&self) -> Mode<'_> {
        Mode::Immediate
    }
    fn syscall(&mut self) -> io::Result<u32> {
        Ok(0)
    }
}

/// SQEs queued and not yet handed to the kernel.
fn queued(rig: &Rig) -> usize {
    rig.engine(|e| match e {
        Engine::Uring(u) => u.ring.submission().len(),
        Engine::Epoll(_) => unreachable!(),
    })
}

#[test]
fn file_ops_are_submitted_every_file_batch_without_waiting_for_the_turn() {
    let rig = Rig::with(Config {
        driver: Driver::Uring,
        file_batch: 4,
        ..Config::default()
    });
    rig.turn(); // the wake read is armed and submitted
    let mut ops: Vec<_> = (0..3).map(|_| rig.start(FileNop)).collect();
    let mut nops: Vec<_> = (0..5).map(|_| rig.start(Nop)).collect();
    assert_eq!(queued(&rig), 8, "3 file ops and 5 others wait for the turn");
    ops.push(rig.start(FileNop));
    assert_eq!(
        queued(&rig),
        0,
        "the fourth file op submits all that is queued"
    );
    ops.extend((0..3).map(|_| rig.start(FileNop)));
    assert_eq!(queued(&rig), 3, "the count starts again after a submission");
    rig.turn();
    assert_eq!(queued(&rig), 0);
    ops.push(rig.start(FileNop));
    assert_eq!(queued(&rig), 1, "the turn's enter started the count again");
    for op in &mut ops {
        rig.finish(op).unwrap();
    }
    for op in &mut nops {
        rig.finish(op).unwrap();
    }
    assert_eq!(rig.stats().ops_in_flight, 0);
}

#[test]
fn file_batch_zero_submits_file_ops_with_the_turn_only() {
    let rig = Rig::with(Config {
        driver: Driver::Uring,
        file_batch: 0,
        ..Config::default()
    });
    rig.turn();
    let mut ops: Vec<_> = (0..16).map(|_| rig.start(FileNop)).collect();
    assert_eq!(queued(&rig), 16);
    for op in &mut ops {
        rig.finish(op).unwrap();
    }
    assert_eq!(rig.stats().ops_in_flight, 0);
}
