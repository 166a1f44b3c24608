//! The fs benchmark's table: per cell and row the medians, the paired ratios to fio, and
//! the targets (QD32 IOPS ≥ 0.95× fio, QD1 p50 ≤ 1.1× fio) on both buffer paths.

use std::fmt::Write as _;
use std::process::Command;

use super::testfile::TestFile;
use super::{median, Cell, Options, Results, Row, Sample, Samples, Setup};

/// The per-repetition ratios of `row` to its fio row in `cell` (`f` of each), where both
/// ran.
fn ratios(samples: &Samples, cell: Cell, row: Row, f: fn(&Sample) -> f64) -> Vec<f64> {
    pair_ratios(samples, cell, (row, row.reference()), f)
}

/// The per-repetition ratios of row `a` to row `b` in `cell`, where both ran.
fn pair_ratios(
    samples: &Samples,
    cell: Cell,
    (a, b): (Row, Row),
    f: fn(&Sample) -> f64,
) -> Vec<f64> {
    let (Some(a), Some(b)) = (samples.get(&(cell, a)), samples.get(&(cell, b))) else {
        return Vec::new();
    };
    a.iter()
        .zip(b)
        .filter_map(|(x, y)| Some(f(x.as_ref()?) / f(y.as_ref()?)))
        .filter(|r| r.is_finite())
        .collect()
}

/// `median [min-max]` of `v`, or `-`.
fn spread(v: &[f64]) -> String {
    if v.is_empty() {
        return "-".into();
    }
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{:.2}x [{lo:.2}-{hi:.2}]", median(v.to_vec()))
}

fn num(v: f64, decimals: usize) -> String {
    match v.is_finite() {
        true => format!("{v:.decimals$}"),
        false => "-".into(),
    }
}

fn sh(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// The machine in one line: date, CPUs, kernel.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map_or("unknown CPU".into(), |m| m.trim().to_string());
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!(
        "{}, {cpus} CPU(s) ({model}), Linux {}",
        sh("date", &["+%F"]),
        sh("uname", &["-r"])
    )
}

pub(super) fn render(
    opts: &Options,
    setup: &Setup,
    file: &TestFile,
    notes: &[String],
    results: &Results,
) -> String {
    let samples = &results.samples;
    let mut t = String::new();
    let _ = writeln!(t, "fs benchmark: {}", machine());
    let _ = writeln!(
        t,
        "file: {} ({} MiB, {}); {} s per run after a {} s warm-up, {} repetition(s), rows \
         interleaved; medians",
        setup.path.display(),
        setup.size >> 20,
        file.fs,
        setup.duration.as_secs_f64(),
        setup.warmup.as_secs_f64(),
        opts.reps
    );
    let pin = match setup.pin {
        Some(cpu) => format!(
            "pinned to CPU {cpu} (fio: --cpus_allowed={cpu}; the pool threads of epoll and \
             tokio inherit the pin)"
        ),
        None => "not pinned".into(),
    };
    let _ = writeln!(t, "runtime thread: {pin}; one runtime thread per row");
    if let Some(r) = results.seq_resident {
        let _ = writeln!(
            t,
            "seq: page cache cold, the file's pages dropped (POSIX_FADV_DONTNEED; fio \
             --invalidate=1) before each pass: at most {:.1}% resident at a pass's start; \
             one pass from offset 0, stopped at the run's duration",
            r * 100.0
        );
    }
    for note in notes {
        let _ = writeln!(t, "{note}");
    }
    let _ = writeln!(
        t,
        "vs fio: each repetition's ratio to the fio row on the same buffer path (FixedBufPool \
         to fio fixedbufs, the others to plain fio), median [min-max]; p50/p99: per call, \
         from before it to its completion (fio: total latency, --lat_percentiles=1; for \
         write+sync fio times the two apart and its p50 is their sum)"
    );
    let _ = writeln!(t);
    let _ = writeln!(
        t,
        "| cell | row | ops/s | MB/s | p50 us | p99 us | ops/s vs fio | p50 vs fio | enters/op |"
    );
    let _ = writeln!(t, "|---|---|---:|---:|---:|---:|---:|---:|---:|");
    for &cell in &opts.cells {
        for &row in &opts.rows {
            let Some(runs) = samples.get(&(cell, row)) else {
                continue;
            };
            let ok: Vec<&Sample> = runs.iter().flatten().collect();
            let m = |f: fn(&Sample) -> f64| median(ok.iter().map(|s| f(s)).collect());
            let is_ref = row.reference() == row;
            let vs = |f: fn(&Sample) -> f64| match is_ref {
                true => "-".into(),
                false => spread(&ratios(samples, cell, row, f)),
            };
            let _ = writeln!(
                t,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                cell.label(),
                row.name(),
                num(m(|s| s.ops_per_sec), 0),
                num(m(|s| s.mb_per_sec), 1),
                num(m(|s| s.p50_us), 1),
                num(m(|s| s.p99_us), 1),
                vs(|s| s.ops_per_sec),
                vs(|s| s.p50_us),
                num(m(|s| s.enters_per_op), 2),
            );
        }
    }
    t.push_str(&before_after(opts, samples));
    t.push_str(&targets(opts, samples));
    t
}

