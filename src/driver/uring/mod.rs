//! The io_uring backend: one ring per runtime, its in-flight table, and the loop's turn.
//!
//! SQEs are pushed into the shared-memory submission queue without a syscall; a full queue
//! is handed to the kernel and pushing continues, and so is the queue once it holds
//! `file_batch` new file reads and writes (`Uring::file_queued`). One `io_uring_enter` per
//! turn submits everything queued and, when the runtime has nothing to run, waits for a
//! completion, a cross-thread wake-up (a read on the runtime's eventfd, always armed) or the
//! next timer deadline (`EXT_ARG` timeout). Completions are reaped from shared memory.
//!
//! Fast paths, each probed and dropped where the kernel refuses it (and all off with
//! [`Builder::fast_paths(false)`](crate::Builder::fast_paths)): `SINGLE_ISSUER` +
//! `DEFER_TASKRUN` (completions are posted only when this thread enters with `GETEVENTS`,
//! which every enter here carries; `IORING_SQ_TASKRUN` tells a non-parking turn that there
//! is deferred work to collect), and a registered ring fd (`io_uring_enter` on an index
//! instead of a file lookup). What was enabled is reported by
//! [`Runtime::ring_features`](crate::Runtime::ring_features).
//!
//! The files: `setup.rs` builds the ring; this file submits; `enter.rs` enters the kernel,
//! reaps and drains; `sqe.rs` says what an SQE may name on this ring; `fixed.rs` is the
//! registered file table for sockets; `bufs.rs` registers buffers (fixed buffers,
//! provided-buffer rings) with the ring.

mod bufs;
mod enter;
mod fixed;
mod linked;
mod lost;
mod setup;
mod sqe;
#[cfg(test)]
mod tests;

use std::any::Any;
use std::collections::{HashMap, HashSet};
use std::io;
use std::mem::ManuallyDrop;
use std::os::fd::{AsRawFd, OwnedFd};
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use io_uring::IoUring;

pub(crate) use fixed::{FdSlot, FixedFiles};
pub(crate) use sqe::{on_target, Ring, Target};

use super::inflight::{InFlight, MultiPolicy};
use super::op::{timed_out, Completion, OpState, Operation, Parked};
use super::stats::{FastPaths, OpKind, OpStats, RingFeatures, Stats};
use super::token::RESERVED;
use super::{Backend, Expired, Park};
use linked::LinkTimeouts;
use setup::{build_ring, check_support, os_msg, probe_fast_paths, register_ring_fd};

/// `user_data` of the async-cancel requests the driver submits for dropped ops.
const CANCEL: u64 = RESERVED | 1;
/// `user_data` of the always-armed read on the runtime's eventfd.
const WAKE: u64 = RESERVED | 2;
/// `user_data` of the update filling a registered file slot (the slot in the low 32 bits).
const FIXED_INSTALL: u64 = RESERVED | 1 << 32;
/// `user_data` of the close emptying a registered file slot (the slot in the low 32 bits).
const FIXED_CLEAR: u64 = RESERVED | 2 << 32;
/// `user_data` of the probes sent after the kernel dropped completions (a probe number in
/// the low 32 bits; `lost.rs`).
const PROBE: u64 = RESERVED | 3 << 32;
/// The bits of `user_data` that tell the driver's own kinds of request apart.
const FIXED_KIND: u64 = RESERVED | 3 << 32;

/// How many ops may finish inline ([`UringOp::try_inline`](super::UringOp::try_inline)) per
/// loop turn: past it they go through the ring, whose completion comes a turn later, so a
/// task looping on cached reads still lets the others run.
const INLINE_PER_TURN: u32 = 64;

/// Faults a unit test injects where the kernel cannot be made to produce them.
#[cfg(test)]
#[derive(Default)]
pub(super) struct Faults {
    /// The next `io_uring_enter` reports dropped completions (`EBADR`) after doing its work.
    pub(super) ebadr: bool,
    /// The completion of this `user_data` is dropped when reaped, once.
    pub(super) drop: Option<u64>,
}

