//! The io_uring backend: one ring per runtime, the in-flight table, and the loop's turn.
//!
//! SQEs are pushed into the shared-memory submission queue without a syscall; a full queue
//! is handed to the kernel and pushing continues. One `io_uring_enter` per turn submits
//! everything queued and, when the runtime has nothing to run, waits for a completion, a
//! cross-thread wake-up (a read on the runtime's eventfd, always armed) or the next timer
//! deadline (`EXT_ARG` timeout). Completions are reaped from shared memory.

use std::any::Any;
use std::io;
use std::mem::ManuallyDrop;
use std::os::fd::{AsRawFd, OwnedFd};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use io_uring::{opcode, squeue, types, IoUring};

use super::inflight::{Completion, InFlight, Outcome, RESERVED};
use super::{FastPaths, OpCode, OpState, Park};
use crate::runtime::Stats;
use crate::sys;

/// `user_data` of the async-cancel requests the driver submits for dropped ops.
const CANCEL: u64 = RESERVED | 1;
/// `user_data` of the always-armed read on the runtime's eventfd.
const WAKE: u64 = RESERVED | 2;

/// How long dropping a runtime waits for cancelled operations before giving up and leaking
/// the ring (leaking is safe; unmapping under the kernel's feet is not).
const DRAIN_LIMIT: Duration = Duration::from_secs(30);

/// The opcodes every runtime on this backend uses; a kernel lacking one is not used (the
/// runtime then falls back to epoll under `Driver::Auto`). `FTRUNCATE` is the newest
/// (Linux 6.9); the others are in 5.15.
const REQUIRED_OPCODES: &[(u8, &str)] = &[
    (opcode::Nop::CODE, "NOP"),
    (opcode::Read::CODE, "READ"),
    (opcode::Write::CODE, "WRITE"),
    (opcode::AsyncCancel::CODE, "ASYNC_CANCEL"),
    (opcode::Accept::CODE, "ACCEPT"),
    (opcode::Connect::CODE, "CONNECT"),
    (opcode::Recv::CODE, "RECV"),
    (opcode::Send::CODE, "SEND"),
    (opcode::SendMsg::CODE, "SENDMSG"),
    (opcode::RecvMsg::CODE, "RECVMSG"),
    (opcode::Shutdown::CODE, "SHUTDOWN"),
    (opcode::Close::CODE, "CLOSE"),
    (opcode::OpenAt::CODE, "OPENAT"),
    (opcode::Fsync::CODE, "FSYNC"),
    (opcode::Statx::CODE, "STATX"),
    (opcode::UnlinkAt::CODE, "UNLINKAT"),
    (opcode::RenameAt::CODE, "RENAMEAT"),
    (opcode::MkDirAt::CODE, "MKDIRAT"),
    // Not FTRUNCATE (Linux 6.9): `set_len` falls back to ftruncate(2) where it is missing,
    // so older kernels keep io_uring for everything else.
];

pub(crate) struct Uring {
    ring: ManuallyDrop<IoUring>,
    inflight: ManuallyDrop<InFlight>,
    /// Resources of dropped ops whose completion arrived: dropped by the runtime after the
    /// turn, outside its borrow of the driver.
    released: Vec<Box<dyn Any>>,
    /// The runtime's eventfd (a dup, so the driver keeps it open while its read is in flight).
    wake_fd: OwnedFd,
    /// The 8 bytes the eventfd read writes into; heap memory owned by the driver and freed only
    /// after the read's completion (invariants 1 and 5).
    wake_buf: ManuallyDrop<Box<u64>>,
    wake_armed: bool,
    /// Set when the drain at shutdown gave up: the ring and what the kernel may still touch
    /// are leaked rather than freed.
    leak: bool,
    shut_down: bool,
    /// The fast paths this kernel supports and the runtime allows.
    fast: FastPaths,
    /// Buffer group ids handed out for provided-buffer rings, and those given back.
    next_bgid: u16,
    free_bgids: Vec<u16>,
    submissions: u64,
    enters: u64,
    completions: u64,
}

