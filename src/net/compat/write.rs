//! The writing side of the bridge: [`WriteState`], the bytes a stream accepted and the send
//! carrying them, and [`pump`], the task that moves them along when the writer does not.
//!
//! Accepted bytes are copied into a staging buffer; at most one send is in flight, and
//! while it is, the next bytes fill the staging buffer, which goes out as the next send.
//! At most [`WRITE_LIMIT`] bytes are accepted and not yet sent; past that `poll_write` is
//! pending until a send completes.
//!
//! Who polls the send in flight: the writer itself (`poll_write`, `poll_flush`) as long as
//! nothing else is needed, which is the common case (a send the kernel completes on its
//! own: io_uring, or epoll's first attempt). When `poll_write` returns with bytes that need
//! another poll to go out (staged behind the send in flight, or an epoll send waiting for
//! the socket to be writable), a pump task of the runtime takes the sends over until all
//! is sent, waking the writer as room frees up; the writer's calls then only stage bytes
//! and wait. So `Ready(Ok(n))` means the bytes go out whatever the writer does next. A
//! dropped stream's unsent bytes are pumped too, for at most [`LINGER`].

use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::io::{self, IoSlice};
use std::net::Shutdown;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Context, Poll, Waker};
use std::time::Duration;

use crate::buf::{IoBuf, Slice};
use crate::driver::SharedFd;
use crate::op::send::Send;
use crate::op::shutdown::Shutdown as ShutdownOp;
use crate::runtime::op::Op;
use crate::DriverKind;

/// Most bytes a stream accepts through `poll_write` that are not sent yet.
pub(crate) const WRITE_LIMIT: usize = 64 * 1024;
/// A staging buffer larger than this is not kept once everything is sent, so an idle
/// connection holds little.
const KEEP: usize = 4096;
/// How long a dropped stream's unsent bytes may take to go out (shorter in the crate's
/// own tests, which wait it out).
pub(crate) const LINGER: Duration = if cfg!(test) {
    Duration::from_millis(300)
} else {
    Duration::from_secs(10)
};

/// Whether a send submitted now is completed by the kernel on its own, so that nobody needs
/// to poll it for the bytes to go out: io_uring retries a short stream send itself with
/// `MSG_WAITALL` (newer kernels; `SEND_ZC`, of Linux 6.0, stands in for them, as it does for
/// multishot recv, and is off with the fast paths). Elsewhere (epoll, older kernels) a send
/// left in flight is driven by the pump, which takes up a short completion.
pub(crate) fn kernel_completes_sends() -> bool {
    crate::runtime::current_driver() == Some(DriverKind::Uring)
        && crate::runtime::context::with_uring(|u| u.features().send_zc) == Some(true)
}

/// Where the write direction stands.
enum Shut {
    Open,
    Closing(Op<ShutdownOp>),
    Closed,
}

/// The writing state of one stream, allocated at its first write through the traits;
/// shared with its pump task while one runs.
pub(crate) struct WriteState {
    /// The stream's socket, for the sends (each op holds its own clone as well).
    fd: SharedFd,
    /// Accepted bytes not handed to a send yet.
    staged: Vec<u8>,
    /// The send in flight, over the part of its buffer not sent yet.
    sending: Option<Op<Send<Slice<Vec<u8>>>>>,
    /// Bytes of `sending` not sent yet.
    in_flight: usize,
    /// A sent buffer kept for the next send, while more is staged.
    spare: Option<Vec<u8>>,
    /// The error of a send, for the writer's next call.
    error: Option<io::Error>,
    shut: Shut,
    /// Whether a pump task polls the sends (then only it does).
    pump: bool,
    /// The pump's waker, to tell it that the stream went away.
    pump_waker: Option<Waker>,
    /// The writer waiting for room or for the flush, while the pump runs.
    waiter: Option<Waker>,
    /// A send left in flight needs polling to finish (epoll's readiness retries; io_uring
    /// where the kernel may complete it short: [`kernel_completes_sends`]): then the pump.
    readiness: bool,
}

impl WriteState {
    pub(crate) fn new(fd: &SharedFd) -> WriteState {
        WriteState {
            fd: fd.clone(),
            staged: Vec::new(),
            sending: None,
            in_flight: 0,
            spare: None,
            error: None,
            shut: Shut::Open,
            pump: false,
            pump_waker: None,
            waiter: None,
            readiness: !kernel_completes_sends(),
        }
    }

