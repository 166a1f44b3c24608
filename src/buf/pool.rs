//! The memory of a [`BufRing`](super::BufRing) pool: `count` equal buffers, and where the
//! free ones are (a provided-buffer ring the kernel picks from, or a free list), plus
//! [`PoolBuf`], one filled buffer. Receives (`op/recv_multi.rs`) select from it; it sits
//! above the driver, which registers its ring, and below the ops.
//!
//! The pool's memory (buffers and ring) lives as long as any [`BufRing`](super::BufRing)
//! handle, [`PoolBuf`] or receive that may select from it (each holds the pool), and the
//! ring is unregistered before it is freed (`[multishot-slot]`).

use std::alloc::Layout;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::ops::Deref;
use std::ptr::NonNull;
use std::rc::Rc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::task::{Context, Poll, Waker};

use crate::buf::IoBuf;
use crate::driver::{Handle, WeakHandle};

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

/// The default of [`BufRingBuilder::max_queued`](super::BufRingBuilder::max_queued).
pub(crate) const DEFAULT_MAX_QUEUED: usize = 4;

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

/// The shared state behind [`BufRing`](super::BufRing), [`PoolBuf`] and the receives using
/// the pool.
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
    /// The driver whose ring the pool is registered with.
    driver: WeakHandle,
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
    /// `count` buffers of `size` bytes; a provided-buffer ring registered with `driver`
    /// where it can be (io_uring with the fast paths), else a free list.
    pub(crate) fn new(count: usize, size: usize, driver: &Handle) -> io::Result<Pool> {
        let bufs = alloc(bufs_layout(count, size)?, false)?;
        let ring = alloc(ring_layout(count), true)?.cast::<RawEntry>();
        // SAFETY: `ring` is a page-aligned zeroed allocation of `count` entries, freed only
        // in `Drop for Pool` after unregistering (or leaked when that fails), and every
        // receive that selects from it holds the pool (`[multishot-slot]`).
        let bgid = driver
            .with_uring(|u| unsafe { u.register_buf_ring(ring.as_ptr() as u64, count as u16) })
            .flatten();
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
            max_queued: DEFAULT_MAX_QUEUED,
            waiters: RefCell::new(Vec::new()),
            driver: driver.downgrade(),
        };
        if let Free::Provided { .. } = pool.free {
            (0..count as u16).for_each(|bid| pool.give_back(bid));
        } else {
            pool.available.set(count);
        }
        Ok(pool)
    }

    /// The address of the registered provided-buffer ring (0 for a free list): with the
    /// group id, what tells this pool's group from another ring's group of the same number.
    pub(crate) fn ring_addr(&self) -> u64 {
        match self.free {
            Free::Provided { ring, .. } => ring.as_ptr() as u64,
            Free::Local(_) => 0,
        }
    }

    /// The buffer group id of the registered ring, if the kernel picks the buffers.
    pub(crate) fn bgid(&self) -> Option<u16> {
        match self.free {
            Free::Provided { bgid, .. } => Some(bgid),
            Free::Local(_) => None,
        }
    }

    /// The driver the pool was built on.
    pub(crate) fn driver(&self) -> &WeakHandle {
        &self.driver
    }

    /// Number of buffers.
    pub(crate) fn count(&self) -> usize {
        self.count as usize
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
    #[inline]
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
    #[inline]
    pub(crate) fn poll_available(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.available.get() > 0 {
            return Poll::Ready(());
        }
        self.wait_available(cx)
    }

    /// [`poll_available`](Pool::poll_available) of a dry pool: registers `cx`.
    #[cold]
    fn wait_available(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut waiters = self.waiters.borrow_mut();
        if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
            waiters.push(cx.waker().clone());
        }
        Poll::Pending
    }

    /// Returns buffer `bid` to the pool and wakes the receives waiting for one.
    #[inline]
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
        if !self.waiters.borrow().is_empty() {
            self.wake_waiters();
        }
    }

    /// Wakes the receives waiting for a free buffer ([`give_back`](Pool::give_back)).
    #[cold]
    #[inline(never)]
    fn wake_waiters(&self) {
        let waiters = std::mem::take(&mut *self.waiters.borrow_mut());
        waiters.into_iter().for_each(Waker::wake);
    }

    /// Unregisters the ring; false if that cannot be done (its memory must then be leaked).
    fn unregister(&self, bgid: u16) -> bool {
        let Some(driver) = self.driver.upgrade() else {
            return true; // the runtime and its ring are gone, and the registration with them
        };
        driver.with_uring(|u| u.unregister_buf_ring(bgid).is_ok()) == Some(true)
    }

    /// Sets how many filled buffers one receive stream may queue.
    pub(crate) fn set_max_queued(&mut self, max_queued: usize) {
        self.max_queued = max_queued;
    }

    /// How many buffers are free ([`BufRing::available`](super::BufRing::available)).
    pub(crate) fn available(&self) -> usize {
        self.available.get()
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
            // group is in flight: each holds the pool (`[multishot-slot]`).
            unsafe { std::alloc::dealloc(ring.as_ptr().cast(), ring_layout(count)) };
        }
        let layout = bufs_layout(count, self.size).expect("checked at allocation");
        // SAFETY: allocated in `Pool::new` with this layout; no op or `PoolBuf` is left (each
        // holds the pool), so nothing reads or writes it any more.
        unsafe { std::alloc::dealloc(self.bufs.as_ptr(), layout) };
    }
}

/// One received buffer of a [`BufRing`](super::BufRing): derefs to the bytes received, and
/// goes back to the pool when dropped. Implements [`IoBuf`], so it can be written out as
/// is.
pub struct PoolBuf {
    pool: Rc<Pool>,
    bid: u16,
    len: usize,
}

impl PoolBuf {
    /// Buffer `bid` of `pool`, holding `len` received bytes; an error for an id or length
    /// outside the pool (the buffer then goes back if the id was valid).
    #[inline]
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
    #[inline]
    fn drop(&mut self) {
        self.pool.give_back(self.bid);
    }
}
