//! The futures of the sockets' operations: what `read`, `write`, `recv`, `send`, their
//! vectored and addressed forms, [`TcpListener::accept`](super::TcpListener::accept) and
//! [`TcpStream::connect`](super::TcpStream::connect) return. Await one for its output, or
//! give the operation a deadline first with its `timeout` method:
//!
//! ```
//! use std::io::ErrorKind;
//! use std::time::Duration;
//! use proactor::net::UnixStream;
//! # proactor::block_on(async {
//! let (ours, _theirs) = UnixStream::pair()?;
//! // Nothing comes: the read times out, and the buffer comes back.
//! let (res, buf) = ours.read(Vec::with_capacity(64)).timeout(Duration::from_millis(5)).await;
//! assert_eq!(res.unwrap_err().kind(), ErrorKind::TimedOut);
//! assert_eq!(buf.capacity(), 64);
//! # Ok::<(), std::io::Error>(())
//! # }).unwrap();
//! ```
//!
//! On io_uring the deadline is the kernel's: the operation is submitted with
//! `IOSQE_IO_LINK` and an `IORING_OP_LINK_TIMEOUT` behind it, one submission and no timer
//! in the runtime; when the timeout fires first the kernel cancels the operation. On epoll
//! the runtime's timer gives the operation up while it waits for readiness. Either way the
//! output is the operation's own, with an error of kind [`TimedOut`](std::io::ErrorKind)
//! where the deadline passed first (and the buffers back); data that arrives in time is
//! delivered. The deadline counts from the first poll. A deadline of zero tries the
//! operation once, as a non-blocking call would. [`time::timeout`](crate::time::timeout)
//! works on these futures too, as on any: with a timer of the runtime's, for a deadline
//! around more than one operation.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::driver::Operation;
use crate::net::socket::Socket;
use crate::net::TcpStream;
use crate::op;
use crate::runtime::op::Op;
use crate::time::{sleep, Sleep};

/// A deadline given to an operation.
struct Deadline {
    after: Duration,
    /// The userspace timer, made (boxed, so that the futures stay small) when the epoll
    /// backend first asks; io_uring never does.
    sleep: Option<Box<Sleep>>,
}

/// Polls `op`, under `deadline` when it has one.
fn poll_op<T: Operation>(
    op: &mut Op<T>,
    deadline: &mut Option<Deadline>,
    cx: &mut Context<'_>,
) -> Poll<T::Output> {
    let Some(Deadline {
        after,
        sleep: timer,
    }) = deadline
    else {
        return Pin::new(op).poll(cx);
    };
    let after = *after;
    let mut expired = |cx: &mut Context<'_>| {
        let timer = timer.get_or_insert_with(|| Box::new(sleep(after)));
        Pin::new(&mut **timer).poll(cx).is_ready()
    };
    op.poll_timed(after, &mut expired, cx)
}

/// The `timeout` method every future here has.
macro_rules! timeout_method {
    () => {
        /// Gives the operation a deadline `after` from its first poll: past it, the output
        /// is an error of kind `TimedOut` (see [the module docs](self)).
        pub fn timeout(mut self, after: Duration) -> Self {
            self.deadline = Some(Deadline { after, sleep: None });
            self
        }
    };
}

/// A future over one op, with a buffer type `B`, whose output is the op's mapped by `map`.
macro_rules! op_future {
    ($(#[$doc:meta])* $name:ident<B: $bound:ident>($op:ty) -> $out:ty, |$res:pat_param| $map:expr) => {
        $(#[$doc])*
        #[must_use = "futures do nothing unless polled"]
        pub struct $name<B: $bound> {
            op: Op<$op>,
            deadline: Option<Deadline>,
        }

        impl<B: $bound> $name<B> {
            pub(crate) fn new(op: Op<$op>) -> Self {
                $name { op, deadline: None }
            }

            timeout_method!();
        }

        impl<B: $bound> Future for $name<B> {
            type Output = $out;

            fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<$out> {
                let this = self.get_mut();
                let $res = ready!(poll_op(&mut this.op, &mut this.deadline, cx));
                Poll::Ready($map)
            }
        }

        impl<B: $bound> fmt::Debug for $name<B> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name)).finish_non_exhaustive()
            }
        }
    };
}

