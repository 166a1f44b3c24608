//! [`Socket`]: the descriptor and the operations every socket type shares.
//!
//! Sockets are created non-blocking and close-on-exec, so both drivers can run the same
//! operations on them (io_uring arms its own poll when a non-blocking socket is not ready).

use std::io;
use std::net::Shutdown;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use socket2::{Domain, SockAddr, SockRef, Type};

use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::driver::SharedFd;
use crate::op::{
    accept::Accept, close::Close, connect::Connect, recv::Recv, recv_fds::RecvFds,
    recv_from::RecvFrom, recv_vectored::RecvVectored, send::Send, send_msg::SendMsg,
    send_vectored::SendVectored, send_zc::SendZc, shutdown::Shutdown as ShutdownOp,
};
use crate::runtime::context;
use crate::runtime::op::Op;

/// A socket descriptor shared by the handles and in-flight operations that use it.
#[derive(Clone, Debug)]
pub(crate) struct Socket {
    fd: SharedFd,
}

impl Socket {
    /// A new non-blocking, close-on-exec socket.
    pub(crate) fn create(domain: Domain, ty: Type) -> io::Result<socket2::Socket> {
        socket2::Socket::new(domain, ty.nonblocking(), None)
    }

    /// Wraps a configured socket, making sure it is non-blocking.
    pub(crate) fn from_socket2(socket: socket2::Socket) -> io::Result<Socket> {
        socket.set_nonblocking(true)?;
        Ok(Socket::from_owned(socket.into()))
    }

    /// Wraps a descriptor that is already non-blocking.
    pub(crate) fn from_owned(fd: OwnedFd) -> Socket {
        Socket {
            fd: SharedFd::new(fd),
        }
    }

    /// Wraps a descriptor handed over by the user, making it non-blocking. A valid socket
    /// cannot refuse that; if `fcntl` fails anyway the socket is taken as it is (io_uring
    /// still works on it; epoll's attempts would then block).
    pub(crate) fn adopt(fd: OwnedFd) -> Socket {
        let socket = socket2::Socket::from(fd);
        let _ = socket.set_nonblocking(true);
        Socket::from_owned(socket.into())
    }

    /// The descriptor itself, for a conversion out of proactor; `ResourceBusy` while an
    /// operation or another handle still holds it (`[fd-outlives-op]`).
    pub(crate) fn into_fd(self) -> io::Result<OwnedFd> {
        self.fd.try_unwrap().map_err(|_| {
            crate::net::compat::busy(
                "an operation still uses it (a dropped future whose cancellation has not \
                 completed yet, an Incoming or RecvStream, or the other half of a split \
                 stream)",
            )
        })
    }

    /// The shared descriptor, for ops that outlive one call (multishot streams).
    pub(crate) fn fd(&self) -> &SharedFd {
        &self.fd
    }

