//! TCP: [`TcpListener`] and [`TcpStream`], with [`ListenOptions`] for the listening socket.

use std::io;
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};

use socket2::{Domain, SockAddr, Type};

use crate::buf::{BufResult, BufRing, IoBuf, IoBufMut};
use crate::fs::File;
use crate::net::future::{Accept, Connect, Read, ReadVectored, Write, WriteVectored};
use crate::net::incoming::{Incoming, RecvStream};
use crate::net::socket::Socket;
use crate::net::split::{OwnedReadHalf, OwnedWriteHalf};

/// How a listening socket is set up: `SO_REUSEADDR` always; `SO_REUSEPORT` and the accept
/// backlog as chosen here.
///
/// ```
/// let opts = proactor::net::ListenOptions::new().reuse_port(true).backlog(1024);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct ListenOptions {
    reuse_port: bool,
    backlog: i32,
}

impl Default for ListenOptions {
    fn default() -> Self {
        ListenOptions {
            reuse_port: false,
            backlog: 4096,
        }
    }
}

impl ListenOptions {
    /// The defaults: no `SO_REUSEPORT`, a backlog of 4096 (the kernel caps it at
    /// `net.core.somaxconn`).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `SO_REUSEPORT`, so several sockets (one per thread) can listen on one port and
    /// the kernel spreads connections among them.
    pub fn reuse_port(mut self, on: bool) -> Self {
        self.reuse_port = on;
        self
    }

    /// The length of the queue of connections waiting to be accepted.
    pub fn backlog(mut self, backlog: u32) -> Self {
        self.backlog = backlog.min(i32::MAX as u32) as i32;
        self
    }
}

/// A TCP socket listening for connections: asyncio's `start_server`, tokio's `TcpListener`.
///
/// ```no_run
/// # proactor::block_on(async {
/// let listener = proactor::net::TcpListener::bind("127.0.0.1:7000")?;
/// loop {
///     let (stream, _peer) = listener.accept().await?;
///     proactor::spawn(async move {
///         let (res, buf) = stream.read(vec![0u8; 4096]).await;
///         if res.is_ok() {
///             let _ = stream.write_all(buf).await;
///         }
///     });
/// }
/// # Ok::<(), std::io::Error>(())
/// # });
/// ```
#[derive(Debug)]
pub struct TcpListener {
    inner: Socket,
}

impl TcpListener {
    /// Binds to `addr` (the first of its addresses that works) with default options. Like
    /// std, binding is synchronous: it never blocks.
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        TcpListener::bind_with(addr, ListenOptions::default())
    }

    /// Binds to `addr` with `options` (`SO_REUSEPORT`, backlog).
    pub fn bind_with(addr: impl ToSocketAddrs, options: ListenOptions) -> io::Result<TcpListener> {
        each_addr(addr, |addr| TcpListener::bind_one(addr, options))
    }

    fn bind_one(addr: SocketAddr, options: ListenOptions) -> io::Result<TcpListener> {
        let socket = Socket::create(Domain::for_address(addr), Type::STREAM)?;
        socket.set_reuse_address(true)?;
        if options.reuse_port {
            socket.set_reuse_port(true)?;
        }
        socket.bind(&addr.into())?;
        socket.listen(options.backlog)?;
        Ok(TcpListener {
            inner: Socket::from_socket2(socket)?,
        })
    }

    /// Wraps a std listener (made non-blocking), e.g. one inherited or set up elsewhere.
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        Ok(TcpListener {
            inner: Socket::from_socket2(listener.into())?,
        })
    }

    /// Waits for a connection; returns the stream and the peer's address. Takes a deadline
    /// with [`Accept::timeout`].
    pub fn accept(&self) -> Accept {
        Accept::new(self.inner.accept_op())
    }

    /// A stream of accepted connections: [`Incoming::next`] gives each one. On io_uring
    /// one multishot accept serves them all (re-armed if the kernel ends it, e.g. after an
    /// error); elsewhere each is a single-shot accept. The peer address comes from
    /// `getpeername`. Dropping the stream cancels the accept; connections accepted after
    /// that are closed.
    ///
    /// ```no_run
    /// # proactor::block_on(async {
    /// let listener = proactor::net::TcpListener::bind("127.0.0.1:7000")?;
    /// let mut incoming = listener.incoming();
    /// while let Some(conn) = incoming.next().await {
    ///     let (stream, _peer) = conn?;
    ///     proactor::spawn(async move { drop(stream) });
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// # });
    /// ```
    pub fn incoming(&self) -> Incoming {
        Incoming::new(self.inner.fd())
    }

    /// The address the listener is bound to (with the port the kernel chose for port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Socket::ip_addr(self.inner.sock_ref().local_addr()?)
    }
}