impl Uring {
    /// Sets up a ring with `entries` submission slots; `wake_fd` is the runtime's eventfd.
    /// Errors name the step that failed (e.g. `io_uring_setup: Operation not permitted`).
    pub(crate) fn new(entries: u32, wake_fd: OwnedFd) -> io::Result<Uring> {
        let ring = build_ring(entries)
            .map_err(|e| io::Error::new(e.kind(), format!("io_uring_setup: {}", os_msg(&e))))?;
        check_support(&ring)?;
        let fast = probe_fast_paths(&ring);
        Ok(Uring {
            ring: ManuallyDrop::new(ring),
            inflight: ManuallyDrop::new(InFlight::default()),
            released: Vec::new(),
            wake_fd,
            wake_buf: ManuallyDrop::new(Box::new(0)),
            wake_armed: false,
            leak: false,
            shut_down: false,
            fast,
            next_bgid: 0,
            free_bgids: Vec::new(),
            submissions: 0,
            enters: 0,
            completions: 0,
        })
    }

    pub(crate) fn poll_op<T: OpCode>(
        &mut self,
        state: &mut OpState,
        op: &mut T,
        cx: &mut Context<'_>,
    ) -> Poll<Completion> {
        match *state {
            OpState::Idle => {
                // The SQE first: `sqe()` may run user code (an `IoBuf`'s methods) that panics,
                // and a slot inserted before it would wait forever for a completion.
                let sqe = op.sqe();
                let user_data = self.inflight.insert(cx.waker());
                let sqe = sqe.user_data(user_data);
                // SAFETY: `T: OpCode` promises every pointer in the SQE refers to heap memory
                // owned by `op`; the `Op` future keeps `op` alive until the completion is
                // collected, or parks it in the in-flight slot if dropped (invariants 1, 2).
                unsafe { self.push(&sqe) };
                *state = OpState::Submitted(user_data);
                Poll::Pending
            }
            OpState::Submitted(user_data) => self.inflight.poll(user_data, cx),
            OpState::Waiting(_) => unreachable!("the io_uring driver never waits on readiness"),
        }
    }

    /// Turns the fast paths off (`false`), e.g. to test the fallbacks.
    pub(crate) fn with_fast_paths(mut self, on: bool) -> Uring {
        if !on {
            self.fast = FastPaths::default();
        }
        self
    }

    pub(crate) fn fast_paths(&self) -> FastPaths {
        self.fast
    }

    /// Like [`poll_op`](Uring::poll_op), for an op that may complete many times: its slot
    /// queues completions until the one without `IORING_CQE_F_MORE` is taken.
    pub(crate) fn poll_multi<T: OpCode>(
        &mut self,
        state: &mut OpState,
        op: &mut T,
        cx: &mut Context<'_>,
    ) -> Poll<Completion> {
        match *state {
            OpState::Idle => {
                let user_data = self.inflight.insert_multi(cx.waker());
                let sqe = op.sqe().user_data(user_data);
                // SAFETY: as in `poll_op`: the op owns what the SQE points to and the
                // `MultiOp` keeps it alive or parks it until its last completion (invariants
                // 1, 2 and 5).
                unsafe { self.push(&sqe) };
                *state = OpState::Submitted(user_data);
                Poll::Pending
            }
            OpState::Submitted(user_data) => self.inflight.poll(user_data, cx),
            OpState::Waiting(_) => unreachable!("the io_uring driver never waits on readiness"),
        }
    }

