//! TCP: round trips of several sizes, many concurrent clients, half-close, resets, and the
//! errors of connecting to a closed port and binding a port in use.

mod util;

use std::io;
use std::net::{Shutdown, SocketAddr};
use std::rc::Rc;

use proactor::net::{TcpListener, TcpStream};
use proactor::{spawn, Driver, JoinSet};
use util::block_on;

/// Echoes every connection until EOF, one task each.
fn serve_echo(listener: TcpListener) {
    spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            spawn(echo(stream));
        }
    });
}

async fn echo(stream: TcpStream) -> io::Result<()> {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        buf.clear();
        let (res, b) = stream.read(buf).await;
        let n = res?;
        if n == 0 {
            return stream.shutdown(Shutdown::Write).await;
        }
        let (res, b) = stream.write_all(b).await;
        res?;
        buf = b;
    }
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    serve_echo(listener);
    addr
}

/// Writes `data` and reads it back on one connection, concurrently so that large payloads
/// cannot deadlock on full socket buffers.
async fn round_trip(addr: SocketAddr, data: Vec<u8>) -> io::Result<Vec<u8>> {
    let stream = Rc::new(TcpStream::connect(addr).await?);
    let len = data.len();
    let writer = stream.clone();
    let w = spawn(async move { writer.write_all(data).await.0 });
    let (res, back) = stream.read_exact(Vec::with_capacity(len)).await;
    res?;
    w.await.expect("writer task")?;
    Ok(back)
}

fn round_trips(driver: Driver) {
    block_on(driver, async {
        let addr = echo_server();
        for (i, len) in [1, 4096, 1 << 20].into_iter().enumerate() {
            let data = pattern(len, i as u8);
            let back = round_trip(addr, data.clone()).await.unwrap();
            assert_eq!(back.len(), len);
            assert!(back == data, "echo of {len} bytes differs");
        }
    });
}

fn thousand_concurrent_clients(driver: Driver) {
    block_on(driver, async {
        let addr = echo_server();
        let mut set = JoinSet::new();
        for i in 0..1000usize {
            set.spawn(async move {
                let data = pattern(64 + i % 256, i as u8);
                let back = round_trip(addr, data.clone()).await?;
                assert!(back == data, "client {i} got wrong bytes");
                io::Result::Ok(())
            });
        }
        let mut done = 0;
        while let Some(res) = set.join_next().await {
            res.expect("client task").expect("client i/o");
            done += 1;
        }
        assert_eq!(done, 1000);
    });
}

fn half_close_still_reads_echo(driver: Driver) {
    block_on(driver, async {
        let addr = echo_server();
        let stream = TcpStream::connect(addr).await.unwrap();
        let (res, _) = stream.write_all(b"half-closed".as_slice()).await;
        res.unwrap();
        stream.shutdown(Shutdown::Write).await.unwrap();
        let mut got = Vec::new();
        loop {
            let (res, buf) = stream.read(Vec::with_capacity(64)).await;
            if res.unwrap() == 0 {
                break;
            }
            got.extend_from_slice(&buf);
        }
        assert_eq!(got, b"half-closed");
    });
}

fn peer_reset_leaves_others_fine(driver: Driver) {
    block_on(driver, async {
        let addr = echo_server();
        let good = TcpStream::connect(addr).await.unwrap();
        let bad = TcpStream::connect(addr).await.unwrap();
        let (res, _) = bad.write_all(vec![7u8; 100_000]).await;
        res.unwrap();
        // SO_LINGER 0: closing sends RST instead of FIN.
        let std_bad = std::net::TcpStream::from(dup(&bad));
        socket2::SockRef::from(&std_bad)
            .set_linger(Some(std::time::Duration::ZERO))
            .unwrap();
        drop(std_bad);
        drop(bad);
        for i in 0..3u8 {
            let data = pattern(10_000, i);
            let (res, _) = good.write_all(data.clone()).await;
            res.unwrap();
            let (res, back) = good.read_exact(Vec::with_capacity(data.len())).await;
            res.unwrap();
            assert!(back == data);
        }
        let back = round_trip(addr, b"after reset".to_vec()).await.unwrap();
        assert_eq!(back, b"after reset");
    });
}

