//! Receives into the buffers of a [`BufRing`](crate::buf::BufRing) pool.
//!
//! With a registered provided-buffer ring: multishot `IORING_OP_RECV` with
//! `IOSQE_BUFFER_SELECT`; the kernel picks a buffer only when data arrives and names it in
//! each completion's flags. Otherwise (fast paths off, no `PBUF_RING`, epoll): a single-shot
//! recv into a buffer taken from the pool's free list, on io_uring when the recv is
//! submitted, on epoll only once the socket is readable. Buffers of completions whose stream
//! was dropped go back to the pool (the orphan hook).

use std::io;
use std::rc::Rc;

use io_uring::{cqueue, opcode, squeue, types};

use crate::buf::pool::{Pool, PoolBuf};
use crate::driver::{Completion, Interest, Mode, OpCode, OpKind, ReadyOp, Ring, SharedFd, UringOp};
use crate::sys;

pub(crate) struct RecvMulti {
    /// Held until the last completion (`[fd-outlives-op]`).
    fd: SharedFd,
    /// The pool the kernel (or the single-shot recv) fills; its memory lives as long as any
    /// op holds it (`[multishot-slot]`).
    pool: Rc<Pool>,
    /// The buffer a single-shot recv reads into, taken from the free list.
    taken: Option<u16>,
}

impl RecvMulti {
    pub(crate) fn new(fd: &SharedFd, pool: &Rc<Pool>) -> RecvMulti {
        RecvMulti {
            fd: fd.clone(),
            pool: pool.clone(),
            taken: None,
        }
    }

    #[inline]
    fn len(&self) -> u32 {
        self.pool.buf_size().min(u32::MAX as usize) as u32
    }

    /// The buffer a completion filled, if any: named in the flags (provided ring) or the
    /// one taken for the single-shot recv.
    fn buffer_of(&mut self, completion: &Completion) -> Option<u16> {
        if self.pool.bgid().is_some() {
            // Counted as taken when the completion arrived (`MultiPolicy::free_buffers`).
            cqueue::buffer_select(completion.flags)
        } else {
            self.taken.take()
        }
    }

    /// Turns one completion into a buffer: `Ok(None)` at end of stream; `ENOBUFS` when the
    /// pool ran dry (the caller waits for a buffer and re-arms).
    #[inline]
    pub(crate) fn item(&mut self, completion: Completion) -> io::Result<Option<PoolBuf>> {
        let bid = self.buffer_of(&completion);
        let n = match completion.result {
            Ok(n) => n as usize,
            Err(e) => {
                if let Some(bid) = bid {
                    self.pool.give_back(bid);
                }
                return Err(e);
            }
        };
        match bid {
            Some(bid) if n > 0 => PoolBuf::new(&self.pool, bid, n).map(Some),
            Some(bid) => {
                self.pool.give_back(bid);
                Ok(None)
            }
            None if n == 0 => Ok(None),
            None => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "a receive completed without a buffer",
            )),
        }
    }
}

/// The error of a receive armed on another runtime than its pool's.
pub(crate) fn another_runtime() -> io::Error {
    io::Error::other("the BufRing belongs to another runtime than the one polling recv_multi")
}

impl OpCode for RecvMulti {
    type Output = io::Result<Option<PoolBuf>>;
    const KIND: OpKind = OpKind::Recv;

    fn complete(mut self, completion: Completion) -> Self::Output {
        self.item(completion)
    }

    fn complete_orphan(&mut self, completion: Completion) {
        if let Some(bid) = self.buffer_of(&completion) {
            self.pool.give_back(bid);
        }
    }
}

// SAFETY: with a provided ring the SQE holds no pointer: the kernel picks a buffer of the
// pool, which the op holds (so the ring and buffers outlive it, `[multishot-slot]`), and
// only on the ring that registered that pool (`owns_buf_ring`).
// Otherwise it points into buffer `taken` of the pool, held by the op as well
// (`[heap-owned]`). The fd is held by `self.fd` (`[fd-outlives-op]`).
unsafe impl UringOp for RecvMulti {
    const CANCEL_FINDS: bool = true;

    fn sqe(&mut self, ring: &Ring<'_>) -> io::Result<squeue::Entry> {
        let fd = types::Fd(self.fd.raw());
        if let Some(bgid) = self.pool.bgid() {
            if !ring.owns_buf_ring(bgid, self.pool.ring_addr()) {
                return Err(another_runtime());
            }
            return Ok(opcode::RecvMulti::new(fd, bgid).build());
        }
        let bid = self
            .pool
            .take()
            .expect("the stream arms a recv only with a free buffer");
        self.taken = Some(bid);
        Ok(opcode::Recv::new(fd, self.pool.buf_ptr(bid), self.len()).build())
    }
}

impl ReadyOp for RecvMulti {
    #[inline]
    fn mode(&self) -> Mode<'_> {
        Mode::Readiness(&self.fd, Interest::Read)
    }

    #[inline]
    fn drained(&self, n: u32) -> bool {
        n > 0 && n < self.len()
    }

    #[inline]
    fn syscall(&mut self) -> io::Result<u32> {
        let bid = self
            .pool
            .take()
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOBUFS))?;
        let ptr = self.pool.buf_ptr(bid).cast();
        // SAFETY: `ptr` points to the `len` bytes of buffer `bid`, which this op alone holds.
        match unsafe { sys::recv(self.fd.raw(), ptr, self.len() as usize, 0) } {
            Ok(n) => {
                self.taken = Some(bid);
                Ok(n as u32)
            }
            Err(e) => {
                self.pool.give_back(bid);
                Err(e)
            }
        }
    }
}