pub(crate) struct Uring {
    /// Unmapped only after every completion arrived, or leaked (`[drain-before-unmap]`).
    ring: ManuallyDrop<IoUring>,
    /// The resources of every op the kernel may still touch, including dropped ones
    /// (`[parked-on-drop]`); freed after the drain, or leaked with the ring.
    inflight: ManuallyDrop<InFlight>,
    /// Resources of dropped ops whose completion arrived, handed to the caller of the turn,
    /// which drops them outside its borrow of the driver.
    released: Vec<Box<dyn Parked>>,
    /// The runtime's eventfd (a dup, so the driver keeps it open while its read is in flight).
    wake_fd: OwnedFd,
    /// The 8 bytes the eventfd read writes into: driver-owned heap memory, freed only after
    /// the read's completion (`[driver-owned]`).
    wake_buf: ManuallyDrop<Box<u64>>,
    wake_armed: bool,
    /// How many times the wake-up read was armed: tells a probe's answer about an earlier
    /// arming from one about the current.
    wake_arms: u64,
    /// Set when the drain at shutdown gave up: the ring and what the kernel may still touch
    /// are leaked rather than freed.
    leak: bool,
    /// The fast paths this kernel supports and the runtime allows.
    fast: FastPaths,
    /// Buffer group ids handed out for provided-buffer rings, and those given back.
    next_bgid: u16,
    free_bgids: Vec<u16>,
    /// The address of the provided-buffer ring registered under each group id (0: none).
    buf_rings: Vec<u64>,
    submissions: u64,
    enters: u64,
    completions: u64,
    /// Times the kernel said it dropped completions (`EBADR`).
    lost_completions: u64,
    /// Enters made to flush completions the kernel held back from a full CQ.
    overflow_flushes: u64,
    /// Probes in flight after dropped completions, by number, with the op each asks about.
    probes: HashMap<u32, lost::Probed>,
    next_probe: u32,
    /// Probe completions of the current reap, handled after the ops' (kept here, not on
    /// the stack, so that a waker panicking in the reap loses none).
    probe_results: Vec<(u64, i32)>,
    /// Ops in flight when completions were dropped: each final completion is an error.
    suspect: HashSet<u64>,
    /// Faults a unit test injects.
    #[cfg(test)]
    faults: Faults,
    features: RingFeatures,
    /// Ops in flight that end with a notification ([`UringOp::NOTIFIES`](super::UringOp)),
    /// with their result (`res`, `flags`) once it arrived: their slot is completed only by
    /// the notification.
    notifying: HashMap<u64, Option<(i32, u32)>>,
    /// Multishot ops whose queue reached its cap in a reap: cancelled at the next turn if
    /// their owner has not taken the queue below the cap meanwhile.
    over_cap: Vec<u64>,
    /// The memory of the registered fixed buffers, freed only after the ring
    /// (`[driver-owned]`).
    fixed_buffers: Vec<Box<dyn Any>>,
    /// The id of the pool whose buffers are registered ([`Ring::has_buffers`]).
    buffers_pool: Option<usize>,
    /// The fd `io_uring_enter` is called on: the registered index when `registered_ring_fd`
    /// is on, else the ring's own fd.
    enter_fd: i32,
    /// Inline completions left this turn (0 when inline ops are off).
    inline_budget: u32,
    /// File reads and writes queued since the last enter, and how many make the driver
    /// submit them before the turn ends (0: never; `Config::file_batch`).
    files_queued: u32,
    file_batch: u32,
    /// How long the drain lets detached sends finish before it cancels them
    /// (`Config::queue_write_linger`).
    pub(super) detached_linger: Duration,
    /// The registered file table for sockets, when on; closed before the ring is dropped.
    fixed_files: Option<Rc<FixedFiles>>,
    /// The link timeouts of ops with a deadline, in flight (`linked.rs`).
    links: LinkTimeouts,
    /// Submissions and completions per kind of op.
    ops: OpStats,
    /// Turns that entered the kernel, by how many completions they reaped
    /// ([`Stats::completions_per_enter`]).
    per_enter: [u64; 7],
}

