//! The echo of a connection written against `tokio::io` (feature `tokio-io`), in the two
//! shapes tokio programs have it:
//!
//! - [`Style::ReadWrite`]: `AsyncReadExt::read` into the connection's own buffer, then
//!   `AsyncWriteExt::write_all` of what came. Each request's bytes are copied twice in
//!   user space, as `AsyncRead` and `AsyncWrite` demand of a completion-based runtime: out
//!   of the buffer the receive completed into, and into the send's staging buffer.
//! - [`Style::CopyBuf`]: `tokio::io::copy_buf` from the read half (`AsyncBufRead`: the
//!   bytes are read where the receive put them) to the write half: one copy per request.
//!
//! The owned-buffer echo (`echo-server`) reads from a shared pool and sends the same buffer
//! back, with no copy: docs/echo-bench.md weighs the difference.

use proactor::net::TcpStream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How a connection's echo is written.
#[derive(Clone, Copy, Debug)]
#[allow(dead_code)] // echo_pairs uses only one of them
pub enum Style {
    /// `read` into a buffer of this many bytes (zeroed once, at the connection's start),
    /// `write_all` back.
    ReadWrite { buf_size: usize },
    /// `tokio::io::copy_buf` between the halves.
    CopyBuf,
}

/// Echoes until end of stream or an error.
pub async fn echo(stream: TcpStream, style: Style) {
    match style {
        Style::ReadWrite { buf_size } => read_write(stream, buf_size).await,
        Style::CopyBuf => {
            let (mut rd, mut wr) = stream.into_split();
            let _ = tokio::io::copy_buf(&mut rd, &mut wr).await;
        }
    }
}

async fn read_write(mut stream: TcpStream, buf_size: usize) {
    let mut buf = vec![0u8; buf_size.max(1)];
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
