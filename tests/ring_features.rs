//! The io_uring fast paths: what a ring reports it enabled, a `DEFER_TASKRUN` runtime
//! still serving cross-thread wakes, timers and sockets, zero-copy sends (including one
//! dropped mid-flight, whose buffer must live until the kernel's notification), and the
//! forced-off mode.

mod util;

use std::sync::Arc;
use std::time::Duration;

use proactor::buf::IoBuf;
use proactor::net::{TcpListener, TcpStream};
use proactor::{Driver, Runtime};

/// A uring runtime with fast paths `on`; `None` (with a message) where io_uring is missing.
fn uring(on: bool) -> Option<Runtime> {
    match Runtime::builder()
        .driver(Driver::Uring)
        .fast_paths(on)
        .build()
    {
        Ok(rt) => Some(rt),
        Err(e) => {
            eprintln!("skipped: io_uring unavailable here: {e}");
            None
        }
    }
}

#[test]
fn forced_off_enables_no_fast_path() {
    let Some(rt) = uring(false) else { return };
    let f = rt
        .ring_features()
        .expect("a uring runtime reports its features");
    assert!(!f.single_issuer && !f.defer_taskrun && !f.registered_ring_fd && !f.send_zc);
    let epoll = util::runtime(Driver::Epoll);
    assert_eq!(epoll.ring_features(), None);
}

#[test]
fn fast_paths_are_reported_consistently() {
    let Some(rt) = uring(true) else { return };
    let f = rt.ring_features().unwrap();
    eprintln!("ring features: {f:?}");
    // DEFER_TASKRUN is only accepted together with SINGLE_ISSUER.
    assert!(!f.defer_taskrun || f.single_issuer);
    if !f.defer_taskrun {
        eprintln!("skipped the DEFER_TASKRUN checks: the kernel refused the flag");
    }
}

/// Cross-thread wakes, timers and a TCP round trip on the fast-path runtime.
#[test]
fn defer_taskrun_runtime_serves_wakes_timers_and_sockets() {
    let Some(rt) = uring(true) else { return };
    rt.block_on(async {
        let v = proactor::spawn_blocking(|| {
            std::thread::sleep(Duration::from_millis(20));
            7
        })
        .await
        .unwrap();
        assert_eq!(v, 7);
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let woken = proactor::spawn_blocking(move || rx.recv().is_ok());
        std::thread::spawn(move || tx.send(()).unwrap());
        assert!(woken.await.unwrap());
        proactor::time::sleep(Duration::from_millis(15)).await;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = proactor::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            let (res, buf) = s.read(Vec::with_capacity(16)).await;
            res.unwrap();
            s.write_all(buf).await.0.unwrap();
        });
        let c = TcpStream::connect(addr).await.unwrap();
        c.write_all(b"hello".to_vec()).await.0.unwrap();
        let (res, buf) = c.read_exact(vec![0u8; 5]).await;
        res.unwrap();
        assert_eq!(buf, b"hello");
        server.await.unwrap();
    });
    assert_eq!(rt.stats().ops_in_flight, 0);
}

/// A peer that reads everything until EOF and returns how many bytes it got.
fn sink() -> (std::net::SocketAddr, std::thread::JoinHandle<usize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let h = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut s, &mut out).unwrap();
        assert!(out.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8));
        out.len()
    });
    (addr, h)
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

fn send_zc_round_trip(driver: Driver) {
    const LEN: usize = 4 << 20;
    let (addr, peer) = sink();
    util::block_on(driver, async move {
        let s = TcpStream::connect(addr).await.unwrap();
        let mut buf = pattern(LEN);
        let mut sent = 0;
        while sent < LEN {
            let (res, slice) = s.send_zc(buf.slice(sent..)).await;
            buf = slice.into_inner();
            let n = res.unwrap();
            assert!(n > 0);
            sent += n;
        }
        assert_eq!(buf.len(), LEN, "the buffer comes back whole");
        assert_eq!(
            proactor::runtime::stats().ops_in_flight,
            0,
            "notification collected"
        );
    });
    assert_eq!(peer.join().unwrap(), LEN);
}

/// io_uring only: the epoll variant's send runs inline and never leaves a buffer with the
/// kernel.
#[test]
fn send_zc_dropped_mid_flight_keeps_buffer_until_notification() {
    let Some(rt) = uring(true) else { return };
    if !rt.ring_features().unwrap().send_zc {
        eprintln!("skipped: no IORING_OP_SEND_ZC here");
        return;
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let witness = Arc::new(());
    rt.block_on(async {
        let s = TcpStream::connect(addr).await.unwrap();
        let (peer, _) = listener.accept().unwrap();
        let buf = util::ArcBuf {
            data: pattern(32 << 20),
            _guard: witness.clone(),
        };
        let mut fut = Box::pin(s.send_zc(buf));
        std::future::poll_fn(|cx| {
            assert!(
                fut.as_mut().poll(cx).is_pending(),
                "32 MiB cannot fit at once"
            );
            std::task::Poll::Ready(())
        })
        .await;
        drop(fut);
        assert_eq!(
            Arc::strong_count(&witness),
            2,
            "dropped in flight: the driver holds it"
        );
        drop(peer); // the send fails or finishes; the notification follows
        let mut turns = 0;
        while Arc::strong_count(&witness) > 1 && turns < 10_000 {
            proactor::time::sleep(Duration::from_millis(1)).await;
            turns += 1;
        }
        assert_eq!(
            Arc::strong_count(&witness),
            1,
            "released after the completion"
        );
        drop(s);
    });
    drop(rt);
    assert_eq!(Arc::strong_count(&witness), 1);
}

use std::future::Future;

on_each_driver!(send_zc_round_trip);
