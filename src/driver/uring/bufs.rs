//! Buffers registered with the ring: the fixed buffers of a
//! [`FixedBufPool`](crate::buf::FixedBufPool) (`IORING_REGISTER_BUFFERS`) and the
//! provided-buffer rings of [`BufRing`](crate::buf::BufRing) pools
//! (`IORING_REGISTER_PBUF_RING`).

use std::any::Any;
use std::io;

use super::Uring;

impl Uring {
    /// Registers `bufs`, the buffers of pool `id`, as the ring's fixed buffers (once per
    /// ring, fast paths only); `keep` owns their memory and is dropped after the ring
    /// (`[driver-owned]`), so `id` names no other pool while the ring lives. `false` where
    /// they are not registered (fast paths off, a set already registered, or the kernel
    /// refused).
    pub(crate) fn register_buffers(
        &mut self,
        id: usize,
        bufs: &[libc::iovec],
        keep: Box<dyn Any>,
    ) -> bool {
        if !self.features.fixed_buffers || !self.fixed_buffers.is_empty() {
            return false;
        }
        // SAFETY: each iovec points into memory owned by `keep`, which is never moved or
        // resized and is kept by the driver until after the ring is unmapped
        // (`[driver-owned]`).
        let res = unsafe { self.ring.submitter().register_buffers(bufs) };
        if res.is_err() {
            return false;
        }
        self.fixed_buffers.push(keep);
        self.buffers_pool = Some(id);
        true
    }

    /// Registers a provided-buffer ring of `entries` entries at `ring_addr`; returns its
    /// buffer group id, or `None` when buffer rings are off or unsupported.
    ///
    /// # Safety
    /// `ring_addr` is a page-aligned, zeroed allocation of `entries` `io_uring_buf`s that
    /// stays allocated until [`unregister_buf_ring`](Uring::unregister_buf_ring) or the
    /// ring's drop, and every op that may select from it holds it (`[multishot-slot]`).
    pub(crate) unsafe fn register_buf_ring(&mut self, ring_addr: u64, entries: u16) -> Option<u16> {
        if !self.fast.recv_multi {
            return None;
        }
        let bgid = match self.free_bgids.pop() {
            Some(bgid) => bgid,
            None if self.next_bgid < u16::MAX => {
                self.next_bgid += 1;
                self.next_bgid - 1
            }
            None => return None,
        };
        let submitter = self.ring.submitter();
        // SAFETY: the caller keeps the ring memory allocated until it is unregistered or the
        // ring is dropped (this function's contract).
        match unsafe { submitter.register_buf_ring_with_flags(ring_addr, entries, bgid, 0) } {
            Ok(()) => {
                let index = bgid as usize;
                if self.buf_rings.len() <= index {
                    self.buf_rings.resize(index + 1, 0);
                }
                self.buf_rings[index] = ring_addr;
                Some(bgid)
            }
            Err(e) => {
                self.free_bgids.push(bgid);
                if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::EOPNOTSUPP)) {
                    self.fast.recv_multi = false; // the kernel lacks PBUF_RING: stop trying
                }
                None
            }
        }
    }

    /// Unregisters the buffer ring of group `bgid`; afterwards its memory may be freed.
    pub(crate) fn unregister_buf_ring(&mut self, bgid: u16) -> io::Result<()> {
        self.ring.submitter().unregister_buf_ring(bgid)?;
        if let Some(addr) = self.buf_rings.get_mut(bgid as usize) {
            *addr = 0;
        }
        self.free_bgids.push(bgid);
        Ok(())
    }
}
