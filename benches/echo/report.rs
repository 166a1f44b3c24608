//! The echo benchmark's tables: the comparison of the servers, the per-feature ladder, the
//! CSV of every row, and the list of what each server runs.

use std::fmt::Write as _;

use super::servers::{ServerKind, FEATURES};
use super::{median, Cell, Options, Row, Samples};

fn find(rows: &[Row], cell: Cell, kind: ServerKind) -> Option<&Row> {
    rows.iter().find(|r| r.cell == cell && r.kind == kind)
}

/// The io_uring peer with the lowest CPU per request in `cell`: the one to beat.
fn best_uring_peer(rows: &[Row], cell: Cell) -> Option<&Row> {
    rows.iter()
        .filter(|r| r.cell == cell && r.kind.is_uring_peer() && r.cpu_us_per_req.is_finite())
        .min_by(|a, b| a.cpu_us_per_req.total_cmp(&b.cpu_us_per_req))
}

fn ratio(a: f64, b: Option<f64>) -> String {
    match b {
        Some(b) if b > 0.0 && a.is_finite() => format!("{:.2}x", a / b),
        _ => "-".into(),
    }
}

pub(super) fn render_table(opts: &Options, rows: &[Row]) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "echo benchmark: {} s per run, {} repetition(s), medians; server on CPU 0, client on CPU 1",
        opts.duration.as_secs_f64(),
        opts.reps
    );
    let _ = writeln!(t);
    let _ = writeln!(
        t,
        "| cell | server | req/s | MB/s | p50 us | p99 us | CPU us/req | req/s vs tokio | CPU/req vs tokio | req/s vs epoll | CPU/req vs epoll | req/s vs best io_uring peer | CPU/req vs best io_uring peer | errors |"
    );
    let _ = writeln!(
        t,
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for r in rows {
        let tokio = find(rows, r.cell, ServerKind::TOKIO);
        let epoll = find(rows, r.cell, ServerKind::EPOLL);
        let peer = best_uring_peer(rows, r.cell);
        let _ = writeln!(
            t,
            "| {} | {} | {:.0} | {:.1} | {:.1} | {:.1} | {:.2} | {} | {} | {} | {} | {} | {} | {} |",
            r.cell.label(),
            r.kind.name(),
            r.req_per_sec,
            r.mb_per_sec,
            r.p50_us,
            r.p99_us,
            r.cpu_us_per_req,
            ratio(r.req_per_sec, tokio.map(|x| x.req_per_sec)),
            ratio(r.cpu_us_per_req, tokio.map(|x| x.cpu_us_per_req)),
            ratio(r.req_per_sec, epoll.map(|x| x.req_per_sec)),
            ratio(r.cpu_us_per_req, epoll.map(|x| x.cpu_us_per_req)),
            ratio(r.req_per_sec, peer.map(|x| x.req_per_sec)),
            ratio(r.cpu_us_per_req, peer.map(|x| x.cpu_us_per_req)),
            r.errors
        );
    }
    t
}

