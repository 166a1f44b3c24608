//! Registered ("fixed") file slots for sockets on the io_uring backend.
//!
//! A ring may hold a table of files of its own (`IORING_REGISTER_FILES`, sparse here): an
//! SQE naming a slot with `IOSQE_FIXED_FILE` skips the per-op file lookup and reference count
//! (`fget`/`fput`) that a plain fd costs. The runtime keeps the plain fd as well, so the
//! epoll variant, `AsRawFd` and blocking fallbacks work unchanged; the slot is a shortcut
//! the io_uring driver takes when it has one.
//!
//! A socket gets a slot at its first send/recv/shutdown: the driver queues an
//! `IORING_OP_FILES_UPDATE` ahead of that op (no extra system call; it rides in the same
//! submission), and ops use the slot only once that update has completed. When the last
//! [`SharedFd`] goes, the slot is emptied (an `IORING_OP_CLOSE` on the slot, queued for the
//! next turn, or a synchronous `IORING_REGISTER_FILES_UPDATE` when no turn is coming) before
//! the fd is closed, so the table never keeps a socket open behind its owner's back; a slot
//! is handed out again only after its emptying completed.
//!
//! `[slot-lifetime]`: a slot is named in an SQE only while the [`SharedFd`] that owns it
//! lives (the op holds it), only after the update filling it completed, only by its own
//! ring (the SQE is built for a [`Ring`](super::Ring), which names a slot only of its own
//! table: an fd that meets another runtime names its number there), and it is emptied
//! before that fd is closed; a slot is reused only after its emptying completed.
//!
//! Only on Linux 6.13 and later (see `FIXED_FILES_SINCE` in the io_uring backend): earlier
//! kernels release an emptied slot's file in order behind every older request that named
//! a slot, so a pending receive could hold closed sockets open.

use std::cell::{Cell, OnceCell, RefCell};
use std::fmt;
use std::io;
use std::os::fd::RawFd;
use std::rc::Rc;

use std::os::fd::AsRawFd;

use io_uring::{opcode, types, IoUring};

use super::{Uring, FIXED_CLEAR, FIXED_INSTALL};
use crate::driver::fd::SharedFd;
use crate::sys::{self, syscall};

/// `IORING_REGISTER_FILES_UPDATE` (`io_uring_register(2)`).
const REGISTER_FILES_UPDATE: libc::c_uint = 6;

/// `struct io_uring_files_update`: the argument of `IORING_REGISTER_FILES_UPDATE`.
#[repr(C)]
struct FilesUpdate {
    offset: u32,
    resv: u32,
    fds: u64,
}

/// The fd value that empties a slot.
static EMPTY: RawFd = -1;

/// Where one slot of the table stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    Free,
    /// The update that fills it is queued or in flight; its owner lives.
    Installing,
    /// As `Installing`, but the owner is gone: the slot is emptied when the update completes.
    Orphaned,
    /// Filled: SQEs may name it.
    Ready,
    /// The kernel refused the update: never named; freed with its owner.
    Failed,
    /// The close that empties it is queued or in flight.
    Clearing,
}

struct State {
    slots: Vec<Slot>,
    free: Vec<u32>,
    /// The fd each install SQE points at, one per slot: heap memory that lives as long as
    /// the table, which the driver keeps until after the ring is gone, or forever if the
    /// ring is leaked (`[driver-owned]`).
    values: Box<[RawFd]>,
    /// Slots whose owner was dropped while filled: a close of the slot is queued for each
    /// at the next turn.
    to_clear: Vec<u32>,
    /// Set while a `block_on` drives the ring, so a turn (or the flush at its end) will
    /// queue `to_clear`; otherwise a release empties its slot synchronously.
    driving: bool,
    /// Set when the ring is gone: releases then have nothing to do.
    closed: bool,
}

/// A ring's table of fixed files, shared by the driver and the fds holding a slot.
pub(crate) struct FixedFiles {
    /// The ring's own fd (not the registered index), for synchronous updates.
    ring_fd: RawFd,
    /// Which slots SQEs may name (filled, and their owner alive), and whether the ring is
    /// gone: kept beside `state` so that the check of every SQE borrows nothing.
    ready: Box<[Cell<bool>]>,
    closed: Cell<bool>,
    /// Whether `to_clear` may hold a slot: each turn checks it without a borrow.
    clearing: Cell<bool>,
    state: RefCell<State>,
}

