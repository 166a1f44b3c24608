//! Code nobody here wrote, run on proactor through the poll-based bridge (feature
//! `tokio-io`): a hyper 1.x server and client (a 1 MiB body echoed, 1,000 keep-alive
//! requests on one connection), a tokio-util `Framed<TcpStream, LinesCodec>` round trip,
//! and a tokio-rustls echo with a certificate made here by rcgen.

#![cfg(feature = "tokio-io")]

mod util;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Either, Empty, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use proactor::net::{TcpListener, TcpStream};
use proactor::{spawn, Driver};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::codec::{Framed, LinesCodec};
use util::block_on;

fn other(e: impl std::error::Error + Send + Sync + 'static) -> io::Error {
    io::Error::other(e)
}

type Body = Either<Full<Bytes>, Incoming>;

/// GET / answers "hello"; POST /echo streams the request body back; else 404.
async fn route(req: Request<Incoming>) -> Result<Response<Body>, hyper::Error> {
    let response = match (req.method(), req.uri().path()) {
        (&Method::GET, "/") => Response::new(Either::Left(Full::new(Bytes::from("hello")))),
        (&Method::POST, "/echo") => Response::new(Either::Right(req.into_body())),
        _ => {
            let mut res = Response::new(Either::Left(Full::new(Bytes::new())));
            *res.status_mut() = StatusCode::NOT_FOUND;
            res
        }
    };
    Ok(response)
}

/// A hyper HTTP/1.1 server on `listener`, one task per connection.
fn serve_http(listener: TcpListener) {
    spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            spawn(async move {
                let service = hyper::service::service_fn(route);
                let _ = hyper::server::conn::http1::Builder::new()
                    .header_read_timeout(None) // a timer would need a Send + Sync sleep
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}

/// A hyper client connection to `addr`, its connection driven by a task.
async fn http_client(
    addr: SocketAddr,
) -> io::Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr).await?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(other)?;
    spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

fn hyper_keep_alive_and_echo(driver: Driver) {
    block_on(driver, async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        serve_http(listener);
        let mut sender = http_client(addr).await.unwrap();
        for i in 0..1000 {
            let req = Request::get("/")
                .header("host", "localhost")
                .body(Full::new(Bytes::new()))
                .unwrap();
            let res = sender.send_request(req).await.unwrap();
            assert_eq!(res.status(), StatusCode::OK, "request {i}");
            let body = res.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(body, "hello", "request {i}");
        }
        let data: Vec<u8> = (0..1 << 20)
            .map(|i: u32| (i * 7 + (i >> 9)) as u8)
            .collect();
        let req = Request::post("/echo")
            .header("host", "localhost")
            .body(Full::new(Bytes::from(data.clone())))
            .unwrap();
        let res = sender.send_request(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let body = res.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body.len(), data.len());
        assert!(body == data, "echoed body differs");
        let req = Request::get("/missing")
            .header("host", "localhost")
            .body(Full::new(Bytes::new()))
            .unwrap();
        let res = sender.send_request(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        let _ = Empty::<Bytes>::new(); // the client's body type could be any `Body`
    });
}

fn lines_codec_round_trip(driver: Driver) {
    block_on(driver, async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        spawn(async move {
            let (stream, _) = listener.accept().await?;
            let mut lines = Framed::new(stream, LinesCodec::new_with_max_length(1024));
            while let Some(line) = lines.next().await {
                let line = line.map_err(other)?;
                lines.send(line.to_uppercase()).await.map_err(other)?;
            }
            Ok::<_, io::Error>(())
        });
        let stream = TcpStream::connect(addr).await.unwrap();
        let mut lines = Framed::new(stream, LinesCodec::new());
        for i in 0..200 {
            lines.send(format!("line {i} of the chat")).await.unwrap();
            let back = lines.next().await.unwrap().unwrap();
            assert_eq!(back, format!("LINE {i} OF THE CHAT"));
        }
        // Several lines in one send, split back into lines by the codec.
        lines.feed("a".to_string()).await.unwrap();
        lines.feed("b".to_string()).await.unwrap();
        SinkExt::<String>::flush(&mut lines).await.unwrap();
        assert_eq!(lines.next().await.unwrap().unwrap(), "A");
        assert_eq!(lines.next().await.unwrap().unwrap(), "B");
    });
}

/// A self-signed certificate for "localhost", and the configs of both ends.
fn tls_configs() -> (rustls::ServerConfig, rustls::ClientConfig) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert_der = cert.cert.der().clone();
    let key = rustls::pki_types::PrivatePkcs8KeyDer::from(cert.key_pair.serialize_der());
    let server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert_der.clone()], key.into())
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert_der).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (server, client)
}

fn tls_echo(driver: Driver) {
    block_on(driver, async {
        let (server_cfg, client_cfg) = tls_configs();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_cfg));
        spawn(async move {
            let (stream, _) = listener.accept().await?;
            let mut tls = acceptor.accept(stream).await?;
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                let n = tls.read(&mut buf).await?;
                if n == 0 {
                    return tls.shutdown().await;
                }
                tls.write_all(&buf[..n]).await?;
                tls.flush().await?;
            }
        });
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client_cfg));
        let stream = TcpStream::connect(addr).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let tls = connector.connect(name, stream).await.unwrap();
        let (mut rd, mut wr) = tokio::io::split(tls);
        let data: Vec<u8> = (0..256 * 1024).map(|i: u32| (i % 251) as u8).collect();
        let sent = data.clone();
        let writer = spawn(async move {
            for chunk in sent.chunks(10_000) {
                wr.write_all(chunk).await?;
            }
            wr.shutdown().await // close_notify, then FIN
        });
        let mut got = Vec::new();
        rd.read_to_end(&mut got).await.unwrap();
        writer.await.unwrap().unwrap();
        assert!(got == data, "TLS echo differs");
    });
}

on_each_driver!(hyper_keep_alive_and_echo, lines_codec_round_trip, tls_echo);
