//! asyncio's `gather`: run several coroutines at once and collect their results in the
//! order they were given (the asyncio tour, `docs/asyncio-tour.md`).
//!
//! ```text
//! cargo run --example asyncio_gather
//! ```

use std::io;
use std::time::{Duration, Instant};

use proactor::time::sleep;
use proactor::JoinSet;

/// The `factorial` of asyncio's own `gather` example: one step per tick (10 ms here).
async fn factorial(name: &'static str, number: u64) -> u64 {
    let mut f = 1;
    for i in 2..=number {
        println!("Task {name}: Compute factorial({number}), currently i={i}...");
        sleep(Duration::from_millis(10)).await;
        f *= i;
    }
    println!("Task {name}: factorial({number}) = {f}");
    f
}

fn main() -> io::Result<()> {
    proactor::block_on(async {
        let start = Instant::now();
        // asyncio.gather(factorial("A", 2), factorial("B", 3), factorial("C", 4))
        let mut set = JoinSet::new();
        set.spawn(factorial("A", 2));
        set.spawn(factorial("B", 3));
        set.spawn(factorial("C", 4));
        // Every result, in the order spawned; a task that panicked would be an `Err` in
        // its place (gather's `return_exceptions=True`), and `?` makes the first one the
        // error of the whole (plain `gather`).
        let results = set
            .join_all()
            .await
            .into_iter()
            .collect::<Result<Vec<u64>, _>>()?;
        println!("{results:?} in {:?}", start.elapsed());
        assert_eq!(results, [2, 6, 24]);

        // Two tasks of different types: spawn each and await the handles.
        let (a, b) = (
            proactor::spawn(factorial("D", 2)),
            proactor::spawn(async { "done" }),
        );
        let (a, b) = (a.await?, b.await?);
        println!("{a} and {b}");
        Ok(())
    })
}
