//! A server process of a benchmark: built in release mode ([`build_release`]), started
//! from its command with stdout piped, ready once it prints `listening on <addr>`, its CPU
//! time read from the scheduler, stopped with SIGTERM (then SIGKILL).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Runs `cargo build --release` with `args` (cargo reuses what is up to date) and returns
/// the release directory of the target.
pub fn build_release(args: &[&str]) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let status = Command::new(cargo)
        .current_dir(manifest)
        .args(["build", "--release"])
        .args(args)
        .status()
        .unwrap_or_else(|e| super::die(&format!("run cargo build: {e}")));
    if !status.success() {
        super::die("building the benchmark's binaries failed");
    }
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("target"))
        .join("release")
}

/// A running server process.
pub struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    /// Runs `cmd` and waits (at most 15 s) for its `listening on <addr>` line; `name` is
    /// the server's name in error messages.
    pub fn spawn(mut cmd: Command, name: &str) -> Server {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| super::die(&format!("start {name}: {e}")));
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
            super::die(&format!("{name} did not print `listening on`"));
        };
        let addr = line
            .parse()
            .unwrap_or_else(|_| super::die(&format!("bad address {line:?}")));
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
        eprintln!("server {} ignored SIGTERM; killing it", self.child.id());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
