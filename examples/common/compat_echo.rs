//! The echo of a connection written against `tokio::io` (feature `tokio-io`), as a tokio
//! program has it: read into a 64 KiB buffer, write it all back. The buffer is zeroed (and
//! its pages faulted in) at each new connection, a cost of this style that the owned-buffer
//! echo, reading from a shared pool, does not have: docs/echo-bench.md weighs it.

use proactor::net::TcpStream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Echoes until end of stream or an error.
pub async fn echo(mut stream: TcpStream) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if stream.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}
