//! Names and addresses: `lookup_host`, the `ToSocketAddrs` forms `connect`, `bind` and
//! `send_to` take, trying each address in turn, and connect timeouts that cancel the connect
//! in the kernel and leak no descriptor.

mod util;

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use proactor::net::{lookup_host, TcpListener, TcpSocket, TcpStream, UdpSocket};
use proactor::Driver;
use util::{block_on, open_fds, serial, until};

/// An address nothing listens on (a port bound, then released).
fn closed_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

fn literal_lookups_need_no_pool(driver: Driver) {
    let _serial = serial();
    block_on(driver, async {
        let v4: SocketAddr = "127.0.0.1:80".parse().unwrap();
        let v6: SocketAddr = "[::1]:443".parse().unwrap();
        let all = |a: Vec<SocketAddr>| a;
        assert_eq!(
            all(lookup_host("127.0.0.1:80").await.unwrap().collect()),
            [v4]
        );
        assert_eq!(all(lookup_host("[::1]:443").await.unwrap().collect()), [v6]);
        assert_eq!(
            all(lookup_host(("127.0.0.1", 80)).await.unwrap().collect()),
            [v4]
        );
        assert_eq!(
            all(lookup_host(("::1".to_string(), 443))
                .await
                .unwrap()
                .collect()),
            [v6]
        );
        let ip = (IpAddr::V4(Ipv4Addr::LOCALHOST), 80);
        assert_eq!(all(lookup_host(ip).await.unwrap().collect()), [v4]);
        assert_eq!(
            all(lookup_host((Ipv4Addr::LOCALHOST, 80))
                .await
                .unwrap()
                .collect()),
            [v4]
        );
        let v4_only = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 80);
        assert_eq!(all(lookup_host(v4_only).await.unwrap().collect()), [v4]);
        assert_eq!(
            all(lookup_host([v4, v6]).await.unwrap().collect()),
            [v4, v6]
        );
        assert_eq!(
            all(lookup_host(&[v6, v4][..]).await.unwrap().collect()),
            [v6, v4]
        );
        assert_eq!(all(lookup_host(vec![v4]).await.unwrap().collect()), [v4]);
        assert_eq!(all(lookup_host(&v4).await.unwrap().collect()), [v4]);
        // A malformed string is an error found without a lookup.
        for bad in ["no-port", "host:http", "127.0.0.1:99999"] {
            let err = lookup_host(bad).await.err().expect(bad);
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{bad}: {err}");
        }
    });
}

/// A host name goes through `getaddrinfo` on the blocking pool and gives what std gives.
fn host_names_resolve_like_std(driver: Driver) {
    let _serial = serial();
    let expected: Vec<SocketAddr> = match std::net::ToSocketAddrs::to_socket_addrs("localhost:80") {
        Ok(addrs) => addrs.collect(),
        Err(e) => {
            eprintln!("skipped: this machine cannot resolve localhost ({e})");
            return;
        }
    };
    block_on(driver, async {
        let got: Vec<SocketAddr> = lookup_host("localhost:80").await.unwrap().collect();
        assert_eq!(got, expected);
        let got: Vec<SocketAddr> = lookup_host(("localhost", 80)).await.unwrap().collect();
        assert_eq!(got, expected);
    });
}

fn connect_takes_strings_tuples_and_lists(driver: Driver) {
    let _serial = serial();
    block_on(driver, async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let port = addr.port();
        let host_port = format!("localhost:{port}");
        let mut streams = vec![
            TcpStream::connect(addr).await.unwrap(),
            TcpStream::connect(format!("127.0.0.1:{port}"))
                .await
                .unwrap(),
            TcpStream::connect(("127.0.0.1", port)).await.unwrap(),
            TcpStream::connect((Ipv4Addr::LOCALHOST, port))
                .await
                .unwrap(),
            TcpStream::connect(&[addr][..]).await.unwrap(),
        ];
        if std::net::ToSocketAddrs::to_socket_addrs(&host_port).is_ok_and(|mut a| {
            a.any(|a| a == addr) // localhost has 127.0.0.1 among its addresses
        }) {
            streams.push(TcpStream::connect(host_port.as_str()).await.unwrap());
        }
        for stream in &streams {
            assert_eq!(stream.peer_addr().unwrap(), addr);
            let (server, peer) = listener.accept().await.unwrap();
            assert_eq!(peer, stream.local_addr().unwrap());
            drop(server);
        }
    });
}

/// Like std: each address in turn until one connects; the last error if none does.
fn connect_tries_each_address(driver: Driver) {
    let _serial = serial();
    block_on(driver, async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let good = listener.local_addr().unwrap();
        let (bad1, bad2) = (closed_port(), closed_port());
        let stream = TcpStream::connect([bad1, bad2, good]).await.unwrap();
        assert_eq!(stream.peer_addr().unwrap(), good);
        let err = TcpStream::connect([bad1, bad2]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
        let none: [SocketAddr; 0] = [];
        let err = TcpStream::connect(none).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
    });
}

