//! UDP: [`UdpSocket`].

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use socket2::{Domain, SockAddr, Type};

use crate::buf::{IoBuf, IoBufMut};
use crate::net::addr::{each_addr, resolve, resolve_now, Resolve, ToSocketAddrs};
use crate::net::future::{Read, RecvFrom, RecvMsg, SendMsg, SendTo, Write};
use crate::net::socket::Socket;

/// A UDP socket.
///
/// ```
/// # proactor::block_on(async {
/// use proactor::net::UdpSocket;
/// let a = UdpSocket::bind("127.0.0.1:0")?;
/// let b = UdpSocket::bind("127.0.0.1:0")?;
/// let (res, _) = a.send_to(b"hi".as_slice(), b.local_addr()?).await;
/// res?;
/// let (res, buf) = b.recv_from(Vec::with_capacity(16)).await;
/// assert_eq!(res?, (2, a.local_addr()?));
/// assert_eq!(buf, b"hi");
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct UdpSocket {
    inner: Socket,
}

impl UdpSocket {
    /// Binds to `addr` (the first of its addresses that works). Synchronous, and it never
    /// blocks: `addr` is a literal address (`"0.0.0.0:0"`, a [`SocketAddr`]); a host name is
    /// refused with `InvalidInput` (look it up with [`lookup_host`](super::lookup_host)).
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        let addrs = resolve_now(&addr, "UdpSocket::bind")?;
        each_addr(addrs, |addr| {
            let socket = Socket::create(Domain::for_address(addr), Type::DGRAM)?;
            socket.bind(&addr.into())?;
            Ok(UdpSocket {
                inner: Socket::from_socket2(socket)?,
            })
        })
    }

    /// Wraps a std socket (made non-blocking).
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
        Ok(UdpSocket {
            inner: Socket::from_socket2(socket.into())?,
        })
    }

    /// Sets the default destination for [`send`](UdpSocket::send) and the only source
    /// [`recv`](UdpSocket::recv) accepts: the first of `addr`'s addresses that works. A host
    /// name is looked up on the blocking pool; the connect itself never blocks.
    pub async fn connect(&self, addr: impl ToSocketAddrs) -> io::Result<()> {
        let addrs = resolve(&addr).await?;
        let sock = self.inner.sock_ref();
        each_addr(addrs, |addr| sock.connect(&addr.into()))
    }

    /// Sends one datagram of `buf`'s initialised bytes to `target`: a [`SocketAddr`], or any
    /// [`ToSocketAddrs`] (a host name is looked up on the blocking pool, and the datagram
    /// goes to its first address, as tokio does). Takes a deadline with [`SendTo::timeout`].
    pub fn send_to<B: IoBuf>(&self, buf: B, target: impl ToSocketAddrs) -> SendTo<B> {
        SendTo::new(self.inner.fd(), buf, Resolve::new(&target))
    }

    /// Receives one datagram into `buf`; returns its length and sender. A datagram longer
    /// than the buffer's capacity is truncated. Takes a deadline with
    /// [`RecvFrom::timeout`].
    pub fn recv_from<B: IoBufMut>(&self, buf: B) -> RecvFrom<B> {
        RecvFrom::new(self.inner.recv_from(buf))
    }

    /// Sends one datagram of the initialised bytes of several buffers, in order, to `addr`
    /// (`sendmsg`, without ancillary data).
    pub fn send_msg<B: IoBuf>(&self, bufs: Vec<B>, addr: SocketAddr) -> SendMsg<B> {
        SendMsg::new(self.inner.send_msg(bufs, SockAddr::from(addr)))
    }

    /// Receives one datagram into several buffers, each filled to its capacity before the
    /// next (`recvmsg`, without ancillary data); returns its length and sender. A datagram
    /// longer than the buffers' capacity together is truncated.
    pub fn recv_msg<B: IoBufMut>(&self, bufs: Vec<B>) -> RecvMsg<B> {
        RecvMsg::new(self.inner.recv_msg(bufs))
    }

    /// Sends one datagram to the connected address.
    pub fn send<B: IoBuf>(&self, buf: B) -> Write<B> {
        Write::new(self.inner.write(buf))
    }

    /// Receives one datagram from the connected address. Takes a deadline with
    /// [`Read::timeout`].
    pub fn recv<B: IoBufMut>(&self, buf: B) -> Read<B> {
        Read::new(self.inner.recv_datagram(buf))
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Socket::ip_addr(self.inner.sock_ref().local_addr()?)
    }

    /// The connected address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Socket::ip_addr(self.inner.sock_ref().peer_addr()?)
    }

    /// Takes the pending socket error (`SO_ERROR`), e.g. the ICMP "port unreachable" a
    /// connected socket's last datagram drew.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.sock_ref().take_error()
    }
}