    /// A borrowed socket2 view, for options and addresses.
    pub(crate) fn sock_ref(&self) -> SockRef<'_> {
        SockRef::from(&self.fd)
    }

    pub(crate) fn connect(&self, addr: SockAddr) -> Op<Connect> {
        Op::new(Connect::new(&self.fd, addr))
    }

    pub(crate) async fn accept(&self) -> io::Result<(Socket, SockAddr)> {
        let (fd, addr) = self.accept_op().await?;
        Ok((Socket::from_owned(fd), addr))
    }

    /// The accept, for a caller that makes its own kind of socket of the descriptor.
    pub(crate) fn accept_op(&self) -> Op<Accept> {
        Op::new(Accept::new(&self.fd))
    }

    pub(crate) fn read<B: IoBufMut>(&self, buf: B) -> Op<Recv<B>> {
        Op::new(Recv::new(&self.fd, buf))
    }

    /// One datagram, from a datagram socket.
    pub(crate) fn recv_datagram<B: IoBufMut>(&self, buf: B) -> Op<Recv<B>> {
        Op::new(Recv::datagram(&self.fd, buf))
    }

    pub(crate) fn write<B: IoBuf>(&self, buf: B) -> Op<Send<B>> {
        Op::new(Send::new(&self.fd, buf))
    }

    /// A zero-copy send where the ring offers it ([`RingFeatures::send_zc`]), else `write`.
    ///
    /// [`RingFeatures::send_zc`]: crate::RingFeatures::send_zc
    pub(crate) async fn send_zc<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
        if context::with_uring(|u| u.features().send_zc) == Some(true) {
            Op::new(SendZc::new(&self.fd, buf)).await
        } else {
            self.write(buf).await
        }
    }

    /// A stream read into several buffers, each filled before the next.
    pub(crate) fn read_vectored<B: IoBufMut>(&self, bufs: Vec<B>) -> Op<RecvVectored<B>> {
        Op::new(RecvVectored::stream(&self.fd, bufs))
    }

    /// A stream write of several buffers' initialised bytes (or one datagram of them, on a
    /// connected datagram socket).
    pub(crate) fn write_vectored<B: IoBuf>(&self, bufs: Vec<B>) -> Op<SendVectored<B>> {
        Op::new(SendVectored::new(&self.fd, bufs, None))
    }

    /// One datagram into several buffers, and its sender.
    pub(crate) fn recv_msg<B: IoBufMut>(&self, bufs: Vec<B>) -> Op<RecvVectored<B>> {
        Op::new(RecvVectored::datagram(&self.fd, bufs))
    }

    /// One datagram of several buffers' initialised bytes, to `addr`.
    pub(crate) fn send_msg<B: IoBuf>(&self, bufs: Vec<B>, addr: SockAddr) -> Op<SendVectored<B>> {
        Op::new(SendVectored::new(&self.fd, bufs, Some(addr)))
    }

    pub(crate) fn recv_from<B: IoBufMut>(&self, buf: B) -> Op<RecvFrom<B>> {
        Op::new(RecvFrom::new(&self.fd, buf))
    }

    pub(crate) fn send_to<B: IoBuf>(&self, buf: B, addr: SockAddr) -> Op<SendMsg<B>> {
        Op::new(SendMsg::to(&self.fd, buf, addr))
    }

    /// Sends `buf` with `fds` attached (`SCM_RIGHTS`); the op sends duplicates it owns.
    pub(crate) async fn send_fds<B: IoBuf>(
        &self,
        buf: B,
        fds: &[std::os::fd::BorrowedFd<'_>],
    ) -> BufResult<usize, B> {
        let dups: io::Result<Vec<OwnedFd>> = fds.iter().map(|fd| fd.try_clone_to_owned()).collect();
        match dups {
            Ok(dups) => Op::new(SendMsg::with_fds(&self.fd, buf, dups)).await,
            Err(e) => (Err(e), buf),
        }
    }

    /// Receives into `buf` and up to `max` descriptors (`SCM_RIGHTS`).
    pub(crate) async fn recv_fds<B: IoBufMut>(
        &self,
        buf: B,
        max: usize,
    ) -> BufResult<(usize, Vec<OwnedFd>), B> {
        Op::new(RecvFds::new(&self.fd, buf, max)).await
    }

    pub(crate) async fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        Op::new(ShutdownOp::new(&self.fd, how)).await
    }

    /// Closes the descriptor through the driver when this is its last handle, reporting
    /// the error a close on drop would swallow; otherwise drops this handle.
    pub(crate) async fn close(self) -> io::Result<()> {
        match self.fd.try_unwrap() {
            Ok(fd) => Op::new(Close::new(fd)).await,
            Err(_shared) => Ok(()),
        }
    }

    /// Turns a socket2 address into an IP socket address, or a clear error.
    pub(crate) fn ip_addr(addr: SockAddr) -> io::Result<std::net::SocketAddr> {
        addr.as_socket().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidData, "not an IPv4 or IPv6 address")
        })
    }

    /// Turns a socket2 address into a Unix socket address, or a clear error.
    pub(crate) fn unix_addr(addr: SockAddr) -> io::Result<std::os::unix::net::SocketAddr> {
        if addr.is_unnamed() {
            // An unbound peer: std has no constructor for it, so take it from a throwaway
            // unnamed socket.
            let (a, _b) = std::os::unix::net::UnixDatagram::pair()?;
            return a.local_addr();
        }
        if let Some(name) = addr.as_abstract_namespace() {
            use std::os::linux::net::SocketAddrExt;
            return std::os::unix::net::SocketAddr::from_abstract_name(name);
        }
        addr.as_unix()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not a Unix address"))
    }
}

impl AsRawFd for Socket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.raw()
    }
}

impl AsFd for Socket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
