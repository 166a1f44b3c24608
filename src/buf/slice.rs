//! [`Slice`]: a bounded view of an owned buffer.

use std::ops::{Bound, Deref, DerefMut, RangeBounds};

use super::{IoBuf, IoBufMut};

/// A range of an owned buffer: operations use only `begin..end` of it, and
/// [`into_inner`](Slice::into_inner) gives the whole buffer back.
#[derive(Debug)]
pub struct Slice<T> {
    buf: T,
    begin: usize,
    end: usize,
}

impl<T: IoBuf> Slice<T> {
    pub(crate) fn new(buf: T, range: impl RangeBounds<usize>) -> Slice<T> {
        let overflow = || panic!("slice range end overflows usize");
        let begin = match range.start_bound() {
            Bound::Included(&n) => n,
            Bound::Excluded(&n) => n.checked_add(1).unwrap_or_else(overflow),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&n) => n.checked_add(1).unwrap_or_else(overflow),
            Bound::Excluded(&n) => n,
            Bound::Unbounded => buf.bytes_total(),
        };
        assert!(
            begin <= end && end <= buf.bytes_total(),
            "slice {begin}..{end} out of bounds of a buffer of capacity {}",
            buf.bytes_total()
        );
        Slice { buf, begin, end }
    }
}

impl<T: IoBuf> Slice<T> {
    /// The range clamped to the inner buffer as it is now: `get_mut` may have shrunk it
    /// since construction, and no pointer or length may ever reach past its capacity.
    fn bounds(&self) -> (usize, usize) {
        let end = self.end.min(self.buf.bytes_total());
        (self.begin.min(end), end)
    }
}

impl<T> Slice<T> {
    /// Start of the range in the underlying buffer.
    pub fn begin(&self) -> usize {
        self.begin
    }
    /// End of the range in the underlying buffer.
    pub fn end(&self) -> usize {
        self.end
    }
    /// The underlying buffer.
    pub fn get_ref(&self) -> &T {
        &self.buf
    }
    /// The underlying buffer, mutably. If it shrinks, the slice shrinks with it: the range
    /// is clamped to the buffer's capacity each time it is used.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.buf
    }
    /// Gives the whole buffer back.
    pub fn into_inner(self) -> T {
        self.buf
    }
}

// SAFETY: the pointer and lengths come from `bounds()`, re-clamped to the inner buffer's
// current capacity on every call, so they never reach past it; stability is the inner
// buffer's.
unsafe impl<T: IoBuf> IoBuf for Slice<T> {
    fn stable_ptr(&self) -> *const u8 {
        self.buf.stable_ptr().wrapping_add(self.bounds().0)
    }
    fn bytes_init(&self) -> usize {
        let (begin, end) = self.bounds();
        self.buf.bytes_init().clamp(begin, end) - begin
    }
    fn bytes_total(&self) -> usize {
        let (begin, end) = self.bounds();
        end - begin
    }
}

// SAFETY: as above; `set_init` forwards an end clamped to `bounds()`.
unsafe impl<T: IoBufMut> IoBufMut for Slice<T> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        let begin = self.bounds().0;
        self.buf.stable_mut_ptr().wrapping_add(begin)
    }
    unsafe fn set_init(&mut self, pos: usize) {
        if pos == 0 {
            return;
        }
        let (begin, end) = self.bounds();
        let init = self.buf.bytes_init();
        if init < begin {
            // The slice starts past the inner buffer's initialised bytes: the bytes between
            // are zeroed, so that those written into the slice become part of the buffer
            // (a `Vec`'s length reaches them) instead of staying out of sight.
            let gap = self.buf.stable_mut_ptr().wrapping_add(init);
            // SAFETY: `init..begin` lies within the inner buffer's capacity (`begin <= end`,
            // clamped to it by `bounds`), writable through its stable pointer, and is not the
            // slice's own range, which the caller says is initialised.
            unsafe { std::ptr::write_bytes(gap, 0, begin - init) };
        }
        // SAFETY: the caller guarantees the slice's first `pos` bytes are initialised, the
        // inner buffer's first `begin` bytes are (they were, or were just zeroed), and the
        // new length stays within the current capacity (clamped to `end`).
        unsafe { self.buf.set_init((begin + pos).min(end)) }
    }
}

impl<T: IoBuf> Deref for Slice<T> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: `bytes_init` bytes from `stable_ptr` are initialised and owned by `self`.
        unsafe { std::slice::from_raw_parts(self.stable_ptr(), self.bytes_init()) }
    }
}

impl<T: IoBufMut> DerefMut for Slice<T> {
    fn deref_mut(&mut self) -> &mut [u8] {
        let len = self.bytes_init();
        // SAFETY: as for `Deref`, with exclusive access through `&mut self`.
        unsafe { std::slice::from_raw_parts_mut(self.stable_mut_ptr(), len) }
    }
}
