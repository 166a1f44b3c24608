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
//! [`SharedFd`](crate::fd::SharedFd) goes, the slot is emptied (an `IORING_OP_CLOSE` on the
//! slot, queued for the next turn, or a synchronous `IORING_REGISTER_FILES_UPDATE` when no
//! turn is coming) before the fd is closed, so the table never keeps a socket open behind
//! its owner's back; a slot is handed out again only after its emptying completed.
//! Invariant 7 (see [`driver`](super)): a slot is named in an SQE only while the
//! [`SharedFd`](crate::fd::SharedFd) that owns it lives, which the op holds, and only by
//! its own ring: an fd that meets another runtime names its number there.
//!
//! Only on Linux 6.13 and later (see `FIXED_FILES_SINCE` in the io_uring backend): earlier
//! kernels release an emptied slot's file in order behind every older request that named
//! a slot, so a pending receive could hold closed sockets open.

use std::cell::{Cell, RefCell};
use std::io;
use std::os::fd::RawFd;

use crate::sys::syscall;

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
    /// the table, which the driver keeps until after the ring is gone (invariant 1).
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
    /// Set while this ring's driver builds an SQE: only then may an op name a slot of this
    /// table (an fd may meet another runtime's ring, where the slot number means nothing).
    building: Cell<bool>,
    state: RefCell<State>,
}

impl FixedFiles {
    /// A table of `len` empty slots, already registered with the ring `ring_fd`.
    pub(crate) fn new(ring_fd: RawFd, len: u32) -> FixedFiles {
        FixedFiles {
            ring_fd,
            building: Cell::new(false),
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

    /// Whether the SQE being built may name `slot`: this table's ring is building it, the
    /// ring is not gone, and the slot's install completed.
    pub(crate) fn is_ready(&self, slot: u32) -> bool {
        if !self.building.get() {
            return false;
        }
        let st = self.state.borrow();
        !st.closed && st.slots[slot as usize] == Slot::Ready
    }

    /// Runs `build` (an op's `sqe()`) with this table as the one its slots may be named from.
    pub(crate) fn building<R>(&self, build: impl FnOnce() -> R) -> R {
        struct Reset<'a>(&'a Cell<bool>);
        impl Drop for Reset<'_> {
            fn drop(&mut self) {
                self.0.set(false);
            }
        }
        self.building.set(true);
        let _reset = Reset(&self.building);
        build()
    }

    /// The install of `slot` completed with `res`. A slot whose owner left meanwhile is
    /// queued to be emptied at the next turn (if the install succeeded) or freed.
    pub(crate) fn installed(&self, slot: u32, res: i32) {
        let mut st = self.state.borrow_mut();
        let s = &mut st.slots[slot as usize];
        match (*s, res >= 0) {
            (Slot::Installing, true) => *s = Slot::Ready,
            (Slot::Installing, false) => *s = Slot::Failed,
            (Slot::Orphaned, true) => {
                *s = Slot::Clearing;
                st.to_clear.push(slot);
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
            let _ = self.clear_now(slot);
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
            if self.clear_now(slot).is_ok() {
                st.put_back(slot);
            } else {
                st.to_clear.push(slot);
            }
        }
    }

    /// The next slot to empty at this turn.
    pub(crate) fn pop_to_clear(&self) -> Option<u32> {
        self.state.borrow_mut().to_clear.pop()
    }

    /// Marks whether a `block_on` is driving the ring.
    pub(crate) fn set_driving(&self, on: bool) {
        self.state.borrow_mut().driving = on;
    }

    /// The ring is being dropped: it releases every slot itself.
    pub(crate) fn close(&self) {
        self.state.borrow_mut().closed = true;
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
        match s {
            Slot::Installing => st.slots[slot as usize] = Slot::Orphaned,
            Slot::Failed => st.put_back(slot),
            Slot::Ready if st.driving => {
                st.slots[slot as usize] = Slot::Clearing;
                st.to_clear.push(slot);
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
                        st.to_clear.push(slot);
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
        // closes the table before dropping the ring); `update` and the fd it points at live
        // for the duration of the call, which copies them.
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

/// A slot of a ring's table, held by the [`SharedFd`](crate::fd::SharedFd) it was taken for.
pub(crate) struct FixedRef {
    pub(crate) slot: u32,
    pub(crate) files: std::rc::Rc<FixedFiles>,
}

impl FixedRef {
    /// Its owner is gone: see [`FixedFiles::release`].
    pub(crate) fn release(self) {
        self.files.release(self.slot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(len: u32) -> FixedFiles {
        FixedFiles::new(-1, len)
    }

    fn slot_of(r: Option<(u32, *const RawFd)>) -> u32 {
        r.expect("a free slot").0
    }

    fn to_clear(t: &FixedFiles) -> Vec<u32> {
        std::iter::from_fn(|| t.pop_to_clear()).collect()
    }

    #[test]
    fn a_slot_is_named_only_between_install_and_release() {
        let t = table(2);
        t.set_driving(true);
        let s = slot_of(t.alloc(7));
        assert!(
            !t.building(|| t.is_ready(s)),
            "not before the install completed"
        );
        t.installed(s, 0);
        assert!(to_clear(&t).is_empty());
        assert!(t.building(|| t.is_ready(s)));
        assert!(!t.is_ready(s), "only while this table's ring builds an SQE");
        t.release(s);
        assert!(!t.building(|| t.is_ready(s)));
        assert_eq!(to_clear(&t), [s]);
        assert_eq!(t.in_use(), 1, "held until the close completes");
        t.cleared(s, 0);
        assert_eq!(t.in_use(), 0);
    }

    #[test]
    fn an_owner_gone_during_install_gets_its_slot_emptied() {
        let t = table(1);
        let s = slot_of(t.alloc(7));
        t.release(s);
        assert!(t.alloc(8).is_none(), "not reused before it is emptied");
        t.installed(s, 0);
        assert_eq!(
            to_clear(&t),
            [s],
            "installed after the owner left: empty it"
        );
        assert!(t.alloc(8).is_none());
        t.cleared(s, 0);
        assert!(t.alloc(8).is_some());
    }

    #[test]
    fn a_refused_install_is_never_named_and_freed_with_its_owner() {
        let t = table(1);
        let s = slot_of(t.alloc(7));
        t.installed(s, -libc::EBADF);
        assert!(to_clear(&t).is_empty());
        assert!(!t.building(|| t.is_ready(s)));
        t.release(s);
        assert_eq!(t.in_use(), 0);
        assert!(t.alloc(8).is_some());
    }

    #[test]
    fn a_full_table_hands_out_nothing_and_a_closed_one_ignores_releases() {
        let t = table(1);
        let s = slot_of(t.alloc(7));
        assert!(t.alloc(8).is_none());
        t.installed(s, 0);
        t.close();
        assert!(!t.building(|| t.is_ready(s)), "the ring is gone");
        t.release(s); // the ring is gone: no synchronous update on a stale fd
        assert!(t.alloc(9).is_none());
    }
}
