//! The HTTP service both hyper servers run (`hyper_server` on proactor, `hyper_tokio_server`
//! on tokio), so the benchmark compares the runtimes and nothing else: `GET /` answers a
//! fixed body, `POST /echo` streams the request body back, anything else is 404.

use bytes::Bytes;
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};

/// The fixed body of `GET /`.
pub const HELLO: &str = "Hello, World!";

/// A response body: a fixed one, or the request's own streamed back.
pub type Body = Either<Full<Bytes>, Incoming>;

/// Routes one request.
pub async fn route(req: Request<Incoming>) -> Result<Response<Body>, hyper::Error> {
    let response = match (req.method(), req.uri().path()) {
        (&Method::GET, "/") => Response::builder()
            .header("content-type", "text/plain")
            .body(Either::Left(Full::new(Bytes::from_static(
                HELLO.as_bytes(),
            )))),
        (&Method::POST, "/echo") => Response::builder().body(Either::Right(req.into_body())),
        _ => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Either::Left(Full::new(Bytes::new()))),
    };
    // The builders above get only valid statuses and header names.
    Ok(response.unwrap_or_else(|_| Response::new(Either::Left(Full::new(Bytes::new())))))
}

/// The HTTP/1.1 connection settings both servers use: keep-alive (hyper's default), no
/// header-read timeout (it needs a timer; the load is local and trusted).
pub fn http1() -> hyper::server::conn::http1::Builder {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.header_read_timeout(None);
    builder
}
