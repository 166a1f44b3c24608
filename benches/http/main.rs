//! HTTP benchmark: the same hyper 1.x HTTP/1.1 server on proactor's io_uring driver, on its
//! epoll driver (`examples/hyper_server.rs`, through the `tokio-io` bridge) and on tokio's
//! current_thread runtime (`examples/hyper_tokio_server.rs`), under the same keep-alive
//! load of `GET /`, interleaved in one run.
//!
//! `cargo bench --bench http [-- --quick] [-- --duration SECS --reps N --conns 64,256
//! --servers uring,epoll,tokio --load wrk|rust]`
//!
//! Each server is a process pinned to CPU 0, the load pinned to CPU 1: wrk (Debian's
//! package `wrk`; the bench installs nothing: where wrk is missing it says how to get it
//! and uses its own load generator, `--load rust`, a keep-alive HTTP/1.1 client on tokio in
//! this very binary). Per cell (connections) and repetition the servers take turns, the
//! order reversed on every other repetition (A B, B A, ...). Server CPU time comes from
//! `/proc/<pid>/task/*/schedstat` over the measured window. The table gives medians, and
//! the ratios to tokio as the median [min-max] of each repetition's pair: on a shared
//! 2-core machine only those paired ratios mean anything.

#[path = "../common/child.rs"]
mod child;
mod load;
#[path = "../common/sched.rs"]
mod sched;
mod server;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use load::{LoadKind, Sample};
use server::Kind;

struct Options {
    duration: Duration,
    warmup: Duration,
    reps: usize,
    conns: Vec<usize>,
    servers: Vec<Kind>,
    load: Option<LoadKind>,
}

fn die(msg: &str) -> ! {
    eprintln!("http bench: {msg}");
    std::process::exit(2)
}

fn parse<T: std::str::FromStr>(s: &str) -> T {
    s.parse()
        .unwrap_or_else(|_| die(&format!("bad number {s:?}")))
}

fn parse_args(args: &[String]) -> Options {
    let mut opts = Options {
        duration: Duration::from_secs(5),
        warmup: Duration::from_secs(1),
        reps: 3,
        conns: vec![64, 256],
        servers: vec![Kind::Uring, Kind::Epoll, Kind::Tokio],
        load: None,
    };
    let mut quick = false;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .unwrap_or_else(|| die(&format!("{arg} needs a value")))
        };
        match arg.as_str() {
            "--quick" => quick = true,
            "--duration" => opts.duration = Duration::from_secs_f64(parse(&value())),
            "--reps" => opts.reps = parse::<usize>(&value()).max(1),
            "--conns" => opts.conns = value().split(',').map(parse).collect(),
            "--servers" => opts.servers = value().split(',').map(Kind::parse).collect(),
            "--load" => {
                opts.load = Some(match value().as_str() {
                    "wrk" => LoadKind::Wrk,
                    "rust" => LoadKind::Rust,
                    other => die(&format!("unknown load {other:?} (wrk, rust)")),
                })
            }
            "--bench" => {}
            other if other.starts_with('-') => die(&format!("unknown flag {other}")),
            _ => {} // a criterion-style filter: ignored
        }
    }
    if quick {
        opts.duration = Duration::from_secs(1);
        opts.warmup = Duration::from_secs(1); // wrk's shortest run
        opts.reps = 1;
    }
    opts
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
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|a| a == load::WORKER_FLAG) {
        return load::worker(&args[1..]);
    }
    // `cargo test --all-targets` runs this binary without `--bench`: the comparison needs
    // release builds and takes minutes, so there it only says how to run it.
    if !args.iter().any(|a| a == "--bench") {
        println!("http benchmark: not run under cargo test; run `cargo bench --bench http`");
        return;
    }
    let mut opts = parse_args(&args);
    let load = opts.load.unwrap_or_else(LoadKind::detect);
    opts.load = Some(load);
    let bins = server::build();
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/http-bench");
    std::fs::create_dir_all(&out)
        .unwrap_or_else(|e| die(&format!("create {}: {e}", out.display())));
    let samples = measure(&opts, &bins, load);
    let table = render(&opts, load, &samples);
    println!("{table}");
    let path = out.join("table.md");
    std::fs::write(&path, &table)
        .unwrap_or_else(|e| die(&format!("write {}: {e}", path.display())));
    println!("wrote {}", path.display());
}

