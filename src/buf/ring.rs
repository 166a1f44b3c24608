//! [`BufRing`]: a pool of equal buffers that receives pick from as data arrives.
//!
//! On io_uring (with the fast paths on and a kernel with `IORING_REGISTER_PBUF_RING`) the
//! pool is a provided-buffer ring: an array of `io_uring_buf` entries shared with the kernel,
//! whose tail (in the first entry's reserved field) the pool advances as buffers come back.
//! A multishot recv then takes a buffer only when data arrives, so a connection waiting for
//! data holds none. Elsewhere the pool is a plain free list that single-shot receives take
//! from (on epoll, only once the socket is readable).
//!
//! A [`PoolBuf`](super::PoolBuf) is one filled buffer; dropping it gives the buffer back.
//! The pool's memory is `pool.rs`: it lives as long as any [`BufRing`] handle,
//! [`PoolBuf`](super::PoolBuf) or receive that may select from it (each holds the pool),
//! and the ring is unregistered before it is freed (`[multishot-slot]`).

use std::fmt;
use std::io;
use std::rc::Rc;

use super::pool::{Pool, DEFAULT_MAX_QUEUED};
use crate::runtime::context;

/// A pool of `count` buffers of `size` bytes for
/// [`TcpStream::recv_multi`](crate::net::TcpStream::recv_multi), bound to the runtime it was
/// built on. Cloning gives another handle to the same pool, so many connections can share
/// one.
///
/// # Sharing, and its limit
/// A stream whose consumer stops taking buffers (an echo task blocked writing to a peer
/// that does not read) holds at most: the buffers its consumer holds, [`max_queued`]
/// filled ones waiting to be taken, and those the kernel filled before the pause took
/// effect (with a provided ring, one wake-up's batch: Linux retries a multishot receive
/// up to 32 times while the socket has data). Then its data waits in the socket. So about
/// `count / (max_queued + 1)` such stalled streams (an echo loop holds one buffer), and in
/// the worst case `count / (max_queued + 33)`, can hold the whole pool; the other streams
/// then wait (they get no error) and receive again as soon as any buffer comes back. Size
/// the pool for the stalled peers to tolerate, or give untrusted peers their own pool.
///
/// With a provided ring a stream waiting for data holds no buffer. Without one (fast paths
/// off, or a kernel without `PBUF_RING`), on io_uring each waiting receive holds one, so
/// the pool must have a buffer for every stream that waits at once; on epoll a buffer is
/// taken only once the socket is readable.
///
/// [`max_queued`]: BufRingBuilder::max_queued
///
/// ```no_run
/// # proactor::block_on(async {
/// use proactor::buf::BufRing;
/// let pool = BufRing::builder().count(64).size(4096).build()?;
/// # Ok::<(), std::io::Error>(())
/// # });
/// ```
#[derive(Clone)]
pub struct BufRing {
    pool: Rc<Pool>,
}

/// Configures a [`BufRing`]: 256 buffers of 4096 bytes, at most
/// [`DEFAULT_MAX_QUEUED`](BufRingBuilder::DEFAULT_MAX_QUEUED) queued per stream, unless told
/// otherwise.
#[derive(Clone, Debug)]
pub struct BufRingBuilder {
    count: u32,
    size: usize,
    max_queued: usize,
}

impl BufRing {
    /// A builder with the defaults (256 buffers of 4 KiB, 4 queued per stream).
    pub fn builder() -> BufRingBuilder {
        BufRingBuilder {
            count: 256,
            size: 4096,
            max_queued: BufRingBuilder::DEFAULT_MAX_QUEUED,
        }
    }

    /// Number of buffers in the pool.
    pub fn count(&self) -> usize {
        self.pool.count()
    }

    /// Size of each buffer in bytes.
    pub fn buf_size(&self) -> usize {
        self.pool.buf_size()
    }

    /// How many buffers are free: neither held by a [`PoolBuf`](super::PoolBuf) nor filled
    /// by the kernel for a receive stream that has not taken them yet, nor (without a
    /// provided ring) lent to a receive in flight. With a provided ring, a buffer the
    /// kernel has just filled counts as free until its completion reaches the runtime (the
    /// next loop turn).
    pub fn available(&self) -> usize {
        self.pool.available()
    }

