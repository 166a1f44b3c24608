//! TCP: [`TcpListener`] and [`TcpStream`] (set up with [`TcpSocket`] for other than the
//! defaults), and the deprecated [`ListenOptions`].

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use crate::buf::{BufResult, BufRing, IoBuf};
use crate::fs::File;
use crate::net::addr::{each_addr, resolve_now, Resolve, ToSocketAddrs};
use crate::net::future::{Accept, Connect};
use crate::net::incoming::{Incoming, RecvStream};
use crate::net::socket::Socket;
use crate::net::split::{OwnedReadHalf, OwnedWriteHalf};
use crate::net::stream_io::StreamIo;
use crate::net::TcpSocket;

/// The backlog of [`TcpListener::bind`]: the kernel caps it at `net.core.somaxconn`.
const BACKLOG: u32 = 4096;

/// How a listening socket is set up: `SO_REUSEADDR` always; `SO_REUSEPORT` and the accept
/// backlog as chosen here. Superseded by [`TcpSocket`], which sets these and more.
///
/// ```
/// # #![allow(deprecated)]
/// let opts = proactor::net::ListenOptions::new().reuse_port(true).backlog(1024);
/// ```
#[deprecated(note = "use `TcpSocket`: `set_reuseaddr`, `set_reuseport`, `bind`, `listen(backlog)`")]
#[derive(Clone, Copy, Debug)]
pub struct ListenOptions {
    reuse_port: bool,
    backlog: u32,
}

#[allow(deprecated)]
impl Default for ListenOptions {
    fn default() -> Self {
        ListenOptions {
            reuse_port: false,
            backlog: BACKLOG,
        }
    }
}

#[allow(deprecated)]
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
        self.backlog = backlog;
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
    /// Binds to `addr` (the first of its addresses that works) with `SO_REUSEADDR` and a
    /// backlog of 4096; [`TcpSocket`] sets other options. Like std, binding is
    /// synchronous, and it never blocks: `addr` is a literal address (`"127.0.0.1:8080"`,
    /// `"[::]:0"`, a [`SocketAddr`]); a host name is refused with `InvalidInput` (look it up
    /// with [`lookup_host`](super::lookup_host)).
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        let addrs = resolve_now(&addr, "TcpListener::bind")?;
        each_addr(addrs, |addr| TcpListener::bind_one(addr, false, BACKLOG))
    }

    /// Binds to `addr` with `options` (`SO_REUSEPORT`, backlog).
    #[deprecated(
        note = "use `TcpSocket`: `set_reuseaddr`, `set_reuseport`, `bind`, `listen(backlog)`"
    )]
    #[allow(deprecated)]
    pub fn bind_with(addr: impl ToSocketAddrs, options: ListenOptions) -> io::Result<TcpListener> {
        let addrs = resolve_now(&addr, "TcpListener::bind_with")?;
        each_addr(addrs, |addr| {
            TcpListener::bind_one(addr, options.reuse_port, options.backlog)
        })
    }

    fn bind_one(addr: SocketAddr, reuse_port: bool, backlog: u32) -> io::Result<TcpListener> {
        let socket = TcpSocket::new_for(&addr)?;
        socket.set_reuseaddr(true)?;
        if reuse_port {
            socket.set_reuseport(true)?;
        }
        socket.bind(addr)?;
        socket.listen(backlog)
    }

    pub(crate) fn from_socket(inner: Socket) -> TcpListener {
        TcpListener { inner }
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

    fn socket(&self) -> &Socket {
        &self.inner
    }

    fn into_socket(self) -> io::Result<Socket> {
        Ok(self.inner)
    }
}

super::raw::fd_traits!(TcpListener, std::net::TcpListener);

/// A TCP connection: asyncio's `open_connection`, tokio's `TcpStream`.
///
/// Reads and writes take an owned buffer and give it back: they are the methods of
/// [`StreamIo`], which the stream dereferences to (`read`, `write`, `read_exact`,
/// `write_all`, `shutdown`). They take `&self`, so one stream can be shared (e.g. in an
/// `Rc`) by a reading task and a writing task; or split it with
/// [`into_split`](TcpStream::into_split). With the `tokio-io` or `futures-io` feature the
/// stream also implements those crates' poll-based traits; where one of their extension
/// traits is imported, its methods of the same names are the ones called (see
/// [`crate::io`]).
///
/// ```no_run
/// # proactor::block_on(async {
/// let stream = proactor::net::TcpStream::connect("127.0.0.1:7000").await?;
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
    pub(super) io: StreamIo,
}

impl TcpStream {
    /// Opens a connection to `addr`: asyncio's `open_connection`. `addr` is any
    /// [`ToSocketAddrs`]: a [`SocketAddr`], `"127.0.0.1:7000"`, `("example.com", 80)`, a
    /// list. A host name is looked up on the blocking pool, never on the runtime's thread;
    /// then each address is tried in turn until one connects (std's rule), and the last
    /// error is returned if none does.
    ///
    /// A connect to an unresponsive host can take minutes to fail (the kernel's SYN
    /// retries): bound it with [`Connect::timeout`] (on io_uring a deadline in the kernel,
    /// linked to each attempt), [`connect_timeout`](TcpStream::connect_timeout), or
    /// [`time::timeout`](crate::time::timeout) around this future. Either way, dropping the
    /// future cancels the connect in the kernel (io_uring: `ASYNC_CANCEL`; epoll: the
    /// socket is closed) and closes its socket.
    pub fn connect(addr: impl ToSocketAddrs) -> Connect {
        Connect::new(Resolve::new(&addr))
    }

