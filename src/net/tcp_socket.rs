//! [`TcpSocket`]: a TCP socket set up before it connects or listens (tokio's `TcpSocket`).

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::time::Duration;

use socket2::{Domain, SockAddr, Type};

use crate::net::socket::Socket;
use crate::net::{TcpListener, TcpStream};

/// A TCP socket not yet connected or listening: set its options, [`bind`](TcpSocket::bind)
/// it if need be, then turn it into a [`TcpStream`] with [`connect`](TcpSocket::connect) or
/// a [`TcpListener`] with [`listen`](TcpSocket::listen). The shape of tokio's `TcpSocket`,
/// for what [`TcpListener::bind`] and [`TcpStream::connect`] leave at their defaults
/// (`SO_REUSEPORT`, the backlog, buffer sizes, keepalive, a source address).
///
/// The socket is non-blocking and close-on-exec from the start; setting options and
/// binding never block.
///
/// ```
/// # proactor::block_on(async {
/// use proactor::net::TcpSocket;
/// let socket = TcpSocket::new_v4()?;
/// socket.set_reuseaddr(true)?;
/// socket.set_reuseport(true)?; // one listener per thread on the same port
/// socket.bind("127.0.0.1:0".parse().unwrap())?;
/// let listener = socket.listen(1024)?;
///
/// let client = TcpSocket::new_v4()?;
/// client.set_nodelay(true)?;
/// client.set_keepalive(true)?;
/// let stream = client.connect(listener.local_addr()?).await?;
/// assert!(stream.nodelay()?);
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct TcpSocket {
    inner: socket2::Socket,
}

impl TcpSocket {
    /// A new IPv4 TCP socket.
    pub fn new_v4() -> io::Result<TcpSocket> {
        TcpSocket::new(Domain::IPV4)
    }

    /// A new IPv6 TCP socket.
    pub fn new_v6() -> io::Result<TcpSocket> {
        TcpSocket::new(Domain::IPV6)
    }

    /// A new socket of `addr`'s family.
    pub(crate) fn new_for(addr: &SocketAddr) -> io::Result<TcpSocket> {
        TcpSocket::new(Domain::for_address(*addr))
    }

    fn new(domain: Domain) -> io::Result<TcpSocket> {
        Ok(TcpSocket {
            inner: Socket::create(domain, Type::STREAM)?,
        })
    }

    /// Sets `SO_REUSEADDR`: a listener may bind a port whose old connections linger in
    /// `TIME_WAIT` ([`TcpListener::bind`] sets it).
    pub fn set_reuseaddr(&self, reuseaddr: bool) -> io::Result<()> {
        self.inner.set_reuse_address(reuseaddr)
    }

    /// Whether `SO_REUSEADDR` is set.
    pub fn reuseaddr(&self) -> io::Result<bool> {
        self.inner.reuse_address()
    }

    /// Sets `SO_REUSEPORT`: several sockets (one per thread, say) may listen on one port,
    /// and the kernel spreads the connections among them.
    pub fn set_reuseport(&self, reuseport: bool) -> io::Result<()> {
        self.inner.set_reuse_port(reuseport)
    }

    /// Whether `SO_REUSEPORT` is set.
    pub fn reuseport(&self) -> io::Result<bool> {
        self.inner.reuse_port()
    }

    /// Sets `SO_KEEPALIVE`: the kernel probes an idle connection and ends it when the peer
    /// is gone.
    pub fn set_keepalive(&self, keepalive: bool) -> io::Result<()> {
        self.inner.set_keepalive(keepalive)
    }

    /// Whether `SO_KEEPALIVE` is set.
    pub fn keepalive(&self) -> io::Result<bool> {
        self.inner.keepalive()
    }

    /// Sets `SO_SNDBUF`, the size of the send buffer (the kernel doubles it, within its
    /// limits, and [`send_buffer_size`](TcpSocket::send_buffer_size) reports what it took).
    pub fn set_send_buffer_size(&self, size: u32) -> io::Result<()> {
        self.inner.set_send_buffer_size(size as usize)
    }

    /// The size of the send buffer (`SO_SNDBUF`).
    pub fn send_buffer_size(&self) -> io::Result<u32> {
        self.inner.send_buffer_size().map(saturate)
    }

