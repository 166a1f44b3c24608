//! Socket set-up: `TcpSocket` (options, bind, connect, listen, the fd conversions), the
//! deprecated `ListenOptions` / `bind_with` still working, and `UdpSocket`'s broadcast,
//! TTL and multicast options.

mod util;

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::time::Duration;

use proactor::net::{TcpListener, TcpSocket, TcpStream, UdpSocket};
use proactor::Driver;
use util::block_on;

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// Writes `msg` on `a` and reads it back on `b`.
async fn carries(a: &TcpStream, b: &TcpStream, msg: &'static [u8]) {
    let (res, _) = a.write_all(msg).await;
    res.unwrap();
    let (res, buf) = b.read_exact(Vec::with_capacity(msg.len())).await;
    res.unwrap();
    assert_eq!(buf, msg);
}

fn options_read_back(driver: Driver) {
    block_on(driver, async {
        let s = TcpSocket::new_v4().unwrap();
        s.set_reuseaddr(true).unwrap();
        assert!(s.reuseaddr().unwrap());
        s.set_reuseport(true).unwrap();
        assert!(s.reuseport().unwrap());
        s.set_keepalive(true).unwrap();
        assert!(s.keepalive().unwrap());
        s.set_nodelay(true).unwrap();
        assert!(s.nodelay().unwrap());
        s.set_linger(Some(Duration::from_secs(3))).unwrap();
        assert_eq!(s.linger().unwrap(), Some(Duration::from_secs(3)));
        s.set_linger(None).unwrap();
        assert_eq!(s.linger().unwrap(), None);
        // The kernel doubles the sizes asked for (within its limits): at least as much.
        s.set_send_buffer_size(64 * 1024).unwrap();
        assert!(s.send_buffer_size().unwrap() >= 64 * 1024);
        s.set_recv_buffer_size(64 * 1024).unwrap();
        assert!(s.recv_buffer_size().unwrap() >= 64 * 1024);
        assert!(s.take_error().unwrap().is_none());
        s.bind(loopback()).unwrap();
        assert_ne!(s.local_addr().unwrap().port(), 0);
        if let Ok(s6) = TcpSocket::new_v6() {
            if s6.bind("[::1]:0".parse().unwrap()).is_ok() {
                assert!(s6.local_addr().unwrap().is_ipv6());
            }
        }
    });
}

fn connect_and_listen(driver: Driver) {
    block_on(driver, async {
        let server = TcpSocket::new_v4().unwrap();
        server.bind(loopback()).unwrap();
        let listener = server.listen(16).unwrap();
        let addr = listener.local_addr().unwrap();

        // A client from a chosen source address, with its options kept once connected.
        let client = TcpSocket::new_v4().unwrap();
        client.set_nodelay(true).unwrap();
        client.bind(loopback()).unwrap();
        let source = client.local_addr().unwrap();
        let stream = client.connect(addr).await.unwrap();
        assert!(stream.nodelay().unwrap());
        assert_eq!(stream.local_addr().unwrap(), source);
        let (accepted, peer) = listener.accept().await.unwrap();
        assert_eq!(peer, source);
        carries(&stream, &accepted, b"hello").await;

        let refused = TcpSocket::new_v4().unwrap();
        let err = refused.connect(closed_port()).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    });
}

fn closed_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// Two listeners on one port with `SO_REUSEPORT`; without it the second bind fails.
fn reuseport_shares_a_port(driver: Driver) {
    block_on(driver, async {
        let listen = |addr: SocketAddr, reuse: bool| {
            let s = TcpSocket::new_v4()?;
            s.set_reuseport(reuse)?;
            s.bind(addr)?;
            s.listen(8)
        };
        let first = listen(loopback(), true).unwrap();
        let addr = first.local_addr().unwrap();
        let second = listen(addr, true).unwrap();
        assert_eq!(second.local_addr().unwrap(), addr);
        let err = listen(addr, false).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    });
}

fn fd_conversions(driver: Driver) {
    block_on(driver, async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();

        // A socket through a raw fd and back.
        let s = TcpSocket::new_v4().unwrap();
        let raw = s.into_raw_fd();
        // SAFETY: `raw` came from `into_raw_fd` just above and nothing else owns it.
        let s = unsafe { TcpSocket::from_raw_fd(raw) };
        assert_eq!(s.as_raw_fd(), raw);
        assert_eq!(s.as_fd().as_raw_fd(), raw);
        let fd = OwnedFd::from(s);
        let s = TcpSocket::from(fd);
        let stream = s.connect(addr).await.unwrap();
        let (accepted, _) = listener.accept().await.unwrap();
        carries(&accepted, &stream, b"raw").await;

        // A blocking std stream: its options through `from_std_stream`, and it is
        // non-blocking once it is a runtime stream again.
        let std_stream = std::net::TcpStream::connect(addr).unwrap();
        let (accepted, _) = listener.accept().await.unwrap();
        let s = TcpSocket::from_std_stream(std_stream);
        s.set_nodelay(true).unwrap();
        let stream = TcpStream::from_std(std::net::TcpStream::from(OwnedFd::from(s))).unwrap();
        assert!(stream.nodelay().unwrap());
        carries(&accepted, &stream, b"std").await;
    });
}

