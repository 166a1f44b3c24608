//! Micro benchmarks: the cost of one operation round trip, a task, a yield, a timer, a
//! cached file read; and the io_uring-only fast paths fixed buffers (`O_DIRECT` reads) and
//! zero-copy sends.
//!
//! Each benchmark runs on every driver that can be built here (`proactor-uring`,
//! `proactor-epoll`), next to its tokio (current_thread) counterpart and, for the nop round
//! trip, a raw io-uring loop doing the same work with no runtime around it.
//!
//! `cargo bench --bench ops`

use std::future::{poll_fn, Future};
use std::hint::black_box;
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use io_uring::{opcode, IoUring};
use proactor::{Driver, Runtime};

const DRIVERS: [(Driver, &str); 2] = [(Driver::Uring, "uring"), (Driver::Epoll, "epoll")];

fn runtimes() -> Vec<(String, Runtime)> {
    DRIVERS
        .iter()
        .filter_map(
            |&(driver, name)| match Runtime::builder().driver(driver).build() {
                Ok(rt) => Some((format!("proactor-{name}"), rt)),
                Err(e) => {
                    eprintln!("skipping proactor-{name}: {e}");
                    None
                }
            },
        )
        .collect()
}

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Polls all futures to completion together, without spawning tasks.
async fn join_all<F: Future + Unpin>(mut futs: Vec<F>) {
    let mut done = vec![false; futs.len()];
    let mut left = futs.len();
    poll_fn(|cx| {
        for (fut, done) in futs.iter_mut().zip(done.iter_mut()) {
            if !*done && Pin::new(&mut *fut).poll(cx).is_ready() {
                *done = true;
                left -= 1;
            }
        }
        if left == 0 {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await
}

/// A raw io-uring loop: `batch` NOPs submitted, waited for and reaped per iteration.
fn raw_nop(ring: &mut IoUring, batch: usize, iters: u64) -> Duration {
    let nop = opcode::Nop::new().build().user_data(7);
    let start = Instant::now();
    for _ in 0..iters {
        for _ in 0..batch {
            // SAFETY: a NOP entry carries no pointers.
            unsafe { ring.submission().push(&nop).unwrap() };
        }
        ring.submit_and_wait(batch).unwrap();
        let mut n = 0;
        for cqe in ring.completion() {
            black_box(cqe.result());
            n += 1;
        }
        assert_eq!(n, batch);
    }
    start.elapsed()
}

fn nop(c: &mut Criterion) {
    let mut group = c.benchmark_group("nop");
    for batch in [1usize, 64] {
        for (name, rt) in runtimes() {
            group.bench_with_input(BenchmarkId::new(name, batch), &batch, |b, &batch| {
                b.iter_custom(|iters| {
                    rt.block_on(async {
                        let start = Instant::now();
                        for _ in 0..iters {
                            if batch == 1 {
                                proactor::nop().await.unwrap();
                            } else {
                                let ops = (0..batch).map(|_| Box::pin(proactor::nop())).collect();
                                join_all(ops).await;
                            }
                        }
                        start.elapsed()
                    })
                })
            });
        }
        let mut ring = IoUring::new(1024).unwrap();
        group.bench_with_input(
            BenchmarkId::new("raw-io-uring", batch),
            &batch,
            |b, &batch| b.iter_custom(|iters| raw_nop(&mut ring, batch, iters)),
        );
    }
    group.finish();
}

fn spawn_join(c: &mut Criterion) {
    let mut group = c.benchmark_group("spawn_join");
    for (name, rt) in runtimes() {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for i in 0..iters {
                        black_box(proactor::spawn(async move { i }).await.unwrap());
                    }
                    start.elapsed()
                })
            })
        });
    }
    let rt = tokio_rt();
    group.bench_function("tokio", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for i in 0..iters {
                    black_box(tokio::spawn(async move { i }).await.unwrap());
                }
                start.elapsed()
            })
        })
    });
    group.finish();
}

