//! Tests of what both backends share, run on each: the handle's deferred drops, the park's
//! timeout and its cross-thread wake-up, the histogram of completions per enter, and (with
//! the `tracing` feature) the events of the driver's choice.

use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::testing::{pipe, write_to, Nop, Read, Rig};
use super::{Driver, Stats};
use crate::sys;

fn each_driver(test: impl Fn(Driver)) {
    test(Driver::Uring);
    test(Driver::Epoll);
}

/// An op whose future is dropped while the driver is borrowed (user code running inside it:
/// a waker's `wake`, an `IoBuf` method) is parked at the next turn: its buffer is kept until
/// its completion, and nothing stays in flight after it.
#[test]
fn an_op_dropped_while_the_driver_is_busy_is_parked_at_the_next_turn() {
    each_driver(|driver| {
        let rig = Rig::new(driver);
        let (reader, writer) = pipe();
        let read = Read::new(&reader, 8);
        let witness = read.witness.clone();
        let started = rig.start(read);
        assert_eq!(rig.stats().ops_in_flight, 1, "{driver:?}");
        rig.engine(|_| started.drop_in(&rig));
        assert_eq!(
            Arc::strong_count(&witness),
            2,
            "{driver:?}: freed in the borrow"
        );
        rig.turn();
        write_to(&writer, b"x").unwrap();
        rig.until(|| Arc::strong_count(&witness) == 1);
        rig.until(|| rig.stats().ops_in_flight == 0);
    });
}

#[test]
fn a_park_never_ends_before_its_timeout() {
    each_driver(|driver| {
        let rig = Rig::new(driver);
        for ms in [1, 3] {
            let start = Instant::now();
            rig.park(ms);
            let elapsed = start.elapsed();
            assert!(
                elapsed >= Duration::from_millis(ms),
                "{driver:?}: {elapsed:?}"
            );
        }
    });
}

#[test]
fn a_wake_from_another_thread_ends_a_park() {
    each_driver(|driver| {
        let rig = Rig::new(driver);
        rig.turn(); // arms the wake-up read on io_uring
        let fd = rig.wake.as_raw_fd();
        let waker = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            sys::eventfd_signal(fd);
        });
        let start = Instant::now();
        rig.park(10_000);
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{driver:?}: the wake-up did not end the park"
        );
        waker.join().unwrap();
    });
}

/// Runs one `turn` of the rig's backend and checks what it added to the histogram of
/// completions per enter: nothing when it did not enter the kernel, else one, in the bucket
/// of the completions it reaped (which it gives).
fn counted_turn(rig: &Rig, turn: impl FnOnce(&Rig)) -> Option<usize> {
    let before = rig.stats();
    turn(rig);
    let after = rig.stats();
    let added: Vec<u64> = (after.completions_per_enter.iter())
        .zip(before.completions_per_enter)
        .map(|(a, b)| a - b)
        .collect();
    if after.enters == before.enters {
        assert_eq!(
            added, [0; 7],
            "{:?}: a turn that did not enter",
            after.driver
        );
        return None;
    }
    let reaped = (after.completions - before.completions) as usize;
    let mut expected = [0; 7];
    expected[Stats::completion_bucket(reaped)] = 1;
    assert_eq!(
        added, expected,
        "{:?}: a turn that reaped {reaped}",
        after.driver
    );
    Some(reaped)
}

/// The histogram's sum is the number of turns that entered the kernel, each in the bucket
/// of what it reaped: idle turns, a burst of nops, reads completing together.
#[test]
fn each_turn_that_enters_counts_once_in_the_histogram() {
    each_driver(|driver| {
        let rig = Rig::new(driver);
        let mut entered = 0;
        entered += counted_turn(&rig, Rig::turn).is_some() as u64;
        let mut nops: Vec<_> = (0..10).map(|_| rig.start(Nop)).collect();
        entered += counted_turn(&rig, Rig::turn).is_some() as u64;
        let pipes: Vec<_> = (0..3).map(|_| pipe()).collect();
        let mut reads: Vec<_> = pipes
            .iter()
            .map(|(r, _)| rig.start(Read::new(r, 8)))
            .collect();
        entered += counted_turn(&rig, Rig::turn).is_some() as u64;
        for (_, writer) in &pipes {
            write_to(writer, b"x").unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut most = 0;
        let (mut reads_done, mut nops_done) = (0, 0);
        loop {
            reads_done += reads.iter_mut().filter_map(|r| r.poll(&rig)).count();
            nops_done += nops.iter_mut().filter_map(|n| n.poll(&rig)).count();
            if (reads_done, nops_done) == (3, 10) {
                break;
            }
            assert!(Instant::now() < deadline, "{driver:?}: not within 10 s");
            if let Some(reaped) = counted_turn(&rig, |rig| rig.park(10)) {
                entered += 1;
                most = most.max(reaped);
            }
        }
        assert!(most >= 1, "{driver:?}: a park reaped the reads");
        let stats = rig.stats();
        let sum: u64 = stats.completions_per_enter.iter().sum();
        assert_eq!(
            sum, entered,
            "{driver:?}: {:?}",
            stats.completions_per_enter
        );
        assert!(sum <= stats.enters, "{driver:?}: {stats:?}");
    });
}

/// Io_uring that cannot be set up: under `Auto` a WARN event says epoll takes over, and
/// the INFO event of the choice gives the reason; asked for explicitly, an ERROR event.
#[cfg(feature = "tracing")]
#[test]
fn an_unavailable_io_uring_is_a_fallback_event() {
    use crate::trace::testing::Recorder;
    use tracing::Level;

    use super::{build, Config, DriverKind};

    if std::env::var_os("PROACTOR_DRIVER").is_some() {
        eprintln!("skipped: PROACTOR_DRIVER overrides Driver::Auto");
        return;
    }
    let recorder = Recorder::default();
    let config = |driver| Config {
        driver,
        refuse_uring: true,
        ..Config::default()
    };
    recorder.record(|| {
        let wake = sys::eventfd().unwrap();
        let (handle, reason) = build(&config(Driver::Auto), &wake).unwrap();
        assert_eq!(handle.kind(), DriverKind::Epoll);
        assert!(reason.contains("io_uring unavailable"), "{reason}");
        assert!(build(&config(Driver::Uring), &wake).is_err());
    });
    let fallback = recorder.events(Level::WARN, "falling back to epoll");
    assert_eq!(fallback.len(), 1, "{fallback:?}");
    assert!(fallback[0].contains("err="), "the cause: {fallback:?}");
    let chosen = recorder.events(Level::INFO, "driver chosen");
    assert_eq!(chosen.len(), 1, "{chosen:?}");
    assert!(chosen[0].contains("driver=epoll"), "{chosen:?}");
    assert!(chosen[0].contains("io_uring unavailable"), "{chosen:?}");
    let refused = recorder.events(Level::ERROR, "io_uring requested but unavailable");
    assert_eq!(refused.len(), 1, "{refused:?}");
}
