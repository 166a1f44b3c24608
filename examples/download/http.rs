//! A small HTTP/1.1 client for the download example: URL parsing, one GET per connection
//! (`Connection: close`), over TCP or TLS (`tls.rs`), the response head parsed by
//! httparse, and the body decoded (Content-Length, chunked, or read-to-close) and streamed
//! to a [`Sink`] piece by piece, never whole in memory. Every read is bounded by an idle
//! timeout.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use proactor::buf::{BufResult, IoBuf};
use proactor::net::TcpStream;
use rustls::ClientConfig;

use crate::tls::TlsStream;

/// Most bytes a response head may take.
const MAX_HEAD: usize = 64 * 1024;
/// Most bytes of a chunk-size or trailer line.
const MAX_LINE: usize = 4096;
/// Size of the socket reads, and most bytes handed to the sink at once.
const READ_SIZE: usize = 64 * 1024;
/// Redirects followed before giving up.
pub const MAX_REDIRECTS: usize = 5;

/// An `http://` or `https://` URL, split into what a request needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    /// `https://`: the request goes over TLS.
    pub https: bool,
    pub host: String,
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

impl Url {
    /// Parses an absolute `http[s]://host[:port][/path]` URL.
    pub fn parse(s: &str) -> io::Result<Url> {
        let lower = s.to_ascii_lowercase();
        let https = lower.starts_with("https://");
        if !https && !lower.starts_with("http://") {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not an http:// or https:// URL",
            ));
        }
        let rest = &s[if https { "https://" } else { "http://" }.len()..];
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let authority = authority.rsplit('@').next().unwrap_or(authority);
        let (host, port) = split_host_port(authority, if https { 443 } else { 80 })?;
        let tail = tail.split('#').next().unwrap_or("");
        let path = match tail {
            "" => "/".to_string(),
            t if t.starts_with('?') => format!("/{t}"),
            t => t.to_string(),
        };
        if path.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "URL path contains spaces or control characters",
            ));
        }
        Ok(Url {
            https,
            host,
            port,
            path,
        })
    }

    /// Resolves a `Location` header value against this URL.
    pub fn join(&self, location: &str) -> io::Result<Url> {
        let lower = location.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            return Url::parse(location);
        }
        if let Some(rest) = location.strip_prefix("//") {
            return Url::parse(&format!("{}{rest}", self.scheme()));
        }
        let path = if location.starts_with('/') {
            location.to_string()
        } else {
            let base = self.path.split('?').next().unwrap_or("/");
            let dir = &base[..base.rfind('/').map_or(0, |i| i + 1)];
            format!("{dir}{location}")
        };
        Url::parse(&format!("{}{}{path}", self.scheme(), self.authority()))
    }

    fn scheme(&self) -> &'static str {
        if self.https {
            "https://"
        } else {
            "http://"
        }
    }

    /// `host[:port]` as the `Host` header wants it (the port only when not the scheme's
    /// default, 80 or 443).
    pub fn authority(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match (self.https, self.port) {
            (false, 80) | (true, 443) => host,
            (_, port) => format!("{host}:{port}"),
        }
    }

    /// The last segment of the path (without the query), made safe as a file name;
    /// `index.html` when there is none.
    pub fn file_name(&self) -> String {
        let path = self.path.split('?').next().unwrap_or("");
        let last = path.rsplit('/').next().unwrap_or("");
        let name: String = percent_decode(last)
            .chars()
            .map(|c| {
                if c == '/' || c == '\0' || c.is_control() {
                    '_'
                } else {
                    c
                }
            })
            .collect();
        match name.as_str() {
            "" | "." | ".." => "index.html".to_string(),
            _ => name,
        }
    }
}

impl std::fmt::Display for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}{}", self.scheme(), self.authority(), self.path)
    }
}