    /// Registers a provided-buffer ring; `None` when buffer rings are off or unsupported.
    ///
    /// # Safety
    /// See [`Backend::register_buf_ring`](super::Backend::register_buf_ring).
    pub(crate) unsafe fn register_buf_ring(&mut self, ring_addr: u64, entries: u16) -> Option<u16> {
        if !self.fast.recv_multi {
            return None;
        }
        let bgid = match self.free_bgids.pop() {
            Some(bgid) => bgid,
            None if self.next_bgid < u16::MAX => {
                self.next_bgid += 1;
                self.next_bgid - 1
            }
            None => return None,
        };
        let submitter = self.ring.submitter();
        // SAFETY: the caller keeps the ring memory allocated until it is unregistered or the
        // ring is dropped (invariant 5).
        match unsafe { submitter.register_buf_ring_with_flags(ring_addr, entries, bgid, 0) } {
            Ok(()) => Some(bgid),
            Err(e) => {
                self.free_bgids.push(bgid);
                if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::EOPNOTSUPP)) {
                    self.fast.recv_multi = false; // the kernel lacks PBUF_RING: stop trying
                }
                None
            }
        }
    }

    pub(crate) fn unregister_buf_ring(&mut self, bgid: u16) -> io::Result<()> {
        self.ring.submitter().unregister_buf_ring(bgid)?;
        self.free_bgids.push(bgid);
        Ok(())
    }

    pub(crate) fn drop_op(&mut self, state: OpState, op: Box<dyn Any>) -> Option<Box<dyn Any>> {
        let OpState::Submitted(user_data) = state else {
            return Some(op);
        };
        let release = self.inflight.ignore(user_data, op);
        if release.is_none() {
            self.cancel(user_data);
        }
        release
    }

    fn cancel(&mut self, user_data: u64) {
        let sqe = opcode::AsyncCancel::new(user_data)
            .build()
            .user_data(CANCEL);
        // SAFETY: an async-cancel SQE carries no pointers, only the target's user_data.
        unsafe { self.push(&sqe) };
    }

    /// Queues `sqe`; when the submission queue is full, submits it first.
    ///
    /// # Safety
    /// Every pointer in `sqe` must stay valid until its completion is reaped.
    unsafe fn push(&mut self, sqe: &squeue::Entry) {
        loop {
            // SAFETY: the caller guarantees the SQE's pointers outlive its completion.
            if unsafe { self.ring.submission().push(sqe) }.is_ok() {
                self.submissions += 1;
                return;
            }
            self.enter(None);
        }
    }

    fn arm_wake(&mut self) {
        let buf: *mut u64 = &mut **self.wake_buf;
        let sqe = opcode::Read::new(types::Fd(self.wake_fd.as_raw_fd()), buf.cast(), 8)
            .build()
            .user_data(WAKE);
        // SAFETY: `wake_buf` is a heap allocation and `wake_fd` an fd, both owned by the
        // driver and released only after shutdown has reaped this read's completion.
        unsafe { self.push(&sqe) };
        self.wake_armed = true;
    }

    /// One `io_uring_enter`: submits everything queued and, with `wait`, blocks until a
    /// completion or the timeout (`Some(None)`: no timeout). Retries EINTR; on EBUSY/EAGAIN
    /// (completions must be collected first) reaps and tries again.
    fn enter(&mut self, wait: Option<Option<Duration>>) {
        loop {
            self.enters += 1;
            let res = match wait {
                None => self.ring.submit(),
                Some(None) => self.ring.submit_and_wait(1),
                Some(Some(timeout)) => {
                    let ts = types::Timespec::from(timeout);
                    let args = types::SubmitArgs::new().timespec(&ts);
                    self.ring.submitter().submit_with_args(1, &args)
                }
            };
            let Err(err) = res else { return };
            match err.raw_os_error() {
                Some(libc::ETIME) => return,
                Some(libc::EINTR) if wait.is_some() => return,
                Some(libc::EINTR) => continue,
                Some(libc::EBUSY | libc::EAGAIN) => {
                    if self.reap() == 0 {
                        std::thread::yield_now();
                    }
                    if wait.is_some() {
                        return;
                    }
                }
                _ => panic!("io_uring_enter failed: {err}"),
            }
        }
    }

    /// Dispatches every completion in the completion queue; returns how many.
    fn reap(&mut self) -> usize {
        let mut n = 0;
        for cqe in self.ring.completion() {
            n += 1;
            match cqe.user_data() {
                WAKE => self.wake_armed = false,
                CANCEL => {}
                user_data => {
                    let completion = || Completion {
                        result: sys::cqe_result(cqe.result()),
                        flags: cqe.flags(),
                    };
                    if let Outcome::Released(mut res) =
                        self.inflight.complete(user_data, completion())
                    {
                        super::orphan_completed(&mut res, completion());
                        self.released.push(res);
                    }
                }
            }
        }
        self.completions += n as u64;
        n
    }

    pub(crate) fn turn(&mut self, park: Park, garbage: &mut Vec<Box<dyn Any>>) -> io::Result<()> {
        if !self.wake_armed {
            self.arm_wake();
        }
        match park {
            Park::Until(timeout) if self.ring.completion().is_empty() => self.enter(Some(timeout)),
            _ => {
                let sq = self.ring.submission();
                if !sq.is_empty() || sq.taskrun() || sq.cq_overflow() {
                    drop(sq);
                    self.enter(None);
                }
            }
        }
        // Completions held back by a full CQ (IORING_FEAT_NODROP) are flushed by an enter.
        while self.reap() > 0 && self.ring.submission().cq_overflow() {
            self.enter(None);
        }
        garbage.append(&mut self.released);
        Ok(())
    }

    pub(crate) fn shutdown(&mut self, garbage: &mut Vec<Box<dyn Any>>) {
        if self.shut_down {
            return;
        }
        self.shut_down = true;
        let deadline = Instant::now() + DRAIN_LIMIT;
        loop {
            let pending: Vec<u64> = self.inflight.pending().collect();
            if pending.is_empty() && !self.wake_armed {
                break;
            }
            if Instant::now() >= deadline {
                eprintln!(
                    "proactor: {} io_uring operations did not complete within {DRAIN_LIMIT:?} \
                     of shutdown; leaking the ring instead of freeing memory the kernel may use",
                    pending.len()
                );
                self.leak = true;
                break;
            }
            for user_data in pending {
                self.cancel(user_data);
            }
            if self.wake_armed {
                self.cancel(WAKE);
            }
            self.enter(Some(Some(Duration::from_millis(100))));
            self.reap();
            garbage.append(&mut self.released);
        }
        garbage.append(&mut self.released);
    }

    pub(crate) fn fill_stats(&self, stats: &mut Stats) {
        stats.ops_in_flight = self.inflight.len();
        stats.submissions = self.submissions;
        stats.enters = self.enters;
        stats.completions = self.completions;
    }
}

