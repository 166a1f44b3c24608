//! The fio rows: fio's io_uring engine run as a subprocess on the same file and cell, its
//! JSON report read back.

use std::process::Command;

use serde_json::Value;

use super::{Cell, Sample, Setup};

/// `fio --version`, or `None` when fio is not installed.
pub(crate) fn version() -> Option<String> {
    let out = Command::new("fio").arg("--version").output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The job options of `cell` (`fixed`: registered buffers and files).
pub(crate) fn args(cell: Cell, fixed: bool, setup: &Setup) -> Vec<String> {
    let ms = |d: std::time::Duration| format!("{}ms", d.as_millis().max(1));
    let mut args: Vec<String> = [
        "--name=fs-bench",
        "--ioengine=io_uring",
        "--numjobs=1",
        "--output-format=json",
        // Total latency (submission + completion) percentiles, as the in-process rows
        // time each call from before it to after its completion.
        "--lat_percentiles=1",
        // A different random sequence each run, as the in-process rows draw.
        "--randrepeat=0",
    ]
    .map(String::from)
    .to_vec();
    args.push(format!("--filename={}", setup.path.display()));
    args.push(format!("--size={}", setup.size));
    args.push(format!("--bs={}", cell.block()));
    args.push(format!("--iodepth={}", cell.depth()));
    args.push(format!("--direct={}", cell.direct() as u8));
    args.push(format!("--runtime={}", ms(setup.duration)));
    match cell {
        Cell::Qd1 | Cell::Qd32 => args.push("--rw=randread".into()),
        // One pass from the start, stopped at the runtime if sooner; fio drops the file's
        // cached pages first (`--invalidate=1`, its default).
        Cell::Seq => args.extend(["--rw=read".into(), "--invalidate=1".into()]),
        Cell::Sync => args.extend(["--rw=write".into(), "--fdatasync=1".into()]),
    }
    if cell.warms_up() {
        args.push("--time_based".into());
        args.push(format!("--ramp_time={}", ms(setup.warmup)));
    }
    if fixed {
        args.push("--fixedbufs=1".into());
        args.push("--registerfiles=1".into());
    }
    if let Some(cpu) = setup.pin {
        args.push(format!("--cpus_allowed={cpu}"));
    }
    args
}

/// One fio run; `None` (with the reason on stderr) if fio fails or reports nothing.
pub(crate) fn run(cell: Cell, fixed: bool, setup: &Setup) -> Option<Sample> {
    let out = Command::new("fio")
        .args(args(cell, fixed, setup))
        .output()
        .map_err(|e| eprintln!("fio: {e}"))
        .ok()?;
    if !out.status.success() {
        eprintln!(
            "fio failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        return None;
    }
    let report: Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| eprintln!("fio printed no JSON report: {e}"))
        .ok()?;
    parse(&report, cell)
}

/// The sample of fio's report: its IOPS and bandwidth, and its total-latency percentiles.
/// For write + `fdatasync` fio times the two apart: the pair's p50 (p99) is taken as the
/// sum of the write's and the sync's.
fn parse(report: &Value, cell: Cell) -> Option<Sample> {
    let job = &report["jobs"][0];
    let dir = &job[if cell.writes() { "write" } else { "read" }];
    let pct = |v: &Value, p: &str| v["lat_ns"]["percentile"][p].as_f64().unwrap_or(f64::NAN);
    let (mut p50, mut p99) = (pct(dir, "50.000000"), pct(dir, "99.000000"));
    if cell.writes() {
        p50 += pct(&job["sync"], "50.000000");
        p99 += pct(&job["sync"], "99.000000");
    }
    let ops_per_sec = dir["iops"].as_f64()?;
    (ops_per_sec > 0.0).then(|| Sample {
        ops_per_sec,
        mb_per_sec: dir["bw_bytes"].as_f64().unwrap_or(f64::NAN) / 1e6,
        p50_us: p50 / 1000.0,
        p99_us: p99 / 1000.0,
        enters_per_op: f64::NAN,
    })
}
