//! A driver on its own, for the driver's unit tests: a [`Rig`] builds a backend and turns
//! it, and a [`Started`] op is polled by hand, with no runtime, executor or timer.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use super::{build, Config, Driver, Engine, Handle, OpState, Operation, Park, SharedFd, Stats};
use crate::sys::{self, syscall};

/// A waker that counts its wakes.
pub(crate) struct Count(pub(crate) AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A counting waker and its count.
pub(crate) fn counter() -> (Arc<Count>, Waker) {
    let c = Arc::new(Count(AtomicUsize::new(0)));
    (c.clone(), Waker::from(c))
}

/// A backend built from a [`Config`], turned by hand.
pub(crate) struct Rig {
    pub(crate) handle: Handle,
    /// The eventfd the backend watches for cross-thread wake-ups.
    pub(crate) wake: OwnedFd,
}

impl Rig {
    /// A backend of `driver`, with the fast paths as the environment says.
    pub(crate) fn new(driver: Driver) -> Rig {
        Rig::with(Config {
            driver,
            ..Config::default()
        })
    }

    pub(crate) fn with(config: Config) -> Rig {
        let wake = sys::eventfd().unwrap();
        let (handle, _) = build(&config, &wake).unwrap();
        Rig { handle, wake }
    }

    /// Runs `f` on the backend's engine.
    pub(crate) fn engine<R>(&self, f: impl FnOnce(&mut Engine) -> R) -> R {
        f(&mut self.handle.inner.engine.borrow_mut())
    }

    /// One turn that does not block.
    pub(crate) fn turn(&self) {
        self.handle.turn(Park::No).unwrap();
    }

    /// One turn that blocks for at most `ms` milliseconds.
    pub(crate) fn park(&self, ms: u64) {
        let timeout = Some(Duration::from_millis(ms));
        self.handle.turn(Park::Until(timeout)).unwrap();
    }

    pub(crate) fn stats(&self) -> Stats {
        let mut stats = Stats {
            driver: self.handle.kind(),
            ops_in_flight: 0,
            submissions: 0,
            enters: 0,
            completions: 0,
            tasks_spawned: 0,
            tasks_alive: 0,
            polls: 0,
            parks: 0,
            remote_wakeups: 0,
            timers: 0,
            lost_completions: 0,
            fixed_files: 0,
            ops: Default::default(),
            completions_per_enter: [0; 7],
        };
        self.handle.fill_stats(&mut stats);
        stats
    }

    /// Starts `op` (its first poll).
    pub(crate) fn start<T: Operation>(&self, op: T) -> Started<T> {
        let mut started = Started {
            op: Some(op),
            state: OpState::Idle,
            out: None,
            waker: counter(),
            deadline: None,
        };
        started.out = started.poll(self);
        started
    }

    /// Starts `op` (its first poll) under a deadline `after`
    /// ([`Backend::poll_op_timed`](super::Backend::poll_op_timed)), its userspace timer a
    /// clock check at each poll.
    pub(crate) fn start_timed<T: Operation>(&self, op: T, after: Duration) -> Started<T> {
        let mut started = Started {
            op: Some(op),
            state: OpState::Idle,
            out: None,
            waker: counter(),
            deadline: Some((after, Instant::now() + after)),
        };
        started.out = started.poll(self);
        started
    }

    /// Runs `op` to its completion, turning the backend (within 10 s).
    pub(crate) fn run<T: Operation>(&self, op: T) -> T::Output {
        let mut started = self.start(op);
        self.finish(&mut started)
    }

    /// Turns the backend until `started` completes (within 10 s).
    pub(crate) fn finish<T: Operation>(&self, started: &mut Started<T>) -> T::Output {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(out) = started.poll(self) {
                return out;
            }
            assert!(Instant::now() < deadline, "the op did not complete in 10 s");
            self.park(10);
        }
    }

    /// Turns until `cond` holds (within 10 s).
    pub(crate) fn until(&self, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !cond() {
            assert!(Instant::now() < deadline, "not within 10 s");
            self.park(10);
        }
    }
}