fn split_host_port(authority: &str, default_port: u16) -> io::Result<(String, u16)> {
    let bad = || io::Error::new(io::ErrorKind::InvalidInput, "bad host or port in URL");
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let close = rest.find(']').ok_or_else(bad)?;
        let port = rest[close + 1..].strip_prefix(':');
        (&rest[..close], port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(bad());
    }
    let port = match port {
        None | Some("") => default_port,
        Some(p) => p.parse().map_err(|_| bad())?,
    };
    Ok((host.to_string(), port))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Where a body goes, piece by piece.
pub trait Sink {
    /// The body is `total` bytes long, when the response says so.
    fn start(&mut self, total: Option<u64>);
    /// The next piece of the body.
    async fn write(&mut self, data: Vec<u8>) -> io::Result<()>;
}

/// What a finished GET reports.
#[derive(Debug)]
pub struct Fetched {
    /// Body bytes handed to the sink.
    pub bytes: u64,
    /// The URL the body came from, after redirects.
    pub final_url: Url,
}

/// GETs `url`, following up to [`MAX_REDIRECTS`] redirects, and streams the body of the
/// 2xx response into `sink`. `idle` bounds every connect, handshake and read; `tls` is the
/// configuration of https:// connections.
pub async fn get(
    url: &Url,
    sink: &mut impl Sink,
    idle: Duration,
    tls: &Arc<ClientConfig>,
) -> io::Result<Fetched> {
    let mut url = url.clone();
    for _ in 0..=MAX_REDIRECTS {
        let mut conn = Conn::open(&url, idle, tls).await?;
        conn.send_request(&url).await?;
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

/// The parts of a response head the client uses.
#[derive(Debug)]
struct Head {
    status: u16,
    reason: String,
    headers: Vec<(String, String)>,
}

/// How the body's end is found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    Length(u64),
    Chunked,
    Close,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn redirect(&self) -> Option<&str> {
        matches!(self.status, 301 | 302 | 303 | 307 | 308)
            .then(|| self.header("location"))
            .flatten()
    }

    fn framing(&self) -> io::Result<Framing> {
        if matches!(self.status, 204 | 304) {
            return Ok(Framing::Length(0));
        }
        if let Some(te) = self.header("transfer-encoding") {
            let last = te.rsplit(',').next().unwrap_or("").trim();
            if last.eq_ignore_ascii_case("chunked") {
                return Ok(Framing::Chunked);
            }
            return Ok(Framing::Close);
        }
        match self.header("content-length") {
            Some(len) => {
                len.trim().parse().map(Framing::Length).map_err(|_| {
                    invalid(format!("malformed response head: Content-Length {len:?}"))
                })
            }
            None => Ok(Framing::Close),
        }
    }
}

/// Where the bytes of a connection go: the socket itself, or TLS over it.
enum Transport {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
}

impl Transport {
    async fn write_all(&mut self, data: Vec<u8>) -> io::Result<()> {
        match self {
            Transport::Plain(tcp) => tcp.write_all(data).await.0,
            Transport::Tls(tls) => tls.write_all(&data).await,
        }
    }

    /// Reads into the spare capacity of `buf` (after its bytes), as the owned-buffer read
    /// of a slice does.
    async fn read_more(&mut self, mut buf: Vec<u8>) -> BufResult<usize, Vec<u8>> {
        let (len, cap) = (buf.len(), buf.capacity());
        match self {
            Transport::Plain(tcp) => {
                let (res, slice) = tcp.read(buf.slice(len..cap)).await;
                (res, slice.into_inner())
            }
            Transport::Tls(tls) => {
                buf.resize(cap, 0);
                let res = tls.read(&mut buf[len..]).await;
                buf.truncate(len + *res.as_ref().unwrap_or(&0));
                (res, buf)
            }
        }
    }
}

/// One connection and the bytes read from it but not consumed yet.
struct Conn {
    stream: Transport,
    buf: Vec<u8>,
    pos: usize,
    idle: Duration,
}

fn timed_out(what: &str, idle: Duration) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("timed out after {idle:?} {what}"),
    )
}

impl Conn {
    async fn open(url: &Url, idle: Duration, tls: &Arc<ClientConfig>) -> io::Result<Conn> {
        let addrs = resolve(url, idle).await?;
        let mut last = io::Error::new(io::ErrorKind::NotFound, "host has no address");
        for addr in addrs {
            match proactor::time::timeout(idle, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => {
                    let stream = if url.https {
                        let handshake = TlsStream::connect(stream, &url.host, tls);
                        match proactor::time::timeout(idle, handshake).await {
                            Ok(tls) => Transport::Tls(Box::new(tls?)),
                            Err(_) => return Err(timed_out("in the TLS handshake", idle)),
                        }
                    } else {
                        Transport::Plain(stream)
                    };
                    return Ok(Conn {
                        stream,
                        buf: Vec::with_capacity(READ_SIZE),
                        pos: 0,
                        idle,
                    });
                }
                Ok(Err(e)) => last = io::Error::new(e.kind(), format!("connect to {addr}: {e}")),
                Err(_) => last = timed_out(&format!("connecting to {addr}"), idle),
            }
        }
        Err(last)
    }

