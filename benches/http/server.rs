//! The servers of the HTTP benchmark: building them, starting one pinned to CPU 0, reading
//! its CPU time, stopping it.

use std::path::PathBuf;
use std::process::Command;

use super::child::{build_release, Server};
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
    let target = build_release(&[
        "--features",
        "tokio-io",
        "--example",
        "hyper_server",
        "--example",
        "hyper_tokio_server",
    ])
    .join("examples");
    Binaries {
        proactor: target.join("hyper_server"),
        tokio: target.join("hyper_tokio_server"),
    }
}

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
            cmd.arg(&bins.proactor)
                .args(["--driver", driver, "--threads", "1", "--addr", &addr]);
        }
        Kind::Tokio => {
            cmd.arg(&bins.tokio).args(["--addr", &addr]);
        }
    }
    Server::spawn(cmd, kind.name())
}
