//! The readiness half of the socket ops, without a driver: `syscall()` runs the
//! non-blocking call (WouldBlock when not ready), `complete()` turns its result into the
//! output. This is what the epoll driver drives.

use std::io;
use std::net::Shutdown as How;
use std::os::fd::OwnedFd;

use socket2::{Domain, SockAddr, Socket, Type};

use super::{
    accept::Accept, close::Close, connect::Connect, recv::Recv, recv_from::RecvFrom, send::Send,
    send_msg::SendMsg, shutdown::Shutdown,
};
use crate::driver::{Completion, Interest, Mode, OpCode, ReadyOp, SharedFd};
use crate::sys::syscall;

fn done(result: io::Result<u32>) -> Completion {
    Completion::of(result)
}

fn nonblocking(domain: Domain, ty: Type) -> Socket {
    Socket::new(domain, ty.nonblocking(), None).unwrap()
}

fn shared(s: Socket) -> SharedFd {
    SharedFd::new(OwnedFd::from(s))
}

fn would_block(res: io::Result<u32>) -> bool {
    matches!(res, Err(e) if e.kind() == io::ErrorKind::WouldBlock)
}

/// Waits (bounded) until `fd` is ready in `interest`'s direction.
fn wait_ready(fd: &SharedFd, interest: Interest) {
    let events = match interest {
        Interest::Read => libc::POLLIN,
        Interest::Write => libc::POLLOUT,
    };
    let mut pfd = libc::pollfd {
        fd: fd.raw(),
        events,
        revents: 0,
    };
    // SAFETY: `pfd` is a live pollfd for the duration of the call.
    let n = syscall!(poll(&mut pfd, 1, 10_000)).unwrap();
    assert_eq!(n, 1, "not ready within 10 s");
}

fn assert_readiness(mode: Mode<'_>, fd: &SharedFd, interest: Interest) {
    match mode {
        Mode::Readiness(f, i) => assert!(f.raw() == fd.raw() && i == interest),
        Mode::Immediate | Mode::Offload => panic!("expected readiness mode"),
    }
}

#[test]
fn stream_ops_on_the_readiness_path() {
    let listener = nonblocking(Domain::IPV4, Type::STREAM);
    listener
        .bind(
            &"127.0.0.1:0"
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .into(),
        )
        .unwrap();
    listener.listen(16).unwrap();
    let addr = listener.local_addr().unwrap();
    let listener = shared(listener);

    let mut accept = Accept::new(&listener);
    assert_readiness(accept.mode(), &listener, Interest::Read);
    assert!(would_block(accept.syscall()), "nothing to accept yet");

    let client = shared(nonblocking(Domain::IPV4, Type::STREAM));
    let mut connect = Connect::new(&client, addr.clone());
    assert_readiness(connect.mode(), &client, Interest::Write);
    match connect.syscall() {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            wait_ready(&client, Interest::Write);
            connect.syscall().expect("SO_ERROR after writable");
        }
        Err(e) => panic!("connect: {e}"),
    }
    connect.complete(done(Ok(0))).unwrap();

    wait_ready(&listener, Interest::Read);
    let res = accept.syscall();
    let (server, peer) = accept.complete(done(res)).unwrap();
    assert_eq!(
        peer.as_socket(),
        Socket::from(client_dup(&client))
            .local_addr()
            .unwrap()
            .as_socket()
    );
    let server = SharedFd::new(server);

    let mut recv = Recv::new(&server, Vec::with_capacity(16));
    assert_readiness(recv.mode(), &server, Interest::Read);
    assert!(would_block(recv.syscall()), "no data yet");
    let mut send = Send::new(&client, b"ready".as_slice());
    assert_readiness(send.mode(), &client, Interest::Write);
    let res = send.syscall();
    assert_eq!(send.complete(done(res)).0.unwrap(), 5);
    wait_ready(&server, Interest::Read);
    let res = recv.syscall();
    let (n, buf) = recv.complete(done(res));
    assert_eq!((n.unwrap(), &buf[..]), (5, &b"ready"[..]));

    let mut shutdown = Shutdown::new(&client, How::Write);
    assert!(matches!(shutdown.mode(), Mode::Immediate));
    shutdown.syscall().unwrap();
    let mut eof = Recv::new(&server, Vec::with_capacity(4));
    wait_ready(&server, Interest::Read);
    assert_eq!(eof.syscall().unwrap(), 0);
}

