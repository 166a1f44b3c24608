//! The descriptor side of every socket type and of `fs::File`: `socket2::SockRef` through
//! `AsFd`, `into_std` / `from_std`, `into_raw_fd` / `from_raw_fd`, and `into_std` refusing a
//! descriptor an operation still uses.

mod util;

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, IntoRawFd};
use std::time::Duration;

use proactor::buf::BufRing;
use proactor::net::{TcpListener, TcpStream, UdpSocket, UnixDatagram, UnixListener, UnixStream};
use proactor::Driver;
use socket2::SockRef;
use util::block_on;

fn socket_options_through_sockref(driver: Driver) {
    block_on(driver, async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let sock = SockRef::from(&stream);
        sock.set_keepalive(true).unwrap();
        assert!(sock.keepalive().unwrap());
        sock.set_tcp_keepalive(&socket2::TcpKeepalive::new().with_time(Duration::from_secs(30)))
            .unwrap();
        sock.set_send_buffer_size(256 * 1024).unwrap();
        assert!(sock.send_buffer_size().unwrap() >= 256 * 1024);
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        SockRef::from(&udp).set_ttl_v4(7).unwrap();
        assert_eq!(SockRef::from(&udp).ttl_v4().unwrap(), 7);
        let (a, _b) = UnixStream::pair().unwrap();
        SockRef::from(&a).set_recv_buffer_size(64 * 1024).unwrap();
        assert_eq!(a.as_fd().as_raw_fd(), a.as_raw_fd());
        assert_eq!(
            SockRef::from(&listener).local_addr().unwrap().as_socket(),
            listener.local_addr().ok()
        );
    });
}

fn into_std_and_back(driver: Driver) {
    block_on(driver, async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let std_listener = listener.into_std().unwrap();
        let listener = TcpListener::from_std(std_listener).unwrap();
        let stream = TcpStream::connect(addr).await.unwrap();
        let (accepted, _) = listener.accept().await.unwrap();
        let mut std_stream = stream.into_std().unwrap();
        std_stream.set_nonblocking(false).unwrap();
        std_stream.write_all(b"from std").unwrap();
        let (res, buf) = accepted.read_exact(Vec::with_capacity(8)).await;
        res.unwrap();
        assert_eq!(buf, b"from std");
        let back = TcpStream::from_std(std_stream).unwrap();
        let (res, _) = back.write_all(b"back".as_slice()).await;
        res.unwrap();
        let mut std_accepted = accepted.into_std().unwrap();
        std_accepted.set_nonblocking(false).unwrap();
        let mut four = [0u8; 4];
        std_accepted.read_exact(&mut four).unwrap();
        assert_eq!(&four, b"back");

        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let udp = UdpSocket::from_std(udp.into_std().unwrap()).unwrap();
        assert!(udp.local_addr().is_ok());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.sock");
        let unix = UnixListener::bind(&path).unwrap();
        let unix = UnixListener::from_std(unix.into_std().unwrap()).unwrap();
        let _client = UnixStream::connect(&path).await.unwrap();
        let (_conn, _) = unix.accept().await.unwrap();
        let (d1, d2) = UnixDatagram::pair().unwrap();
        let d1 = UnixDatagram::from_std(d1.into_std().unwrap()).unwrap();
        let (res, _) = d1.send(b"dgram".as_slice()).await;
        res.unwrap();
        let (res, buf) = d2.recv(Vec::with_capacity(16)).await;
        assert_eq!(res.unwrap(), 5);
        assert_eq!(buf, b"dgram");
    });
}

fn raw_fd_round_trip(driver: Driver) {
    block_on(driver, async {
        let (a, b) = UnixStream::pair().unwrap();
        let raw = a.into_raw_fd();
        // SAFETY: `raw` was just given up by `into_raw_fd`; this is its one owner.
        let a = unsafe { UnixStream::from_raw_fd(raw) };
        let (res, _) = a.write_all(b"raw".as_slice()).await;
        res.unwrap();
        let (res, buf) = b.read_exact(Vec::with_capacity(3)).await;
        res.unwrap();
        assert_eq!(buf, b"raw");
        // A blocking descriptor handed over is made non-blocking (epoll needs it).
        let (s1, _s2) = std::os::unix::net::UnixStream::pair().unwrap();
        // SAFETY: the descriptor is moved out of `s1`, which no longer owns it.
        let s = unsafe { UnixStream::from_raw_fd(s1.into_raw_fd()) };
        // SAFETY: F_GETFL only reads the flags of a descriptor `s` keeps open.
        let flags = unsafe { libc::fcntl(s.as_raw_fd(), libc::F_GETFL) };
        assert!(flags & libc::O_NONBLOCK != 0);
    });
}

/// A descriptor still used by a live receive stream or accept stream is not handed out.
fn into_std_refuses_a_busy_descriptor(driver: Driver) {
    block_on(driver, async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let pool = BufRing::builder().count(4).size(1024).build().unwrap();
        let recv = stream.recv_multi(&pool);
        let err = stream.into_std().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ResourceBusy, "{err}");
        drop(recv);
        let incoming = listener.incoming();
        let err = listener.into_std().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ResourceBusy, "{err}");
        drop(incoming);
    });
}

fn file_from_std_and_back(driver: Driver) {
    block_on(driver, async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"file contents").unwrap();
        let file = proactor::fs::File::from_std(std::fs::File::open(&path).unwrap());
        let (res, buf) = file.read_at(Vec::with_capacity(4), 5).await;
        assert_eq!(res.unwrap(), 4);
        assert_eq!(buf, b"cont");
        assert!(file.as_fd().as_raw_fd() >= 0);
        let mut std_file = file.try_into_std().expect("no operation uses the file");
        let mut all = String::new();
        std_file.read_to_string(&mut all).unwrap();
        assert_eq!(all, "file contents");
        // SAFETY: the descriptor is moved out of `std_file`, which no longer owns it.
        let file = unsafe { proactor::fs::File::from_raw_fd(std_file.into_raw_fd()) };
        assert_eq!(file.metadata().await.unwrap().len(), 13);
        let raw = file.into_raw_fd();
        // SAFETY: `raw` was given up by `into_raw_fd`; closing it here is its one close.
        drop(unsafe { std::fs::File::from_raw_fd(raw) });
    });
}

on_each_driver!(
    socket_options_through_sockref,
    into_std_and_back,
    raw_fd_round_trip,
    into_std_refuses_a_busy_descriptor,
    file_from_std_and_back,
);
