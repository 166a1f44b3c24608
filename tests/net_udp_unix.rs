//! UDP and Unix-socket round trips.

mod util;

use std::net::Shutdown;
use std::path::PathBuf;

use proactor::net::{UdpSocket, UnixDatagram, UnixListener, UnixStream};
use std::time::Duration;

use proactor::time::timeout;
use proactor::{spawn, Driver};
use util::block_on;

/// A fresh socket path; unique per call, since each test runs once per driver in parallel.
fn temp_path(name: &str) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("proactor-net-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{n}-{name}"));
    let _ = std::fs::remove_file(&path);
    path
}

fn udp_send_to_recv_from(driver: Driver) {
    block_on(driver, async {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        let (res, _) = a.send_to(b"ping".as_slice(), b_addr).await;
        assert_eq!(res.unwrap(), 4);
        let (res, buf) = b.recv_from(Vec::with_capacity(64)).await;
        assert_eq!(res.unwrap(), (4, a_addr));
        assert_eq!(buf, b"ping");
        let (res, _) = b.send_to(buf, a_addr).await;
        assert_eq!(res.unwrap(), 4);
        let (res, buf) = a.recv_from(vec![0u8; 2].into_boxed_slice()).await;
        assert_eq!(
            res.unwrap(),
            (2, b_addr),
            "datagram truncated to the buffer"
        );
        assert_eq!(&buf[..], b"pi");
    });
}

fn udp_connected_send_recv(driver: Driver) {
    block_on(driver, async {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        a.connect(b.local_addr().unwrap()).await.unwrap();
        b.connect(a.local_addr().unwrap()).await.unwrap();
        assert_eq!(a.peer_addr().unwrap(), b.local_addr().unwrap());
        for i in 0..10u8 {
            let (res, _) = a.send(vec![i; 100 + i as usize]).await;
            assert_eq!(res.unwrap(), 100 + i as usize);
            let (res, buf) = b.recv(Vec::with_capacity(512)).await;
            assert_eq!(res.unwrap(), 100 + i as usize);
            assert!(buf.iter().all(|&x| x == i));
        }
    });
}

fn unix_stream_round_trip(driver: Driver) {
    block_on(driver, async {
        let path = temp_path("stream.sock");
        let listener = UnixListener::bind(&path).unwrap();
        assert_eq!(
            listener.local_addr().unwrap().as_pathname(),
            Some(path.as_path())
        );
        let server = spawn(async move {
            let (stream, _peer) = listener.accept().await.unwrap();
            let mut total = 0;
            loop {
                let (res, buf) = stream.read(Vec::with_capacity(4096)).await;
                let n = res.unwrap();
                if n == 0 {
                    break;
                }
                total += n;
                let (res, _) = stream.write_all(buf).await;
                res.unwrap();
            }
            stream.shutdown(Shutdown::Write).await.unwrap();
            total
        });
        let (rd, wr) = UnixStream::connect(&path).await.unwrap().into_split();
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let expected = data.clone();
        let writer = spawn(async move {
            let (res, _) = wr.write_all(data).await;
            res.unwrap();
            wr.shutdown().await.unwrap();
        });
        let (res, back) = rd.read_exact(Vec::with_capacity(expected.len())).await;
        res.unwrap();
        assert!(back == expected);
        writer.await.unwrap();
        assert_eq!(server.await.unwrap(), expected.len());
        std::fs::remove_file(&path).unwrap();
    });
}

fn unix_pair_and_datagrams(driver: Driver) {
    block_on(driver, async {
        let (a, b) = UnixStream::pair().unwrap();
        let (res, _) = a.write_all(b"pair".as_slice()).await;
        res.unwrap();
        let (res, buf) = b.read_exact(Vec::with_capacity(4)).await;
        res.unwrap();
        assert_eq!(buf, b"pair");

        let path = temp_path("dgram.sock");
        let server = UnixDatagram::bind(&path).unwrap();
        let client_path = temp_path("dgram-client.sock");
        let client = UnixDatagram::bind(&client_path).unwrap();
        let (res, _) = client.send_to(b"hello".as_slice(), &path).await;
        assert_eq!(res.unwrap(), 5);
        let (res, buf) = server.recv_from(Vec::with_capacity(16)).await;
        let (n, from) = res.unwrap();
        assert_eq!((n, &buf[..]), (5, &b"hello"[..]));
        assert_eq!(from.as_pathname(), Some(client_path.as_path()));
        let (res, _) = server
            .send_to(b"world".as_slice(), from.as_pathname().unwrap())
            .await;
        res.unwrap();
        let (res, buf) = client.recv(Vec::with_capacity(16)).await;
        assert_eq!(res.unwrap(), 5);
        assert_eq!(buf, b"world");

        let (x, y) = UnixDatagram::pair().unwrap();
        let (res, _) = x.send(b"dg".as_slice()).await;
        res.unwrap();
        let (res, buf) = y.recv(Vec::with_capacity(4)).await;
        assert_eq!(res.unwrap(), 2);
        assert_eq!(buf, b"dg");
        std::fs::remove_file(&path).unwrap();
        std::fs::remove_file(&client_path).unwrap();
    });
}

fn unix_connect_to_missing_path_fails(driver: Driver) {
    block_on(driver, async {
        let path = temp_path("missing.sock");
        let err = UnixStream::connect(&path).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound, "{err}");
    });
}

/// Datagrams queued before anyone reads come out one per receive, however short each is:
/// a short datagram does not mean the socket is empty (unlike a stream's short read).
fn queued_datagrams_are_all_received(driver: Driver) {
    block_on(driver, async {
        let (a, b) = UnixDatagram::pair().unwrap();
        let udp_a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let udp_b = UdpSocket::bind("127.0.0.1:0").unwrap();
        udp_a.connect(udp_b.local_addr().unwrap()).await.unwrap();
        udp_b.connect(udp_a.local_addr().unwrap()).await.unwrap();
        // A receive that finds nothing first: on epoll the sockets are registered and
        // known empty from then on, until an edge.
        let idle = Duration::from_millis(5);
        assert!(timeout(idle, b.recv(Vec::with_capacity(64))).await.is_err());
        assert!(timeout(idle, udp_b.recv(Vec::with_capacity(64)))
            .await
            .is_err());
        for round in 0..3 {
            for i in 0..3u8 {
                a.send(vec![i; 4]).await.0.unwrap();
                udp_a.send(vec![i; 4]).await.0.unwrap();
            }
            for i in 0..3u8 {
                let got = timeout(Duration::from_secs(5), b.recv(Vec::with_capacity(64))).await;
                let (res, buf) =
                    got.unwrap_or_else(|_| panic!("round {round}: datagram {i} stuck"));
                assert_eq!((res.unwrap(), &buf[..]), (4, &[i; 4][..]));
                let got = timeout(Duration::from_secs(5), udp_b.recv(Vec::with_capacity(64))).await;
                let (res, buf) =
                    got.unwrap_or_else(|_| panic!("round {round}: UDP datagram {i} stuck"));
                assert_eq!((res.unwrap(), &buf[..]), (4, &[i; 4][..]));
            }
        }
    });
}

on_each_driver!(
    queued_datagrams_are_all_received,
    udp_send_to_recv_from,
    udp_connected_send_recv,
    unix_stream_round_trip,
    unix_pair_and_datagrams,
    unix_connect_to_missing_path_fails,
);
