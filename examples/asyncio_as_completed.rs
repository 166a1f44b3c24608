//! asyncio's `as_completed`: take each result as soon as its task finishes, whatever the
//! order the tasks were started in, optionally within a deadline (the asyncio tour,
//! `docs/asyncio-tour.md`).
//!
//! ```text
//! cargo run --example asyncio_as_completed
//! ```

use std::io;
use std::time::{Duration, Instant};

use proactor::time::{sleep, timeout_at};
use proactor::JoinSet;

async fn work(n: u64) -> u64 {
    sleep(Duration::from_millis(10 * n)).await;
    n
}

fn main() -> io::Result<()> {
    proactor::block_on(async {
        // for coro in asyncio.as_completed([work(3), work(1), work(2)]):
        //     print(await coro)
        let mut set = JoinSet::new();
        for n in [3, 1, 2] {
            set.spawn(work(n));
        }
        let mut order = Vec::new();
        while let Some(res) = set.join_next().await {
            let n = res?;
            println!("work({n}) finished");
            order.push(n);
        }
        assert_eq!(order, [1, 2, 3]);

        // as_completed(..., timeout=0.1): the same loop, each wait bounded by one deadline.
        for n in [1, 2, 500] {
            set.spawn(work(n));
        }
        let deadline = Instant::now() + Duration::from_millis(100);
        while let Ok(Some(res)) = timeout_at(deadline, set.join_next()).await {
            println!("work({}) finished before the deadline", res?);
        }
        println!(
            "{} still running at the deadline: dropped with the set",
            set.len()
        );
        Ok(())
    })
}