fn yield_now(c: &mut Criterion) {
    let mut group = c.benchmark_group("yield_now");
    for (name, rt) in runtimes() {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    proactor::spawn(async move {
                        let start = Instant::now();
                        for _ in 0..iters {
                            proactor::task::yield_now().await;
                        }
                        start.elapsed()
                    })
                    .await
                    .unwrap()
                })
            })
        });
    }
    let rt = tokio_rt();
    group.bench_function("tokio", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                tokio::spawn(async move {
                    let start = Instant::now();
                    for _ in 0..iters {
                        tokio::task::yield_now().await;
                    }
                    start.elapsed()
                })
                .await
                .unwrap()
            })
        })
    });
    group.finish();
}

/// 1000 timers registered together, firing 200 µs later: the time above 200 µs is the
/// store's cost of registering, firing and waking them. tokio's timer wheel has 1 ms
/// granularity, so its figure includes rounding the deadline up to the next millisecond.
fn timers(c: &mut Criterion) {
    const N: usize = 1000;
    const AFTER: Duration = Duration::from_micros(200);
    let mut group = c.benchmark_group("timer_1000");
    for (name, rt) in runtimes() {
        group.bench_function(name, |b| {
            b.iter(|| {
                rt.block_on(async {
                    let at = Instant::now() + AFTER;
                    let sleeps = (0..N).map(|_| proactor::time::sleep_until(at)).collect();
                    join_all(sleeps).await;
                })
            })
        });
    }
    let rt = tokio_rt();
    group.bench_function("tokio", |b| {
        b.iter(|| {
            rt.block_on(async {
                let at = tokio::time::Instant::now() + AFTER;
                let sleeps = (0..N)
                    .map(|_| Box::pin(tokio::time::sleep_until(at)))
                    .collect();
                join_all(sleeps).await;
            })
        })
    });
    group.finish();
}

/// A 4 KiB `read_at` from a file in the page cache, one at a time, at offsets walking
/// through a 1 MiB file. `pread` is the system call alone, without a runtime; tokio has no
/// positional read, so its counterpart is `tokio::fs::File` seek + read (a blocking-pool
/// round trip per read, which is how tokio does file I/O).
fn read_at_4k(c: &mut Criterion) {
    const FILE: usize = 1 << 20;
    const BLOCK: usize = 4096;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    std::fs::write(&path, vec![7u8; FILE]).unwrap();
    let offset = |i: u64| (i * BLOCK as u64) % FILE as u64;
    let mut group = c.benchmark_group("read_at_4k");
    let mut rts = runtimes();
    // The ring path alone: without fast paths a cached read is not answered inline.
    if let Ok(rt) = Runtime::builder()
        .driver(proactor::Driver::Uring)
        .fast_paths(false)
        .build()
    {
        rts.push(("proactor-uring-ring-only".to_string(), rt));
    }
    for (name, rt) in rts {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let file = proactor::fs::File::open(&path).await.unwrap();
                    let mut buf = Vec::with_capacity(BLOCK);
                    let start = Instant::now();
                    for i in 0..iters {
                        buf.clear();
                        let (res, b) = file.read_at(buf, offset(i)).await;
                        assert_eq!(res.unwrap(), BLOCK);
                        buf = b;
                    }
                    start.elapsed()
                })
            })
        });
    }
    let std_file = std::fs::File::open(&path).unwrap();
    group.bench_function("pread", |b| {
        use std::os::unix::fs::FileExt;
        let mut buf = vec![0u8; BLOCK];
        let mut i = 0;
        b.iter(|| {
            i += 1;
            std_file.read_exact_at(&mut buf, offset(i)).unwrap();
        })
    });
    let rt = tokio_rt();
    group.bench_function("tokio", |b| {
        use tokio::io::{AsyncReadExt, AsyncSeekExt};
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut file = tokio::fs::File::open(&path).await.unwrap();
                let mut buf = vec![0u8; BLOCK];
                let start = Instant::now();
                for i in 0..iters {
                    file.seek(std::io::SeekFrom::Start(offset(i)))
                        .await
                        .unwrap();
                    file.read_exact(&mut buf).await.unwrap();
                }
                start.elapsed()
            })
        })
    });
    group.finish();
}

