//! `TcpStream::sendfile` against a `read_at` + `write_all` loop (256 KiB buffer), sending
//! files of 1 MiB and 100 MiB (in the page cache) over loopback, on each driver.
//!
//! A reader thread (blocking std socket, on the other core when there is one) reads each
//! sample's bytes and answers with one byte; a sample is the time from the first send to
//! that answer, for 64 MiB (64 sends of the 1 MiB file, or one of the 100 MiB file). The
//! two ways run in pairs, A B A B, and each pair gives a ratio: this host's speed drifts by
//! a third over tens of seconds, so only ratios within a pair are compared. CPU time is the
//! process's (`getrusage`: the runtime's thread and the kernel's io_uring workers) less the
//! reader thread's own, per MB sent.
//!
//! `cargo bench --bench sendfile [-- --reps 9]`

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use proactor::fs::File;
use proactor::net::{TcpListener, TcpStream};
use proactor::{Driver, Runtime};

const MIB: u64 = 1 << 20;
const CHUNK: usize = 256 << 10;

#[derive(Clone, Copy, PartialEq)]
enum Way {
    Sendfile,
    ReadWrite,
}

/// One sample: wall time and CPU time (less the reader's).
struct Sample {
    wall: Duration,
    cpu: Duration,
}

fn cpu_of(who: i32) -> Duration {
    // SAFETY: an all-zero rusage is valid for getrusage to overwrite.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a live rusage for the call.
    assert_eq!(unsafe { libc::getrusage(who, &mut ru) }, 0);
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// The reader: for each request of `n` bytes on `jobs`, reads them, answers one byte, and
/// reports its own CPU time for it.
fn reader(mut conn: std::net::TcpStream, jobs: mpsc::Receiver<u64>, cpu: mpsc::Sender<Duration>) {
    let mut buf = vec![0u8; 1 << 20];
    for n in jobs {
        let start = cpu_of(libc::RUSAGE_THREAD);
        let mut left = n;
        while left > 0 {
            let want = left.min(buf.len() as u64) as usize;
            let got = conn.read(&mut buf[..want]).expect("reader");
            assert!(got > 0, "the sender closed early");
            left -= got as u64;
        }
        conn.write_all(b"k").unwrap();
        cpu.send(cpu_of(libc::RUSAGE_THREAD) - start).unwrap();
    }
}

/// Sends the file at `path` (of `size` bytes) `times` times, the chosen way.
async fn send(stream: &TcpStream, path: &Path, size: u64, times: u64, way: Way) {
    let file = File::open(path).await.unwrap();
    let mut buf = Vec::with_capacity(CHUNK);
    for _ in 0..times {
        match way {
            Way::Sendfile => assert_eq!(stream.sendfile(&file, 0, size).await.unwrap(), size),
            Way::ReadWrite => {
                let mut off = 0;
                while off < size {
                    buf.clear();
                    let (res, b) = file.read_at(buf, off).await;
                    let n = res.unwrap();
                    assert!(n > 0);
                    let (res, b) = stream.write_all(b).await;
                    res.unwrap();
                    buf = b;
                    off += n as u64;
                }
            }
        }
    }
}

struct Bench {
    rt: Runtime,
    stream: TcpStream,
    jobs: mpsc::Sender<u64>,
    cpu: mpsc::Receiver<Duration>,
}

impl Bench {
    fn new(driver: Driver) -> std::io::Result<Bench> {
        let rt = Runtime::builder().driver(driver).build()?;
        let listener = rt.block_on(async { TcpListener::bind("127.0.0.1:0") })?;
        let conn = std::net::TcpStream::connect(listener.local_addr()?)?;
        let (stream, _) = rt.block_on(listener.accept())?;
        let (jobs, jobs_rx) = mpsc::channel();
        let (cpu_tx, cpu) = mpsc::channel();
        std::thread::spawn(move || reader(conn, jobs_rx, cpu_tx));
        Ok(Bench {
            rt,
            stream,
            jobs,
            cpu,
        })
    }

    fn sample(&self, path: &Path, size: u64, times: u64, way: Way) -> Sample {
        self.jobs.send(size * times).unwrap();
        let cpu0 = cpu_of(libc::RUSAGE_SELF);
        let start = Instant::now();
        self.rt.block_on(async {
            send(&self.stream, path, size, times, way).await;
            let (res, _) = self.stream.read_exact(Vec::with_capacity(1)).await;
            res.unwrap();
        });
        let wall = start.elapsed();
        let reader_cpu = self.cpu.recv().unwrap();
        let cpu = (cpu_of(libc::RUSAGE_SELF) - cpu0).saturating_sub(reader_cpu);
        Sample { wall, cpu }
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn file_of(dir: &Path, size: u64) -> PathBuf {
    let path = dir.join(format!("file-{}", size / MIB));
    let block: Vec<u8> = (0..MIB).map(|i| (i * 31 % 251) as u8).collect();
    let mut f = std::fs::File::create(&path).unwrap();
    for _ in 0..size / MIB {
        f.write_all(&block).unwrap();
    }
    drop(f);
    std::fs::read(&path).unwrap(); // into the page cache
    path
}

fn main() {
    let mut reps = 9;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--reps" => reps = args.next().and_then(|v| v.parse().ok()).expect("--reps N"),
            "--bench" => {}
            other => eprintln!("ignoring argument {other:?}"),
        }
    }
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let files: Vec<(u64, PathBuf)> = [MIB, 100 * MIB]
        .into_iter()
        .map(|size| (size, file_of(dir.path(), size)))
        .collect();
    println!(
        "{:<6} {:>7} | {:>16} {:>16} | {:>22} | {:>12} {:>12} | {:>22}",
        "driver",
        "file",
        "sendfile MB/s",
        "read+write MB/s",
        "MB/s ratio (min-max)",
        "sendfile µs/MB",
        "r+w µs/MB",
        "CPU ratio (min-max)"
    );
    for (driver, name) in [(Driver::Uring, "uring"), (Driver::Epoll, "epoll")] {
        let bench = match Bench::new(driver) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("skipping {name}: {e}");
                continue;
            }
        };
        for (size, path) in &files {
            let times = (64 * MIB / size).max(1);
            let mb = (size * times) as f64 / 1e6;
            // A warm-up pair, not counted.
            bench.sample(path, *size, times, Way::Sendfile);
            bench.sample(path, *size, times, Way::ReadWrite);
            let (mut sf, mut rw, mut ratio, mut sf_cpu, mut rw_cpu, mut cpu_ratio) =
                (vec![], vec![], vec![], vec![], vec![], vec![]);
            for rep in 0..reps {
                // Alternate which goes first, so neither always follows the other.
                let order = if rep % 2 == 0 {
                    [Way::Sendfile, Way::ReadWrite]
                } else {
                    [Way::ReadWrite, Way::Sendfile]
                };
                let mut pair = order.map(|way| (way, bench.sample(path, *size, times, way)));
                if pair[0].0 == Way::ReadWrite {
                    pair.swap(0, 1);
                }
                let [(_, a), (_, b)] = pair;
                let speed = |s: &Sample| mb / s.wall.as_secs_f64();
                let per_mb = |s: &Sample| s.cpu.as_secs_f64() * 1e6 / mb;
                sf.push(speed(&a));
                rw.push(speed(&b));
                ratio.push(speed(&a) / speed(&b));
                sf_cpu.push(per_mb(&a));
                rw_cpu.push(per_mb(&b));
                cpu_ratio.push(per_mb(&a) / per_mb(&b));
            }
            let span = |v: &[f64]| {
                let (lo, hi) = v
                    .iter()
                    .fold((f64::MAX, f64::MIN), |(lo, hi), &x| (lo.min(x), hi.max(x)));
                format!("{lo:.2}-{hi:.2}")
            };
            println!(
                "{:<6} {:>4} MiB | {:>16.0} {:>16.0} | {:>7.2} ({:>12}) | {:>12.0} {:>12.0} | {:>7.2} ({:>12})",
                name,
                size / MIB,
                median(&mut sf),
                median(&mut rw),
                median(&mut ratio.clone()),
                span(&ratio),
                median(&mut sf_cpu),
                median(&mut rw_cpu),
                median(&mut cpu_ratio.clone()),
                span(&cpu_ratio),
            );
        }
    }
}
