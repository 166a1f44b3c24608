//! UDP: [`UdpSocket`].

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};

use socket2::{Domain, SockAddr, Type};

use crate::buf::{IoBuf, IoBufMut};
use crate::net::future::{Read, RecvFrom, RecvMsg, SendMsg, SendTo, Write};
use crate::net::socket::Socket;
use crate::net::tcp::each_addr;

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
    /// Binds to `addr` (the first of its addresses that works).
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        each_addr(addr, |addr| {
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
    /// [`recv`](UdpSocket::recv) accepts. Never blocks.
    pub async fn connect(&self, addr: impl ToSocketAddrs) -> io::Result<()> {
        let sock = self.inner.sock_ref();
        each_addr(addr, |addr| sock.connect(&addr.into()))
    }

    /// Sends one datagram of `buf`'s initialised bytes to `addr`.
    pub fn send_to<B: IoBuf>(&self, buf: B, addr: SocketAddr) -> SendTo<B> {
        SendTo::new(self.inner.send_to(buf, SockAddr::from(addr)))
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
}

impl AsRawFd for UdpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}