/// Socket options: thin calls to the kernel's (through `socket2`). For others, the socket
/// is [`AsFd`](std::os::fd::AsFd): `socket2::SockRef::from(&socket)` sets any option there is.
///
/// ```
/// use std::net::Ipv4Addr;
/// let socket = proactor::net::UdpSocket::bind("0.0.0.0:0")?;
/// socket.set_broadcast(true)?;
/// socket.set_ttl(16)?;
/// socket.set_multicast_loop_v4(true)?;
/// assert!(socket.broadcast()?);
/// assert_eq!(socket.ttl()?, 16);
/// // Any other option, through socket2:
/// socket2::SockRef::from(&socket).set_multicast_if_v4(&Ipv4Addr::LOCALHOST)?;
/// # Ok::<(), std::io::Error>(())
/// ```
impl UdpSocket {
    /// Sets `SO_BROADCAST`: the socket may send to a broadcast address (without it such a
    /// send fails with `PermissionDenied`).
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.inner.sock_ref().set_broadcast(on)
    }

    /// Whether `SO_BROADCAST` is set.
    pub fn broadcast(&self) -> io::Result<bool> {
        self.inner.sock_ref().broadcast()
    }

    /// Sets `IP_TTL`, the time-to-live of the datagrams sent (IPv4).
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.inner.sock_ref().set_ttl_v4(ttl)
    }

    /// The `IP_TTL` of the datagrams sent (IPv4).
    pub fn ttl(&self) -> io::Result<u32> {
        self.inner.sock_ref().ttl_v4()
    }

    /// Sets `IP_MULTICAST_LOOP`: whether multicast datagrams sent come back to this host's
    /// own members of the group (IPv4).
    pub fn set_multicast_loop_v4(&self, on: bool) -> io::Result<()> {
        self.inner.sock_ref().set_multicast_loop_v4(on)
    }

    /// Whether `IP_MULTICAST_LOOP` is set (IPv4).
    pub fn multicast_loop_v4(&self) -> io::Result<bool> {
        self.inner.sock_ref().multicast_loop_v4()
    }

    /// Sets `IP_MULTICAST_TTL`, the time-to-live of multicast datagrams (1: this subnet).
    pub fn set_multicast_ttl_v4(&self, ttl: u32) -> io::Result<()> {
        self.inner.sock_ref().set_multicast_ttl_v4(ttl)
    }

    /// The `IP_MULTICAST_TTL` of multicast datagrams (IPv4).
    pub fn multicast_ttl_v4(&self) -> io::Result<u32> {
        self.inner.sock_ref().multicast_ttl_v4()
    }

    /// Sets `IPV6_MULTICAST_LOOP`: whether multicast datagrams sent come back to this host's
    /// own members of the group (IPv6).
    pub fn set_multicast_loop_v6(&self, on: bool) -> io::Result<()> {
        self.inner.sock_ref().set_multicast_loop_v6(on)
    }

    /// Whether `IPV6_MULTICAST_LOOP` is set.
    pub fn multicast_loop_v6(&self) -> io::Result<bool> {
        self.inner.sock_ref().multicast_loop_v6()
    }

    /// Joins the IPv4 multicast group `multiaddr` on the interface with address `interface`
    /// (`Ipv4Addr::UNSPECIFIED`: the kernel's choice), `IP_ADD_MEMBERSHIP`.
    pub fn join_multicast_v4(&self, multiaddr: Ipv4Addr, interface: Ipv4Addr) -> io::Result<()> {
        self.inner
            .sock_ref()
            .join_multicast_v4(&multiaddr, &interface)
    }

    /// Leaves an IPv4 multicast group joined with
    /// [`join_multicast_v4`](UdpSocket::join_multicast_v4).
    pub fn leave_multicast_v4(&self, multiaddr: Ipv4Addr, interface: Ipv4Addr) -> io::Result<()> {
        self.inner
            .sock_ref()
            .leave_multicast_v4(&multiaddr, &interface)
    }

    /// Joins the IPv6 multicast group `multiaddr` on the interface of index `interface` (0:
    /// the kernel's choice), `IPV6_ADD_MEMBERSHIP`.
    pub fn join_multicast_v6(&self, multiaddr: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.inner
            .sock_ref()
            .join_multicast_v6(multiaddr, interface)
    }

    /// Leaves an IPv6 multicast group joined with
    /// [`join_multicast_v6`](UdpSocket::join_multicast_v6).
    pub fn leave_multicast_v6(&self, multiaddr: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.inner
            .sock_ref()
            .leave_multicast_v6(multiaddr, interface)
    }
}

impl UdpSocket {
    fn socket(&self) -> &Socket {
        &self.inner
    }

    fn from_socket(inner: Socket) -> UdpSocket {
        UdpSocket { inner }
    }

    fn into_socket(self) -> io::Result<Socket> {
        Ok(self.inner)
    }
}

super::raw::fd_traits!(UdpSocket, std::net::UdpSocket);
