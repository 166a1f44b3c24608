//! Tests of the io_uring backend, driven by hand through a [`Rig`] (no runtime): a dropped
//! op's buffer outlives it until the completion, the drain frees what never completes, a
//! full submission queue is flushed, notifications complete zero-copy sends, and the
//! registered file table's state machine.

use std::collections::HashMap;
use std::os::fd::RawFd;
use std::sync::Arc;

use super::enter::hold_for_notif;
use super::FixedFiles;
use crate::driver::testing::{pipe, write_to, Nop, Read, Rig};
use crate::driver::{Config, Driver};

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