    /// [`connect`](TcpStream::connect), given at most `timeout` (the lookup and every
    /// attempt included); past it, the connect is cancelled and its socket closed, and the
    /// error is [`TimedOut`](io::ErrorKind::TimedOut). std's `connect_timeout`, for any
    /// [`ToSocketAddrs`]; the same as `connect(addr).timeout(timeout)`.
    ///
    /// ```
    /// # proactor::block_on(async {
    /// use std::time::Duration;
    /// use proactor::net::{TcpListener, TcpStream};
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let stream = TcpStream::connect_timeout(listener.local_addr()?, Duration::from_secs(5)).await?;
    ///
    /// // The same, spelled with `time::timeout`: dropping the connect cancels it.
    /// let connect = TcpStream::connect(listener.local_addr()?);
    /// match proactor::time::timeout(Duration::from_secs(5), connect).await {
    ///     Ok(stream) => drop(stream?),
    ///     Err(_elapsed) => eprintln!("no connection within 5 s"),
    /// }
    /// # drop(stream);
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn connect_timeout(
        addr: impl ToSocketAddrs,
        timeout: Duration,
    ) -> io::Result<TcpStream> {
        TcpStream::connect(addr).timeout(timeout).await
    }

    /// Wraps a connected std stream (made non-blocking).
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        Ok(TcpStream::from_socket(Socket::from_socket2(stream.into())?))
    }

    /// Like [`write`](StreamIo::write), as a zero-copy send (`IORING_OP_SEND_ZC`) where the
    /// ring offers it ([`RingFeatures::send_zc`](crate::RingFeatures::send_zc)); elsewhere
    /// (epoll, older kernels, fast paths off) a plain `write`. The buffer comes back only
    /// once the kernel no longer reads it. Opt-in: the kernel pins the pages and posts an
    /// extra completion, which pays only for large sends to a real NIC; over loopback the
    /// data is copied anyway and a plain `write` is cheaper.
    pub async fn send_zc<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
        if let Err(e) = self.io.wr.flush().await {
            return (Err(e), buf);
        }
        self.io.socket.send_zc(buf).await
    }

    /// Sends `len` bytes of `file` from `offset` without copying them through user memory;
    /// fewer if the file ends first (0 at or past its end). Returns how many were sent.
    ///
    /// On io_uring the bytes go through a pipe made for the call (`IORING_OP_SPLICE`, file
    /// to pipe, pipe to socket); on epoll through `sendfile(2)`, which reads pages that are
    /// not cached on the loop's thread. A peer that closes makes it fail (`EPIPE`,
    /// `ECONNRESET`; the bytes sent until then are not counted); as with `sendfile(2)`, the
    /// process ignores `SIGPIPE`, as Rust programs do. Dropping the future part-way leaves
    /// the stream with part of the range sent; nothing of it is sent later. The bytes
    /// written through the poll-based traits go first.
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
        self.io.wr.flush().await?;
        super::sendfile::sendfile(self.io.socket.fd(), file.shared_fd(), offset, len).await
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
    /// # let stream = proactor::net::TcpStream::connect("127.0.0.1:7000").await?;
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
        RecvStream::new(self.io.socket.fd(), pool)
    }

    /// Closes the connection through the driver, reporting any error (after the bytes
    /// written through the poll-based traits are sent). Dropping the stream closes it too
    /// (silently). Other handles (split halves, an armed receive) keep it open until they
    /// are gone.
    pub async fn close(self) -> io::Result<()> {
        let StreamIo { socket, rd, wr } = self.io;
        wr.flush().await?;
        drop((rd, wr));
        socket.close().await
    }

    /// Splits into a reading half and a writing half, which can move to different tasks.
    /// What the poll-based traits received or accepted goes with the half it belongs to.
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        let (rd, wr) = self.io.split();
        (OwnedReadHalf { io: rd }, OwnedWriteHalf { io: wr })
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Socket::ip_addr(self.io.socket.sock_ref().peer_addr()?)
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Socket::ip_addr(self.io.socket.sock_ref().local_addr()?)
    }

    /// Sets `TCP_NODELAY` (disables Nagle's algorithm: small writes go out at once).
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.io.socket.sock_ref().set_tcp_nodelay(nodelay)
    }

    /// Whether `TCP_NODELAY` is set.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.io.socket.sock_ref().tcp_nodelay()
    }
}

impl TcpStream {
    /// Every stream is made here: it marks the fd as a TCP stream's for the drivers.
    pub(crate) fn from_socket(socket: Socket) -> TcpStream {
        socket.fd().short_reads_drain();
        TcpStream {
            io: StreamIo::new(socket),
        }
    }
}

super::stream_io::stream_type!(TcpStream, std::net::TcpStream);
