//! Drop safety: futures dropped while the kernel owns their operation.

mod util;

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::Poll;

use proactor::task::yield_now;
use proactor::Driver;
use util::{block_on, runtime};

/// Polls every future once (submitting its operation), then drops them all in flight.
async fn submit_then_drop(n: usize) {
    let mut ops: Vec<Pin<Box<dyn Future<Output = std::io::Result<()>>>>> =
        (0..n).map(|_| Box::pin(proactor::nop()) as _).collect();
    poll_fn(|cx| {
        for op in &mut ops {
            let _ = op.as_mut().poll(cx);
        }
        Poll::Ready(())
    })
    .await;
    drop(ops);
}

fn dropping_100k_in_flight_ops_leaves_none(driver: Driver) {
    block_on(driver, async {
        submit_then_drop(100_000).await;
        let mut turns = 0;
        while proactor::runtime::stats().ops_in_flight > 0 && turns < 10_000 {
            yield_now().await;
            turns += 1;
        }
        let stats = proactor::runtime::stats();
        assert_eq!(stats.ops_in_flight, 0, "{stats:?}");
        // The runtime still works.
        proactor::nop().await.unwrap();
    });
}

fn runtime_drop_with_ops_in_flight(driver: Driver) {
    let rt = runtime(driver);
    rt.block_on(async {
        for _ in 0..1000 {
            proactor::spawn(async {
                loop {
                    proactor::nop().await.unwrap();
                }
            });
        }
        for _ in 0..3 {
            yield_now().await;
        }
    });
    // Tasks are mid-operation: dropping cancels them and drains the ring.
    drop(rt);
}

fn many_runtimes_in_sequence(driver: Driver) {
    for _ in 0..50 {
        block_on(driver, async {
            submit_then_drop(100).await;
        });
    }
}

on_each_driver!(
    dropping_100k_in_flight_ops_leaves_none,
    runtime_drop_with_ops_in_flight,
    many_runtimes_in_sequence,
);
