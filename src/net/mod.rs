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
//!
//! The streams dereference to their owned-buffer views ([`StreamIo`], [`ReadIo`],
//! [`WriteIo`]), which carry those reads and writes; the owned-buffer traits
//! ([`AsyncReadRent`](crate::io::AsyncReadRent), [`AsyncWriteRent`](crate::io::AsyncWriteRent))
//! make them generic. Every socket type has `AsFd`, `AsRawFd`, `FromRawFd`, `IntoRawFd`,
//! `from_std` and `into_std`, so `socket2::SockRef::from(&stream)` sets any option.
//!
//! **Writes that do not wait for the kernel.** `queue_write(buf)` writes all of `buf`
//! without handing it back ([`QueueWrite`](future::QueueWrite)). On io_uring it is ready as
//! soon as the send is submitted: the driver keeps the buffer and the socket until the
//! kernel has sent everything (`MSG_WAITALL`), frees the buffer then (a pool buffer goes back
//! to its pool at once), and wakes nobody; a failure is the output of the stream's next
//! write, flush or shutdown. At most one such send is in flight per stream, and whatever
//! writes next waits for it, so the byte order stays whole and a peer that does not read
//! holds one buffer, not a queue. On epoll (and io_uring before Linux 6.0) it is
//! `write_all`. An echo or a request-response loop wakes its task once per request this
//! way, where `write_all` needs a second wake-up for the send's completion:
//!
//! ```
//! use std::net::Shutdown;
//! use proactor::net::UnixStream;
//! # proactor::block_on(async {
//! let (ours, theirs) = UnixStream::pair()?;
//! ours.queue_write(b"hello ".to_vec()).await?;
//! ours.queue_write(b"world".to_vec()).await?; // after the first, in order
//! ours.shutdown(Shutdown::Write).await?; // after both: and tells their failure, if any
//! let (res, got) = theirs.read_exact(Vec::with_capacity(11)).await;
//! res?;
//! assert_eq!(got, b"hello world");
//! # Ok::<(), std::io::Error>(())
//! # }).unwrap();
//! ```
//!
//! # The poll-based bridge
//! With the `tokio-io` feature, [`TcpStream`], [`UnixStream`] and the halves implement
//! `tokio::io::{AsyncRead, AsyncBufRead, AsyncWrite}` (and are `Unpin`); with `futures-io`,
//! `futures_io::{AsyncRead, AsyncBufRead, AsyncWrite}`. Code written against those traits
//! (hyper through hyper-util's `TokioIo`, tokio-util codecs, tokio-rustls, `tokio::io::copy`)
//! runs unchanged. It is an io_uring path, not a readiness emulation: each direction of a
//! stream keeps its own state, allocated at its first poll (a stream never used through the
//! traits allocates and submits nothing for them).
//!
//! **Reads.** The first read arms a receive on a buffer pool shared by the runtime (built at
//! the first such read: 1024 buffers of 4 KiB): on io_uring one multishot recv from a
//! provided-buffer ring, which takes a buffer only when data arrives, so an idle
//! keep-alive connection holds no read buffer; on epoll a single-shot recv into a pool
//! buffer once the socket is readable; on io_uring without provided rings (fast paths off,
//! older kernels) single-shot recvs into a 4 KiB buffer of the stream's own. A read copies
//! out of the received buffer; what the caller's buffer had no room for stays in the
//! stream and is served first by the next read (when the pool runs low, that rest is
//! copied out so the pool buffer goes back). `poll_fill_buf` / `consume`
//! (`AsyncBufRead`) give the received bytes without a copy.
//!
//! *Cancellation:* the receive and the bytes it received live in the stream, not in the
//! read's future: a read future dropped (by `select!`, a `timeout`) loses no byte; data
//! the kernel already delivered is returned by the next read. A peer's reset is an error
//! of kind `ConnectionReset` from the next read (or write), never a panic. The multishot
//! receive stays armed until end of stream; it pauses when four received buffers wait
//! unread (TCP flow control then slows the peer) and resumes once they are read.
//!
//! **Writes.** `poll_write` copies the bytes into a staging buffer of the stream and
//! returns `Ready(Ok(n))` at once; one send is in flight at a time (on io_uring with
//! `MSG_WAITALL`, so the kernel sends all of it without being polled again; on kernels
//! older than 6.0, or with the fast paths off, the pump below polls every send), and bytes
//! accepted meanwhile go out with the next send. `Ready(Ok(n))` means those `n` bytes will
//! be sent whatever the writer does next, or the error that stopped them is returned by
//! the next call (`poll_write`, `poll_flush` or `poll_shutdown`): when bytes need another
//! poll to go out (staged behind the send in flight, or an epoll send waiting for the
//! socket to drain), a task of the runtime takes the sends over until all is sent. At most
//! 64 KiB are accepted and not yet sent: past that `poll_write` is `Pending` until a send
//! completes, so a peer that never reads stops the writer. `poll_flush` is ready once every
//! accepted byte was sent or, on io_uring, is in a send the kernel completes by itself; a
//! send still in flight then is collected (and its error, if any, returned) by the next
//! call, and its completion wakes nobody, so a request-response loop pays one wake-up per
//! request. `poll_shutdown` (futures' `poll_close`) waits until every send completed, then
//! shuts the write direction down (the peer reads end of stream). A dropped stream's
//! accepted bytes are still sent, by that task, for at most 10 s (then the socket closes);
//! outside a runtime they are dropped. Vectored writes are one copy into the staging
//! buffer and one send.
//!
//! **Mixing the styles.** The owned-buffer methods keep the byte order with the bridge: a
//! read takes the bytes the bridge received first, a write or `shutdown` waits until the
//! bytes it accepted are sent, and the bridge's writes, flush and shutdown wait for a
//! `queue_write`'s send in flight. [`into_split`](TcpStream::into_split) hands each half its
//! direction's state. `into_std` fails while the bridge holds bytes or an armed receive.

mod addr;
mod compat;
pub mod future;
mod incoming;
mod queue_write;
mod raw;
mod sendfile;
mod socket;
mod split;
mod stream_io;
mod tcp;
mod tcp_socket;
mod udp;
mod unix;

pub use addr::{lookup_host, ToSocketAddrs};
pub use incoming::{Incoming, RecvStream};
pub use split::{OwnedReadHalf, OwnedWriteHalf};
pub use stream_io::{ReadIo, StreamIo, WriteIo};
#[allow(deprecated)]
pub use tcp::ListenOptions;
pub use tcp::{TcpListener, TcpStream};
pub use tcp_socket::TcpSocket;
pub use udp::UdpSocket;
pub use unix::{UCred, UnixDatagram, UnixListener, UnixStream};