impl Uring {
    /// Sets up a ring with `entries` submission slots; `wake_fd` is the runtime's eventfd.
    /// Errors name the step that failed (e.g. `io_uring_setup: Operation not permitted`).
    /// With `fast`, asks for the fast paths (see the module docs).
    /// `fixed_files` slots of registered files are set up for sockets (fast paths only;
    /// capped at `RLIMIT_NOFILE`, which the kernel also applies; 0 for none).
    /// Every `file_batch` file reads and writes queued are submitted at once (0: at the end
    /// of the turn only).
    pub(crate) fn new(
        entries: u32,
        wake_fd: OwnedFd,
        fast: bool,
        fixed_files: u32,
        file_batch: u32,
    ) -> io::Result<Uring> {
        let (ring, mut features) = build_ring(entries, fast)
            .map_err(|e| io::Error::new(e.kind(), format!("io_uring_setup: {}", os_msg(&e))))?;
        let probe = check_support(&ring)?;
        let multishot = if fast {
            probe_fast_paths(&probe)
        } else {
            FastPaths::default()
        };
        features.send_zc = fast && probe.is_supported(io_uring::opcode::SendZc::CODE);
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
            fixed::register_fixed_files(&ring, fixed_files)
        } else {
            None
        };
        features.fixed_files = fixed_files.is_some();
        if fast {
            refused(&features, &multishot);
        }
        Ok(Uring {
            ring: ManuallyDrop::new(ring),
            inflight: ManuallyDrop::new(InFlight::default()),
            released: Vec::new(),
            wake_fd,
            wake_buf: ManuallyDrop::new(Box::new(0)),
            wake_armed: false,
            wake_arms: 0,
            leak: false,
            fast: multishot,
            next_bgid: 0,
            free_bgids: Vec::new(),
            buf_rings: Vec::new(),
            submissions: 0,
            enters: 0,
            completions: 0,
            lost_completions: 0,
            overflow_flushes: 0,
            probes: HashMap::new(),
            next_probe: 0,
            probe_results: Vec::new(),
            suspect: HashSet::new(),
            #[cfg(test)]
            faults: Faults::default(),
            features,
            notifying: HashMap::new(),
            over_cap: Vec::new(),
            fixed_buffers: Vec::new(),
            buffers_pool: None,
            enter_fd,
            inline_budget: 0,
            files_queued: 0,
            file_batch,
            detached_linger: Duration::from_secs(10),
            fixed_files,
            links: LinkTimeouts::default(),
            ops: OpStats::default(),
            per_enter: [0; 7],
        })
    }

    /// The fast paths this ring runs with.
    pub(crate) fn features(&self) -> RingFeatures {
        self.features
    }

    /// The multishot paths ops may take on this ring.
    pub(crate) fn fast_paths(&self) -> FastPaths {
        self.fast
    }

    /// Starts a single-shot op: inline where it can finish at once without waiting (within
    /// the turn's budget), else through the ring, linked to a timeout of `link` if given.
    #[inline]
    fn start<T: Operation>(
        &mut self,
        state: &mut OpState,
        op: &mut T,
        link: Option<Duration>,
        cx: &mut Context<'_>,
    ) -> Poll<Completion> {
        if self.inline_budget > 0 {
            if let Some(result) = op.try_inline() {
                self.inline_budget -= 1;
                self.ops.submitted(T::KIND);
                self.ops.completed(T::KIND);
                return Poll::Ready(Completion::of(result));
            }
        }
        self.submit(state, op, None, link, cx)
    }

    /// The one submission path, of single-shot and multishot ops alike: `op`'s SQE under a
    /// new in-flight slot (a multishot one under `multi`), followed by a linked timeout of
    /// `link` when given (`linked.rs`).
    fn submit<T: Operation>(
        &mut self,
        state: &mut OpState,
        op: &mut T,
        multi: Option<&MultiPolicy>,
        link: Option<Duration>,
        cx: &mut Context<'_>,
    ) -> Poll<Completion> {
        // The SQE first: `sqe()` may run user code (an `IoBuf`'s methods) that panics, and
        // a slot inserted before it would wait forever for a completion.
        let sqe = match op.sqe(&self.ring()) {
            Ok(sqe) => sqe,
            Err(e) => return Poll::Ready(Completion::of(Err(e))),
        };
        // Room for the op, its link timeout and a slot update, before anything is recorded:
        // making room may enter the kernel and run wakers (user code) that panic, and a slot
        // taken before that would wait forever for a completion.
        self.reserve(2 + link.is_some() as usize);
        // A stream without a slot gets one now; this op still names the fd (the slot is
        // named once the update filling it completed). Queued after the op's SQE was built,
        // so a panic there leaves no update naming an fd that nothing holds open.
        if let (Some(_), Some(fd)) = (&self.fixed_files, op.fixed_fd()) {
            self.install_fixed(fd);
        }
        let user_data = match multi {
            None => self.inflight.insert(cx.waker()),
            Some(policy) => self.inflight.insert_multi(cx.waker(), policy),
        };
        if !T::CANCEL_FINDS {
            self.inflight.mark_unfindable(user_data);
        }
        let sqe = sqe.user_data(user_data);
        self.ops.submitted(T::KIND);
        match link {
            // SAFETY: `T: UringOp` promises every pointer in the SQE refers to heap memory
            // owned by `op` (`[heap-owned]`); the op future keeps `op` alive until its final
            // completion is collected, or parks it in the in-flight slot if dropped
            // (`[parked-on-drop]`, `[multishot-slot]`).
            None => unsafe { self.push(&sqe) },
            // The same holds of the op's SQE; the room for the pair was reserved above.
            Some(after) => self.push_linked(sqe, after),
        }
        if T::NOTIFIES {
            self.notifying.insert(user_data, None);
        }
        *state = OpState::Pending(user_data);
        if T::FILE_IO {
            self.file_queued();
        }
        Poll::Pending
    }

    /// [`Backend::start_detached`]: the op goes in parked in its slot, with no waker.
    #[inline]
    fn start_parked<T: Operation>(&mut self, mut op: Box<T>) -> Result<u64, Box<T>> {
        if T::NOTIFIES || (T::WHOLE_BY_KERNEL && !self.features.send_zc) {
            return Err(op);
        }
        // The SQE, then the room, before anything is recorded (as in `submit`).
        let Ok(sqe) = op.sqe(&self.ring()) else {
            return Err(op);
        };
        self.reserve(2);
        if let (Some(_), Some(fd)) = (&self.fixed_files, op.fixed_fd()) {
            self.install_fixed(fd);
        }
        let user_data = self.inflight.insert_parked(op);
        if !T::CANCEL_FINDS {
            self.inflight.mark_unfindable(user_data);
        }
        self.ops.submitted(T::KIND);
        // SAFETY: `T: UringOp` promises every pointer in the SQE refers to heap memory owned
        // by the op (`[heap-owned]`), which its box moving into the slot does not move, and
        // any fd it names is held by the op (`[fd-outlives-op]`); the slot keeps the op, so
        // both, until its completion (`[parked-on-drop]`).
        unsafe { self.push(&sqe.user_data(user_data)) };
        if T::FILE_IO {
            self.file_queued();
        }
        Ok(user_data)
    }

    /// How long the drain lets detached sends finish ([`Config::queue_write_linger`]).
    ///
    /// [`Config::queue_write_linger`]: crate::driver::Config
    pub(crate) fn set_detached_linger(&mut self, linger: Duration) {
        self.detached_linger = linger;
    }

    /// Cancels the op of `token` if it is a detached one still in flight.
    pub(crate) fn cancel_detached(&mut self, token: u64) {
        if self.inflight.is_detached(token) {
            self.cancel(token);
        }
    }

    /// A file read or write was queued: once `file_batch` are, they (and whatever else is
    /// queued) go to the kernel now instead of at the end of the turn. A storage device
    /// takes requests in small groups sooner better than one large group per turn: on the
    /// virtio disk `benches/fs` runs on, 32 reads in flight complete ~1.1x as many per
    /// second submitted four at a time as submitted ~11 per turn, for a quarter of an
    /// `io_uring_enter` more per read. Called once the op's SQE, slot and state are all
    /// recorded, so the enter (which may reap completions and run wakers) leaves nothing
    /// half done.
    fn file_queued(&mut self) {
        if self.file_batch == 0 {
            return;
        }
        self.files_queued += 1;
        if self.files_queued >= self.file_batch {
            self.enter(None);
        }
    }

    /// Takes the next completion of slot `user_data`, an op of `kind`; the state goes back
    /// to idle with the last one.
    #[inline(always)]
    fn collect(
        &mut self,
        state: &mut OpState,
        user_data: u64,
        kind: OpKind,
        cx: &mut Context<'_>,
    ) -> Poll<Completion> {
        let completion = std::task::ready!(self.inflight.poll(user_data, cx));
        self.ops.completed(kind);
        if !completion.more() {
            *state = OpState::Idle;
        }
        Poll::Ready(completion)
    }

    fn cancel(&mut self, user_data: u64) {
        let sqe = io_uring::opcode::AsyncCancel::new(user_data)
            .build()
            .user_data(CANCEL);
        // SAFETY: an async-cancel SQE carries no pointers, only the target's user_data.
        unsafe { self.push(&sqe) };
    }
}

