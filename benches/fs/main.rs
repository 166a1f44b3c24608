//! File benchmark: proactor's `File` against fio (its io_uring engine, the practical limit
//! of a file path on this machine) and tokio, on the same file, interleaved in one run.
//!
//! `cargo bench --bench fs [-- --quick] [-- --duration SECS --warmup SECS --reps N
//! --cells qd1,qd32,seq,sync --rows fio,uring,fixed,epoll,tokio --file PATH --size BYTES
//! --pin CPU]`
//!
//! Cells (see [`Cell`]): 4 KiB random `O_DIRECT` reads at queue depth 1 and 32 (32
//! `read_at`s in flight from one runtime thread), buffered sequential 1 MiB reads from a
//! cold page cache, and 4 KiB writes each followed by `sync_data`. Rows (see [`Row`]): fio
//! with plain and with registered buffers and files, proactor on io_uring with plain
//! (page-aligned heap) buffers and with a registered `FixedBufPool`, proactor on epoll
//! (its file calls run on the thread pool), and tokio (`spawn_blocking` around a positional
//! read or write).
//!
//! Per cell and repetition the rows take turns (reversed on odd repetitions), so a slow
//! spell of the host hits all of them alike; the table gives each row's median and its
//! ratio to fio as the median of the per-repetition pairs, with their range. Output: the
//! table on stdout and in `target/fs-bench/table.md`.

mod engines;
mod fio;
mod raw;
mod report;
mod testfile;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// A cell of the benchmark: one load, the same for every row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Cell {
    /// 4 KiB random `O_DIRECT` reads, one at a time: IOPS, p50, p99.
    Qd1,
    /// 4 KiB random `O_DIRECT` reads, 32 in flight: IOPS, p50.
    Qd32,
    /// Buffered sequential 1 MiB reads through the file, page cache cold: MB/s.
    Seq,
    /// 4 KiB buffered sequential writes, each followed by `sync_data`: ops/s, p50.
    Sync,
}

impl Cell {
    const ALL: [Cell; 4] = [Cell::Qd1, Cell::Qd32, Cell::Seq, Cell::Sync];

    fn parse(s: &str) -> Cell {
        match s {
            "qd1" => Cell::Qd1,
            "qd32" => Cell::Qd32,
            "seq" => Cell::Seq,
            "sync" => Cell::Sync,
            _ => die(&format!("unknown cell {s:?} (qd1, qd32, seq, sync)")),
        }
    }

    pub(crate) fn label(self) -> &'static str {
        match self {
            Cell::Qd1 => "4K rand read QD1",
            Cell::Qd32 => "4K rand read QD32",
            Cell::Seq => "1M seq read",
            Cell::Sync => "4K write+sync_data",
        }
    }

    /// Operations in flight at once.
    pub(crate) fn depth(self) -> usize {
        match self {
            Cell::Qd32 => 32,
            _ => 1,
        }
    }

    /// Bytes per operation.
    pub(crate) fn block(self) -> usize {
        match self {
            Cell::Seq => 1 << 20,
            _ => 4096,
        }
    }

    /// Whether the file is opened with `O_DIRECT`.
    pub(crate) fn direct(self) -> bool {
        matches!(self, Cell::Qd1 | Cell::Qd32)
    }

    /// Whether the cell writes (and syncs) rather than reads.
    pub(crate) fn writes(self) -> bool {
        self == Cell::Sync
    }

    /// Whether a run has a warm-up: not the cold sequential pass, which reads the file
    /// once from its start.
    pub(crate) fn warms_up(self) -> bool {
        self != Cell::Seq
    }
}

/// A row of the table: who runs the cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Row {
    /// fio, `--ioengine=io_uring`.
    Fio,
    /// fio, `--ioengine=io_uring --fixedbufs=1 --registerfiles=1`.
    FioFixed,
    /// proactor on io_uring, `read_at`/`write_at` on page-aligned heap buffers.
    Uring,
    /// proactor-uring with `Builder::file_batch(0)`: file reads submitted only at the end
    /// of each loop turn, as before `file_batch` (the random read cells only).
    UringTurn,
    /// proactor on io_uring, `read_fixed_at`/`write_fixed_at` on a registered
    /// `FixedBufPool` (`READ_FIXED`/`WRITE_FIXED`).
    UringFixed,
    /// proactor on epoll: file calls on its thread pool.
    Epoll,
    /// tokio (current_thread): `spawn_blocking` around `FileExt::read_at`/`write_at` and
    /// `sync_data`.
    Tokio,
    /// A bare io-uring loop with no runtime, on a ring set up as proactor's (the random
    /// read cells only; not run unless asked, `--rows raw`).
    Raw,
}

impl Row {
    const ALL: [Row; 7] = [
        Row::Fio,
        Row::FioFixed,
        Row::Uring,
        Row::UringTurn,
        Row::UringFixed,
        Row::Epoll,
        Row::Tokio,
    ];