    async fn send_request(&mut self, url: &Url) -> io::Result<()> {
        let request = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: proactor-download/0.1\r\n\
             Accept: */*\r\nAccept-Encoding: identity\r\nConnection: close\r\n\r\n",
            url.path,
            url.authority()
        );
        let write = self.stream.write_all(request.into_bytes());
        match proactor::time::timeout(self.idle, write).await {
            Ok(res) => res,
            Err(_) => Err(timed_out("sending the request", self.idle)),
        }
    }

    fn buffered(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    /// Reads more bytes from the socket after those buffered; `Ok(0)` at end of stream.
    async fn fill(&mut self) -> io::Result<usize> {
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        if self.buf.capacity() - self.buf.len() < READ_SIZE / 4 {
            self.buf.reserve(READ_SIZE);
        }
        let read = self.stream.read_more(std::mem::take(&mut self.buf));
        match proactor::time::timeout(self.idle, read).await {
            Ok((res, buf)) => {
                self.buf = buf;
                res
            }
            Err(_) => Err(timed_out("waiting for data", self.idle)),
        }
    }

    async fn read_head(&mut self) -> io::Result<Head> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut response = httparse::Response::new(&mut headers);
            let parsed = response
                .parse(self.buffered())
                .map_err(|e| invalid(format!("malformed response head: {e}")))?;
            if let httparse::Status::Complete(n) = parsed {
                let head = Head {
                    status: response.code.unwrap_or(0),
                    reason: response.reason.unwrap_or("").to_string(),
                    headers: response
                        .headers
                        .iter()
                        .map(|h| {
                            let value = String::from_utf8_lossy(h.value).into_owned();
                            (h.name.to_string(), value)
                        })
                        .collect(),
                };
                self.pos += n;
                return Ok(head);
            }
            if self.buffered().len() >= MAX_HEAD {
                return Err(invalid("malformed response head: larger than 64 KiB"));
            }
            if self.fill().await? == 0 {
                let msg = if self.buffered().is_empty() {
                    "connection closed before any response"
                } else {
                    "malformed response head: connection closed inside it"
                };
                return Err(invalid(msg));
            }
        }
    }

    /// Up to `max` body bytes: buffered ones first, else one socket read. Empty at end of
    /// stream.
    async fn read_some(&mut self, max: usize) -> io::Result<Vec<u8>> {
        if self.buffered().is_empty() && self.fill().await? == 0 {
            return Ok(Vec::new());
        }
        let n = self.buffered().len().min(max);
        let out = self.buffered()[..n].to_vec();
        self.pos += n;
        Ok(out)
    }

    /// A CRLF-terminated line, without the CRLF.
    async fn read_line(&mut self) -> io::Result<String> {
        loop {
            if let Some(i) = self.buffered().windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buffered()[..i]).into_owned();
                self.pos += i + 2;
                return Ok(line);
            }
            if self.buffered().len() > MAX_LINE {
                return Err(invalid("bad chunk framing: line too long"));
            }
            if self.fill().await? == 0 {
                return Err(invalid(
                    "bad chunk framing: connection closed inside a line",
                ));
            }
        }
    }

    async fn copy_body(&mut self, framing: Framing, sink: &mut impl Sink) -> io::Result<u64> {
        match framing {
            Framing::Length(len) => {
                sink.start(Some(len));
                let got = self.copy_exact(len, sink).await?;
                if got < len {
                    return Err(invalid(format!(
                        "body shorter than Content-Length: got {got} of {len} bytes"
                    )));
                }
                Ok(got)
            }
            Framing::Close => {
                sink.start(None);
                self.copy_exact(u64::MAX, sink).await
            }
            Framing::Chunked => {
                sink.start(None);
                self.copy_chunked(sink).await
            }
        }
    }

    /// Copies up to `len` bytes, fewer if the stream ends first; returns how many.
    async fn copy_exact(&mut self, len: u64, sink: &mut impl Sink) -> io::Result<u64> {
        let mut done = 0;
        while done < len {
            let want = (len - done).min(READ_SIZE as u64) as usize;
            let data = self.read_some(want).await?;
            if data.is_empty() {
                break;
            }
            done += data.len() as u64;
            sink.write(data).await?;
        }
        Ok(done)
    }

    async fn copy_chunked(&mut self, sink: &mut impl Sink) -> io::Result<u64> {
        let mut total = 0;
        loop {
            let line = self.read_line().await?;
            let size = line.split(';').next().unwrap_or("").trim();
            let size = u64::from_str_radix(size, 16)
                .map_err(|_| invalid(format!("bad chunk framing: size line {line:?}")))?;
            if size == 0 {
                // Trailers, up to the empty line.
                while !self.read_line().await?.is_empty() {}
                return Ok(total);
            }
            let got = self.copy_exact(size, sink).await?;
            total += got;
            if got < size {
                return Err(invalid(format!(
                    "bad chunk framing: connection closed inside a chunk ({got} of {size} bytes)"
                )));
            }
            if !self.read_line().await?.is_empty() {
                return Err(invalid("bad chunk framing: no CRLF after a chunk"));
            }
        }
    }
}

/// Resolves the host on the blocking pool (getaddrinfo blocks).
async fn resolve(url: &Url, idle: Duration) -> io::Result<Vec<SocketAddr>> {
    let target = (url.host.clone(), url.port);
    let lookup =
        proactor::spawn_blocking(move || target.to_socket_addrs().map(Iterator::collect::<Vec<_>>));
    match proactor::time::timeout(idle, lookup).await {
        Ok(Ok(res)) => {
            res.map_err(|e| io::Error::new(e.kind(), format!("cannot resolve {}: {e}", url.host)))
        }
        Ok(Err(join)) => Err(join.into()),
        Err(_) => Err(timed_out(&format!("resolving {}", url.host), idle)),
    }
}

#[cfg(test)]
mod tests;