impl FixedFiles {
    /// A table of `len` empty slots, already registered with the ring `ring_fd`.
    pub(crate) fn new(ring_fd: RawFd, len: u32) -> FixedFiles {
        FixedFiles {
            ring_fd,
            ready: (0..len).map(|_| Cell::new(false)).collect(),
            closed: Cell::new(false),
            clearing: Cell::new(false),
            state: RefCell::new(State {
                slots: vec![Slot::Free; len as usize],
                free: (0..len).rev().collect(),
                values: vec![-1; len as usize].into_boxed_slice(),
                to_clear: Vec::new(),
                driving: false,
                closed: false,
            }),
        }
    }

    /// Takes a free slot for `fd`: the slot and where its install SQE reads the fd from, or
    /// `None` when the table is full (the fd then keeps using its number).
    pub(crate) fn alloc(&self, fd: RawFd) -> Option<(u32, *const RawFd)> {
        let mut st = self.state.borrow_mut();
        if st.closed {
            return None;
        }
        let slot = st.free.pop()?;
        st.slots[slot as usize] = Slot::Installing;
        st.values[slot as usize] = fd;
        Some((slot, &st.values[slot as usize]))
    }

    /// Whether SQEs may name `slot`: the ring is not gone and the slot's install completed.
    #[inline]
    pub(super) fn is_ready(&self, slot: u32) -> bool {
        !self.closed.get() && self.ready[slot as usize].get()
    }

    /// The install of `slot` completed with `res`. A slot whose owner left meanwhile is
    /// queued to be emptied at the next turn (if the install succeeded) or freed.
    pub(crate) fn installed(&self, slot: u32, res: i32) {
        let mut st = self.state.borrow_mut();
        let s = &mut st.slots[slot as usize];
        match (*s, res >= 0) {
            (Slot::Installing, true) => {
                *s = Slot::Ready;
                self.ready[slot as usize].set(true);
            }
            (Slot::Installing, false) => {
                crate::trace::event!(
                    warn,
                    slot,
                    errno = -res,
                    "registered file slot install failed; the socket goes by its fd"
                );
                *s = Slot::Failed;
            }
            (Slot::Orphaned, true) => {
                *s = Slot::Clearing;
                self.queue_clear(&mut st, slot);
            }
            (Slot::Orphaned, false) => st.put_back(slot),
            (other, _) => debug_assert!(false, "install completed on a {other:?} slot"),
        }
    }

    /// The close of `slot` completed with `res`: it may be handed out again. Should the
    /// close have failed, the slot is emptied synchronously (else it would keep its socket
    /// open until reused).
    pub(crate) fn cleared(&self, slot: u32, res: i32) {
        if res < 0 {
            crate::trace::event!(
                error,
                slot,
                errno = -res,
                "registered file slot close failed; emptying it synchronously"
            );
            if let Err(_e) = self.clear_now(slot) {
                crate::trace::event!(error, slot, err = %_e, "registered file slot update failed");
            }
        }
        let mut st = self.state.borrow_mut();
        debug_assert_eq!(st.slots[slot as usize], Slot::Clearing);
        st.put_back(slot);
    }

    /// Empties the slots queued for the next turn synchronously: for the end of a
    /// `block_on` that cannot enter the ring (it is unwinding).
    pub(crate) fn clear_pending_now(&self) {
        let mut st = self.state.borrow_mut();
        if st.closed {
            return;
        }
        let pending = std::mem::take(&mut st.to_clear);
        for slot in pending {
            match self.clear_now(slot) {
                Ok(()) => st.put_back(slot),
                Err(_e) => {
                    crate::trace::event!(
                        error,
                        slot,
                        err = %_e,
                        "registered file slot update failed; retried at the next turn"
                    );
                    self.queue_clear(&mut st, slot);
                }
            }
        }
    }

    /// Queues `slot` to be emptied at the next turn.
    fn queue_clear(&self, st: &mut State, slot: u32) {
        st.to_clear.push(slot);
        self.clearing.set(true);
    }

    /// The next slot to empty at this turn.
    pub(crate) fn pop_to_clear(&self) -> Option<u32> {
        if !self.clearing.get() {
            return None;
        }
        let slot = self.state.borrow_mut().to_clear.pop();
        if slot.is_none() {
            self.clearing.set(false);
        }
        slot
    }

