//! [`BufRing`]: a pool of equal buffers that receives pick from as data arrives.
//!
//! On io_uring (with the fast paths on and a kernel with `IORING_REGISTER_PBUF_RING`) the
//! pool is a provided-buffer ring: an array of `io_uring_buf` entries shared with the kernel,
//! whose tail (in the first entry's reserved field) the pool advances as buffers come back.
//! A multishot recv then takes a buffer only when data arrives, so a connection waiting for
//! data holds none. Elsewhere the pool is a plain free list that single-shot receives take
//! from (on epoll, only once the socket is readable).
//!
//! A [`PoolBuf`] is one filled buffer; dropping it gives the buffer back. The pool's memory
//! (buffers and ring) lives as long as any [`BufRing`] handle, [`PoolBuf`] or receive that
//! may select from it (each holds the pool), and the ring is unregistered before it is freed
//! (invariant 5).

use std::alloc::Layout;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::ops::Deref;
use std::ptr::NonNull;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicU16, Ordering};
use std::task::{Context, Poll, Waker};

use crate::buf::IoBuf;
use crate::runtime::context::{self, Core};

/// One `io_uring_buf`: the kernel's layout of a buffer-ring entry. The first entry's `resv`
/// field is the ring's tail.
#[repr(C)]
struct RawEntry {
    addr: u64,
    len: u32,
    bid: u16,
    resv: u16,
}

const PAGE: usize = 4096;

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
        self.pool.count as usize
    }

    /// Size of each buffer in bytes.
    pub fn buf_size(&self) -> usize {
        self.pool.size
    }

    /// How many buffers are free: neither held by a [`PoolBuf`] nor filled by the kernel
    /// for a receive stream that has not taken them yet, nor (without a provided ring)
    /// lent to a receive in flight. With a provided ring, a buffer the kernel has just
    /// filled counts as free until its completion reaches the runtime (the next loop turn).
    pub fn available(&self) -> usize {
        self.pool.available.get()
    }

    /// How many filled buffers one [`RecvStream`](crate::net::RecvStream) may have waiting
    /// for its consumer before its receive is paused (see
    /// [`BufRingBuilder::max_queued`]).
    pub fn max_queued(&self) -> usize {
        self.pool.max_queued
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
    pub const DEFAULT_MAX_QUEUED: usize = 4;

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
    /// has had a turn of the loop to take them, the receive is cancelled: further
    /// data stays in the socket's receive buffer (TCP flow control then slows the peer) and
    /// the receive is armed again once the consumer has taken what was queued. Nothing is
    /// lost or reordered. The kernel may fill a few more buffers (at most one wake-up's
    /// batch) before the cancel takes effect. Buffers the consumer holds (live
    /// [`PoolBuf`]s) are not limited: an echo loop holds one at a time, but one that keeps
    /// many holds that many. Single-shot receives (epoll, fast paths off) fill one buffer
    /// per poll, so nothing queues there.
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
        if context::try_with_current(|_| ()).is_none() {
            return Err(io::Error::other(
                "BufRing::build needs a proactor runtime on this thread",
            ));
        }
        let mut pool = Pool::new(self.count as usize, self.size)?;
        pool.max_queued = self.max_queued;
        Ok(BufRing {
            pool: Rc::new(pool),
        })
    }
}

/// Where the free buffers are.
enum Free {
    /// In the kernel's buffer ring of group `bgid`; `tail` mirrors the shared tail.
    Provided {
        ring: NonNull<RawEntry>,
        bgid: u16,
        tail: Cell<u16>,
    },
    /// In a free list that single-shot receives take from.
    Local(RefCell<Vec<u16>>),
}

/// The shared state behind [`BufRing`], [`PoolBuf`] and the receives using the pool.
pub(crate) struct Pool {
    /// `count * size` bytes on the heap, never moved; buffer `bid` starts at `bid * size`.
    bufs: NonNull<u8>,
    size: usize,
    count: u32,
    free: Free,
    /// Free buffers. Shared with the in-flight slots of multishot receives, which count a
    /// buffer as taken when the completion naming it arrives.
    available: Rc<Cell<usize>>,
    max_queued: usize,
    waiters: RefCell<Vec<Waker>>,
    core: Weak<Core>,
}

fn bufs_layout(count: usize, size: usize) -> io::Result<Layout> {
    count
        .checked_mul(size)
        .and_then(|total| Layout::from_size_align(total, PAGE).ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "buffer pool is too large"))
}

