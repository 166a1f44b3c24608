//! The futures of the sockets' operations: what `read`, `write`, `write_all`, `recv`,
//! `send`, their vectored and addressed forms,
//! [`TcpListener::accept`](super::TcpListener::accept) and
//! [`TcpStream::connect`](super::TcpStream::connect) return. Await one for its output, or
//! give the operation a deadline first with its `timeout` method (all but `write_all`'s,
//! which may take many operations: see [`WriteAll`]):
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

use std::net::SocketAddr;
use std::time::Instant;

use socket2::{Domain, SockAddr, Type};

use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::driver::{timed_out, Operation, SharedFd};
use crate::net::addr::{no_addresses, Addrs, Resolve};
use crate::net::socket::Socket;
use crate::net::TcpStream;
use crate::op;
use crate::runtime::op::Op;
use crate::time::{sleep, sleep_until, Sleep};

pub use super::queue_write::QueueWrite;
pub use super::stream_io::{StreamRead, StreamWrite, WriteAll};

/// A deadline given to an operation.
pub(super) struct Deadline {
    after: Duration,
    /// The userspace timer, made (boxed, so that the futures stay small) when the epoll
    /// backend first asks; io_uring never does.
    sleep: Option<Box<Sleep>>,
}

/// Most ops never get a deadline, and their futures drop a `None` here: that check stays
/// inline, the timer's drop does not.
impl Drop for Deadline {
    #[inline]
    fn drop(&mut self) {
        if let Some(sleep) = self.sleep.take() {
            drop_timer(sleep);
        }
    }
}

#[inline(never)]
fn drop_timer(sleep: Box<Sleep>) {
    drop(sleep);
}

impl Deadline {
    /// A deadline `after` from the first poll; no timer yet.
    pub(super) fn new(after: Duration) -> Deadline {
        Deadline { after, sleep: None }
    }

    /// Whether the userspace timer (started at the first call) has passed; registers `cx`
    /// with it otherwise.
    pub(super) fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        let after = self.after;
        let timer = self.sleep.get_or_insert_with(|| Box::new(sleep(after)));
        Pin::new(&mut **timer).poll(cx).is_ready()
    }
}