/// Tells (feature `tracing`) which of the fast paths asked for the kernel refused.
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
fn refused(features: &RingFeatures, multishot: &FastPaths) {
    let paths = [
        ("SINGLE_ISSUER + DEFER_TASKRUN", features.defer_taskrun),
        ("registered ring fd", features.registered_ring_fd),
        ("SEND_ZC", features.send_zc),
        ("registered file table", features.fixed_files),
        ("multishot accept", multishot.accept_multi),
        ("multishot recv", multishot.recv_multi),
    ];
    for (feature, on) in paths {
        if !on {
            crate::trace::event!(debug, feature, "io_uring fast path refused by the kernel");
        }
    }
    crate::trace::event!(debug, ?features, "io_uring ring set up");
}

impl Backend for Uring {
    #[inline]
    fn poll_op<T: Operation>(
        &mut self,
        state: &mut OpState,
        op: &mut T,
        cx: &mut Context<'_>,
    ) -> Poll<Completion> {
        match *state {
            OpState::Idle => self.start(state, op, None, cx),
            OpState::Pending(user_data) => self.collect(state, user_data, T::KIND, cx),
        }
    }

    /// The deadline is the kernel's: the op goes in linked to a timeout of `after`, and its
    /// `-ECANCELED` is the deadline passing (a cancel of ours is for a dropped op, whose
    /// completion nobody sees). The userspace timer is not needed.
    fn poll_op_timed<T: Operation>(
        &mut self,
        state: &mut OpState,
        op: &mut T,
        after: Duration,
        _expired: Expired<'_>,
        cx: &mut Context<'_>,
    ) -> Poll<Completion> {
        let mut completion = std::task::ready!(match *state {
            OpState::Idle => self.start(state, op, Some(after), cx),
            OpState::Pending(user_data) => self.collect(state, user_data, T::KIND, cx),
        });
        if let Err(e) = &completion.result {
            if e.raw_os_error() == Some(libc::ECANCELED) {
                completion.result = Err(timed_out());
            }
        }
        Poll::Ready(completion)
    }

