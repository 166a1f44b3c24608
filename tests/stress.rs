//! Randomised drop and cancel stress, seeded: tasks mix connect, accept (multishot),
//! send/recv (owned buffers and a shared receive pool), queued writes, zero-copy sends, file
//! open/read_at/write_at and timers, and drop each operation's future at a random point —
//! before its first poll, just after its submission, after its completion arrived but
//! before it was collected, or at a random timeout — while peers reset at random. At the
//! end every acknowledged byte arrived intact (each echo is checked), nothing is in flight,
//! no timer is left, the process holds the descriptors it held before, and dropping the
//! runtime returns promptly.
//!
//! `PROACTOR_STRESS_OPS` (default 50,000 per driver) and `PROACTOR_STRESS_SEED` (default:
//! from the clock) set the run; the seed is printed, and in the failure message, so a
//! failing run can be replayed. `scripts/stress.sh` runs a million operations.

mod util;

use std::cell::Cell;
use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::{Duration, Instant};

use proactor::buf::BufRing;
use proactor::fs::File;
use proactor::net::{TcpListener, TcpStream};
use proactor::time::{sleep, timeout};
use proactor::{Driver, JoinSet};
use util::{open_fds, runtime, serial};

/// xorshift64*: small, fast, and the same sequence for the same seed everywhere.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// Where an operation's future is dropped.
#[derive(Clone, Copy, Debug)]
enum Fate {
    /// Awaited to its end.
    Complete,
    /// Dropped before its first poll.
    BeforePoll,
    /// Dropped right after its first poll (submitted, or waiting for readiness).
    AfterSubmit,
    /// Polled once, then dropped after a few loop turns (its completion may have arrived).
    AfterTurns(u32),
    /// Cut short by a timeout of this many microseconds.
    Timeout(u64),
}

impl Fate {
    fn pick(rng: &mut Rng) -> Fate {
        match rng.below(10) {
            0 => Fate::BeforePoll,
            1 => Fate::AfterSubmit,
            2 => Fate::AfterTurns(1 + rng.below(3) as u32),
            3 => Fate::Timeout(rng.below(300)),
            _ => Fate::Complete,
        }
    }
}

/// Runs `fut` to the fate given; `Some(output)` only when it completed.
async fn drive<F: Future>(fut: F, fate: Fate) -> Option<F::Output> {
    let mut fut = pin!(fut);
    match fate {
        Fate::Complete => Some(fut.await),
        Fate::BeforePoll => None,
        Fate::AfterSubmit | Fate::AfterTurns(_) => {
            let first = poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await;
            if let Poll::Ready(out) = first {
                return Some(out);
            }
            if let Fate::AfterTurns(n) = fate {
                for _ in 0..n {
                    proactor::task::yield_now().await;
                }
            }
            None
        }
        Fate::Timeout(us) => timeout(Duration::from_micros(us), fut).await.ok(),
    }
}

/// What the workers share.
struct Shared {
    addr: SocketAddr,
    dir: PathBuf,
    /// Operations started so far (every attempt counts, whatever its fate).
    ops: Cell<u64>,
    target: u64,
    /// Echoes checked byte for byte.
    verified: Cell<u64>,
}

impl Shared {
    fn more(&self) -> bool {
        self.ops.get() < self.target
    }

    fn count(&self) {
        self.ops.set(self.ops.get() + 1);
    }
}

/// The echo server: accepts with `incoming()`, echoes each connection through a shared
/// receive pool; a connection's errors end that connection only.
async fn serve(listener: TcpListener) {
    let pool = BufRing::builder().count(256).size(1024).build().unwrap();
    let mut incoming = listener.incoming();
    let mut conns = JoinSet::new();
    loop {
        let Some(Ok((stream, _))) = incoming.next().await else {
            continue;
        };
        let pool = pool.clone();
        conns.spawn(async move {
            let mut recv = stream.recv_multi(&pool);
            let mut queued = false;
            while let Some(Ok(buf)) = recv.next().await {
                // Queued writes (left to the kernel on io_uring) and awaited ones, in turn:
                // the echo keeps its order either way.
                queued = !queued;
                let res = match queued {
                    true => stream.queue_write(buf).await,
                    false => stream.write_all(buf).await.0,
                };
                if res.is_err() {
                    return;
                }
            }
        });
        while let Some(Some(_)) = futures_poll_once(conns.join_next()).await {}
    }
}

