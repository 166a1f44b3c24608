//! A [`Send::all`] that may be left to the kernel: [`QueuedSend`], and the [`SendQueue`] of
//! a stream's write direction, where the send reports when it is done.
//!
//! A queued write hands its send to the driver and returns at once where the kernel
//! finishes the send on its own (io_uring with `MSG_WAITALL`): the driver keeps the op,
//! buffer and fd included, until its completion (`[parked-on-drop]`, without a cancel), and
//! the op's orphan hook then records the result in the stream's queue and wakes whoever
//! waits for it. Nobody is woken for a send that succeeds: a request-response loop pays
//! one wake-up per request, its receive's.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use io_uring::squeue;

use super::send::Send;
use crate::buf::{BufResult, IoBuf};
use crate::driver::{
    Completion, Handle, Mode, OpCode, OpKind, ReadyOp, Ring, SharedFd, UringOp, WeakHandle,
};

/// Where a stream's queued send stands: at most one is in flight at a time, so that its
/// bytes keep their order with whatever is written next (which waits for it).
#[derive(Default)]
pub(crate) struct SendQueue {
    /// A send was left to the kernel and has not completed.
    busy: Cell<bool>,
    /// A queued write the driver could not leave to the kernel is still writing (polled by
    /// its future, [`Writing`]): what writes next waits for it as for a queued send.
    writing: Cell<bool>,
    /// The failure of the last queued send, for the stream's next write, flush or shutdown.
    error: Cell<Option<io::Error>>,
    /// Whether `error` holds one.
    failed: Cell<bool>,
    /// Who waits for the send in flight (a write behind it, a flush, a shutdown).
    waiters: Cell<Vec<Waker>>,
    /// Whether `waiters` holds any.
    waited: Cell<bool>,
    /// The box of the last send, for the next ([`QueuedSend::boxed`]).
    spare: Cell<Option<Box<dyn Any>>>,
    /// The driver the send in flight went to: if it is gone while the queue still waits
    /// (its drain gave up and leaked the op), the send is given up.
    driver: RefCell<Option<WeakHandle>>,
    /// The token of the send in flight ([`Handle::cancel_detached`]).
    token: Cell<u64>,
    /// The number of the last box made ([`QueuedSend::boxed`]), and of the send in flight:
    /// a tell of any other (a box that never got to its submission) is ignored.
    seq: Cell<u64>,
    current: Cell<u64>,
    /// [`Handle::id`] of `driver`, to tell at a glance that a send goes to the same one (no
    /// other driver can have it while `driver` holds its allocation).
    driver_id: Cell<usize>,
}

impl SendQueue {
    /// Whether a queued send is in flight, or the failure of one waits to be told.
    #[inline]
    pub(crate) fn is_idle(&self) -> bool {
        !self.busy.get() && !self.writing.get() && !self.failed.get()
    }

    /// Whether a queued send is in flight.
    pub(crate) fn is_busy(&self) -> bool {
        self.busy.get() || self.writing.get()
    }

