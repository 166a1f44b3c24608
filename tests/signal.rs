//! `proactor::signal`: signals read from a signalfd through the driver, handed to every
//! listener of the process. The tests of this file share the process's signals, so they
//! run one at a time, and send each signal to the whole process, as `kill` does.

mod util;

use std::io::ErrorKind;
use std::sync::mpsc;
use std::time::Duration;

use proactor::signal::unix::{signal, Signal, SignalKind};
use proactor::time::timeout;
use proactor::Driver;
use util::{block_on, serial};

const LIMIT: Duration = Duration::from_secs(10);

/// Sends `signo` to the whole process.
fn kill(signo: i32) {
    // SAFETY: kill takes no pointers.
    assert_eq!(unsafe { libc::kill(libc::getpid(), signo) }, 0);
}

/// The next delivery to `listener`, or a panic after [`LIMIT`].
async fn next(listener: &mut Signal) {
    timeout(LIMIT, listener.recv())
        .await
        .expect("the signal did not arrive")
        .expect("the listener failed");
}

fn a_listener_receives_its_signal(driver: Driver) {
    let _serial = serial();
    block_on(driver, async {
        let mut usr1 = signal(SignalKind::user_defined1()).unwrap();
        assert_eq!(usr1.kind(), SignalKind::user_defined1());
        for _ in 0..3 {
            kill(libc::SIGUSR1);
            next(&mut usr1).await;
        }
    });
}

fn a_signal_sent_before_recv_is_kept(driver: Driver) {
    let _serial = serial();
    block_on(driver, async {
        let mut usr2 = signal(SignalKind::user_defined2()).unwrap();
        kill(libc::SIGUSR2); // no read in flight yet: it waits in the kernel
        proactor::time::sleep(Duration::from_millis(5)).await;
        next(&mut usr2).await;
    });
}

fn every_listener_in_every_thread_gets_it(driver: Driver) {
    let _serial = serial();
    let (ready_tx, ready_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel();
    let other = std::thread::spawn(move || {
        block_on(driver, async move {
            let mut hup = signal(SignalKind::hangup()).unwrap();
            // A read in flight on this thread too, before the signal is sent.
            let waiting = proactor::spawn(async move {
                next(&mut hup).await;
            });
            proactor::task::yield_now().await;
            ready_tx.send(()).unwrap();
            waiting.await.unwrap();
            done_tx.send(()).unwrap();
        })
    });
    block_on(driver, async {
        let mut first = signal(SignalKind::hangup()).unwrap();
        let mut second = signal(SignalKind::hangup()).unwrap();
        let second = proactor::spawn(async move { next(&mut second).await });
        proactor::task::yield_now().await;
        ready_rx.recv_timeout(LIMIT).unwrap();
        kill(libc::SIGHUP); // one signal, three listeners
        next(&mut first).await;
        second.await.unwrap();
    });
    done_rx
        .recv_timeout(LIMIT)
        .expect("the other thread's listener did not get it");
    other.join().unwrap();
}

fn ctrl_c_completes_on_sigint(driver: Driver) {
    let _serial = serial();
    block_on(driver, async {
        // Claimed first, so that the SIGINT cannot end the test process whatever the order.
        let _claim = signal(SignalKind::interrupt()).unwrap();
        let ctrl_c = proactor::spawn(proactor::signal::ctrl_c());
        proactor::task::yield_now().await;
        kill(libc::SIGINT);
        timeout(LIMIT, ctrl_c)
            .await
            .expect("ctrl_c did not complete")
            .unwrap()
            .unwrap();
    });
}

fn a_dropped_listener_lets_the_others_receive(driver: Driver) {
    let _serial = serial();
    block_on(driver, async {
        let mut kept = signal(SignalKind::window_change()).unwrap();
        let mut dropped = signal(SignalKind::window_change()).unwrap();
        // A read of the dropped one is in flight when it goes.
        let _ = timeout(Duration::from_millis(1), dropped.recv()).await;
        drop(dropped);
        kill(libc::SIGWINCH);
        next(&mut kept).await;
    });
}

fn signals_that_cannot_be_listened_to_are_errors(_driver: Driver) {
    for signo in [
        libc::SIGKILL,
        libc::SIGSTOP,
        libc::SIGSEGV,
        libc::SIGBUS,
        libc::SIGFPE,
        libc::SIGILL,
        0,
        -1,
        32,
        1000,
    ] {
        let err = signal(SignalKind::from_raw(signo)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{signo}: {err}");
        assert!(err.to_string().contains(&signo.to_string()), "{err}");
    }
}

on_each_driver!(
    a_listener_receives_its_signal,
    a_signal_sent_before_recv_is_kept,
    every_listener_in_every_thread_gets_it,
    ctrl_c_completes_on_sigint,
    a_dropped_listener_lets_the_others_receive,
    signals_that_cannot_be_listened_to_are_errors,
);
