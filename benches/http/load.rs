//! The load of the HTTP benchmark, pinned to CPU 1: wrk, or where it is missing the bench's
//! own keep-alive HTTP/1.1 client (this binary run again with [`WORKER_FLAG`]: `conns`
//! connections on tokio's current_thread runtime, each sending `GET /` and reading the
//! response in a loop, latencies in an HDR histogram).

use std::process::Command;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::die;

/// The argument that makes this binary the load worker.
pub const WORKER_FLAG: &str = "--http-load-worker";

/// One measured run.
#[derive(Clone, Debug, Default)]
pub struct Sample {
    pub requests: u64,
    pub req_per_sec: f64,
    pub p99_us: f64,
    pub errors: u64,
    /// Filled in by the caller from the server's CPU time.
    pub cpu_us_per_req: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadKind {
    Wrk,
    Rust,
}

impl LoadKind {
    pub fn name(self) -> &'static str {
        match self {
            LoadKind::Wrk => "wrk -t1",
            LoadKind::Rust => "the bench's Rust client (wrk not found)",
        }
    }

    /// wrk if it runs here, else the Rust client (saying how to get wrk).
    pub fn detect() -> LoadKind {
        let found = Command::new("wrk")
            .arg("--version")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("wrk"));
        if found {
            return LoadKind::Wrk;
        }
        eprintln!(
            "http bench: wrk not found: install Debian's package with `apt-get install wrk` \
             to cross-check with it; using the bench's own Rust load client"
        );
        LoadKind::Rust
    }

    /// Runs the load against `url` with `conns` connections for `duration` (wrk: in whole
    /// seconds, at least one); an error says what went wrong.
    pub fn run(self, url: &str, conns: usize, duration: Duration) -> Result<Sample, String> {
        let secs = format!("{:.3}", duration.as_secs_f64());
        let mut cmd = Command::new("taskset");
        cmd.args(["-c", "1"]);
        match self {
            LoadKind::Wrk => {
                let whole = format!("{}s", duration.as_secs_f64().ceil().max(1.0) as u64);
                let conns = conns.to_string();
                cmd.args(["wrk", "-t1", "-c", &conns, "-d", &whole, "--latency", url]);
            }
            LoadKind::Rust => {
                let exe =
                    std::env::current_exe().unwrap_or_else(|e| die(&format!("own path: {e}")));
                cmd.arg(exe)
                    .args([WORKER_FLAG, url, &conns.to_string(), &secs]);
            }
        }
        let out = cmd
            .output()
            .map_err(|e| format!("run the load ({}): {e}", self.name()))?;
        let text = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            return Err(format!("the load failed: {text}{stderr}"));
        }
        match self {
            LoadKind::Wrk => parse_wrk(&text),
            LoadKind::Rust => parse_worker(&text),
        }
        .ok_or_else(|| format!("cannot read the load's report:\n{text}"))
    }
}

/// A wrk duration such as `812.00us`, `2.31ms`, `1.02s`, in microseconds.
fn wrk_time_us(s: &str) -> Option<f64> {
    let split = s.find(|c: char| c.is_ascii_alphabetic())?;
    let (num, unit) = s.split_at(split);
    let v: f64 = num.parse().ok()?;
    Some(match unit {
        "us" => v,
        "ms" => v * 1e3,
        "s" => v * 1e6,
        "m" => v * 60e6,
        _ => return None,
    })
}

/// Reads wrk's report: requests, req/s, the 99% latency, and its error counts.
fn parse_wrk(text: &str) -> Option<Sample> {
    let mut sample = Sample::default();
    for line in text.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Requests/sec:", v] => sample.req_per_sec = v.parse().ok()?,
            [n, "requests", "in", ..] => sample.requests = n.parse().ok()?,
            ["99%", v] => sample.p99_us = wrk_time_us(v)?,
            ["Socket", "errors:", rest @ ..] => {
                sample.errors += rest
                    .iter()
                    .filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok())
                    .sum::<u64>();
            }
            ["Non-2xx", "or", "3xx", "responses:", n] => sample.errors += n.parse::<u64>().ok()?,
            _ => {}
        }
    }
    (sample.requests > 0).then_some(sample)
}

