//! The io_uring backend: one ring per runtime, the in-flight table, and the loop's turn.
//!
//! SQEs are pushed into the shared-memory submission queue without a syscall; a full queue
//! is handed to the kernel and pushing continues. One `io_uring_enter` per turn submits
//! everything queued and, when the runtime has nothing to run, waits for a completion, a
//! cross-thread wake-up (a read on the runtime's eventfd, always armed) or the next timer
//! deadline (`EXT_ARG` timeout). Completions are reaped from shared memory.
//!
//! Fast paths, each probed and dropped where the kernel refuses it (and all off with
//! [`Builder::fast_paths(false)`](crate::Builder::fast_paths)): `SINGLE_ISSUER` +
//! `DEFER_TASKRUN` (completions are posted only when this thread enters with `GETEVENTS`,
//! which every enter here carries; `IORING_SQ_TASKRUN` tells a non-parking turn that there
//! is deferred work to collect), and a registered ring fd (`io_uring_enter` on an index
//! instead of a file lookup). What was enabled is reported by
//! [`Runtime::ring_features`](crate::Runtime::ring_features).

use std::any::Any;
use std::collections::HashMap;
use std::io;
use std::mem::ManuallyDrop;
use std::os::fd::{AsRawFd, OwnedFd};
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use io_uring::{cqueue, opcode, squeue, types, IoUring};

use super::fixed::{FixedFiles, FixedRef};
use super::inflight::{Completion, InFlight, MultiPolicy, Outcome, RESERVED};
use super::ring_setup::{
    build_ring, check_support, os_msg, register_ring_fd, unregister_ring_fd, GeteventsArg,
    KernelTimespec, ENTER_EXT_ARG, ENTER_GETEVENTS, ENTER_REGISTERED_RING,
};
use super::{FastPaths, OpCode, OpState, Park};
use crate::fd::SharedFd;
use crate::runtime::{RingFeatures, Stats};
use crate::sys;
use crate::sys::syscall;

/// `user_data` of the async-cancel requests the driver submits for dropped ops.
const CANCEL: u64 = RESERVED | 1;
/// `user_data` of the always-armed read on the runtime's eventfd.
const WAKE: u64 = RESERVED | 2;
/// `user_data` of the update filling a registered file slot (the slot in the low 32 bits).
const FIXED_INSTALL: u64 = RESERVED | 1 << 32;
/// `user_data` of the close emptying a registered file slot (the slot in the low 32 bits).
const FIXED_CLEAR: u64 = RESERVED | 2 << 32;
/// The bits of `user_data` that tell a registered-slot request apart.
const FIXED_KIND: u64 = RESERVED | 3 << 32;

/// How many ops may finish inline ([`OpCode::try_inline`]) per loop turn: past it they go
/// through the ring, whose completion comes a turn later, so a task looping on cached reads
/// still lets the others run.
const INLINE_PER_TURN: u32 = 64;

/// How long dropping a runtime waits for cancelled operations before giving up and leaking
/// the ring (leaking is safe; unmapping under the kernel's feet is not).
const DRAIN_LIMIT: Duration = Duration::from_secs(30);

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
    /// The fast paths this kernel supports and the runtime allows.
    fast: FastPaths,
    /// Buffer group ids handed out for provided-buffer rings, and those given back.
    next_bgid: u16,
    free_bgids: Vec<u16>,
    submissions: u64,
    enters: u64,
    completions: u64,
    features: RingFeatures,
    /// Ops in flight that end with a notification ([`OpCode::NOTIFIES`]), with their result
    /// (`res`, `flags`) once it arrived: their slot is completed only by the notification.
    notifying: HashMap<u64, Option<(i32, u32)>>,
    /// Multishot ops whose queue reached its cap in a reap: cancelled at the next turn if
    /// their owner has not taken the queue below the cap meanwhile.
    over_cap: Vec<u64>,
    /// The memory of the registered fixed buffers, freed only after the ring (invariant 5).
    fixed_buffers: Vec<Box<dyn Any>>,
    /// The fd `io_uring_enter` is called on: the registered index when `registered_ring_fd`
    /// is on, else the ring's own fd.
    enter_fd: i32,
    /// Inline completions left this turn (0 when inline ops are off).
    inline_budget: u32,
    /// The registered file table for sockets, when on; closed before the ring is dropped.
    fixed_files: Option<Rc<FixedFiles>>,
}