    #[inline]
    fn poll_multi<T: Operation>(
        &mut self,
        state: &mut OpState,
        op: &mut T,
        policy: &MultiPolicy,
        cx: &mut Context<'_>,
    ) -> Poll<Completion> {
        match *state {
            OpState::Idle => self.submit(state, op, Some(policy), None, cx),
            OpState::Pending(user_data) => self.collect(state, user_data, T::KIND, cx),
        }
    }

    fn drop_op(&mut self, state: OpState, op: Box<dyn Parked>) -> Option<Box<dyn Parked>> {
        let OpState::Pending(user_data) = state else {
            return Some(op);
        };
        let release = self.inflight.ignore(user_data, op);
        if release.is_none() {
            if matches!(self.notifying.get(&user_data), Some(Some(_))) {
                // Its result is in: only the notification is awaited (nothing to cancel),
                // which needs the pages, not the socket.
                if let Some(parked) = self.inflight.parked_mut(user_data) {
                    parked.result_in();
                }
            } else {
                self.cancel(user_data);
            }
        }
        release
    }

    #[inline]
    fn start_detached<T: Operation>(&mut self, op: Box<T>) -> Result<u64, Box<T>> {
        self.start_parked(op)
    }

    #[inline(always)]
    fn turn(&mut self, park: Park, released: &mut Vec<Box<dyn Parked>>) -> io::Result<()> {
        self.turn_ring(park, released)
    }

    fn shutdown(&mut self, deadline: Instant, released: &mut Vec<Box<dyn Parked>>) {
        self.drain(deadline, released);
    }

    fn fill_stats(&self, stats: &mut Stats) {
        stats.ops_in_flight = self.inflight.len();
        stats.submissions = self.submissions;
        stats.enters = self.enters;
        stats.completions = self.completions;
        stats.lost_completions = self.lost_completions;
        stats.fixed_files = self.fixed_files.as_ref().map_or(0, |f| f.in_use());
        stats.ops = self.ops;
        stats.completions_per_enter = self.per_enter;
    }
}
