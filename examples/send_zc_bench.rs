//! Zero-copy sends against plain writes over loopback: `cargo run --release --example
//! send_zc_bench [-- TOTAL_MIB]`. For each message size, sends TOTAL_MIB (default 256) to a
//! reader thread with `write_all` and with `send_zc` loops, and prints the throughput of
//! each. Over loopback the kernel copies zero-copy data anyway, so this shows the cost of
//! the extra notification; a real NIC is where `send_zc` can win.

use std::io::Read;
use std::net::TcpListener as StdListener;
use std::time::Instant;

use proactor::buf::IoBuf;
use proactor::net::TcpStream;

fn reader() -> (std::net::SocketAddr, std::thread::JoinHandle<u64>) {
    let listener = StdListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let h = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0u64;
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => return total,
                Ok(n) => total += n as u64,
            }
        }
    });
    (addr, h)
}

async fn run(size: usize, total: usize, zc: bool) -> f64 {
    let (addr, peer) = reader();
    let s = TcpStream::connect(addr).await.unwrap();
    let mut buf = vec![7u8; size];
    let start = Instant::now();
    for _ in 0..total / size {
        if zc {
            let mut sent = 0;
            while sent < size {
                let (res, slice) = s.send_zc(buf.slice(sent..)).await;
                buf = slice.into_inner();
                sent += res.unwrap();
            }
        } else {
            let (res, b) = s.write_all(buf).await;
            res.unwrap();
            buf = b;
        }
    }
    drop(s);
    let got = peer.join().unwrap();
    assert_eq!(got as usize, total / size * size);
    got as f64 / start.elapsed().as_secs_f64() / (1 << 20) as f64
}

fn main() {
    let mib: usize = std::env::args()
        .nth(1)
        .map_or(256, |a| a.parse().expect("TOTAL_MIB"));
    let rt = proactor::Runtime::new().unwrap();
    println!("driver {} features {:?}", rt.driver(), rt.ring_features());
    for size in [4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20] {
        let (plain, zc) = rt.block_on(async {
            let plain = run(size, mib << 20, false).await;
            let zc = run(size, mib << 20, true).await;
            (plain, zc)
        });
        println!(
            "{:>8} B  write_all {plain:>8.0} MiB/s  send_zc {zc:>8.0} MiB/s  ({:.2}x)",
            size,
            zc / plain
        );
    }
}
