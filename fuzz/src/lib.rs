//! What the fuzz targets share: the download example's parsers, included as they are, and
//! an in-memory byte source that hands out a response in pieces of fuzzer-chosen sizes.

use std::future::Future;
use std::io;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

#[allow(dead_code, async_fn_in_trait)]
#[path = "../../examples/download/body.rs"]
pub mod body;
#[allow(dead_code, async_fn_in_trait)]
#[path = "../../examples/download/url.rs"]
pub mod url;

use body::{Framing, Head, Reader, Sink, Source, READ_SIZE};

/// Runs a future that never waits (memory in, memory out) to its end.
pub fn ready<F: Future>(fut: F) -> F::Output {
    match pin!(fut).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => unreachable!("memory never waits"),
    }
}

/// `data`, handed out in reads of the sizes in `steps` (1 + each byte, cycling; the whole
/// spare capacity when `steps` is empty), never more than the buffer's spare capacity.
pub struct Memory<'a> {
    data: &'a [u8],
    steps: &'a [u8],
    reads: usize,
}

impl<'a> Memory<'a> {
    pub fn new(data: &'a [u8], steps: &'a [u8]) -> Memory<'a> {
        Memory {
            data,
            steps,
            reads: 0,
        }
    }
}

impl Source for Memory<'_> {
    async fn read(&mut self, mut buf: Vec<u8>) -> (io::Result<usize>, Vec<u8>) {
        let spare = buf.capacity() - buf.len();
        assert!(spare > 0, "a read into a full buffer");
        let step = match self.steps {
            [] => usize::MAX,
            s => usize::from(s[self.reads % s.len()]) + 1,
        };
        self.reads += 1;
        let n = step.min(spare).min(self.data.len());
        buf.extend_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        (Ok(n), buf)
    }
}

/// A sink that keeps the body and checks how it is called.
#[derive(Default)]
pub struct Collect {
    pub started: Option<Option<u64>>,
    pub body: Vec<u8>,
}

impl Sink for Collect {
    fn start(&mut self, total: Option<u64>) {
        assert!(self.started.is_none(), "start called twice");
        self.started = Some(total);
    }

    async fn write(&mut self, data: Vec<u8>) -> io::Result<()> {
        assert!(self.started.is_some(), "a write before start");
        assert!(!data.is_empty(), "an empty write");
        assert!(data.len() <= READ_SIZE, "a write larger than a read");
        self.body.extend_from_slice(&data);
        Ok(())
    }
}

/// What reading one response gave: the head (or its error), then the framing and the
/// body's result (or the framing's error), and the body bytes the sink got.
pub struct Response {
    pub head: Result<Head, String>,
    pub framing: Option<Result<Framing, String>>,
    pub body: Option<Result<u64, String>>,
    pub sink: Collect,
}

/// Reads a whole response from `data` as the download example does, in reads of `steps`.
pub fn read_response(data: &[u8], steps: &[u8]) -> Response {
    let mut reader = Reader::new(Memory::new(data, steps));
    let mut sink = Collect::default();
    let head = ready(reader.read_head()).map_err(|e| e.to_string());
    let (mut framing, mut body) = (None, None);
    if let Ok(head) = &head {
        let f = head.framing().map_err(|e| e.to_string());
        if let Ok(f) = f {
            body = Some(ready(reader.copy_body(f, &mut sink)).map_err(|e| e.to_string()));
        }
        framing = Some(f);
    }
    Response {
        head,
        framing,
        body,
        sink,
    }
}

/// Checks what holds of every response read, whatever the input.
pub fn check_response(r: &Response) {
    let Ok(head) = &r.head else { return };
    assert!(head.status <= 999, "status {}", head.status);
    let (Some(Ok(framing)), Some(body)) = (&r.framing, &r.body) else {
        return;
    };
    let total = match framing {
        Framing::Length(n) => Some(*n),
        _ => None,
    };
    assert_eq!(r.sink.started, Some(total), "the sink was told the length");
    match body {
        Ok(n) => {
            assert_eq!(
                *n,
                r.sink.body.len() as u64,
                "the count is what the sink got"
            );
            if let Some(len) = total {
                assert_eq!(*n, len, "a complete body has its Content-Length");
            }
        }
        Err(_) => {
            if let Some(len) = total {
                assert!((r.sink.body.len() as u64) < len || len == 0);
            }
        }
    }
}

/// Checks that reading `data` in pieces gives what reading it at once gives: the head,
/// the framing, the body's result and bytes.
pub fn check_split_invariance(data: &[u8], steps: &[u8]) {
    let whole = read_response(data, &[]);
    let split = read_response(data, steps);
    check_response(&whole);
    check_response(&split);
    let head = |r: &Response| {
        r.head
            .as_ref()
            .map(|h| (h.status, h.reason.clone(), h.headers.clone()))
            .map_err(Clone::clone)
    };
    assert_eq!(
        head(&whole),
        head(&split),
        "the head depends on the read sizes"
    );
    assert_eq!(whole.framing, split.framing);
    assert_eq!(
        whole.body, split.body,
        "the body's result depends on the read sizes"
    );
    assert!(
        whole.sink.body == split.sink.body,
        "the body's bytes depend on the read sizes"
    );
}
