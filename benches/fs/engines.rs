//! The in-process rows: proactor (io_uring with plain or registered buffers, epoll) and
//! tokio, each running the same worker loop ([`worker`]): `depth` workers on one runtime
//! thread, each with its own buffer, timing every operation.

use std::future::Future;
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use proactor::buf::{FixedBuf, FixedBufPool, IoBuf, IoBufMut};
use proactor::fs::File;
use proactor::{Builder, Driver, DriverKind, Runtime};

use super::{Cell, Row, Sample, Setup};

/// A page-aligned heap buffer, all of it initialised: what `O_DIRECT` needs, and the plain
/// path's buffer (an application's own memory, not registered with the ring).
pub(crate) struct AlignedBuf {
    ptr: *mut u8,
    len: usize,
}

impl AlignedBuf {
    const ALIGN: usize = 4096;

    pub(crate) fn new(len: usize) -> AlignedBuf {
        let layout = std::alloc::Layout::from_size_align(len, Self::ALIGN).expect("layout");
        // SAFETY: `len` is non-zero (every block size here is).
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        assert!(!ptr.is_null(), "out of memory");
        AlignedBuf { ptr, len }
    }

    pub(crate) fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: `ptr` owns `len` initialised bytes, borrowed mutably through `self`.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }

    fn as_slice(&self) -> &[u8] {
        // SAFETY: `ptr` owns `len` initialised bytes, borrowed through `self`.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        let layout = std::alloc::Layout::from_size_align(self.len, Self::ALIGN).expect("layout");
        // SAFETY: allocated in `new` with this layout, freed once.
        unsafe { std::alloc::dealloc(self.ptr, layout) };
    }
}

// SAFETY: the buffer owns its allocation outright; moving it to another thread (tokio's
// blocking pool) moves that ownership.
unsafe impl Send for AlignedBuf {}

// SAFETY: the allocation never moves or changes size while the value lives; all `len`
// bytes are initialised (zeroed at allocation).
unsafe impl IoBuf for AlignedBuf {
    fn stable_ptr(&self) -> *const u8 {
        self.ptr
    }
    fn bytes_init(&self) -> usize {
        self.len
    }
    fn bytes_total(&self) -> usize {
        self.len
    }
}

// SAFETY: as for `IoBuf`; every byte is always initialised, so `set_init` has nothing to do.
unsafe impl IoBufMut for AlignedBuf {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.ptr
    }
    unsafe fn set_init(&mut self, _pos: usize) {}
}

/// Pins the calling thread to `cpu` (threads it starts later inherit the mask).
pub(crate) fn pin_to(cpu: usize) {
    // SAFETY: `set` is a local cpu_set_t, zeroed and then filled by the libc macros; the
    // call reads `size_of` bytes of it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) != 0 {
            super::die(&format!("pin to CPU {cpu}: {}", io::Error::last_os_error()));
        }
    }
}

/// The in-process rows this machine cannot run, and why.
pub(crate) fn unavailable() -> Vec<(Row, String)> {
    let mut out = Vec::new();
    let uring = Runtime::builder().driver(Driver::Uring).build();
    match &uring {
        Err(e) => {
            out.push((Row::Uring, e.to_string()));
            out.push((Row::UringFixed, e.to_string()));
        }
        Ok(rt) => {
            let registered =
                rt.block_on(async { FixedBufPool::new(1, 4096).is_ok_and(|p| p.is_registered()) });
            if !registered {
                out.push((Row::UringFixed, "the ring refused the buffers".into()));
            }
        }
    }
    if let Err(e) = Runtime::builder().driver(Driver::Epoll).build() {
        out.push((Row::Epoll, e.to_string()));
    }
    out
}