    /// Sets `SO_RCVBUF`, the size of the receive buffer (doubled by the kernel, as for
    /// [`set_send_buffer_size`](TcpSocket::set_send_buffer_size)).
    pub fn set_recv_buffer_size(&self, size: u32) -> io::Result<()> {
        self.inner.set_recv_buffer_size(size as usize)
    }

    /// The size of the receive buffer (`SO_RCVBUF`).
    pub fn recv_buffer_size(&self) -> io::Result<u32> {
        self.inner.recv_buffer_size().map(saturate)
    }

    /// Sets `SO_LINGER`: with `Some(d)`, closing waits up to `d` for unsent data (with
    /// `Some(Duration::ZERO)`, closing resets the connection at once).
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        self.inner.set_linger(linger)
    }

    /// The `SO_LINGER` setting.
    pub fn linger(&self) -> io::Result<Option<Duration>> {
        self.inner.linger()
    }

    /// Sets `TCP_NODELAY` (small writes go out at once, without Nagle's delay).
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.inner.set_tcp_nodelay(nodelay)
    }

    /// Whether `TCP_NODELAY` is set.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.inner.tcp_nodelay()
    }

    /// Binds the socket to a network interface by name (`SO_BINDTODEVICE`; `None` unbinds;
    /// needs `CAP_NET_RAW`).
    pub fn bind_device(&self, interface: Option<&[u8]>) -> io::Result<()> {
        self.inner.bind_device(interface)
    }

    /// Binds the socket to `addr`: the listening address, or a connection's source address
    /// (port 0: the kernel picks one).
    pub fn bind(&self, addr: SocketAddr) -> io::Result<()> {
        self.inner.bind(&addr.into())
    }

    /// The address the socket is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Socket::ip_addr(self.inner.local_addr()?)
    }

    /// Takes the pending socket error (`SO_ERROR`), if any.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.take_error()
    }

    /// Connects to `addr` through the runtime's driver, consuming the socket. Dropping the
    /// future cancels the connect and closes the socket.
    pub async fn connect(self, addr: SocketAddr) -> io::Result<TcpStream> {
        let inner = Socket::from_socket2(self.inner)?;
        inner.connect(SockAddr::from(addr)).await?;
        Ok(TcpStream::from_socket(inner))
    }

    /// Listens for connections, with a queue of at most `backlog` connections waiting to be
    /// accepted (the kernel caps it at `net.core.somaxconn`); consumes the socket.
    pub fn listen(self, backlog: u32) -> io::Result<TcpListener> {
        self.inner.listen(backlog.min(i32::MAX as u32) as i32)?;
        Ok(TcpListener::from_socket(Socket::from_socket2(self.inner)?))
    }

    /// Wraps a std stream, e.g. to read its options; it is made non-blocking when it
    /// becomes a stream or a listener again.
    pub fn from_std_stream(stream: std::net::TcpStream) -> TcpSocket {
        TcpSocket {
            inner: stream.into(),
        }
    }
}

fn saturate(size: usize) -> u32 {
    size.min(u32::MAX as usize) as u32
}

impl AsFd for TcpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

impl AsRawFd for TcpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

impl IntoRawFd for TcpSocket {
    fn into_raw_fd(self) -> RawFd {
        self.inner.into_raw_fd()
    }
}

impl From<TcpSocket> for OwnedFd {
    fn from(socket: TcpSocket) -> OwnedFd {
        socket.inner.into()
    }
}

impl FromRawFd for TcpSocket {
    /// Wraps `fd`, a TCP socket (it is made non-blocking when it becomes a stream or a
    /// listener).
    ///
    /// # Safety
    /// `fd` is an open socket that nothing else owns.
    unsafe fn from_raw_fd(fd: RawFd) -> TcpSocket {
        TcpSocket {
            // SAFETY: the caller hands over an open socket nothing else owns.
            inner: unsafe { socket2::Socket::from_raw_fd(fd) },
        }
    }
}

impl From<OwnedFd> for TcpSocket {
    fn from(fd: OwnedFd) -> TcpSocket {
        TcpSocket { inner: fd.into() }
    }
}
