//! Deadlines on operations (`read(buf).timeout(d)` and the other futures of
//! `proactor::net::future`): `TimedOut` with the buffer back on an idle socket, data when it
//! comes in time, a dropped timed op, many at once, a deadline of zero, writes, accepts,
//! connects and datagrams; on io_uring one submission and no timer of the runtime's.

mod util;

use std::future::Future;
use std::io::ErrorKind;
use std::time::Duration;

use proactor::net::{TcpListener, TcpSocket, TcpStream, UdpSocket, UnixStream};
use proactor::{Driver, JoinSet};
use util::{block_on, tcp_pair};

const SHORT: Duration = Duration::from_millis(20);
const LONG: Duration = Duration::from_secs(30);

fn idle_read_times_out_with_its_buffer(driver: Driver) {
    block_on(driver, async {
        let (_client, server) = tcp_pair().await;
        let mut buf = Vec::with_capacity(100);
        buf.extend_from_slice(b"kept");
        let (res, buf) = server.read(buf).timeout(SHORT).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::TimedOut);
        assert_eq!(buf, b"kept", "the buffer comes back untouched");
        assert_eq!(buf.capacity(), 100);
        assert_eq!(proactor::runtime::stats().ops_in_flight, 0);
    });
}

fn read_in_time_gives_its_data(driver: Driver) {
    block_on(driver, async {
        let (client, server) = tcp_pair().await;
        let writer = proactor::spawn(async move {
            proactor::time::sleep(Duration::from_millis(5)).await;
            let (res, _) = client.write_all(b"in time".as_slice()).await;
            res.unwrap();
            client
        });
        let (res, buf) = server.read(Vec::with_capacity(64)).timeout(LONG).await;
        assert_eq!(res.unwrap(), 7);
        assert_eq!(buf, b"in time");
        let _client = writer.await.unwrap();
        // After a timed-out read the socket still works.
        let (res, _) = server.read(Vec::with_capacity(8)).timeout(SHORT).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::TimedOut);
        let (res, _) = _client.write_all(b"again".as_slice()).await;
        res.unwrap();
        let (res, buf) = server.read(Vec::with_capacity(8)).timeout(LONG).await;
        assert_eq!(res.unwrap(), 5);
        assert_eq!(buf, b"again");
    });
}

/// A timed read dropped while it waits: nothing is left in flight once the kernel let go,
/// and the next read gets the data.
fn dropping_a_timed_read(driver: Driver) {
    block_on(driver, async {
        let (client, server) = tcp_pair().await;
        let mut read = server.read(Vec::with_capacity(64)).timeout(LONG);
        assert!(util::poll_once(&mut read).await.is_pending());
        drop(read);
        util::until(|| proactor::runtime::stats().ops_in_flight == 0).await;
        let (res, _) = client.write_all(b"next".as_slice()).await;
        res.unwrap();
        let (res, buf) = server.read(Vec::with_capacity(64)).await;
        assert_eq!(res.unwrap(), 4);
        assert_eq!(buf, b"next");
    });
}

/// Many timed reads at once, on 100 idle connections: half get data, half time out.
fn many_timed_reads(driver: Driver) {
    block_on(driver, async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut set = JoinSet::new();
        let mut clients = Vec::new();
        for i in 0..100 {
            let client = TcpStream::connect(addr).await.unwrap();
            let (server, _) = listener.accept().await.unwrap();
            let deadline = if i % 2 == 0 { LONG } else { SHORT };
            set.spawn(async move {
                let (res, buf) = server.read(Vec::with_capacity(16)).timeout(deadline).await;
                (i, res.map(|n| buf[..n].to_vec()).map_err(|e| e.kind()))
            });
            clients.push(client);
        }
        for (i, client) in clients.iter().enumerate().step_by(2) {
            let (res, _) = client.write_all(format!("{i}").into_bytes()).await;
            res.unwrap();
        }
        let (mut data, mut timed_out) = (0, 0);
        while let Some(res) = set.join_next().await {
            match res.unwrap() {
                (i, Ok(bytes)) => {
                    assert_eq!(bytes, format!("{i}").into_bytes());
                    data += 1;
                }
                (i, Err(kind)) => {
                    assert_eq!((i % 2, kind), (1, ErrorKind::TimedOut));
                    timed_out += 1;
                }
            }
        }
        assert_eq!((data, timed_out), (50, 50));
        assert_eq!(proactor::runtime::stats().ops_in_flight, 0);
    });
}