    /// Whether a pump task polls the sends.
    pub(crate) fn pump_running(&self) -> bool {
        self.pump
    }

    /// Whether every accepted byte is sent.
    pub(crate) fn is_idle(&self) -> bool {
        !self.pump && self.sending.is_none() && self.staged.is_empty()
    }

    /// Accepts bytes of `bufs` (in order) up to the limit; `Pending` when the limit is
    /// reached, until a send completes. The returned flag asks for a pump task.
    pub(crate) fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> (Poll<io::Result<usize>>, bool) {
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if total == 0 {
            return (Poll::Ready(Ok(0)), false);
        }
        if !self.pump {
            self.drive(cx);
        }
        if let Some(e) = self.error.take() {
            return (Poll::Ready(Err(e)), false);
        }
        if !matches!(self.shut, Shut::Open) {
            let msg = "write after the write direction was shut down";
            let e = io::Error::new(io::ErrorKind::BrokenPipe, msg);
            return (Poll::Ready(Err(e)), false);
        }
        let room = WRITE_LIMIT.saturating_sub(self.staged.len() + self.in_flight);
        if room == 0 {
            // A send is in flight (`drive` submits whatever is staged when none is). Its
            // completion wakes this writer: it was polled with `cx`, or the pump wakes it.
            self.wait(cx);
            return (Poll::Pending, false);
        }
        let take = total.min(room);
        self.staged.reserve(take);
        let mut left = take;
        for buf in bufs {
            let n = buf.len().min(left);
            self.staged.extend_from_slice(&buf[..n]);
            left -= n;
            if left == 0 {
                break;
            }
        }
        if self.pump {
            return (Poll::Ready(Ok(take)), false); // the pump sends them after the current send
        }
        // Handed to a send now if none is in flight. Its error, if it fails at once, is
        // kept for the next call: these bytes were accepted. Submitted with no waker: its
        // completion needs nobody woken (the next call collects it; a writer that waits
        // polls it with its own waker first, and the pump with its).
        self.drive(&mut Context::from_waker(Waker::noop()));
        let stuck = self.sending.is_some() && (!self.staged.is_empty() || self.readiness);
        (Poll::Ready(Ok(take)), stuck)
    }

