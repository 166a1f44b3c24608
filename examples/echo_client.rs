//! `echo_client`: a load generator for `echo-server`, written on proactor itself.
//!
//! Each connection is a task (a writer and a reader over the split stream) that keeps
//! `--pipeline` messages of `--size` bytes in flight for `--duration` seconds, verifies every
//! echoed byte, and records each message's round-trip latency. `--threads` runtimes (one per
//! thread) share the connections. Reports requests/s, MB/s, p50/p99/p99.9 latency and
//! errors; `--json` prints one JSON object instead.
//!
//! With `--rate R` the load is paced instead of closed-loop: R requests/s in total, spread
//! evenly over the connections, each message sent at its scheduled time whatever the state
//! of earlier ones (`--pipeline` is then ignored). Latency is measured from the scheduled
//! time, not the actual send, so a server that falls behind is charged for the wait
//! (no coordinated omission).
//!
//! ```text
//! cargo run --release --bin echo-server -- --addr 127.0.0.1:7000 &
//! cargo run --release --example echo_client -- --conns 50 --size 64 --duration 5
//! ```

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;
use proactor::net::{OwnedReadHalf, OwnedWriteHalf, TcpStream};
use proactor::runtime::ThreadPerCore;
use proactor::{Builder, Driver, JoinSet};

