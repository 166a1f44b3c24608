//! The servers the echo benchmark knows: the compared runtimes, and the per-feature ladder of
//! proactor-uring variants (the io_uring fast paths turned on one at a time).
//!
//! A server is a program plus extra arguments plus environment. A ladder rung `k` runs
//! `echo-server --driver uring` with the first `k` of [`FEATURES`] on and the others off;
//! how a feature is turned on or off (an environment variable, an `echo-server` flag) is
//! read from the feature's entry and from the flags the built `echo-server --help` lists,
//! so the ladder follows the server's defaults as they change: a feature whose switch the
//! binary lacks is left out of the ladder (its rung would equal the previous one).

/// A server of the benchmark: an index into [`DEFS`], ordered as the tables list them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServerKind(u8);

/// The program a server runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Program {
    /// `echo-server --driver <driver>`.
    Proactor(&'static str),
    /// `examples/tokio_echo_server`.
    Tokio,
    /// `examples/monoio_echo_server`.
    Monoio,
    /// `examples/compat_echo_server --driver <driver>`: the echo written against
    /// `tokio::io` on proactor (the poll-based bridge); with `true`, `--copy-buf`
    /// (`tokio::io::copy_buf` between the halves instead of `read` + `write_all`).
    Compat(&'static str, bool),
    /// Another build of `echo-server` (`--baseline PATH`) with `--driver <driver>`: the
    /// "before" of a before/after comparison.
    Baseline(&'static str),
    /// `examples/epoll_echo_loop`: a plain epoll loop with no runtime, the reactor limit
    /// the epoll variant is measured against.
    EpollLoop,
    /// `examples/uring_echo_loop`: a hand-written io_uring loop with no runtime, the
    /// reference of the io_uring driver.
    UringLoop,
}

impl Program {
    /// The binary, as the tables name it.
    fn binary(self) -> &'static str {
        match self {
            Program::Proactor(_) => "echo-server",
            Program::Tokio => "examples/tokio_echo_server",
            Program::Monoio => "examples/monoio_echo_server",
            Program::Compat(..) => "examples/compat_echo_server",
            Program::Baseline(_) => "<baseline>",
            Program::EpollLoop => "examples/epoll_echo_loop",
            Program::UringLoop => "examples/uring_echo_loop",
        }
    }

    /// The arguments it is started with, before `--addr`.
    pub fn args(self) -> Vec<&'static str> {
        match self {
            Program::Proactor(driver) | Program::Baseline(driver) => {
                vec!["--driver", driver, "--threads", "1"]
            }
            Program::Compat(driver, copy_buf) => {
                let mut args = vec!["--driver", driver, "--threads", "1"];
                if copy_buf {
                    args.push("--copy-buf");
                }
                args
            }
            Program::Tokio | Program::Monoio | Program::EpollLoop | Program::UringLoop => {
                Vec::new()
            }
        }
    }
}

impl std::fmt::Display for Program {
    /// The program and its arguments as the benchmark starts it (before `--addr`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.binary())?;
        self.args().iter().try_for_each(|a| write!(f, " {a}"))
    }
}

struct Def {
    name: &'static str,
    alias: &'static str,
    program: Program,
    /// Ladder rung: how many of [`FEATURES`] are on; `None` for the servers as they come.
    rung: Option<usize>,
    /// Another io_uring runtime: the peer the CPU/request target is measured against.
    uring_peer: bool,
    color: &'static str,
}

const fn def(
    name: &'static str,
    alias: &'static str,
    program: Program,
    color: &'static str,
) -> Def {
    Def {
        name,
        alias,
        program,
        rung: None,
        uring_peer: matches!(program, Program::Monoio),
        color,
    }
}

const fn rung(name: &'static str, rung: usize, color: &'static str) -> Def {
    Def {
        name,
        alias: name,
        program: Program::Proactor("uring"),
        rung: Some(rung),
        uring_peer: false,
        color,
    }
}