impl Drop for Uring {
    fn drop(&mut self) {
        let mut garbage = Vec::new();
        self.shutdown(&mut garbage);
        drop(garbage);
        if self.leak {
            return; // ring, in-flight resources and the wake buffer stay allocated forever
        }
        // SAFETY: shutdown drained every operation (no completion is outstanding), so the
        // kernel no longer touches the in-flight resources, the wake buffer or the ring;
        // each ManuallyDrop is dropped exactly once, here.
        unsafe {
            ManuallyDrop::drop(&mut self.inflight);
            ManuallyDrop::drop(&mut self.wake_buf);
            ManuallyDrop::drop(&mut self.ring);
        }
    }
}

/// Builds the ring, asking for the cheapest completion mode the kernel supports.
fn build_ring(entries: u32) -> io::Result<IoUring> {
    let entries = entries.clamp(2, 32768);
    let tuned = IoUring::builder()
        .setup_clamp()
        .setup_cqsize(entries * 4)
        .setup_submit_all()
        .setup_coop_taskrun()
        .setup_taskrun_flag()
        .build(entries);
    let ring = match tuned {
        Ok(ring) => ring,
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => IoUring::builder()
            .setup_clamp()
            .setup_cqsize(entries * 4)
            .build(entries)?,
        Err(e) => return Err(e),
    };
    if !ring.params().is_feature_ext_arg() {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "io_uring lacks IORING_FEAT_EXT_ARG (Linux 5.11+)",
        ));
    }
    Ok(ring)
}

/// An error's message without the "(os error N)" suffix, for a readable reason line.
fn os_msg(e: &io::Error) -> String {
    let msg = e.to_string();
    match msg.find(" (os error") {
        Some(end) => msg[..end].to_string(),
        None => msg,
    }
}

/// Which fast paths the kernel has. Multishot accept came with Linux 5.19, multishot recv
/// with 6.0; the probe lists opcodes, not flags, so opcodes of the same releases stand in:
/// `SOCKET` (5.19) and `SEND_ZC` (6.0). A failing buffer-ring registration turns recv
/// multishot off as well.
fn probe_fast_paths(ring: &IoUring) -> FastPaths {
    let mut probe = io_uring::Probe::new();
    if ring.submitter().register_probe(&mut probe).is_err() {
        return FastPaths::default();
    }
    FastPaths {
        accept_multi: probe.is_supported(opcode::Socket::CODE),
        recv_multi: probe.is_supported(opcode::SendZc::CODE),
    }
}

