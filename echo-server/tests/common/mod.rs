//! What the echo-server test crates share: starting the server and reading the address it
//! prints.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Starts `cmd` (an echo-server) with `extra` arguments, stdout and stderr piped, and waits
/// up to `limit` for its first line: the child and the address of its `listening on <addr>`
/// line. Panics (after killing the child) if it prints anything else or nothing.
pub fn start_listening(cmd: &mut Command, extra: &[&str], limit: Duration) -> (Child, String) {
    let mut child = cmd
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start echo-server");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(limit).unwrap_or_default();
    match line.trim().strip_prefix("listening on ") {
        Some(addr) => {
            let addr = addr.to_string();
            (child, addr)
        }
        None => {
            let _ = child.kill();
            panic!("echo-server {extra:?} did not start: its first line was {line:?}");
        }
    }
}
