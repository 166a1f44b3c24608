//! Echo benchmark: proactor on io_uring, proactor on epoll, tokio (current_thread) and
//! monoio (io_uring) serving the same echo logic, under the same load, interleaved in one run;
//! and the per-feature ladder: proactor-uring with its io_uring fast paths turned on one at a
//! time (see `servers.rs`).
//!
//! `cargo bench --bench echo [-- --quick] [-- --duration SECS --reps N --conns 1,256
//! --servers uring,monoio,tokio --ladder --no-ladder --list --baseline PATH]`
//!
//! Two plain loops with no runtime (`uring-loop`, `epoll-loop`) run beside them as each
//! driver's floor, each right after proactor on its driver; a pairs table gives the ratio of
//! each repetition's pair.
//!
//! `--baseline PATH` adds another build of `echo-server` (`baseline-uring`,
//! `baseline-epoll`; e.g. the last commit's, built in a worktree) to the servers, and a
//! before/after table of paired ratios: each repetition's current server against the
//! baseline run next to it, the median of those ratios and their spread.
//!
//! Each server runs as its own process pinned to CPU 0, the load client (`echo_client`
//! example) pinned to CPU 1. Per cell (connections × message size) and repetition the servers
//! take turns, so a slow spell of the host hits all of them alike; the medians over the
//! repetitions are reported. Server CPU time comes from the server's
//! `/proc/<pid>/task/*/schedstat` (nanoseconds on CPU) over the measured window, so
//! CPU per request is fair even where both cores saturate.
//!
//! Output: a table with ratios to tokio, to the epoll variant and to the best io_uring peer
//! (monoio) on stdout, and `target/echo-bench/{table.md,results.csv,echo.svg}`. The full run
//! adds the ladder at its cells (256 and 1024 connections × 64 B, and the paced cell) and a
//! per-feature table (also `target/echo-bench/ladder.md`); `--ladder` runs only that.

#[path = "../common/child.rs"]
mod child;
mod plot;
mod procs;
mod report;
#[path = "../common/sched.rs"]
mod sched;
mod servers;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use procs::{build_binaries, Binaries, Client, Load};
use servers::ServerKind;

/// One measured run of one server in one cell.
#[derive(Clone, Debug)]
pub(crate) struct Sample {
    req_per_sec: f64,
    mb_per_sec: f64,
    p50_us: f64,
    p99_us: f64,
    cpu_us_per_req: f64,
    errors: u64,
}

/// A cell of the benchmark: the load offered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Cell {
    conns: usize,
    size: usize,
    /// Paced total rate (requests/s), or 0 for closed-loop saturation.
    rate: u64,
}

impl Cell {
    fn label(&self) -> String {
        match self.rate {
            0 => format!("{}c x {}B", self.conns, self.size),
            r => format!("{}c x {}B @{}k/s", self.conns, self.size, r / 1000),
        }
    }
}

/// Whether the per-feature ladder runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ladder {
    Off,
    /// Alongside the servers, at the ladder's cells.
    With,
    /// Only the ladder (and the reference servers) at its cells.
    Only,
}

pub(crate) struct Options {
    quick: bool,
    duration: Duration,
    warmup: Duration,
    reps: usize,
    servers: Vec<ServerKind>,
    cells: Vec<Cell>,
    ladder: Ladder,
    list: bool,
    out: PathBuf,
    baseline: Option<PathBuf>,
}

/// The cells the ladder runs at: where the CPU/request targets are set.
const LADDER_CELLS: [Cell; 3] = [
    Cell {
        conns: 256,
        size: 64,
        rate: 0,
    },
    Cell {
        conns: 1024,
        size: 64,
        rate: 0,
    },
    PACED,
];

/// The paced cell: below saturation, CPU per request shows what each driver costs.
const PACED: Cell = Cell {
    conns: 256,
    size: 64,
    rate: 80_000,
};