impl AsRawFd for TcpListener {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

/// A TCP connection: asyncio's `open_connection`, tokio's `TcpStream`.
///
/// Reads and writes take an owned buffer and give it back. Methods take `&self`, so one
/// stream can be shared (e.g. in an `Rc`) by a reading task and a writing task; or split it
/// with [`into_split`](TcpStream::into_split).
///
/// ```no_run
/// # proactor::block_on(async {
/// let stream = proactor::net::TcpStream::connect("127.0.0.1:7000".parse().unwrap()).await?;
/// let (res, _) = stream.write_all(b"ping".as_slice()).await;
/// res?;
/// let (res, buf) = stream.read_exact(Vec::with_capacity(4)).await;
/// res?;
/// assert_eq!(buf, b"ping");
/// # Ok::<(), std::io::Error>(())
/// # });
/// ```
#[derive(Debug)]
pub struct TcpStream {
    inner: Socket,
}

impl TcpStream {
    /// Opens a connection to `addr`. Takes a deadline with [`Connect::timeout`] (std's
    /// `connect_timeout`).
    pub fn connect(addr: SocketAddr) -> Connect {
        let start = || {
            let socket = Socket::create(Domain::for_address(addr), Type::STREAM)?;
            let inner = Socket::from_socket2(socket)?;
            let op = inner.connect(SockAddr::from(addr));
            Ok((inner, op))
        };
        Connect::new(start())
    }

    /// Wraps a connected std stream (made non-blocking).
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        Ok(TcpStream {
            inner: Socket::from_socket2(stream.into())?,
        })
    }

    /// Reads into `buf` (up to its capacity); `Ok(0)` means the peer closed its side.
    /// Takes a deadline with [`Read::timeout`].
    pub fn read<B: IoBufMut>(&self, buf: B) -> Read<B> {
        Read::new(self.inner.read(buf))
    }

    /// Writes some of `buf`'s initialised bytes; returns how many. Takes a deadline with
    /// [`Write::timeout`].
    pub fn write<B: IoBuf>(&self, buf: B) -> Write<B> {
        Write::new(self.inner.write(buf))
    }

    /// Reads into several buffers at once (`readv`), filling each to its capacity before the
    /// next; returns how many bytes in all (`Ok(0)`: the peer closed its side, or the
    /// buffers have no room). At most 1024 buffers (`IOV_MAX`: more is the
    /// kernel's `EINVAL`, or `EMSGSIZE` from a socket).
    pub fn read_vectored<B: IoBufMut>(&self, bufs: Vec<B>) -> ReadVectored<B> {
        ReadVectored::new(self.inner.read_vectored(bufs))
    }

    /// Writes the initialised bytes of several buffers, in order, at once (`writev`, as a
    /// `sendmsg`); returns how many were written, which may be fewer than all of them.
    pub fn write_vectored<B: IoBuf>(&self, bufs: Vec<B>) -> WriteVectored<B> {
        WriteVectored::new(self.inner.write_vectored(bufs))
    }

