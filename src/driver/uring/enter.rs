//! Entering the kernel: pushing SQEs, `io_uring_enter`, reaping completions, the loop's
//! turn, and the drain before the ring is unmapped (`[drain-before-unmap]`).

use std::collections::{HashMap, HashSet};
use std::io;
use std::mem::ManuallyDrop;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use io_uring::{cqueue, opcode, squeue, types};

use super::linked::{LINK_KIND, LINK_TIMEOUT};
use super::setup::{
    unregister_ring_fd, GeteventsArg, KernelTimespec, ENTER_EXT_ARG, ENTER_GETEVENTS,
    ENTER_REGISTERED_RING,
};
use super::{Uring, CANCEL, FIXED_CLEAR, FIXED_INSTALL, FIXED_KIND, INLINE_PER_TURN, PROBE, WAKE};
use crate::driver::inflight::{InFlight, Outcome};
use crate::driver::op::{Completion, Parked, CQE_F_MORE};
use crate::driver::stats::{OpKind, Stats};
use crate::driver::token::RESERVED;
use crate::driver::Park;
use crate::sys::{self, syscall};

/// How long dropping a runtime waits for cancelled operations before giving up and leaking
/// the ring (leaking is safe; unmapping under the kernel's feet is not), unless its
/// shutdown was given a deadline of its own.
const DRAIN_LIMIT: Duration = Duration::from_secs(30);

/// Hands `completion` to the slot of `user_data`: what a dropped op held goes to
/// `released`, a multishot queue at its cap to `over_cap`.
#[inline]
pub(super) fn deliver(
    inflight: &mut InFlight,
    released: &mut Vec<Box<dyn Parked>>,
    over_cap: &mut Vec<u64>,
    user_data: u64,
    completion: Completion,
) {
    match inflight.complete(user_data, completion) {
        Outcome::Released(res) => released.push(res),
        Outcome::Capped => over_cap.push(user_data),
        Outcome::Delivered | Outcome::Stale => {}
    }
}

impl Uring {
    /// Queues `sqe`; when the submission queue is full, submits it first.
    ///
    /// # Safety
    /// Every pointer in `sqe` must stay valid until its completion is reaped.
    #[inline]
    pub(super) unsafe fn push(&mut self, sqe: &squeue::Entry) {
        loop {
            // SAFETY: the caller guarantees the SQE's pointers outlive its completion.
            if unsafe { self.ring.submission().push(sqe) }.is_ok() {
                self.submissions += 1;
                return;
            }
            self.enter_for_room();
        }
    }

    /// Submits what is queued until the submission queue has room for `n` entries, so the
    /// next `n` pushes cannot enter the kernel.
    #[inline]
    pub(super) fn reserve(&mut self, n: usize) {
        loop {
            let sq = self.ring.submission();
            if sq.capacity() - sq.len() >= n {
                return;
            }
            drop(sq);
            self.enter_for_room();
        }
    }

    /// Hands the full submission queue to the kernel, making room ([`push`](Uring::push),
    /// [`reserve`](Uring::reserve)).
    #[cold]
    #[inline(never)]
    fn enter_for_room(&mut self) {
        self.enter(None);
    }

    fn arm_wake(&mut self) {
        let buf: *mut u64 = &mut **self.wake_buf;
        let sqe = opcode::Read::new(types::Fd(self.wake_fd.as_raw_fd()), buf.cast(), 8)
            .build()
            .user_data(WAKE);
        // SAFETY: `wake_buf` is a heap allocation and `wake_fd` an fd, both owned by the
        // driver and released only after the drain has reaped this read's completion
        // (`[driver-owned]`).
        unsafe { self.push(&sqe) };
        self.wake_armed = true;
        self.wake_arms += 1;
    }