/// One run of an in-process row in `cell`.
pub(crate) fn run(row: Row, cell: Cell, setup: &Setup) -> Sample {
    let mut b = Runtime::builder();
    match row {
        Row::Uring => proactor(b.driver(Driver::Uring), false, cell, setup),
        Row::UringTurn => proactor(b.driver(Driver::Uring).file_batch(0), false, cell, setup),
        Row::UringFixed => proactor(b.driver(Driver::Uring), true, cell, setup),
        Row::Epoll => proactor(b.driver(Driver::Epoll), false, cell, setup),
        Row::Tokio => tokio(cell, setup),
        Row::Raw => super::raw::run(cell, setup),
        Row::Fio | Row::FioFixed => unreachable!("fio runs as a subprocess"),
    }
}

/// The measured stretch of a run: after the warm-up, for the run's duration.
#[derive(Clone, Copy)]
pub(crate) struct Window {
    start: Instant,
    pub(crate) end: Instant,
}

impl Window {
    pub(crate) fn new(cell: Cell, setup: &Setup) -> Window {
        let warmup = match cell.warms_up() {
            true => setup.warmup,
            false => Duration::ZERO,
        };
        let start = Instant::now() + warmup;
        Window {
            start,
            end: start + setup.duration,
        }
    }
}

/// Where a worker's operations go.
pub(crate) enum Offsets {
    /// Uniformly random `block`-aligned offsets in the file (xorshift64*).
    Random { state: u64, blocks: u64, block: u64 },
    /// From 0 on, each operation after the bytes the last one moved; `wrap`: back to 0 at
    /// the end of the file, else the worker stops there.
    Sequential { next: u64, size: u64, wrap: bool },
}

impl Offsets {
    pub(crate) fn new(cell: Cell, worker: usize, setup: &Setup) -> Offsets {
        let block = cell.block() as u64;
        match cell {
            Cell::Qd1 | Cell::Qd32 => {
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos() as u64);
                let seed = std::process::id() as u64 ^ nanos ^ ((worker as u64 + 1) << 32);
                Offsets::Random {
                    state: seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1,
                    blocks: setup.size / block,
                    block,
                }
            }
            Cell::Seq | Cell::Sync => Offsets::Sequential {
                next: 0,
                size: setup.size,
                wrap: cell.writes(),
            },
        }
    }

    /// The next offset, or `None` at the end of a sequential pass.
    pub(crate) fn next(&mut self) -> Option<u64> {
        match self {
            Offsets::Random {
                state,
                blocks,
                block,
            } => {
                *state ^= *state >> 12;
                *state ^= *state << 25;
                *state ^= *state >> 27;
                let r = state.wrapping_mul(0x2545_f491_4f6c_dd1d);
                Some((r % *blocks) * *block)
            }
            Offsets::Sequential { next, size, wrap } => {
                if *next >= *size {
                    if !*wrap {
                        return None;
                    }
                    *next = 0;
                }
                Some(*next)
            }
        }
    }

    /// The last operation moved `n` bytes.
    fn advance(&mut self, n: usize) {
        if let Offsets::Sequential { next, .. } = self {
            *next += n as u64;
        }
    }
}

/// What one worker did within the window.
#[derive(Default)]
pub(crate) struct Tally {
    /// Operations completed within the window.
    ops: u64,
    /// Operations completed in the whole run, warm-up included.
    all_ops: u64,
    bytes: u64,
    /// When the last counted operation completed.
    last: Option<Instant>,
    /// The latency of each operation started within the window, ns.
    lat_ns: Vec<u32>,
}

impl Tally {
    /// An operation of `n` bytes ran from `t0` to `t1`: its latency counts if it started
    /// within the window, its bytes if it completed within it.
    pub(crate) fn record(&mut self, t0: Instant, t1: Instant, n: usize, w: Window) {
        self.all_ops += 1;
        if t0 >= w.start {
            self.lat_ns
                .push((t1 - t0).as_nanos().min(u32::MAX as u128) as u32);
        }
        if t1 >= w.start && t1 <= w.end {
            self.ops += 1;
            self.bytes += n as u64;
            self.last = Some(t1);
        }
    }
}

