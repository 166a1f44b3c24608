//! The io_uring fast paths and their fallbacks: `TcpListener::incoming` (multishot accept)
//! and `TcpStream::recv_multi` from a `BufRing` pool (multishot recv from a provided-buffer
//! ring), each run with the fast paths on and forced off, on both drivers.
//!
//! The tests of this file run one at a time (a file-wide lock), so counting the process's
//! open descriptors can tell a leak.

mod util;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use proactor::buf::BufRing;
use proactor::net::{TcpListener, TcpStream};
use proactor::{Driver, DriverKind, JoinSet, Runtime};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

fn runtime(driver: Driver, fast: bool) -> Runtime {
    Runtime::builder()
        .driver(driver)
        .fast_paths(fast)
        .build()
        .unwrap_or_else(|e| panic!("cannot build a {driver:?} runtime: {e}"))
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Lets the runtime turn until no operation is in flight (bounded).
async fn settle() {
    for _ in 0..500 {
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

fn listener() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

/// 1000 connections made at once from another thread all come out of one `incoming()`,
/// each with its peer's address.
fn incoming_burst(driver: Driver, fast: bool) {
    const CONNS: usize = 1000;
    let _serial = serial();
    runtime(driver, fast).block_on(async {
        let (listener, addr) = listener();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let client = std::thread::spawn(move || {
            let conns: Vec<_> = (0..CONNS)
                .map(|_| std::net::TcpStream::connect(addr).unwrap())
                .collect();
            let addrs: HashSet<SocketAddr> =
                conns.iter().map(|c| c.local_addr().unwrap()).collect();
            let _ = done_rx.recv_timeout(Duration::from_secs(30));
            addrs
        });
        let mut incoming = listener.incoming();
        let mut accepted = Vec::new();
        let mut peers = HashSet::new();
        while accepted.len() < CONNS {
            let (stream, peer) = incoming.next().await.unwrap().unwrap();
            assert_eq!(stream.peer_addr().unwrap(), peer);
            peers.insert(peer);
            accepted.push(stream);
        }
        done_tx.send(()).unwrap();
        assert_eq!(peers, client.join().unwrap());
        drop(incoming);
        settle().await;
    });
}

/// Dropping `incoming()` with connections queued or still arriving cancels the accept
/// and closes every descriptor it accepted: none leaks, no slot stays in flight.
fn drop_incoming_mid_stream(driver: Driver, fast: bool) {
    let _serial = serial();
    let before = open_fds();
    runtime(driver, fast).block_on(async {
        let (listener, addr) = listener();
        let clients: Vec<_> = (0..8)
            .map(|_| std::net::TcpStream::connect(addr).unwrap())
            .collect();
        let mut incoming = listener.incoming();
        let (first, _) = incoming.next().await.unwrap().unwrap();
        // Let the kernel complete more accepts into the dropped stream's queue.
        proactor::time::sleep(Duration::from_millis(20)).await;
        drop(incoming);
        let late: Vec<_> = (0..4)
            .map(|_| std::net::TcpStream::connect(addr).unwrap())
            .collect();
        settle().await;
        drop(first);
        // The listener still accepts after the multishot stream is gone (the late
        // connections may have been accepted, and closed, by the cancelled accept).
        let extra = std::net::TcpStream::connect(addr).unwrap();
        let mut again = listener.incoming();
        let mut seen = Vec::new();
        loop {
            let (stream, peer) = again.next().await.unwrap().unwrap();
            let done = peer == extra.local_addr().unwrap();
            seen.push(stream);
            if done {
                break;
            }
        }
        drop((seen, again, extra));
        settle().await;
        drop((listener, clients, late));
    });
    assert_eq!(open_fds(), before, "descriptors leaked");
}

/// A client that connects, sends and resets (SO_LINGER 0) before the server picks its
/// connection up is skipped by `incoming()`: the next item is the next live connection,
/// never an error of the listener, and no descriptor leaks.
fn reset_before_accept_is_skipped(driver: Driver, fast: bool) {
    let _serial = serial();
    let before = open_fds();
    runtime(driver, fast).block_on(async {
        let (listener, addr) = listener();
        for _ in 0..3 {
            let hostile = socket2::Socket::from(std::net::TcpStream::connect(addr).unwrap());
            (&hostile).write_all(b"hello").unwrap();
            hostile.set_linger(Some(Duration::ZERO)).unwrap();
            drop(hostile); // RST: the queued connection dies before it is accepted
        }
        let good = std::net::TcpStream::connect(addr).unwrap();
        let mut incoming = listener.incoming();
        let next = proactor::time::timeout(Duration::from_secs(5), incoming.next()).await;
        let (stream, peer) = next.expect("no connection").unwrap().unwrap();
        assert_eq!(peer, good.local_addr().unwrap());
        let (res, _) = stream.write_all(b"ok".as_slice()).await;
        res.unwrap();
        let mut got = [0u8; 2];
        (&good).read_exact(&mut got).unwrap();
        assert_eq!(&got, b"ok");
        drop((stream, incoming));
        settle().await;
        drop((listener, good));
    });
    assert_eq!(open_fds(), before, "descriptors leaked");
}

/// Connections that arrive while nobody takes them from `incoming()` wait in the kernel's
/// backlog, not as accepted descriptors of the process: at most a small queue of them is
/// accepted ahead, whether the multishot accept was armed before they came or is armed
/// with a deep backlog. None is lost: all come out once the consumer asks.
fn unaccepted_connections_wait_in_the_backlog(driver: Driver, fast: bool) {
    const CONNS: usize = 300;
    let _serial = serial();
    runtime(driver, fast).block_on(async {
        let (listener, addr) = listener();
        let mut incoming = listener.incoming();
        let first = std::net::TcpStream::connect(addr).unwrap();
        let (_first, _) = incoming.next().await.unwrap().unwrap(); // armed
        for round in 0..2 {
            let before = open_fds();
            let clients: Vec<_> = (0..CONNS)
                .map(|_| std::net::TcpStream::connect(addr).unwrap())
                .collect();
            // Turns of the loop in which nobody takes a connection.
            proactor::time::sleep(Duration::from_millis(100)).await;
            let held = open_fds() - before - CONNS;
            assert!(
                held <= 80,
                "round {round}: {held} connections accepted ahead of the consumer"
            );
            let mut accepted = Vec::new();
            while accepted.len() < CONNS {
                let (stream, _) = incoming.next().await.unwrap().unwrap();
                accepted.push(stream);
                // A slow consumer: the backlog must not be accepted in one burst either.
                if accepted.len() == 10 {
                    proactor::time::sleep(Duration::from_millis(20)).await;
                    let ahead = open_fds() - before - CONNS - accepted.len();
                    assert!(
                        ahead <= 80,
                        "round {round}: a burst of {ahead} accepted ahead"
                    );
                }
            }
            drop((accepted, clients));
        }
        drop(first);
        settle().await;
    });
}

/// A burst of multishot completions (hundreds of connections accepted, their data received
/// from a shared pool) on the smallest ring (4 entries, a completion queue of 16) loses
/// none: the kernel keeps what overflows (`IORING_FEAT_NODROP`) and the driver flushes it.
#[test]
fn a_tiny_completion_queue_loses_no_multishot_completion() {
    const CONNS: usize = 200;
    let _serial = serial();
    let rt = Runtime::builder()
        .driver(Driver::Uring)
        .entries(4)
        .build()
        .unwrap();
    rt.block_on(async {
        let (listener, addr) = listener();
        let pool = BufRing::builder().count(64).size(64).build().unwrap();
        let clients = std::thread::spawn(move || {
            let conns: Vec<_> = (0..CONNS)
                .map(|i| {
                    let mut c = std::net::TcpStream::connect(addr).unwrap();
                    c.write_all(&pattern(i, 300)).unwrap();
                    c
                })
                .collect();
            conns
        });
        let mut incoming = listener.incoming();
        let mut set = JoinSet::new();
        for _ in 0..CONNS {
            let (stream, _) = incoming.next().await.unwrap().unwrap();
            let pool = pool.clone();
            set.spawn(async move {
                let mut recv = stream.recv_multi(&pool);
                let mut got = Vec::new();
                while got.len() < 300 {
                    got.extend_from_slice(&recv.next().await.unwrap().unwrap());
                }
                got
            });
        }
        let conns = clients.join().unwrap();
        let mut received: Vec<Vec<u8>> = set
            .join_all()
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        received.sort();
        let mut sent: Vec<Vec<u8>> = (0..CONNS).map(|i| pattern(i, 300)).collect();
        sent.sort();
        assert!(received == sent, "a byte was lost or changed");
        assert_eq!(proactor::runtime::stats().lost_completions, 0);
        drop(conns);
    });
}

/// Echo server task: every buffer received from the pool is written back.
async fn echo_with_pool(stream: TcpStream, pool: BufRing) {
    let mut recv = stream.recv_multi(&pool);
    while let Some(buf) = recv.next().await {
        let (res, _buf) = stream.write_all(buf.unwrap()).await;
        res.unwrap();
    }
    stream.shutdown(std::net::Shutdown::Write).await.unwrap();
}

fn pattern(seed: usize, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + seed * 7) as u8).collect()
}

/// 64 connections all sending through a pool of 8 small buffers: the pool runs dry over
/// and over; no byte is lost, no error reaches the user, every buffer comes back.
fn pool_exhaustion(driver: Driver, fast: bool) {
    const CONNS: usize = 64;
    const BYTES: usize = 20_000;
    let _serial = serial();
    runtime(driver, fast).block_on(async {
        let pool = BufRing::builder().count(8).size(512).build().unwrap();
        let provided = fast && proactor::runtime::stats().driver == DriverKind::Uring;
        if !provided {
            assert!(!pool.is_provided());
        }
        let (listener, addr) = listener();
        let mut tasks = JoinSet::new();
        for seed in 0..CONNS {
            tasks.spawn(async move {
                let stream = TcpStream::connect(addr).await.unwrap();
                let data = pattern(seed, BYTES);
                let (res, data) = stream.write_all(data).await;
                res.unwrap();
                stream.shutdown(std::net::Shutdown::Write).await.unwrap();
                let mut back = Vec::new();
                loop {
                    let (res, buf) = stream.read(Vec::with_capacity(4096)).await;
                    if res.unwrap() == 0 {
                        break;
                    }
                    back.extend_from_slice(&buf);
                }
                assert!(back == data, "connection {seed}: echo differs");
            });
        }
        let mut incoming = listener.incoming();
        let mut servers = JoinSet::new();
        for _ in 0..CONNS {
            let (stream, _) = incoming.next().await.unwrap().unwrap();
            servers.spawn(echo_with_pool(stream, pool.clone()));
        }
        while let Some(r) = tasks.join_next().await {
            r.unwrap();
        }
        while let Some(r) = servers.join_next().await {
            r.unwrap();
        }
        drop(incoming);
        settle().await;
        assert_eq!(pool.available(), 8, "buffers did not come back");
    });
}

/// How many buffers the kernel may fill for a stream in one go: Linux retries a multishot
/// receive up to 32 times per wake-up while the socket has data. The cap is seen when such
/// a batch is reaped and the cancel lands at the next enter, so a stalled stream holds at
/// most `max_queued` plus one batch with `DEFER_TASKRUN` (task work runs only in the enter);
/// the tests allow two, for rings where task work also runs between enters.
const KERNEL_BATCH: usize = 32;

/// A peer sends 4 MiB to a stream whose consumer takes nothing for a while: that stream
/// holds at most `max_queued` (plus the kernel's last batch) buffers of the shared pool,
/// another connection on the same pool still receives meanwhile, and once the consumer
/// drains, every byte arrives in order.
fn stalled_consumer_holds_few_buffers(driver: Driver, fast: bool) {
    const BYTES: usize = 4 << 20;
    const COUNT: usize = 128;
    let _serial = serial();
    runtime(driver, fast).block_on(async {
        let pool = BufRing::builder()
            .count(COUNT as u32)
            .size(4096)
            .build()
            .unwrap();
        let (listener, addr) = listener();
        let flood = std::thread::spawn(move || {
            let mut peer = std::net::TcpStream::connect(addr).unwrap();
            peer.set_write_timeout(Some(Duration::from_secs(30)))
                .unwrap();
            peer.write_all(&pattern(1, BYTES)).unwrap();
            peer.shutdown(std::net::Shutdown::Write).unwrap();
            peer
        });
        let (stalled, _) = listener.accept().await.unwrap();
        let mut recv = stalled.recv_multi(&pool);
        // One poll arms the receive (on epoll it may find data at once: kept for later).
        let first = std::future::poll_fn(|cx| match recv.poll_next(cx) {
            std::task::Poll::Ready(item) => std::task::Poll::Ready(item),
            std::task::Poll::Pending => std::task::Poll::Ready(None),
        })
        .await;
        // The consumer takes nothing while the kernel receives what it will.
        proactor::time::sleep(Duration::from_millis(100)).await;
        let held = COUNT - pool.available();
        assert!(
            held <= pool.max_queued() + 2 * KERNEL_BATCH,
            "a stalled stream holds {held} of {COUNT} buffers"
        );

        // Another connection on the same pool is served meanwhile.
        let mut other = std::net::TcpStream::connect(addr).unwrap();
        let (served, _) = listener.accept().await.unwrap();
        other.write_all(&pattern(2, 1000)).unwrap();
        let mut other_recv = served.recv_multi(&pool);
        let mut got = Vec::new();
        while got.len() < 1000 {
            let next = proactor::time::timeout(Duration::from_secs(10), other_recv.next());
            let buf = next.await.expect("the other connection starved").unwrap();
            got.extend_from_slice(&buf.unwrap());
        }
        assert!(
            got == pattern(2, 1000),
            "the other connection's bytes differ"
        );
        assert!(COUNT - pool.available() <= pool.max_queued() + 2 * KERNEL_BATCH);

        // The stalled consumer drains: every byte, in order.
        let expected = pattern(1, BYTES);
        let mut offset = 0;
        let drain = async {
            let mut next = match first {
                Some(item) => Some(item),
                None => recv.next().await,
            };
            while let Some(buf) = next {
                let buf = buf.unwrap();
                assert!(
                    expected[offset..offset + buf.len()] == buf[..],
                    "bytes differ at offset {offset}"
                );
                offset += buf.len();
                drop(buf);
                next = recv.next().await;
            }
        };
        proactor::time::timeout(Duration::from_secs(30), drain)
            .await
            .expect("the stalled stream did not resume");
        assert_eq!(offset, BYTES);
        drop((recv, other_recv));
        settle().await;
        assert_eq!(pool.available(), COUNT, "buffers did not come back");
        drop(flood.join().unwrap());
        drop((stalled, served, other, listener));
    });
}

/// Dropping a `recv_multi` stream, idle or with data arriving, cancels the receive and
/// gives every buffer back; the connection and the pool still work afterwards.
fn drop_recv_multi_mid_stream(driver: Driver, fast: bool) {
    let _serial = serial();
    let before = open_fds();
    runtime(driver, fast).block_on(async {
        let pool = BufRing::builder().count(4).size(64).build().unwrap();
        let (listener, addr) = listener();
        let mut client = std::net::TcpStream::connect(addr).unwrap();
        let (stream, _) = listener.accept().await.unwrap();

        // Idle: a waiting receive holds no buffer.
        let mut recv = stream.recv_multi(&pool);
        let idle = std::future::poll_fn(|cx| {
            assert!(recv.poll_next(cx).is_pending());
            std::task::Poll::Ready(())
        });
        idle.await;
        if pool.is_provided() {
            assert_eq!(pool.available(), 4, "an idle connection holds a buffer");
        }
        drop(recv);
        settle().await;
        assert_eq!(pool.available(), 4);

        // Mid-stream: data keeps arriving into buffers after the drop.
        client.write_all(&[1; 1000]).unwrap();
        let mut recv = stream.recv_multi(&pool);
        let first = recv.next().await.unwrap().unwrap();
        assert!(!first.is_empty() && first.iter().all(|&b| b == 1));
        proactor::time::sleep(Duration::from_millis(10)).await;
        drop(recv);
        drop(first);
        settle().await;
        assert_eq!(pool.available(), 4, "buffers of late completions were lost");

        // Still usable: new data arrives through a new stream.
        let mut recv = stream.recv_multi(&pool);
        let mut drained = 0;
        client.write_all(&[2; 10]).unwrap();
        loop {
            let buf = recv.next().await.unwrap().unwrap();
            drained += buf.len();
            if buf.last() == Some(&2) {
                break;
            }
        }
        assert!(drained >= 10);
        client.shutdown(std::net::Shutdown::Write).unwrap();
        while let Some(buf) = recv.next().await {
            buf.unwrap();
        }
        drop(recv);
        settle().await;
        assert_eq!(pool.available(), 4);
        let mut rest = Vec::new();
        drop(stream);
        client.read_to_end(&mut rest).unwrap();
        drop((listener, client, pool));
    });
    assert_eq!(open_fds(), before, "descriptors leaked");
}

/// A pool with a bad shape, or built outside a runtime, is a clear error.
#[test]
fn bufring_bad_input_is_an_error() {
    let _serial = serial(); // its runtime's descriptors would upset the fd counts
    let err = BufRing::builder().count(8).build().unwrap_err();
    assert!(err.to_string().contains("runtime"), "{err}");
    util::block_on(Driver::Auto, async {
        for (count, size) in [(3, 64), (0, 64), (65536, 64), (8, 0)] {
            let err = BufRing::builder()
                .count(count)
                .size(size)
                .build()
                .unwrap_err();
            assert_eq!(
                err.kind(),
                std::io::ErrorKind::InvalidInput,
                "{count} {size}"
            );
        }
        let err = BufRing::builder().max_queued(0).build().unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
    });
}

/// A pool used on another runtime than its own gives an error, not a hang.
#[test]
fn bufring_of_another_runtime_is_an_error() {
    let _serial = serial();
    let pool = util::block_on(Driver::Auto, async {
        BufRing::builder().count(2).size(16).build().unwrap()
    });
    util::block_on(Driver::Auto, async {
        let (listener, addr) = listener();
        let _client = std::net::TcpStream::connect(addr).unwrap();
        let (stream, _) = listener.accept().await.unwrap();
        let mut recv = stream.recv_multi(&pool);
        let err = recv.next().await.unwrap().unwrap_err();
        assert!(err.to_string().contains("another runtime"), "{err}");
        assert!(recv.next().await.is_none());
    });
}

/// With the fast paths on, io_uring on this kernel registers the pool as a buffer ring.
fn pool_is_provided_when_fast(driver: Driver) {
    let _serial = serial();
    runtime(driver, true).block_on(async {
        let pool = BufRing::builder().count(4).size(64).build().unwrap();
        match driver {
            Driver::Epoll => assert!(!pool.is_provided()),
            _ if pool.is_provided() => {}
            _ => eprintln!("skipped: this kernel has no provided-buffer rings (PBUF_RING)"),
        }
    });
    runtime(driver, false).block_on(async {
        let pool = BufRing::builder().count(4).size(64).build().unwrap();
        assert!(!pool.is_provided(), "fast paths off must not register");
    });
}

macro_rules! fast_and_fallback {
    ($($name:ident),* $(,)?) => {
        mod fast {
            $(
                pub fn $name(driver: proactor::Driver) {
                    super::$name(driver, true)
                }
            )*
        }
        mod fallback {
            $(
                pub fn $name(driver: proactor::Driver) {
                    super::$name(driver, false)
                }
            )*
        }
    };
}

fast_and_fallback!(
    incoming_burst,
    unaccepted_connections_wait_in_the_backlog,
    reset_before_accept_is_skipped,
    drop_incoming_mid_stream,
    pool_exhaustion,
    stalled_consumer_holds_few_buffers,
    drop_recv_multi_mid_stream,
);

mod on_fast {
    use super::fast::*;
    crate::on_each_driver!(
        incoming_burst,
        unaccepted_connections_wait_in_the_backlog,
        reset_before_accept_is_skipped,
        drop_incoming_mid_stream,
        pool_exhaustion,
        stalled_consumer_holds_few_buffers,
        drop_recv_multi_mid_stream,
    );
}

mod on_fallback {
    use super::fallback::*;
    crate::on_each_driver!(
        incoming_burst,
        unaccepted_connections_wait_in_the_backlog,
        reset_before_accept_is_skipped,
        drop_incoming_mid_stream,
        pool_exhaustion,
        stalled_consumer_holds_few_buffers,
        drop_recv_multi_mid_stream,
    );
}

mod provided {
    use super::pool_is_provided_when_fast;
    crate::on_each_driver!(pool_is_provided_when_fast);
}
