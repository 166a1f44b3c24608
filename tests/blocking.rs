//! `spawn_blocking`: results, panics, many jobs, and a runtime that keeps running.

mod util;

use std::cell::Cell;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

use proactor::Driver;
use util::block_on;

fn returns_the_result(driver: Driver) {
    block_on(driver, async {
        let h = proactor::spawn_blocking(|| std::thread::current().name().map(str::to_owned));
        let name = h.await.unwrap();
        assert_eq!(
            name.as_deref(),
            Some("proactor-block"),
            "ran on a pool thread"
        );
        let v = proactor::task::spawn_blocking(|| vec![1u8; 1000])
            .await
            .unwrap();
        assert_eq!(v.len(), 1000);
    });
}

fn panic_becomes_join_error(driver: Driver) {
    block_on(driver, async {
        let err = proactor::spawn_blocking(|| -> u32 { panic!("boom in the pool") })
            .await
            .unwrap_err();
        assert!(err.is_panic(), "{err:?}");
        assert!(err.to_string().contains("boom in the pool"), "{err}");
        // The pool survives a panicking job.
        assert_eq!(proactor::spawn_blocking(|| 7).await.unwrap(), 7);
    });
}

fn a_thousand_jobs(driver: Driver) {
    block_on(driver, async {
        let handles: Vec<_> = (0..1000u64)
            .map(|i| proactor::spawn_blocking(move || i * i))
            .collect();
        let mut sum = 0;
        for h in handles {
            sum += h.await.unwrap();
        }
        assert_eq!(sum, (0..1000u64).map(|i| i * i).sum::<u64>());
    });
}

fn runtime_keeps_running_while_jobs_block(driver: Driver) {
    block_on(driver, async {
        // The jobs block until the runtime's own task has made progress: if a job ran on
        // the runtime's thread, or the runtime waited on the jobs, this would never end
        // (the receive times out, and the test fails instead of hanging).
        let (tx, rx) = mpsc::channel::<()>();
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        let jobs: Vec<_> = (0..4)
            .map(|_| {
                let rx = rx.clone();
                proactor::spawn_blocking(move || {
                    rx.lock()
                        .unwrap()
                        .recv_timeout(Duration::from_secs(20))
                        .is_ok()
                })
            })
            .collect();
        let ticks = Rc::new(Cell::new(0));
        let ticker = {
            let ticks = ticks.clone();
            proactor::spawn(async move {
                for _ in 0..5 {
                    proactor::time::sleep(Duration::from_millis(2)).await;
                    ticks.set(ticks.get() + 1);
                }
                for _ in 0..4 {
                    tx.send(()).unwrap();
                }
            })
        };
        for job in jobs {
            assert!(
                job.await.unwrap(),
                "a blocking job never heard from the runtime"
            );
        }
        ticker.await.unwrap();
        assert_eq!(ticks.get(), 5);
    });
}

fn aborted_handle_stops_waiting(driver: Driver) {
    block_on(driver, async {
        let (tx, rx) = mpsc::channel::<()>();
        let h = proactor::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(20)));
        h.abort();
        assert!(h.await.unwrap_err().is_cancelled());
        drop(tx); // lets the job end
    });
}

on_each_driver!(
    returns_the_result,
    panic_becomes_join_error,
    a_thousand_jobs,
    runtime_keeps_running_while_jobs_block,
    aborted_handle_stops_waiting,
);

/// Two jobs submitted back to back while one pool thread is idle both get a thread: the
/// first waits for the second, which must not be queued behind it.
#[test]
fn back_to_back_jobs_do_not_wait_behind_each_other() {
    util::block_on(proactor::Driver::Auto, async {
        // Leave a thread idle in the pool (give it time to get back to waiting).
        proactor::spawn_blocking(|| ()).await.unwrap();
        proactor::time::sleep(std::time::Duration::from_millis(50)).await;
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let first = proactor::spawn_blocking(move || {
            rx.recv_timeout(std::time::Duration::from_secs(10)).is_ok()
        });
        let second = proactor::spawn_blocking(move || tx.send(()).unwrap());
        assert!(
            first.await.unwrap(),
            "the second job never ran beside the first"
        );
        second.await.unwrap();
    });
}