fn ring_layout(count: usize) -> Layout {
    Layout::from_size_align(count * size_of::<RawEntry>(), PAGE).expect("at most 512 KiB")
}

/// Allocates heap memory for `layout` (never zero-sized here), zeroed if `zeroed`. The
/// buffers are not zeroed: nothing reads a byte the kernel has not written (a `PoolBuf`
/// shows only the bytes received), and untouched pages of a large pool then cost no memory
/// until a receive first uses them.
fn alloc(layout: Layout, zeroed: bool) -> io::Result<NonNull<u8>> {
    // SAFETY: both layouts of this file have a non-zero size (count and size are >= 1).
    let ptr = unsafe {
        if zeroed {
            std::alloc::alloc_zeroed(layout)
        } else {
            std::alloc::alloc(layout)
        }
    };
    NonNull::new(ptr)
        .ok_or_else(|| io::Error::new(io::ErrorKind::OutOfMemory, "cannot allocate buffers"))
}

impl Pool {
    fn new(count: usize, size: usize) -> io::Result<Pool> {
        let bufs = alloc(bufs_layout(count, size)?, false)?;
        let core = context::current();
        let ring = alloc(ring_layout(count), true)?.cast::<RawEntry>();
        // SAFETY: `ring` is a page-aligned zeroed allocation of `count` entries, freed only
        // in `Drop for Pool` after unregistering (or leaked when that fails) (invariant 5).
        let bgid = unsafe {
            core.driver_mut()
                .register_buf_ring(ring.as_ptr() as u64, count as u16)
        };
        let free = match bgid {
            Some(bgid) => Free::Provided {
                ring,
                bgid,
                tail: Cell::new(0),
            },
            None => {
                // SAFETY: allocated just above with this layout, never shared.
                unsafe { std::alloc::dealloc(ring.as_ptr().cast(), ring_layout(count)) };
                Free::Local(RefCell::new((0..count as u16).rev().collect()))
            }
        };
        let pool = Pool {
            bufs,
            size,
            count: count as u32,
            free,
            available: Rc::new(Cell::new(0)),
            max_queued: BufRingBuilder::DEFAULT_MAX_QUEUED,
            waiters: RefCell::new(Vec::new()),
            core: Rc::downgrade(&core),
        };
        if let Free::Provided { .. } = pool.free {
            (0..count as u16).for_each(|bid| pool.give_back(bid));
        } else {
            pool.available.set(count);
        }
        Ok(pool)
    }

    /// The buffer group id of the registered ring, if the kernel picks the buffers.
    pub(crate) fn bgid(&self) -> Option<u16> {
        match self.free {
            Free::Provided { bgid, .. } => Some(bgid),
            Free::Local(_) => None,
        }
    }

    /// Whether the pool belongs to the runtime running on this thread now.
    pub(crate) fn is_current(&self) -> bool {
        context::try_with_current(|core| std::ptr::eq(core, self.core.as_ptr())).unwrap_or(false)
    }

    pub(crate) fn buf_size(&self) -> usize {
        self.size
    }

    /// Start of buffer `bid` (which must be below `count`).
    pub(crate) fn buf_ptr(&self, bid: u16) -> *mut u8 {
        debug_assert!(u32::from(bid) < self.count);
        // SAFETY: `bid < count`, so the offset is inside the `count * size` allocation.
        unsafe { self.bufs.as_ptr().add(bid as usize * self.size) }
    }

    /// Takes a buffer from the free list (not for a provided ring, whose buffers the kernel
    /// takes); `None` when none is free.
    pub(crate) fn take(&self) -> Option<u16> {
        let Free::Local(list) = &self.free else {
            return None;
        };
        let bid = list.borrow_mut().pop()?;
        self.available.set(self.available.get() - 1);
        Some(bid)
    }

    /// The free count, for the in-flight slots of multishot receives to decrement as the
    /// kernel reports taking buffers (a provided ring).
    pub(crate) fn available_counter(&self) -> &Rc<Cell<usize>> {
        &self.available
    }

    /// See [`BufRing::max_queued`].
    pub(crate) fn max_queued(&self) -> usize {
        self.max_queued
    }

