//! The blocking pool grows for concurrent jobs and its idle threads exit. Its own test
//! binary: the pool is process-wide, and other tests' jobs would keep threads busy.

use std::time::{Duration, Instant};

use proactor::{Driver, JoinSet, Runtime};

/// Threads of this process named by the pool.
fn pool_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .flatten()
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm"))
                .is_ok_and(|c| c.trim() == "proactor-block")
        })
        .count()
}

#[test]
fn pool_grows_then_idle_threads_exit() {
    let rt = Runtime::builder().driver(Driver::Auto).build().unwrap();
    let peak = rt.block_on(async {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        let mut set = JoinSet::new();
        for _ in 0..8 {
            let rx = rx.clone();
            set.spawn(async move {
                proactor::spawn_blocking(move || {
                    // Each job holds its thread until released, so 8 run at once.
                    let _ = rx.lock().unwrap().recv_timeout(Duration::from_secs(10));
                })
                .await
                .unwrap()
            });
        }
        let mut peak = 0;
        let start = Instant::now();
        while peak < 8 && start.elapsed() < Duration::from_secs(10) {
            proactor::time::sleep(Duration::from_millis(5)).await;
            peak = peak.max(pool_threads());
        }
        drop(tx); // release every job
        while set.join_next().await.is_some() {}
        peak
    });
    assert!(
        peak >= 8,
        "8 concurrent jobs should run on 8 threads, saw {peak}"
    );
    // Idle threads exit after the pool's idle timeout (10 s); allow generous slack.
    let start = Instant::now();
    while pool_threads() > 0 && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(pool_threads(), 0, "idle pool threads did not exit");
}
