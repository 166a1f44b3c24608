//! The download example's response reading: the head parsed by httparse, and the body
//! decoded (Content-Length, chunked, or read-to-close) and streamed to a [`Sink`] piece by
//! piece, never whole in memory. The bytes come from a [`Source`]: the socket in `http.rs`,
//! memory in the tests and the fuzz targets (`fuzz/`), which include this file as it is.

use std::io;

/// Most bytes a response head may take.
pub const MAX_HEAD: usize = 64 * 1024;
/// Most bytes of a chunk-size or trailer line.
pub const MAX_LINE: usize = 4096;
/// Size of the socket reads, and most bytes handed to the sink at once.
pub const READ_SIZE: usize = 64 * 1024;

pub fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Where a response's bytes come from.
pub trait Source {
    /// Reads what arrives next into the spare capacity of `buf` (after its `len()` bytes,
    /// which it keeps), and gives `buf` back with the count read: 0 at end of stream.
    async fn read(&mut self, buf: Vec<u8>) -> (io::Result<usize>, Vec<u8>);
}

/// Where a body goes, piece by piece.
pub trait Sink {
    /// The body is `total` bytes long, when the response says so.
    fn start(&mut self, total: Option<u64>);
    /// The next piece of the body.
    async fn write(&mut self, data: Vec<u8>) -> io::Result<()>;
}

/// The parts of a response head the client uses.
#[derive(Debug)]
pub struct Head {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
}

/// How the body's end is found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    Length(u64),
    Chunked,
    Close,
}

impl Head {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn redirect(&self) -> Option<&str> {
        matches!(self.status, 301 | 302 | 303 | 307 | 308)
            .then(|| self.header("location"))
            .flatten()
    }

