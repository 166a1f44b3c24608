//! Shutting down: `Runtime::shutdown_timeout` cancels tasks and drains operations, and
//! gives up cleanly (leaking, never freeing under the kernel) past its timeout;
//! `JoinSet::try_join_next` and `JoinSet::shutdown`.

mod util;

use std::cell::Cell;
use std::ffi::CString;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream as StdUnixStream;
use std::rc::Rc;
use std::time::Duration;

use proactor::net::UnixStream;
use proactor::task::yield_now;
use proactor::{Driver, JoinSet};
use util::{block_on, runtime};

/// Counts its drops.
struct DropCount(Rc<Cell<usize>>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

/// A runtime whose tasks each wait on a socket read; the peers of those sockets.
fn runtime_with_waiting_reads(
    driver: Driver,
    dropped: &Rc<Cell<usize>>,
) -> (proactor::Runtime, Vec<StdUnixStream>) {
    let rt = runtime(driver);
    let mut peers = Vec::new();
    for _ in 0..8 {
        let (ours, theirs) = StdUnixStream::pair().unwrap();
        peers.push(theirs);
        let flag = DropCount(dropped.clone());
        rt.spawn(async move {
            let _flag = flag;
            let stream = UnixStream::from_std(ours).unwrap();
            let (res, _) = stream.read(vec![0u8; 16]).await;
            res.unwrap();
        });
        rt.spawn({
            let flag = DropCount(dropped.clone());
            async move {
                let _flag = flag;
                proactor::time::sleep(Duration::from_secs(3600)).await;
            }
        });
    }
    rt.block_on(async {
        util::until(|| proactor::runtime::stats().ops_in_flight >= 8 || driver == Driver::Epoll)
            .await;
        yield_now().await;
    });
    (rt, peers)
}

fn shutdown_timeout_cancels_tasks_and_drains_ops(driver: Driver) {
    let dropped = Rc::new(Cell::new(0));
    let (rt, peers) = runtime_with_waiting_reads(driver, &dropped);
    assert_eq!(dropped.get(), 0);
    rt.shutdown_timeout(Duration::from_secs(10));
    assert_eq!(dropped.get(), 16, "every task's future was dropped");
    for mut peer in peers {
        // The reads were cancelled and their sockets closed: the peers see EOF.
        peer.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        assert_eq!(peer.read(&mut [0u8; 1]).unwrap(), 0);
    }
}

fn shutdown_background_cancels_tasks(driver: Driver) {
    let dropped = Rc::new(Cell::new(0));
    let (rt, _peers) = runtime_with_waiting_reads(driver, &dropped);
    rt.shutdown_background();
    assert_eq!(dropped.get(), 16, "every task's future was dropped");
}

/// A FIFO no one writes to: opening it for reading blocks a thread of the epoll backend's
/// pool. (io_uring opens it without waiting: it tries every open non-blocking first.)
fn stuck_fifo() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fifo");
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: `c` is a live NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    (dir, path)
}

fn shutdown_timeout_gives_up_on_a_stuck_op(driver: Driver) {
    let (_dir, path) = stuck_fifo();
    let rt = runtime(driver);
    let p = path.clone();
    let opened = Rc::new(Cell::new(false));
    let o = opened.clone();
    rt.spawn(async move {
        let _file = proactor::fs::File::open(&p).await;
        o.set(true);
        proactor::time::sleep(Duration::from_secs(3600)).await;
    });
    rt.block_on(async {
        util::until(|| proactor::runtime::stats().ops_in_flight == 1 || opened.get()).await;
    });
    assert_eq!(
        opened.get(),
        driver == Driver::Uring,
        "stuck on epoll's pool only"
    );
    // Returns: past the timeout, the open (if the kernel did not cancel it) is leaked with
    // what it writes into, instead of being waited for.
    rt.shutdown_timeout(Duration::from_millis(50));
    // Let the blocked open finish (O_RDWR on a FIFO never blocks and counts as a writer).
    let _unblock = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
}

fn join_set_try_join_next(driver: Driver) {
    block_on(driver, async {
        let mut set = JoinSet::new();
        assert!(set.try_join_next().is_none(), "an empty set");
        set.spawn(async { 1 });
        set.spawn(proactor::time::sleep(Duration::from_secs(3600)).map_to(2));
        assert!(set.try_join_next().is_none(), "nothing ran yet");
        let first = loop {
            if let Some(res) = set.try_join_next() {
                break res;
            }
            yield_now().await;
        };
        assert_eq!(first.unwrap(), 1);
        assert_eq!(set.len(), 1);
        for _ in 0..10 {
            yield_now().await;
            assert!(
                set.try_join_next().is_none(),
                "the sleeper has not finished"
            );
        }
        set.abort_all();
        let res = loop {
            if let Some(res) = set.try_join_next() {
                break res;
            }
            yield_now().await;
        };
        assert!(res.unwrap_err().is_cancelled());
        assert!(set.is_empty());
        assert!(set.join_next().await.is_none());
    });
}

fn join_set_shutdown_aborts_and_waits(driver: Driver) {
    block_on(driver, async {
        let dropped = Rc::new(Cell::new(0));
        let mut set = JoinSet::new();
        for _ in 0..20 {
            let flag = DropCount(dropped.clone());
            set.spawn(async move {
                let _flag = flag;
                proactor::nop().await.unwrap();
                proactor::time::sleep(Duration::from_secs(3600)).await;
            });
        }
        let done = Rc::new(Cell::new(false));
        let d = done.clone();
        set.spawn(async move { d.set(true) });
        yield_now().await;
        set.shutdown().await;
        assert!(set.is_empty());
        assert_eq!(dropped.get(), 20, "every aborted future was dropped");
        assert!(done.get(), "a task that finished first kept its run");
        // The set is usable again.
        set.spawn(async {});
        assert!(set.join_next().await.unwrap().is_ok());
    });
}

/// `future.map_to(v)`: awaits the future, then gives `v`.
trait MapTo: std::future::Future + Sized {
    async fn map_to<T>(self, v: T) -> T {
        self.await;
        v
    }
}

impl<F: std::future::Future> MapTo for F {}

on_each_driver!(
    shutdown_timeout_cancels_tasks_and_drains_ops,
    shutdown_background_cancels_tasks,
    shutdown_timeout_gives_up_on_a_stuck_op,
    join_set_try_join_next,
    join_set_shutdown_aborts_and_waits,
);