type Samples = BTreeMap<(usize, Kind), Vec<Sample>>;

/// Per cell and repetition, each server in turn (reversed on odd repetitions).
fn measure(opts: &Options, bins: &server::Binaries, load: LoadKind) -> Samples {
    let mut samples = Samples::new();
    let mut port = 7600;
    for &conns in &opts.conns {
        for rep in 0..opts.reps {
            let order: Vec<Kind> = match rep % 2 {
                0 => opts.servers.clone(),
                _ => opts.servers.iter().rev().copied().collect(),
            };
            for kind in order {
                port += 1;
                let server = server::start(bins, kind, port);
                let url = format!("http://{}/", server.addr());
                let measured = load.run(&url, conns, opts.warmup).and_then(|_| {
                    let before = server.cpu_time();
                    let sample = load.run(&url, conns, opts.duration)?;
                    Ok((sample, server.cpu_time().saturating_sub(before)))
                });
                server.stop();
                let (mut sample, cpu) = measured.unwrap_or_else(|e: String| die(&e));
                sample.cpu_us_per_req = cpu.as_secs_f64() * 1e6 / sample.requests.max(1) as f64;
                eprintln!(
                    "{conns:>4}c rep {} {:<15} {:>10.0} req/s  p99 {:>8.1} us  cpu {:>6.2} us/req  errors {}",
                    rep + 1,
                    kind.name(),
                    sample.req_per_sec,
                    sample.p99_us,
                    sample.cpu_us_per_req,
                    sample.errors,
                );
                samples.entry((conns, kind)).or_default().push(sample);
            }
        }
    }
    samples
}

/// Median [min-max] of the ratios of each repetition's pair.
fn paired(a: &[Sample], b: &[Sample], f: fn(&Sample) -> f64) -> String {
    let v: Vec<f64> = a.iter().zip(b).map(|(x, y)| f(x) / f(y)).collect();
    if v.is_empty() {
        return "-".into();
    }
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{:.2}x [{lo:.2}-{hi:.2}]", median(v))
}

fn render(opts: &Options, load: LoadKind, samples: &Samples) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "http benchmark: hyper 1.x HTTP/1.1 `GET /`, keep-alive, load by {}; {} s per run, {} \
         repetition(s), medians; server on CPU 0, load on CPU 1; ratios to tokio: median \
         [min-max] of each repetition's pair",
        load.name(),
        opts.duration.as_secs_f64(),
        opts.reps
    );
    let _ = writeln!(t);
    let _ = writeln!(
        t,
        "| conns | server | req/s | p99 us | CPU us/req | req/s vs tokio | CPU/req vs tokio | errors |"
    );
    let _ = writeln!(t, "|---:|---|---:|---:|---:|---:|---:|---:|");
    for &conns in &opts.conns {
        let tokio = samples.get(&(conns, Kind::Tokio));
        for &kind in &opts.servers {
            let Some(s) = samples.get(&(conns, kind)) else {
                continue;
            };
            let m = |f: fn(&Sample) -> f64| median(s.iter().map(f).collect());
            let vs = |f: fn(&Sample) -> f64| tokio.map_or("-".into(), |b| paired(s, b, f));
            let _ = writeln!(
                t,
                "| {conns} | {} | {:.0} | {:.1} | {:.2} | {} | {} | {} |",
                kind.name(),
                m(|s| s.req_per_sec),
                m(|s| s.p99_us),
                m(|s| s.cpu_us_per_req),
                vs(|s| s.req_per_sec),
                vs(|s| s.cpu_us_per_req),
                s.iter().map(|s| s.errors).sum::<u64>(),
            );
        }
    }
    t
}