    /// One `io_uring_enter`: submits everything queued, runs deferred task work and, with
    /// `wait`, blocks until a completion or the timeout (`Some(None)`: no timeout). Retries
    /// EINTR; on EBUSY/EAGAIN (completions must be collected first) reaps and tries again.
    pub(super) fn enter(&mut self, wait: Option<Option<Duration>>) {
        self.files_queued = 0; // every queued SQE is handed over
        loop {
            self.enters += 1;
            let res = self.sys_enter(wait.is_some() as u32, wait.flatten());
            #[cfg(test)]
            let res = match std::mem::take(&mut self.faults.ebadr) {
                true => Err(io::Error::from_raw_os_error(libc::EBADR)),
                false => res,
            };
            let Err(err) = res else { return };
            match err.raw_os_error() {
                Some(libc::ETIME) => return,
                // Completions were dropped (reported once); the ops in flight are probed.
                Some(libc::EBADR) => {
                    self.completions_lost();
                    return;
                }
                // Short of memory for a moment: let others run, then try again.
                Some(libc::ENOMEM) => std::thread::yield_now(),
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
                _ => {
                    crate::trace::event!(error, %err, "io_uring_enter failed");
                    panic!("io_uring_enter failed: {err}")
                }
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

    /// Dispatches every completion in the completion queue; returns how many. The driver's
    /// own probes are handled after the ops' completions of the same batch, which came first.
    fn reap(&mut self) -> usize {
        let mut n = 0;
        for cqe in self.ring.completion() {
            n += 1;
            #[cfg(test)]
            if self.faults.drop == Some(cqe.user_data()) {
                self.faults.drop = None;
                continue; // dropped, as the kernel does when it runs out of memory
            }
            let user_data = cqe.user_data();
            if user_data & RESERVED != 0 {
                // The driver's own requests; ops' tokens never have the top bit.
                match user_data {
                    WAKE => self.wake_armed = false,
                    CANCEL => {}
                    _ if user_data & LINK_KIND == LINK_TIMEOUT => {
                        // Its timespec goes; counted when it fired (its op's deadline passed).
                        let fired = self.links.completed(user_data, cqe.result());
                        if fired {
                            self.ops.completed(OpKind::LinkTimeout);
                        }
                    }
                    _ if user_data & FIXED_KIND == PROBE => {
                        self.probe_results.push((user_data, cqe.result()));
                    }
                    _ if matches!(user_data & FIXED_KIND, FIXED_INSTALL | FIXED_CLEAR) => {
                        super::fixed::completed(&self.fixed_files, user_data, cqe.result());
                    }
                    _ => {} // no request of the driver's has another value
                }
                continue;
            }
            let (res, flags) = (cqe.result(), cqe.flags());
            let held = match self.notifying.is_empty() {
                true => Some((res, flags)),
                false => hold_for_notif(&mut self.notifying, user_data, res, flags),
            };
            let Some((res, flags)) = held else {
                // The result of a notifying op, held for its notification: a dropped one
                // lets go of its socket now.
                if let Some(parked) = self.inflight.parked_mut(user_data) {
                    parked.result_in();
                }
                continue;
            };
            let completion = Completion {
                result: sys::cqe_result(res),
                flags,
            };
            let to = (&mut *self.inflight, &mut self.released, &mut self.over_cap);
            match self.suspect.is_empty() {
                true => deliver(to.0, to.1, to.2, user_data, completion),
                false => {
                    super::lost::settle(&mut self.suspect, to, user_data, completion);
                }
            }
        }
        if !self.probe_results.is_empty() {
            for (user_data, res) in std::mem::take(&mut self.probe_results) {
                self.probe_completed(user_data, res);
            }
        }
        self.completions += n as u64;
        n
    }

    /// One turn: submits what is queued, waits as `park` allows, dispatches what completed.
    #[inline(always)]
    pub(super) fn turn_ring(
        &mut self,
        park: Park,
        released: &mut Vec<Box<dyn Parked>>,
    ) -> io::Result<()> {
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
        // What this turn enters and reaps, for the histogram of completions per enter.
        let (enters, completions) = (self.enters, self.completions);
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
            self.overflow_flushes += 1;
            self.enter(None);
        }
        if self.enters != enters {
            let reaped = (self.completions - completions) as usize;
            self.per_enter[Stats::completion_bucket(reaped)] += 1;
        }
        released.append(&mut self.released);
        Ok(())
    }

    /// Cancels every op in flight and the wake read, each once, and reaps until none is
    /// left (`[drain-before-unmap]`) or `deadline` passed: then the ring is marked leaked,
    /// so that it is never unmapped nor what it holds freed. Safe to call again (the drop
    /// calls it after the runtime's shutdown did): it re-checks what is pending rather than
    /// trusting an earlier call, and returns at once when nothing is.
    pub(super) fn drain(&mut self, deadline: Instant, released: &mut Vec<Box<dyn Parked>>) {
        if self.leak {
            return; // an earlier drain gave up; the ring is leaked, not waited on again
        }
        let limit = deadline.saturating_duration_since(Instant::now());
        // Sends left to the kernel (`queue_write`) were told done to their writers: they
        // get some time to finish before they are cancelled (half the time left at most, so
        // that the cancels have the rest).
        let linger = Instant::now() + self.detached_linger.min(limit / 2);
        let mut cancelled = HashSet::new();
        // Whether the last pass left detached sends uncancelled: the pass after it cancels
        // them (its deadline past, so is `linger`) before any leak is declared.
        let mut lingering = false;
        loop {
            let pending: Vec<u64> = self.inflight.pending().collect();
            if pending.is_empty() && !self.wake_armed {
                break;
            }
            // Past the deadline, but only once the cancels went out and what they completed
            // at once was reaped: a deadline of zero still frees what cancels at once.
            if !cancelled.is_empty() && !lingering && Instant::now() >= deadline {
                crate::trace::event!(
                    error,
                    pending = pending.len(),
                    "io_uring operations still in flight at the shutdown deadline; leaking the ring"
                );
                eprintln!(
                    "proactor: {} io_uring operations did not complete within {limit:?} of \
                     shutdown; leaking the ring instead of freeing memory the kernel may use",
                    pending.len()
                );
                self.leak = true;
                break;
            }
            lingering = false;
            for user_data in pending {
                if matches!(self.notifying.get(&user_data), Some(Some(_))) {
                    // Only the notification of a zero-copy send is left: it comes when the
                    // kernel frees the pages it sent from, which a peer that never reads
                    // can put off for ever. The kernel holds its own page references; the
                    // buffer is leaked, never reused (a live future's too, when dropped),
                    // and the ring need not wait.
                    self.notifying.remove(&user_data);
                    self.inflight.abandon(user_data);
                    continue;
                }
                if Instant::now() < linger && self.inflight.is_detached(user_data) {
                    lingering = true;
                    continue;
                }
                if cancelled.insert(user_data) {
                    self.cancel(user_data);
                }
            }
            if self.wake_armed && cancelled.insert(WAKE) {
                self.cancel(WAKE);
            }
            let until = if lingering { linger } else { deadline };
            let wait = until.saturating_duration_since(Instant::now());
            match wait.min(Duration::from_millis(100)) {
                Duration::ZERO => self.enter(None),
                wait => self.enter(Some(Some(wait))),
            }
            self.reap();
            released.append(&mut self.released);
        }
        released.append(&mut self.released);
        if !self.links.is_empty() && !self.leak {
            // Every op is done; the completions of their link timeouts come with theirs, but
            // one lost with dropped completions (`lost.rs`) must not hold the runtime up:
            // one more look, then what is left is leaked, never freed.
            self.enter(Some(Some(Duration::from_millis(10))));
            self.reap();
            released.append(&mut self.released);
            self.links.leak();
        }
    }
}

impl Drop for Uring {
    fn drop(&mut self) {
        let mut released = Vec::new();
        self.drain(Instant::now() + DRAIN_LIMIT, &mut released);
        drop(released);
        if self.leak {
            std::mem::forget(std::mem::take(&mut self.fixed_buffers));
            // The table's install values stay too; its ring fd stays open (the ring is
            // leaked), so later releases still empty their slots.
            std::mem::forget(self.fixed_files.take());
            self.links.leak();
            return; // ring, in-flight resources and the wake buffer stay allocated forever
        }
        if let Some(files) = &self.fixed_files {
            // Unmapping the ring releases every slot; fds dropped later have nothing to empty.
            files.close();
        }
        if self.features.registered_ring_fd {
            unregister_ring_fd(self.ring.as_raw_fd(), self.enter_fd);
        }
        // SAFETY: the drain reaped the final completion of every op and of the wake read
        // (`[drain-before-unmap]`), so the kernel no longer touches the in-flight resources
        // or the wake buffer (`[driver-owned]`); the driver's own requests still in flight
        // (cancels, slot updates and closes) carry no pointer into memory freed here (a
        // slot update's value lives in the table, which outlives the ring). Each
        // ManuallyDrop is dropped exactly once, here.
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
pub(super) fn hold_for_notif(
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
        return Some((first.0, (first.1 | flags) & !CQE_F_MORE));
    }
    if cqueue::more(flags) {
        *held = Some((res, flags));
        return None;
    }
    notifying.remove(&user_data);
    Some((res, flags))
}