    /// Marks whether a `block_on` is driving the ring.
    pub(crate) fn set_driving(&self, on: bool) {
        self.state.borrow_mut().driving = on;
    }

    /// The ring is being dropped: it releases every slot itself.
    pub(crate) fn close(&self) {
        self.state.borrow_mut().closed = true;
        self.closed.set(true);
    }

    /// Slots holding (or about to hold) a file.
    pub(crate) fn in_use(&self) -> usize {
        let st = self.state.borrow();
        st.slots.len() - st.free.len()
    }

    /// The owner of `slot` is gone (its fd is about to be closed): empties the slot, at the
    /// next turn when one is coming, else now.
    pub(crate) fn release(&self, slot: u32) {
        let mut st = self.state.borrow_mut();
        if st.closed {
            return;
        }
        let s = st.slots[slot as usize];
        self.ready[slot as usize].set(false); // its owner is gone: never named again
        match s {
            Slot::Installing => st.slots[slot as usize] = Slot::Orphaned,
            Slot::Failed => st.put_back(slot),
            Slot::Ready if st.driving => {
                st.slots[slot as usize] = Slot::Clearing;
                self.queue_clear(&mut st, slot);
            }
            Slot::Ready => {
                // No turn is coming to queue a close: empty the slot now, so the socket
                // closes with its fd. Nothing can name the slot any more (its owner is gone,
                // and with it every op that held it), so the slot is free at once.
                match self.clear_now(slot) {
                    Ok(()) => st.put_back(slot),
                    Err(_) => {
                        // Left for the next turn; until then the table keeps the file open.
                        st.slots[slot as usize] = Slot::Clearing;
                        self.queue_clear(&mut st, slot);
                    }
                }
            }
            Slot::Free | Slot::Orphaned | Slot::Clearing => {
                debug_assert!(false, "release of a {s:?} slot");
            }
        }
    }

    /// `IORING_REGISTER_FILES_UPDATE` of `slot` to empty.
    fn clear_now(&self, slot: u32) -> io::Result<()> {
        let update = FilesUpdate {
            offset: slot,
            resv: 0,
            fds: &EMPTY as *const RawFd as u64,
        };
        // SAFETY: `ring_fd` is the ring's fd, open while the table is not closed (the driver
        // closes the table before dropping the ring, `[driver-owned]`); `update` and the fd
        // it points at live for the duration of the call, which copies them.
        syscall!(syscall(
            libc::SYS_io_uring_register,
            self.ring_fd,
            REGISTER_FILES_UPDATE,
            &update as *const FilesUpdate,
            1
        ))
        .map(drop)
    }
}

impl State {
    fn put_back(&mut self, slot: u32) {
        self.slots[slot as usize] = Slot::Free;
        self.values[slot as usize] = -1;
        self.free.push(slot);
    }
}

/// A slot of a ring's table, held by the [`SharedFd`] it was taken for.
struct FixedRef {
    slot: u32,
    files: Rc<FixedFiles>,
}

/// The io_uring backend's state of one fd ([`SharedFd`]): the registered slot the driver
/// took for it, if any, in the table of the ring that took it.
#[derive(Default)]
pub(crate) struct FdSlot(OnceCell<FixedRef>);

impl FdSlot {
    /// The slot SQEs built for the ring of `files` may name: this fd's, in that very table,
    /// filled.
    #[inline]
    pub(super) fn in_table(&self, files: &FixedFiles) -> Option<u32> {
        let r = self.0.get()?;
        (std::ptr::eq(Rc::as_ptr(&r.files), files) && files.is_ready(r.slot)).then_some(r.slot)
    }

    /// Whether a driver already gave this fd a slot (ready or not, in any ring).
    fn is_set(&self) -> bool {
        self.0.get().is_some()
    }

    /// Records the slot a driver took for this fd; a second one is handed back at once.
    fn set(&self, slot: u32, files: Rc<FixedFiles>) {
        if let Err(extra) = self.0.set(FixedRef { slot, files }) {
            extra.files.release(extra.slot);
        }
    }

    /// The fd is about to be closed (or to leave the driver's care): empties its slot, at
    /// the next turn when one is coming, else now ([`FixedFiles::release`]).
    pub(crate) fn release(&mut self) {
        if let Some(r) = self.0.take() {
            r.files.release(r.slot);
        }
    }
}