/// The one worker loop of every in-process row: runs `op` (which owns `state`, the file
/// and the buffer, and gives it back) at the offsets of `offsets` until the window ends or
/// a sequential pass reaches the end of the file, timing each operation.
async fn worker<S, F, Fut>(mut state: S, mut op: F, mut offsets: Offsets, w: Window) -> Tally
where
    F: FnMut(S, u64) -> Fut,
    Fut: Future<Output = (io::Result<usize>, S)>,
{
    let mut tally = Tally {
        lat_ns: Vec::with_capacity(1 << 16),
        ..Tally::default()
    };
    while let Some(pos) = offsets.next() {
        let t0 = Instant::now();
        if t0 >= w.end {
            break;
        }
        let (res, back) = op(state, pos).await;
        state = back;
        let t1 = Instant::now();
        let n = res.unwrap_or_else(|e| super::die(&format!("I/O at {pos}: {e}")));
        if n == 0 {
            break; // end of file
        }
        offsets.advance(n);
        tally.record(t0, t1, n, w);
    }
    tally
}

/// The workers' tallies as one sample; `enters`: the `io_uring_enter` calls of the whole
/// run, where known.
pub(crate) fn sample(tallies: Vec<Tally>, w: Window, enters: Option<u64>) -> Sample {
    let all_ops: u64 = tallies.iter().map(|t| t.all_ops).sum();
    let last = tallies.iter().filter_map(|t| t.last).max();
    let secs = last.map_or(0.0, |l| (l - w.start).as_secs_f64());
    let ops: u64 = tallies.iter().map(|t| t.ops).sum();
    let bytes: u64 = tallies.iter().map(|t| t.bytes).sum();
    let mut lat: Vec<u32> = tallies.into_iter().flat_map(|t| t.lat_ns).collect();
    lat.sort_unstable();
    let pct = |p: f64| match lat.len() {
        0 => f64::NAN,
        n => lat[((n - 1) as f64 * p).round() as usize] as f64 / 1000.0,
    };
    Sample {
        ops_per_sec: ops as f64 / secs.max(1e-9),
        mb_per_sec: bytes as f64 / secs.max(1e-9) / 1e6,
        p50_us: pct(0.50),
        p99_us: pct(0.99),
        enters_per_op: enters.map_or(f64::NAN, |e| e as f64 / all_ops.max(1) as f64),
    }
}

/// How a cell opens the file: (write, custom flags).
fn open_mode(cell: Cell) -> (bool, i32) {
    let flags = if cell.direct() { libc::O_DIRECT } else { 0 };
    (cell.writes(), flags)
}

/// A proactor row's buffer: the plain path's own memory, or one of a registered pool.
enum Buf {
    Plain(AlignedBuf),
    Fixed(FixedBuf),
}

impl Buf {
    async fn read(self, file: &File, pos: u64) -> (io::Result<usize>, Buf) {
        match self {
            Buf::Plain(b) => {
                let (res, b) = file.read_at(b, pos).await;
                (res, Buf::Plain(b))
            }
            Buf::Fixed(b) => {
                let (res, b) = file.read_fixed_at(b, pos).await;
                (res, Buf::Fixed(b))
            }
        }
    }

    async fn write(self, file: &File, pos: u64) -> (io::Result<usize>, Buf) {
        match self {
            Buf::Plain(b) => {
                let (res, b) = file.write_at(b, pos).await;
                (res, Buf::Plain(b))
            }
            Buf::Fixed(b) => {
                let (res, b) = file.write_fixed_at(b, pos).await;
                (res, Buf::Fixed(b))
            }
        }
    }
}

