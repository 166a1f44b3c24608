//! A plain epoll echo loop with no runtime: the reference the echo benchmark measures the
//! epoll variant against (the "reactor limit"). One thread, edge-triggered, one 4 KiB read
//! buffer; it reads and writes back until a read comes back short (the receive queue is
//! then empty, and data arriving later raises a new edge) or `EAGAIN` — unless the peer
//! closed its side (`EPOLLRDHUP`: its FIN raises no new edge after a short read, so reads go
//! on until EOF) — and waits for `EPOLLOUT` only when the socket buffer is full. Prints
//! `listening on <addr>`.
//!
//! `cargo run --release --example epoll_echo_loop -- --addr 127.0.0.1:7002`

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};

const LISTENER: u64 = u64::MAX;

struct Conn {
    stream: TcpStream,
    /// Echo bytes not yet written back.
    pending: Vec<u8>,
    /// The peer closed its side (`EPOLLRDHUP`): read on until EOF, short reads or not.
    hup: bool,
}

fn ctl(epfd: RawFd, op: i32, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
    let mut ev = libc::epoll_event { events, u64: token };
    // SAFETY: `ev` is a live epoll_event for the call; `epfd` and `fd` are open.
    if unsafe { libc::epoll_ctl(epfd, op, fd, &mut ev) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn main() -> io::Result<()> {
    let mut addr = "127.0.0.1:7002".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => addr = args.next().expect("--addr needs a value"),
            "--threads" | "--driver" => drop(args.next()), // accepted for the bench's launcher
            other => panic!("unknown argument {other:?}"),
        }
    }
    let listener = TcpListener::bind(&addr)?;
    listener.set_nonblocking(true)?;
    println!("listening on {}", listener.local_addr()?);
    // SAFETY: no pointers.
    let epfd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if epfd < 0 {
        return Err(io::Error::last_os_error());
    }
    let edge = (libc::EPOLLIN | libc::EPOLLET) as u32;
    ctl(
        epfd,
        libc::EPOLL_CTL_ADD,
        listener.as_raw_fd(),
        edge,
        LISTENER,
    )?;
    let mut conns: HashMap<u64, Conn> = HashMap::new();
    let mut next_token = 0u64;
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
    let mut buf = vec![0u8; 4096];
    loop {
        // SAFETY: `events` holds `len` writable epoll_events.
        let n = unsafe { libc::epoll_wait(epfd, events.as_mut_ptr(), events.len() as i32, -1) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for ev in &events[..n as usize] {
            let token = ev.u64;
            if token == LISTENER {
                while let Ok((stream, _)) = listener.accept() {
                    stream.set_nonblocking(true)?;
                    stream.set_nodelay(true)?;
                    let fd = stream.as_raw_fd();
                    let events =
                        (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32;
                    ctl(epfd, libc::EPOLL_CTL_ADD, fd, events, next_token)?;
                    conns.insert(
                        next_token,
                        Conn {
                            stream,
                            pending: Vec::new(),
                            hup: false,
                        },
                    );
                    next_token += 1;
                }
                continue;
            }
            let Some(conn) = conns.get_mut(&token) else {
                continue;
            };
            conn.hup |=
                ev.events & (libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as u32 != 0;
            if !serve(conn, &mut buf) {
                conns.remove(&token); // closing the fd removes it from the epoll set
            }
        }
    }
}

/// Flushes what is pending, then reads and echoes until `EAGAIN`; false when the
/// connection is done (EOF or an error).
fn serve(conn: &mut Conn, buf: &mut [u8]) -> bool {
    if !flush(conn) {
        return false;
    }
    loop {
        if !conn.pending.is_empty() {
            return true; // wait for EPOLLOUT before reading more
        }
        match conn.stream.read(buf) {
            Ok(0) => return false,
            Ok(n) => {
                conn.pending.extend_from_slice(&buf[..n]);
                if !flush(conn) {
                    return false;
                }
                if n < buf.len() && !conn.hup {
                    return true; // drained: the next data (or the peer's FIN) raises an edge
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
}

/// Writes what is pending until done or `EAGAIN`; false on an error.
fn flush(conn: &mut Conn) -> bool {
    while !conn.pending.is_empty() {
        match conn.stream.write(&conn.pending) {
            Ok(n) => drop(conn.pending.drain(..n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    true
}
