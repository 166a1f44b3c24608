//! What an SQE may name on the ring it is built for ([`Ring`]): a socket's registered slot
//! of this ring's table, the buffers registered with this ring. Both belong to one ring: an
//! fd or a buffer that meets another runtime is named there by its number or address.

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
}

impl Ring<'_> {
    /// How the SQE names `fd`: the registered slot this ring's table holds for it, once
    /// filled (`[slot-lifetime]`), else its number.
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
        }
    }
}