op_future! {
    /// The future of a read from a stream (`read`) or of one datagram (`recv`).
    Read<B: IoBufMut>(op::recv::Recv<B>) -> BufResult<usize, B>, |out| out
}

op_future! {
    /// The future of a write to a stream (`write`) or of one datagram (`send`).
    Write<B: IoBuf>(op::send::Send<B>) -> BufResult<usize, B>, |out| out
}

op_future! {
    /// The future of `read_vectored`.
    ReadVectored<B: IoBufMut>(op::recv_vectored::RecvVectored<B>) -> BufResult<usize, Vec<B>>,
    |(res, bufs)| (res.map(|(n, _)| n), bufs)
}

op_future! {
    /// The future of `write_vectored`.
    WriteVectored<B: IoBuf>(op::send_vectored::SendVectored<B>) -> BufResult<usize, Vec<B>>,
    |out| out
}

op_future! {
    /// The future of [`UdpSocket::recv_from`](super::UdpSocket::recv_from).
    RecvFrom<B: IoBufMut>(op::recv_from::RecvFrom<B>) -> BufResult<(usize, std::net::SocketAddr), B>,
    |(res, buf)| (res.and_then(|(n, addr)| Ok((n, Socket::ip_addr(addr)?))), buf)
}

op_future! {
    /// The future of [`UdpSocket::send_to`](super::UdpSocket::send_to).
    SendTo<B: IoBuf>(op::send_to::SendTo<B>) -> BufResult<usize, B>, |out| out
}

op_future! {
    /// The future of [`UdpSocket::recv_msg`](super::UdpSocket::recv_msg).
    RecvMsg<B: IoBufMut>(op::recv_vectored::RecvVectored<B>)
        -> BufResult<(usize, std::net::SocketAddr), Vec<B>>,
    |(res, bufs)| (res.and_then(|(n, addr)| {
        let addr = addr.expect("a datagram receive asks for the sender");
        Ok((n, Socket::ip_addr(addr)?))
    }), bufs)
}

op_future! {
    /// The future of [`UdpSocket::send_msg`](super::UdpSocket::send_msg).
    SendMsg<B: IoBuf>(op::send_vectored::SendVectored<B>) -> BufResult<usize, Vec<B>>, |out| out
}

/// The future of [`TcpListener::accept`](super::TcpListener::accept).
#[must_use = "futures do nothing unless polled"]
pub struct Accept {
    op: Op<op::accept::Accept>,
    deadline: Option<Deadline>,
}

impl Accept {
    pub(crate) fn new(op: Op<op::accept::Accept>) -> Accept {
        Accept { op, deadline: None }
    }

    timeout_method!();
}

impl Future for Accept {
    type Output = io::Result<(TcpStream, std::net::SocketAddr)>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let (fd, addr) = ready!(poll_op(&mut this.op, &mut this.deadline, cx))?;
        let stream = TcpStream::from_socket(Socket::from_owned(fd));
        Poll::Ready(Ok((stream, Socket::ip_addr(addr)?)))
    }
}

impl fmt::Debug for Accept {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Accept").finish_non_exhaustive()
    }
}

/// The future of [`TcpStream::connect`](super::TcpStream::connect).
#[must_use = "futures do nothing unless polled"]
pub struct Connect {
    /// The socket and its connect, or the error that came before there was one.
    op: Result<(Socket, Op<op::connect::Connect>), Option<io::Error>>,
    deadline: Option<Deadline>,
}

impl Connect {
    pub(crate) fn new(op: io::Result<(Socket, Op<op::connect::Connect>)>) -> Connect {
        Connect {
            op: op.map_err(Some),
            deadline: None,
        }
    }

    timeout_method!();
}

impl Future for Connect {
    type Output = io::Result<TcpStream>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let op = match &mut this.op {
            Ok((_, op)) => op,
            Err(e) => return Poll::Ready(Err(e.take().expect("polled after completion"))),
        };
        ready!(poll_op(op, &mut this.deadline, cx))?;
        let Ok((socket, _)) = std::mem::replace(&mut this.op, Err(None)) else {
            unreachable!("matched above")
        };
        Poll::Ready(Ok(TcpStream::from_socket(socket)))
    }
}

impl fmt::Debug for Connect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connect").finish_non_exhaustive()
    }
}