fn dup(stream: &TcpStream) -> std::os::fd::OwnedFd {
    use std::os::fd::{AsRawFd, BorrowedFd};
    // SAFETY: the stream's fd is open for the duration of this borrow.
    let fd = unsafe { BorrowedFd::borrow_raw(stream.as_raw_fd()) };
    fd.try_clone_to_owned().unwrap()
}

fn connect_to_closed_port_is_refused(driver: Driver) {
    block_on(driver, async {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let err = TcpStream::connect(addr).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
    });
}

fn bind_port_in_use_fails(driver: Driver) {
    block_on(driver, async {
        let first = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = first.local_addr().unwrap();
        let err = TcpListener::bind(addr).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
    });
}

fn split_halves_read_and_write_concurrently(driver: Driver) {
    block_on(driver, async {
        let addr = echo_server();
        let (rd, wr) = TcpStream::connect(addr).await.unwrap().into_split();
        let data = pattern(300_000, 9);
        let expected = data.clone();
        let w = spawn(async move {
            let (res, _) = wr.write_all(data).await;
            res.unwrap();
            wr.shutdown().await.unwrap();
        });
        let (res, back) = rd.read_exact(Vec::with_capacity(expected.len())).await;
        res.unwrap();
        assert!(back == expected);
        let (res, _) = rd.read(Vec::with_capacity(8)).await;
        assert_eq!(res.unwrap(), 0, "EOF after the echo");
        w.await.unwrap();
    });
}

fn read_exact_reports_unexpected_eof(driver: Driver) {
    block_on(driver, async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            let (res, _) = s.write_all(b"abc".as_slice()).await;
            res.unwrap();
        });
        let stream = TcpStream::connect(addr).await.unwrap();
        let (res, buf) = stream.read_exact(Vec::with_capacity(10)).await;
        assert_eq!(res.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(buf, b"abc");
    });
}

fn addresses_and_options(driver: Driver) {
    block_on(driver, async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (client, (server, peer)) = {
            let c = spawn(async move { TcpStream::connect(addr).await });
            let s = listener.accept().await.unwrap();
            (c.await.unwrap().unwrap(), s)
        };
        assert_eq!(client.peer_addr().unwrap(), addr);
        assert_eq!(client.local_addr().unwrap(), peer);
        assert_eq!(server.peer_addr().unwrap(), peer);
        client.set_nodelay(true).unwrap();
        assert!(client.nodelay().unwrap());
        server.close().await.unwrap();
        let (res, _) = client.read(Vec::with_capacity(4)).await;
        assert_eq!(res.unwrap(), 0);
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let l = TcpListener::from_std(std_listener).unwrap();
        assert!(l.local_addr().unwrap().port() != 0);
    });
}

/// Connects that cannot complete at once (the listener's backlog is full, so the SYN is
/// dropped and retried) wait for the connection instead of failing with EINPROGRESS.
fn connect_waits_while_backlog_is_full(driver: Driver) {
    block_on(driver, async {
        let socket = proactor::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = socket.listen(1).unwrap();
        let addr = listener.local_addr().unwrap();
        let mut set = JoinSet::new();
        for _ in 0..4 {
            set.spawn(async move { TcpStream::connect(addr).await });
        }
        proactor::time::sleep(std::time::Duration::from_millis(50)).await;
        let mut accepted = Vec::new();
        for _ in 0..4 {
            accepted.push(listener.accept().await.unwrap());
        }
        while let Some(res) = set.join_next().await {
            res.unwrap().expect("connect");
        }
        assert_eq!(accepted.len(), 4);
    });
}

on_each_driver!(
    connect_waits_while_backlog_is_full,
    round_trips,
    thousand_concurrent_clients,
    half_close_still_reads_echo,
    peer_reset_leaves_others_fine,
    connect_to_closed_port_is_refused,
    bind_port_in_use_fails,
    split_halves_read_and_write_concurrently,
    read_exact_reports_unexpected_eof,
    addresses_and_options,
);