/// Polls `op`, under `deadline` when it has one.
fn poll_op<T: Operation>(
    op: &mut Op<T>,
    deadline: &mut Option<Deadline>,
    cx: &mut Context<'_>,
) -> Poll<T::Output> {
    let Some(deadline) = deadline else {
        return Pin::new(op).poll(cx);
    };
    let after = deadline.after;
    op.poll_timed(after, &mut |cx: &mut Context<'_>| deadline.expired(cx), cx)
}

/// The `timeout` method every future here has.
macro_rules! timeout_method {
    () => {
        /// Gives the operation a deadline `after` from its first poll: past it, the output
        /// is an error of kind `TimedOut` (see [the module docs](self)).
        ///
        /// # Panics
        /// On a future already polled: its operation may be in the kernel without the
        /// deadline, which cannot be added afterwards.
        pub fn timeout(mut self, after: Duration) -> Self {
            assert!(
                !Started::is_started(&self.op),
                "proactor: timeout() on an operation already polled; give the deadline first"
            );
            self.deadline = Some(Deadline::new(after));
            self
        }
    };
}

/// Whether a future's operation was polled (it may be in the kernel without a deadline).
trait Started {
    fn is_started(&self) -> bool;
}

impl<T: Operation> Started for Op<T> {
    fn is_started(&self) -> bool {
        Op::is_started(self)
    }
}

/// An op made at the first poll (after a lookup): started once it exists.
impl<T: Operation> Started for Option<Op<T>> {
    fn is_started(&self) -> bool {
        self.is_some()
    }
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

            /// The output, unpolled, as if the op had failed with `e`.
            #[allow(dead_code)]
            pub(crate) fn fail(self, e: io::Error) -> $out {
                let $res = self.op.fail(e);
                $map
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

/// The instant a deadline `after` given to a future passes, counted from its first poll.
fn deadline_at(after: Option<Duration>, at: &mut Option<Instant>) -> Option<Instant> {
    if let (Some(after), None) = (after, *at) {
        // A deadline past what an `Instant` can hold (`Duration::MAX`) is none.
        *at = Instant::now().checked_add(after);
    }
    *at
}

/// Polls the lookup of a host name, under the deadline `at` (a timer of the runtime's:
/// the kernel has no part in a lookup); the lookup is done with once it gave its answer.
fn poll_lookup(
    resolve: &mut Option<Resolve>,
    at: Option<Instant>,
    timer: &mut Option<Box<Sleep>>,
    cx: &mut Context<'_>,
) -> Poll<io::Result<Addrs>> {
    let addrs = match resolve.as_mut().expect("polled after completion") {
        Resolve::Ready(addrs) => std::mem::replace(addrs, Addrs::One(None)),
        Resolve::Lookup(lookup) => match lookup.as_mut().poll(cx) {
            Poll::Ready(res) => res?,
            Poll::Pending => {
                let Some(at) = at else {
                    return Poll::Pending;
                };
                let timer = timer.get_or_insert_with(|| Box::new(sleep_until(at)));
                ready!(Pin::new(&mut **timer).poll(cx));
                *resolve = None;
                return Poll::Ready(Err(timed_out()));
            }
        },
    };
    *resolve = None;
    Poll::Ready(Ok(addrs))
}

/// The future of [`TcpStream::connect`](super::TcpStream::connect): the lookup of a host
/// name if need be, then a connect to each address in turn until one succeeds. Under a
/// deadline ([`timeout`](Connect::timeout)), each attempt goes in with what is left of it.
#[must_use = "futures do nothing unless polled"]
pub struct Connect {
    /// The addresses, or their lookup: `None` once they are in `addrs`, or for an error
    /// found before there were any (in `last`).
    resolve: Option<Resolve>,
    addrs: Addrs,
    /// The attempt under way: its socket, its connect and that connect's deadline.
    attempt: Option<(Socket, Op<op::connect::Connect>, Option<Deadline>)>,
    /// The error of the last attempt (or of the address argument).
    last: Option<io::Error>,
    after: Option<Duration>,
    /// When the deadline passes, from the first poll.
    at: Option<Instant>,
    /// The lookup's timer, under a deadline.
    timer: Option<Box<Sleep>>,
}

impl Connect {
    pub(crate) fn new(resolve: io::Result<Resolve>) -> Connect {
        let (resolve, last) = match resolve {
            Ok(resolve) => (Some(resolve), None),
            Err(e) => (None, Some(e)),
        };
        Connect {
            resolve,
            addrs: Addrs::One(None),
            attempt: None,
            last,
            after: None,
            at: None,
            timer: None,
        }
    }

    /// Gives the connect a deadline `after` from its first poll, the lookup and every
    /// attempt included: past it, the output is an error of kind `TimedOut` (see [the
    /// module docs](self)).
    pub fn timeout(mut self, after: Duration) -> Self {
        self.after = Some(after);
        self
    }

    /// A socket for `addr` and its connect.
    fn attempt(&self, addr: SocketAddr) -> io::Result<(Socket, Op<op::connect::Connect>)> {
        let socket = Socket::create(Domain::for_address(addr), Type::STREAM)?;
        let socket = Socket::from_socket2(socket)?;
        let op = socket.connect(SockAddr::from(addr));
        Ok((socket, op))
    }
}

impl Future for Connect {
    type Output = io::Result<TcpStream>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let at = deadline_at(this.after, &mut this.at);
        if this.resolve.is_some() {
            this.addrs = ready!(poll_lookup(&mut this.resolve, at, &mut this.timer, cx))?;
        }
        loop {
            if let Some((_, op, deadline)) = &mut this.attempt {
                let res = ready!(poll_op(op, deadline, cx));
                let (socket, _, _) = this.attempt.take().expect("matched above");
                match res {
                    Ok(()) => return Poll::Ready(Ok(TcpStream::from_socket(socket))),
                    // Past the deadline no other address is tried.
                    Err(e) if at.is_some_and(|at| Instant::now() >= at) => {
                        return Poll::Ready(Err(e))
                    }
                    Err(e) => this.last = Some(e),
                }
            }
            let Some(addr) = this.addrs.next() else {
                let err = this.last.take().unwrap_or_else(no_addresses);
                return Poll::Ready(Err(err));
            };
            match this.attempt(addr) {
                Ok((socket, op)) => {
                    let deadline =
                        at.map(|at| Deadline::new(at.saturating_duration_since(Instant::now())));
                    this.attempt = Some((socket, op, deadline));
                }
                Err(e) => this.last = Some(e),
            }
        }
    }
}

impl fmt::Debug for Connect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connect").finish_non_exhaustive()
    }
}