impl fmt::Debug for FdSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("FdSlot")
            .field(&self.0.get().map(|r| r.slot))
            .finish()
    }
}

/// The first kernel whose registered files are released one by one (Linux 6.13 reworked
/// resource nodes). Before it, an emptied slot's file is released only after every older
/// request that named any slot completed, so one idle connection's pending receive could
/// keep every socket closed after it open: the table stays off there.
const FIXED_FILES_SINCE: (u32, u32) = (6, 13);

/// Registers a sparse table of `len` file slots (capped at `RLIMIT_NOFILE`); `None` before
/// [`FIXED_FILES_SINCE`] or where the kernel refuses (e.g. over a memory limit).
pub(super) fn register_fixed_files(ring: &IoUring, len: u32) -> Option<Rc<FixedFiles>> {
    if sys::kernel_version()? < FIXED_FILES_SINCE {
        return None;
    }
    let limit = sys::nofile_limit().unwrap_or(1024);
    let len = len.min(limit.min(u32::MAX as u64) as u32);
    if len == 0 {
        return None;
    }
    if let Err(_e) = ring.submitter().register_files_sparse(len) {
        crate::trace::event!(debug, len, err = %_e, "registered file table refused by the kernel");
        return None;
    }
    Some(Rc::new(FixedFiles::new(ring.as_raw_fd(), len)))
}

/// A completion of the driver's own slot requests (`user_data` of [`FIXED_INSTALL`] or
/// [`FIXED_CLEAR`], the slot in the low 32 bits).
pub(super) fn completed(files: &Option<Rc<FixedFiles>>, user_data: u64, res: i32) {
    let Some(files) = files else {
        return;
    };
    if user_data & super::FIXED_KIND == FIXED_INSTALL {
        files.installed(user_data as u32, res);
    } else {
        files.cleared(user_data as u32, res);
    }
}

/// The registered-slot glue of the driver.
impl Uring {
    /// Gives `fd` a registered slot, if the table has one free and the fd has none: queues
    /// the update that fills it, just ahead of the op that asked (which names the fd; later
    /// ops name the slot once the update completed).
    #[inline]
    pub(super) fn install_fixed(&mut self, fd: &SharedFd) {
        if self.fixed_files.is_some() && !fd.uring().is_set() {
            self.install_fixed_slow(fd);
        }
    }

    /// [`install_fixed`](Uring::install_fixed) for an fd without a slot, out of line.
    #[cold]
    fn install_fixed_slow(&mut self, fd: &SharedFd) {
        let Some(files) = &self.fixed_files else {
            return;
        };
        let Some((slot, ptr)) = files.alloc(fd.raw()) else {
            return;
        };
        let files = files.clone();
        let sqe = opcode::FilesUpdate::new(ptr, 1)
            .offset(slot as i32)
            .build()
            .user_data(FIXED_INSTALL | slot as u64);
        // SAFETY: `ptr` points into the table's value array, memory the driver keeps until
        // after the ring is gone, or forever if the ring is leaked (`[driver-owned]`); the
        // fd it names is held open by the op pushed right behind this update, which holds
        // the `SharedFd` until its own completion, after this update was issued
        // (`[fd-outlives-op]`, `[slot-lifetime]`).
        unsafe { self.push(&sqe) };
        fd.uring().set(slot, files);
    }

    /// Queues the emptying of the registered slots whose owners left. Most turns only
    /// read a flag; the work is out of line, in `clear_fixed_slow`.
    #[inline]
    pub(super) fn clear_fixed(&mut self) {
        if self.fixed_files.as_ref().is_some_and(|f| f.clearing.get()) {
            self.clear_fixed_slow();
        }
    }

    /// Pushes a close of each slot queued for emptying (see `clear_fixed`).
    #[cold]
    fn clear_fixed_slow(&mut self) {
        while let Some(slot) = self.fixed_files.as_ref().and_then(|f| f.pop_to_clear()) {
            let sqe = opcode::Close::new(types::Fixed(slot))
                .build()
                .user_data(FIXED_CLEAR | slot as u64);
            // SAFETY: a close of a fixed slot carries no pointers; nothing names the slot
            // any more (its owner and every op that held it are gone, `[slot-lifetime]`).
            unsafe { self.push(&sqe) };
        }
    }

    /// The registered table, for the guard of a `block_on` ([`FixedFiles::set_driving`]).
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
}