/// The driver's submission policy, before and after: proactor-uring as it comes against
/// `file_batch(0)` (file reads submitted only at the end of each turn), pair by pair.
fn before_after(opts: &Options, samples: &Samples) -> String {
    let pair = (Row::Uring, Row::UringTurn);
    let mut t = String::new();
    for &cell in &opts.cells {
        let ops = pair_ratios(samples, cell, pair, |s| s.ops_per_sec);
        if ops.is_empty() {
            continue;
        }
        if t.is_empty() {
            let _ = writeln!(t);
            let _ = writeln!(
                t,
                "before/after: {} (file_batch 4, the default) against {} (submitted once per \
                 turn), the ratio of each repetition's pair, median [min-max]:",
                pair.0.name(),
                pair.1.name()
            );
            let _ = writeln!(t);
            let _ = writeln!(
                t,
                "| cell | ops/s | p50 | enters/op (this) | enters/op (before) |"
            );
            let _ = writeln!(t, "|---|---:|---:|---:|---:|");
        }
        let enters = |row| {
            let runs = samples.get(&(cell, row)).into_iter().flatten().flatten();
            num(median(runs.map(|s| s.enters_per_op).collect()), 2)
        };
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {} |",
            cell.label(),
            spread(&ops),
            spread(&pair_ratios(samples, cell, pair, |s| s.p50_us)),
            enters(pair.0),
            enters(pair.1),
        );
    }
    t
}

/// A target: in `cell`, `metric`'s paired ratio to fio at least (or at most) `bound`.
struct Target {
    cell: Cell,
    what: &'static str,
    metric: fn(&Sample) -> f64,
    bound: f64,
    at_least: bool,
}

const TARGETS: [Target; 2] = [
    Target {
        cell: Cell::Qd32,
        what: "QD32 IOPS >= 0.95x fio",
        metric: |s| s.ops_per_sec,
        bound: 0.95,
        at_least: true,
    },
    Target {
        cell: Cell::Qd1,
        what: "QD1 p50 <= 1.10x fio",
        metric: |s| s.p50_us,
        bound: 1.10,
        at_least: false,
    },
];

/// The targets, per buffer path: met or missed, by the median paired ratio.
fn targets(opts: &Options, samples: &Samples) -> String {
    let mut t = String::new();
    for target in &TARGETS {
        for row in [Row::Uring, Row::UringFixed] {
            let v = ratios(samples, target.cell, row, target.metric);
            if !opts.cells.contains(&target.cell) || v.is_empty() {
                continue;
            }
            let r = median(v.clone());
            let met = match target.at_least {
                true => r >= target.bound,
                false => r <= target.bound,
            };
            if t.is_empty() {
                let _ = writeln!(t);
                let _ = writeln!(t, "targets:");
            }
            let _ = writeln!(
                t,
                "- {}, {} vs {}: {:.3}x, pairs {} ({})",
                target.what,
                row.name(),
                row.reference().name(),
                r,
                spread(&v),
                if met { "met" } else { "missed" }
            );
        }
    }
    t
}
