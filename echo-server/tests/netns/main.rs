//! echo-server and the download example over a real network with faults: each test builds
//! its own pair of network namespaces joined by veth pairs (`net.rs`), runs the server in
//! one and the clients in the other, and puts faults on the links: 3% random loss each
//! way (nftables), a slow queueing link (tc tbf), outages and a link that goes down for
//! good. What must hold: every connection's bytes come back intact or the connection
//! fails with a clear error; new connections are served after an outage; a vanished peer
//! costs its clients a bounded wait and the server nothing (it serves the others and
//! still exits 0 on SIGTERM); a download completes byte-identical or fails with a clear
//! message and leaves no file behind.
//!
//! Where namespaces cannot be made (no CAP_NET_ADMIN, no `ip`, `tc` or `nft`), each test
//! prints `skipped: <why>` to stderr and returns. Every wait is bounded.

#![warn(clippy::undocumented_unsafe_blocks)]

#[path = "../common/mod.rs"]
mod common;
mod http;
mod net;

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use net::{Net, Side};

/// The bound of every wait that should end by itself.
const LIMIT: Duration = Duration::from_secs(30);

/// The test's namespaces, or `skipped: <why>` and return.
macro_rules! net_or_skip {
    ($tag:expr, $links:expr, $nft:expr) => {
        match Net::new($tag, $links, $nft) {
            Ok(net) => net,
            Err(why) => {
                eprintln!("skipped: {why}");
                return;
            }
        }
    };
}

/// echo-server running in the server namespace; killed if the test ends first.
struct EchoServer {
    child: Child,
    port: u16,
}

impl EchoServer {
    fn start(net: &Net, extra: &[&str]) -> EchoServer {
        let mut cmd = net.exec(Side::Srv, env!("CARGO_BIN_EXE_echo-server"));
        cmd.args(["--addr", "0.0.0.0:0", "--threads", "1"]);
        let (child, addr) = common::start_listening(&mut cmd, extra, LIMIT);
        let port = addr.parse::<SocketAddr>().unwrap().port();
        EchoServer { child, port }
    }

    fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// SIGTERM, then the exit status and stderr; killed (and a panic) if it does not exit
    /// within `LIMIT`.
    fn stop(mut self) -> (ExitStatus, String) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + LIMIT;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "echo-server did not exit within {LIMIT:?} of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut err = String::new();
        let _ = self.child.stderr.take().unwrap().read_to_string(&mut err);
        (status, err)
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Bytes that differ at every offset within a large period, different for each `seed`.
fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).max(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// A connection from the client namespace to the server's address on link `k`.
fn connect(net: &Net, k: usize, port: u16, timeout: Duration) -> io::Result<TcpStream> {
    let addr = SocketAddr::from((net.srv_ip(k), port));
    let stream = net.within(Side::Cli, || TcpStream::connect_timeout(&addr, timeout))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    Ok(stream)
}

/// Reads until EOF, within `deadline`.
fn read_to_end_by(stream: &mut TcpStream, deadline: Instant) -> io::Result<Vec<u8>> {
    let mut back = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if Instant::now() > deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "echo not back in time",
            ));
        }
        match stream.read(&mut buf)? {
            0 => return Ok(back),
            n => back.extend_from_slice(&buf[..n]),
        }
    }
}

/// Sends `data`, half-closes, and reads the echo to EOF: `Ok` only if it is `data`
/// exactly; a connection that fails is a clear error, never different bytes.
fn echo_on(mut stream: TcpStream, data: &[u8]) -> io::Result<()> {
    let mut writer = stream.try_clone()?;
    let back = std::thread::scope(|s| {
        let w = s.spawn(|| {
            writer.write_all(data)?;
            writer.shutdown(Shutdown::Write)
        });
        let back = read_to_end_by(&mut stream, Instant::now() + LIMIT);
        w.join().unwrap().and(back)
    })?;
    if let Some(i) = (0..data.len().min(back.len())).find(|&i| data[i] != back[i]) {
        panic!(
            "echo differs at byte {i} of {}: a corrupted stream",
            data.len()
        );
    }
    if back.len() != data.len() {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("echo ended after {} of {} bytes", back.len(), data.len()),
        ));
    }
    Ok(())
}

