//! `runtime::Handle`: spawning onto a runtime from other threads, and what a handle does
//! once its runtime is gone.

mod util;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use proactor::runtime::Handle;
use proactor::Driver;
use util::{block_on, runtime, wait};

/// Sets its flag when dropped.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn spawn_from_another_thread_runs_on_the_runtime(driver: Driver) {
    let got = block_on(driver, async {
        let handle = Handle::current();
        let runtime_thread = std::thread::current().id();
        let other = std::thread::spawn(move || {
            let task = handle.spawn_pinned(move || async move {
                // Runs on the runtime's thread, with its driver.
                proactor::nop().await.unwrap();
                proactor::time::sleep(Duration::from_millis(1)).await;
                std::thread::current().id() == runtime_thread
            });
            // The JoinHandle is awaited on this plain thread.
            wait(task).unwrap()
        });
        // The runtime parks meanwhile: the remote spawn has to wake it.
        proactor::spawn_blocking(move || other.join().unwrap())
            .await
            .unwrap()
    });
    assert!(got, "the task ran on the runtime's thread");
}

fn many_threads_spawn_at_once(driver: Driver) {
    let rt = runtime(driver);
    let handle = rt.handle();
    let sum = rt.block_on(async move {
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let handle = handle.clone();
                std::thread::spawn(move || {
                    let tasks: Vec<_> = (0..100u64)
                        .map(|i| handle.spawn(async move { t * 100 + i }))
                        .collect();
                    tasks.into_iter().map(|h| wait(h).unwrap()).sum::<u64>()
                })
            })
            .collect();
        let mut sum = 0;
        for t in threads {
            sum += proactor::spawn_blocking(move || t.join().unwrap())
                .await
                .unwrap();
        }
        sum
    });
    assert_eq!(sum, (0..400).sum::<u64>());
    assert_eq!(rt.stats().tasks_alive, 0);
}

fn spawn_from_the_runtime_thread_is_a_local_spawn(driver: Driver) {
    block_on(driver, async {
        let handle = Handle::current();
        assert_eq!(handle.spawn(async { 3 }).await.unwrap(), 3);
    });
}

fn tasks_spawned_before_block_on_run_in_it(driver: Driver) {
    let rt = runtime(driver);
    let handle = rt.handle();
    let task = std::thread::spawn(move || handle.spawn(async { 5 }))
        .join()
        .unwrap();
    assert_eq!(rt.block_on(task).unwrap(), 5);
}

fn spawn_blocking_from_another_thread(driver: Driver) {
    let rt = runtime(driver);
    let handle = rt.handle();
    let job = std::thread::spawn(move || handle.spawn_blocking(|| std::thread::current().id()))
        .join()
        .unwrap();
    let pool_thread = rt.block_on(job).unwrap();
    assert_ne!(pool_thread, std::thread::current().id());
}

fn abort_a_remote_task_from_its_thread(driver: Driver) {
    let rt = runtime(driver);
    let handle = rt.handle();
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = DropFlag(dropped.clone());
    let (tx, rx) = mpsc::channel();
    let other = std::thread::spawn(move || {
        let task = handle.spawn_pinned(move || async move {
            let _flag = flag;
            proactor::time::sleep(Duration::from_secs(3600)).await;
        });
        rx.recv().unwrap(); // the runtime has polled it once
        task.abort();
        wait(task)
    });
    rt.block_on(async {
        util::until(|| rt.stats().tasks_alive == 1).await;
        tx.send(()).unwrap();
        let res = proactor::spawn_blocking(move || other.join().unwrap())
            .await
            .unwrap();
        assert!(res.unwrap_err().is_cancelled());
    });
    assert!(
        dropped.load(Ordering::SeqCst),
        "the aborted future was dropped"
    );
}

fn shutdown_cancels_remote_tasks(driver: Driver) {
    let rt = runtime(driver);
    let handle = rt.handle();
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = DropFlag(dropped.clone());
    let task = std::thread::spawn(move || {
        handle.spawn_pinned(move || async move {
            let _flag = flag;
            proactor::time::sleep(Duration::from_secs(3600)).await;
        })
    })
    .join()
    .unwrap();
    rt.block_on(async { util::until(|| proactor::runtime::stats().tasks_alive == 1).await });
    drop(rt);
    assert!(
        dropped.load(Ordering::SeqCst),
        "shutdown dropped the remote task"
    );
    assert!(wait(task).unwrap_err().is_cancelled());
}

fn task_queued_when_the_runtime_drops_is_cancelled(driver: Driver) {
    let rt = runtime(driver);
    let handle = rt.handle();
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = DropFlag(dropped.clone());
    let task = handle.spawn(async move {
        let _flag = flag;
    });
    drop(rt); // never ran a block_on
    assert!(dropped.load(Ordering::SeqCst));
    assert!(wait(task).unwrap_err().is_cancelled());
}

fn a_handle_outliving_its_runtime_gives_cancelled(driver: Driver) {
    let handle = runtime(driver).handle();
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = DropFlag(dropped.clone());
    let task = handle.spawn(async move {
        let _flag = flag;
        1
    });
    assert!(dropped.load(Ordering::SeqCst), "dropped unrun, at once");
    assert!(wait(task).unwrap_err().is_cancelled());
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    let job = handle.spawn_blocking(move || r.store(true, Ordering::SeqCst));
    assert!(wait(job).unwrap_err().is_cancelled());
    assert!(
        !ran.load(Ordering::SeqCst),
        "a blocking job of a gone runtime is not run"
    );
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    let task = handle.spawn_pinned(move || async move { r.store(true, Ordering::SeqCst) });
    assert!(wait(task).unwrap_err().is_cancelled());
    assert!(
        !ran.load(Ordering::SeqCst),
        "the closure of a gone runtime is not called"
    );
    assert!(format!("{handle:?}").contains("closed: true"));
}

fn current_outside_a_runtime_is_a_clear_error(_driver: Driver) {
    let err = Handle::try_current().unwrap_err();
    assert!(err.to_string().contains("no proactor runtime"), "{err}");
    let panic = std::panic::catch_unwind(Handle::current).unwrap_err();
    let msg = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("Runtime::handle()"), "{msg}");
}

on_each_driver!(
    spawn_from_another_thread_runs_on_the_runtime,
    many_threads_spawn_at_once,
    spawn_from_the_runtime_thread_is_a_local_spawn,
    tasks_spawned_before_block_on_run_in_it,
    spawn_blocking_from_another_thread,
    abort_a_remote_task_from_its_thread,
    shutdown_cancels_remote_tasks,
    task_queued_when_the_runtime_drops_is_cancelled,
    a_handle_outliving_its_runtime_gives_cancelled,
    current_outside_a_runtime_is_a_clear_error,
);
