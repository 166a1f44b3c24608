//! Thread-per-core: every thread runs the entry point on its own runtime; outputs come back
//! in thread order; the first error (or a panic) is propagated after all threads join.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};

use proactor::runtime::{run_per_core, ThreadPerCore};
use proactor::{Builder, Driver};

#[test]
fn each_thread_runs_its_own_runtime() {
    let ran = AtomicUsize::new(0);
    let out = ThreadPerCore::new(3)
        .builder(Builder::new().driver(Driver::Uring).clone())
        .run(|i| {
            let ran = &ran;
            async move {
                proactor::nop().await?;
                let name = std::thread::current().name().map(str::to_owned);
                assert_eq!(name.as_deref(), Some(format!("proactor-{i}").as_str()));
                assert_eq!(
                    proactor::runtime::current_driver(),
                    Some(proactor::DriverKind::Uring)
                );
                ran.fetch_add(1, Ordering::SeqCst);
                Ok(i)
            }
        })
        .unwrap();
    assert_eq!(out, vec![0, 1, 2]);
    assert_eq!(ran.load(Ordering::SeqCst), 3);
}

#[test]
fn pinned_threads_run() {
    let cpus = std::thread::available_parallelism().unwrap().get();
    let out = ThreadPerCore::new(cpus + 1)
        .pin(true)
        .run(|i| async move { Ok(i) })
        .unwrap();
    assert_eq!(out.len(), cpus + 1);
}

#[test]
fn first_error_is_propagated_after_all_join() {
    let finished = AtomicUsize::new(0);
    let err = run_per_core(3, |i| {
        let finished = &finished;
        async move {
            if i == 1 {
                return Err(io::Error::new(io::ErrorKind::AddrInUse, "thread 1 failed"));
            }
            proactor::time::sleep(std::time::Duration::from_millis(20)).await;
            finished.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    })
    .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    assert_eq!(
        finished.load(Ordering::SeqCst),
        2,
        "the other threads ran to the end"
    );
}

#[test]
fn panic_becomes_an_error() {
    let err = run_per_core(2, |i| async move {
        if i == 0 {
            panic!("boom in thread zero");
        }
        Ok(())
    })
    .unwrap_err();
    assert!(err.to_string().contains("boom in thread zero"), "{err}");
}

#[test]
fn unavailable_driver_is_reported() {
    let err = ThreadPerCore::new(2)
        .builder(Builder::new().driver(Driver::Epoll).clone())
        .run(|_| async { Ok(()) });
    // The epoll driver may or may not be built in; when it is not, the error says so.
    if let Err(e) = err {
        assert_eq!(e.kind(), io::ErrorKind::Unsupported, "{e}");
    }
}

#[test]
fn zero_means_one_per_cpu() {
    let cpus = std::thread::available_parallelism().unwrap().get();
    assert_eq!(ThreadPerCore::new(0).threads(), cpus);
}
