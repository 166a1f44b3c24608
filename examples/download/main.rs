//! Downloads several URLs concurrently, each streamed to a file: the sockets and the file
//! writes both go through the runtime, so one thread keeps every transfer moving.
//!
//! ```text
//! cargo run --release --example download -- [-j N] [-o DIR] [--timeout SECS] URL...
//! ```
//!
//! Every URL is a task (at most N at once). Host names are resolved on the blocking pool
//! (`proactor::net::lookup_host`); the GET goes over `proactor::net::TcpStream`; the body is
//! written piece by piece with `proactor::fs::File::write_at` into `DIR/<name>.part`,
//! renamed to `DIR/<name>` once complete. A failed URL is reported, its `.part` removed, and
//! the others carry on; the exit status is 1 if any failed. Only `http://` is supported.

mod body;
mod http;
mod url;

use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

use clap::Parser;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use proactor::fs::{self, File};
use proactor::JoinSet;

use body::Sink;
use url::Url;

/// Download URLs concurrently to files.
#[derive(Parser, Debug)]
#[command(name = "download")]
struct Args {
    /// Most downloads running at once.
    #[arg(short = 'j', long = "jobs", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..))]
    jobs: u32,
    /// Directory the files are written to (created if missing).
    #[arg(short = 'o', long = "output", default_value = ".")]
    dir: PathBuf,
    /// Seconds a connect or a read may wait before the download fails.
    #[arg(long, default_value_t = 30.0)]
    timeout: f64,
    /// The http:// URLs to fetch.
    #[arg(required = true)]
    urls: Vec<String>,
}

/// One URL's outcome.
struct Report {
    url: String,
    name: String,
    result: io::Result<u64>,
    secs: f64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if !(args.timeout > 0.0 && args.timeout.is_finite()) {
        eprintln!("error: --timeout must be a positive number of seconds");
        return ExitCode::from(2);
    }
    match proactor::block_on(run(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs every download; `Ok(false)` when some failed.
async fn run(args: Args) -> io::Result<bool> {
    fs::create_dir_all(&args.dir).await.map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot create {}: {e}", args.dir.display()),
        )
    })?;
    let names = unique_names(&args.urls);
    let bars = Rc::new(MultiProgress::new());
    let idle = Duration::from_secs_f64(args.timeout);
    let dir = Rc::new(args.dir);
    let started = Instant::now();

    let mut set = JoinSet::new();
    let mut reports = Vec::new();
    let jobs = args.jobs as usize;
    for (i, (url, name)) in args.urls.into_iter().zip(names).enumerate() {
        if set.len() >= jobs {
            collect(&mut set, &mut reports, &bars).await;
        }
        let (bars, dir) = (bars.clone(), dir.clone());
        set.spawn(async move { (i, download(url, name, &dir, &bars, idle).await) });
    }
    while !set.is_empty() {
        collect(&mut set, &mut reports, &bars).await;
    }
    reports.sort_by_key(|(i, _)| *i);
    let reports: Vec<Report> = reports.into_iter().map(|(_, r)| r).collect();
    print_summary(&reports, started.elapsed().as_secs_f64());
    Ok(reports.iter().all(|r| r.result.is_ok()))
}

/// Waits for one download and prints its error, if any.
async fn collect(
    set: &mut JoinSet<(usize, Report)>,
    out: &mut Vec<(usize, Report)>,
    bars: &MultiProgress,
) {
    let Some(joined) = set.join_next().await else {
        return;
    };
    let (i, report) = joined.expect("download tasks do not panic");
    if let Err(e) = &report.result {
        bars.suspend(|| eprintln!("error: {}: {e}", report.url));
    }
    out.push((i, report));
}

/// File names from the URLs, with `-1`, `-2`... appended to repeats.
fn unique_names(urls: &[String]) -> Vec<String> {
    let mut seen = std::collections::HashMap::<String, usize>::new();
    urls.iter()
        .map(|u| {
            // An unusable URL still gets a recognisable row: its last path segment.
            let raw_name = || match u.trim_end_matches('/').rsplit('/').next() {
                Some(last) if !last.is_empty() => last.to_string(),
                _ => "invalid-url".to_string(),
            };
            let base = Url::parse(u).map_or_else(|_| raw_name(), |u| u.file_name());
            let n = seen.entry(base.clone()).or_default();
            *n += 1;
            match *n {
                1 => base,
                n => format!("{base}-{}", n - 1),
            }
        })
        .collect()
}

