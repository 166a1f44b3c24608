//! A small HTTP/1.1 server for the download example, on the server side of a [`Net`]:
//! fixed paths, each with a Content-Length body, a chunked one, or one that stops halfway
//! and says so (for the test to take the link away under it). Every socket wait is
//! bounded, and the server stops when it drops.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::net::{Net, Side};

const IO_LIMIT: Duration = Duration::from_secs(20);

/// How a path's body is sent.
#[derive(Clone)]
pub enum Body {
    /// With Content-Length.
    Length(Vec<u8>),
    /// Chunked, in chunks of varying sizes.
    Chunked(Vec<u8>),
    /// With Content-Length, but only the first `n` bytes; then it tells the test and
    /// sends nothing more.
    Stall(Vec<u8>, usize),
}

/// The server; it stops (and its threads end) when dropped.
pub struct Server {
    pub port: u16,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
    /// One message each time a `Stall` body reached its stop.
    pub stalled: mpsc::Receiver<()>,
}

pub fn serve(net: &Net, paths: Vec<(&'static str, Body)>) -> Server {
    let listener = net.within(Side::Srv, || TcpListener::bind("0.0.0.0:0").unwrap());
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, stalled) = mpsc::channel();
    let paths = Arc::new(paths);
    let accept = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let (paths, stop, tx) = (paths.clone(), stop.clone(), tx.clone());
                        std::thread::spawn(move || {
                            let _ = respond(conn, &paths, &stop, &tx);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        })
    };
    Server {
        port,
        stop,
        accept: Some(accept),
        stalled,
    }
}

fn respond(
    mut conn: TcpStream,
    paths: &[(&str, Body)],
    stop: &AtomicBool,
    stalled: &mpsc::Sender<()>,
) -> std::io::Result<()> {
    conn.set_nonblocking(false)?;
    conn.set_read_timeout(Some(IO_LIMIT))?;
    conn.set_write_timeout(Some(IO_LIMIT))?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
        if conn.read(&mut byte)? == 0 {
            return Ok(());
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    let path = head.split_whitespace().nth(1).unwrap_or("");
    let Some((_, body)) = paths.iter().find(|(p, _)| *p == path) else {
        return conn.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    };
    match body {
        Body::Length(data) => {
            write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
                data.len()
            )?;
            conn.write_all(data)
        }
        Body::Chunked(data) => {
            conn.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")?;
            let mut rest = &data[..];
            let mut size = 1;
            while !rest.is_empty() {
                let (chunk, tail) = rest.split_at(size.min(rest.len()));
                write!(conn, "{:x}\r\n", chunk.len())?;
                conn.write_all(chunk)?;
                conn.write_all(b"\r\n")?;
                rest = tail;
                size = size * 7 % 40_000 + 1;
            }
            conn.write_all(b"0\r\n\r\n")
        }
        Body::Stall(data, n) => {
            write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
                data.len()
            )?;
            conn.write_all(&data[..*n])?;
            let _ = stalled.send(());
            let deadline = Instant::now() + IO_LIMIT;
            while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(())
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}
