//! The servers of the HTTP benchmark: building them, starting one pinned to CPU 0, reading
//! its CPU time, stopping it.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::die;

/// A server of the benchmark.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// `hyper_server --driver uring`.
    Uring,
    /// `hyper_server --driver epoll`.
    Epoll,
    /// `hyper_tokio_server`: the same service on tokio's current_thread runtime.
    Tokio,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Uring => "hyper-uring",
            Kind::Epoll => "hyper-epoll",
            Kind::Tokio => "hyper-tokio",
        }
    }

    pub fn parse(s: &str) -> Kind {
        match s {
            "uring" | "hyper-uring" => Kind::Uring,
            "epoll" | "hyper-epoll" => Kind::Epoll,
            "tokio" | "hyper-tokio" => Kind::Tokio,
            other => die(&format!("unknown server {other:?} (uring, epoll, tokio)")),
        }
    }
}

/// Paths of the release binaries.
pub struct Binaries {
    proactor: PathBuf,
    tokio: PathBuf,
}

/// Builds both servers in release mode (cargo reuses what is up to date).
pub fn build() -> Binaries {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let status = Command::new(cargo)
        .current_dir(manifest)
        .args([
            "build",
            "--release",
            "--features",
            "tokio-io",
            "--example",
            "hyper_server",
            "--example",
            "hyper_tokio_server",
        ])
        .status()
        .unwrap_or_else(|e| die(&format!("run cargo build: {e}")));
    if !status.success() {
        die("building the servers failed");
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("target"))
        .join("release/examples");
    Binaries {
        proactor: target.join("hyper_server"),
        tokio: target.join("hyper_tokio_server"),
    }
}

/// A running server process.
pub struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    /// Starts `kind` on `port`, pinned to CPU 0, and waits for `listening on <addr>`.
    pub fn start(bins: &Binaries, kind: Kind, port: u16) -> Server {
        let addr = format!("127.0.0.1:{port}");
        let mut cmd = Command::new("taskset");
        cmd.args(["-c", "0"]);
        match kind {
            Kind::Uring | Kind::Epoll => {
                let driver = if kind == Kind::Uring {
                    "uring"
                } else {
                    "epoll"
                };
                cmd.arg(&bins.proactor).args([
                    "--driver",
                    driver,
                    "--threads",
                    "1",
                    "--addr",
                    &addr,
                ]);
            }
            Kind::Tokio => {
                cmd.arg(&bins.tokio).args(["--addr", &addr]);
            }
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| die(&format!("start {}: {e}", kind.name())));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(a) = line.strip_prefix("listening on ") {
                    let _ = tx.send(a.trim().to_string());
                }
            }
        });
        let Ok(line) = rx.recv_timeout(Duration::from_secs(15)) else {
            let _ = child.kill();
            die(&format!("{} did not print `listening on`", kind.name()));
        };
        let addr = line
            .parse()
            .unwrap_or_else(|_| die(&format!("bad address {line:?}")));
        Server { child, addr }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Total time the server's threads spent on a CPU so far.
    pub fn cpu_time(&self) -> Duration {
        super::sched::cpu_time(self.child.id())
    }

    /// SIGTERM, then SIGKILL if it does not exit within 5 s.
    pub fn stop(mut self) {
        // SAFETY: kill takes a pid and a signal number, no pointers.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