/// An op started on a [`Rig`], polled by hand.
pub(crate) struct Started<T: Operation> {
    op: Option<T>,
    pub(crate) state: OpState,
    out: Option<T::Output>,
    /// Counts the wakes of this op's waker.
    pub(crate) waker: (Arc<Count>, Waker),
    /// A deadline, and the instant it passes.
    deadline: Option<(Duration, Instant)>,
}

impl<T: Operation> Started<T> {
    /// One poll: the output once complete.
    pub(crate) fn poll(&mut self, rig: &Rig) -> Option<T::Output> {
        if let Some(out) = self.out.take() {
            return Some(out);
        }
        let op = self.op.as_mut()?;
        let mut cx = Context::from_waker(&self.waker.1);
        let polled = match self.deadline {
            None => rig.handle.poll_op(&mut self.state, op, &mut cx),
            Some((after, at)) => {
                let mut expired = |_: &mut Context<'_>| Instant::now() >= at;
                let handle = &rig.handle;
                handle.poll_op_timed(&mut self.state, op, after, &mut expired, &mut cx)
            }
        };
        match polled {
            Poll::Ready(c) => Some(self.op.take().expect("polled above").complete(c)),
            Poll::Pending => None,
        }
    }

    /// Drops the op's future: the backend parks what the kernel may still touch.
    pub(crate) fn drop_in(mut self, rig: &Rig) {
        if let Some(op) = self.op.take() {
            rig.handle.drop_op(self.state, op);
        }
    }

    /// How many times its waker was woken.
    pub(crate) fn wakes(&self) -> usize {
        self.waker.0 .0.load(Ordering::SeqCst)
    }
}

/// A connected pair of non-blocking Unix stream sockets.
pub(crate) fn socketpair() -> (SharedFd, SharedFd) {
    let mut fds = [0; 2];
    let flags = libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    // SAFETY: `fds` is a live array of two ints for the call to fill.
    syscall!(socketpair(libc::AF_UNIX, flags, 0, fds.as_mut_ptr())).unwrap();
    // SAFETY: socketpair just returned these two fds, owned by nothing else.
    let own = |fd| SharedFd::new(unsafe { OwnedFd::from_raw_fd(fd) });
    (own(fds[0]), own(fds[1]))
}

/// A pipe: its read end as a [`SharedFd`], its write end.
pub(crate) fn pipe() -> (SharedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a live array of two ints for pipe2 to fill.
    syscall!(pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK)).unwrap();
    // SAFETY: pipe2 just created both fds; each is owned once.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    (SharedFd::new(r), w)
}

/// Writes `data` to `fd` (blocking is fine: test pipes and socket pairs have room).
pub(crate) fn write_to(fd: &impl std::os::fd::AsRawFd, data: &[u8]) -> io::Result<usize> {
    // SAFETY: `data` is live for the call.
    syscall!(write(fd.as_raw_fd(), data.as_ptr().cast(), data.len())).map(|n| n as usize)
}

/// A read into a heap buffer that also holds an `Arc`, to count who keeps it alive: on
/// io_uring `IORING_OP_READ`, on epoll `read(2)` on readiness.
pub(crate) struct Read {
    pub(crate) fd: SharedFd,
    pub(crate) buf: Vec<u8>,
    pub(crate) witness: Arc<()>,
}

impl Read {
    pub(crate) fn new(fd: &SharedFd, len: usize) -> Read {
        Read {
            fd: fd.clone(),
            buf: Vec::with_capacity(len),
            witness: Arc::new(()),
        }
    }
}

impl super::OpCode for Read {
    type Output = io::Result<Vec<u8>>;
    const KIND: super::OpKind = super::OpKind::Other;

    fn complete(mut self, completion: super::Completion) -> io::Result<Vec<u8>> {
        let n = completion.result? as usize;
        // SAFETY: the kernel initialised the first `n` bytes of the buffer.
        unsafe { self.buf.set_len(n) };
        Ok(self.buf)
    }
}

// SAFETY: the SQE points into `buf`, a heap allocation owned by the op (`[heap-owned]`),
// and names `fd`, held open by the op's `SharedFd` (`[fd-outlives-op]`).
unsafe impl super::UringOp for Read {
    const CANCEL_FINDS: bool = true; // a pipe: a pollable read

