//! The bridge's state machines on both drivers, below the trait impls: a stream waiting for
//! data holds no buffer of the shared pool, a partly read buffer is served first, and a
//! stream never used through the bridge allocates nothing.

use std::future::poll_fn;

use super::read::shared_pool_free;
use crate::net::UnixStream;
use crate::{Driver, Runtime};

fn runtime(driver: Driver) -> Runtime {
    Runtime::builder()
        .driver(driver)
        .build()
        .unwrap_or_else(|e| panic!("cannot build a {driver:?} runtime: {e}"))
}

fn idle_stream_holds_no_read_buffer(driver: Driver) {
    runtime(driver).block_on(async {
        let (a, mut b) = UnixStream::pair().unwrap();
        assert!(
            b.io.rd.is_idle() && b.io.rd.0.borrow().is_none(),
            "nothing before a read"
        );
        assert_eq!(
            shared_pool_free(),
            None,
            "no pool before the first bridge read"
        );
        let (res, _) = a.write_all(b"hello world".as_slice()).await;
        res.unwrap();
        let (socket, rd) = b.io.reader();
        let got = poll_fn(|cx| rd.poll_fill(cx, socket).map_ok(|d| d.to_vec()))
            .await
            .unwrap();
        assert_eq!(got, b"hello world");
        rd.consume(6);
        // The rest of a partly read buffer is served first, by an owned-buffer read too.
        let (res, buf) = b.read(Vec::with_capacity(64)).await;
        assert_eq!(res.unwrap(), 5);
        assert_eq!(buf, b"world");
        // Everything taken: the stream waits for data (its receive armed) holding no buffer.
        crate::task::yield_now().await;
        let total = shared_pool_free().expect("built by the first read");
        assert_eq!(total, 1024, "an idle stream holds a pool buffer");
    });
}

fn unused_stream_allocates_nothing(driver: Driver) {
    runtime(driver).block_on(async {
        let (a, b) = UnixStream::pair().unwrap();
        let (res, _) = a.write_all(b"x".as_slice()).await;
        res.unwrap();
        let (res, _) = b.read(Vec::with_capacity(4)).await;
        assert_eq!(res.unwrap(), 1);
        assert!(a.io.wr.bridge.is_none() && b.io.rd.0.borrow().is_none());
        assert_eq!(shared_pool_free(), None);
    });
}

#[test]
fn idle_stream_holds_no_read_buffer_uring() {
    idle_stream_holds_no_read_buffer(Driver::Uring);
}

#[test]
fn idle_stream_holds_no_read_buffer_epoll() {
    idle_stream_holds_no_read_buffer(Driver::Epoll);
}

#[test]
fn unused_stream_allocates_nothing_uring() {
    unused_stream_allocates_nothing(Driver::Uring);
}

#[test]
fn unused_stream_allocates_nothing_epoll() {
    unused_stream_allocates_nothing(Driver::Epoll);
}
