//! Drop safety of socket operations: a future dropped while its operation is in flight
//! leaks nothing (no slot, no buffer, no accepted descriptor), and the socket still works.

mod util;

use std::future::{poll_fn, Future};
use std::io::Read;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use proactor::net::{TcpListener, TcpStream};
use proactor::Driver;
use util::block_on;

/// Polls `fut` once (which submits its operation) and hands it back still pending.
async fn poll_once<F: Future + Unpin>(mut fut: F) -> F {
    poll_fn(|cx| {
        assert!(
            Pin::new(&mut fut).poll(cx).is_pending(),
            "expected a pending op"
        );
        Poll::Ready(())
    })
    .await;
    fut
}

/// Polls `fut` once and drops it, pending or not: on epoll an accept with a connection
/// waiting completes at its first poll, and its output (the accepted stream) is dropped.
async fn poll_once_then_drop<F: Future + Unpin>(mut fut: F) {
    poll_fn(|cx| {
        let _ = Pin::new(&mut fut).poll(cx);
        Poll::Ready(())
    })
    .await;
    proactor::nop().await.unwrap();
    drop(fut);
}

/// Lets the runtime turn until no operation is in flight (bounded).
async fn settle() {
    for _ in 0..200 {
        if proactor::runtime::stats().ops_in_flight == 0 {
            return;
        }
        proactor::time::sleep(Duration::from_millis(1)).await;
    }
    panic!(
        "operations still in flight: {}",
        proactor::runtime::stats().ops_in_flight
    );
}

/// A client whose connection sits in the listener's backlog (connect completes at once).
fn pending_client(addr: SocketAddr) -> std::net::TcpStream {
    let c = std::net::TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c
}

/// The server side of `client` was closed: its read sees EOF (or a reset), not a timeout.
fn assert_closed_by_server(mut client: std::net::TcpStream) {
    let mut byte = [0u8; 1];
    match client.read(&mut byte) {
        Ok(0) => {}
        Ok(_) => panic!("unexpected data"),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
    }
}

fn dropped_pending_accept_leaks_nothing(driver: Driver) {
    block_on(driver, async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let accept = poll_once(Box::pin(listener.accept())).await;
        proactor::nop().await.unwrap(); // the accept is now with the kernel
        drop(accept);
        settle().await;
        // The listener still works.
        let client = spawn_connect(addr);
        let (server, _) = listener.accept().await.unwrap();
        let client = client.await.unwrap().unwrap();
        let (res, _) = client.write_all(b"ok".as_slice()).await;
        res.unwrap();
        let (res, buf) = server.read_exact(Vec::with_capacity(2)).await;
        res.unwrap();
        assert_eq!(buf, b"ok");
    });
}

fn spawn_connect(addr: SocketAddr) -> proactor::JoinHandle<std::io::Result<TcpStream>> {
    proactor::spawn(async move { TcpStream::connect(addr).await })
}

fn accepted_fd_of_dropped_accept_is_closed(driver: Driver) {
    block_on(driver, async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // The completion arrives (with a new fd) before the future is dropped.
        // (On epoll the accept completes at its first poll: its output is dropped.)
        let client = pending_client(addr);
        poll_once_then_drop(Box::pin(listener.accept())).await;
        settle().await;
        assert_closed_by_server(client);
        // The completion arrives after the drop: the accept and its cancel go in together,
        // and the accept, with a connection waiting, completes first.
        let client = pending_client(addr);
        let mut accept = Box::pin(listener.accept());
        let first = poll_fn(|cx| Poll::Ready(accept.as_mut().poll(cx).is_ready())).await;
        assert!(
            first || driver == Driver::Uring,
            "epoll accepts at the first poll"
        );
        drop(accept);
        settle().await;
        assert_closed_by_server(client);
    });
}

fn dropped_pending_read_releases_buffer(driver: Driver) {
    block_on(driver, async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = spawn_connect(addr);
        let (server, _) = listener.accept().await.unwrap();
        let client = client.await.unwrap().unwrap();
        let guard = Arc::new(());
        let buf = util::ArcBuf {
            data: Vec::with_capacity(64),
            _guard: guard.clone(),
        };
        let read = poll_once(Box::pin(server.read(buf))).await;
        proactor::nop().await.unwrap();
        assert_eq!(Arc::strong_count(&guard), 2);
        drop(read);
        settle().await;
        assert_eq!(
            Arc::strong_count(&guard),
            1,
            "the driver still holds the buffer"
        );
        // The stream still works in both directions.
        let (res, _) = client.write_all(b"after".as_slice()).await;
        res.unwrap();
        let (res, buf) = server.read_exact(Vec::with_capacity(5)).await;
        res.unwrap();
        assert_eq!(buf, b"after");
        let (res, _) = server.write_all(b"back".as_slice()).await;
        res.unwrap();
        let (res, buf) = client.read_exact(Vec::with_capacity(4)).await;
        res.unwrap();
        assert_eq!(buf, b"back");
    });
}

fn runtime_drop_with_pending_socket_ops(driver: Driver) {
    let guard = Arc::new(());
    let rt = util::runtime(driver);
    let g = guard.clone();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(async move {
        let _ = listener.accept().await;
    });
    rt.spawn(async move {
        let (stream, _) = (TcpStream::connect(addr).await.unwrap(), ());
        let buf = util::ArcBuf {
            data: Vec::with_capacity(8),
            _guard: g,
        };
        let _ = stream.read(buf).await;
    });
    rt.block_on(async {
        for _ in 0..20 {
            proactor::task::yield_now().await;
            proactor::nop().await.unwrap();
        }
    });
    drop(rt);
    assert_eq!(Arc::strong_count(&guard), 1);
}

on_each_driver!(
    dropped_pending_accept_leaks_nothing,
    accepted_fd_of_dropped_accept_is_closed,
    dropped_pending_read_releases_buffer,
    runtime_drop_with_pending_socket_ops,
);