/// The synchronous binds never block: literal addresses bind, a host name is refused.
fn binds_take_literals_and_refuse_names(driver: Driver) {
    let _serial = serial();
    block_on(driver, async {
        let l = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        assert!(l.local_addr().unwrap().ip().is_loopback());
        let l6 = TcpListener::bind("[::1]:0");
        if let Ok(l6) = l6 {
            assert!(l6.local_addr().unwrap().is_ipv6());
        }
        let u = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        assert!(u.local_addr().unwrap().ip().is_loopback());
        let err = TcpListener::bind("localhost:0").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("lookup_host"), "{err}");
        let err = UdpSocket::bind(("localhost", 0)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        // Resolved first, a name binds.
        let addrs: Vec<_> = lookup_host("127.0.0.1:0").await.unwrap().collect();
        TcpListener::bind(&addrs[..]).unwrap();
    });
}

fn udp_connect_and_send_to_take_names(driver: Driver) {
    let _serial = serial();
    block_on(driver, async {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b_port = b.local_addr().unwrap().port();
        let (res, _) = a.send_to(&b"one"[..], format!("127.0.0.1:{b_port}")).await;
        assert_eq!(res.unwrap(), 3);
        let (res, _) = a.send_to(&b"two"[..], ("127.0.0.1", b_port)).await;
        assert_eq!(res.unwrap(), 3);
        for want in [&b"one"[..], b"two"] {
            let (res, buf) = b.recv_from(Vec::with_capacity(8)).await;
            assert_eq!(res.unwrap(), (3, a.local_addr().unwrap()));
            assert_eq!(buf, want);
        }
        a.connect(format!("127.0.0.1:{b_port}")).await.unwrap();
        assert_eq!(a.peer_addr().unwrap(), b.local_addr().unwrap());
        let (res, _) = a.send(&b"three"[..]).await;
        assert_eq!(res.unwrap(), 5);
        let (res, buf) = b.recv(Vec::with_capacity(8)).await;
        assert_eq!(&buf[..res.unwrap()], b"three");
        let (res, buf) = a.send_to(&b"x"[..], "nowhere").await;
        assert_eq!(res.unwrap_err().kind(), io::ErrorKind::InvalidInput);
        assert_eq!(buf, b"x");
    });
}

/// A listener whose accept queue is full: SYNs to it are dropped, so a connect to it stays
/// pending (the kernel retries the SYN for minutes). `None` when this machine's stack
/// completes such connects anyway; the reason is printed.
async fn blackhole() -> Option<(TcpListener, Vec<TcpStream>, SocketAddr)> {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let addr = listener.local_addr().unwrap();
    // Backlog 0 admits one connection; the ones after it wait for their SYN-ACK. Probe
    // until a connect stays pending, holding those that got through.
    let mut fill = Vec::new();
    for _ in 0..4 {
        let probe = TcpStream::connect(addr);
        match proactor::time::timeout(Duration::from_millis(100), probe).await {
            Err(_elapsed) => return Some((listener, fill, addr)),
            Ok(stream) => fill.push(stream.unwrap()),
        }
    }
    eprintln!("skipped: connects to a listener with a full accept queue complete here");
    None
}

fn connect_timeout_times_out_on_a_full_backlog(driver: Driver) {
    let _serial = serial();
    block_on(driver, async {
        let Some((_listener, _fill, addr)) = blackhole().await else {
            return;
        };
        let err = TcpStream::connect_timeout(addr, Duration::from_millis(20))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
        // Within the timeout, a connect that can complete does.
        let ok = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = ok.local_addr().unwrap();
        let stream = TcpStream::connect_timeout(addr, Duration::from_secs(10)).await;
        assert_eq!(stream.unwrap().peer_addr().unwrap(), addr);
    });
}

/// Many connects dropped by their timeout while the kernel still waits for the SYN-ACK:
/// each is cancelled in the kernel (io_uring: `ASYNC_CANCEL`; epoll: its waiter forgotten)
/// and its socket closed: the runtime holds no op afterwards and no descriptor leaks.
fn timed_out_connects_leak_nothing(driver: Driver) {
    let _serial = serial();
    block_on(driver, async {
        let Some((_listener, _fill, addr)) = blackhole().await else {
            return;
        };
        let base = proactor::runtime::stats().ops_in_flight;
        let before = open_fds();
        for i in 0..64 {
            let pause = Duration::from_millis(1 + i % 3);
            if i % 2 == 0 {
                let res = TcpStream::connect_timeout(addr, pause).await;
                assert_eq!(res.unwrap_err().kind(), io::ErrorKind::TimedOut);
            } else {
                let res = proactor::time::timeout(pause, TcpStream::connect(addr)).await;
                assert!(res.is_err(), "connect {i} completed");
            }
        }
        until(|| open_fds() <= before && proactor::runtime::stats().ops_in_flight <= base).await;
        assert_eq!(open_fds(), before);
    });
}

on_each_driver!(
    literal_lookups_need_no_pool,
    host_names_resolve_like_std,
    connect_takes_strings_tuples_and_lists,
    connect_tries_each_address,
    binds_take_literals_and_refuse_names,
    udp_connect_and_send_to_take_names,
    connect_timeout_times_out_on_a_full_backlog,
    timed_out_connects_leak_nothing,
);