/// The future of [`UdpSocket::send_to`](super::UdpSocket::send_to): the lookup of a host
/// name if need be, then one datagram to its first address.
#[must_use = "futures do nothing unless polled"]
pub struct SendTo<B: IoBuf> {
    /// The destination, or its lookup; `None` once the op is under way (or done).
    resolve: Option<Resolve>,
    /// The socket and the datagram, until the op takes them.
    pending: Option<(SharedFd, B)>,
    op: Option<Op<op::send_msg::SendMsg<B>>>,
    deadline: Option<Deadline>,
    at: Option<Instant>,
    timer: Option<Box<Sleep>>,
    /// An error of the address argument, with the buffer back at the first poll.
    failed: Option<io::Error>,
}

impl<B: IoBuf> SendTo<B> {
    pub(crate) fn new(fd: &SharedFd, buf: B, target: io::Result<Resolve>) -> Self {
        let (resolve, failed) = match target {
            Ok(resolve) => (Some(resolve), None),
            Err(e) => (None, Some(e)),
        };
        SendTo {
            resolve,
            pending: Some((fd.clone(), buf)),
            op: None,
            deadline: None,
            at: None,
            timer: None,
            failed,
        }
    }

    timeout_method!();
}

// Nothing of it is pinned: the buffer waits by value until the op takes it, and the op,
// the lookup and the timer are boxed or `Unpin` themselves.
impl<B: IoBuf> Unpin for SendTo<B> {}

impl<B: IoBuf> Future for SendTo<B> {
    type Output = BufResult<usize, B>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if this.op.is_none() {
            let (fd, buf) = this.pending.take().expect("polled after completion");
            if let Some(e) = this.failed.take() {
                return Poll::Ready((Err(e), buf));
            }
            let after = this.deadline.as_ref().map(|d| d.after);
            let at = deadline_at(after, &mut this.at);
            let resolved = match poll_lookup(&mut this.resolve, at, &mut this.timer, cx) {
                Poll::Pending => {
                    this.pending = Some((fd, buf));
                    return Poll::Pending;
                }
                Poll::Ready(res) => res.and_then(|mut a| a.next().ok_or_else(no_addresses)),
            };
            let addr = match resolved {
                Ok(addr) => addr,
                Err(e) => return Poll::Ready((Err(e), buf)),
            };
            if let (Some(deadline), Some(at)) = (&mut this.deadline, at) {
                deadline.after = at.saturating_duration_since(Instant::now());
            }
            let op = op::send_msg::SendMsg::to(&fd, buf, SockAddr::from(addr));
            this.op = Some(Op::new(op));
        }
        let op = this.op.as_mut().expect("made above");
        poll_op(op, &mut this.deadline, cx)
    }
}

impl<B: IoBuf> fmt::Debug for SendTo<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendTo").finish_non_exhaustive()
    }
}
