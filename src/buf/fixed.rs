//! [`FixedBufPool`]: buffers registered with the ring once (`IORING_REGISTER_BUFFERS`), so
//! file reads and writes on them skip the kernel's per-operation page pinning.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::ops::{Deref, DerefMut};
use std::rc::Rc;

use super::{IoBuf, IoBufMut};
use crate::runtime::context;

/// The kernel's limit on registered buffers per ring.
const MAX_BUFFERS: usize = 1 << 14;
/// The kernel's limit on one registered buffer's size.
const MAX_SIZE: usize = 1 << 30;

/// A pool of equal-sized buffers registered with the current runtime's ring, for
/// [`File::read_fixed_at`](crate::fs::File::read_fixed_at) and
/// [`File::write_fixed_at`](crate::fs::File::write_fixed_at).
///
/// The first pool of a runtime is registered; where it cannot be (the epoll variant, fast
/// paths off, a second pool on the same runtime, a kernel refusal) the same API runs plain
/// positional reads and writes on the same memory ([`is_registered`](Self::is_registered)
/// tells which). A buffer goes back to the pool when dropped. The memory lives until the
/// pool, every buffer and (for a registered pool) the runtime are gone. It is page-aligned:
/// with a `size` that is a multiple of 4096, every buffer suits files opened with
/// `O_DIRECT`.
///
/// ```
/// # proactor::block_on(async {
/// use proactor::buf::FixedBufPool;
/// let pool = FixedBufPool::new(4, 4096)?;
/// let mut buf = pool.get().expect("a free buffer");
/// assert_eq!(buf.extend_from_slice(b"hello"), 5);
/// assert_eq!(&buf[..], b"hello");
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct FixedBufPool {
    inner: Rc<Inner>,
}

struct Inner {
    /// `count * size` bytes, mapped once and never resized: every buffer's pointer is
    /// stable. Only reached through `base`.
    _mem: Mapping,
    base: *mut u8,
    size: usize,
    count: usize,
    free: RefCell<Vec<u16>>,
    registered: Cell<bool>,
}

impl FixedBufPool {
    /// `count` buffers of `size` bytes each, registered with the current runtime's ring.
    /// Errors on a zero or too large `count` (over 16384) or `size` (over 1 GiB), or
    /// outside a runtime.
    pub fn new(count: usize, size: usize) -> io::Result<FixedBufPool> {
        if count == 0 || count > MAX_BUFFERS || size == 0 || size > MAX_SIZE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "FixedBufPool::new({count}, {size}): need 1..={MAX_BUFFERS} buffers \
                     of 1..={MAX_SIZE} bytes"
                ),
            ));
        }
        let total = count.checked_mul(size).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "FixedBufPool size overflows")
        })?;
        let mem = Mapping::new(total)?;
        let base = mem.ptr;
        let inner = Rc::new(Inner {
            _mem: mem,
            base,
            size,
            count,
            free: RefCell::new((0..count as u16).rev().collect()),
            registered: Cell::new(false),
        });
        let iovecs: Vec<libc::iovec> = (0..count)
            .map(|i| libc::iovec {
                // SAFETY: `i * size` is within the `count * size` allocation.
                iov_base: unsafe { base.add(i * size) }.cast(),
                iov_len: size,
            })
            .collect();
        let driver = context::try_current_driver().ok_or_else(|| {
            io::Error::other("FixedBufPool::new must run inside a proactor runtime")
        })?;
        let id = Rc::as_ptr(&inner) as usize;
        let keep = Box::new(inner.clone());
        let registered = driver
            .with_uring(|u| u.register_buffers(id, &iovecs, keep))
            .unwrap_or(false);
        inner.registered.set(registered);
        Ok(FixedBufPool { inner })
    }

    /// A free buffer (empty, with the pool's size as capacity), or `None` when all are
    /// in use.
    pub fn get(&self) -> Option<FixedBuf> {
        let index = self.inner.free.borrow_mut().pop()?;
        Some(FixedBuf {
            pool: self.inner.clone(),
            index,
            len: 0,
        })
    }

    /// Whether the pool is registered with the ring (else the plain-I/O fallback runs).
    pub fn is_registered(&self) -> bool {
        self.inner.registered.get()
    }

    /// Buffers not in use.
    pub fn available(&self) -> usize {
        self.inner.free.borrow().len()
    }

    /// Number of buffers in the pool.
    pub fn capacity(&self) -> usize {
        self.inner.count
    }
}

