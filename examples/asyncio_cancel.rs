//! asyncio's `Task.cancel()` and `CancelledError`: the spinner of the notes, which spins
//! until its supervisor cancels it and then clears its line (the asyncio tour,
//! `docs/asyncio-tour.md`).
//!
//! ```text
//! cargo run --example asyncio_cancel
//! ```

use std::io::{self, Write};
use std::time::Duration;

use proactor::time::sleep;

/// The `except asyncio.CancelledError:` clean-up: a cancelled task's future is dropped at
/// the await where it was suspended, and its values are dropped with it.
struct ClearLine(usize);

impl Drop for ClearLine {
    fn drop(&mut self) {
        print!("\r{}\r", " ".repeat(self.0));
        let _ = io::stdout().flush();
    }
}

async fn spin(msg: &str) {
    let _clear = ClearLine(msg.len() + 2);
    for c in "|/-\\".chars().cycle() {
        print!("\r{c} {msg}");
        let _ = io::stdout().flush();
        sleep(Duration::from_millis(20)).await; // where a cancellation takes effect
    }
}

/// Pretends to wait a long time for I/O.
async fn slow_function() -> u32 {
    sleep(Duration::from_millis(300)).await;
    42
}

async fn supervisor() -> u32 {
    let spinner = proactor::spawn(spin("thinking!"));
    println!("spinner object: {spinner:?}");
    let result = slow_function().await;
    // spinner.cancel()
    spinner.abort();
    // Awaiting a cancelled task gives its `CancelledError`.
    let err = spinner.await.expect_err("the spinner never ends by itself");
    assert!(err.is_cancelled());
    result
}

fn main() -> io::Result<()> {
    let result = proactor::block_on(async {
        let answer = supervisor().await;

        // asyncio.wait_for(slow_function(), timeout=0.05): the timeout cancels it.
        let late = proactor::time::timeout(Duration::from_millis(50), slow_function()).await;
        assert!(late.is_err(), "slow_function took 300 ms");
        answer
    });
    println!("Answer: {result}");
    Ok(())
}