    /// Ready once no queued send is in flight: with the failure of the last one, if it
    /// failed and nobody was told yet.
    #[inline]
    pub(crate) fn poll_done(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.is_idle() {
            return Poll::Ready(Ok(()));
        }
        if self.writing.get() || (self.busy.get() && !self.driver_gone()) {
            let mut waiters = self.waiters.take();
            if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
                waiters.push(cx.waker().clone());
            }
            self.waiters.set(waiters);
            self.waited.set(true);
            return Poll::Pending;
        }
        self.failed.set(false);
        match self.error.take() {
            Some(e) => Poll::Ready(Err(e)),
            None => Poll::Ready(Ok(())),
        }
    }

    /// The send of the box numbered `seq` was left to `driver` under `token`.
    #[inline]
    pub(crate) fn started(&self, seq: u64, token: u64, driver: &Handle) {
        self.busy.set(true);
        self.current.set(seq);
        self.token.set(token);
        if self.driver_id.get() != driver.id() {
            self.set_driver(driver);
        }
    }

    /// The send in flight, if one is: its token and its driver (not kept alive by this).
    pub(crate) fn in_flight(&self) -> Option<(u64, WeakHandle)> {
        if !self.busy.get() {
            return None;
        }
        let driver = self.driver.borrow().clone()?;
        Some((self.token.get(), driver))
    }

    /// A number for the next send's box, so that only the send in flight can end it.
    fn next_seq(&self) -> u64 {
        let seq = self.seq.get().wrapping_add(1);
        self.seq.set(seq);
        seq
    }

    #[cold]
    #[inline(never)]
    fn set_driver(&self, driver: &Handle) {
        self.driver_id.set(driver.id());
        *self.driver.borrow_mut() = Some(driver.downgrade());
    }

    /// The driver of the send in flight is gone without its completion: the send is told
    /// given up.
    #[cold]
    #[inline(never)]
    fn driver_gone(&self) -> bool {
        let gone = self
            .driver
            .borrow()
            .as_ref()
            .is_some_and(|weak| weak.upgrade().is_none());
        if gone {
            self.finish(self.current.get(), Err(given_up()));
        }
        gone
    }

    /// The end of a queued write's own writes ([`Writing`]): its waiters are woken.
    fn written(&self) {
        self.writing.set(false);
        if self.waited.get() {
            self.wake_waiters();
        }
    }

    /// The send in flight ended with `res`: recorded, and its waiters woken.
    /// (A tell from a send that was never started, its box dropped by a panic before its
    /// submission, finds the queue idle and is ignored.)
    #[inline]
    fn finish(&self, seq: u64, res: io::Result<()>) {
        if !self.busy.get() || seq != self.current.get() {
            return;
        }
        self.busy.set(false);
        if let Err(e) = res {
            self.fail(e);
        }
        if self.waited.get() {
            self.wake_waiters();
        }
    }

    #[cold]
    #[inline(never)]
    fn fail(&self, e: io::Error) {
        self.error.set(Some(e));
        self.failed.set(true);
    }

    #[cold]
    #[inline(never)]
    fn wake_waiters(&self) {
        self.waited.set(false);
        self.waiters.take().into_iter().for_each(Waker::wake);
    }
}

/// A queued write that the driver could not leave to the kernel, writing on (a `write_all`
/// polled by its future): while it lives, the stream's other writes wait for it, as for a
/// queued send (its failure is its future's output, not the queue's).
pub(crate) struct Writing(Rc<SendQueue>);

impl Writing {
    pub(crate) fn new(queue: &Rc<SendQueue>) -> Writing {
        queue.writing.set(true);
        Writing(queue.clone())
    }
}

impl Drop for Writing {
    fn drop(&mut self) {
        self.0.written();
    }
}

/// A whole-buffer send ([`Send::all`]) that can be left to the kernel. Started detached,
/// it lives in a box the stream's queue keeps between sends, so that a send costs no
/// allocation.
pub(crate) struct QueuedSend<B> {
    /// `None` once released (the box kept for the next send).
    send: Option<Send<B>>,
    /// Bytes to send.
    len: usize,
    /// Set when the op is started detached: its completion is told here, and the box comes
    /// back here once the driver is done with it.
    queue: Option<Rc<SendQueue>>,
    /// How the send ended, once its completion arrived: told to `queue` when the driver
    /// releases the op, outside the driver's borrow (the tell wakes the stream's waiters).
    outcome: Option<io::Result<()>>,
    /// Whether `queue` was told.
    told: bool,
    /// Its number in `queue` ([`SendQueue::started`]).
    seq: u64,
}