/// `n` connections at once over link `k`, each echoing `size` bytes of its own pattern.
fn echo_many(net: &Net, k: usize, port: u16, n: usize, size: usize) -> Vec<io::Result<()>> {
    std::thread::scope(|s| {
        let conns: Vec<_> = (0..n)
            .map(|i| {
                s.spawn(move || {
                    let data = pattern(size, (k * 1000 + i) as u32 + 1);
                    echo_on(connect(net, k, port, LIMIT)?, &data)
                })
            })
            .collect();
        conns.into_iter().map(|c| c.join().unwrap()).collect()
    })
}

fn all_ok(what: &str, results: &[io::Result<()>]) {
    let failed: Vec<String> = results
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.as_ref().err().map(|e| format!("connection {i}: {e}")))
        .collect();
    assert!(failed.is_empty(), "{what}: {failed:#?}");
}

/// An example binary of the root package (built here if `cargo test` did not build it).
fn example(name: &str) -> PathBuf {
    let mut dir = std::env::current_exe().unwrap();
    dir.pop();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join("examples").join(name);
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let release = dir.ends_with("release");
        let status = Command::new(cargo)
            .args(["build", "-p", "proactor", "--example", name])
            .args(release.then_some("--release"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo to build the example");
        assert!(status.success(), "building example {name} failed");
    }
    path
}

#[test]
fn every_byte_survives_loss_and_a_slow_link() {
    let net = net_or_skip!("loss", 1, true);
    net.loss(3).unwrap();
    net.slow(0, "8mbit").unwrap();
    for driver in ["uring", "epoll"] {
        let server = EchoServer::start(&net, &["--driver", driver]);
        all_ok(driver, &echo_many(&net, 0, server.port, 12, 96 * 1024));
        if driver == "uring" {
            // The load client (proactor on both ends), which checks every echoed byte.
            let out = net
                .exec(Side::Cli, example("echo_client").to_str().unwrap())
                .args(["--addr", &format!("{}:{}", net.srv_ip(0), server.port)])
                .args(["--conns", "16", "--size", "512", "--pipeline", "2"])
                .args(["--duration", "2", "--json"])
                .output()
                .expect("run echo_client");
            let report = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "echo_client: {report}");
            assert!(report.contains("\"errors\":0"), "{report}");
        }
        let (status, err) = server.stop();
        assert_eq!(status.code(), Some(0), "{driver}: {err}");
    }
    let dropped = (net.dropped(Side::Srv), net.dropped(Side::Cli));
    eprintln!("packets dropped by the 3% loss (server side, client side): {dropped:?}");
    assert!(
        dropped.0 > 0 && dropped.1 > 0,
        "the loss rule dropped nothing"
    );
}

#[test]
fn new_connections_are_served_after_an_outage() {
    let net = net_or_skip!("outage", 1, false);
    let mut server = EchoServer::start(&net, &[]);
    let mut before = connect(&net, 0, server.port, LIMIT).unwrap();
    before.write_all(b"before").unwrap();
    let mut six = [0u8; 6];
    before.read_exact(&mut six).unwrap();
    assert_eq!(&six, b"before");

    net.set_link(0, false).unwrap();
    // During the outage: data sent on the open connection waits in the kernel, and a new
    // connection cannot be made (a clear error, in bounded time).
    let during = pattern(8 * 1024, 7); // within the socket's send buffer: no write waits
    before.write_all(&during).unwrap();
    let refused = connect(&net, 0, server.port, Duration::from_secs(1));
    assert!(refused.is_err(), "connected through a link that is down");
    std::thread::sleep(Duration::from_millis(1500));
    net.set_link(0, true).unwrap();

    // After it: the open connection's data comes back intact, new connections are served.
    let mut back = vec![0u8; during.len()];
    before.read_exact(&mut back).unwrap();
    assert!(
        back == during,
        "the echo of the data sent during the outage differs"
    );
    all_ok(
        "after the outage",
        &echo_many(&net, 0, server.port, 8, 32 * 1024),
    );
    assert!(server.alive());
    drop(before);
    let (status, err) = server.stop();
    assert_eq!(status.code(), Some(0), "{err}");
}