/// A deadline of zero tries once: data already there is read, none is `TimedOut`.
fn zero_deadline(driver: Driver) {
    block_on(driver, async {
        let (a, b) = UnixStream::pair().unwrap();
        let (res, _) = b.read(Vec::with_capacity(8)).timeout(Duration::ZERO).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::TimedOut);
        let (res, _) = a.write_all(b"ready".as_slice()).await;
        res.unwrap();
        let (res, buf) = b.read(Vec::with_capacity(8)).timeout(Duration::ZERO).await;
        assert_eq!(res.unwrap(), 5);
        assert_eq!(buf, b"ready");
    });
}

/// On io_uring the deadline is the kernel's: no timer of the runtime's while a timed read
/// waits; on epoll, the runtime's timer.
fn no_userspace_timer_on_io_uring(driver: Driver) {
    block_on(driver, async {
        let (_a, b) = UnixStream::pair().unwrap();
        let mut read = b.read(Vec::with_capacity(8)).timeout(LONG);
        assert!(util::poll_once(&mut read).await.is_pending());
        let timers = proactor::runtime::stats().timers;
        match driver {
            Driver::Epoll => assert_eq!(timers, 1),
            _ => assert_eq!(timers, 0),
        }
    });
}

/// A write to a peer that reads nothing: once the socket buffers are full the timed write
/// times out, with its buffer back.
fn write_to_a_stalled_peer_times_out(driver: Driver) {
    block_on(driver, async {
        let (client, _server) = tcp_pair().await;
        let mut buf = vec![7u8; 1 << 16];
        for _ in 0..10_000 {
            let (res, back) = client.write(buf).timeout(SHORT).await;
            buf = back;
            match res {
                Ok(n) => assert!(n > 0),
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::TimedOut);
                    assert_eq!(buf.len(), 1 << 16);
                    return;
                }
            }
        }
        panic!("10,000 writes of 64 KiB to a peer that reads nothing all went through");
    });
}

fn accept_and_connect_time_out(driver: Driver) {
    block_on(driver, async {
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = socket.listen(1).unwrap();
        let addr = listener.local_addr().unwrap();
        let res = listener.accept().timeout(SHORT).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::TimedOut);
        // Nobody accepts: once the backlog is full the next SYN is dropped and the connect
        // waits, until its deadline.
        let mut held = Vec::new();
        for _ in 0..20 {
            match TcpStream::connect(addr)
                .timeout(Duration::from_millis(200))
                .await
            {
                Ok(stream) => held.push(stream),
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::TimedOut);
                    // The listener still serves the connections that got in.
                    let (_stream, _) = listener.accept().timeout(LONG).await.unwrap();
                    return;
                }
            }
        }
        panic!("20 connects into a backlog of 1 all went through");
    });
}

fn udp_recv_times_out(driver: Driver) {
    block_on(driver, async {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let (res, buf) = b.recv_from(Vec::with_capacity(32)).timeout(SHORT).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::TimedOut);
        let (res, _) = a.send_to(b"late".as_slice(), b.local_addr().unwrap()).await;
        res.unwrap();
        let (res, buf) = b.recv_from(buf).timeout(LONG).await;
        assert_eq!(res.unwrap(), (4, a.local_addr().unwrap()));
        assert_eq!(buf, b"late");
        let (res, _) = b.recv_msg(vec![Vec::with_capacity(4)]).timeout(SHORT).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::TimedOut);
    });
}

/// `time::timeout` around an op future still works (a runtime timer), and the op's own
/// deadline inside it too.
fn time_timeout_around_an_op(driver: Driver) {
    block_on(driver, async {
        let (_a, b) = UnixStream::pair().unwrap();
        let outer = proactor::time::timeout(SHORT, b.read(Vec::with_capacity(8))).await;
        assert!(outer.is_err(), "the outer deadline");
        let inner = proactor::time::timeout(LONG, b.read(Vec::with_capacity(8)).timeout(SHORT));
        let (res, _) = inner.await.expect("the op's deadline comes first");
        assert_eq!(res.unwrap_err().kind(), ErrorKind::TimedOut);
    });
}