    /// Like [`write`](TcpStream::write), as a zero-copy send (`IORING_OP_SEND_ZC`) where the
    /// ring offers it ([`RingFeatures::send_zc`](crate::RingFeatures::send_zc)); elsewhere
    /// (epoll, older kernels, fast paths off) a plain `write`. The buffer comes back only
    /// once the kernel no longer reads it. Opt-in: the kernel pins the pages and posts an
    /// extra completion, which pays only for large sends to a real NIC; over loopback the
    /// data is copied anyway and a plain `write` is cheaper.
    pub async fn send_zc<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
        self.inner.send_zc(buf).await
    }

    /// Fills `buf`'s whole capacity; `UnexpectedEof` if the peer closes first.
    pub async fn read_exact<B: IoBufMut>(&self, buf: B) -> BufResult<(), B> {
        self.inner.read_exact(buf).await
    }

    /// Writes all of `buf`'s initialised bytes, however many writes it takes.
    pub async fn write_all<B: IoBuf>(&self, buf: B) -> BufResult<(), B> {
        self.inner.write_all(buf).await
    }

    /// Sends `len` bytes of `file` from `offset` without copying them through user memory;
    /// fewer if the file ends first (0 at or past its end). Returns how many were sent.
    ///
    /// On io_uring the bytes go through a pipe made for the call (`IORING_OP_SPLICE`, file
    /// to pipe, pipe to socket); on epoll through `sendfile(2)`, which reads pages that are
    /// not cached on the loop's thread. A peer that closes makes it fail (`EPIPE`,
    /// `ECONNRESET`; the bytes sent until then are not counted); as with `sendfile(2)`, the
    /// process ignores `SIGPIPE`, as Rust programs do. Dropping the future part-way leaves
    /// the stream with part of the range sent; nothing of it is sent later.
    ///
    /// ```
    /// # proactor::block_on(async {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("page.html");
    /// # std::fs::write(&path, b"<p>hello</p>")?;
    /// use proactor::net::{TcpListener, TcpStream};
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let client = TcpStream::connect(listener.local_addr()?).await?;
    /// let (server, _) = listener.accept().await?;
    /// let file = proactor::fs::File::open(&path).await?;
    /// assert_eq!(server.sendfile(&file, 3, 5).await?, 5);
    /// let (res, buf) = client.read_exact(Vec::with_capacity(5)).await;
    /// res?;
    /// assert_eq!(buf, b"hello");
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn sendfile(&self, file: &File, offset: u64, len: u64) -> io::Result<u64> {
        super::sendfile::sendfile(self.inner.fd(), file.shared_fd(), offset, len).await
    }

    /// A stream of received buffers from `pool` ([`RecvStream::next`]); it ends at end of
    /// stream. With a provided-buffer ring (io_uring) one multishot recv serves the
    /// connection and takes a buffer only when data arrives; when the pool runs dry the
    /// recv waits for a buffer to come back and re-arms, so no error reaches the caller.
    /// Elsewhere each item is a single-shot recv into a buffer taken from the pool (on
    /// epoll only once the socket is readable). Dropping the stream cancels the recv and
    /// returns buffers received after that to the pool (their data is lost).
    ///
    /// On io_uring the multishot recv keeps receiving while items wait to be taken, up to
    /// the whole pool: a connection whose items are not taken promptly (e.g. its writes are
    /// stalled) can leave other connections of the pool waiting for buffers.
    ///
    /// ```no_run
    /// # proactor::block_on(async {
    /// # let stream = proactor::net::TcpStream::connect("127.0.0.1:7000".parse().unwrap()).await?;
    /// let pool = proactor::buf::BufRing::builder().count(64).size(4096).build()?;
    /// let mut recv = stream.recv_multi(&pool);
    /// while let Some(buf) = recv.next().await {
    ///     let (res, _buf) = stream.write_all(buf?).await;
    ///     res?;
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// # });
    /// ```
    pub fn recv_multi(&self, pool: &BufRing) -> RecvStream {
        RecvStream::new(self.inner.fd(), pool)
    }

    /// Shuts down one or both directions; `Shutdown::Write` sends EOF while reading goes on.
    pub async fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.shutdown(how).await
    }

    /// Closes the connection through the driver, reporting any error. Dropping the stream
    /// closes it too (silently). Other handles (split halves) keep it open.
    pub async fn close(self) -> io::Result<()> {
        self.inner.close().await
    }

    /// Splits into a reading half and a writing half, which can move to different tasks.
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        let inner = self.inner;
        (
            OwnedReadHalf {
                inner: inner.clone(),
            },
            OwnedWriteHalf { inner },
        )
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Socket::ip_addr(self.inner.sock_ref().peer_addr()?)
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Socket::ip_addr(self.inner.sock_ref().local_addr()?)
    }

    /// Sets `TCP_NODELAY` (disables Nagle's algorithm: small writes go out at once).
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.inner.sock_ref().set_tcp_nodelay(nodelay)
    }

    /// Whether `TCP_NODELAY` is set.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.inner.sock_ref().tcp_nodelay()
    }
}

impl TcpStream {
    pub(crate) fn from_socket(inner: Socket) -> TcpStream {
        TcpStream { inner }
    }
}

impl AsRawFd for TcpStream {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

/// Runs `f` on each address of `addr` until one succeeds; the last error otherwise.
pub(crate) fn each_addr<T>(
    addr: impl ToSocketAddrs,
    mut f: impl FnMut(SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = None;
    for addr in addr.to_socket_addrs()? {
        match f(addr) {
            Ok(t) => return Ok(t),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any address",
        )
    }))
}