/// Connects over link `k` and sends until flow control stops it (at most 4 MiB), never
/// reading: the server's echo of it is stuck on its side. Returns the connection.
fn stuck_connection(net: &Net, k: usize, port: u16) -> TcpStream {
    let mut c = connect(net, k, port, LIMIT).unwrap();
    c.set_write_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let chunk = pattern(16 * 1024, 3);
    let mut sent = 0;
    while sent < 4 << 20 {
        match c.write(&chunk) {
            Ok(n) => sent += n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                break
            }
            Err(e) => panic!("flooding: {e}"),
        }
    }
    c
}

#[test]
fn a_vanished_peer_costs_bounded_time_and_the_server_serves_the_others() {
    let net = net_or_skip!("vanish", 2, false);
    for driver in ["uring", "epoll"] {
        let mut server = EchoServer::start(&net, &["--driver", driver]);
        // Link 1's clients: connections with echoes in flight both ways, then the link
        // goes down for good.
        let mut vanished: Vec<TcpStream> = (0..4)
            .map(|_| stuck_connection(&net, 1, server.port))
            .collect();
        net.set_link(1, false).unwrap();
        // They wait a bounded time for echoes that cannot come, and fail clearly.
        for c in &mut vanished {
            c.set_read_timeout(Some(Duration::from_millis(300)))
                .unwrap();
            let end = read_to_end_by(c, Instant::now() + Duration::from_secs(2));
            let e = end.expect_err("an echo came back over a link that is down");
            assert!(
                matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ),
                "{e}"
            );
        }
        // The server serves link 0's clients meanwhile, and exits 0 on SIGTERM with the
        // vanished peers' connections still open (their unsent echoes dropped).
        all_ok(driver, &echo_many(&net, 0, server.port, 8, 64 * 1024));
        assert!(server.alive(), "{driver}: the server died");
        let (status, err) = server.stop();
        assert_eq!(status.code(), Some(0), "{driver}: {err}");
        drop(vanished);
        net.set_link(1, true).unwrap();
    }
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_download_is_byte_identical_or_fails_clearly() {
    let net = net_or_skip!("download", 1, true);
    net.loss(3).unwrap();
    net.slow(0, "8mbit").unwrap();
    let (a, b, c) = (
        pattern(1536 * 1024, 11),
        pattern(1 << 20, 12),
        pattern(1 << 20, 13),
    );
    let server = http::serve(
        &net,
        vec![
            ("/a.bin", http::Body::Length(a.clone())),
            ("/b.bin", http::Body::Chunked(b.clone())),
            ("/stall.bin", http::Body::Stall(c, 200 * 1024)),
        ],
    );
    let url = |name: &str| format!("http://{}:{}/{name}", net.srv_ip(0), server.port);
    let download = example("download");
    let dir = tempfile::tempdir().unwrap();
    let out = net
        .exec(Side::Cli, download.to_str().unwrap())
        .args(["-o", dir.path().to_str().unwrap(), "--timeout", "15"])
        .args([url("a.bin"), url("b.bin")])
        .stdin(Stdio::null())
        .output()
        .expect("run the download example");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        std::fs::read(dir.path().join("a.bin")).unwrap() == a,
        "a.bin differs"
    );
    assert!(
        std::fs::read(dir.path().join("b.bin")).unwrap() == b,
        "b.bin differs"
    );
    assert_eq!(files_in(dir.path()), ["a.bin", "b.bin"]);

    // The server vanishes halfway through a body: a clear error, in bounded time, and no
    // file (neither the name nor its .part).
    let mut child = net
        .exec(Side::Cli, download.to_str().unwrap())
        .args(["-o", dir.path().to_str().unwrap(), "--timeout", "2"])
        .arg(url("stall.bin"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the download example");
    server
        .stalled
        .recv_timeout(LIMIT)
        .expect("the download never started");
    net.set_link(0, false).unwrap();
    let deadline = Instant::now() + LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the download hung after its server vanished");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(
        err.contains("stall.bin") && err.contains("timed out"),
        "{err}"
    );
    assert_eq!(
        files_in(dir.path()),
        ["a.bin", "b.bin"],
        "a false file is left"
    );
}
