//! `echo-server`: a TCP echo server on proactor, one runtime and one `SO_REUSEPORT`
//! listener per thread. Prints `listening on <addr>` once every thread's listener is up;
//! SIGINT or SIGTERM stops accepting, closes the connections and exits 0. Each thread
//! listens to both signals with `proactor::signal` (a signalfd read through its ring), and
//! each listener gets every signal the process receives; a thread that fails sends the
//! process SIGTERM, which stops the others.
//!
//! By default connections come from `incoming()` (a multishot accept on io_uring) and read
//! with `recv_multi` from a pool of buffers shared by the thread's connections (a
//! provided-buffer ring on io_uring: the kernel picks a buffer only when data arrives), so
//! an idle connection holds no read buffer. Where the pool cannot be a provided ring on
//! io_uring (fast paths off, an old kernel), a waiting receive would hold a pool buffer, so
//! connections read into their own buffers instead; on epoll a pool buffer is taken only
//! once the socket is readable, so the pool is used there too.
//!
//! Each echo is written with `queue_write`: on io_uring the task hands the send to the kernel
//! and goes back to its receive at once, and the driver returns the pool buffer when the
//! send completes, waking nobody (one wake-up per request, its receive's). A stop drops the
//! echoes still in flight at once (`Builder::queue_write_linger` of zero).
//!
//! A client that sends without reading its echoes cannot take the pool from the others: its
//! connection holds the buffer being written back, at most `max_queued` (4) filled ones its
//! echo task has not taken, and what the kernel filled before the pause took effect (up to
//! one batch, 32 buffers); then its data waits in the socket and TCP flow control stops the
//! client. So it takes about `--pool-bufs / 5`, and no fewer than `--pool-bufs / 37`, such
//! clients stalled at once to dry a thread's pool; the thread's other connections then wait
//! (they are not failed) until buffers come back.
//!
//! `--no-multishot-recv` reads into a buffer per connection; `--multishot-recv` (the
//! default) is still accepted. `--no-multishot-accept` accepts one connection per
//! operation, and `--no-multishot` turns off both multishot paths. On io_uring each
//! connection's sends name a registered file slot (`--fixed-files`, 4096 per thread; 0
//! turns them off).

use std::future::{poll_fn, Future};
use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr};
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use clap::{Parser, ValueEnum};
use proactor::buf::BufRing;
use proactor::net::{Incoming, TcpListener, TcpSocket, TcpStream};
use proactor::runtime::ThreadPerCore;
use proactor::signal::unix::{signal, Signal, SignalKind};
use proactor::{Builder, Driver, DriverKind, JoinSet};