fn check_support(ring: &IoUring) -> io::Result<()> {
    let mut probe = io_uring::Probe::new();
    ring.submitter()
        .register_probe(&mut probe)
        .map_err(|e| io::Error::new(e.kind(), format!("io_uring probe: {}", os_msg(&e))))?;
    for &(code, name) in REQUIRED_OPCODES {
        if !probe.is_supported(code) {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("io_uring does not support IORING_OP_{name}"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! Driver tests with an op whose buffer the kernel writes after its future is dropped.

    use std::future::{poll_fn, Future};
    use std::os::fd::{FromRawFd, OwnedFd};
    use std::sync::Arc;
    use std::task::Poll;

    use super::*;
    use crate::driver::{Mode, Op};
    use crate::fd::SharedFd;
    use crate::{Driver, Runtime};

    /// A read into a heap buffer that also holds an `Arc`, to count who keeps it alive.
    struct ReadInto {
        fd: SharedFd,
        buf: Box<[u8; 8]>,
        _witness: Arc<()>,
    }

    // SAFETY: the SQE points into `buf`, a heap allocation owned by the op, and uses `fd`,
    // held open by the op's `SharedFd`.
    unsafe impl OpCode for ReadInto {
        type Output = io::Result<u32>;
        fn sqe(&mut self) -> squeue::Entry {
            opcode::Read::new(types::Fd(self.fd.raw()), self.buf.as_mut_ptr(), 8).build()
        }
        fn mode(&self) -> Mode<'_> {
            Mode::Immediate
        }
        fn syscall(&mut self) -> io::Result<u32> {
            unreachable!("io_uring only")
        }
        fn complete(self, completion: Completion) -> io::Result<u32> {
            completion.result
        }
    }

    fn pipe() -> (SharedFd, OwnedFd) {
        let mut fds = [0; 2];
        // SAFETY: `fds` is a live array of two ints for pipe2 to fill.
        crate::sys::syscall!(pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC)).unwrap();
        // SAFETY: pipe2 just created both fds; each is owned once.
        let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        (SharedFd::new(r), w)
    }

    fn poll_once<F: Future + Unpin>(fut: &mut F) -> impl Future<Output = ()> + '_ {
        poll_fn(move |cx| {
            assert!(Pin::new(&mut *fut).poll(cx).is_pending());
            Poll::Ready(())
        })
    }

    use std::pin::Pin;

    #[test]
    fn dropped_read_keeps_its_buffer_until_completion() {
        let rt = Runtime::builder().driver(Driver::Uring).build().unwrap();
        let witness = Arc::new(());
        let (reader, writer) = pipe();
        rt.block_on(async {
            let mut op = Op::new(ReadInto {
                fd: reader.clone(),
                buf: Box::new([0; 8]),
                _witness: witness.clone(),
            });
            poll_once(&mut op).await;
            drop(op);
            // The cancel races the read; either way the buffer is held until a completion.
            assert_eq!(
                Arc::strong_count(&witness),
                2,
                "kernel-owned buffer was freed"
            );
            crate::sys::eventfd_signal(std::os::fd::AsRawFd::as_raw_fd(&writer));
            let mut turns = 0;
            while Arc::strong_count(&witness) > 1 && turns < 1000 {
                crate::task::yield_now().await;
                turns += 1;
            }
            assert_eq!(Arc::strong_count(&witness), 1, "completion did not release");
            assert_eq!(crate::runtime::stats().ops_in_flight, 0);
        });
    }

    #[test]
    fn runtime_drop_drains_a_read_that_never_completes() {
        let rt = Runtime::builder().driver(Driver::Uring).build().unwrap();
        let witness = Arc::new(());
        let (reader, _writer) = pipe();
        let w = witness.clone();
        rt.spawn(async move {
            let op = Op::new(ReadInto {
                fd: reader,
                buf: Box::new([0; 8]),
                _witness: w,
            });
            let _ = op.await;
        });
        rt.block_on(crate::task::yield_now());
        assert_eq!(rt.stats().ops_in_flight, 1);
        assert_eq!(Arc::strong_count(&witness), 2);
        drop(rt);
        assert_eq!(
            Arc::strong_count(&witness),
            1,
            "shutdown must cancel and free"
        );
    }

    #[test]
    fn full_submission_queue_is_flushed_not_fatal() {
        let rt = Runtime::builder()
            .driver(Driver::Uring)
            .entries(4)
            .build()
            .unwrap();
        rt.block_on(async {
            let mut set = crate::JoinSet::new();
            for _ in 0..100 {
                set.spawn(crate::nop());
            }
            while let Some(r) = set.join_next().await {
                r.unwrap().unwrap();
            }
        });
        assert!(rt.stats().submissions >= 100);
    }
}