/// Load client for the echo server.
#[derive(Parser, Debug, Clone)]
#[command(name = "echo_client")]
struct Args {
    /// Server address.
    #[arg(long, default_value = "127.0.0.1:7000")]
    addr: SocketAddr,
    /// Connections (spread over the threads).
    #[arg(long, default_value_t = 50)]
    conns: usize,
    /// Message size in bytes.
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// How long to send, in seconds.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Messages in flight per connection.
    #[arg(long, default_value_t = 1)]
    pipeline: usize,
    /// Paced mode: total requests per second over all connections (see the module docs).
    #[arg(long)]
    rate: Option<f64>,
    /// Client threads, one runtime each.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Pin client thread i to CPU i.
    #[arg(long)]
    pin: bool,
    /// I/O driver of the client.
    #[arg(long, value_enum, default_value_t = DriverArg::Auto)]
    driver: DriverArg,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum DriverArg {
    Auto,
    Uring,
    Epoll,
}

/// What one thread (or the whole run) measured.
struct Tally {
    hist: Histogram<u64>,
    requests: u64,
    bytes: u64,
    errors: u64,
    first_error: Option<String>,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            hist: Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid bounds"),
            requests: 0,
            bytes: 0,
            errors: 0,
            first_error: None,
        }
    }

    fn error(&mut self, e: impl std::fmt::Display) {
        self.errors += 1;
        self.first_error.get_or_insert_with(|| e.to_string());
    }

    fn merge(&mut self, other: Tally) {
        self.hist.add(&other.hist).expect("same bounds");
        self.requests += other.requests;
        self.bytes += other.bytes;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

#[derive(serde::Serialize)]
struct Report {
    addr: String,
    conns: usize,
    size: usize,
    pipeline: usize,
    rate: Option<f64>,
    threads: usize,
    duration_secs: f64,
    requests: u64,
    req_per_sec: f64,
    mb_per_sec: f64,
    p50_us: f64,
    p99_us: f64,
    p999_us: f64,
    max_us: f64,
    errors: u64,
    first_error: Option<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.size == 0
        || args.pipeline == 0
        || args.conns == 0
        || !args.duration.is_finite()
        || args.duration <= 0.0
        || args.rate.is_some_and(|r| !r.is_finite() || r <= 0.0)
    {
        eprintln!(
            "echo_client: --size, --pipeline, --conns, --duration and --rate must be positive"
        );
        return ExitCode::from(2);
    }
    let driver = match args.driver {
        DriverArg::Auto => Driver::Auto,
        DriverArg::Uring => Driver::Uring,
        DriverArg::Epoll => Driver::Epoll,
    };
    let threads = args.threads.clamp(1, args.conns);
    let start = Instant::now();
    let res = ThreadPerCore::new(threads)
        .pin(args.pin)
        .builder(Builder::new().driver(driver).clone())
        .run(|i| {
            let conns = args.conns / threads + usize::from(i < args.conns % threads);
            run_thread(args.clone(), conns)
        });
    let elapsed = start.elapsed().as_secs_f64();
    let mut total = Tally::new();
    match res {
        Ok(tallies) => tallies.into_iter().for_each(|t| total.merge(t)),
        Err(e) => {
            eprintln!("echo_client: {e}");
            return ExitCode::FAILURE;
        }
    }
    let report = report(&args, threads, elapsed, total);
    print_report(&report, args.json);
    if report.errors > 0 || report.requests == 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn report(args: &Args, threads: usize, elapsed: f64, t: Tally) -> Report {
    let us = |q: f64| t.hist.value_at_quantile(q) as f64 / 1000.0;
    Report {
        addr: args.addr.to_string(),
        conns: args.conns,
        size: args.size,
        pipeline: args.pipeline,
        rate: args.rate,
        threads,
        duration_secs: elapsed,
        requests: t.requests,
        req_per_sec: t.requests as f64 / elapsed,
        mb_per_sec: t.bytes as f64 / elapsed / 1e6,
        p50_us: us(0.5),
        p99_us: us(0.99),
        p999_us: us(0.999),
        max_us: t.hist.max() as f64 / 1000.0,
        errors: t.errors,
        first_error: t.first_error,
    }
}

fn print_report(r: &Report, json: bool) {
    if json {
        println!("{}", serde_json::to_string(r).expect("serialisable"));
        return;
    }
    println!(
        "{} conns x {} B, pipeline {}, {} threads, {:.2} s",
        r.conns, r.size, r.pipeline, r.threads, r.duration_secs
    );
    println!(
        "{:.0} req/s  {:.2} MB/s  p50 {:.1} us  p99 {:.1} us  p99.9 {:.1} us  max {:.1} us",
        r.req_per_sec, r.mb_per_sec, r.p50_us, r.p99_us, r.p999_us, r.max_us
    );
    println!("requests {}  errors {}", r.requests, r.errors);
    if let Some(e) = &r.first_error {
        println!("first error: {e}");
    }
}

/// One thread: `conns` connection tasks; bounded by the duration plus a grace period.
async fn run_thread(args: Args, conns: usize) -> io::Result<Tally> {
    let tally = Rc::new(RefCell::new(Tally::new()));
    let deadline = Instant::now() + Duration::from_secs_f64(args.duration);
    let mut set = JoinSet::new();
    for c in 0..conns {
        let (args, tally) = (args.clone(), tally.clone());
        set.spawn(async move {
            if let Err(e) = connection(&args, c, deadline, &tally).await {
                tally.borrow_mut().error(format!("connection {c}: {e}"));
            }
        });
    }
    let grace = deadline + Duration::from_secs(5);
    let drained =
        proactor::time::timeout_at(grace, async { while set.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        let stuck = set.len();
        set.abort_all();
        while set.join_next().await.is_some() {} // the aborted tasks let go of the tally
        tally.borrow_mut().error(format!(
            "{stuck} connections still waiting for echoes 5 s after the end"
        ));
    }
    drop(set);
    let tally = Rc::try_unwrap(tally).map_err(|_| io::Error::other("tally still shared"))?;
    Ok(tally.into_inner())
}

/// Messages in flight on one connection: send times, and the writer's credit to send more.
struct InFlight {
    sent: RefCell<VecDeque<Instant>>,
    writer: Cell<Option<Waker>>,
    done: Cell<bool>,
}

async fn connection(
    args: &Args,
    conn: usize,
    deadline: Instant,
    tally: &RefCell<Tally>,
) -> io::Result<()> {
    let stream = TcpStream::connect(args.addr).await?;
    stream.set_nodelay(true)?;
    let (rd, wr) = stream.into_split();
    let state = Rc::new(InFlight {
        sent: RefCell::new(VecDeque::new()),
        writer: Cell::new(None),
        done: Cell::new(false),
    });
    let writer = proactor::spawn(write_loop(wr, args.clone(), conn, deadline, state.clone()));
    let res = read_loop(rd, args, conn, &state, tally).await;
    state.done.set(true);
    if let Some(w) = state.writer.take() {
        w.wake();
    }
    writer
        .await
        .map_err(|e| io::Error::other(format!("writer: {e}")))??;
    res
}

/// Sends messages while the pipeline has room and the deadline has not passed, then EOF.
/// The reader checks that every message came back.
async fn write_loop(
    wr: OwnedWriteHalf,
    args: Args,
    conn: usize,
    deadline: Instant,
    state: Rc<InFlight>,
) -> io::Result<()> {
    let mut buf = Vec::with_capacity(args.size);
    let mut seq = 0u64;
    let mut pacer = args.rate.map(|rate| Pacer::new(rate, args.conns, conn));
    while Instant::now() < deadline && !state.done.get() {
        let scheduled = match &mut pacer {
            Some(pacer) => {
                let at = pacer.next();
                if at >= deadline {
                    break;
                }
                proactor::time::sleep_until(at).await;
                at
            }
            None => {
                poll_fn(|cx| {
                    if state.done.get() || state.sent.borrow().len() < args.pipeline {
                        Poll::Ready(())
                    } else {
                        state.writer.set(Some(cx.waker().clone()));
                        Poll::Pending
                    }
                })
                .await;
                Instant::now()
            }
        };
        if state.done.get() {
            break;
        }
        buf.clear();
        buf.extend((0..args.size).map(|j| pattern(conn, seq, j)));
        state.sent.borrow_mut().push_back(scheduled);
        let (res, b) = wr.write_all(buf).await;
        res?;
        buf = b;
        seq += 1;
    }
    wr.shutdown().await
}

/// Reads echoes until EOF, checking every byte and recording each message's latency.
async fn read_loop(
    rd: OwnedReadHalf,
    args: &Args,
    conn: usize,
    state: &InFlight,
    tally: &RefCell<Tally>,
) -> io::Result<()> {
    let mut buf = Vec::with_capacity(args.size);
    let mut seq = 0u64;
    loop {
        buf.clear();
        let (res, b) = rd.read_exact(buf).await;
        buf = b;
        match res {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && buf.is_empty() => {
                return if state.sent.borrow().is_empty() {
                    Ok(())
                } else {
                    Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "echoes missing",
                    ))
                };
            }
            Err(e) => return Err(e),
        }
        if let Some(j) = (0..args.size).find(|&j| buf[j] != pattern(conn, seq, j)) {
            return Err(io::Error::other(format!("message {seq}: byte {j} differs")));
        }
        let sent_at = state.sent.borrow_mut().pop_front();
        let Some(sent_at) = sent_at else {
            return Err(io::Error::other("echo of a message never sent"));
        };
        let mut t = tally.borrow_mut();
        t.hist
            .saturating_record(sent_at.elapsed().as_nanos() as u64);
        t.requests += 1;
        t.bytes += args.size as u64;
        drop(t);
        if let Some(w) = state.writer.take() {
            w.wake();
        }
        seq += 1;
    }
}

/// The send schedule of one connection in paced mode: every `conns / rate` seconds, offset
/// by the connection's index so the connections' sends interleave evenly.
struct Pacer {
    next: Instant,
    period: Duration,
}

impl Pacer {
    fn new(rate: f64, conns: usize, conn: usize) -> Pacer {
        let period = Duration::from_secs_f64(conns as f64 / rate);
        let offset = period.mul_f64((conn % conns.max(1)) as f64 / conns.max(1) as f64);
        Pacer {
            next: Instant::now() + offset,
            period,
        }
    }

    /// The scheduled time of the next message.
    fn next(&mut self) -> Instant {
        let at = self.next;
        self.next += self.period;
        at
    }
}

/// The content of byte `j` of message `seq` on connection `conn`.
fn pattern(conn: usize, seq: u64, j: usize) -> u8 {
    (seq.wrapping_mul(131) as usize ^ conn.wrapping_mul(7) ^ j) as u8
}
