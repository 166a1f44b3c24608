//! What an SQE may name on the ring it is built for ([`Ring`]): a socket's registered slot
//! of this ring's table, the buffers and buffer rings registered with this ring. They all
//! belong to one ring: an fd or a buffer that meets another runtime is named there by its
//! number or address, and a buffer ring of another runtime is an error.

use std::os::fd::RawFd;

use super::{FixedFiles, Uring};
use crate::driver::fd::SharedFd;

/// How an SQE names a descriptor: by number, or by a slot of the ring's registered table
/// (`IOSQE_FIXED_FILE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    Fd(RawFd),
    Fixed(u32),
}

/// The ring an SQE is built for ([`UringOp::sqe`](crate::driver::UringOp::sqe)): it tells
/// how the SQE may name a socket ([`target`](Ring::target)).
pub(crate) struct Ring<'a> {
    files: Option<&'a FixedFiles>,
    /// The id of the [`FixedBufPool`](crate::buf::FixedBufPool) registered with this ring.
    buffers: Option<usize>,
    /// The address of each provided-buffer ring registered with this ring, by group id
    /// (0: none).
    buf_rings: &'a [u64],
}

impl Ring<'_> {
    /// How the SQE names `fd`: the registered slot this ring's table holds for it, once
    /// filled (`[slot-lifetime]`), else its number.
    #[inline]
    pub(crate) fn target(&self, fd: &SharedFd) -> Target {
        match self.files.and_then(|files| fd.uring().in_table(files)) {
            Some(slot) => Target::Fixed(slot),
            None => Target::Fd(fd.raw()),
        }
    }

    /// Whether the pool `id` is this ring's registered fixed buffers (so `READ_FIXED` and
    /// `WRITE_FIXED` may name its buffers' indexes).
    pub(crate) fn has_buffers(&self, id: usize) -> bool {
        self.buffers == Some(id)
    }

    /// Whether buffer group `bgid` of this ring is the provided-buffer ring at `addr` (so
    /// a receive may select from it): group ids are per ring, and another ring's group of
    /// the same number is another pool.
    pub(crate) fn owns_buf_ring(&self, bgid: u16, addr: u64) -> bool {
        addr != 0 && self.buf_rings.get(bgid as usize) == Some(&addr)
    }
}

/// Builds an SQE on a [`Target`]: `on_target!(ring.target(&self.fd), |fd| opcode::Send::new(fd,
/// ptr, len).build())`, with `fd` an `io_uring::types::Fd` or `Fixed`.
macro_rules! on_target {
    ($target:expr, |$fd:ident| $body:expr) => {
        match $target {
            $crate::driver::Target::Fd(raw) => {
                let $fd = io_uring::types::Fd(raw);
                $body
            }
            $crate::driver::Target::Fixed(slot) => {
                let $fd = io_uring::types::Fixed(slot);
                $body
            }
        }
    };
}
pub(crate) use on_target;

impl Uring {
    /// The ring SQEs are built for now.
    pub(super) fn ring(&self) -> Ring<'_> {
        Ring {
            files: self.fixed_files.as_deref(),
            buffers: self.buffers_pool,
            buf_rings: &self.buf_rings,
        }
    }
}