impl Uring {
    /// Sets up a ring with `entries` submission slots; `wake_fd` is the runtime's eventfd.
    /// Errors name the step that failed (e.g. `io_uring_setup: Operation not permitted`).
    /// With `fast`, asks for the fast paths (see the module docs).
    /// `fixed_files` slots of registered files are set up for sockets (fast paths only;
    /// capped at `RLIMIT_NOFILE`, which the kernel also applies; 0 for none).
    pub(crate) fn new(
        entries: u32,
        wake_fd: OwnedFd,
        fast: bool,
        fixed_files: u32,
    ) -> io::Result<Uring> {
        let (ring, mut features) = build_ring(entries, fast)
            .map_err(|e| io::Error::new(e.kind(), format!("io_uring_setup: {}", os_msg(&e))))?;
        let probe = check_support(&ring)?;
        let multishot = if fast {
            probe_fast_paths(&probe)
        } else {
            FastPaths::default()
        };
        features.send_zc = fast && probe.is_supported(opcode::SendZc::CODE);
        features.fixed_buffers = fast;
        features.inline_file_io = fast;
        let mut enter_fd = ring.as_raw_fd();
        if fast {
            if let Some(index) = register_ring_fd(enter_fd) {
                enter_fd = index;
                features.registered_ring_fd = true;
            }
        }
        let fixed_files = if fast && fixed_files > 0 {
            register_fixed_files(&ring, fixed_files)
        } else {
            None
        };
        features.fixed_files = fixed_files.is_some();
        Ok(Uring {
            ring: ManuallyDrop::new(ring),
            inflight: ManuallyDrop::new(InFlight::default()),
            released: Vec::new(),
            wake_fd,
            wake_buf: ManuallyDrop::new(Box::new(0)),
            wake_armed: false,
            leak: false,
            fast: multishot,
            next_bgid: 0,
            free_bgids: Vec::new(),
            submissions: 0,
            enters: 0,
            completions: 0,
            features,
            notifying: HashMap::new(),
            over_cap: Vec::new(),
            fixed_buffers: Vec::new(),
            enter_fd,
            inline_budget: 0,
            fixed_files,
        })
    }

    /// Registers `bufs` as the ring's fixed buffers (once per ring, fast paths only); `keep`
    /// owns their memory and is dropped after the ring.
    pub(crate) fn register_buffers(&mut self, bufs: &[libc::iovec], keep: Box<dyn Any>) -> bool {
        if !self.features.fixed_buffers || !self.fixed_buffers.is_empty() {
            return false;
        }
        // SAFETY: each iovec points into memory owned by `keep`, which is never moved or
        // resized and is kept by the driver until after the ring is unmapped.
        let res = unsafe { self.ring.submitter().register_buffers(bufs) };
        if res.is_err() {
            return false;
        }
        self.fixed_buffers.push(keep);
        true
    }

    /// The fast paths this ring runs with.
    pub(crate) fn features(&self) -> RingFeatures {
        self.features
    }

    pub(crate) fn poll_op<T: OpCode>(
        &mut self,
        state: &mut OpState,
        op: &mut T,
        cx: &mut Context<'_>,
    ) -> Poll<Completion> {
        match *state {
            OpState::Idle if self.inline_budget > 0 => {
                if let Some(result) = op.try_inline() {
                    self.inline_budget -= 1;
                    return Poll::Ready(Completion { result, flags: 0 });
                }
                self.submit_op(state, op, cx)
            }
            OpState::Idle => self.submit_op(state, op, cx),
            OpState::Submitted(user_data) => self.inflight.poll(user_data, cx),
            OpState::Waiting(_) => unreachable!("the io_uring driver never waits on readiness"),
        }
    }

