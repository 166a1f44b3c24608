//! asyncio's `loop.run_in_executor`: blocking and CPU-bound functions run on the blocking
//! thread pool while the runtime's thread keeps running tasks (the asyncio tour,
//! `docs/asyncio-tour.md`).
//!
//! ```text
//! cargo run --example asyncio_run_in_executor
//! ```

use std::cell::Cell;
use std::io::{self, Read};
use std::rc::Rc;
use std::time::Duration;

/// File operations (such as logging) can block the loop: run them on the pool.
fn blocking_io() -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; 100];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(buf)
}

/// CPU-bound work blocks the loop too. Without a global lock, pool threads run it in
/// parallel: there is no need for a process pool.
fn cpu_bound() -> u64 {
    (0..1_000_000u64).map(|i| i * i).sum()
}

fn main() -> io::Result<()> {
    proactor::block_on(async {
        // A task that ticks while the blocking work runs elsewhere.
        let ticks = Rc::new(Cell::new(0u32));
        let ticker = {
            let ticks = ticks.clone();
            proactor::spawn(async move {
                loop {
                    proactor::time::sleep(Duration::from_millis(1)).await;
                    ticks.set(ticks.get() + 1);
                }
            })
        };

        // result = await loop.run_in_executor(None, blocking_io)
        let bytes = proactor::spawn_blocking(blocking_io).await??;
        println!("default thread pool: {} bytes", bytes.len());

        // result = await loop.run_in_executor(pool, cpu_bound)
        let sum = proactor::spawn_blocking(cpu_bound).await?;
        println!("cpu bound: {sum}");

        // Several at once, gathered.
        let mut set = proactor::JoinSet::new();
        for i in 0..4u64 {
            set.insert(proactor::spawn_blocking(move || cpu_bound() + i));
        }
        let sums = set.join_all().await;
        println!("{} cpu-bound jobs in parallel", sums.len());

        ticker.abort();
        println!("the loop ticked {} times meanwhile", ticks.get());
        Ok(())
    })
}
