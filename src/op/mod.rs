//! Operations, one per file. Each is a struct implementing
//! [`OpCode`](crate::driver::OpCode), driven by [`Op`](crate::driver::Op).

pub(crate) mod nop;
