//! An open whose future is dropped while in flight must not leak the fd its completion
//! carries. A test binary of its own: it counts the process's open fds, which tests
//! running in parallel threads would disturb.

mod util;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use proactor::Driver;

/// Polls the inner future once (submitting its operation), then drops it.
struct PollOnce<F>(Option<Pin<Box<F>>>);

impl<F: Future> Future for PollOnce<F> {
    type Output = bool;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
        let mut fut = self.0.take().expect("polled once");
        Poll::Ready(fut.as_mut().poll(cx).is_ready())
    }
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// The test runs once per driver, in parallel threads of this binary: one at a time, or
/// each would count the other's fds.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn dropped_open_does_not_leak_its_fd(driver: Driver) {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    std::fs::write(&path, b"x").unwrap();
    let rt = util::runtime(driver);
    rt.block_on(async {
        let before = open_fds();
        let mut dropped = 0;
        for _ in 0..200 {
            if !PollOnce(Some(Box::pin(proactor::fs::File::open(&path)))).await {
                dropped += 1;
            }
        }
        // Let every parked open complete.
        for _ in 0..1000 {
            if proactor::runtime::stats().ops_in_flight == 0 {
                break;
            }
            proactor::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        assert_eq!(proactor::runtime::stats().ops_in_flight, 0);
        assert_eq!(open_fds(), before, "{dropped} dropped opens leaked fds");
    });
}

on_each_driver!(dropped_open_does_not_leak_its_fd);
