//! asyncio's `loop.add_signal_handler`: a task that handles `SIGUSR1` each time the process
//! receives it, read through the ring; the example sends the signal to itself, so it ends
//! by itself (the asyncio tour, `docs/asyncio-tour.md`).
//!
//! ```text
//! cargo run --example asyncio_signal
//! ```

use std::io;
use std::time::Duration;

use proactor::signal::unix::{signal, SignalKind};

/// `os.kill(os.getpid(), signal.SIGUSR1)`.
fn raise_usr1() -> io::Result<()> {
    // SAFETY: getpid and kill take no pointers; SIGUSR1 is claimed by this process's
    // listener (created before the first kill), so it is delivered to the listener rather
    // than ending the process.
    if unsafe { libc::kill(libc::getpid(), libc::SIGUSR1) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn main() -> io::Result<()> {
    proactor::block_on(async {
        // loop.add_signal_handler(signal.SIGUSR1, handler)
        let mut usr1 = signal(SignalKind::user_defined1())?;
        let handler = proactor::spawn(async move {
            let mut handled = 0;
            while handled < 2 {
                usr1.recv().await;
                handled += 1;
                println!("got SIGUSR1 ({handled})");
            }
            handled
        });

        // loop.call_later(0.05, os.kill, os.getpid(), signal.SIGUSR1), until handled twice
        // (two signals sent before the handler reads one arrive as one).
        for _ in 0..40 {
            if handler.is_finished() {
                break;
            }
            proactor::time::sleep(Duration::from_millis(50)).await;
            raise_usr1()?;
        }
        let handled = proactor::time::timeout(Duration::from_secs(1), handler)
            .await
            .map_err(|_| io::Error::other("SIGUSR1 was not handled"))??;
        println!("handled {handled} signals");
        Ok(())
    })
}