const DEFS: &[Def] = &[
    def(
        "proactor-uring",
        "uring",
        Program::Proactor("uring"),
        "#d62728",
    ),
    def(
        "proactor-epoll",
        "epoll",
        Program::Proactor("epoll"),
        "#1f77b4",
    ),
    def("tokio", "tokio", Program::Tokio, "#2ca02c"),
    def("monoio", "monoio", Program::Monoio, "#9467bd"),
    def(
        "baseline-uring",
        "base-uring",
        Program::Baseline("uring"),
        "#ff9896",
    ),
    def(
        "baseline-epoll",
        "base-epoll",
        Program::Baseline("epoll"),
        "#aec7e8",
    ),
    def("epoll-loop", "epoll-loop", Program::EpollLoop, "#393b79"),
    def("uring-loop", "uring-loop", Program::UringLoop, "#ff7f0e"),
    rung("uring-base", 0, "#7f7f7f"),
    rung("uring+ring-flags", 1, "#8c564b"),
    rung("uring+accept-multi", 2, "#e377c2"),
    rung("uring+recv-multi", 3, "#bcbd22"),
    rung("uring+fixed-fds", 4, "#17becf"),
    def(
        "proactor-compat",
        "compat",
        Program::Compat("uring", false),
        "#e7ba52",
    ),
    def(
        "proactor-compat-buf",
        "compat-buf",
        Program::Compat("uring", true),
        "#ad494a",
    ),
];

/// One io_uring fast path of proactor, and how the benchmark switches it.
pub struct Feature {
    pub name: &'static str,
    pub what: &'static str,
    /// Environment that turns it off (it is on without).
    env_off: Option<(&'static str, &'static str)>,
    /// The `echo-server` arguments that turn it off (a flag, and its value if it takes
    /// one), where the binary has the flag.
    off_flag: Option<&'static [&'static str]>,
    /// The flag that turns it on, for a feature that is off by default (used only when the
    /// binary has no `off_flag`).
    on_flag: Option<&'static str>,
}

/// The fast paths in ladder order: each rung adds the next one.
pub const FEATURES: &[Feature] = &[
    Feature {
        name: "ring-flags",
        what: "SINGLE_ISSUER+DEFER_TASKRUN ring, registered ring fd (PROACTOR_FAST_PATHS)",
        env_off: Some(("PROACTOR_FAST_PATHS", "off")),
        off_flag: None,
        on_flag: None,
    },
    Feature {
        name: "accept-multi",
        what: "multishot accept",
        env_off: None,
        off_flag: Some(&["--no-multishot-accept"]),
        on_flag: None,
    },
    Feature {
        name: "recv-multi",
        what: "multishot recv from a shared provided-buffer ring",
        env_off: None,
        off_flag: Some(&["--no-multishot-recv"]),
        on_flag: Some("--multishot-recv"),
    },
    Feature {
        name: "fixed-fds",
        what: "registered (fixed) file slots for connections",
        env_off: None,
        off_flag: Some(&["--fixed-files", "0"]),
        on_flag: None,
    },
];

impl Feature {
    /// Whether the built server can switch this feature (`help`: its `--help` text).
    fn switchable(&self, help: &str) -> bool {
        self.env_off.is_some()
            || [self.off_flag.map(|args| args[0]), self.on_flag]
                .into_iter()
                .flatten()
                .any(|flag| has_flag(help, flag))
    }
}

/// Whether `help` lists `flag` (as a whole word: `--multishot-recv` is not
/// `--no-multishot-recv`).
fn has_flag(help: &str, flag: &str) -> bool {
    help.split(|c: char| c.is_whitespace() || c == ',' || c == '=' || c == '[')
        .any(|word| word == flag)
}

/// How to start a server: extra arguments and environment on top of its program's own.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Launch {
    pub args: Vec<&'static str>,
    pub env: Vec<(&'static str, &'static str)>,
}

impl Launch {
    /// `ENV=v --flag ...`, or `defaults`.
    pub fn describe(&self) -> String {
        let parts: Vec<String> = self
            .env
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .chain(self.args.iter().map(|a| a.to_string()))
            .collect();
        if parts.is_empty() {
            "defaults".into()
        } else {
            parts.join(" ")
        }
    }
}

