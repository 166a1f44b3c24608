//! A dependency-free SVG plot of the closed-loop cells: req/s and server CPU per request
//! against connections, one line per server and message size (colour: server; dashes:
//! message size).

use std::fmt::Write as _;

use super::servers::ServerKind;
use super::Row;

const W: f64 = 480.0;
const H: f64 = 320.0;
const PAD: f64 = 56.0;

/// Renders both panels into one SVG document.
pub fn render(servers: &[ServerKind], rows: &[Row]) -> String {
    let closed: Vec<&Row> = rows.iter().filter(|r| r.cell.rate == 0).collect();
    let mut conns: Vec<usize> = closed.iter().map(|r| r.cell.conns).collect();
    conns.sort_unstable();
    conns.dedup();
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" font-family="sans-serif" font-size="12">"#,
        2.0 * W,
        H + 40.0
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    panel(&mut svg, 0.0, "requests/s", servers, &closed, &conns, |r| {
        r.req_per_sec
    });
    panel(
        &mut svg,
        W,
        "server CPU us/request",
        servers,
        &closed,
        &conns,
        |r| r.cpu_us_per_req,
    );
    // Legend: a colour per server, a dash pattern per message size.
    let mut x = PAD;
    let y = H + 20.0;
    for &kind in servers {
        let _ = writeln!(
            svg,
            r#"<line x1="{x}" y1="{y}" x2="{x2}" y2="{y}" stroke="{c}" stroke-width="3"/><text x="{tx}" y="{ty}">{name}</text>"#,
            x2 = x + 20.0,
            c = kind.color(),
            tx = x + 24.0,
            ty = y + 4.0,
            name = kind.name(),
        );
        x += 36.0 + 7.0 * kind.name().len() as f64;
    }
    for (size, dash) in [(64, ""), (4096, "6,4")] {
        let _ = writeln!(
            svg,
            r#"<line x1="{x}" y1="{y}" x2="{x2}" y2="{y}" stroke="black" stroke-width="2" stroke-dasharray="{dash}"/><text x="{tx}" y="{ty}">{size} B</text>"#,
            x2 = x + 24.0,
            tx = x + 28.0,
            ty = y + 4.0,
        );
        x += 90.0;
    }
    svg.push_str("</svg>\n");
    svg
}

fn panel(
    svg: &mut String,
    x0: f64,
    title: &str,
    servers: &[ServerKind],
    rows: &[&Row],
    conns: &[usize],
    value: fn(&Row) -> f64,
) {
    let max = rows
        .iter()
        .map(|r| value(r))
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max)
        .max(1e-9)
        * 1.1;
    let (left, right, top, bottom) = (x0 + PAD, x0 + W - 16.0, 28.0, H - 36.0);
    let px = |i: usize| {
        let n = conns.len().max(2) - 1;
        left + (right - left) * i as f64 / n as f64
    };
    let py = |v: f64| bottom - (bottom - top) * v / max;
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="16" font-weight="bold">{title} vs connections</text>"#,
        left
    );
    let _ = writeln!(
        svg,
        r#"<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="black"/><line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" stroke="black"/>"#
    );
    for k in 0..=4 {
        let v = max * k as f64 / 4.0;
        let _ = writeln!(
            svg,
            r##"<text x="{}" y="{}" text-anchor="end">{}</text><line x1="{left}" y1="{y}" x2="{right}" y2="{y}" stroke="#ddd"/>"##,
            left - 4.0,
            py(v) + 4.0,
            short(v),
            y = py(v)
        );
    }
    for (i, c) in conns.iter().enumerate() {
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="middle">{c}</text>"#,
            px(i),
            bottom + 16.0
        );
    }
    for &kind in servers {
        for (size, dash) in [(64, ""), (4096, "6,4")] {
            let points: Vec<String> = conns
                .iter()
                .enumerate()
                .filter_map(|(i, &c)| {
                    rows.iter()
                        .find(|r| r.kind == kind && r.cell.size == size && r.cell.conns == c)
                        .map(|r| format!("{:.1},{:.1}", px(i), py(value(r))))
                })
                .collect();
            if points.is_empty() {
                continue;
            }
            let _ = writeln!(
                svg,
                r#"<polyline fill="none" stroke="{}" stroke-width="2" stroke-dasharray="{dash}" points="{}"/>"#,
                kind.color(),
                points.join(" ")
            );
        }
    }
}

fn short(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.0}k", v / 1e3)
    } else if v >= 10.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}
