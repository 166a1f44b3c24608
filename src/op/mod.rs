//! Operations, one per file. Each is a struct with three short impl blocks: what both
//! backends share ([`OpCode`](crate::driver::OpCode): the owned resources and `complete`),
//! its io_uring half ([`UringOp`](crate::driver::UringOp): the SQE for the ring at hand),
//! and its readiness half ([`ReadyOp`](crate::driver::ReadyOp): the non-blocking syscall,
//! or the blocking call the epoll backend runs on its thread pool). The runtime's op
//! futures drive them; nothing here knows the runtime.

pub(crate) mod accept;
pub(crate) mod accept_multi;
pub(crate) mod close;
pub(crate) mod connect;
pub(crate) mod fsync;
pub(crate) mod ftruncate;
pub(crate) mod mkdir;
pub(crate) mod nop;
pub(crate) mod open;
pub(crate) mod read;
pub(crate) mod read_at;
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

#[cfg(test)]
mod tests;