/// The per-feature table: per ladder cell, the rungs in order (each with its ratios to the
/// rung before and to the base), then proactor-uring as it comes and the other servers of
/// that cell for reference. Empty when no ladder variant ran.
pub(super) fn render_ladder(rows: &[Row], echo_help: &str) -> String {
    let mut cells: Vec<Cell> = rows
        .iter()
        .filter(|r| r.kind.rung().is_some())
        .map(|r| r.cell)
        .collect();
    cells.dedup();
    if cells.is_empty() {
        return String::new();
    }
    let mut t = String::new();
    let _ = writeln!(
        t,
        "per-feature ladder: proactor-uring with its io_uring fast paths turned on one at a time, medians"
    );
    let _ = writeln!(t);
    let _ = writeln!(
        t,
        "| cell | variant | adds | req/s | CPU us/req | req/s vs prev | CPU/req vs prev | req/s vs base | CPU/req vs base | CPU/req vs best io_uring peer |"
    );
    let _ = writeln!(t, "|---|---|---|---:|---:|---:|---:|---:|---:|---:|");
    for cell in cells {
        let in_cell: Vec<&Row> = rows.iter().filter(|r| r.cell == cell).collect();
        let base = in_cell.iter().find(|r| r.kind.rung() == Some(0)).copied();
        let peer = best_uring_peer(rows, cell);
        let mut rungs: Vec<&Row> = in_cell
            .iter()
            .filter(|r| r.kind.rung().is_some())
            .copied()
            .collect();
        rungs.sort_by_key(|r| r.kind.rung());
        let mut prev: Option<&Row> = None;
        let others = in_cell.iter().filter(|r| r.kind.rung().is_none());
        for r in rungs.iter().copied().chain(others.copied()) {
            let mut adds = match (r.kind.adds(), r.kind.rung()) {
                (Some(f), _) => f.name.to_string(),
                (None, Some(_)) => "(all off)".into(),
                (None, None) if r.kind == ServerKind::URING => "(defaults)".into(),
                (None, None) => "(reference)".into(),
            };
            if r.kind.rung().is_some() && r.kind.runs_as(echo_help) == ServerKind::URING {
                adds.push_str(" (= defaults)");
            }
            // proactor-uring as it comes follows the last rung; the other servers stand alone.
            let before = prev.filter(|_| r.kind.rung().is_some() || r.kind == ServerKind::URING);
            let _ = writeln!(
                t,
                "| {} | {} | {} | {:.0} | {:.2} | {} | {} | {} | {} | {} |",
                cell.label(),
                r.kind.name(),
                adds,
                r.req_per_sec,
                r.cpu_us_per_req,
                ratio(r.req_per_sec, before.map(|x| x.req_per_sec)),
                ratio(r.cpu_us_per_req, before.map(|x| x.cpu_us_per_req)),
                ratio(r.req_per_sec, base.map(|x| x.req_per_sec)),
                ratio(r.cpu_us_per_req, base.map(|x| x.cpu_us_per_req)),
                ratio(r.cpu_us_per_req, peer.map(|x| x.cpu_us_per_req)),
            );
            prev = Some(r);
        }
    }
    let _ = writeln!(t);
    let _ = writeln!(
        t,
        "variants (`echo-server --driver uring --threads 1` plus):"
    );
    for kind in ServerKind::ladder(echo_help) {
        let _ = writeln!(
            t,
            "- {}: {}",
            kind.name(),
            kind.launch(echo_help).describe()
        );
    }
    t
}

/// Every row, one line each (the servers' names as in the tables).
pub(super) fn render_csv(rows: &[Row]) -> String {
    let mut csv = String::from(
        "conns,size,rate,server,req_per_sec,mb_per_sec,p50_us,p99_us,cpu_us_per_req,errors\n",
    );
    for r in rows {
        let _ = writeln!(
            csv,
            "{},{},{},{},{:.1},{:.3},{:.2},{:.2},{:.4},{}",
            r.cell.conns,
            r.cell.size,
            r.cell.rate,
            r.kind.name(),
            r.req_per_sec,
            r.mb_per_sec,
            r.p50_us,
            r.p99_us,
            r.cpu_us_per_req,
            r.errors
        );
    }
    csv
}

/// `--list`: the cells, the servers each runs, and how each server is started.
pub(super) fn render_servers(plan: &[(Cell, Vec<ServerKind>)], echo_help: &str) -> String {
    let mut t = String::new();
    let mut kinds: Vec<ServerKind> = Vec::new();
    for (cell, servers) in plan {
        let names: Vec<&str> = servers.iter().map(|k| k.name()).collect();
        let _ = writeln!(t, "{:<22} {}", cell.label(), names.join(", "));
        for k in servers {
            if !kinds.contains(k) {
                kinds.push(*k);
            }
        }
    }
    let _ = writeln!(t);
    kinds.sort();
    for kind in kinds {
        let adds = kind
            .adds()
            .map(|f| format!(" (adds {}: {})", f.name, f.what))
            .unwrap_or_default();
        let _ = writeln!(
            t,
            "{:<20} {} [{}]{adds}",
            kind.name(),
            kind.program(),
            kind.launch(echo_help).describe()
        );
    }
    let skipped: Vec<&str> = FEATURES
        .iter()
        .enumerate()
        .filter(|(i, _)| {
            !ServerKind::ladder(echo_help)
                .iter()
                .any(|k| k.rung() == Some(i + 1))
        })
        .map(|(_, f)| f.name)
        .collect();
    if !skipped.is_empty() {
        let _ = writeln!(
            t,
            "not in the ladder (this echo-server has no switch for them): {}",
            skipped.join(", ")
        );
    }
    t
}

