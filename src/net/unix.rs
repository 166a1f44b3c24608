//! Unix domain sockets: [`UnixListener`], [`UnixStream`], [`UnixDatagram`].

use std::io;
use std::ops::Deref;
use std::os::unix::net::SocketAddr;
use std::path::Path;

use socket2::{Domain, SockAddr, Type};

use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::net::socket::Socket;
use crate::net::split::{OwnedReadHalf, OwnedWriteHalf};
use crate::net::stream_io::StreamIo;

/// A Unix stream socket listening for connections at a path.
#[derive(Debug)]
pub struct UnixListener {
    inner: Socket,
}

impl UnixListener {
    /// Binds to `path` (which must not exist yet) with a backlog of 4096.
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        let socket = Socket::create(Domain::UNIX, Type::STREAM)?;
        socket.bind(&SockAddr::unix(path)?)?;
        socket.listen(4096)?;
        Ok(UnixListener {
            inner: Socket::from_socket2(socket)?,
        })
    }

    /// Wraps a std listener (made non-blocking).
    pub fn from_std(listener: std::os::unix::net::UnixListener) -> io::Result<UnixListener> {
        Ok(UnixListener {
            inner: Socket::from_socket2(listener.into())?,
        })
    }

    /// Waits for a connection; returns the stream and the peer's address (usually unnamed).
    pub async fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let (socket, addr) = self.inner.accept().await?;
        Ok((UnixStream::from_socket(socket), Socket::unix_addr(addr)?))
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Socket::unix_addr(self.inner.sock_ref().local_addr()?)
    }

    fn socket(&self) -> &Socket {
        &self.inner
    }

    fn from_socket(inner: Socket) -> UnixListener {
        UnixListener { inner }
    }

    fn into_socket(self) -> io::Result<Socket> {
        Ok(self.inner)
    }
}

super::raw::fd_traits!(UnixListener, std::os::unix::net::UnixListener);

/// A Unix stream connection. Same I/O as [`TcpStream`](super::TcpStream): the owned-buffer
/// methods of [`StreamIo`], which it dereferences to, and the poll-based traits with the
/// `tokio-io` / `futures-io` features.
#[derive(Debug)]
pub struct UnixStream {
    pub(super) io: StreamIo,
}

impl UnixStream {
    /// Connects to the listener at `path`.
    pub async fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        let addr = SockAddr::unix(path)?;
        let inner = Socket::from_socket2(Socket::create(Domain::UNIX, Type::STREAM)?)?;
        inner.connect(addr).await?;
        Ok(UnixStream::from_socket(inner))
    }

    /// A connected pair of streams.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = socket2::Socket::pair(Domain::UNIX, Type::STREAM.nonblocking(), None)?;
        let wrap = |s| Socket::from_socket2(s).map(UnixStream::from_socket);
        Ok((wrap(a)?, wrap(b)?))
    }

    /// Wraps a std stream (made non-blocking).
    pub fn from_std(stream: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
        Ok(UnixStream::from_socket(Socket::from_socket2(
            stream.into(),
        )?))
    }

    /// Splits into a reading half and a writing half. What the poll-based traits received
    /// or accepted goes with the half it belongs to.
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        let (rd, wr) = self.io.split();
        (OwnedReadHalf { io: rd }, OwnedWriteHalf { io: wr })
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Socket::unix_addr(self.io.socket.sock_ref().peer_addr()?)
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Socket::unix_addr(self.io.socket.sock_ref().local_addr()?)
    }

    fn from_socket(socket: Socket) -> UnixStream {
        UnixStream {
            io: StreamIo::new(socket),
        }
    }

    fn socket(&self) -> &Socket {
        &self.io.socket
    }

    fn into_socket(self) -> io::Result<Socket> {
        self.io.into_socket()
    }
}

impl Deref for UnixStream {
    type Target = StreamIo;

    /// The owned-buffer I/O: `read`, `write`, `read_exact`, `write_all`, `shutdown`.
    fn deref(&self) -> &StreamIo {
        &self.io
    }
}

super::raw::fd_traits!(UnixStream, std::os::unix::net::UnixStream);

/// A Unix datagram socket.
#[derive(Debug)]
pub struct UnixDatagram {
    inner: Socket,
}

impl UnixDatagram {
    /// A socket bound to `path`.
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixDatagram> {
        let socket = Socket::create(Domain::UNIX, Type::DGRAM)?;
        socket.bind(&SockAddr::unix(path)?)?;
        Ok(UnixDatagram {
            inner: Socket::from_socket2(socket)?,
        })
    }

    /// A socket bound to no address (it can send, and receive once connected).
    pub fn unbound() -> io::Result<UnixDatagram> {
        let socket = Socket::create(Domain::UNIX, Type::DGRAM)?;
        Ok(UnixDatagram {
            inner: Socket::from_socket2(socket)?,
        })
    }

    /// A connected pair of unnamed sockets.
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = socket2::Socket::pair(Domain::UNIX, Type::DGRAM.nonblocking(), None)?;
        let wrap = |s| Socket::from_socket2(s).map(|inner| UnixDatagram { inner });
        Ok((wrap(a)?, wrap(b)?))
    }

    /// Wraps a std socket (made non-blocking).
    pub fn from_std(socket: std::os::unix::net::UnixDatagram) -> io::Result<UnixDatagram> {
        Ok(UnixDatagram {
            inner: Socket::from_socket2(socket.into())?,
        })
    }

    /// Sets the default destination (never blocks).
    pub fn connect(&self, path: impl AsRef<Path>) -> io::Result<()> {
        self.inner.sock_ref().connect(&SockAddr::unix(path)?)
    }

    /// Sends one datagram to the socket at `path`.
    pub async fn send_to<B: IoBuf>(&self, buf: B, path: impl AsRef<Path>) -> BufResult<usize, B> {
        match SockAddr::unix(path) {
            Ok(addr) => self.inner.send_to(buf, addr).await,
            Err(e) => (Err(e), buf),
        }
    }

    /// Receives one datagram; returns its length and sender.
    pub async fn recv_from<B: IoBufMut>(&self, buf: B) -> BufResult<(usize, SocketAddr), B> {
        let (res, buf) = self.inner.recv_from(buf).await;
        let res = res.and_then(|(n, addr)| Ok((n, Socket::unix_addr(addr)?)));
        (res, buf)
    }

    /// Sends one datagram to the connected address.
    pub async fn send<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
        self.inner.write(buf).await
    }

    /// Receives one datagram.
    pub async fn recv<B: IoBufMut>(&self, buf: B) -> BufResult<usize, B> {
        self.inner.read(buf).await
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Socket::unix_addr(self.inner.sock_ref().local_addr()?)
    }

    fn socket(&self) -> &Socket {
        &self.inner
    }

    fn from_socket(inner: Socket) -> UnixDatagram {
        UnixDatagram { inner }
    }

    fn into_socket(self) -> io::Result<Socket> {
        Ok(self.inner)
    }
}

super::raw::fd_traits!(UnixDatagram, std::os::unix::net::UnixDatagram);
