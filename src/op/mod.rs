//! Operations, one per file. Each is a struct implementing
//! [`OpCode`](crate::driver::OpCode), driven by [`Op`](crate::driver::Op).

pub(crate) mod accept;
pub(crate) mod close;
pub(crate) mod connect;
pub(crate) mod nop;
pub(crate) mod recv;
pub(crate) mod recv_from;
pub(crate) mod send;
pub(crate) mod send_to;
pub(crate) mod shutdown;

#[cfg(test)]
mod readiness_tests;
