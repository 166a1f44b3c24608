//! [`QueueWrite`], the future of a stream's `queue_write`: a whole-buffer write that, where
//! the kernel finishes sends on its own, returns as soon as the send is handed to it.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Context, Poll};

use super::compat::write::LINGER;
use super::compat::WriteCompat;
use super::future::Write;
use super::socket::Socket;
use crate::buf::{BufResult, IoBuf};
use crate::op::send_queued::{QueuedSend, SendQueue, Writing};
use crate::runtime::context;

/// The future of a stream's `queue_write` (of [`TcpStream`](super::TcpStream),
/// [`UnixStream`](super::UnixStream) and [`OwnedWriteHalf`](super::OwnedWriteHalf),
/// through their owned-buffer views). Its output is `Ok(())` once all of the buffer is
/// written, or handed to the kernel in a send it finishes by itself; the buffer is not
/// handed back.
///
/// - On io_uring (with `MSG_WAITALL` sends, Linux 6.0 and later: see
///   [`RingFeatures::send_zc`](crate::RingFeatures::send_zc)) the send is submitted and
///   the future is ready at once. The driver keeps the buffer and the socket until the
///   send completes, and frees the buffer then (a pool buffer goes back to its pool then),
///   whether or not the stream still exists. Nobody is woken for that completion: a
///   request-response loop pays one wake-up per request, its receive's.
/// - Elsewhere (epoll, older kernels), it is `write_all`: ready once the socket took every
///   byte.
///
/// At most one queued send is in flight per stream. Whatever writes next waits for it:
/// another `queue_write`, `write`, `write_all`, `write_vectored`, `shutdown`, and the
/// poll-based traits' writes, flush and shutdown; so the bytes keep their order, and a peer
/// that does not read holds one buffer of the stream's, not a growing queue. A write takes
/// its place in that order at its first poll. Only a `queue_write` holds the order while it
/// runs: a `write` or `write_all` of another task still in flight does not, and a write
/// polled meanwhile (a `queue_write` too) may interleave with it, as two owned-buffer
/// writes polled at once by two tasks may; one writer at a time keeps the order. If the
/// send fails (the peer reset the connection) its error is the output of whichever of those
/// comes next, once. Converting the stream to a std one waits for none: it is an error
/// while a queued send is in flight, and drops a failure not told yet.
///
/// Dropping the future before it is ready gives the write up, as dropping `write_all` does:
/// some of the bytes may have been written. Once it was ready, the bytes go out even if the
/// stream is dropped next (the socket closes after them), within 10 s of the drop: past
/// that the send is cancelled, so that a peer that never reads cannot hold the buffer and
/// the socket for ever (as the bytes of the poll-based traits' writes of a dropped stream
/// are given up). A stream dropped outside its runtime's `block_on` (kept past it, dropped
/// between two) leaves its send to the runtime's drain instead. A runtime dropped or shut
/// down with such a send in flight lets it finish for up to 10 s
/// ([`Builder::queue_write_linger`](crate::Builder::queue_write_linger); half of
/// [`shutdown_timeout`](crate::Runtime::shutdown_timeout)'s timeout at most) before it
/// cancels it; a writer told of a send that was cancelled so gets an error from its next
/// write, if it outlives the runtime. The send goes on only while its runtime's loop runs
/// (a `block_on` of it, or its drain): a stream whose send was queued on one runtime and
/// that is written to from another on the same thread waits for the first to run again.
#[must_use = "futures do nothing unless polled"]
pub struct QueueWrite<'a, B: IoBuf> {
    socket: &'a Socket,
    wr: &'a WriteCompat,
    /// The buffer, until the first send is made (left to the kernel, or tried).
    buf: Option<B>,
    /// What is left after a first send that did not finish at once (the socket was full, or
    /// took part of the buffer): its wait, and the writes of the rest. Boxed, off the
    /// common path.
    rest: Option<Pin<Box<dyn Future<Output = io::Result<()>> + 'a>>>,
}

impl<'a, B: IoBuf> QueueWrite<'a, B> {
    #[inline]
    pub(crate) fn new(socket: &'a Socket, wr: &'a WriteCompat, buf: B) -> Self {
        QueueWrite {
            socket,
            wr,
            buf: Some(buf),
            rest: None,
        }
    }

