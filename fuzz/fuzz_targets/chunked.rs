//! The download example's chunked-body decoding. Two modes, by the first byte:
//! - raw: arbitrary bytes after a chunked response head: never a panic, the same result
//!   whether they arrive at once or in pieces;
//! - encoded: arbitrary chunks (with extensions and trailers), encoded as a server would,
//!   must decode to exactly their concatenation, in pieces of arbitrary sizes.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use proactor_fuzz::{check_split_invariance, read_response};

const HEAD: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";

#[derive(Arbitrary, Debug)]
struct Encoded {
    chunks: Vec<(Vec<u8>, Option<String>)>,
    trailers: Vec<(u8, String)>,
    upper_hex: bool,
    leading_zeros: u8,
    steps: Vec<u8>,
}

/// A chunk extension or trailer value with no CR or LF (anything else is allowed there).
fn clean(s: &str) -> String {
    s.chars().filter(|c| *c != '\r' && *c != '\n').collect()
}

fn encode(e: &Encoded) -> (Vec<u8>, Vec<u8>) {
    let mut out = HEAD.to_vec();
    let mut body = Vec::new();
    for (chunk, ext) in e.chunks.iter().filter(|(c, _)| !c.is_empty()) {
        let zeros = "0".repeat(usize::from(e.leading_zeros % 4));
        let size = if e.upper_hex {
            format!("{zeros}{:X}", chunk.len())
        } else {
            format!("{zeros}{:x}", chunk.len())
        };
        out.extend_from_slice(size.as_bytes());
        if let Some(ext) = ext {
            out.extend_from_slice(format!(";{}", clean(ext)).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
        body.extend_from_slice(chunk);
    }
    out.extend_from_slice(b"0\r\n");
    for (i, (name, value)) in e.trailers.iter().enumerate() {
        let name = format!("X-T{i}-{}", name % 10);
        out.extend_from_slice(format!("{name}: {}\r\n", clean(value)).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    (out, body)
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        let n = usize::from(mode >> 1 & 15).min(rest.len());
        let (steps, chunked) = rest.split_at(n);
        check_split_invariance(&[HEAD, chunked].concat(), steps);
        return;
    }
    let Ok(encoded) = Encoded::arbitrary(&mut Unstructured::new(rest)) else {
        return;
    };
    let (response, body) = encode(&encoded);
    let r = read_response(&response, &encoded.steps);
    assert_eq!(r.body, Some(Ok(body.len() as u64)), "{encoded:?}");
    assert!(r.sink.body == body, "decoded bytes differ: {encoded:?}");
});
