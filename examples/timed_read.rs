//! The cost of a deadline on a read: each iteration starts a read on one end of a Unix
//! stream pair and a 1-byte write on the other and waits for both, so the read waits, then
//! completes in time. Modes: `plain` (no deadline), `op` (`read(buf).timeout(d)`: on
//! io_uring a linked timeout in the kernel, on epoll the runtime's timer) and `time`
//! (`time::timeout(d, read(buf))`: a runtime timer on both).
//!
//! Without `--mode`, runs the three in turn, `--reps` times over, `--iters` iterations each,
//! on each driver, and prints ns per iteration and each mode's ratio to `plain` within the
//! same round (median, min-max): the host's speed drifts, so only ratios within a round
//! count. With `--mode M`, runs only that mode, for a deterministic instruction count:
//!
//! `valgrind --tool=callgrind target/release/examples/timed_read --mode op --iters 20000`
//! (instructions per iteration: the difference of two runs of different `--iters`, divided
//! by the difference of the iterations).

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use proactor::net::UnixStream;
use proactor::{Driver, Runtime};

const DEADLINE: Duration = Duration::from_secs(10);
const MODES: [&str; 3] = ["plain", "op", "time"];

/// Runs `iters` iterations of `mode` on the pair.
async fn run(a: &UnixStream, b: &UnixStream, mode: &str, iters: u64) {
    let mut buf = Vec::with_capacity(16);
    for _ in 0..iters {
        buf.clear();
        let read = async {
            match mode {
                "plain" => b.read(buf).await,
                "op" => b.read(buf).timeout(DEADLINE).await,
                _ => proactor::time::timeout(DEADLINE, b.read(buf))
                    .await
                    .expect("in time"),
            }
        };
        let write = a.write(b"x".as_slice());
        let (mut read, mut write) = (pin!(read), pin!(write));
        let (mut got, mut wrote) = (None, None);
        poll_fn(|cx| {
            if got.is_none() {
                if let Poll::Ready(out) = read.as_mut().poll(cx) {
                    got = Some(out);
                }
            }
            if wrote.is_none() {
                if let Poll::Ready(out) = write.as_mut().poll(cx) {
                    wrote = Some(out);
                }
            }
            if got.is_some() && wrote.is_some() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
        let (res, back) = got.expect("done");
        assert_eq!(res.expect("read"), 1);
        wrote.expect("done").0.expect("write");
        buf = back;
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn span(v: &[f64]) -> String {
    let lo = v.iter().copied().fold(f64::MAX, f64::min);
    let hi = v.iter().copied().fold(f64::MIN, f64::max);
    format!("{lo:.2}-{hi:.2}")
}

fn main() -> std::io::Result<()> {
    let (mut mode, mut iters, mut reps, mut driver) = (None, 20_000u64, 9usize, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().expect("a flag needs a value");
        match arg.as_str() {
            "--mode" => mode = Some(value()),
            "--iters" => iters = value().parse().expect("--iters N"),
            "--reps" => reps = value().parse().expect("--reps N"),
            "--driver" => driver = Some(value().parse::<Driver>()?),
            other => panic!("unknown argument {other:?}"),
        }
    }
    if let Some(mode) = mode {
        let rt = Runtime::builder()
            .driver(driver.unwrap_or(Driver::Uring))
            .build()?;
        let (a, b) = UnixStream::pair()?;
        rt.block_on(run(&a, &b, &mode, iters));
        return Ok(());
    }
    let drivers = match driver {
        Some(d) => vec![d],
        None => vec![Driver::Uring, Driver::Epoll],
    };
    println!("driver   mode    ns/iter   ratio to plain (min-max)");
    for driver in drivers {
        let rt = Runtime::builder().driver(driver).build()?;
        let (a, b) = UnixStream::pair()?;
        rt.block_on(run(&a, &b, "plain", iters)); // warm-up
        let mut ns: Vec<Vec<f64>> = vec![Vec::new(); MODES.len()];
        for _ in 0..reps {
            for (i, mode) in MODES.iter().enumerate() {
                let start = Instant::now();
                rt.block_on(run(&a, &b, mode, iters));
                ns[i].push(start.elapsed().as_nanos() as f64 / iters as f64);
            }
        }
        for (i, mode) in MODES.iter().enumerate() {
            let ratios: Vec<f64> = ns[i].iter().zip(&ns[0]).map(|(x, p)| x / p).collect();
            println!(
                "{:<8} {:<6} {:>8.0}   {:.3} ({})",
                format!("{:?}", rt.driver()),
                mode,
                median(&mut ns[i].clone()),
                median(&mut ratios.clone()),
                span(&ratios),
            );
        }
    }
    Ok(())
}
