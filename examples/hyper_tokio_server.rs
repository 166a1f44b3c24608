//! The same hyper HTTP/1.1 server as `hyper_server`, on tokio's current_thread runtime:
//! the baseline of `cargo bench --bench http`. Prints `listening on <addr>`.
//!
//! `cargo run --release --example hyper_tokio_server -- --addr 127.0.0.1:8081`

#[path = "common/hyper_service.rs"]
mod service;

use std::io::Write;

use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

fn main() -> std::io::Result<()> {
    let mut addr = "127.0.0.1:8081".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => addr = args.next().unwrap_or_default(),
            "--help" | "-h" => {
                println!("usage: hyper_tokio_server [--addr HOST:PORT]");
                return Ok(());
            }
            other => {
                eprintln!("unknown argument {other:?}; see --help");
                std::process::exit(2);
            }
        }
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = TcpListener::bind(&addr).await?;
        println!("listening on {}", listener.local_addr()?);
        std::io::stdout().flush()?;
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(conn) => conn,
                Err(e) => {
                    eprintln!("accept: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(service::route);
                let _ = service::http1()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}
