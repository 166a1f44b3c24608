//! End to end: the `echo-server` binary echoes through real sockets, survives running out
//! of descriptors, and exits 0 on SIGTERM/SIGINT after closing its connections; the
//! `echo_client` example drives it and verifies every byte.

mod common;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStderr, Command, ExitStatus};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(30);

struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(extra: &[&str]) -> Server {
        Server::start_with(Command::new(env!("CARGO_BIN_EXE_echo-server")), extra)
    }

    fn start_with(mut cmd: Command, extra: &[&str]) -> Server {
        cmd.args(["--addr", "127.0.0.1:0"]);
        let (child, addr) = common::start_listening(&mut cmd, extra, LIMIT);
        let addr = addr.parse().unwrap();
        Server { child, addr }
    }

    fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits (bounded) for the exit; kills the server if it does not exit.
    fn wait(&mut self) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if start.elapsed() > LIMIT {
                let _ = self.child.kill();
                panic!("echo-server did not exit within {LIMIT:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn stderr(&mut self) -> String {
        let mut s = String::new();
        let err: &mut ChildStderr = self.child.stderr.as_mut().unwrap();
        err.read_to_string(&mut s).unwrap();
        s
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client(addr: SocketAddr) -> TcpStream {
    let c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(LIMIT)).unwrap();
    c
}

fn echo_once(c: &mut TcpStream, data: &[u8]) {
    let mut back = vec![0u8; data.len()];
    std::thread::scope(|s| {
        let mut w = c.try_clone().unwrap();
        s.spawn(move || w.write_all(data).unwrap());
        c.read_exact(&mut back).unwrap();
    });
    assert!(back == data, "echo differs");
}

#[test]
fn echoes_then_exits_zero_on_sigterm() {
    let mut server = Server::start(&["--threads", "2"]);
    for size in [1, 4096, 1 << 20] {
        let data: Vec<u8> = (0..size).map(|i| (i % 253) as u8).collect();
        echo_once(&mut client(server.addr), &data);
    }
    // Half-close: EOF from the client, the echo still comes back, then EOF.
    let mut c = client(server.addr);
    c.write_all(b"bye").unwrap();
    c.shutdown(std::net::Shutdown::Write).unwrap();
    let mut back = Vec::new();
    c.read_to_end(&mut back).unwrap();
    assert_eq!(back, b"bye");
    // An idle connection is closed by the server on SIGTERM.
    let mut idle = client(server.addr);
    echo_once(&mut idle, b"still here");
    server.signal("-TERM");
    let status = server.wait();
    assert_eq!(status.code(), Some(0), "{}", server.stderr());
    let mut rest = Vec::new();
    match idle.read_to_end(&mut rest) {
        Ok(_) => assert!(rest.is_empty()),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
    }
}

/// Clients that connect, send a few bytes and reset (SO_LINGER 0) before the server picks
/// their connection up, on every accept path and driver: the server keeps serving.
#[test]
fn clients_that_reset_before_accept_do_not_stop_the_server() {
    for extra in [
        &["--driver", "uring"][..],
        &["--driver", "uring", "--no-multishot-accept"][..],
        &["--driver", "epoll"][..],
    ] {
        let mut args = vec!["--threads", "1"];
        args.extend_from_slice(extra);
        let mut server = Server::start(&args);
        for round in 0..20 {
            for _ in 0..10 {
                let hostile = socket2::Socket::from(TcpStream::connect(server.addr).unwrap());
                let _ = (&hostile).write_all(b"boom");
                hostile.set_linger(Some(Duration::ZERO)).unwrap();
            }
            echo_once(
                &mut client(server.addr),
                format!("round {round}").as_bytes(),
            );
        }
        assert!(
            server.child.try_wait().unwrap().is_none(),
            "{args:?}: the server died"
        );
        server.signal("-TERM");
        assert_eq!(
            server.wait().code(),
            Some(0),
            "{args:?}: {}",
            server.stderr()
        );
    }
}

#[test]
fn sigint_exits_zero() {
    let mut server = Server::start(&["--threads", "1"]);
    echo_once(&mut client(server.addr), b"x");
    server.signal("-INT");
    assert_eq!(server.wait().code(), Some(0), "{}", server.stderr());
}

#[test]
fn echoes_on_the_epoll_driver() {
    let mut server = Server::start(&["--threads", "2", "--driver", "epoll"]);
    for size in [1, 4096, 1 << 20] {
        let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        echo_once(&mut client(server.addr), &data);
    }
    server.signal("-TERM");
    assert_eq!(server.wait().code(), Some(0), "{}", server.stderr());
}

#[test]
fn survives_running_out_of_descriptors() {
    survives_running_out_of_descriptors_on("auto");
}

#[test]
fn survives_running_out_of_descriptors_on_epoll() {
    survives_running_out_of_descriptors_on("epoll");
}

fn survives_running_out_of_descriptors_on(driver: &str) {
    let mut cmd = Command::new("prlimit");
    cmd.args(["--nofile=40:40", env!("CARGO_BIN_EXE_echo-server")]);
    let mut server = Server::start_with(cmd, &["--threads", "1", "--driver", driver]);
    let stderr = server.child.stderr.take().unwrap();
    let (tx, lines) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // More connections than descriptors: the backlog holds the ones not yet accepted.
    let mut clients: Vec<TcpStream> = (0..70).map(|_| client(server.addr)).collect();
    echo_once(&mut clients[0], b"first");
    // Only once the server has hit the limit (a slow server could otherwise accept and
    // close the dropped clients without ever reaching it) ...
    let mut err = Vec::new();
    loop {
        let line = lines
            .recv_timeout(LIMIT)
            .expect("the server never reported hitting the descriptor limit");
        let hit = line.contains("backing off");
        err.push(line);
        if hit {
            break;
        }
    }
    // ... free descriptors by closing the first 45; the rest must then be served.
    let rest = clients.split_off(45);
    drop(clients);
    for (i, mut c) in rest.into_iter().enumerate() {
        echo_once(&mut c, format!("late client {i}").as_bytes());
    }
    server.signal("-TERM");
    assert_eq!(server.wait().code(), Some(0));
    reader.join().unwrap();
    err.extend(lines.try_iter());
    let err = err.join("\n");
    assert_eq!(err.matches("backing off").count(), 1, "logged once: {err}");
    assert!(err.contains("descriptor limit"), "{err}");
}

/// The example binary, which `cargo test` builds next to the test executables; built here
/// when only this test target was asked for (`cargo test --test echo_server`).
fn example(name: &str) -> PathBuf {
    let mut path = std::env::current_exe().unwrap();
    path.pop();
    if path.ends_with("deps") {
        path.pop();
    }
    let path = path.join("examples").join(name);
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let release = path.components().any(|c| c.as_os_str() == "release");
        let status = Command::new(cargo)
            .args(["build", "-p", "proactor", "--example", name])
            .args(release.then_some("--release"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo to build the example");
        assert!(status.success(), "building example {name} failed");
    }
    assert!(
        path.exists(),
        "example {name} not found at {}",
        path.display()
    );
    path
}

#[test]
fn load_client_verifies_echoes() {
    let mut server = Server::start(&["--threads", "1"]);
    let out = Command::new(example("echo_client"))
        .args(["--addr", &server.addr.to_string()])
        .args(["--conns", "8", "--size", "512", "--pipeline", "4"])
        .args(["--duration", "0.5", "--threads", "2", "--json"])
        .output()
        .expect("run echo_client");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(report["errors"], 0);
    assert!(report["requests"].as_u64().unwrap() > 0);
    assert!(report["p99_us"].as_f64().unwrap() >= report["p50_us"].as_f64().unwrap());
    server.signal("-TERM");
    assert_eq!(server.wait().code(), Some(0));
}

#[test]
fn echoes_with_multishot_recv_from_the_shared_pool() {
    // A small pool, so 1 MiB echoes cycle every buffer many times over.
    let mut server = Server::start(&["--threads", "1", "--multishot-recv", "--pool-bufs", "8"]);
    for size in [1, 4096, 1 << 20] {
        let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        echo_once(&mut client(server.addr), &data);
    }
    let mut clients: Vec<TcpStream> = (0..16).map(|_| client(server.addr)).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        echo_once(c, format!("client {i}").as_bytes());
    }
    server.signal("-TERM");
    assert_eq!(server.wait().code(), Some(0), "{}", server.stderr());
}

/// Sends until flow control stops it (no write progress for a second; at most 64 MiB),
/// never reading the echoes. Returns the connection, still open, and the bytes sent.
///
/// It sends 16 KiB at a time with short pauses, so the server keeps up until its echoes
/// back up: the server's receive is then still armed when the echo task blocks on its
/// write, which is when an unbounded receive keeps filling the shared pool.
fn flood_until_blocked(addr: SocketAddr) -> (TcpStream, usize) {
    const MAX: usize = 64 << 20;
    let mut c = client(addr);
    c.set_write_timeout(Some(Duration::from_secs(1))).unwrap();
    let chunk: Vec<u8> = (0..16 * 1024).map(|i| (i % 249) as u8).collect();
    let mut sent = 0;
    while sent < MAX {
        match c.write(&chunk) {
            Ok(n) => sent += n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
            Err(e) => panic!("flooding client: {e}"),
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    (c, sent)
}

/// A client that sends without ever reading its echoes does not starve the others on a
/// single-thread server that reads from a shared pool: its connection holds a few of the
/// pool's buffers, then TCP flow control stops it, and other clients are echoed meanwhile.
/// Run with the default and with `--multishot-recv` asked for (the same path).
#[test]
fn a_client_that_never_reads_does_not_starve_the_others() {
    for extra in [&[][..], &["--multishot-recv"][..]] {
        let mut args = vec!["--threads", "1", "--pool-bufs", "256"];
        args.extend_from_slice(extra);
        let mut server = Server::start(&args);
        let (flooder, sent) = flood_until_blocked(server.addr);
        assert!(
            sent < 64 << 20,
            "{args:?}: flow control never stopped the client"
        );
        for size in [1, 4096, 200_000] {
            let data: Vec<u8> = (0..size).map(|i| (i % 241) as u8).collect();
            echo_once(&mut client(server.addr), &data);
        }
        drop(flooder);
        server.signal("-TERM");
        assert_eq!(server.wait().code(), Some(0), "{}", server.stderr());
    }
}
