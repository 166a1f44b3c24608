//! A hand-written io_uring echo loop with no runtime: the reference the echo benchmark
//! measures proactor's io_uring driver against. One thread; one multishot accept; per
//! connection a recv into a 4 KiB buffer, then a send of what came, then the next recv;
//! one `io_uring_enter` per loop (`submit_and_wait`). SINGLE_ISSUER + DEFER_TASKRUN where
//! the kernel has them. Prints `listening on <addr>`.
//!
//! `cargo run --release --example uring_echo_loop -- --addr 127.0.0.1:7003`

use std::io;
use std::net::TcpListener;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use io_uring::{cqueue, opcode, squeue, types, IoUring};
use slab::Slab;

const ACCEPT: u64 = u64::MAX;
const RECV: u64 = 0;
const SEND: u64 = 1;

struct Conn {
    fd: OwnedFd,
    buf: Box<[u8; 4096]>,
    /// Bytes of `buf` being sent, and how many of them are sent.
    len: usize,
    sent: usize,
}

fn ring() -> io::Result<IoUring> {
    let mut b = IoUring::builder();
    b.setup_single_issuer().setup_defer_taskrun();
    b.build(4096).or_else(|_| IoUring::new(4096))
}

/// Queues `sqe`, submitting first when the queue is full.
fn push(ring: &mut IoUring, sqe: &squeue::Entry) -> io::Result<()> {
    // SAFETY: every pointer in the SQEs of this program is into a `Conn` buffer kept in the
    // slab until the connection's last completion (a connection is removed only when no op
    // of it is in flight).
    while unsafe { ring.submission().push(sqe) }.is_err() {
        ring.submit()?;
    }
    Ok(())
}

fn recv(ring: &mut IoUring, key: usize, conn: &mut Conn) -> io::Result<()> {
    let fd = types::Fd(conn.fd.as_raw_fd());
    let sqe = opcode::Recv::new(fd, conn.buf.as_mut_ptr(), 4096).build();
    push(ring, &sqe.user_data((key as u64) << 1 | RECV))
}

fn send(ring: &mut IoUring, key: usize, conn: &mut Conn) -> io::Result<()> {
    let fd = types::Fd(conn.fd.as_raw_fd());
    let rest = &conn.buf[conn.sent..conn.len];
    let sqe = opcode::Send::new(fd, rest.as_ptr(), rest.len() as u32)
        .flags(libc::MSG_NOSIGNAL)
        .build();
    push(ring, &sqe.user_data((key as u64) << 1 | SEND))
}

fn main() -> io::Result<()> {
    let mut addr = "127.0.0.1:7003".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => addr = args.next().expect("--addr needs a value"),
            "--threads" | "--driver" => drop(args.next()), // accepted for the bench's launcher
            other => panic!("unknown argument {other:?}"),
        }
    }
    let listener = TcpListener::bind(&addr)?;
    println!("listening on {}", listener.local_addr()?);
    let mut ring = ring()?;
    let accept = opcode::AcceptMulti::new(types::Fd(listener.as_raw_fd()))
        .flags(libc::SOCK_CLOEXEC)
        .build()
        .user_data(ACCEPT);
    push(&mut ring, &accept)?;
    let mut conns: Slab<Conn> = Slab::new();
    let mut done = Vec::new();
    loop {
        match ring.submit_and_wait(1) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {}
            Err(e) => return Err(e),
        }
        done.extend(
            ring.completion()
                .map(|c| (c.user_data(), c.result(), c.flags())),
        );
        for (user_data, res, flags) in done.drain(..) {
            if user_data == ACCEPT {
                if res >= 0 {
                    // SAFETY: a successful accept returns a new fd that nothing else owns.
                    let fd = unsafe { OwnedFd::from_raw_fd(res) };
                    let _ = socket2::SockRef::from(&fd).set_tcp_nodelay(true);
                    let conn = Conn {
                        fd,
                        buf: Box::new([0; 4096]),
                        len: 0,
                        sent: 0,
                    };
                    let key = conns.insert(conn);
                    recv(&mut ring, key, &mut conns[key])?;
                }
                if !cqueue::more(flags) {
                    push(&mut ring, &accept)?;
                }
                continue;
            }
            let (key, kind) = ((user_data >> 1) as usize, user_data & 1);
            let conn = &mut conns[key];
            match (kind, res) {
                (RECV, n) if n > 0 => {
                    (conn.len, conn.sent) = (n as usize, 0);
                    send(&mut ring, key, conn)?;
                }
                (SEND, n) if n > 0 => {
                    conn.sent += n as usize;
                    if conn.sent < conn.len {
                        send(&mut ring, key, conn)?;
                    } else {
                        recv(&mut ring, key, conn)?;
                    }
                }
                _ => drop(conns.remove(key)), // EOF or an error: no op of it is in flight
            }
        }
    }
}
