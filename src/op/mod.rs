//! Operations, one per file. Each is a struct implementing
//! [`OpCode`](crate::driver::OpCode), driven by [`Op`](crate::driver::Op).

pub(crate) mod accept;
pub(crate) mod accept_multi;
pub(crate) mod close;
pub(crate) mod connect;
pub(crate) mod fsync;
pub(crate) mod ftruncate;
pub(crate) mod mkdir;
pub(crate) mod nop;
pub(crate) mod open;
pub(crate) mod read_at;
pub(crate) mod read_fixed_at;
pub(crate) mod recv;
pub(crate) mod recv_from;
pub(crate) mod recv_multi;
pub(crate) mod rename;
pub(crate) mod send;
pub(crate) mod send_to;
pub(crate) mod send_zc;
pub(crate) mod shutdown;
pub(crate) mod statx;
pub(crate) mod unlink;
pub(crate) mod write_at;
pub(crate) mod write_fixed_at;

#[cfg(test)]
mod readiness_tests;