impl ServerKind {
    pub const URING: ServerKind = ServerKind(0);
    pub const EPOLL: ServerKind = ServerKind(1);
    pub const TOKIO: ServerKind = ServerKind(2);
    pub const MONOIO: ServerKind = ServerKind(3);
    pub const BASE_URING: ServerKind = ServerKind(4);
    pub const BASE_EPOLL: ServerKind = ServerKind(5);
    pub const EPOLL_LOOP: ServerKind = ServerKind(6);
    pub const URING_LOOP: ServerKind = ServerKind(7);
    /// The echo through the tokio::io bridge on io_uring, set against proactor-uring.
    pub const COMPAT: ServerKind = ServerKind(13);
    /// The same through `tokio::io::copy_buf` (`AsyncBufRead`).
    pub const COMPAT_BUF: ServerKind = ServerKind(14);

    fn def(self) -> &'static Def {
        &DEFS[self.0 as usize]
    }

    pub fn name(self) -> &'static str {
        self.def().name
    }

    pub fn program(self) -> Program {
        self.def().program
    }

    pub fn color(self) -> &'static str {
        self.def().color
    }

    /// For a reference server (a baseline build, a plain loop), the current build's
    /// server it is paired with: the two run one after the other in each repetition.
    pub fn paired_with(self) -> Option<ServerKind> {
        match self {
            ServerKind::BASE_URING
            | ServerKind::URING_LOOP
            | ServerKind::COMPAT
            | ServerKind::COMPAT_BUF => Some(ServerKind::URING),
            ServerKind::BASE_EPOLL | ServerKind::EPOLL_LOOP => Some(ServerKind::EPOLL),
            _ => None,
        }
    }

    pub fn is_uring_peer(self) -> bool {
        self.def().uring_peer
    }

    /// The ladder rung (features on), for the per-feature variants.
    pub fn rung(self) -> Option<usize> {
        self.def().rung
    }

    pub fn parse(s: &str) -> ServerKind {
        match DEFS.iter().position(|d| d.name == s || d.alias == s) {
            Some(i) => ServerKind(i as u8),
            None => {
                let names: Vec<&str> = DEFS.iter().map(|d| d.alias).collect();
                super::die(&format!("unknown server {s:?} ({})", names.join(", ")))
            }
        }
    }

    /// The per-feature variants this `echo-server` can run (`help`: its `--help` text),
    /// base first; rungs whose feature the binary cannot switch are left out.
    pub fn ladder(help: &str) -> Vec<ServerKind> {
        (0..DEFS.len())
            .map(|i| ServerKind(i as u8))
            .filter(|k| match k.rung() {
                Some(0) => true,
                Some(r) => FEATURES[r - 1].switchable(help),
                None => false,
            })
            .collect()
    }

    /// The feature this rung adds to the previous one.
    pub fn adds(self) -> Option<&'static Feature> {
        self.rung()
            .and_then(|r| r.checked_sub(1))
            .map(|i| &FEATURES[i])
    }

    /// The server whose runs stand for this one: proactor-uring for a rung that runs with
    /// its defaults (the same process, so it is measured once), else itself.
    pub fn runs_as(self, help: &str) -> ServerKind {
        if self.rung().is_some() && self.launch(help) == Launch::default() {
            ServerKind::URING
        } else {
            self
        }
    }

    /// Extra arguments and environment of this server, given `echo-server --help`.
    pub fn launch(self, help: &str) -> Launch {
        let mut launch = Launch::default();
        let Some(on) = self.rung() else {
            return launch;
        };
        for (i, f) in FEATURES.iter().enumerate() {
            let off_flag = f.off_flag.filter(|args| has_flag(help, args[0]));
            if i < on {
                if let (None, Some(flag)) = (off_flag, f.on_flag) {
                    if has_flag(help, flag) {
                        launch.args.push(flag);
                    }
                }
            } else {
                launch.env.extend(f.env_off);
                launch.args.extend(off_flag.into_iter().flatten());
            }
        }
        launch
    }
}
