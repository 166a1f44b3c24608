//! The smallest program: spawn a task, await it, sleep.

use std::time::{Duration, Instant};

fn main() -> std::io::Result<()> {
    let rt = proactor::Runtime::new()?;
    println!("driver: {} ({})", rt.driver(), rt.driver_reason());
    rt.block_on(async {
        let h = proactor::spawn(async { 40 + 2 });
        assert_eq!(h.await.unwrap(), 42);
        let start = Instant::now();
        proactor::time::sleep(Duration::from_millis(10)).await;
        println!("slept {:?}", start.elapsed());
        for _ in 0..1000 {
            proactor::nop().await?;
        }
        println!("stats: {:?}", proactor::runtime::stats());
        Ok(())
    })
}
