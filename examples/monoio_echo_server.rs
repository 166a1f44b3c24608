//! The echo server on monoio's io_uring driver: the io_uring peer of the echo benchmark.
//! Written the way monoio's own echo example and benchmark server are: one thread, a
//! `RuntimeBuilder::<IoUringDriver>` runtime, one task per connection, owned-buffer `read`
//! into a 64 KiB buffer and `write_all` back (the same logic as `tokio_echo_server` and
//! `echo-server`). Prints `listening on <addr>` once it accepts.
//!
//! `cargo run --release --example monoio_echo_server -- --addr 127.0.0.1:7001`

use std::io::Write;

use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::{TcpListener, TcpStream};
use monoio::{IoUringDriver, RuntimeBuilder};

fn main() -> std::io::Result<()> {
    let mut addr = "127.0.0.1:7001".to_string();
    // Submission queue size; monoio's own benchmark server asks for 32768.
    let mut entries = 32768;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => addr = args.next().expect("--addr needs a value"),
            "--entries" => {
                entries = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--entries needs a number")
            }
            "--help" | "-h" => {
                println!("usage: monoio_echo_server [--addr HOST:PORT] [--entries N]");
                return Ok(());
            }
            other => {
                eprintln!("unknown argument {other:?}; see --help");
                std::process::exit(2);
            }
        }
    }
    let mut rt = RuntimeBuilder::<IoUringDriver>::new()
        .with_entries(entries)
        .build()?;
    rt.block_on(async move {
        let listener = TcpListener::bind(&addr)?;
        println!("listening on {}", listener.local_addr()?);
        std::io::stdout().flush()?;
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of descriptors, most likely. The runtime has no timer driver
                    // (as in monoio's benchmark server), so the back-off blocks briefly.
                    eprintln!("accept: {e}");
                    std::thread::sleep(std::time::Duration::from_millis(10));
                    continue;
                }
            };
            monoio::spawn(echo(stream));
        }
    })
}

async fn echo(mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut buf = Vec::with_capacity(64 * 1024);
    loop {
        let (res, b) = stream.read(buf).await;
        match res {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let (res, mut b) = stream.write_all(b).await;
        if res.is_err() {
            return;
        }
        b.clear();
        buf = b;
    }
}
