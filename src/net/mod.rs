//! Networking: TCP, UDP and Unix sockets whose I/O runs on the runtime's driver.
//!
//! The counterpart of asyncio's `start_server` / `open_connection`: [`TcpListener::bind`]
//! then [`accept`](TcpListener::accept) in a loop, [`TcpStream::connect`]. Every read and
//! write takes an owned buffer and gives it back ([`BufResult`](crate::buf::BufResult)),
//! because the kernel may still use the buffer after the future is dropped. Sockets are
//! non-blocking and close-on-exec; one operation per file under `op/` does the I/O. The
//! futures of reads, writes, `accept` and `connect` ([`future`]) take a deadline with
//! `timeout`, which io_uring enforces in the kernel.

pub mod future;
mod incoming;
mod sendfile;
mod socket;
mod split;
mod tcp;
mod udp;
mod unix;

pub use incoming::{Incoming, RecvStream};
pub use split::{OwnedReadHalf, OwnedWriteHalf};
pub use tcp::{ListenOptions, TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixDatagram, UnixListener, UnixStream};