    /// Ready when a buffer is free; otherwise wakes `cx` when one comes back.
    pub(crate) fn poll_available(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.available.get() > 0 {
            return Poll::Ready(());
        }
        let mut waiters = self.waiters.borrow_mut();
        if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
            waiters.push(cx.waker().clone());
        }
        Poll::Pending
    }

    /// Returns buffer `bid` to the pool and wakes the receives waiting for one.
    pub(crate) fn give_back(&self, bid: u16) {
        match &self.free {
            Free::Provided { ring, tail, .. } => {
                let t = tail.get();
                let mask = self.count - 1;
                // SAFETY: the index is masked into the `count` entries of the ring; the entry
                // at the tail is not one the kernel reads until the tail moves past it. The
                // tail itself is published with a release store on the shared field.
                unsafe {
                    let entry = ring.as_ptr().add((u32::from(t) & mask) as usize);
                    std::ptr::addr_of_mut!((*entry).addr).write(self.buf_ptr(bid) as u64);
                    std::ptr::addr_of_mut!((*entry).len).write(self.size as u32);
                    std::ptr::addr_of_mut!((*entry).bid).write(bid);
                    let shared = std::ptr::addr_of!((*ring.as_ptr()).resv).cast::<AtomicU16>();
                    (*shared).store(t.wrapping_add(1), Ordering::Release);
                }
                tail.set(t.wrapping_add(1));
            }
            Free::Local(list) => list.borrow_mut().push(bid),
        }
        self.available.set(self.available.get() + 1);
        let waiters = std::mem::take(&mut *self.waiters.borrow_mut());
        waiters.into_iter().for_each(Waker::wake);
    }

    /// Unregisters the ring; false if that cannot be done (its memory must then be leaked).
    fn unregister(&self, bgid: u16) -> bool {
        let Some(core) = self.core.upgrade() else {
            return true; // the runtime and its ring are gone, and the registration with them
        };
        let Ok(mut driver) = core.try_driver_mut() else {
            return false;
        };
        driver.unregister_buf_ring(bgid).is_ok()
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let count = self.count as usize;
        if let Free::Provided { ring, bgid, .. } = self.free {
            if !self.unregister(bgid) {
                return; // the kernel may still know the ring: leak it and the buffers
            }
            // SAFETY: unregistered (or its ring is gone), and no op that selects from the
            // group is in flight: each holds the pool (invariant 5).
            unsafe { std::alloc::dealloc(ring.as_ptr().cast(), ring_layout(count)) };
        }
        let layout = bufs_layout(count, self.size).expect("checked at allocation");
        // SAFETY: allocated in `Pool::new` with this layout; no op or `PoolBuf` is left (each
        // holds the pool), so nothing reads or writes it any more.
        unsafe { std::alloc::dealloc(self.bufs.as_ptr(), layout) };
    }
}

/// One received buffer of a [`BufRing`]: derefs to the bytes received, and goes back to the
/// pool when dropped. Implements [`IoBuf`], so it can be written out as is.
pub struct PoolBuf {
    pool: Rc<Pool>,
    bid: u16,
    len: usize,
}

impl PoolBuf {
    /// Buffer `bid` of `pool`, holding `len` received bytes; an error for an id or length
    /// outside the pool (the buffer then goes back if the id was valid).
    pub(crate) fn new(pool: &Rc<Pool>, bid: u16, len: usize) -> io::Result<PoolBuf> {
        if u32::from(bid) >= pool.count {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("buffer id {bid} is outside the pool"),
            ));
        }
        let buf = PoolBuf {
            pool: pool.clone(),
            bid,
            len,
        };
        if len > pool.size {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "overlong receive",
            ));
        }
        Ok(buf)
    }
}

impl Deref for PoolBuf {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // SAFETY: buffer `bid` belongs to this `PoolBuf` alone until it is dropped (the pool
        // hands it out once), and the kernel wrote its first `len <= size` bytes.
        unsafe { std::slice::from_raw_parts(self.pool.buf_ptr(self.bid), self.len) }
    }
}

impl fmt::Debug for PoolBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolBuf")
            .field("bid", &self.bid)
            .field("len", &self.len)
            .finish()
    }
}

// SAFETY: the pointer is into the pool's heap allocation, which does not move and lives as
// long as this value holds the pool; `len` bytes are initialised.
unsafe impl IoBuf for PoolBuf {
    fn stable_ptr(&self) -> *const u8 {
        self.pool.buf_ptr(self.bid)
    }

    fn bytes_init(&self) -> usize {
        self.len
    }

    fn bytes_total(&self) -> usize {
        self.len
    }
}

impl Drop for PoolBuf {
    fn drop(&mut self) {
        self.pool.give_back(self.bid);
    }
}