/// A proactor row: `depth` tasks on one runtime, each running the worker loop.
fn proactor(builder: &Builder, fixed: bool, cell: Cell, setup: &Setup) -> Sample {
    let rt = builder
        .build()
        .unwrap_or_else(|e| super::die(&format!("runtime: {e}")));
    let uring = rt.driver() == DriverKind::Uring;
    rt.block_on(async {
        let (write, flags) = open_mode(cell);
        let file = File::options()
            .read(!write)
            .write(write)
            .custom_flags(flags)
            .open(&setup.path)
            .await
            .unwrap_or_else(|e| super::die(&format!("open: {e}")));
        let file = Rc::new(file);
        let pool = fixed.then(|| {
            FixedBufPool::new(cell.depth(), cell.block())
                .unwrap_or_else(|e| super::die(&format!("FixedBufPool: {e}")))
        });
        let op = move |(file, buf): (Rc<File>, Buf), pos| async move {
            let (res, buf) = match cell.writes() {
                false => buf.read(&file, pos).await,
                true => match buf.write(&file, pos).await {
                    (Ok(n), buf) => (file.sync_data().await.map(|()| n), buf),
                    failed => failed,
                },
            };
            (res, (file, buf))
        };
        let w = Window::new(cell, setup);
        let tasks: Vec<_> = (0..cell.depth())
            .map(|i| {
                let buf = match &pool {
                    Some(pool) => {
                        let mut b = pool.get().expect("a buffer per task");
                        b.extend_from_slice(&vec![0x5a; cell.block()]);
                        Buf::Fixed(b)
                    }
                    None => Buf::Plain(AlignedBuf::new(cell.block())),
                };
                let offsets = Offsets::new(cell, i, setup);
                proactor::spawn(worker((file.clone(), buf), op, offsets, w))
            })
            .collect();
        let mut tallies = Vec::new();
        for task in tasks {
            tallies.push(task.await.expect("worker task"));
        }
        let enters = uring.then(|| proactor::runtime::stats().enters);
        sample(tallies, w, enters)
    })
}

/// The tokio row: `depth` tasks on a current_thread runtime, each handing every call to
/// the blocking pool (`spawn_blocking`), as `tokio::fs` does; positional calls on a
/// `std::fs::File` (tokio's `File` has no `read_at`, and its seek + read would share one
/// cursor between the tasks and copy through an unaligned buffer `O_DIRECT` refuses).
fn tokio(cell: Cell, setup: &Setup) -> Sample {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| super::die(&format!("tokio runtime: {e}")));
    rt.block_on(async {
        let (write, flags) = open_mode(cell);
        let file = std::fs::OpenOptions::new()
            .read(!write)
            .write(write)
            .custom_flags(flags)
            .open(&setup.path)
            .unwrap_or_else(|e| super::die(&format!("open: {e}")));
        let file = Arc::new(file);
        let op = move |(file, mut buf): (Arc<std::fs::File>, AlignedBuf), pos| async move {
            let blocking = tokio::task::spawn_blocking(move || {
                let res = match cell.writes() {
                    false => file.read_at(buf.as_mut_slice(), pos),
                    true => file.write_at(buf.as_slice(), pos),
                };
                (res, (file, buf))
            });
            let (res, (file, buf)) = blocking.await.expect("blocking read");
            if !cell.writes() || res.is_err() {
                return (res, (file, buf));
            }
            let sync = tokio::task::spawn_blocking(move || (file.sync_data(), file));
            let (synced, file) = sync.await.expect("blocking sync");
            (synced.and(res), (file, buf))
        };
        let w = Window::new(cell, setup);
        let tasks: Vec<_> = (0..cell.depth())
            .map(|i| {
                let state = (file.clone(), AlignedBuf::new(cell.block()));
                tokio::spawn(worker(state, op, Offsets::new(cell, i, setup), w))
            })
            .collect();
        let mut tallies = Vec::new();
        for task in tasks {
            tallies.push(task.await.expect("worker task"));
        }
        sample(tallies, w, None)
    })
}