    /// Queues `op`'s SQE under a new in-flight slot.
    fn submit_op<T: OpCode>(
        &mut self,
        state: &mut OpState,
        op: &mut T,
        cx: &mut Context<'_>,
    ) -> Poll<Completion> {
        // The SQE first: `sqe()` may run user code (an `IoBuf`'s methods) that panics,
        // and a slot inserted before it would wait forever for a completion. While it is
        // built, this ring's table is the one whose slots the op may name
        // ([`SharedFd::fixed_slot`]); a stream whose slot is another ring's names its fd.
        let sqe = match &self.fixed_files {
            Some(files) => files.building(|| op.sqe()),
            None => op.sqe(),
        };
        // A stream without a slot gets one now; this op still names the fd (the slot is
        // named once the update filling it completed). Queued after the op's SQE was built,
        // so a panic there leaves no update naming an fd that nothing holds open.
        if let (Some(files), Some(fd)) = (&self.fixed_files, op.fixed_fd()) {
            if !fd.has_fixed() {
                let files = files.clone();
                self.install_fixed(files, fd);
            }
        }
        let user_data = self.inflight.insert(cx.waker());
        let sqe = sqe.user_data(user_data);
        // SAFETY: `T: OpCode` promises every pointer in the SQE refers to heap memory
        // owned by `op`; the `Op` future keeps `op` alive until the completion is
        // collected, or parks it in the in-flight slot if dropped (invariants 1, 2).
        unsafe { self.push(&sqe) };
        if T::NOTIFIES {
            self.notifying.insert(user_data, None);
        }
        *state = OpState::Submitted(user_data);
        Poll::Pending
    }

    /// Gives `fd` a registered slot, if one is free: queues the update that fills it, just
    /// ahead of the op that asked (which names the fd; later ops name the slot once the
    /// update completed).
    fn install_fixed(&mut self, files: Rc<FixedFiles>, fd: &SharedFd) {
        let Some((slot, ptr)) = files.alloc(fd.raw()) else {
            return;
        };
        let sqe = opcode::FilesUpdate::new(ptr, 1)
            .offset(slot as i32)
            .build()
            .user_data(FIXED_INSTALL | slot as u64);
        // SAFETY: `ptr` points into the table's value array, heap memory the driver keeps
        // until after the ring is gone, or forever if the ring is leaked (invariant 1); the
        // fd it names is held open by the op pushed right behind this update, which holds
        // the `SharedFd` until its own completion, after this update was issued
        // (invariants 4 and 7).
        unsafe { self.push(&sqe) };
        fd.set_fixed(FixedRef { slot, files });
    }

    /// Queues the emptying of the registered slots whose owners left.
    fn clear_fixed(&mut self) {
        while let Some(slot) = self.fixed_files.as_ref().and_then(|f| f.pop_to_clear()) {
            let sqe = opcode::Close::new(types::Fixed(slot))
                .build()
                .user_data(FIXED_CLEAR | slot as u64);
            // SAFETY: a close of a fixed slot carries no pointers; nothing names the slot
            // any more (its owner and every op that held it are gone, invariant 7).
            unsafe { self.push(&sqe) };
        }
    }

    /// The registered file table, for the `block_on` guard ([`FixedFiles::set_driving`]).
    pub(crate) fn fixed_files(&self) -> Option<Rc<FixedFiles>> {
        self.fixed_files.clone()
    }

    /// Submits the emptying of the slots released since the last turn: the end of a
    /// `block_on`, after which no turn may come.
    pub(crate) fn flush_fixed(&mut self) {
        self.clear_fixed();
        if !self.ring.submission().is_empty() {
            self.enter(None);
        }
    }

    /// Turns the fast paths off (`false`), e.g. to test the fallbacks.
    pub(crate) fn with_fast_paths(mut self, on: bool) -> Uring {
        if !on {
            self.fast = FastPaths::default();
            self.features.inline_file_io = false;
        }
        self
    }

    pub(crate) fn fast_paths(&self) -> FastPaths {
        self.fast
    }

