//! Networking: TCP, UDP and Unix sockets whose I/O runs on the runtime's driver.
//!
//! The counterpart of asyncio's `start_server` / `open_connection`: [`TcpListener::bind`]
//! then [`accept`](TcpListener::accept) in a loop, [`TcpStream::connect`]; [`TcpSocket`]
//! sets a socket's options before it connects or listens. Addresses are any
//! [`ToSocketAddrs`]; host names are looked up on the blocking pool ([`lookup_host`]), so
//! no call blocks the runtime's thread on a name server. Every read and
//! write takes an owned buffer and gives it back ([`BufResult`](crate::buf::BufResult)),
//! because the kernel may still use the buffer after the future is dropped. Sockets are
//! non-blocking and close-on-exec; one operation per file under `op/` does the I/O. The
//! futures of reads, writes, `accept` and `connect` ([`future`]) take a deadline with
//! `timeout`, which io_uring enforces in the kernel.

mod addr;
pub mod future;
mod incoming;
mod sendfile;
mod socket;
mod split;
mod tcp;
mod tcp_socket;
mod udp;
mod unix;

pub use addr::{lookup_host, ToSocketAddrs};
pub use incoming::{Incoming, RecvStream};
pub use split::{OwnedReadHalf, OwnedWriteHalf};
#[allow(deprecated)]
pub use tcp::ListenOptions;
pub use tcp::{TcpListener, TcpStream};
pub use tcp_socket::TcpSocket;
pub use udp::UdpSocket;
pub use unix::{UCred, UnixDatagram, UnixListener, UnixStream};
