//! Opens N idle TCP connections to an address and holds them, to measure what an idle
//! connection costs a server (e.g. the echo-server's RSS before and after).
//!
//! `cargo run --release --example idle_conns -- ADDR N [HOLD_SECS]`: prints `open N` once
//! every connection is established, holds them for HOLD_SECS (default 10) and exits.
//! Needs a descriptor limit above N (`ulimit -n`).

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

fn main() {
    let mut args = std::env::args().skip(1);
    let usage = "usage: idle_conns ADDR N [HOLD_SECS]";
    let addr: SocketAddr = args.next().and_then(|a| a.parse().ok()).expect(usage);
    let n: usize = args.next().and_then(|a| a.parse().ok()).expect(usage);
    let hold: u64 = args.next().map_or(10, |a| a.parse().expect(usage));
    let mut conns = Vec::with_capacity(n);
    for i in 0..n {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
            Ok(s) => conns.push(s),
            Err(e) => {
                eprintln!("idle_conns: connection {i} failed: {e}");
                std::process::exit(1);
            }
        }
    }
    println!("open {}", conns.len());
    std::thread::sleep(Duration::from_secs(hold));
}