    /// The first send, where it did not finish at once (its wait, or its short or
    /// interrupted result): awaited in a box, then the writes of the rest.
    #[cold]
    #[inline(never)]
    fn rest<F>(&mut self, first: F, cx: &mut Context<'_>) -> Poll<io::Result<()>>
    where
        F: Future<Output = BufResult<usize, B>> + 'a,
    {
        let socket = self.socket;
        let writing = Writing::new(&self.wr.queue().queue);
        let rest = self.rest.insert(Box::pin(async move {
            let _writing = writing;
            let (res, buf) = first.await;
            let done = match res {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => 0,
                Err(e) => return Err(e),
            };
            // Its place in the stream's order was taken at the first poll (and is held).
            let write = move |rest, _| Write::new(socket.write(rest));
            crate::io::write_all_from(buf, done, write).await.0
        }));
        rest.as_mut().poll(cx)
    }
}

/// Leaves the send of `buf` to the kernel, its completion told to `queue`; the buffer
/// back, to write as usual, where the driver cannot.
#[inline]
fn start_detached<B: IoBuf>(socket: &Socket, buf: B, queue: &Rc<SendQueue>) -> Result<(), B> {
    let op = QueuedSend::boxed(socket.fd(), buf, queue);
    let seq = op.seq();
    let driver = context::current_driver();
    match driver.start_detached(op) {
        // Its completion is told at a release after a turn: after this.
        Ok(token) => {
            queue.started(seq, token, &driver);
            Ok(())
        }
        Err(op) => Err(op.into_buf()),
    }
}

/// A stream goes away with a queued send in flight: the send may take up to [`LINGER`]
/// (as the bridge's bytes of a dropped stream do); past that it is cancelled, so that a
/// peer that never reads cannot hold the buffer and the socket for ever. Outside a runtime
/// (a stream dropped between two `block_on`s) nothing is started: the send is bounded by
/// the runtime's drain then. The timer does not keep the send's driver alive.
pub(crate) fn linger(queue: &Rc<SendQueue>) {
    let Some((token, driver)) = queue.in_flight() else {
        return;
    };
    let queue = queue.clone();
    crate::runtime::task::spawn_detached(async move {
        let mut sleep = std::pin::pin!(crate::time::sleep(LINGER));
        let done = std::future::poll_fn(|cx| {
            if queue.in_flight().is_none_or(|(t, _)| t != token) {
                return Poll::Ready(true);
            }
            if sleep.as_mut().poll(cx).is_ready() {
                return Poll::Ready(false);
            }
            // Woken when the send completes (and then found done above).
            let _ = queue.poll_done(cx);
            Poll::Pending
        })
        .await;
        if let (false, Some(driver)) = (done, driver.upgrade()) {
            driver.cancel_detached(token);
        }
    });
}

// Nothing is pinned structurally: the buffer is only moved, and the rest is boxed.
impl<B: IoBuf> Unpin for QueueWrite<'_, B> {}

impl<B: IoBuf> Future for QueueWrite<'_, B> {
    type Output = io::Result<()>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(rest) = &mut this.rest {
            return rest.as_mut().poll(cx);
        }
        // What was written before goes first, and its failure is told here.
        if let Err(e) = ready!(this.wr.poll_flush_owned(cx)) {
            this.buf = None;
            return Poll::Ready(Err(e));
        }
        let buf = this
            .buf
            .take()
            .expect("proactor: QueueWrite polled after completion");
        // (A send's length is a `u32`: a larger buffer goes in several.)
        let buf = if this.wr.detaches() && buf.bytes_init() <= u32::MAX as usize {
            match start_detached(this.socket, buf, &this.wr.queue().queue) {
                Ok(()) => return Poll::Ready(Ok(())),
                Err(buf) => buf,
            }
        } else {
            buf
        };
        // The socket mostly takes the whole buffer at once.
        let mut op = this.socket.write(buf);
        match Pin::new(&mut op).poll(cx) {
            Poll::Ready((Ok(n), buf)) if n >= buf.bytes_init() => Poll::Ready(Ok(())),
            Poll::Ready((Err(e), _)) if e.kind() != io::ErrorKind::Interrupted => {
                Poll::Ready(Err(e))
            }
            Poll::Ready(out) => this.rest(std::future::ready(out), cx),
            Poll::Pending => this.rest(op, cx),
        }
    }
}

impl<B: IoBuf> fmt::Debug for QueueWrite<'_, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueWrite").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