/// A TCP echo server: every byte received is sent back.
#[derive(Parser, Debug)]
#[command(name = "echo-server", version)]
struct Args {
    /// Address to listen on (port 0: the kernel picks one; see the `listening on` line).
    #[arg(long, default_value = "127.0.0.1:7000")]
    addr: SocketAddr,
    /// Number of threads, each with its own runtime and listener (default: available CPUs).
    #[arg(long)]
    threads: Option<usize>,
    /// I/O driver.
    #[arg(long, value_enum, default_value_t = DriverArg::Auto)]
    driver: DriverArg,
    /// Pin thread i to CPU i.
    #[arg(long)]
    pin: bool,
    /// Size of each read buffer in bytes: of each pool buffer, or of each connection's own.
    #[arg(long, default_value_t = 4096)]
    buf_size: usize,
    /// Accept backlog of each listener.
    #[arg(long, default_value_t = 4096)]
    backlog: u32,
    /// Buffers in each thread's receive pool (a power of two), shared by its connections.
    /// The default (4096 of 4 KiB: 16 MiB per thread, resident only once used) leaves
    /// room for two buffers each (one being echoed, one arriving) to 2048 busy
    /// connections per thread, and for hundreds of clients that do not read their echoes.
    #[arg(long, default_value_t = 4096)]
    pool_bufs: u32,
    /// Accept with a single-shot accept per connection instead of `incoming()`.
    #[arg(long)]
    no_multishot_accept: bool,
    /// Read with `recv_multi` from the thread's shared pool: the default, kept so that
    /// scripts that ask for it still work.
    #[arg(long)]
    multishot_recv: bool,
    /// Read into a buffer per connection instead of the thread's shared pool (overrides
    /// `--multishot-recv`).
    #[arg(long)]
    no_multishot_recv: bool,
    /// No multishot operation at all (a buffer per connection, one accept per operation).
    #[arg(long)]
    no_multishot: bool,
    /// Registered file slots per thread for connections (io_uring; 0: none, every op
    /// names the connection's fd). Connections past the last slot use their fd.
    #[arg(long, default_value_t = 4096)]
    fixed_files: u32,
    /// At exit, print each runtime's counters (enters, completions, ...) to stderr.
    #[arg(long)]
    stats: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum DriverArg {
    /// io_uring where available, else epoll.
    Auto,
    /// io_uring.
    Uring,
    /// The readiness-based epoll variant.
    Epoll,
}

impl From<DriverArg> for Driver {
    fn from(d: DriverArg) -> Driver {
        match d {
            DriverArg::Auto => Driver::Auto,
            DriverArg::Uring => Driver::Uring,
            DriverArg::Epoll => Driver::Epoll,
        }
    }
}

/// A thread's listeners of the two signals that stop the server.
struct Stop {
    interrupt: Signal,
    terminate: Signal,
}

impl Stop {
    /// Listens to SIGINT and SIGTERM: the first listeners (made in `main`, before any other
    /// thread starts) claim them for the process, so that neither ends it by default.
    fn listen() -> io::Result<Stop> {
        Ok(Stop {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// Ready once either signal arrived (or a listener failed).
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.interrupt.poll_recv(cx).is_ready() || self.terminate.poll_recv(cx).is_ready() {
            return Poll::Ready(());
        }
        Poll::Pending
    }

    /// Stops every thread: the process sends itself SIGTERM, which each thread's listener
    /// receives.
    fn stop_all() {
        // SAFETY: getpid and kill take no pointers.
        unsafe { libc::kill(libc::getpid(), libc::SIGTERM) };
    }
}

/// What every worker shares.
struct Server {
    args: Args,
    threads: usize,
    /// The address to bind: the first listener replaces port 0 with the port it got.
    addr: Mutex<SocketAddr>,
    listening: AtomicUsize,
    /// Times accept hit the descriptor limit (logged the first time only).
    fd_limit_hits: AtomicU64,
    /// Connections that failed on their own before they were accepted (logged once).
    conn_errors: AtomicU64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let driver = Driver::from(args.driver);
    let pool = ThreadPerCore::new(args.threads.unwrap_or(0))
        .pin(args.pin)
        .builder(
            Builder::new()
                .driver(driver)
                .fixed_files(args.fixed_files)
                // A stop drops the echoes not sent yet (a peer that vanished may never take
                // them): no wait for them.
                .queue_write_linger(Duration::ZERO)
                .clone(),
        );
    // Signals first: from here on a SIGINT/SIGTERM is caught, never the default kill (the
    // threads started below inherit them blocked). Kept until the end of `main`.
    let _claim = match Stop::listen() {
        Ok(claim) => claim,
        Err(e) => {
            eprintln!("echo-server: cannot handle signals: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = Builder::new().driver(driver).build() {
        eprintln!(
            "echo-server: the {:?} driver cannot be used: {e}",
            args.driver
        );
        return ExitCode::from(2);
    }
    let server = Arc::new(Server {
        addr: Mutex::new(args.addr),
        threads: pool.threads(),
        listening: AtomicUsize::new(0),
        fd_limit_hits: AtomicU64::new(0),
        conn_errors: AtomicU64::new(0),
        args,
    });
    let res = pool.run(|i| {
        let server = server.clone();
        async move {
            let res = worker(i, &server).await;
            if res.is_err() {
                Stop::stop_all(); // one thread failing stops them all
            }
            res
        }
    });
    let hits = server.fd_limit_hits.load(Ordering::Relaxed);
    if hits > 0 {
        eprintln!("echo-server: accept hit the descriptor limit {hits} times in all");
    }
    let failed = server.conn_errors.load(Ordering::Relaxed);
    if failed > 0 {
        eprintln!("echo-server: {failed} connections failed before they were accepted");
    }
    match res {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("echo-server: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn worker(i: usize, server: &Server) -> io::Result<()> {
    let mut stop = Stop::listen()?;
    let listener = bind(server)?;
    if server.listening.fetch_add(1, Ordering::SeqCst) + 1 == server.threads {
        let addr = listener.local_addr()?;
        let mut out = io::stdout().lock();
        writeln!(out, "listening on {addr}")?;
        out.flush()?;
    }
    let args = &server.args;
    let pool = recv_pool(args)?;
    let mut conns = JoinSet::new();
    let mut accept = if args.no_multishot || args.no_multishot_accept {
        Acceptor::Single(&listener, Box::pin(listener.accept()))
    } else {
        Acceptor::Multi(listener.incoming())
    };
    loop {
        let event = poll_fn(|cx| next_event(&mut stop, &mut accept, &mut conns, cx)).await;
        let Some(accepted) = event else { break };
        match accepted {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                match &pool {
                    Some(pool) => conns.spawn(echo_pool(stream, pool.clone())),
                    None => conns.spawn(echo(stream, args.buf_size)),
                };
            }
            Err(e) => on_accept_error(e, server).await?,
        }
    }
    drop(accept);
    drop(listener);
    conns.abort_all();
    while conns.join_next().await.is_some() {}
    if server.args.stats {
        let stats = proactor::runtime::stats();
        let features = proactor::runtime::ring_features();
        eprintln!("echo-server: thread {i}: {stats:?} {features:?}");
    }
    Ok(())
}

/// The thread's receive pool, or `None` where connections read into their own buffers: when
/// asked to, or on io_uring without a provided ring (where each waiting receive would hold
/// a pool buffer, so idle connections could hold the whole pool).
fn recv_pool(args: &Args) -> io::Result<Option<BufRing>> {
    if args.no_multishot || args.no_multishot_recv {
        return Ok(None);
    }
    let pool = BufRing::builder()
        .count(args.pool_bufs)
        .size(args.buf_size)
        .build()
        .map_err(|e| io::Error::new(e.kind(), format!("receive pool: {e}")))?;
    let uring = proactor::runtime::stats().driver == DriverKind::Uring;
    Ok((pool.is_provided() || !uring).then_some(pool))
}

type Accepted = io::Result<(TcpStream, SocketAddr)>;

/// Where connections come from: the multishot stream, or one accept at a time.
enum Acceptor<'a> {
    Multi(Incoming),
    Single(
        &'a TcpListener,
        Pin<Box<dyn Future<Output = Accepted> + 'a>>,
    ),
}

impl Acceptor<'_> {
    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<Accepted> {
        match self {
            Acceptor::Multi(incoming) => incoming
                .poll_next(cx)
                .map(|conn| conn.expect("a listener's stream never ends")),
            Acceptor::Single(listener, accept) => {
                let conn = std::task::ready!(accept.as_mut().poll(cx));
                *accept = Box::pin(listener.accept());
                Poll::Ready(conn)
            }
        }
    }
}

/// `None` when stopping; otherwise the next accept result. Reaps finished connections.
fn next_event(
    stop: &mut Stop,
    accept: &mut Acceptor<'_>,
    conns: &mut JoinSet<()>,
    cx: &mut Context<'_>,
) -> Poll<Option<Accepted>> {
    if stop.poll(cx).is_ready() {
        return Poll::Ready(None);
    }
    while let Poll::Ready(Some(_)) = conns.poll_join_next(cx) {}
    accept.poll_accept(cx).map(Some)
}

fn bind(server: &Server) -> io::Result<TcpListener> {
    let mut addr = server.addr.lock().unwrap_or_else(|p| p.into_inner());
    let listen = |addr: SocketAddr| {
        let socket = match addr {
            SocketAddr::V4(_) => TcpSocket::new_v4()?,
            SocketAddr::V6(_) => TcpSocket::new_v6()?,
        };
        socket.set_reuseaddr(true)?;
        socket.set_reuseport(true)?;
        socket.bind(addr)?;
        socket.listen(server.args.backlog)
    };
    let listener =
        listen(*addr).map_err(|e| io::Error::new(e.kind(), format!("binding {}: {e}", *addr)))?;
    *addr = listener.local_addr()?;
    Ok(listener)
}

/// What an accept error means for the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AcceptError {
    /// Out of descriptors or memory: back off, then accept again.
    Resources,
    /// One connection failed (its peer reset or aborted, a network error pending on it, a
    /// firewall refused it): skip it.
    Connection,
    /// The listener itself is broken: stop.
    Listener,
}

/// Classifies an error of `accept`. Linux reports a connection's own pending network error
/// from `accept` (ENETDOWN, EPROTO, ENOPROTOOPT, EHOSTDOWN, ENONET, EHOSTUNREACH, EOPNOTSUPP,
/// ENETUNREACH; see accept(2)), and ECONNABORTED, EPERM (a firewall rule), ECONNRESET,
/// ETIMEDOUT or ENOTCONN for a connection that died on the way: none of those concerns the
/// listener. Only errors that say the listener is unusable stop the server.
fn classify(e: &io::Error) -> AcceptError {
    match e.raw_os_error() {
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM) => AcceptError::Resources,
        Some(libc::EBADF | libc::EINVAL | libc::ENOTSOCK | libc::EFAULT) => AcceptError::Listener,
        Some(_) => AcceptError::Connection,
        None => AcceptError::Listener,
    }
}

/// Running out of descriptors (or memory) is survived: log once, back off, go on. A
/// connection that failed on its own is skipped (the first such error is logged). Only an
/// error of the listener stops the server.
async fn on_accept_error(e: io::Error, server: &Server) -> io::Result<()> {
    match classify(&e) {
        AcceptError::Resources => {
            if server.fd_limit_hits.fetch_add(1, Ordering::Relaxed) == 0 {
                eprintln!(
                    "echo-server: accept failed ({e}); backing off and retrying (logged once)"
                );
            }
            proactor::time::sleep(Duration::from_millis(10)).await;
            Ok(())
        }
        AcceptError::Connection => {
            if server.conn_errors.fetch_add(1, Ordering::Relaxed) == 0 {
                eprintln!("echo-server: a connection failed before it was accepted ({e}); skipped (logged once)");
            }
            Ok(())
        }
        AcceptError::Listener => Err(io::Error::new(e.kind(), format!("accept: {e}"))),
    }
}

/// Echoes with buffers of the thread's shared pool, received by a multishot recv: an idle
/// connection holds no buffer. Each buffer goes back to the pool once written.
async fn echo_pool(stream: TcpStream, pool: BufRing) {
    let mut recv = stream.recv_multi(&pool);
    while let Some(res) = recv.next().await {
        let Ok(buf) = res else { return };
        // Handed to the kernel (on io_uring): the pool buffer goes back when it is sent.
        if stream.queue_write(buf).await.is_err() {
            return;
        }
    }
    drop(recv);
    let _ = stream.shutdown(Shutdown::Write).await;
}

/// Echoes until EOF or an error on this connection; then sends EOF back.
async fn echo(stream: TcpStream, buf_size: usize) {
    let mut buf = Vec::with_capacity(buf_size.max(1));
    loop {
        buf.clear();
        let (res, b) = stream.read(buf).await;
        match res {
            Ok(0) => break,
            Ok(_) => {}
            Err(_) => return, // reset or other failure: this connection only
        }
        let (res, b) = stream.write_all(b).await;
        if res.is_err() {
            return;
        }
        buf = b;
    }
    let _ = stream.shutdown(Shutdown::Write).await;
}

#[cfg(test)]
mod tests;
