//! Buffers that operations own while the kernel uses them.
//!
//! An operation takes its buffer by value and gives it back with the result
//! ([`BufResult`]), because the kernel may write into it after the future that started the
//! operation is dropped. [`IoBuf`] and [`IoBufMut`] promise a pointer that stays valid and
//! unmoved while the buffer value itself is moved around.
//!
//! The traits and [`Slice`] are a leaf of the crate. `pool.rs` (the memory of a receive
//! pool) sits above the driver, which registers its ring; [`BufRing`] and [`FixedBufPool`]
//! are built on the current runtime, at the top with `net` and `fs`.

mod fixed;
pub(crate) mod pool;
mod ring;
mod slice;

pub use fixed::{FixedBuf, FixedBufPool};
pub use pool::PoolBuf;
pub use ring::{BufRing, BufRingBuilder};
pub use slice::Slice;

use std::ops::RangeBounds;

/// The result of an operation that owned a buffer: the outcome, and the buffer back.
pub type BufResult<T, B> = (std::io::Result<T>, B);

/// A buffer the kernel can read from.
///
/// # Safety
/// `stable_ptr` must point to `bytes_total` bytes of memory (the first `bytes_init` of them
/// initialised) that stays valid and at the same address while the value is moved, until it
/// is dropped or mutably accessed through its own API. Heap-backed types satisfy this.
pub unsafe trait IoBuf: 'static {
    /// Pointer to the start of the buffer.
    fn stable_ptr(&self) -> *const u8;
    /// Number of initialised bytes (what a write sends).
    fn bytes_init(&self) -> usize;
    /// Total capacity in bytes.
    fn bytes_total(&self) -> usize;

    /// A view of `range` of the buffer that still owns it.
    ///
    /// # Panics
    /// If the range is out of the capacity's bounds.
    fn slice(self, range: impl RangeBounds<usize>) -> Slice<Self>
    where
        Self: Sized,
    {
        Slice::new(self, range)
    }
}

/// A buffer the kernel can write into.
///
/// # Safety
/// As [`IoBuf`], for `stable_mut_ptr` too; `set_init` must only grow the initialised length
/// up to `bytes_total`.
pub unsafe trait IoBufMut: IoBuf {
    /// Mutable pointer to the start of the buffer.
    fn stable_mut_ptr(&mut self) -> *mut u8;

    /// Marks the first `pos` bytes initialised (after the kernel wrote them).
    ///
    /// # Safety
    /// The first `pos` bytes must be initialised.
    unsafe fn set_init(&mut self, pos: usize);
}

// SAFETY: a Vec's heap buffer does not move when the Vec value moves; `len` bytes are
// initialised out of `capacity`.
unsafe impl IoBuf for Vec<u8> {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.capacity()
    }
}

// SAFETY: as for `IoBuf`; `set_len` only grows within capacity, as the caller promises.
unsafe impl IoBufMut for Vec<u8> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }
    unsafe fn set_init(&mut self, pos: usize) {
        if self.len() < pos {
            // SAFETY: the caller guarantees `pos` bytes are initialised and `pos` is within
            // the capacity.
            unsafe { self.set_len(pos) };
        }
    }
}

// SAFETY: a boxed slice is a fixed heap allocation, all of it initialised.
unsafe impl IoBuf for Box<[u8]> {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.len()
    }
}

// SAFETY: as above; the whole slice is always initialised, so `set_init` has nothing to do.
unsafe impl IoBufMut for Box<[u8]> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }
    unsafe fn set_init(&mut self, _pos: usize) {}
}

// SAFETY: 'static data never moves or goes away.
unsafe impl IoBuf for &'static [u8] {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.len()
    }
}

// SAFETY: 'static data never moves or goes away.
unsafe impl IoBuf for &'static str {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.len()
    }
}

// SAFETY: a String's heap buffer does not move when the String moves. Only `IoBuf`: the
// kernel writing arbitrary bytes could break UTF-8.
unsafe impl IoBuf for String {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.capacity()
    }
}
