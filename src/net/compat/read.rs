//! The reading side of the bridge: [`ReadState`], a stream's receive and the bytes it
//! received that the reader has not taken yet.
//!
//! The receive is a [`RecvStream`] on the runtime's shared [`BufRing`] (built at the first
//! read through the traits, one per runtime, kept in its extension slot): on io_uring one
//! multishot recv that takes a buffer only when data arrives, on epoll a single-shot recv
//! into a pool buffer once the socket is readable. Where io_uring has no provided-buffer
//! ring (fast paths off, older kernels) a receive would hold a pool buffer while it waits,
//! so idle streams could drain the shared pool: there each receive reads into a buffer of
//! the stream's own instead.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Context, Poll};

use crate::buf::{BufRing, IoBufMut, PoolBuf};
use crate::net::incoming::RecvStream;
use crate::net::socket::Socket;
use crate::op::recv::Recv;
use crate::runtime::context;
use crate::runtime::op::Op;
use crate::DriverKind;

/// Buffers of the runtime's shared pool.
const POOL_BUFS: u32 = 1024;
/// Size of each of them (and of a stream's own receive buffer where the pool is not used).
const BUF_SIZE: usize = 4096;
/// Below this many free buffers in the pool, the unread rest of a partly read buffer is
/// copied out and its buffer given back, so that readers slow to come back cannot hold the
/// pool dry.
const SPILL_BELOW: usize = POOL_BUFS as usize / 8;

/// The runtime's pool for the bridge's receives (the key of its extension slot).
struct SharedPool(BufRing);

/// Where received bytes come from.
enum Source {
    /// A receive stream on the runtime's shared pool.
    Ring(RecvStream),
    /// Single-shot receives into a buffer of the stream's own; `None` between two.
    Owned(Option<Op<Recv<Vec<u8>>>>),
}

/// Received bytes the reader has not taken yet.
enum Held {
    None,
    Pool(PoolBuf),
    Owned(Vec<u8>),
}

impl Held {
    fn bytes(&self) -> &[u8] {
        match self {
            Held::None => &[],
            Held::Pool(buf) => buf,
            Held::Owned(buf) => buf,
        }
    }
}

/// The reading state of one stream, allocated at its first read through the traits.
pub(crate) struct ReadState {
    source: Option<Source>,
    held: Held,
    /// How much of `held` was taken.
    pos: usize,
    /// The peer closed its side (and every byte before that was taken).
    eof: bool,
    pool: Option<Rc<SharedPool>>,
}

impl ReadState {
    pub(crate) fn new() -> ReadState {
        ReadState {
            source: None,
            held: Held::None,
            pos: 0,
            eof: false,
            pool: None,
        }
    }

    /// Whether nothing is received or armed: an owned-buffer read may then go straight to
    /// the socket without passing any byte.
    pub(crate) fn is_idle(&self) -> bool {
        self.pending() == 0 && matches!(self.source, None | Some(Source::Owned(None)))
    }

    /// Bytes received and not taken.
    fn pending(&self) -> usize {
        self.held.bytes().len() - self.pos
    }

    /// The received bytes not taken yet, receiving more when there are none; empty at end
    /// of stream. Taking them is [`consume`](ReadState::consume).
    pub(crate) fn poll_fill(
        &mut self,
        cx: &mut Context<'_>,
        socket: &Socket,
    ) -> Poll<io::Result<&[u8]>> {
        while self.pending() == 0 && !self.eof {
            ready!(self.poll_receive(cx, socket))?;
        }
        Poll::Ready(Ok(&self.held.bytes()[self.pos..]))
    }