    fn parse(s: &str) -> Vec<Row> {
        match s {
            "fio" => vec![Row::Fio, Row::FioFixed],
            "fio-plain" => vec![Row::Fio],
            "fio-fixed" => vec![Row::FioFixed],
            "uring" => vec![Row::Uring],
            "fixed" => vec![Row::UringFixed],
            "epoll" => vec![Row::Epoll],
            "tokio" => vec![Row::Tokio],
            "raw" => vec![Row::Raw],
            "uring-turn" => vec![Row::UringTurn],
            _ => die(&format!(
                "unknown row {s:?} (fio, fio-plain, fio-fixed, uring, uring-turn, fixed, epoll, tokio, raw)"
            )),
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Row::Fio => "fio io_uring",
            Row::FioFixed => "fio io_uring fixedbufs",
            Row::Uring => "proactor-uring",
            Row::UringFixed => "proactor-uring FixedBufPool",
            Row::Epoll => "proactor-epoll",
            Row::Tokio => "tokio spawn_blocking",
            Row::Raw => "raw io-uring loop",
            Row::UringTurn => "proactor-uring file_batch(0)",
        }
    }

    /// Whether the row runs `cell`: the raw loop and the before/after row only the random
    /// reads.
    fn runs(self, cell: Cell) -> bool {
        !matches!(self, Row::Raw | Row::UringTurn) || cell.direct()
    }

    /// The fio row this row's ratios are taken against: the one on the same buffer path.
    pub(crate) fn reference(self) -> Row {
        match self {
            Row::UringFixed => Row::FioFixed,
            _ => Row::Fio,
        }
    }
}

/// The order the rows of a cell run in: each next to its [`Row::reference`].
const RUN_ORDER: [Row; 8] = [
    Row::Tokio,
    Row::Epoll,
    Row::Raw,
    Row::Fio,
    Row::Uring,
    Row::UringTurn,
    Row::UringFixed,
    Row::FioFixed,
];

/// One measured run of one row in one cell.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sample {
    pub(crate) ops_per_sec: f64,
    pub(crate) mb_per_sec: f64,
    /// Per-operation latency, µs (`NaN` where not measured).
    pub(crate) p50_us: f64,
    pub(crate) p99_us: f64,
    /// `io_uring_enter` calls per operation (proactor-uring and the raw loop; else `NaN`).
    pub(crate) enters_per_op: f64,
}

/// What every run needs to know.
pub(crate) struct Setup {
    pub(crate) path: PathBuf,
    pub(crate) size: u64,
    pub(crate) duration: Duration,
    pub(crate) warmup: Duration,
    /// The CPU the runtime thread (and fio) is pinned to.
    pub(crate) pin: Option<usize>,
}

pub(crate) struct Options {
    pub(crate) duration: Duration,
    pub(crate) warmup: Duration,
    pub(crate) reps: usize,
    pub(crate) cells: Vec<Cell>,
    pub(crate) rows: Vec<Row>,
    pub(crate) file: Option<PathBuf>,
    pub(crate) size: u64,
    pub(crate) pin: Option<usize>,
    out: PathBuf,
}

fn parse_args() -> Options {
    let mut opts = Options {
        duration: Duration::from_secs(2),
        warmup: Duration::from_millis(500),
        reps: 5,
        cells: Cell::ALL.to_vec(),
        rows: Row::ALL.to_vec(),
        file: None,
        size: 1 << 30,
        pin: None,
        out: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/fs-bench"),
    };
    let (mut quick, mut duration, mut reps) = (false, None, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| die(&format!("{arg} needs a value")))
        };
        match arg.as_str() {
            "--quick" => quick = true,
            "--duration" => duration = Some(Duration::from_secs_f64(parse(&value()))),
            "--warmup" => opts.warmup = Duration::from_secs_f64(parse(&value())),
            "--reps" => reps = Some(parse(&value())),
            "--cells" => opts.cells = value().split(',').map(Cell::parse).collect(),
            "--rows" => opts.rows = value().split(',').flat_map(Row::parse).collect(),
            "--file" => opts.file = Some(PathBuf::from(value())),
            "--size" => opts.size = parse(&value()),
            "--pin" => opts.pin = Some(parse(&value())),
            "--bench" => {} // passed by `cargo bench`
            other if other.starts_with('-') => die(&format!("unknown flag {other}")),
            _ => {} // a criterion-style filter: ignored
        }
    }
    if quick {
        opts.duration = Duration::from_secs(1);
        opts.warmup = Duration::from_millis(200);
        opts.reps = 1;
    }
    opts.duration = duration.unwrap_or(opts.duration);
    opts.reps = reps.unwrap_or(opts.reps).max(1);
    opts.cells.sort();
    opts.cells.dedup();
    opts.rows.sort();
    opts.rows.dedup();
    if opts.size < 64 << 20 || opts.size % (1 << 20) != 0 {
        die("--size must be a multiple of 1 MiB, at least 64 MiB");
    }
    opts
}