async fn download(
    url: String,
    name: String,
    dir: &Path,
    bars: &MultiProgress,
    idle: Duration,
) -> Report {
    let started = Instant::now();
    let result = fetch_to_file(&url, &name, dir, bars, idle).await;
    Report {
        url,
        name,
        result,
        secs: started.elapsed().as_secs_f64(),
    }
}

/// GETs `url` into `dir/name.part`, renamed to `dir/name` on success and removed on failure.
async fn fetch_to_file(
    url: &str,
    name: &str,
    dir: &Path,
    bars: &MultiProgress,
    idle: Duration,
) -> io::Result<u64> {
    let parsed = Url::parse(url)?;
    let part = dir.join(format!("{name}.part"));
    let file = File::create(&part)
        .await
        .map_err(|e| io::Error::new(e.kind(), format!("cannot create {}: {e}", part.display())))?;
    let bar = bars.add(ProgressBar::no_length());
    bar.set_style(spinner_style());
    bar.set_message(name.to_string());
    let mut sink = FileSink {
        file,
        offset: 0,
        bar: bar.clone(),
    };
    let fetched = http::get(&parsed, &mut sink, idle).await;
    let closed = sink.file.close().await;
    let result = match (fetched, closed) {
        (Ok(f), Ok(())) => {
            if f.final_url != parsed {
                bars.suspend(|| eprintln!("note: {url} redirected to {}", f.final_url));
            }
            fs::rename(&part, dir.join(name)).await.map(|()| f.bytes)
        }
        (Err(e), _) | (Ok(_), Err(e)) => Err(e),
    };
    match &result {
        Ok(_) => bar.finish(),
        Err(_) => {
            bar.abandon_with_message(format!("{name}: failed"));
            let _ = fs::remove_file(&part).await;
        }
    }
    result
}

fn spinner_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {msg:30!} {bytes:>10} {bytes_per_sec:>12} {elapsed:>4}")
        .expect("valid template")
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{msg:30!} [{bar:30}] {bytes:>10}/{total_bytes:<10} {bytes_per_sec:>12} {eta:>4}",
    )
    .expect("valid template")
    .progress_chars("=> ")
}

/// Writes the body at increasing offsets of the `.part` file and advances the bar.
struct FileSink {
    file: File,
    offset: u64,
    bar: ProgressBar,
}

impl Sink for FileSink {
    fn start(&mut self, total: Option<u64>) {
        if let Some(total) = total {
            self.bar.set_length(total);
            self.bar.set_style(bar_style());
        }
    }

    async fn write(&mut self, data: Vec<u8>) -> io::Result<()> {
        let len = data.len() as u64;
        let (res, _) = self.file.write_all_at(data, self.offset).await;
        res?;
        self.offset += len;
        self.bar.inc(len);
        Ok(())
    }
}

fn mb_per_sec(bytes: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        bytes as f64 / secs / 1e6
    } else {
        0.0
    }
}

fn print_summary(reports: &[Report], wall: f64) {
    let width = reports
        .iter()
        .map(|r| r.name.len())
        .max()
        .unwrap_or(4)
        .clamp(4, 40);
    println!(
        "{:<width$}  {:>6}  {:>12}  {:>8}  {:>9}",
        "file", "status", "bytes", "seconds", "MB/s"
    );
    let mut total = 0;
    for r in reports {
        let (status, bytes) = match &r.result {
            Ok(bytes) => ("ok", *bytes),
            Err(_) => ("FAILED", 0),
        };
        total += bytes;
        println!(
            "{:<width$}  {status:>6}  {bytes:>12}  {:>8.3}  {:>9.2}",
            r.name,
            r.secs,
            mb_per_sec(bytes, r.secs)
        );
    }
    let failed = reports.iter().filter(|r| r.result.is_err()).count();
    let status = if failed == 0 {
        "ok".to_string()
    } else {
        format!("{failed} bad")
    };
    println!(
        "{:<width$}  {status:>6}  {total:>12}  {wall:>8.3}  {:>9.2}",
        "total",
        mb_per_sec(total, wall)
    );
}
