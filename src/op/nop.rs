//! `IORING_OP_NOP`: a round trip through the driver that does nothing.

use std::io;

use io_uring::{opcode, squeue};

use crate::driver::{Completion, Mode, OpCode, OpKind, ReadyOp, Ring, UringOp};

pub(crate) struct Nop;

impl OpCode for Nop {
    type Output = io::Result<()>;
    const KIND: OpKind = OpKind::Nop;

    fn complete(self, completion: Completion) -> io::Result<()> {
        completion.result.map(drop)
    }
}

// SAFETY: a NOP SQE carries no pointers and no fd.
unsafe impl UringOp for Nop {
    const CANCEL_FINDS: bool = true;

    fn sqe(&mut self, _ring: &Ring<'_>) -> io::Result<squeue::Entry> {
        Ok(opcode::Nop::new().build())
    }
}

impl ReadyOp for Nop {
    fn mode(&self) -> Mode<'_> {
        Mode::Immediate
    }

    fn syscall(&mut self) -> io::Result<u32> {
        Ok(0)
    }
}
