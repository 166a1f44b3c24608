//! The raw io-uring row: the random-read cells as a bare loop on a ring set up as
//! proactor's is (`SINGLE_ISSUER`, `DEFER_TASKRUN`, `COOP_TASKRUN`) and submitting as it
//! does (every [`FILE_BATCH`] reads queued, and the rest with the wait for one completion),
//! with no runtime. What a runtime on this ring can at best do; the gap between it and
//! proactor-uring is the runtime's own cost.

use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::time::Instant;

use io_uring::{opcode, types, IoUring};

use super::engines::{sample, AlignedBuf, Offsets, Tally, Window};
use super::{Cell, Sample, Setup};

/// proactor's default `Builder::file_batch`.
const FILE_BATCH: usize = 4;

pub(crate) fn run(cell: Cell, setup: &Setup) -> Sample {
    assert!(
        cell.direct(),
        "the raw row runs the O_DIRECT read cells only"
    );
    let mut ring: IoUring = IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_coop_taskrun()
        .setup_taskrun_flag()
        .build(64)
        .unwrap_or_else(|e| super::die(&format!("io_uring: {e}")));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(&setup.path)
        .unwrap_or_else(|e| super::die(&format!("open: {e}")));
    let fd = types::Fd(file.as_raw_fd());
    let depth = cell.depth();
    let mut bufs: Vec<AlignedBuf> = (0..depth).map(|_| AlignedBuf::new(cell.block())).collect();
    let mut offsets = Offsets::new(cell, 0, setup);
    let mut started = vec![Instant::now(); depth];
    let mut tally = Tally::default();
    let w = Window::new(cell, setup);
    let (mut in_flight, mut enters) = (0, 0);
    let mut free: Vec<usize> = (0..depth).collect();
    loop {
        // Refill every free slot, until the window ends.
        let refill = if Instant::now() < w.end {
            free.len()
        } else {
            0
        };
        for slot in free.drain(..refill) {
            let pos = offsets.next().expect("random offsets never end");
            let buf = bufs[slot].as_mut_slice();
            let sqe = opcode::Read::new(fd, buf.as_mut_ptr(), buf.len() as u32)
                .offset(pos)
                .build()
                .user_data(slot as u64);
            started[slot] = Instant::now();
            // SAFETY: the SQE points into `bufs[slot]`, which lives until after the loop,
            // and names `file`, open until then; the slot is reused only after its
            // completion was reaped.
            unsafe { ring.submission().push(&sqe).expect("room in the queue") };
            in_flight += 1;
            if ring.submission().len() >= FILE_BATCH {
                ring.submit()
                    .unwrap_or_else(|e| super::die(&format!("io_uring_enter: {e}")));
                enters += 1;
            }
        }
        if in_flight == 0 {
            break;
        }
        ring.submit_and_wait(1)
            .unwrap_or_else(|e| super::die(&format!("io_uring_enter: {e}")));
        enters += 1;
        let t1 = Instant::now();
        for cqe in ring.completion() {
            let slot = cqe.user_data() as usize;
            if cqe.result() < 0 {
                super::die(&format!("read: errno {}", -cqe.result()));
            }
            tally.record(started[slot], t1, cqe.result() as usize, w);
            free.push(slot);
            in_flight -= 1;
        }
    }
    sample(vec![tally], w, Some(enters))
}
