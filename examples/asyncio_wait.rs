//! asyncio's `wait`: `FIRST_COMPLETED` with a timeout, then what finishes within a
//! deadline while the rest stays pending, then cancelling the pending ones (the asyncio
//! tour, `docs/asyncio-tour.md`).
//!
//! ```text
//! cargo run --example asyncio_wait
//! ```

use std::io;
use std::time::Duration;

use proactor::time::{sleep, timeout};
use proactor::JoinSet;

async fn fetch(name: &'static str, delay: Duration) -> &'static str {
    sleep(delay).await;
    name
}

fn main() -> io::Result<()> {
    proactor::block_on(async {
        let mut tasks = JoinSet::new();
        for (name, ms) in [("fast", 10), ("medium", 50), ("slow", 60_000)] {
            tasks.spawn(fetch(name, Duration::from_millis(ms)));
        }

        // done, pending = await asyncio.wait(tasks, timeout=1,
        //                                    return_when=asyncio.FIRST_COMPLETED)
        match timeout(Duration::from_secs(1), tasks.join_next()).await {
            Ok(Some(first)) => println!("first completed: {}", first?),
            Ok(None) => println!("there were no tasks"),
            Err(_elapsed) => println!("none completed within 1 s"),
        }

        // done, pending = await asyncio.wait(pending, timeout=0.2)
        let mut done = Vec::new();
        let within = timeout(Duration::from_millis(200), async {
            while let Some(res) = tasks.join_next().await {
                done.push(res?);
            }
            Ok::<(), proactor::JoinError>(())
        });
        if let Ok(res) = within.await {
            res?;
        }
        println!(
            "done within 200 ms: {done:?}; still pending: {}",
            tasks.len()
        );

        // for task in pending: task.cancel()
        tasks.shutdown().await;
        println!("pending tasks cancelled: {} left", tasks.len());
        Ok(())
    })
}
