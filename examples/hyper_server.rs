//! A hyper 1.x HTTP/1.1 server on proactor, through hyper-util's `TokioIo` over the
//! `tokio-io` bridge: hyper's own code, unchanged, on io_uring (or epoll).
//!
//! ```text
//! cargo run --release --features tokio-io --example hyper_server -- \
//!     [--addr 127.0.0.1:8080] [--threads 1] [--driver auto|uring|epoll]
//! ```
//!
//! Thread-per-core: each thread runs its own runtime with its own `SO_REUSEPORT` listener
//! on the address, and the kernel spreads connections among them. Prints
//! `listening on <addr>` once every thread listens. `GET /` answers a fixed body,
//! `POST /echo` echoes the request body, anything else is 404.

#[path = "common/reuseport.rs"]
mod reuseport;
#[path = "common/hyper_service.rs"]
mod service;

use std::io::{self, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::{Barrier, Mutex};

use clap::{Parser, ValueEnum};
use hyper_util::rt::TokioIo;
use proactor::net::TcpListener;
use proactor::runtime::ThreadPerCore;
use proactor::{Builder, Driver};

/// A hyper HTTP/1.1 server on proactor.
#[derive(Parser, Debug)]
#[command(name = "hyper_server")]
struct Args {
    /// Address to listen on (port 0: one chosen by the kernel, shared by every thread).
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Threads, each with its own runtime and listener (0: one per CPU).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// I/O driver.
    #[arg(long, value_enum, default_value_t = DriverArg::Auto)]
    driver: DriverArg,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum DriverArg {
    Auto,
    Uring,
    Epoll,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let driver = match args.driver {
        DriverArg::Auto => Driver::Auto,
        DriverArg::Uring => Driver::Uring,
        DriverArg::Epoll => Driver::Epoll,
    };
    match run(&args, driver) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hyper_server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args, driver: Driver) -> io::Result<()> {
    let shared = Mutex::new(args.addr);
    let mut builder = Builder::new();
    builder.driver(driver);
    let per_core = ThreadPerCore::new(args.threads).builder(builder);
    let listening = Barrier::new(per_core.threads());
    per_core.run(|i| {
        let (listening, shared) = (&listening, &shared);
        async move {
            let listener = reuseport::bind(shared);
            let wait = listening.wait();
            let listener = listener?;
            if wait.is_leader() {
                println!("listening on {}", listener.local_addr()?);
                io::stdout().flush()?;
            }
            serve(listener, i).await
        }
    })?;
    Ok(())
}

/// Accepts connections forever, one task each.
async fn serve(listener: TcpListener, thread: usize) -> io::Result<()> {
    let mut incoming = listener.incoming();
    while let Some(conn) = incoming.next().await {
        let stream = match conn {
            Ok((stream, _)) => stream,
            Err(e) => {
                eprintln!("hyper_server: thread {thread}: accept: {e}");
                proactor::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        proactor::spawn(async move {
            let service = hyper::service::service_fn(service::route);
            // A client that goes away mid-request is its own business.
            let _ = service::http1()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
    Ok(())
}