    /// Like [`poll_op`](Uring::poll_op), for an op that may complete many times: its slot
    /// queues completions until the one without `IORING_CQE_F_MORE` is taken; `policy`
    /// bounds the queue (the submission is cancelled when it is full) and counts buffers.
    pub(crate) fn poll_multi<T: OpCode>(
        &mut self,
        state: &mut OpState,
        op: &mut T,
        policy: &MultiPolicy,
        cx: &mut Context<'_>,
    ) -> Poll<Completion> {
        match *state {
            OpState::Idle => {
                let user_data = self.inflight.insert_multi(cx.waker(), policy);
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

    /// One `io_uring_enter`: submits everything queued, runs deferred task work and, with
    /// `wait`, blocks until a completion or the timeout (`Some(None)`: no timeout). Retries
    /// EINTR; on EBUSY/EAGAIN (completions must be collected first) reaps and tries again.
    fn enter(&mut self, wait: Option<Option<Duration>>) {
        loop {
            self.enters += 1;
            let res = self.sys_enter(wait.is_some() as u32, wait.flatten());
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

    /// The raw `io_uring_enter(2)`, always with `GETEVENTS` (so deferred completions are
    /// posted even when nothing is awaited) and, with a timeout, `EXT_ARG`. Made here rather
    /// than through the `io-uring` crate so that it can use the registered ring index.
    fn sys_enter(&mut self, min_complete: u32, timeout: Option<Duration>) -> io::Result<()> {
        let to_submit = self.ring.submission().len() as u32;
        let mut flags = ENTER_GETEVENTS;
        if self.features.registered_ring_fd {
            flags |= ENTER_REGISTERED_RING;
        }
        let ts = timeout.map(|t| KernelTimespec {
            tv_sec: t.as_secs() as i64,
            tv_nsec: t.subsec_nanos() as i64,
        });
        let arg = ts.as_ref().map(|ts| GeteventsArg {
            sigmask: 0,
            sigmask_sz: 0,
            min_wait_usec: 0,
            ts: ts as *const KernelTimespec as u64,
        });
        let (arg_ptr, arg_size) = match &arg {
            Some(arg) => {
                flags |= ENTER_EXT_ARG;
                let ptr: *const GeteventsArg = arg;
                (
                    ptr.cast::<libc::c_void>(),
                    std::mem::size_of::<GeteventsArg>(),
                )
            }
            None => (std::ptr::null(), 0),
        };
        // SAFETY: `enter_fd` is this ring's fd or its registered index (flagged as such);
        // `arg`, when given, points at a live `io_uring_getevents_arg` whose `ts` points at a
        // live timespec, both on this stack frame for the duration of the call.
        syscall!(syscall(
            libc::SYS_io_uring_enter,
            self.enter_fd,
            to_submit,
            min_complete,
            flags,
            arg_ptr,
            arg_size
        ))
        .map(drop)
    }

    /// Dispatches every completion in the completion queue; returns how many.
    fn reap(&mut self) -> usize {
        let mut n = 0;
        for cqe in self.ring.completion() {
            n += 1;
            match cqe.user_data() {
                WAKE => self.wake_armed = false,
                CANCEL => {}
                user_data if user_data & FIXED_KIND == FIXED_INSTALL => {
                    if let Some(files) = &self.fixed_files {
                        files.installed(user_data as u32, cqe.result());
                    }
                }
                user_data if user_data & FIXED_KIND == FIXED_CLEAR => {
                    if let Some(files) = &self.fixed_files {
                        files.cleared(user_data as u32, cqe.result());
                    }
                }
                user_data => {
                    let Some((res, flags)) =
                        hold_for_notif(&mut self.notifying, user_data, cqe.result(), cqe.flags())
                    else {
                        continue;
                    };
                    let completion = || Completion {
                        result: sys::cqe_result(res),
                        flags,
                    };
                    match self.inflight.complete(user_data, completion()) {
                        Outcome::Released(mut res) => {
                            super::orphan_completed(&mut res, completion());
                            self.released.push(res);
                        }
                        Outcome::Capped => self.over_cap.push(user_data),
                        Outcome::Delivered | Outcome::Stale => {}
                    }
                }
            }
        }
        self.completions += n as u64;
        n
    }

    pub(crate) fn turn(&mut self, park: Park, garbage: &mut Vec<Box<dyn Any>>) -> io::Result<()> {
        if self.features.inline_file_io {
            self.inline_budget = INLINE_PER_TURN;
        }
        // A queue still full after its owner had a turn stops its multishot op the way a
        // dropped op is stopped: data then waits in the socket until the owner has taken
        // the queue and arms the op again.
        while let Some(user_data) = self.over_cap.pop() {
            if self.inflight.cancel_if_over_cap(user_data) {
                self.cancel(user_data);
            }
        }
        self.clear_fixed();
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

    /// Cancels every op in flight and the wake read, and reaps until none is left. Safe to
    /// call again (the drop calls it after the runtime's shutdown did): it re-checks what is
    /// pending rather than trusting an earlier call, and returns at once when nothing is.
    pub(crate) fn shutdown(&mut self, garbage: &mut Vec<Box<dyn Any>>) {
        if self.leak {
            return; // an earlier drain gave up; the ring is leaked, not waited on again
        }
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
        stats.fixed_files = self.fixed_files.as_ref().map_or(0, |f| f.in_use());
    }
}

impl Drop for Uring {
    fn drop(&mut self) {
        let mut garbage = Vec::new();
        self.shutdown(&mut garbage);
        drop(garbage);
        if self.leak {
            std::mem::forget(std::mem::take(&mut self.fixed_buffers));
            // The table's install values stay too; its ring fd stays open (the ring is
            // leaked), so later releases still empty their slots.
            std::mem::forget(self.fixed_files.take());
            return; // ring, in-flight resources and the wake buffer stay allocated forever
        }
        if let Some(files) = &self.fixed_files {
            // Unmapping the ring releases every slot; fds dropped later have nothing to empty.
            files.close();
        }
        if self.features.registered_ring_fd {
            unregister_ring_fd(self.ring.as_raw_fd(), self.enter_fd);
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

/// What to deliver for a completion (`res`, `flags`) of `user_data`; `None` holds it back:
/// the result of a notifying op waits in `notifying` for its notification, which delivers
/// the result (with both completions' flags, less `F_MORE`: it is the op's last
/// completion) and frees the slot.
fn hold_for_notif(
    notifying: &mut HashMap<u64, Option<(i32, u32)>>,
    user_data: u64,
    res: i32,
    flags: u32,
) -> Option<(i32, u32)> {
    if notifying.is_empty() {
        return Some((res, flags));
    }
    let Some(held) = notifying.get_mut(&user_data) else {
        return Some((res, flags));
    };
    if cqueue::notif(flags) {
        let first = held.take().unwrap_or((0, 0));
        notifying.remove(&user_data);
        return Some((first.0, (first.1 | flags) & !super::inflight::CQE_F_MORE));
    }
    if cqueue::more(flags) {
        *held = Some((res, flags));
        return None;
    }
    notifying.remove(&user_data);
    Some((res, flags))
}

/// The first kernel whose registered files are released one by one (Linux 6.13 reworked
/// resource nodes). Before it, an emptied slot's file is released only after every older
/// request that named any slot completed, so one idle connection's pending receive could
/// keep every socket closed after it open: the table stays off there.
const FIXED_FILES_SINCE: (u32, u32) = (6, 13);

/// Registers a sparse table of `len` file slots (capped at `RLIMIT_NOFILE`); `None` before
/// [`FIXED_FILES_SINCE`] or where the kernel refuses (e.g. over a memory limit).
fn register_fixed_files(ring: &IoUring, len: u32) -> Option<Rc<FixedFiles>> {
    if sys::kernel_version()? < FIXED_FILES_SINCE {
        return None;
    }
    let limit = sys::nofile_limit().unwrap_or(1024);
    let len = len.min(limit.min(u32::MAX as u64) as u32);
    if len == 0 {
        return None;
    }
    ring.submitter().register_files_sparse(len).ok()?;
    Some(Rc::new(FixedFiles::new(ring.as_raw_fd(), len)))
}

/// Which multishot paths the kernel has. Multishot accept came with Linux 5.19, multishot
/// recv with 6.0; the probe lists opcodes, not flags, so opcodes of the same releases stand
/// in: `SOCKET` (5.19) and `SEND_ZC` (6.0). A failing buffer-ring registration turns recv
/// multishot off as well.
fn probe_fast_paths(probe: &io_uring::Probe) -> FastPaths {
    FastPaths {
        accept_multi: probe.is_supported(opcode::Socket::CODE),
        recv_multi: probe.is_supported(opcode::SendZc::CODE),
    }
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
    fn notifying_op_completes_on_its_notification_only() {
        const MORE: u32 = 1 << 1; // IORING_CQE_F_MORE
        const NOTIF: u32 = 1 << 3; // IORING_CQE_F_NOTIF
        let mut held = HashMap::new();
        assert_eq!(
            hold_for_notif(&mut held, 5, 100, 0),
            Some((100, 0)),
            "not notifying"
        );
        held.insert(7, None);
        assert_eq!(
            hold_for_notif(&mut held, 5, 1, 0),
            Some((1, 0)),
            "another op"
        );
        assert_eq!(
            hold_for_notif(&mut held, 7, 4096, MORE),
            None,
            "result held"
        );
        assert_eq!(
            hold_for_notif(&mut held, 7, 0, NOTIF),
            Some((4096, NOTIF)),
            "delivered as the op's last completion: no F_MORE"
        );
        assert!(held.is_empty());
        held.insert(8, None);
        assert_eq!(
            hold_for_notif(&mut held, 8, -32, 0),
            Some((-32, 0)),
            "error: one CQE"
        );
        assert!(held.is_empty());
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