    pub fn framing(&self) -> io::Result<Framing> {
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

/// A response being read: its source and the bytes read from it but not consumed yet.
pub struct Reader<S> {
    pub src: S,
    buf: Vec<u8>,
    pos: usize,
}

impl<S: Source> Reader<S> {
    pub fn new(src: S) -> Reader<S> {
        Reader {
            src,
            buf: Vec::with_capacity(READ_SIZE),
            pos: 0,
        }
    }

    fn buffered(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    /// Reads more bytes from the source after those buffered; `Ok(0)` at end of stream.
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
        let (res, buf) = self.src.read(std::mem::take(&mut self.buf)).await;
        self.buf = buf;
        res
    }

    pub async fn read_head(&mut self) -> io::Result<Head> {
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

    /// Up to `max` body bytes: buffered ones first, else one read. Empty at end of stream.
    async fn read_some(&mut self, max: usize) -> io::Result<Vec<u8>> {
        if self.buffered().is_empty() && self.fill().await? == 0 {
            return Ok(Vec::new());
        }
        let n = self.buffered().len().min(max);
        let out = self.buffered()[..n].to_vec();
        self.pos += n;
        Ok(out)
    }

    /// A CRLF-terminated line, without the CRLF; longer than [`MAX_LINE`] is an error,
    /// however the line arrives (in one read or many).
    async fn read_line(&mut self) -> io::Result<String> {
        let too_long = || invalid("bad chunk framing: line too long");
        loop {
            if let Some(i) = self.buffered().windows(2).position(|w| w == b"\r\n") {
                if i > MAX_LINE {
                    return Err(too_long());
                }
                let line = String::from_utf8_lossy(&self.buffered()[..i]).into_owned();
                self.pos += i + 2;
                return Ok(line);
            }
            // No CRLF yet: the line is at least all but the last byte (maybe its CR).
            if self.buffered().len() > MAX_LINE + 1 {
                return Err(too_long());
            }
            if self.fill().await? == 0 {
                return Err(invalid(
                    "bad chunk framing: connection closed inside a line",
                ));
            }
        }
    }

    pub async fn copy_body(&mut self, framing: Framing, sink: &mut impl Sink) -> io::Result<u64> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    /// Runs a future that never waits (a memory source, a memory sink) to its end.
    fn ready<F: Future>(fut: F) -> F::Output {
        match pin!(fut).poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(out) => out,
            Poll::Pending => unreachable!("memory never waits"),
        }
    }

    /// Bytes handed out `step` at a time (at most the buffer's spare capacity).
    struct Memory {
        data: Vec<u8>,
        pos: usize,
        step: usize,
    }

    impl Source for Memory {
        async fn read(&mut self, mut buf: Vec<u8>) -> (io::Result<usize>, Vec<u8>) {
            let spare = buf.capacity() - buf.len();
            let n = self.step.min(spare).min(self.data.len() - self.pos);
            buf.extend_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            (Ok(n), buf)
        }
    }

    impl Sink for Vec<u8> {
        fn start(&mut self, _: Option<u64>) {}
        async fn write(&mut self, data: Vec<u8>) -> io::Result<()> {
            self.extend_from_slice(&data);
            Ok(())
        }
    }

    /// Reads a whole response from `data`, `step` bytes per read: the head, then the body.
    fn response(data: &[u8], step: usize) -> io::Result<(Head, Vec<u8>)> {
        let mut reader = Reader::new(Memory {
            data: data.to_vec(),
            pos: 0,
            step,
        });
        ready(async {
            let head = reader.read_head().await?;
            let mut body = Vec::new();
            reader.copy_body(head.framing()?, &mut body).await?;
            Ok((head, body))
        })
    }

    #[test]
    fn reads_every_framing_whatever_the_read_sizes() {
        let cases: [(&[u8], &[u8]); 3] = [
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA",
                b"hello",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                  3;ext=1\r\nhel\r\n2\r\nlo\r\n0\r\nTrailer: x\r\n\r\n",
                b"hello",
            ),
            (b"HTTP/1.0 200 OK\r\n\r\nhello", b"hello"),
        ];
        for (data, want) in cases {
            for step in [1, 2, 7, 4096] {
                let (head, body) = response(data, step).unwrap();
                assert_eq!(head.status, 200);
                assert_eq!(body, want, "step {step}");
            }
        }
    }

    #[test]
    fn truncated_and_malformed_responses_are_clear_errors() {
        let err = |data: &[u8]| response(data, 3).unwrap_err().to_string();
        assert!(err(b"").contains("before any response"));
        assert!(err(b"HTTP/1.1 200 OK\r\nConte").contains("closed inside it"));
        assert!(err(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nhello").contains("got 5 of 9"));
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        let with = |rest: &[u8]| [&chunked[..], rest].concat();
        assert!(err(&with(b"zz\r\n")).contains("size line"));
        assert!(err(&with(b"5\r\nhel")).contains("closed inside a chunk"));
        assert!(err(&with(b"3\r\nhelXX\r\n")).contains("no CRLF after a chunk"));
        assert!(err(&with(b"3\r\nhel\r\n0\r\n")).contains("closed inside a line"));
    }

    /// A line just past the limit was accepted when it came in one read and refused when
    /// it came in pieces (seen by reading, checked by the `chunked` fuzz target's
    /// comparison of the two): now the limit is the line's length, however it arrives.
    #[test]
    fn the_line_limit_does_not_depend_on_the_read_sizes() {
        let chunked = |size_line: &str, trailer: &str| {
            format!(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                 {size_line}\r\nhello\r\n0\r\n{trailer}\r\n\r\n"
            )
            .into_bytes()
        };
        let size = |len: usize| format!("{:0>len$}", "5");
        let trailer = |len: usize| format!("X: {}", "y".repeat(len - 3));
        for (line, ok) in [
            (MAX_LINE - 1, true),
            (MAX_LINE, true),
            (MAX_LINE + 1, false),
        ] {
            for data in [chunked(&size(line), "X: y"), chunked("5", &trailer(line))] {
                for step in [2, 61, 4096, usize::MAX] {
                    match response(&data, step) {
                        Ok((_, body)) => assert!(ok && body == b"hello", "{line} {step}"),
                        Err(e) => {
                            assert!(!ok, "line of {line}, step {step}: {e}");
                            assert!(e.to_string().contains("line too long"), "{e}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn framing() {
        let head = |status, headers: &[(&str, &str)]| Head {
            status,
            reason: String::new(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        };
        let f = |h: Head| h.framing().unwrap();
        assert_eq!(
            f(head(200, &[("Content-Length", "12")])),
            Framing::Length(12)
        );
        assert_eq!(
            f(head(
                200,
                &[("content-length", "5"), ("Transfer-Encoding", "chunked")]
            )),
            Framing::Chunked
        );
        assert_eq!(f(head(200, &[])), Framing::Close);
        assert_eq!(f(head(204, &[])), Framing::Length(0));
        assert!(head(200, &[("Content-Length", "-1")]).framing().is_err());
        assert_eq!(head(302, &[("Location", "/x")]).redirect(), Some("/x"));
        assert_eq!(head(200, &[("Location", "/x")]).redirect(), None);
    }
}