    fn sqe(&mut self, _ring: &super::Ring<'_>) -> io::Result<io_uring::squeue::Entry> {
        let (ptr, len) = (self.buf.as_mut_ptr(), self.buf.capacity() as u32);
        Ok(io_uring::opcode::Read::new(io_uring::types::Fd(self.fd.raw()), ptr, len).build())
    }
}

impl super::ReadyOp for Read {
    fn mode(&self) -> super::Mode<'_> {
        super::Mode::Readiness(&self.fd, super::Interest::Read)
    }

    fn syscall(&mut self) -> io::Result<u32> {
        let (ptr, len) = (self.buf.as_mut_ptr().cast(), self.buf.capacity());
        // SAFETY: `ptr` points to `len` writable bytes owned by `buf`.
        syscall!(read(self.fd.raw(), ptr, len)).map(|n| n as u32)
    }
}

/// A [`Read`] as file I/O is to a cancel: one the kernel may hold where an async cancel
/// does not look (`UringOp::CANCEL_FINDS` false).
pub(crate) struct FileLikeRead(pub(crate) Read);

impl super::OpCode for FileLikeRead {
    type Output = io::Result<Vec<u8>>;
    const KIND: super::OpKind = super::OpKind::Other;

    fn complete(self, completion: super::Completion) -> io::Result<Vec<u8>> {
        self.0.complete(completion)
    }
}

// SAFETY: as `Read`'s: the SQE is the inner read's.
unsafe impl super::UringOp for FileLikeRead {
    fn sqe(&mut self, ring: &super::Ring<'_>) -> io::Result<io_uring::squeue::Entry> {
        self.0.sqe(ring)
    }
}

impl super::ReadyOp for FileLikeRead {
    fn mode(&self) -> super::Mode<'_> {
        self.0.mode()
    }

    fn syscall(&mut self) -> io::Result<u32> {
        self.0.syscall()
    }
}

/// A write of an owned buffer: on io_uring `IORING_OP_WRITE`, on epoll `write(2)` on
/// readiness.
pub(crate) struct Write {
    pub(crate) fd: SharedFd,
    pub(crate) buf: Vec<u8>,
}

impl super::OpCode for Write {
    type Output = io::Result<usize>;
    const KIND: super::OpKind = super::OpKind::Other;

    fn complete(self, completion: super::Completion) -> io::Result<usize> {
        completion.result.map(|n| n as usize)
    }
}

// SAFETY: the SQE points into `buf`, a heap allocation owned by the op (`[heap-owned]`),
// and names `fd`, held open by the op's `SharedFd` (`[fd-outlives-op]`).
unsafe impl super::UringOp for Write {
    fn sqe(&mut self, _ring: &super::Ring<'_>) -> io::Result<io_uring::squeue::Entry> {
        let (ptr, len) = (self.buf.as_ptr(), self.buf.len() as u32);
        Ok(io_uring::opcode::Write::new(io_uring::types::Fd(self.fd.raw()), ptr, len).build())
    }
}

impl super::ReadyOp for Write {
    fn mode(&self) -> super::Mode<'_> {
        super::Mode::Readiness(&self.fd, super::Interest::Write)
    }

    fn syscall(&mut self) -> io::Result<u32> {
        let (ptr, len) = (self.buf.as_ptr().cast(), self.buf.len());
        // SAFETY: `ptr` points to `len` initialised bytes owned by `buf`.
        syscall!(write(self.fd.raw(), ptr, len)).map(|n| n as u32)
    }
}

/// `IORING_OP_NOP`, or nothing on epoll.
pub(crate) struct Nop;

impl super::OpCode for Nop {
    type Output = io::Result<()>;
    const KIND: super::OpKind = super::OpKind::Other;

    fn complete(self, completion: super::Completion) -> io::Result<()> {
        completion.result.map(drop)
    }
}

// SAFETY: a NOP SQE carries no pointers and no fd.
unsafe impl super::UringOp for Nop {
    fn sqe(&mut self, _ring: &super::Ring<'_>) -> io::Result<io_uring::squeue::Entry> {
        Ok(io_uring::opcode::Nop::new().build())
    }
}

impl super::ReadyOp for Nop {
    fn mode(&self) -> super::Mode<'_> {
        super::Mode::Immediate
    }

    fn syscall(&mut self) -> io::Result<u32> {
        Ok(0)
    }
}
