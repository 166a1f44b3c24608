//! Unix domain sockets: [`UnixListener`], [`UnixStream`], [`UnixDatagram`].

use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::SocketAddr;
use std::path::Path;

use socket2::{Domain, SockAddr, Type};

use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::net::future::{Read, Write};
use crate::net::socket::Socket;
use crate::net::split::{OwnedReadHalf, OwnedWriteHalf};
use crate::net::stream_io::StreamIo;
use crate::sys::syscall;

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
///
/// ```
/// use proactor::net::{UnixListener, UnixStream};
/// proactor::block_on(async {
/// # let dir = tempfile::tempdir()?;
///     let path = dir.path().join("sock");
///     let listener = UnixListener::bind(&path)?;
///     let client = proactor::spawn(async move {
///         let stream = UnixStream::connect(&path).await?;
///         let (res, _) = stream.write_all(&b"ping"[..]).await;
///         res
///     });
///     let (stream, _) = listener.accept().await?;
///     let (res, buf) = stream.read_exact(vec![0u8; 4]).await;
///     res?;
///     assert_eq!(buf, b"ping");
///     client.await??;
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
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

    /// The credentials of the peer process (`SO_PEERCRED`): its pid, uid and gid as they
    /// were when it connected (or made the pair).
    ///
    /// ```
    /// let (a, _b) = proactor::net::UnixStream::pair()?;
    /// let cred = a.peer_cred()?;
    /// assert_eq!(cred.pid(), Some(std::process::id() as i32));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn peer_cred(&self) -> io::Result<UCred> {
        let mut cred = libc::ucred {
            pid: 0,
            uid: 0,
            gid: 0,
        };
        let mut len = size_of::<libc::ucred>() as libc::socklen_t;
        let ptr: *mut libc::ucred = &mut cred;
        // SAFETY: `ptr` and `len` point to live, writable values, and `len` is the size of
        // the `ucred` behind `ptr`.
        syscall!(getsockopt(
            self.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            ptr.cast(),
            &mut len,
        ))?;
        Ok(UCred {
            pid: (cred.pid != 0).then_some(cred.pid),
            uid: cred.uid,
            gid: cred.gid,
        })
    }

    /// Sends some of `buf`'s initialised bytes with the descriptors `fds` attached
    /// (`SCM_RIGHTS`): the peer receives its own descriptors for the same open files, with
    /// [`recv_fds`](UnixStream::recv_fds). Returns how many bytes were sent; the descriptors
    /// go with the first of them, so `buf` must not be empty. Send the rest of a short send
    /// with [`write_all`](StreamIo::write_all). Bytes written before through the poll-based
    /// traits are sent first. At most 253 descriptors per call (the
    /// kernel's limit; more is `InvalidInput`).
    ///
    /// The caller's descriptors stay its own: the operation sends duplicates it owns until
    /// the kernel is done with them, so closing `fds` after a dropped send is safe.
    ///
    /// ```
    /// use std::os::fd::AsFd;
    /// use proactor::net::UnixStream;
    /// # proactor::block_on(async {
    /// let (a, b) = UnixStream::pair()?;
    /// let (x, y) = UnixStream::pair()?;
    /// // Hand `x` to the other end of `a`.
    /// let (res, _) = a.send_fds(&b"x"[..], &[x.as_fd()]).await;
    /// res?;
    /// drop(x);
    /// let (res, _) = b.recv_fds(vec![0u8; 16], 4).await;
    /// let (n, mut fds) = res?;
    /// assert_eq!((n, fds.len()), (1, 1));
    /// let x = UnixStream::from_std(fds.pop().unwrap().into())?;
    /// let (res, _) = x.write_all(&b"hi"[..]).await;
    /// res?;
    /// let (res, buf) = y.read_exact(vec![0u8; 2]).await;
    /// res?;
    /// assert_eq!(buf, b"hi");
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn send_fds<B: IoBuf>(&self, buf: B, fds: &[BorrowedFd<'_>]) -> BufResult<usize, B> {
        let invalid = |msg| io::Error::new(io::ErrorKind::InvalidInput, msg);
        if fds.len() > crate::op::recv_fds::MAX_FDS {
            return (
                Err(invalid("more than 253 file descriptors in one message")),
                buf,
            );
        }
        if !fds.is_empty() && buf.bytes_init() == 0 {
            return (
                Err(invalid("descriptors go with a byte: the buffer is empty")),
                buf,
            );
        }
        if let Err(e) = self.io.wr.flush().await {
            return (Err(e), buf);
        }
        self.io.socket.send_fds(buf, fds).await
    }

    /// Receives into `buf` (up to its capacity) and the descriptors that came with those
    /// bytes, at most `max` (capped at 253): `(bytes, descriptors)`; `Ok((0, _))` means the
    /// peer closed its side. The descriptors are close-on-exec and owned by the caller.
    ///
    /// If more descriptors came than `max` (the kernel reports `MSG_CTRUNC` and discards the
    /// rest), this is an `InvalidData` error and the ones that did arrive are closed; the
    /// bytes are still received, in the buffer handed back. If the future is dropped after
    /// the kernel received, the descriptors are closed too: none leaks. It receives from the
    /// socket itself: bytes the poll-based traits already received are not in it.
    pub async fn recv_fds<B: IoBufMut>(
        &self,
        buf: B,
        max: usize,
    ) -> BufResult<(usize, Vec<OwnedFd>), B> {
        self.io.socket.recv_fds(buf, max).await
    }

    fn from_socket(socket: Socket) -> UnixStream {
        UnixStream {
            io: StreamIo::new(socket),
        }
    }
}

super::stream_io::stream_type!(UnixStream, std::os::unix::net::UnixStream);

/// The credentials of a Unix socket's peer process, from
/// [`UnixStream::peer_cred`] (tokio's `UCred`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UCred {
    pid: Option<libc::pid_t>,
    uid: libc::uid_t,
    gid: libc::gid_t,
}

impl UCred {
    /// The peer's user id.
    pub fn uid(&self) -> libc::uid_t {
        self.uid
    }

    /// The peer's group id.
    pub fn gid(&self) -> libc::gid_t {
        self.gid
    }

    /// The peer's process id, if the kernel reported one.
    pub fn pid(&self) -> Option<libc::pid_t> {
        self.pid
    }
}

/// A Unix datagram socket.
///
/// ```
/// use proactor::net::UnixDatagram;
/// proactor::block_on(async {
///     let (a, b) = UnixDatagram::pair()?;
///     let (res, _) = a.send(&b"one message"[..]).await;
///     res?;
///     let (res, buf) = b.recv(Vec::with_capacity(64)).await;
///     assert_eq!(&buf[..res?], b"one message");
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
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
    pub fn send<B: IoBuf>(&self, buf: B) -> Write<B> {
        Write::new(self.inner.write(buf))
    }

    /// Receives one datagram. Takes a deadline with [`Read::timeout`].
    pub fn recv<B: IoBufMut>(&self, buf: B) -> Read<B> {
        Read::new(self.inner.recv_datagram(buf))
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