/// `O_DIRECT` reads of 64 KiB from a 16 MiB file, one at a time, into the same memory: a
/// buffer of a registered [`FixedBufPool`](proactor::buf::FixedBufPool) read with `read_at`
/// (`IORING_OP_READ`: the kernel pins and unpins the buffer's pages per read) and with
/// `read_fixed_at` (`READ_FIXED`: pinned once, at registration). io_uring only (epoll runs
/// both as `pread`); skipped where the file system refuses `O_DIRECT`.
fn direct_read_64k(c: &mut Criterion) {
    const FILE: usize = 16 << 20;
    const BLOCK: usize = 64 << 10;
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let path = dir.path().join("data");
    std::fs::write(&path, vec![7u8; FILE]).unwrap();
    let offset = |i: u64| (i * BLOCK as u64) % FILE as u64;
    let Ok(rt) = Runtime::builder().driver(Driver::Uring).build() else {
        eprintln!("skipping direct_read_64k: io_uring unavailable");
        return;
    };
    let setup = rt.block_on(async {
        let file = proactor::fs::File::options()
            .read(true)
            .custom_flags(libc::O_DIRECT)
            .open(&path)
            .await?;
        let pool = proactor::buf::FixedBufPool::new(1, BLOCK)?;
        Ok::<_, std::io::Error>((file, pool))
    });
    let (file, pool) = match setup {
        Ok(v) => v,
        Err(e) => {
            eprintln!("skipping direct_read_64k: {e}");
            return;
        }
    };
    if !pool.is_registered() {
        eprintln!("skipping direct_read_64k: the ring refused the buffers");
        return;
    }
    let mut group = c.benchmark_group("direct_read_64k");
    for fixed in [false, true] {
        let name = if fixed { "read_fixed_at" } else { "read_at" };
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut buf = pool.get().unwrap();
                    let start = Instant::now();
                    for i in 0..iters {
                        buf.clear();
                        let (res, back) = if fixed {
                            file.read_fixed_at(buf, offset(i)).await
                        } else {
                            file.read_at(buf, offset(i)).await
                        };
                        assert_eq!(res.unwrap(), BLOCK);
                        buf = back;
                    }
                    start.elapsed()
                })
            })
        });
    }
    group.finish();
}

/// Sends of `size` bytes over a loopback TCP connection, drained by a reader task on the
/// same runtime: `write_all` (`IORING_OP_SEND`, the kernel copies the bytes) against a
/// `send_zc` loop (`SEND_ZC`: the pages are pinned and the buffer comes back with the
/// kernel's notification). Where `send_zc` would win is where the copy costs more than the
/// pinning and the second completion: not on loopback, where the receiver copies the bytes
/// anyway; this measures what it costs there.
fn tcp_send(c: &mut Criterion) {
    use proactor::buf::IoBuf;
    use proactor::net::{TcpListener, TcpStream};
    let Ok(rt) = Runtime::builder().driver(Driver::Uring).build() else {
        eprintln!("skipping tcp_send: io_uring unavailable");
        return;
    };
    if !rt.ring_features().unwrap().send_zc {
        eprintln!("skipping tcp_send: no SEND_ZC here");
        return;
    }
    let (client, reader) = rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = TcpStream::connect(addr).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let reader = proactor::spawn(async move {
            let mut buf = Vec::with_capacity(1 << 20);
            loop {
                buf.clear();
                let (res, b) = server.read(buf).await;
                if res.unwrap() == 0 {
                    return;
                }
                buf = b;
            }
        });
        (client, reader)
    });
    let mut group = c.benchmark_group("tcp_send");
    for size in [4usize << 10, 64 << 10, 1 << 20] {
        group.throughput(criterion::Throughput::Bytes(size as u64));
        for zc in [false, true] {
            let name = if zc { "send_zc" } else { "send" };
            group.bench_with_input(BenchmarkId::new(name, size), &size, |b, &size| {
                b.iter_custom(|iters| {
                    rt.block_on(async {
                        let mut buf = vec![1u8; size];
                        let start = Instant::now();
                        for _ in 0..iters {
                            if !zc {
                                let (res, back) = client.write_all(buf).await;
                                res.unwrap();
                                buf = back;
                                continue;
                            }
                            let mut sent = 0;
                            while sent < size {
                                let (res, back) = client.send_zc(buf.slice(sent..)).await;
                                sent += res.unwrap();
                                buf = back.into_inner();
                            }
                        }
                        start.elapsed()
                    })
                })
            });
        }
    }
    group.finish();
    rt.block_on(async move {
        drop(client);
        reader.await.unwrap();
    });
}