    /// Takes `n` of the bytes [`poll_fill`](ReadState::poll_fill) gave.
    pub(crate) fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.held.bytes().len());
        if self.pending() == 0 {
            self.held = Held::None; // a pool buffer goes back to the pool
            self.pos = 0;
            return;
        }
        let low = self
            .pool
            .as_ref()
            .is_some_and(|p| p.0.available() < SPILL_BELOW);
        if low && matches!(self.held, Held::Pool(_)) {
            let rest = self.held.bytes()[self.pos..].to_vec();
            self.held = Held::Owned(rest);
            self.pos = 0;
        }
    }

    /// Copies received bytes into `dst`; `Ok(0)` at end of stream (or for an empty `dst`).
    #[cfg(feature = "futures-io")]
    pub(crate) fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        socket: &Socket,
        dst: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if dst.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let data = ready!(self.poll_fill(cx, socket))?;
        let n = data.len().min(dst.len());
        dst[..n].copy_from_slice(&data[..n]);
        self.consume(n);
        Poll::Ready(Ok(n))
    }

    /// Copies received bytes into an owned buffer, from its start, as an owned-buffer read
    /// does.
    pub(crate) fn poll_read_owned<B: IoBufMut>(
        &mut self,
        cx: &mut Context<'_>,
        socket: &Socket,
        buf: &mut B,
    ) -> Poll<io::Result<usize>> {
        if buf.bytes_total() == 0 {
            return Poll::Ready(Ok(0));
        }
        let data = ready!(self.poll_fill(cx, socket))?;
        let n = data.len().min(buf.bytes_total());
        // SAFETY: `IoBufMut` promises `bytes_total` writable bytes at `stable_mut_ptr`, and
        // `n` is within them; the source is this state's own memory, not the buffer's.
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), buf.stable_mut_ptr(), n);
            buf.set_init(n);
        }
        self.consume(n);
        Poll::Ready(Ok(n))
    }

    /// One receive: fills `held`, or sets `eof`.
    fn poll_receive(&mut self, cx: &mut Context<'_>, socket: &Socket) -> Poll<io::Result<()>> {
        if self.source.is_none() {
            self.source = Some(self.open(socket)?);
        }
        match self.source.as_mut() {
            Some(Source::Ring(recv)) => match ready!(recv.poll_next(cx)) {
                Some(Ok(buf)) => self.hold(Held::Pool(buf)),
                Some(Err(e)) => return Poll::Ready(Err(e)),
                None => self.end(),
            },
            Some(Source::Owned(op)) => {
                let op = op.get_or_insert_with(|| {
                    Op::new(Recv::new(socket.fd(), Vec::with_capacity(BUF_SIZE)))
                });
                let (res, buf) = ready!(Pin::new(op).poll(cx));
                self.source = Some(Source::Owned(None));
                match res {
                    Ok(0) => self.end(),
                    Ok(_) => self.hold(Held::Owned(buf)),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Poll::Ready(Err(e)),
                }
            }
            None => {}
        }
        Poll::Ready(Ok(()))
    }

    fn hold(&mut self, held: Held) {
        self.held = held;
        self.pos = 0;
    }

    /// End of stream: the receive is over.
    fn end(&mut self) {
        self.eof = true;
        self.source = None;
    }

    /// The receive of this stream, on the current runtime's pool.
    fn open(&mut self, socket: &Socket) -> io::Result<Source> {
        let pool = context::local(|| {
            let ring = BufRing::builder().count(POOL_BUFS).size(BUF_SIZE).build()?;
            Ok(SharedPool(ring))
        })?;
        let epoll = crate::runtime::current_driver() == Some(DriverKind::Epoll);
        let source = if pool.0.is_provided() || epoll {
            Source::Ring(RecvStream::new(socket.fd(), &pool.0))
        } else {
            Source::Owned(None)
        };
        self.pool = Some(pool);
        Ok(source)
    }
}

/// How many buffers of the current runtime's shared pool are free; `None` before the first
/// read through the bridge built it.
#[cfg(test)]
pub(super) fn shared_pool_free() -> Option<usize> {
    let pool = context::local::<SharedPool>(|| Err(io::Error::other("not built yet")));
    pool.ok().map(|p| p.0.available())
}