/// Reads the worker's one line: `requests errors p99_us seconds`.
fn parse_worker(text: &str) -> Option<Sample> {
    let mut it = text.split_whitespace().map(str::parse::<f64>);
    let (requests, errors, p99, secs) = (
        it.next()?.ok()?,
        it.next()?.ok()?,
        it.next()?.ok()?,
        it.next()?.ok()?,
    );
    Some(Sample {
        requests: requests as u64,
        req_per_sec: requests / secs.max(1e-9),
        p99_us: p99,
        errors: errors as u64,
        cpu_us_per_req: 0.0,
    })
}

/// The load worker: `URL CONNS SECS`; prints `requests errors p99_us seconds`.
pub fn worker(args: &[String]) {
    let [url, conns, secs] = args else {
        die("usage: --http-load-worker URL CONNS SECS");
    };
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let conns: usize = super::parse(conns);
    let duration = Duration::from_secs_f64(super::parse(secs));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| die(&format!("tokio runtime: {e}")));
    let (requests, errors, hist, secs) = rt.block_on(async move {
        let local = tokio::task::LocalSet::new();
        local
            .run_until(async move {
                let start = Instant::now();
                let deadline = start + duration;
                let hist = Rc::new(std::cell::RefCell::new(
                    hdrhistogram::Histogram::<u64>::new(3).expect("3 significant digits"),
                ));
                let tasks: Vec<_> = (0..conns)
                    .map(|_| {
                        tokio::task::spawn_local(connection(addr.clone(), deadline, hist.clone()))
                    })
                    .collect();
                let (mut requests, mut errors) = (0u64, 0u64);
                for t in tasks {
                    let (n, e) = t.await.unwrap_or((0, 1));
                    requests += n;
                    errors += e;
                }
                let secs = start.elapsed().as_secs_f64();
                let hist = hist.borrow().clone();
                (requests, errors, hist, secs)
            })
            .await
    });
    println!(
        "{requests} {errors} {} {secs}",
        hist.value_at_quantile(0.99)
    );
}

/// One keep-alive connection: `GET /` in a loop until `deadline`; (responses, errors).
async fn connection(
    addr: String,
    deadline: Instant,
    hist: Rc<std::cell::RefCell<hdrhistogram::Histogram<u64>>>,
) -> (u64, u64) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut stream) = tokio::net::TcpStream::connect(&addr).await else {
        return (0, 1);
    };
    let _ = stream.set_nodelay(true);
    let request = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let mut buf = vec![0u8; 16 * 1024];
    let (mut done, mut filled) = (0u64, 0usize);
    while Instant::now() < deadline {
        let sent = Instant::now();
        if stream.write_all(request).await.is_err() {
            return (done, 1);
        }
        // Reads until one whole response (head and Content-Length body) is in.
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 16];
            let mut res = httparse::Response::new(&mut headers);
            if let Ok(httparse::Status::Complete(head)) = res.parse(&buf[..filled]) {
                let len = res
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                    .and_then(|h| {
                        std::str::from_utf8(h.value)
                            .ok()?
                            .trim()
                            .parse::<usize>()
                            .ok()
                    })
                    .unwrap_or(0);
                let ok = res.code == Some(200);
                if filled >= head + len {
                    buf.copy_within(head + len..filled, 0);
                    filled -= head + len;
                    if !ok {
                        return (done, 1);
                    }
                    break;
                }
            }
            if filled == buf.len() {
                return (done, 1); // a response larger than the buffer: not this server's
            }
            match stream.read(&mut buf[filled..]).await {
                Ok(0) | Err(_) => return (done, 1),
                Ok(n) => filled += n,
            }
        }
        let _ = hist.borrow_mut().record(sent.elapsed().as_micros() as u64);
        done += 1;
    }
    (done, 0)
}