fn client_dup(fd: &SharedFd) -> OwnedFd {
    use std::os::fd::AsFd;
    fd.as_fd().try_clone_to_owned().unwrap()
}

#[test]
fn refused_connect_reports_so_error() {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = SockAddr::from(probe.local_addr().unwrap());
    drop(probe);
    let client = shared(nonblocking(Domain::IPV4, Type::STREAM));
    let mut connect = Connect::new(&client, addr);
    let err = match connect.syscall() {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            wait_ready(&client, Interest::Write);
            connect.syscall().unwrap_err()
        }
        other => other.unwrap_err(),
    };
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
}

#[test]
fn datagram_ops_on_the_readiness_path() {
    let bind = |s: &Socket| {
        s.bind(
            &"127.0.0.1:0"
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .into(),
        )
        .unwrap();
        s.local_addr().unwrap()
    };
    let (a, b) = (
        nonblocking(Domain::IPV4, Type::DGRAM),
        nonblocking(Domain::IPV4, Type::DGRAM),
    );
    let (a_addr, b_addr) = (bind(&a), bind(&b));
    let (a, b) = (shared(a), shared(b));
    let mut recv = RecvFrom::new(&b, Vec::with_capacity(32));
    assert_readiness(recv.mode(), &b, Interest::Read);
    assert!(would_block(recv.syscall()));
    let mut send = SendMsg::to(&a, b"datagram".as_slice(), b_addr);
    assert_readiness(send.mode(), &a, Interest::Write);
    let res = send.syscall();
    assert_eq!(send.complete(done(res)).0.unwrap(), 8);
    wait_ready(&b, Interest::Read);
    let res = recv.syscall();
    let (res, buf) = recv.complete(done(res));
    let (n, from) = res.unwrap();
    assert_eq!((n, &buf[..]), (8, &b"datagram"[..]));
    assert_eq!(from.as_socket(), a_addr.as_socket());
}

#[test]
fn close_on_the_readiness_path() {
    let (a, b) = Socket::pair(Domain::UNIX, Type::STREAM.nonblocking(), None).unwrap();
    let mut close = Close::new(OwnedFd::from(a));
    assert!(matches!(close.mode(), Mode::Immediate));
    close.syscall().unwrap();
    close.complete(done(Ok(0))).unwrap();
    // The peer sees EOF: the descriptor really was closed.
    let b = shared(b);
    let mut eof = Recv::new(&b, Vec::with_capacity(4));
    wait_ready(&b, Interest::Read);
    assert_eq!(eof.syscall().unwrap(), 0);
}

#[test]
fn an_einval_of_the_ring_means_the_opcode_is_lacking() {
    use super::{is_lacking_on_ring, lacking_on_ring};
    let einval = || Err(std::io::Error::from_raw_os_error(libc::EINVAL));
    let lacking = lacking_on_ring(einval(), true).unwrap_err();
    assert!(is_lacking_on_ring(&lacking), "{lacking}");
    assert_eq!(lacking.kind(), std::io::ErrorKind::Unsupported);
    // The system call's own EINVAL, on the pool, is the call's error.
    let own = lacking_on_ring(einval(), false).unwrap_err();
    assert!(!is_lacking_on_ring(&own));
    assert_eq!(own.raw_os_error(), Some(libc::EINVAL));
    assert_eq!(lacking_on_ring(Ok(3), true).unwrap(), 3);
    let other = Err(std::io::Error::from_raw_os_error(libc::ENOENT));
    assert!(!is_lacking_on_ring(
        &lacking_on_ring(other, true).unwrap_err()
    ));
}
