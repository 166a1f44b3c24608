//! A small HTTP/1.1 client for the download example: one GET per connection
//! (`Connection: close`) over `proactor::net::TcpStream`, redirects followed; the response
//! is read by `body.rs` (head, then the body streamed to a [`Sink`]) from the socket, and
//! every connect, write and read is bounded by an idle timeout. URLs are `url.rs`.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use proactor::buf::IoBuf;
use proactor::net::TcpStream;

use crate::body::{Reader, Sink, Source};
use crate::url::Url;

/// Redirects followed before giving up.
pub const MAX_REDIRECTS: usize = 5;

/// What a finished GET reports.
#[derive(Debug)]
pub struct Fetched {
    /// Body bytes handed to the sink.
    pub bytes: u64,
    /// The URL the body came from, after redirects.
    pub final_url: Url,
}

/// GETs `url`, following up to [`MAX_REDIRECTS`] redirects, and streams the body of the
/// 2xx response into `sink`. `idle` bounds every connect and every read.
pub async fn get(url: &Url, sink: &mut impl Sink, idle: Duration) -> io::Result<Fetched> {
    let mut url = url.clone();
    for _ in 0..=MAX_REDIRECTS {
        let mut conn = open(&url, idle).await?;
        send_request(&conn.src, &url).await?;
        let head = conn.read_head().await?;
        if let Some(location) = head.redirect() {
            url = url.join(location)?;
            continue;
        }
        if !(200..300).contains(&head.status) {
            return Err(io::Error::other(format!(
                "server answered {} {}",
                head.status, head.reason
            )));
        }
        let framing = head.framing()?;
        let bytes = conn.copy_body(framing, sink).await?;
        return Ok(Fetched {
            bytes,
            final_url: url,
        });
    }
    Err(io::Error::other(format!(
        "more than {MAX_REDIRECTS} redirects"
    )))
}

/// One connection: the socket, read through a [`Reader`].
type Conn = Reader<Socket>;

/// The socket of a connection; every read is bounded by `idle`.
struct Socket {
    stream: TcpStream,
    idle: Duration,
}

fn timed_out(what: &str, idle: Duration) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("timed out after {idle:?} {what}"),
    )
}

impl Source for Socket {
    async fn read(&mut self, buf: Vec<u8>) -> (io::Result<usize>, Vec<u8>) {
        let (len, cap) = (buf.len(), buf.capacity());
        let read = self.stream.read(buf.slice(len..cap));
        match proactor::time::timeout(self.idle, read).await {
            Ok((res, slice)) => (res, slice.into_inner()),
            Err(_) => (Err(timed_out("waiting for data", self.idle)), Vec::new()),
        }
    }
}

/// Connects to `url`'s host (each of its addresses in turn); `idle` bounds each step.
async fn open(url: &Url, idle: Duration) -> io::Result<Conn> {
    let addrs = resolve(url, idle).await?;
    let mut last = io::Error::new(io::ErrorKind::NotFound, "host has no address");
    for addr in addrs {
        match proactor::time::timeout(idle, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => return Ok(Reader::new(Socket { stream, idle })),
            Ok(Err(e)) => last = io::Error::new(e.kind(), format!("connect to {addr}: {e}")),
            Err(_) => last = timed_out(&format!("connecting to {addr}"), idle),
        }
    }
    Err(last)
}

async fn send_request(socket: &Socket, url: &Url) -> io::Result<()> {
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: proactor-download/0.1\r\n\
         Accept: */*\r\nAccept-Encoding: identity\r\nConnection: close\r\n\r\n",
        url.path,
        url.authority()
    );
    let write = socket.stream.write_all(request.into_bytes());
    match proactor::time::timeout(socket.idle, write).await {
        Ok((res, _)) => res,
        Err(_) => Err(timed_out("sending the request", socket.idle)),
    }
}

/// Resolves the host: `lookup_host` runs getaddrinfo on the blocking pool.
async fn resolve(url: &Url, idle: Duration) -> io::Result<Vec<SocketAddr>> {
    let lookup = proactor::net::lookup_host((url.host.as_str(), url.port));
    match proactor::time::timeout(idle, lookup).await {
        Ok(Ok(addrs)) => Ok(addrs.collect()),
        Ok(Err(e)) => Err(io::Error::new(
            e.kind(),
            format!("cannot resolve {}: {e}", url.host),
        )),
        Err(_) => Err(timed_out(&format!("resolving {}", url.host), idle)),
    }
}