/// The old names still bind, as thin wrappers over `TcpSocket`.
#[allow(deprecated)]
fn deprecated_listen_options_still_bind(driver: Driver) {
    block_on(driver, async {
        let opts = proactor::net::ListenOptions::new()
            .reuse_port(true)
            .backlog(8);
        let a = TcpListener::bind_with("127.0.0.1:0", opts).unwrap();
        let addr = a.local_addr().unwrap();
        let b = TcpListener::bind_with(addr, opts).unwrap();
        assert_eq!(b.local_addr().unwrap(), addr);
        let stream = TcpStream::connect(addr).await.unwrap();
        drop(stream);
    });
}

fn udp_options_read_back(driver: Driver) {
    block_on(driver, async {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        a.set_broadcast(true).unwrap();
        assert!(a.broadcast().unwrap());
        a.set_broadcast(false).unwrap();
        assert!(!a.broadcast().unwrap());
        a.set_ttl(7).unwrap();
        assert_eq!(a.ttl().unwrap(), 7);
        a.set_multicast_ttl_v4(3).unwrap();
        assert_eq!(a.multicast_ttl_v4().unwrap(), 3);
        a.set_multicast_loop_v4(false).unwrap();
        assert!(!a.multicast_loop_v4().unwrap());
        a.set_multicast_loop_v4(true).unwrap();
        assert!(a.multicast_loop_v4().unwrap());
        assert!(a.take_error().unwrap().is_none());
        if let Ok(b) = UdpSocket::bind("[::1]:0") {
            b.set_multicast_loop_v6(false).unwrap();
            assert!(!b.multicast_loop_v6().unwrap());
        }
    });
}

/// Without `SO_BROADCAST` a send to a broadcast address is refused by the kernel; with it
/// the kernel lets it through to routing (which may have no route for it here).
fn broadcast_needs_the_option(driver: Driver) {
    block_on(driver, async {
        let a = UdpSocket::bind("0.0.0.0:0").unwrap();
        let target: SocketAddr = "255.255.255.255:9".parse().unwrap();
        let (res, _) = a.send_to(&b"x"[..], target).await;
        assert_eq!(res.unwrap_err().kind(), io::ErrorKind::PermissionDenied);
        a.set_broadcast(true).unwrap();
        let (res, _) = a.send_to(&b"x"[..], target).await;
        if let Err(e) = res {
            assert_ne!(e.kind(), io::ErrorKind::PermissionDenied, "{e}");
        }
    });
}

/// A datagram to a group this host joined comes back over loopback.
fn multicast_join_receive_leave(driver: Driver) {
    block_on(driver, async {
        let group = Ipv4Addr::new(239, 255, 42, 99);
        let rx = UdpSocket::bind("0.0.0.0:0").unwrap();
        let port = rx.local_addr().unwrap().port();
        if let Err(e) = rx.join_multicast_v4(group, Ipv4Addr::LOCALHOST) {
            eprintln!("skipped: cannot join a multicast group on loopback here ({e})");
            return;
        }
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        tx.set_multicast_loop_v4(true).unwrap();
        socket2::SockRef::from(&tx)
            .set_multicast_if_v4(&Ipv4Addr::LOCALHOST)
            .unwrap();
        let (res, _) = tx.send_to(&b"group"[..], (group, port)).await;
        if let Err(e) = res {
            eprintln!("skipped: no multicast route over loopback here ({e})");
            return;
        }
        let recv = rx.recv_from(Vec::with_capacity(16));
        match proactor::time::timeout(Duration::from_secs(2), recv).await {
            Ok((res, buf)) => {
                res.unwrap();
                assert_eq!(buf, b"group");
            }
            Err(_) => eprintln!("skipped: multicast over loopback is not delivered here"),
        }
        rx.leave_multicast_v4(group, Ipv4Addr::LOCALHOST).unwrap();
        let err = rx
            .leave_multicast_v4(group, Ipv4Addr::LOCALHOST)
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EADDRNOTAVAIL), "{err}");

        if let Ok(rx6) = UdpSocket::bind("[::]:0") {
            let group6: Ipv6Addr = "ff02::4242".parse().unwrap();
            match rx6.join_multicast_v6(&group6, 1) {
                Ok(()) => rx6.leave_multicast_v6(&group6, 1).unwrap(),
                Err(e) => eprintln!("skipped the IPv6 group: {e}"),
            }
        }
    });
}

on_each_driver!(
    options_read_back,
    connect_and_listen,
    reuseport_shares_a_port,
    fd_conversions,
    deprecated_listen_options_still_bind,
    udp_options_read_back,
    broadcast_needs_the_option,
    multicast_join_receive_leave,
);