/// Polls `fut` once: its output if it is ready, without waiting.
async fn futures_poll_once<F: Future>(fut: F) -> Option<F::Output> {
    let mut fut = pin!(fut);
    poll_fn(|cx| match fut.as_mut().poll(cx) {
        Poll::Ready(out) => Poll::Ready(Some(out)),
        Poll::Pending => Poll::Ready(None),
    })
    .await
}

/// A client: connects, echoes random chunks (checking every byte that comes back), and at
/// random drops an operation midway (the connection is then abandoned) or resets.
async fn client(shared: Rc<Shared>, mut rng: Rng, zero_copy: bool) {
    while shared.more() {
        shared.count();
        let Some(Ok(stream)) = drive(TcpStream::connect(shared.addr), Fate::pick(&mut rng)).await
        else {
            continue;
        };
        while shared.more() {
            let len = 1 + rng.below(4096) as usize;
            let data = rng.bytes(len);
            shared.count();
            let sent = match (rng.below(4), Fate::pick(&mut rng)) {
                (0, fate) if zero_copy => drive(stream.send_zc(data.clone()), fate)
                    .await
                    .map(|(res, _)| res.map(|n| n == data.len())),
                (1, fate) => drive(stream.queue_write(data.clone()), fate)
                    .await
                    .map(|res| res.map(|()| true)),
                (_, fate) => drive(stream.write_all(data.clone()), fate)
                    .await
                    .map(|(res, _)| res.map(|()| true)),
            };
            let Some(Ok(true)) = sent else {
                break; // dropped midway, a short zero-copy send, or an error: abandon it
            };
            shared.count();
            let back = drive(
                stream.read_exact(Vec::with_capacity(data.len())),
                Fate::pick(&mut rng),
            );
            let Some((res, buf)) = back.await else {
                break;
            };
            res.expect("an acknowledged echo did not come back");
            assert!(buf == data, "an echo came back changed");
            shared.verified.set(shared.verified.get() + 1);
            if rng.below(8) == 0 {
                break; // a new connection now and then
            }
        }
        if rng.below(4) == 0 {
            // A peer that resets: SO_LINGER 0, then close.
            use std::os::fd::{AsRawFd, BorrowedFd};
            // SAFETY: the stream holds the fd open for the borrow's whole life.
            let fd = unsafe { BorrowedFd::borrow_raw(stream.as_raw_fd()) };
            let _ = socket2::SockRef::from(&fd).set_linger(Some(Duration::ZERO));
        }
    }
}