/// A connect to a list or a host name takes a deadline too, the lookup and every attempt
/// under it: a refused address is skipped for the next one in time. So does a datagram to
/// a name; a malformed target is an error at the first poll, with the buffer back.
fn listed_and_named_targets_take_a_deadline(driver: Driver) {
    block_on(driver, async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let stream = TcpStream::connect([closed, addr]).timeout(LONG).await;
        assert_eq!(stream.unwrap().peer_addr().unwrap(), addr);
        let err = TcpStream::connect([closed])
            .timeout(LONG)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
        let named = format!("localhost:{}", addr.port());
        let resolves = std::net::ToSocketAddrs::to_socket_addrs(&named);
        if resolves.is_ok_and(|mut a| a.any(|a| a == addr)) {
            let stream = TcpStream::connect(named.as_str()).timeout(LONG).await;
            assert_eq!(stream.unwrap().peer_addr().unwrap(), addr);
        } else {
            eprintln!("skipped the named connect: localhost does not resolve to {addr}");
        }

        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = b.local_addr().unwrap().port();
        let (res, _) = a
            .send_to(b"one".as_slice(), ("127.0.0.1", port))
            .timeout(LONG)
            .await;
        assert_eq!(res.unwrap(), 3);
        let (res, buf) = b.recv_from(Vec::with_capacity(8)).timeout(LONG).await;
        assert_eq!(res.unwrap(), (3, a.local_addr().unwrap()));
        assert_eq!(buf, b"one");
        let (res, buf) = a.send_to(b"two".as_slice(), "no-port").timeout(LONG).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::InvalidInput);
        assert_eq!(buf, b"two");
        assert_eq!(proactor::runtime::stats().ops_in_flight, 0);
    });
}

/// `Duration::MAX` (the usual "no deadline") is a deadline too far to matter: a read gets
/// the data that comes later, and a connect connects (no `TimedOut` at once from a negative
/// kernel time, no overflow of an `Instant`).
fn duration_max_is_no_deadline(driver: Driver) {
    block_on(driver, async {
        let (client, server) = tcp_pair().await;
        let writer = proactor::spawn(async move {
            proactor::time::sleep(SHORT).await;
            let (res, _) = client.write_all(b"late".as_slice()).await;
            res.unwrap();
            client
        });
        let (res, buf) = server
            .read(Vec::with_capacity(16))
            .timeout(Duration::MAX)
            .await;
        assert_eq!(res.expect("Duration::MAX must not time out"), 4);
        assert_eq!(buf, b"late");
        drop(writer.await.unwrap());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stream = TcpStream::connect(addr).timeout(Duration::MAX).await;
        stream.expect("connect with Duration::MAX");
    });
}

/// A deadline given to a future already polled is refused with a clear panic (its op may
/// be in the kernel without one).
fn a_deadline_after_the_first_poll_is_refused(driver: Driver) {
    block_on(driver, async {
        let (_client, server) = tcp_pair().await;
        let mut read = server.read(Vec::with_capacity(8));
        let polled = std::future::poll_fn(|cx| {
            assert!(std::pin::Pin::new(&mut read).poll(cx).is_pending());
            std::task::Poll::Ready(())
        });
        polled.await;
        let late = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            drop(read.timeout(SHORT));
        }));
        let msg = late.expect_err("timeout() after a poll must panic");
        let msg = msg
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| msg.downcast_ref::<&str>().copied())
            .unwrap_or("");
        assert!(msg.contains("already polled"), "{msg}");
    });
}

/// A timed op on the smallest ring the builder allows fits it (its slot install, the op
/// and its link timeout go in together), rather than waiting forever for room.
#[test]
fn a_timed_read_fits_the_smallest_ring() {
    // On a thread of its own: a regression spins in the driver, and the test says so
    // rather than hanging.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = proactor::Runtime::builder()
            .driver(Driver::Uring)
            .entries(1)
            .build()
            .unwrap();
        let kind = rt.block_on(async {
            let (ours, _theirs) = UnixStream::pair().unwrap();
            let (res, _buf) = ours.read(Vec::with_capacity(8)).timeout(SHORT).await;
            res.unwrap_err().kind()
        });
        let _ = tx.send(kind);
    });
    match rx.recv_timeout(LONG) {
        Ok(kind) => assert_eq!(kind, ErrorKind::TimedOut),
        Err(_) => panic!("a timed read on the smallest ring did not finish (no room in the queue)"),
    }
}

on_each_driver!(
    idle_read_times_out_with_its_buffer,
    read_in_time_gives_its_data,
    dropping_a_timed_read,
    many_timed_reads,
    zero_deadline,
    no_userspace_timer_on_io_uring,
    write_to_a_stalled_peer_times_out,
    accept_and_connect_time_out,
    udp_recv_times_out,
    time_timeout_around_an_op,
    listed_and_named_targets_take_a_deadline,
    duration_max_is_no_deadline,
    a_deadline_after_the_first_poll_is_refused,
);
