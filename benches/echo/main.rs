//! Echo benchmark: proactor on io_uring, proactor on epoll and tokio (current_thread)
//! serving the same echo logic, under the same load, interleaved in one run.
//!
//! `cargo bench --bench echo [-- --quick] [-- --duration SECS --reps N]`
//!
//! Each server runs as its own process pinned to CPU 0, the load client (`echo_client`
//! example) pinned to CPU 1. Per cell (connections × message size) and repetition the servers
//! take turns, so a slow spell of the host hits all of them alike; the medians over the
//! repetitions are reported. Server CPU time comes from the server's
//! `/proc/<pid>/task/*/schedstat` (nanoseconds on CPU) over the measured window, so
//! CPU per request is fair even where both cores saturate.
//!
//! Output: a table with ratios to tokio and to the epoll variant on stdout, and
//! `target/echo-bench/results.csv` and `target/echo-bench/echo.svg`.

mod plot;
mod procs;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use procs::{build_binaries, Client, Load, Server, ServerKind};

/// One measured run of one server in one cell.
#[derive(Clone, Debug)]
struct Sample {
    req_per_sec: f64,
    mb_per_sec: f64,
    p50_us: f64,
    p99_us: f64,
    cpu_us_per_req: f64,
    errors: u64,
}

/// A cell of the benchmark: the load offered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Cell {
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

struct Options {
    quick: bool,
    duration: Duration,
    warmup: Duration,
    reps: usize,
    servers: Vec<ServerKind>,
    cells: Vec<Cell>,
    out: PathBuf,
}

fn parse_args() -> Options {
    let mut opts = Options {
        quick: false,
        duration: Duration::from_secs(5),
        warmup: Duration::from_secs(1),
        reps: 3,
        servers: vec![ServerKind::Uring, ServerKind::Epoll, ServerKind::Tokio],
        cells: Vec::new(),
        out: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/echo-bench"),
    };
    let mut args = std::env::args().skip(1);
    let mut only_conns: Option<Vec<usize>> = None;
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
            }
            "--bench" => {} // passed by `cargo bench`
            other if other.starts_with('-') => die(&format!("unknown flag {other}")),
            _ => {} // a criterion-style filter: ignored
        }
    }
    if opts.quick {
        opts.duration = Duration::from_millis(500);
        opts.warmup = Duration::from_millis(200);
        opts.reps = 1;
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
    // The paced cell: below saturation, CPU per request shows what each driver costs.
    opts.cells.push(Cell {
        conns: 256,
        size: 64,
        rate: 80_000,
    });
    opts
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
    let bins = build_binaries();
    std::fs::create_dir_all(&opts.out).expect("create output dir");
    let mut samples: BTreeMap<(Cell, ServerKind), Vec<Sample>> = BTreeMap::new();
    let mut port = 7400;
    for &cell in &opts.cells {
        for rep in 0..opts.reps {
            for &kind in &opts.servers {
                port += 1;
                let server = Server::start(&bins, kind, port);
                let load = Load {
                    conns: cell.conns,
                    size: cell.size,
                    rate: cell.rate,
                    duration: opts.duration,
                };
                let client = Client::new(&bins, server.addr());
                client.run(&Load {
                    duration: opts.warmup,
                    ..load
                });
                let cpu_before = server.cpu_time();
                let report = client.run(&load);
                let cpu = server.cpu_time().saturating_sub(cpu_before);
                server.stop();
                let sample = Sample {
                    req_per_sec: report.req_per_sec,
                    mb_per_sec: report.mb_per_sec,
                    p50_us: report.p50_us,
                    p99_us: report.p99_us,
                    cpu_us_per_req: cpu.as_secs_f64() * 1e6 / (report.requests.max(1) as f64),
                    errors: report.errors,
                };
                eprintln!(
                    "{:<22} rep {} {:<15} {:>10.0} req/s  p99 {:>8.1} us  cpu {:>6.2} us/req",
                    cell.label(),
                    rep + 1,
                    kind.name(),
                    sample.req_per_sec,
                    sample.p99_us,
                    sample.cpu_us_per_req
                );
                samples.entry((cell, kind)).or_default().push(sample);
            }
        }
    }
    let rows = summarize(&opts, &samples);
    let table = render_table(&opts, &rows);
    println!("{table}");
    std::fs::write(opts.out.join("table.md"), &table).expect("write table");
    std::fs::write(opts.out.join("results.csv"), render_csv(&rows)).expect("write csv");
    std::fs::write(
        opts.out.join("echo.svg"),
        plot::render(&opts.servers, &rows),
    )
    .expect("svg");
    println!(
        "wrote {}/{{table.md,results.csv,echo.svg}}",
        opts.out.display()
    );
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

fn summarize(opts: &Options, samples: &BTreeMap<(Cell, ServerKind), Vec<Sample>>) -> Vec<Row> {
    let mut rows = Vec::new();
    for &cell in &opts.cells {
        for &kind in &opts.servers {
            let Some(s) = samples.get(&(cell, kind)) else {
                continue;
            };
            let m = |f: fn(&Sample) -> f64| median(s.iter().map(f).collect());
            rows.push(Row {
                cell,
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

fn find(rows: &[Row], cell: Cell, kind: ServerKind) -> Option<&Row> {
    rows.iter().find(|r| r.cell == cell && r.kind == kind)
}

fn ratio(a: f64, b: Option<f64>) -> String {
    match b {
        Some(b) if b > 0.0 && a.is_finite() => format!("{:.2}x", a / b),
        _ => "-".into(),
    }
}

fn render_table(opts: &Options, rows: &[Row]) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "echo benchmark: {} s per run, {} repetition(s), medians; server on CPU 0, client on CPU 1",
        opts.duration.as_secs_f64(),
        opts.reps
    );
    let _ = writeln!(t);
    let _ = writeln!(
        t,
        "| cell | server | req/s | MB/s | p50 us | p99 us | CPU us/req | req/s vs tokio | CPU/req vs tokio | req/s vs epoll | CPU/req vs epoll | errors |"
    );
    let _ = writeln!(
        t,
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for r in rows {
        let tokio = find(rows, r.cell, ServerKind::Tokio);
        let epoll = find(rows, r.cell, ServerKind::Epoll);
        let _ = writeln!(
            t,
            "| {} | {} | {:.0} | {:.1} | {:.1} | {:.1} | {:.2} | {} | {} | {} | {} | {} |",
            r.cell.label(),
            r.kind.name(),
            r.req_per_sec,
            r.mb_per_sec,
            r.p50_us,
            r.p99_us,
            r.cpu_us_per_req,
            ratio(r.req_per_sec, tokio.map(|x| x.req_per_sec)),
            ratio(r.cpu_us_per_req, tokio.map(|x| x.cpu_us_per_req)),
            ratio(r.req_per_sec, epoll.map(|x| x.req_per_sec)),
            ratio(r.cpu_us_per_req, epoll.map(|x| x.cpu_us_per_req)),
            r.errors
        );
    }
    t
}

fn render_csv(rows: &[Row]) -> String {
    let mut csv = String::from(
        "conns,size,rate,server,req_per_sec,mb_per_sec,p50_us,p99_us,cpu_us_per_req,errors\n",
    );
    for r in rows {
        let _ = writeln!(
            csv,
            "{},{},{},{},{:.1},{:.3},{:.2},{:.2},{:.4},{}",
            r.cell.conns,
            r.cell.size,
            r.cell.rate,
            r.kind.name(),
            r.req_per_sec,
            r.mb_per_sec,
            r.p50_us,
            r.p99_us,
            r.cpu_us_per_req,
            r.errors
        );
    }
    csv
}
