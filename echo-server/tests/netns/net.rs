//! A test's own network: two network namespaces (a server side and a client side) joined
//! by veth pairs, with faults on the links: random loss (nftables), a slow queueing link
//! (tc tbf), outages (link down). Nothing here touches the host's namespace: both ends
//! live in namespaces the test made, deleted when the [`Net`] drops, even on a panic.

use std::fs::File;
use std::io::Write;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Which namespace.
#[derive(Clone, Copy, Debug)]
pub enum Side {
    Srv,
    Cli,
}

/// Two namespaces and the veth pairs between them: pair `k` is `s{k}` (10.213.k.1/24) on
/// the server side and `c{k}` (10.213.k.2/24) on the client side.
pub struct Net {
    srv: String,
    cli: String,
}

fn run(cmd: &mut Command) -> Result<Output, String> {
    let out = cmd
        .stdin(Stdio::piped())
        .output()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(format!(
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Whether `tool` runs (`tool args`).
fn have(tool: &str, args: &[&str]) -> bool {
    Command::new(tool)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Net {
    /// The namespaces of one test (`tag` names them), with `links` veth pairs; `Err`
    /// says why they cannot be made here (no `ip`, no `nft` when `nft` is needed, no
    /// CAP_NET_ADMIN), for the test to print as its reason to skip.
    pub fn new(tag: &str, links: usize, nft: bool) -> Result<Net, String> {
        Net::setup(tag, links, nft).map_err(|e| format!("no network namespaces here: {e}"))
    }

    fn setup(tag: &str, links: usize, nft: bool) -> Result<Net, String> {
        if !have("ip", &["-V"]) || !have("tc", &["-V"]) {
            return Err("no `ip` or `tc` binary (package iproute2)".into());
        }
        if nft && !have("nft", &["--version"]) {
            return Err("no `nft` binary (package nftables)".into());
        }
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let id = format!(
            "px{}-{}-{tag}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let srv = format!("{id}-s");
        run(Command::new("ip").args(["netns", "add", &srv]))
            .map_err(|e| format!("cannot make one (needs CAP_NET_ADMIN): {e}"))?;
        let mut net = Net {
            srv,
            cli: String::new(),
        };
        let cli = format!("{id}-c");
        run(Command::new("ip").args(["netns", "add", &cli]))?;
        net.cli = cli;
        for side in [Side::Srv, Side::Cli] {
            net.ip(side, &["link", "set", "lo", "up"])
                .map_err(|e| format!("cannot configure one (needs CAP_NET_ADMIN): {e}"))?;
        }
        for k in 0..links {
            let (s, c) = (format!("s{k}"), format!("c{k}"));
            net.ip(
                Side::Srv,
                &[
                    "link", "add", &s, "type", "veth", "peer", "name", &c, "netns", &net.cli,
                ],
            )?;
            let (sa, ca) = (format!("{}/24", net.srv_ip(k)), format!("10.213.{k}.2/24"));
            net.ip(Side::Srv, &["addr", "add", &sa, "dev", &s])?;
            net.ip(Side::Cli, &["addr", "add", &ca, "dev", &c])?;
            net.ip(Side::Srv, &["link", "set", &s, "up"])?;
            net.ip(Side::Cli, &["link", "set", &c, "up"])?;
        }
        Ok(net)
    }

    fn name(&self, side: Side) -> &str {
        match side {
            Side::Srv => &self.srv,
            Side::Cli => &self.cli,
        }
    }

    /// The server side's address on link `k`.
    pub fn srv_ip(&self, k: usize) -> Ipv4Addr {
        Ipv4Addr::new(10, 213, k as u8, 1)
    }

    /// `ip -n <side> args...`.
    pub fn ip(&self, side: Side, args: &[&str]) -> Result<(), String> {
        run(Command::new("ip").args(["-n", self.name(side)]).args(args)).map(drop)
    }

    /// A command run inside `side`'s namespace (`ip netns exec`, which execs it: the
    /// child's pid is the program's).
    pub fn exec(&self, side: Side, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", self.name(side), program]);
        cmd
    }

    /// Drops `percent`% of the packets arriving on each side, at random (nftables).
    pub fn loss(&self, percent: u32) -> Result<(), String> {
        let rules = format!(
            "table inet pxloss {{\n  chain input {{\n    type filter hook input priority 0; \
             policy accept;\n    numgen random mod 100 < {percent} counter drop\n  }}\n}}\n"
        );
        for side in [Side::Srv, Side::Cli] {
            let mut child = self
                .exec(side, "nft")
                .args(["-f", "-"])
                .stdin(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| format!("nft: {e}"))?;
            child
                .stdin
                .take()
                .expect("piped")
                .write_all(rules.as_bytes())
                .map_err(|e| format!("nft: {e}"))?;
            let out = child.wait_with_output().map_err(|e| format!("nft: {e}"))?;
            if !out.status.success() {
                return Err(format!("nft: {}", String::from_utf8_lossy(&out.stderr)));
            }
        }
        Ok(())
    }

    /// The packets `nft` dropped so far on `side`.
    pub fn dropped(&self, side: Side) -> u64 {
        let out = run(self
            .exec(side, "nft")
            .args(["list", "table", "inet", "pxloss"]));
        out.ok()
            .and_then(|o| {
                let text = String::from_utf8_lossy(&o.stdout).into_owned();
                let at = text.find("packets ")? + "packets ".len();
                text[at..].split_whitespace().next()?.parse().ok()
            })
            .unwrap_or(0)
    }

    /// Makes link `k` slow from the server side: a token bucket of `rate` (tc syntax,
    /// e.g. "8mbit") with a queue of up to 200 ms.
    pub fn slow(&self, k: usize, rate: &str) -> Result<(), String> {
        let dev = format!("s{k}");
        let args = [
            "qdisc", "add", "dev", &dev, "root", "tbf", "rate", rate, "burst", "32kb", "latency",
            "200ms",
        ];
        run(self.exec(Side::Srv, "tc").args(args)).map(drop)
    }

    /// Takes link `k` down (its server end: the client end loses its carrier) or up.
    pub fn set_link(&self, k: usize, up: bool) -> Result<(), String> {
        let state = if up { "up" } else { "down" };
        self.ip(Side::Srv, &["link", "set", &format!("s{k}"), state])
    }

    /// Runs `f` on a thread inside `side`'s namespace: sockets it makes belong there (and
    /// stay there, whichever thread uses them later).
    pub fn within<T: Send>(&self, side: Side, f: impl FnOnce() -> T + Send) -> T {
        let path = format!("/run/netns/{}", self.name(side));
        std::thread::scope(|s| {
            s.spawn(|| {
                let ns = File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
                // SAFETY: `ns` is an open namespace file for the whole call; setns only
                // moves this thread (which ends when `f` returns) into that namespace.
                let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
                assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
                f()
            })
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        // Deleting a namespace destroys its veth ends and the peers with them.
        for name in [&self.srv, &self.cli] {
            if !name.is_empty() {
                let _ = Command::new("ip")
                    .args(["netns", "del", name])
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }
}