    /// How many filled buffers one [`RecvStream`](crate::net::RecvStream) may have waiting
    /// for its consumer before its receive is paused (see
    /// [`BufRingBuilder::max_queued`]).
    pub fn max_queued(&self) -> usize {
        self.pool.max_queued()
    }

    /// Whether the kernel picks the buffers (a registered provided-buffer ring) rather than
    /// single-shot receives taking them from a free list.
    pub fn is_provided(&self) -> bool {
        self.pool.bgid().is_some()
    }

    pub(crate) fn pool(&self) -> &Rc<Pool> {
        &self.pool
    }
}

impl fmt::Debug for BufRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufRing")
            .field("count", &self.count())
            .field("buf_size", &self.buf_size())
            .field("available", &self.available())
            .field("max_queued", &self.max_queued())
            .field("provided", &self.is_provided())
            .finish()
    }
}

impl BufRingBuilder {
    /// The default of [`max_queued`](BufRingBuilder::max_queued): enough for the few
    /// buffers a busy stream fills between two turns of the loop (each turn its consumer
    /// takes them), few enough that a stalled consumer pins little of a pool of hundreds.
    pub const DEFAULT_MAX_QUEUED: usize = DEFAULT_MAX_QUEUED;

    /// Number of buffers: a power of two from 1 to 32768.
    pub fn count(&mut self, count: u32) -> &mut Self {
        self.count = count;
        self
    }

    /// Size of each buffer in bytes (1 to `u32::MAX`).
    pub fn size(&mut self, size: usize) -> &mut Self {
        self.size = size;
        self
    }

    /// How many filled buffers one receive stream may hold that its consumer has not taken
    /// yet (at least 1; default [`DEFAULT_MAX_QUEUED`](BufRingBuilder::DEFAULT_MAX_QUEUED)).
    ///
    /// A multishot receive keeps filling buffers as data arrives, whether or not the
    /// stream's consumer takes them. When this many wait, and still do once the consumer
    /// has had a turn of the loop to take them, the receive is cancelled: further data
    /// stays in the socket's receive buffer (TCP flow control then slows the peer) and the
    /// receive is armed again once the consumer has taken what was queued. Nothing is lost
    /// or reordered. The kernel may fill a few more buffers (at most one wake-up's batch)
    /// before the cancel takes effect. Buffers the consumer holds (live
    /// [`PoolBuf`](super::PoolBuf)s) are not limited: an echo loop holds one at a time, but
    /// one that keeps many holds that many. Single-shot receives (epoll, fast paths off)
    /// fill one buffer per poll, so nothing queues there.
    pub fn max_queued(&mut self, max_queued: usize) -> &mut Self {
        self.max_queued = max_queued;
        self
    }

    /// Builds the pool on the current runtime (registering a buffer ring with the kernel
    /// where it can). Errors on a bad count, size or `max_queued`, or outside a runtime.
    pub fn build(&self) -> io::Result<BufRing> {
        let invalid = |msg: String| io::Error::new(io::ErrorKind::InvalidInput, msg);
        if self.max_queued == 0 {
            return Err(invalid("max_queued must be at least 1".to_string()));
        }
        if !self.count.is_power_of_two() || self.count > 32768 {
            return Err(invalid(format!(
                "buffer count {} is not a power of two from 1 to 32768",
                self.count
            )));
        }
        if self.size == 0 || self.size > u32::MAX as usize {
            return Err(invalid(format!(
                "buffer size {} is out of range",
                self.size
            )));
        }
        let Some(driver) = context::try_current_driver() else {
            return Err(io::Error::other(
                "BufRing::build needs a proactor runtime on this thread",
            ));
        };
        let mut pool = Pool::new(self.count as usize, self.size, &driver)?;
        pool.set_max_queued(self.max_queued);
        Ok(BufRing {
            pool: Rc::new(pool),
        })
    }
}
