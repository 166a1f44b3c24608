//! The processes of the echo benchmark: building them, starting servers pinned to CPU 0,
//! running the load client pinned to CPU 1, and reading a server's CPU time.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use super::child::{build_release, Server};
use super::servers::{Program, ServerKind};

/// Paths of the release binaries the benchmark runs.
pub struct Binaries {
    echo_server: PathBuf,
    tokio_server: PathBuf,
    monoio_server: PathBuf,
    epoll_loop: PathBuf,
    uring_loop: PathBuf,
    compat_server: PathBuf,
    client: PathBuf,
    /// Another build of `echo-server` (`--baseline PATH`), for before/after rows.
    pub baseline: Option<PathBuf>,
    /// `echo-server --help`: which switches this build has (see `servers`).
    pub echo_help: String,
}

/// Builds the servers and the client in release mode (cargo reuses what is up to date).
pub fn build_binaries() -> Binaries {
    let target = build_release(&[
        "--bin",
        "echo-server",
        "--example",
        "echo_client",
        "--example",
        "tokio_echo_server",
        "--example",
        "monoio_echo_server",
        "--example",
        "epoll_echo_loop",
        "--example",
        "uring_echo_loop",
        "--example",
        "compat_echo_server",
        // The compat example's bridge; the other binaries do not use it.
        "--features",
        "proactor/tokio-io",
    ]);
    let echo_server = target.join("echo-server");
    let help = Command::new(&echo_server)
        .arg("--help")
        .output()
        .expect("run echo-server --help");
    Binaries {
        echo_server,
        tokio_server: target.join("examples/tokio_echo_server"),
        monoio_server: target.join("examples/monoio_echo_server"),
        epoll_loop: target.join("examples/epoll_echo_loop"),
        uring_loop: target.join("examples/uring_echo_loop"),
        compat_server: target.join("examples/compat_echo_server"),
        client: target.join("examples/echo_client"),
        baseline: None,
        echo_help: String::from_utf8_lossy(&help.stdout).into_owned(),
    }
}

/// Starts `kind` on `port`, pinned to CPU 0, and waits for `listening on <addr>`.
pub fn start(bins: &Binaries, kind: ServerKind, port: u16) -> Server {
    let addr = format!("127.0.0.1:{port}");
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", "0"]);
    let program = kind.program();
    let binary = match program {
        Program::Proactor(_) => &bins.echo_server,
        Program::Baseline(_) => bins
            .baseline
            .as_ref()
            .unwrap_or_else(|| super::die("a baseline server needs --baseline PATH")),
        Program::Tokio => &bins.tokio_server,
        Program::Monoio => &bins.monoio_server,
        Program::EpollLoop => &bins.epoll_loop,
        Program::UringLoop => &bins.uring_loop,
        Program::Compat(..) => &bins.compat_server,
    };
    cmd.arg(binary).args(program.args()).args(["--addr", &addr]);
    let launch = kind.launch(&bins.echo_help);
    cmd.args(&launch.args).envs(launch.env.iter().copied());
    Server::spawn(cmd, kind.name())
}

/// The load of one client run.
#[derive(Clone, Copy, Debug)]
pub struct Load {
    pub conns: usize,
    pub size: usize,
    /// Total paced rate in requests/s; 0 for closed loop.
    pub rate: u64,
    pub duration: Duration,
}

/// What the client reports.
#[derive(Debug, serde::Deserialize)]
pub struct Report {
    pub requests: u64,
    pub req_per_sec: f64,
    pub mb_per_sec: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub errors: u64,
}

/// The load client, pinned to CPU 1.
pub struct Client<'a> {
    bins: &'a Binaries,
    addr: SocketAddr,
}

impl<'a> Client<'a> {
    pub fn new(bins: &'a Binaries, addr: SocketAddr) -> Client<'a> {
        Client { bins, addr }
    }

    pub fn run(&self, load: &Load) -> Report {
        let mut cmd = Command::new("taskset");
        cmd.args(["-c", "1"]).arg(&self.bins.client).args([
            "--addr",
            &self.addr.to_string(),
            "--conns",
            &load.conns.to_string(),
            "--size",
            &load.size.to_string(),
            "--duration",
            &format!("{}", load.duration.as_secs_f64()),
            "--json",
        ]);
        if load.rate > 0 {
            cmd.args(["--rate", &load.rate.to_string()]);
        }
        let out = cmd.output().expect("run echo_client");
        if !out.status.success() {
            super::die(&format!(
                "echo_client failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            super::die(&format!(
                "echo_client printed no report ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            ))
        })
    }
}