fn parse_args() -> Options {
    let mut opts = Options {
        quick: false,
        duration: Duration::from_secs(5),
        warmup: Duration::from_secs(1),
        reps: 3,
        servers: vec![
            ServerKind::URING,
            ServerKind::URING_LOOP,
            ServerKind::COMPAT,
            ServerKind::COMPAT_BUF,
            ServerKind::EPOLL,
            ServerKind::EPOLL_LOOP,
            ServerKind::TOKIO,
            ServerKind::MONOIO,
        ],
        cells: Vec::new(),
        ladder: Ladder::With,
        list: false,
        out: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/echo-bench"),
        baseline: None,
    };
    let mut args = std::env::args().skip(1);
    let mut only_conns: Option<Vec<usize>> = None;
    let mut ladder = None;
    let mut servers_given = false;
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| die(&format!("{arg} needs a value")))
        };
        match arg.as_str() {
            "--quick" => opts.quick = true,
            "--duration" => opts.duration = Duration::from_secs_f64(parse(&value())),
            "--reps" => opts.reps = parse(&value()),
            "--conns" => {
                only_conns = Some(value().split(',').map(parse).collect());
            }
            "--servers" => {
                opts.servers = value().split(',').map(ServerKind::parse).collect();
                servers_given = true;
            }
            "--ladder" | "--features" => ladder = Some(Ladder::Only),
            "--no-ladder" => ladder = Some(Ladder::Off),
            "--list" => opts.list = true,
            "--baseline" => opts.baseline = Some(PathBuf::from(value())),
            "--bench" => {} // passed by `cargo bench`
            other if other.starts_with('-') => die(&format!("unknown flag {other}")),
            _ => {} // a criterion-style filter: ignored
        }
    }
    if opts.baseline.is_some() {
        // Each current proactor server is paired with the same driver of the baseline.
        let pairs: Vec<ServerKind> = [ServerKind::BASE_URING, ServerKind::BASE_EPOLL]
            .into_iter()
            .filter(|b| b.paired_with().is_some_and(|k| opts.servers.contains(&k)))
            .collect();
        for b in pairs {
            if !opts.servers.contains(&b) {
                let at = opts
                    .servers
                    .iter()
                    .position(|k| Some(*k) == b.paired_with());
                opts.servers
                    .insert(at.map_or(opts.servers.len(), |i| i + 1), b);
            }
        }
    }
    if opts.quick {
        opts.duration = Duration::from_millis(500);
        opts.warmup = Duration::from_millis(200);
        opts.reps = 1;
    }
    // The full run carries the ladder; a quick run or a chosen set of servers does not,
    // unless asked.
    opts.ladder = ladder.unwrap_or(if opts.quick || servers_given {
        Ladder::Off
    } else {
        Ladder::With
    });
    if opts.ladder == Ladder::Only {
        // The servers given are the references the ladder is compared with.
        if !servers_given {
            opts.servers = vec![ServerKind::MONOIO];
        }
        opts.cells = LADDER_CELLS
            .into_iter()
            .filter(|c| only_conns.as_ref().is_none_or(|o| o.contains(&c.conns)))
            .collect();
        return opts;
    }
    let conns = only_conns.unwrap_or_else(|| vec![1, 16, 256, 1024]);
    for &c in &conns {
        for size in [64, 4096] {
            opts.cells.push(Cell {
                conns: c,
                size,
                rate: 0,
            });
        }
    }
    opts.cells.push(PACED);
    opts
}

/// The servers each cell runs, in turn order: the chosen servers, and the ladder's variants
/// where it runs.
fn plan(opts: &Options, bins: &Binaries) -> Vec<(Cell, Vec<ServerKind>)> {
    let ladder = ServerKind::ladder(&bins.echo_help);
    opts.cells
        .iter()
        .map(|&cell| {
            let mut servers = match opts.ladder {
                Ladder::Off => opts.servers.clone(),
                Ladder::With if LADDER_CELLS.contains(&cell) => {
                    let mut s = opts.servers.clone();
                    s.extend(&ladder);
                    s
                }
                Ladder::With => opts.servers.clone(),
                Ladder::Only => {
                    let mut s = ladder.clone();
                    s.push(ServerKind::URING);
                    s.extend(&opts.servers);
                    s
                }
            };
            let mut seen = Vec::new();
            servers.retain(|k| {
                let new = !seen.contains(k);
                seen.push(*k);
                new
            });
            (cell, servers)
        })
        .collect()
}

fn parse<T: std::str::FromStr>(s: &str) -> T {
    s.parse()
        .unwrap_or_else(|_| die(&format!("bad number {s:?}")))
}