/// A read with a deadline that data beats: each iteration submits a read on one end of a
/// Unix stream pair, then a 1-byte write on the other, and waits for both (so the read
/// first waits, then completes). `plain` has no deadline; `op_timeout` gives the read its
/// own (`read(buf).timeout(d)`: on io_uring a linked `LINK_TIMEOUT`, one submission and no
/// runtime timer; on epoll the runtime's timer); `time_timeout` wraps it in
/// `time::timeout(d, read)` (a runtime timer on both).
fn timed_read(c: &mut Criterion) {
    use proactor::net::UnixStream;
    const DEADLINE: Duration = Duration::from_secs(10);
    let mut group = c.benchmark_group("timed_read");
    for (name, rt) in runtimes() {
        let (a, b) = rt.block_on(async { UnixStream::pair() }).unwrap();
        for mode in ["plain", "op_timeout", "time_timeout"] {
            let id = BenchmarkId::new(name.clone(), mode);
            group.bench_function(id, |bench| {
                bench.iter_custom(|iters| {
                    rt.block_on(async {
                        let mut buf = Vec::with_capacity(16);
                        let start = Instant::now();
                        for _ in 0..iters {
                            buf.clear();
                            let read = async {
                                match mode {
                                    "plain" => b.read(buf).await,
                                    "op_timeout" => b.read(buf).timeout(DEADLINE).await,
                                    _ => proactor::time::timeout(DEADLINE, b.read(buf))
                                        .await
                                        .unwrap(),
                                }
                            };
                            let write = a.write(b"x".as_slice());
                            let (read, write) = join2(read, write).await;
                            assert_eq!(read.0.unwrap(), 1);
                            write.0.unwrap();
                            buf = read.1;
                        }
                        start.elapsed()
                    })
                })
            });
        }
    }
    group.finish();
}

/// Polls both futures, the first first, until both are done.
async fn join2<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let (mut a, mut b) = (Box::pin(a), Box::pin(b));
    let (mut ra, mut rb) = (None, None);
    poll_fn(|cx| {
        if ra.is_none() {
            if let Poll::Ready(out) = a.as_mut().poll(cx) {
                ra = Some(out);
            }
        }
        if rb.is_none() {
            if let Poll::Ready(out) = b.as_mut().poll(cx) {
                rb = Some(out);
            }
        }
        match (ra.take(), rb.take()) {
            (Some(x), Some(y)) => Poll::Ready((x, y)),
            (x, y) => {
                (ra, rb) = (x, y);
                Poll::Pending
            }
        }
    })
    .await
}

criterion_group!(
    benches,
    nop,
    spawn_join,
    yield_now,
    timers,
    read_at_4k,
    direct_read_64k,
    tcp_send,
    timed_read
);
criterion_main!(benches);