impl<B: IoBuf> QueuedSend<B> {
    /// The send of `buf` on `fd`, to be started detached with its completion told to
    /// `queue`: in the box of the last one if the queue keeps it, else a new one.
    #[inline]
    pub(crate) fn boxed(fd: &SharedFd, buf: B, queue: &Rc<SendQueue>) -> Box<QueuedSend<B>> {
        let (len, seq) = (buf.bytes_init(), queue.next_seq());
        match queue.spare.take().map(|b| b.downcast::<QueuedSend<B>>()) {
            // A spare holds nothing (released: no send, no queue, no outcome), so its fields
            // are set one by one, without a drop of the whole.
            Some(Ok(mut spare)) => {
                spare.send = Some(Send::all(fd, buf));
                spare.len = len;
                spare.queue = Some(queue.clone());
                spare.outcome = None;
                spare.told = false;
                spare.seq = seq;
                spare
            }
            _ => Box::new(QueuedSend {
                len,
                send: Some(Send::all(fd, buf)),
                queue: Some(queue.clone()),
                outcome: None,
                told: false,
                seq,
            }),
        }
    }

    /// Its number in its queue, for [`SendQueue::started`].
    pub(crate) fn seq(&self) -> u64 {
        self.seq
    }

    /// It was not started after all: the buffer back (the box goes back to the queue).
    pub(crate) fn into_buf(mut self: Box<Self>) -> B {
        let buf = self.send.take().expect("not started").into_buf();
        if let Some(queue) = self.queue.take() {
            queue.spare.set(Some(self));
        }
        buf
    }

    fn send(&mut self) -> &mut Send<B> {
        self.send
            .as_mut()
            .expect("a queued send is used until released")
    }
}

impl<B> QueuedSend<B> {
    /// Tells the queue, once, how the send ended: given up, if its completion never came.
    fn tell(&mut self) {
        if let Some(queue) = &self.queue {
            if !std::mem::replace(&mut self.told, true) {
                queue.finish(
                    self.seq,
                    self.outcome.take().unwrap_or_else(|| Err(given_up())),
                );
            }
        }
    }
}

/// What the queue is told when a send left to the kernel goes without its completion (a
/// runtime dropped with it in flight, past its drain's deadline).
fn given_up() -> io::Error {
    io::Error::other("a queued write was given up before its send completed")
}

/// A box dropped rather than released (by a runtime's drain, or a panic) still tells.
impl<B> Drop for QueuedSend<B> {
    fn drop(&mut self) {
        self.tell();
    }
}

impl<B: IoBuf> OpCode for QueuedSend<B> {
    type Output = BufResult<usize, B>;
    const KIND: OpKind = OpKind::Send;

    fn complete(mut self, completion: Completion) -> BufResult<usize, B> {
        let send = self.send.take().expect("completed once");
        send.complete(completion)
    }

    /// The completion of a send left to the kernel: all of the buffer went out, or the
    /// failure is kept for the stream (told at the release, outside the driver's borrow).
    #[inline]
    fn complete_orphan(&mut self, completion: Completion) {
        self.outcome = Some(match completion.result {
            Ok(n) if n as usize >= self.len => Ok(()),
            Ok(n) => Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("a queued write's send took {n} of its {} bytes", self.len),
            )),
            Err(e) => Err(e),
        });
    }

    /// The buffer and the socket go now, then the queue is told; the box goes back to the
    /// queue for the next send.
    fn release(mut self: Box<Self>) {
        self.send = None;
        self.tell();
        if let Some(queue) = self.queue.take() {
            queue.spare.set(Some(self));
        }
    }
}

// SAFETY: the SQE is the inner send's, which points into its owned buffer and names its
// held fd (`[heap-owned]`, `[fd-outlives-op]`); both live until the op is released, after
// its completion.
unsafe impl<B: IoBuf> UringOp for QueuedSend<B> {
    const CANCEL_FINDS: bool = true;
    const WHOLE_BY_KERNEL: bool = true;

    #[inline]
    fn sqe(&mut self, ring: &Ring<'_>) -> io::Result<squeue::Entry> {
        self.send().sqe(ring)
    }

    fn fixed_fd(&self) -> Option<&SharedFd> {
        self.send.as_ref().and_then(|s| s.fixed_fd())
    }
}

impl<B: IoBuf> ReadyOp for QueuedSend<B> {
    fn mode(&self) -> Mode<'_> {
        self.send
            .as_ref()
            .expect("a queued send is used until released")
            .mode()
    }

    #[inline]
    fn syscall(&mut self) -> io::Result<u32> {
        self.send().syscall()
    }
}