fn die(msg: &str) -> ! {
    eprintln!("echo bench: {msg}");
    std::process::exit(2)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn main() {
    // `cargo test --all-targets` runs this binary without `--bench`: the comparison takes
    // minutes and needs release builds, so there it only says how to run it (the test
    // script runs `cargo bench --bench echo -- --quick` on its own).
    if !std::env::args().any(|a| a == "--bench") {
        println!("echo benchmark: not run under cargo test; run `cargo bench --bench echo`");
        return;
    }
    let opts = parse_args();
    let mut bins = build_binaries();
    bins.baseline = opts.baseline.clone();
    let plan = plan(&opts, &bins);
    if opts.list {
        print!("{}", report::render_servers(&plan, &bins.echo_help));
        return;
    }
    std::fs::create_dir_all(&opts.out).expect("create output dir");
    let samples = measure(&opts, &bins, &plan);
    let rows = summarize(&plan, &samples, &bins);
    let ladder = report::render_ladder(&rows, &bins.echo_help);
    if opts.ladder == Ladder::Only {
        println!("{ladder}");
        write(&opts, "ladder.md", &ladder);
        write(&opts, "ladder.csv", &report::render_csv(&rows));
        println!("wrote {}/{{ladder.md,ladder.csv}}", opts.out.display());
        return;
    }
    let main_rows: Vec<Row> = rows
        .iter()
        .filter(|r| opts.servers.contains(&r.kind))
        .cloned()
        .collect();
    let mut table = report::render_table(&opts, &main_rows);
    if opts.ladder == Ladder::With {
        table.push('\n');
        table.push_str(&ladder);
        write(&opts, "ladder.md", &ladder);
    }
    let pairs = report::render_pairs(&opts, &plan, &samples);
    if !pairs.is_empty() {
        table.push('\n');
        table.push_str(&pairs);
    }
    let compat = report::render_compat(&opts, &plan, &samples);
    if !compat.is_empty() {
        table.push('\n');
        table.push_str(&compat);
    }
    println!("{table}");
    write(&opts, "table.md", &table);
    write(&opts, "results.csv", &report::render_csv(&rows));
    write(&opts, "echo.svg", &plot::render(&opts.servers, &main_rows));
    println!(
        "wrote {}/{{table.md,results.csv,echo.svg}}",
        opts.out.display()
    );
}

fn write(opts: &Options, name: &str, text: &str) {
    let path = opts.out.join(name);
    std::fs::write(&path, text).unwrap_or_else(|e| die(&format!("write {}: {e}", path.display())));
}

pub(crate) type Samples = BTreeMap<(Cell, ServerKind), Vec<Sample>>;

/// Runs the plan: per cell and repetition, each server in turn.
fn measure(opts: &Options, bins: &Binaries, plan: &[(Cell, Vec<ServerKind>)]) -> Samples {
    let mut samples = Samples::new();
    let mut port = 7400;
    for (cell, servers) in plan {
        for rep in 0..opts.reps {
            // Odd repetitions take the servers in reverse (A B, B A, ...), so a drift of the
            // host's speed within a repetition favours none of them.
            let order: Vec<ServerKind> = match rep % 2 {
                0 => servers.clone(),
                _ => servers.iter().rev().copied().collect(),
            };
            for &kind in &order {
                let runs_as = kind.runs_as(&bins.echo_help);
                if runs_as != kind && servers.contains(&runs_as) {
                    continue; // measured as `runs_as`
                }
                port += 1;
                let sample = run_one(opts, bins, *cell, runs_as, port);
                eprintln!(
                    "{:<22} rep {} {:<18} {:>10.0} req/s  p99 {:>8.1} us  cpu {:>6.2} us/req",
                    cell.label(),
                    rep + 1,
                    kind.name(),
                    sample.req_per_sec,
                    sample.p99_us,
                    sample.cpu_us_per_req
                );
                samples.entry((*cell, runs_as)).or_default().push(sample);
            }
        }
    }
    samples
}

/// One server, one cell: warm-up, then the measured window.
fn run_one(opts: &Options, bins: &Binaries, cell: Cell, kind: ServerKind, port: u16) -> Sample {
    let server = procs::start(bins, kind, port);
    let load = Load {
        conns: cell.conns,
        size: cell.size,
        rate: cell.rate,
        duration: opts.duration,
    };
    let client = Client::new(bins, server.addr());
    client.run(&Load {
        duration: opts.warmup,
        ..load
    });
    let cpu_before = server.cpu_time();
    let report = client.run(&load);
    let cpu = server.cpu_time().saturating_sub(cpu_before);
    server.stop();
    Sample {
        req_per_sec: report.req_per_sec,
        mb_per_sec: report.mb_per_sec,
        p50_us: report.p50_us,
        p99_us: report.p99_us,
        cpu_us_per_req: cpu.as_secs_f64() * 1e6 / (report.requests.max(1) as f64),
        errors: report.errors,
    }
}

/// Medians of one server in one cell.
#[derive(Clone, Debug)]
pub(crate) struct Row {
    cell: Cell,
    kind: ServerKind,
    req_per_sec: f64,
    mb_per_sec: f64,
    p50_us: f64,
    p99_us: f64,
    cpu_us_per_req: f64,
    errors: u64,
}

/// The rows of the plan; a ladder rung that runs with the defaults gets proactor-uring's.
fn summarize(plan: &[(Cell, Vec<ServerKind>)], samples: &Samples, bins: &Binaries) -> Vec<Row> {
    let mut rows = Vec::new();
    for (cell, servers) in plan {
        for &kind in servers {
            let Some(s) = samples.get(&(*cell, kind.runs_as(&bins.echo_help))) else {
                continue;
            };
            let m = |f: fn(&Sample) -> f64| median(s.iter().map(f).collect());
            rows.push(Row {
                cell: *cell,
                kind,
                req_per_sec: m(|s| s.req_per_sec),
                mb_per_sec: m(|s| s.mb_per_sec),
                p50_us: m(|s| s.p50_us),
                p99_us: m(|s| s.p99_us),
                cpu_us_per_req: m(|s| s.cpu_us_per_req),
                errors: s.iter().map(|s| s.errors).sum(),
            });
        }
    }
    rows
}