/// A file worker: writes random data at random offsets of its own file and reads it back,
/// opening the file again at random; reads check what the last acknowledged write put there.
async fn files(shared: Rc<Shared>, mut rng: Rng, id: usize) {
    let path = shared.dir.join(format!("f{id}"));
    std::fs::write(&path, []).unwrap();
    // What each byte is known to hold. A write whose future was dropped may still land at
    // any time until the kernel (or, on epoll, the thread pool) finishes it, even after later
    // writes: the bytes it covers are never trusted again.
    let mut model: Vec<Option<u8>> = Vec::new();
    let mut tainted: Vec<bool> = Vec::new();
    while shared.more() {
        shared.count();
        let mut options = File::options();
        options.read(true).write(true);
        let open = options.open(&path);
        let Some(Ok(file)) = drive(open, Fate::pick(&mut rng)).await else {
            continue;
        };
        for _ in 0..8 {
            let (offset, len) = (rng.below(64 * 1024) as usize, 1 + rng.below(8192) as usize);
            shared.count();
            if rng.below(2) == 0 {
                let data = rng.bytes(len);
                let write = file.write_all_at(data.clone(), offset as u64);
                match drive(write, Fate::pick(&mut rng)).await {
                    Some((res, _)) => {
                        res.unwrap();
                        if model.len() < offset + len {
                            model.resize(offset + len, None);
                            tainted.resize(offset + len, false);
                        }
                        for (i, b) in data.iter().enumerate() {
                            if !tainted[offset + i] {
                                model[offset + i] = Some(*b);
                            }
                        }
                    }
                    // Dropped midway: those bytes may be written now, later, or never.
                    None => {
                        if model.len() < offset + len {
                            model.resize(offset + len, None);
                            tainted.resize(offset + len, false);
                        }
                        model[offset..offset + len].fill(None);
                        tainted[offset..offset + len].fill(true);
                    }
                }
            } else {
                let read = file.read_at(Vec::with_capacity(len), offset as u64);
                if let Some((res, buf)) = drive(read, Fate::pick(&mut rng)).await {
                    let n = res.unwrap();
                    assert_eq!(n, buf.len());
                    for (i, b) in buf.iter().enumerate() {
                        if let Some(Some(want)) = model.get(offset + i) {
                            assert_eq!(b, want, "byte {} of a file changed", offset + i);
                        }
                    }
                    shared.verified.set(shared.verified.get() + 1);
                }
            }
        }
        drop(file);
    }
}

/// Sleeps and timers dropped at random points.
async fn timers(shared: Rc<Shared>, mut rng: Rng) {
    while shared.more() {
        shared.count();
        let nap = sleep(Duration::from_micros(rng.below(500)));
        drive(nap, Fate::pick(&mut rng)).await;
    }
}

fn stress(driver: Driver) {
    let _serial = serial();
    let target: u64 = std::env::var("PROACTOR_STRESS_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000);
    let seed: u64 = std::env::var("PROACTOR_STRESS_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("stress {driver:?}: seed {seed} (PROACTOR_STRESS_SEED={seed} replays it), {target} operations");
    let dir = tempfile::tempdir().unwrap();
    let before = open_fds();
    let rt = runtime(driver);
    let started = Instant::now();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let shared = Rc::new(Shared {
                addr: listener.local_addr().unwrap(),
                dir: dir.path().to_path_buf(),
                ops: Cell::new(0),
                target,
                verified: Cell::new(0),
            });
            let server = proactor::spawn(serve(listener));
            let zero_copy = proactor::runtime::ring_features().is_some_and(|f| f.send_zc);
            let mut rng = Rng(seed);
            let mut workers = JoinSet::new();
            for i in 0..24 {
                let worker = Rng(rng.next() | 1);
                let shared = shared.clone();
                match i % 4 {
                    0 | 1 => workers.spawn(client(shared, worker, zero_copy)),
                    2 => workers.spawn(files(shared, worker, i)),
                    _ => workers.spawn(timers(shared, worker)),
                };
            }
            for res in workers.join_all().await {
                res.unwrap();
            }
            server.abort();
            let _ = server.await;
            // The runtime settles: every parked op's completion arrives, every task ends.
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let stats = proactor::runtime::stats();
                if stats.ops_in_flight == 0 && stats.tasks_alive == 0 && stats.timers == 0 {
                    break;
                }
                assert!(Instant::now() < deadline, "never settled: {stats:?}");
                sleep(Duration::from_millis(1)).await;
            }
            let verified = shared.verified.get();
            eprintln!(
                "stress {driver:?}: {} operations, {verified} transfers checked byte for byte, {:?}",
                shared.ops.get(),
                started.elapsed()
            );
            assert!(verified > 0, "nothing was checked");
        })
    }));
    if let Err(panic) = outcome {
        eprintln!("stress {driver:?} failed with seed {seed}");
        std::panic::resume_unwind(panic);
    }
    let dropping = Instant::now();
    drop(rt);
    assert!(
        dropping.elapsed() < Duration::from_secs(5),
        "dropping the runtime took {:?} (seed {seed})",
        dropping.elapsed()
    );
    drop(dir);
    assert_eq!(open_fds(), before, "descriptors leaked (seed {seed})");
}

on_each_driver!(stress);
