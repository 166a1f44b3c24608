//! The echo server written against `tokio::io` (`AsyncReadExt::read`,
//! `AsyncWriteExt::write_all`) on proactor's `TcpStream` (feature `tokio-io`): the compat
//! variant of the echo benchmark, to weigh the poll-based bridge against `echo-server`'s
//! owned-buffer path on the same load. One task per connection; by default it reads into a
//! buffer of its own of `--buf-size` bytes (4096, as `echo-server`'s buffers) and writes
//! it all back; `--copy-buf` echoes with `tokio::io::copy_buf` between the stream's halves
//! instead (`AsyncBufRead`: no copy out of the received buffer).
//!
//! ```text
//! cargo run --release --features tokio-io --example compat_echo_server -- \
//!     [--addr 127.0.0.1:7002] [--threads 1] [--driver auto|uring|epoll] \
//!     [--buf-size 4096] [--copy-buf]
//! ```
//!
//! Prints `listening on <addr>` once it accepts.

#[path = "common/compat_echo.rs"]
mod compat_echo;
#[path = "common/reuseport.rs"]
mod reuseport;

use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::Mutex;

use proactor::runtime::ThreadPerCore;
use proactor::{Builder, Driver};

fn main() -> io::Result<()> {
    let mut addr: SocketAddr = "127.0.0.1:7002".parse().expect("a valid default");
    let mut threads = 1;
    let mut driver = Driver::Auto;
    let mut buf_size = 4096;
    let mut copy_buf = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_default();
        match arg.as_str() {
            "--addr" => addr = value().parse().map_err(|e| bad(format!("--addr: {e}")))?,
            "--threads" => {
                threads = value()
                    .parse()
                    .map_err(|e| bad(format!("--threads: {e}")))?
            }
            "--driver" => {
                driver = match value().as_str() {
                    "auto" => Driver::Auto,
                    "uring" => Driver::Uring,
                    "epoll" => Driver::Epoll,
                    other => return Err(bad(format!("--driver: unknown driver {other:?}"))),
                }
            }
            "--buf-size" => {
                buf_size = match value().parse() {
                    Ok(n) if n > 0 => n,
                    _ => return Err(bad("--buf-size: a positive number of bytes".into())),
                }
            }
            "--copy-buf" => copy_buf = true,
            "--help" | "-h" => {
                println!(
                    "usage: compat_echo_server [--addr HOST:PORT] [--threads N] \
                     [--driver auto|uring|epoll] [--buf-size BYTES] [--copy-buf]"
                );
                return Ok(());
            }
            other => return Err(bad(format!("unknown argument {other:?}; see --help"))),
        }
    }
    let style = if copy_buf {
        compat_echo::Style::CopyBuf
    } else {
        compat_echo::Style::ReadWrite { buf_size }
    };
    let mut builder = Builder::new();
    builder.driver(driver);
    let listening = std::sync::Barrier::new(threads.max(1));
    let shared = Mutex::new(addr);
    ThreadPerCore::new(threads.max(1))
        .builder(builder)
        .run(|_| {
            let (listening, shared) = (&listening, &shared);
            async move {
                let listener = reuseport::bind(shared);
                let wait = listening.wait();
                let listener = listener?;
                if wait.is_leader() {
                    println!("listening on {}", listener.local_addr()?);
                    io::stdout().flush()?;
                }
                let mut incoming = listener.incoming();
                while let Some(conn) = incoming.next().await {
                    if let Ok((stream, _)) = conn {
                        let _ = stream.set_nodelay(true);
                        proactor::spawn(compat_echo::echo(stream, style));
                    }
                }
                Ok(())
            }
        })?;
    Ok(())
}

fn bad(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}