/// Anonymous memory from `mmap`: zeroed, page-aligned (so buffers whose size is a multiple
/// of the device's logical block size suit `O_DIRECT`), resident only once touched.
struct Mapping {
    ptr: *mut u8,
    len: usize,
}

impl Mapping {
    fn new(len: usize) -> io::Result<Mapping> {
        // SAFETY: an anonymous private mapping of `len` bytes; no existing memory is touched.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Mapping {
            ptr: ptr.cast(),
            len,
        })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are this mapping's, unmapped once, here; the pool's `Inner`
        // owns it, and a registered pool's `Inner` is kept by the driver until after the
        // ring is gone (`[driver-owned]`), so no buffer or kernel access outlives it.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

impl fmt::Debug for FixedBufPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FixedBufPool")
            .field("count", &self.inner.count)
            .field("size", &self.inner.size)
            .field("available", &self.available())
            .field("registered", &self.is_registered())
            .finish()
    }
}

/// A buffer of a [`FixedBufPool`]; goes back to the pool when dropped. Dereferences to its
/// initialised bytes.
pub struct FixedBuf {
    pool: Rc<Inner>,
    index: u16,
    len: usize,
}

impl FixedBuf {
    /// Its pool's id and its index in the pool: a ring that registered this pool names the
    /// buffer by index (`READ_FIXED`, `WRITE_FIXED`); any other runs plain I/O on it.
    pub(crate) fn fixed_id(&self) -> (usize, u16) {
        (Rc::as_ptr(&self.pool) as usize, self.index)
    }

    fn ptr(&self) -> *mut u8 {
        // SAFETY: `index < count`, so the offset is within the pool's allocation.
        unsafe { self.pool.base.add(self.index as usize * self.pool.size) }
    }

    /// Appends as much of `data` as fits; returns how many bytes were copied.
    pub fn extend_from_slice(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.pool.size - self.len);
        // SAFETY: `len + n <= size`: the destination is inside this buffer, which only this
        // handle reaches, and cannot overlap `data` (a shared borrow of other memory).
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), self.ptr().add(self.len), n) };
        self.len += n;
        n
    }

    /// Empties the buffer (its capacity stays).
    pub fn clear(&mut self) {
        self.len = 0;
    }
}

impl Deref for FixedBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: the first `len` bytes of this buffer are initialised (the pool zeroes
        // its memory) and only this handle reaches them.
        unsafe { std::slice::from_raw_parts(self.ptr(), self.len) }
    }
}

impl DerefMut for FixedBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `deref`, and `&mut self` makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.ptr(), self.len) }
    }
}

impl Drop for FixedBuf {
    fn drop(&mut self) {
        self.pool.free.borrow_mut().push(self.index);
    }
}

impl fmt::Debug for FixedBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FixedBuf")
            .field("index", &self.index)
            .field("len", &self.len)
            .field("capacity", &self.pool.size)
            .finish()
    }
}

// SAFETY: the pointer is into the pool's allocation, which the `Rc` keeps alive and never
// moves or resizes; `len <= size` bytes are initialised (all are: the pool is zeroed).
unsafe impl IoBuf for FixedBuf {
    fn stable_ptr(&self) -> *const u8 {
        self.ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len
    }
    fn bytes_total(&self) -> usize {
        self.pool.size
    }
}

// SAFETY: as for `IoBuf`; `set_init` only grows `len`, up to the size.
unsafe impl IoBufMut for FixedBuf {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.ptr()
    }
    unsafe fn set_init(&mut self, pos: usize) {
        self.len = self.len.max(pos.min(self.pool.size));
    }
}