fn parse<T: std::str::FromStr>(s: &str) -> T {
    s.parse()
        .unwrap_or_else(|_| die(&format!("bad number {s:?}")))
}

pub(crate) fn die(msg: &str) -> ! {
    eprintln!("fs bench: {msg}");
    std::process::exit(2)
}

pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.retain(|x| x.is_finite());
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Every run's sample, per cell and row, in repetition order (`None`: the run failed).
pub(crate) type Samples = BTreeMap<(Cell, Row), Vec<Option<Sample>>>;

/// What a whole run measured.
pub(crate) struct Results {
    pub(crate) samples: Samples,
    /// The largest share of the file found in the page cache right before a cold
    /// sequential pass (after the eviction), if the seq cell ran.
    pub(crate) seq_resident: Option<f64>,
}

fn main() {
    // `cargo test --all-targets` runs this binary without `--bench`: the comparison takes
    // minutes and needs a release build, so there it only says how to run it.
    if !std::env::args().any(|a| a == "--bench") {
        println!("fs benchmark: not run under cargo test; run `cargo bench --bench fs`");
        return;
    }
    let mut opts = parse_args();
    let notes = availability(&mut opts);
    let file = testfile::TestFile::prepare(opts.file.as_deref(), opts.size);
    if !file.direct_ok {
        eprintln!(
            "{} refuses O_DIRECT: the qd1 and qd32 cells are skipped",
            file.path.display()
        );
        opts.cells.retain(|c| !c.direct());
    }
    let setup = Setup {
        path: file.path.clone(),
        size: opts.size,
        duration: opts.duration,
        warmup: opts.warmup,
        pin: opts.pin,
    };
    if let Some(cpu) = opts.pin {
        engines::pin_to(cpu);
    }
    let results = measure(&opts, &setup);
    let table = report::render(&opts, &setup, &file, &notes, &results);
    println!("{table}");
    std::fs::create_dir_all(&opts.out).unwrap_or_else(|e| die(&format!("create output: {e}")));
    let path = opts.out.join("table.md");
    std::fs::write(&path, &table).unwrap_or_else(|e| die(&format!("write table: {e}")));
    println!("wrote {}", path.display());
}

/// Drops the rows this machine cannot run, each with a line saying why; returns the notes
/// the table carries (fio's version, or why its rows are missing).
fn availability(opts: &mut Options) -> Vec<String> {
    let mut notes = Vec::new();
    match fio::version() {
        Some(v) => notes.push(format!("fio: {v}, --ioengine=io_uring")),
        None => {
            let line = "fio not found (apt-get install fio): the fio rows are skipped";
            eprintln!("{line}");
            notes.push(line.into());
            opts.rows.retain(|r| !matches!(r, Row::Fio | Row::FioFixed));
        }
    }
    for (row, why) in engines::unavailable() {
        eprintln!("skipping {}: {why}", row.name());
        notes.push(format!("{} skipped: {why}", row.name()));
        opts.rows.retain(|r| *r != row);
    }
    notes
}

/// Runs the plan: per cell and repetition, each row in turn.
fn measure(opts: &Options, setup: &Setup) -> Results {
    let mut samples = Samples::new();
    let mut seq_resident: Option<f64> = None;
    for &cell in &opts.cells {
        for rep in 0..opts.reps {
            // Each row runs next to the fio row it is compared with, and odd repetitions
            // take the rows in reverse (A B, B A, ...), so a drift of the host's speed
            // within a repetition favours none of them.
            let mut order: Vec<Row> = RUN_ORDER
                .into_iter()
                .filter(|r| opts.rows.contains(r) && r.runs(cell))
                .collect();
            if rep % 2 == 1 {
                order.reverse();
            }
            for row in order {
                if cell == Cell::Seq {
                    testfile::evict(&setup.path);
                    let now = testfile::resident(&setup.path).unwrap_or(f64::NAN);
                    seq_resident = Some(seq_resident.map_or(now, |r| r.max(now)));
                }
                let sample = run(row, cell, setup);
                match &sample {
                    Some(s) => eprintln!(
                        "{:<20} rep {} {:<28} {:>9.0} ops/s {:>8.1} MB/s  p50 {:>7.1} us  p99 {:>7.1} us  enters/op {:.2}",
                        cell.label(),
                        rep + 1,
                        row.name(),
                        s.ops_per_sec,
                        s.mb_per_sec,
                        s.p50_us,
                        s.p99_us,
                        s.enters_per_op
                    ),
                    None => eprintln!("{:<20} rep {} {:<28} failed", cell.label(), rep + 1, row.name()),
                }
                samples.entry((cell, row)).or_default().push(sample);
            }
        }
    }
    Results {
        samples,
        seq_resident,
    }
}

fn run(row: Row, cell: Cell, setup: &Setup) -> Option<Sample> {
    match row {
        Row::Fio | Row::FioFixed => fio::run(cell, row == Row::FioFixed, setup),
        _ => Some(engines::run(row, cell, setup)),
    }
}