    /// Ready once every accepted byte is sent or, on io_uring, handed to the kernel in a
    /// send it completes by itself (`MSG_WAITALL`); the error of a failed send otherwise.
    /// A send still in flight then is collected by the next call, which reports its error
    /// if it failed; nobody is woken for its completion, so a request-response loop pays
    /// one wake-up per request (its receive), as on a readiness runtime.
    pub(crate) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush_as(cx, false)
    }

    /// [`poll_flush`](WriteState::poll_flush); `strict`: ready only once every send
    /// completed (before a shutdown, or a write that is not the bridge's, which must not
    /// overtake a send waiting in the kernel).
    pub(crate) fn poll_flush_as(
        &mut self,
        cx: &mut Context<'_>,
        strict: bool,
    ) -> Poll<io::Result<()>> {
        let handed_off = |s: &Self| !strict && !s.pump && !s.readiness && s.staged.is_empty();
        if handed_off(self) {
            self.drive(&mut Context::from_waker(Waker::noop()));
        } else if !self.pump {
            self.drive(cx);
        }
        if let Some(e) = self.error.take() {
            return Poll::Ready(Err(e));
        }
        if self.is_idle() || handed_off(self) {
            return Poll::Ready(Ok(()));
        }
        self.wait(cx);
        Poll::Pending
    }

    /// Flushes, then shuts the write direction down (the peer reads end of stream).
    pub(crate) fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_flush_as(cx, true))?;
        loop {
            match &mut self.shut {
                Shut::Open => {
                    let op = Op::new(ShutdownOp::new(&self.fd, Shutdown::Write));
                    self.shut = Shut::Closing(op);
                }
                Shut::Closing(op) => {
                    let res = ready!(Pin::new(op).poll(cx));
                    self.shut = Shut::Closed;
                    return Poll::Ready(res);
                }
                Shut::Closed => return Poll::Ready(Ok(())),
            }
        }
    }

    /// Waits for the pump's news (when the writer polls the sends itself, the send in
    /// flight was just polled with `cx`, which is enough).
    fn wait(&mut self, cx: &mut Context<'_>) {
        if self.pump {
            self.waiter = Some(cx.waker().clone());
        }
    }

    /// One poll of the pump task: moves the sends along; `Ready` once all is sent or a
    /// send failed (the error then waits for the writer). The writer to wake, if any, is
    /// handed back, to be woken once the state is no longer borrowed.
    fn poll_pump(&mut self, cx: &mut Context<'_>) -> (Poll<()>, Option<Waker>) {
        self.pump_waker = Some(cx.waker().clone());
        let before = self.in_flight + self.staged.len();
        self.drive(cx);
        let done = self.error.is_some() || (self.sending.is_none() && self.staged.is_empty());
        let progressed = done || self.in_flight + self.staged.len() != before;
        // (The pump's `drive` polled the send in flight with the pump's own waker.)
        if done {
            self.pump = false;
            self.pump_waker = None;
        }
        let waiter = if progressed { self.waiter.take() } else { None };
        (if done { Poll::Ready(()) } else { Poll::Pending }, waiter)
    }

    /// Moves the sends along: collects the one in flight (re-sending what a short send
    /// left), and submits what is staged when none is in flight. Leaves an error in
    /// `error`; staged bytes are dropped with it (they can no longer be sent in order).
    fn drive(&mut self, cx: &mut Context<'_>) {
        loop {
            if let Some(op) = self.sending.as_mut() {
                let Poll::Ready((res, slice)) = Pin::new(op).poll(cx) else {
                    return;
                };
                self.sending = None;
                self.in_flight = 0;
                let (begin, end) = (slice.begin(), slice.end());
                let buf = slice.into_inner();
                match res {
                    Ok(n) if n > 0 && begin + n < end => self.submit(buf, begin + n),
                    Ok(0) if begin < end => {
                        let msg = format!("the socket took 0 of {} bytes", end - begin);
                        return self.fail(io::Error::new(io::ErrorKind::WriteZero, msg));
                    }
                    Ok(_) => self.recycle(buf),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => self.submit(buf, begin),
                    Err(e) => return self.fail(e),
                }
                continue;
            }
            if self.staged.is_empty() {
                return;
            }
            let next = self.spare.take().unwrap_or_default();
            let buf = std::mem::replace(&mut self.staged, next);
            self.submit(buf, 0);
        }
    }

    /// Starts the send of `buf[from..]`.
    fn submit(&mut self, buf: Vec<u8>, from: usize) {
        let end = buf.len();
        self.in_flight = end - from;
        self.sending = Some(Op::new(Send::all(&self.fd, buf.slice(from..end))));
    }

    /// A sent buffer: the next staging buffer while more is staged (no allocation per
    /// send in a bulk transfer), else kept only if small.
    fn recycle(&mut self, mut buf: Vec<u8>) {
        buf.clear();
        if !self.staged.is_empty() {
            self.spare = Some(buf);
        } else if buf.capacity() <= KEEP {
            self.staged = buf;
        }
    }

    fn fail(&mut self, e: io::Error) {
        self.error = Some(e);
        self.staged = Vec::new();
        self.spare = None;
    }
}

/// Hands the sends of `state` to a pump task, unless one runs; false outside a runtime.
pub(crate) fn start_pump(state: &Rc<RefCell<WriteState>>) -> bool {
    let mut st = state.borrow_mut();
    if st.pump {
        return true;
    }
    st.pump = true;
    drop(st);
    if crate::runtime::task::spawn_detached(pump(state.clone())) {
        return true;
    }
    state.borrow_mut().pump = false;
    false
}

/// Tells the pump of a stream that goes away (its linger starts), if one runs.
pub(crate) fn orphan(state: &Rc<RefCell<WriteState>>) {
    let waker = state.borrow_mut().pump_waker.take();
    if let Some(waker) = waker {
        waker.wake();
    }
}

/// The pump task: polls the sends of `state` until all is sent or one fails; once the
/// stream is gone (the task holds the last handle), for at most [`LINGER`], after which
/// the sends are dropped (cancelled) and the socket closes.
async fn pump(state: Rc<RefCell<WriteState>>) {
    let mut linger = None;
    poll_fn(|cx| {
        if Rc::strong_count(&state) == 1 {
            let sleep = linger.get_or_insert_with(|| crate::time::sleep(LINGER));
            if Pin::new(sleep).poll(cx).is_ready() {
                return Poll::Ready(());
            }
        }
        let (res, waiter) = state.borrow_mut().poll_pump(cx);
        if let Some(waiter) = waiter {
            waiter.wake();
        }
        res
    })
    .await;
}