/// The pairs: per cell, each current proactor server against each reference server paired
/// with it (a plain loop with no runtime, the `--baseline` build), as the median of the
/// per-repetition ratios (the two ran one after the other in each repetition) with their
/// range. Empty when the plan has no pair.
pub(super) fn render_pairs(
    opts: &Options,
    plan: &[(Cell, Vec<ServerKind>)],
    samples: &Samples,
) -> String {
    let mut body = String::new();
    for (cell, servers) in plan {
        for &other in servers {
            // The compat echo has a table of its own (`render_compat`), the other way round.
            let compat = matches!(other, ServerKind::COMPAT | ServerKind::COMPAT_BUF);
            let Some(kind) = other.paired_with().filter(|_| !compat) else {
                continue;
            };
            let (Some(a), Some(b)) = (samples.get(&(*cell, kind)), samples.get(&(*cell, other)))
            else {
                continue;
            };
            let _ = writeln!(body, "{}", pair_row(*cell, kind, other, a, b));
        }
    }
    if body.is_empty() {
        return body;
    }
    let mut t = String::new();
    let baseline = opts
        .baseline
        .as_ref()
        .map_or(String::new(), |p| format!("; baseline: {}", p.display()));
    let _ = writeln!(
        t,
        "pairs: each proactor server against the reference run next to it ({} repetition(s); \
         ratio of each repetition's pair, median [min-max]; CPU/req below 1.00x and req/s above \
         favour proactor{baseline}); the two run one after the other, so a slow spell of the \
         host between them shows in the range: `scripts/ab.sh A B` runs a pair at once",
        opts.reps
    );
    let _ = writeln!(t);
    let _ = writeln!(
        t,
        "| cell | server | against | CPU us/req | CPU us/req (against) | CPU/req ratio | req/s ratio |"
    );
    let _ = writeln!(t, "|---|---|---|---:|---:|---:|---:|");
    t.push_str(&body);
    t
}

/// One row of a paired comparison of `a` (server `kind`) against `b` (server `other`):
/// their median CPU per request, and the median [min-max] of the ratios of each
/// repetition's pair.
fn pair_row(
    cell: Cell,
    kind: ServerKind,
    other: ServerKind,
    a: &[super::Sample],
    b: &[super::Sample],
) -> String {
    let ratios = |f: fn(&super::Sample) -> f64| -> Vec<f64> {
        a.iter().zip(b).map(|(x, y)| f(x) / f(y)).collect()
    };
    let spread = |v: Vec<f64>| {
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        format!("{:.2}x [{lo:.2}-{hi:.2}]", median(v.clone()))
    };
    format!(
        "| {} | {} | {} | {:.2} | {:.2} | {} | {} |",
        cell.label(),
        kind.name(),
        other.name(),
        median(a.iter().map(|s| s.cpu_us_per_req).collect()),
        median(b.iter().map(|s| s.cpu_us_per_req).collect()),
        spread(ratios(|s| s.cpu_us_per_req)),
        spread(ratios(|s| s.req_per_sec)),
    )
}

/// The price of the poll-based bridge: the echo through `tokio::io` on proactor
/// (proactor-compat: `read` + `write_all`; proactor-compat-buf: `copy_buf`) against the
/// owned-buffer echo-server (proactor-uring), paired per repetition. Empty unless both ran.
pub(super) fn render_compat(
    opts: &Options,
    plan: &[(Cell, Vec<ServerKind>)],
    samples: &Samples,
) -> String {
    let mut t = String::new();
    for ((cell, _), compat) in plan
        .iter()
        .flat_map(|c| [(c, ServerKind::COMPAT), (c, ServerKind::COMPAT_BUF)])
    {
        let (Some(a), Some(b)) = (
            samples.get(&(*cell, compat)),
            samples.get(&(*cell, ServerKind::URING)),
        ) else {
            continue;
        };
        if t.is_empty() {
            let _ = writeln!(
                t,
                "compat path: the echo through tokio::io on proactor against the owned-buffer \
                 echo-server, both on io_uring ({} repetition(s); ratio of each repetition's \
                 pair, median [min-max]; CPU/req above 1.00x is the bridge's cost); \
                 `scripts/ab.sh uring compat` runs the pair at once, free of the host's drift",
                opts.reps
            );
            let _ = writeln!(t);
            let _ = writeln!(
                t,
                "| cell | server | against | CPU us/req | CPU us/req (against) | CPU/req ratio | req/s ratio |"
            );
            let _ = writeln!(t, "|---|---|---|---:|---:|---:|---:|");
        }
        let _ = writeln!(t, "{}", pair_row(*cell, compat, ServerKind::URING, a, b));
    }
    t
}
