//! [`Incoming`] (a stream of accepted connections) and [`RecvStream`] (a stream of received
//! buffers): the multishot io_uring fast paths, with single-shot fallbacks behind the same
//! API on every driver.

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::task::{ready, Context, Poll};

use crate::buf::pool::Pool;
use crate::buf::{BufRing, PoolBuf};
use crate::driver::{MultiPolicy, SharedFd};
use crate::net::socket::Socket;
use crate::net::TcpStream;
use crate::op::accept_multi::{accepted, AcceptMulti};
use crate::op::recv_multi::{another_runtime, RecvMulti};
use crate::runtime::context;
use crate::runtime::op::MultiOp;
use crate::sys;

/// How many accepted connections one [`Incoming`] may hold that its consumer has not taken:
/// past that (checked at the driver's next turn) the multishot accept is cancelled and
/// connections wait in the kernel's backlog.
const ACCEPT_QUEUE: usize = 32;

/// Connections accepted by a [`TcpListener`](crate::net::TcpListener), from
/// [`incoming`](crate::net::TcpListener::incoming). With the `stream` feature it is a
/// `futures_core::Stream` too.
///
/// The process holds only a few connections its consumer has not taken. On io_uring the
/// multishot accept queues at most 32 of them, plus those the kernel
/// accepted before the driver's next turn; past that it is paused, and the rest wait in the
/// listener's backlog. It is armed only when that backlog is empty (`TCP_INFO`); otherwise
/// connections are taken one accept at a time until it is, so a deep backlog is never
/// accepted in one burst.
pub struct Incoming {
    op: MultiOp<AcceptMulti>,
    /// Whether the ring offers multishot accept.
    multishot: bool,
}

impl Incoming {
    pub(crate) fn new(fd: &SharedFd) -> Incoming {
        let multishot = context::with_uring(|u| u.fast_paths().accept_multi).unwrap_or(false);
        let policy = MultiPolicy {
            cap: Some(ACCEPT_QUEUE),
            free_buffers: None,
        };
        Incoming {
            op: MultiOp::with_policy(AcceptMulti::new(fd, multishot), policy),
            multishot,
        }
    }

    /// The next connection and its peer's address. Never `None`: a listener keeps
    /// accepting; an error (e.g. out of descriptors) is given once and accepting goes on.
    /// A connection whose peer reset before it was picked up is closed and skipped.
    /// Errors that concern one connection only (`ECONNABORTED`, `EPROTO`, `EPERM`, ...) are
    /// given too: the next call goes on with the next connection.
    pub async fn next(&mut self) -> Option<io::Result<(TcpStream, SocketAddr)>> {
        poll_fn(|cx| self.poll_next(cx)).await
    }

    /// Polls for the next connection (the poll form of [`next`](Incoming::next)).
    pub fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<io::Result<(TcpStream, SocketAddr)>>> {
        loop {
            if self.multishot && self.op.is_idle() {
                // A multishot accept takes the whole backlog at once: armed only when it is
                // empty, else one connection per accept.
                let op = self.op.get_mut();
                let empty = sys::accept_queue_len(op.listener()) == Some(0);
                op.set_multishot(empty);
            }
            let completion = ready!(self.op.poll_next(cx));
            let last = !completion.more();
            let socket = match accepted(completion) {
                Ok(fd) => Socket::from_owned(fd),
                // Paused by a full queue (the only cancel of a live accept): armed again.
                Err(e) if last && e.raw_os_error() == Some(libc::ECANCELED) => continue,
                Err(e) => return Poll::Ready(Some(Err(e))),
            };
            // A peer that reset before the connection was picked up leaves a socket with no
            // peer (`getpeername`: ENOTCONN). The connection is gone, not the listener:
            // close it and take the next one.
            let Ok(peer) = socket.sock_ref().peer_addr() else {
                continue;
            };
            if let Ok(peer) = Socket::ip_addr(peer) {
                return Poll::Ready(Some(Ok((TcpStream::from_socket(socket), peer))));
            }
        }
    }
}

impl std::fmt::Debug for Incoming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Incoming").finish_non_exhaustive()
    }
}

/// Buffers received on a [`TcpStream`], from [`recv_multi`](TcpStream::recv_multi). With the
/// `stream` feature it is a `futures_core::Stream` too.
///
/// At most [`BufRing::max_queued`] filled buffers (plus the kernel's last batch) wait for a
/// consumer that does not take them: past that the receive pauses, the data waits in the
/// socket, and TCP flow control slows the peer; the next [`next`](RecvStream::next) after
/// the queue is taken resumes it. When the pool is dry the stream waits for a buffer to
/// come back (any stream's [`PoolBuf`] dropped), then receives again.
pub struct RecvStream {
    op: MultiOp<RecvMulti>,
    pool: Rc<Pool>,
    done: bool,
}

impl RecvStream {
    pub(crate) fn new(fd: &SharedFd, pool: &BufRing) -> RecvStream {
        let pool_state = pool.pool();
        let policy = MultiPolicy {
            cap: Some(pool_state.max_queued()),
            free_buffers: pool_state
                .bgid()
                .map(|_| pool_state.available_counter().clone()),
        };
        RecvStream {
            op: MultiOp::with_policy(RecvMulti::new(fd, pool_state), policy),
            pool: pool_state.clone(),
            done: false,
        }
    }

    /// The next buffer of received bytes (never empty); `None` once the peer closed its
    /// side. Errors other than a dry pool (which is waited out) or a paused receive (which
    /// is resumed) are passed on.
    pub async fn next(&mut self) -> Option<io::Result<PoolBuf>> {
        poll_fn(|cx| self.poll_next(cx)).await
    }

    /// Polls for the next buffer (the poll form of [`next`](RecvStream::next)).
    #[inline]
    pub fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<PoolBuf>>> {
        loop {
            if self.done {
                return Poll::Ready(None);
            }
            if self.op.is_idle() {
                // Armed only on the runtime the pool was built on: its buffers are another
                // ring's otherwise.
                if !context::is_current_driver(self.pool.driver()) {
                    self.done = true;
                    return Poll::Ready(Some(Err(another_runtime())));
                }
                ready!(self.pool.poll_available(cx));
            }
            let completion = ready!(self.op.poll_next(cx));
            match self.op.get_mut().item(completion) {
                Ok(Some(buf)) => return Poll::Ready(Some(Ok(buf))),
                Ok(None) => {
                    self.done = true;
                    return Poll::Ready(None);
                }
                // A dry pool, or the receive paused by a full queue (the only cancel of a
                // live stream's receive): arm it again, once a buffer is free.
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOBUFS | libc::ECANCELED)) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Poll::Ready(Some(Err(e))),
            }
        }
    }
}

impl std::fmt::Debug for RecvStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvStream")
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "stream")]
impl futures_core::Stream for Incoming {
    type Item = io::Result<(TcpStream, SocketAddr)>;

    /// As [`Incoming::poll_next`]: never ends.
    fn poll_next(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Incoming::poll_next(self.get_mut(), cx)
    }
}

#[cfg(feature = "stream")]
impl futures_core::Stream for RecvStream {
    type Item = io::Result<PoolBuf>;

    /// As [`RecvStream::poll_next`]: ends at end of stream.
    fn poll_next(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        RecvStream::poll_next(self.get_mut(), cx)
    }
}
