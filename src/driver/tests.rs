//! Tests of what both backends share, run on each: the handle's deferred drops, the park's
//! timeout and its cross-thread wake-up.

use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::testing::{pipe, write_to, Read, Rig};
use super::Driver;
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
