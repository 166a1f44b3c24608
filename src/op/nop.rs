//! `IORING_OP_NOP`: a round trip through the driver that does nothing.

use std::io;

use io_uring::{opcode, squeue};

use crate::driver::{Completion, Mode, Op, OpCode};

pub(crate) struct Nop;

// SAFETY: a NOP SQE carries no pointers and no fd.
unsafe impl OpCode for Nop {
    type Output = io::Result<()>;

    fn sqe(&mut self) -> squeue::Entry {
        opcode::Nop::new().build()
    }

    fn mode(&self) -> Mode<'_> {
        Mode::Immediate
    }

    fn syscall(&mut self) -> io::Result<u32> {
        Ok(0)
    }

    fn complete(self, completion: Completion) -> io::Result<()> {
        completion.result.map(drop)
    }
}

/// Submits a no-op to the driver and waits for its completion: the cost of one operation
/// round trip with no I/O. Useful to measure the driver, or to yield through the ring.
///
/// ```
/// proactor::block_on(async { proactor::nop().await.unwrap() });
/// ```
pub async fn nop() -> io::Result<()> {
    Op::new(Nop).await
}
