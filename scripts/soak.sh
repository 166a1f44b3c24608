#!/usr/bin/env bash
# Soak: CONNS concurrent connections for SECS seconds against the release echo-server (one
# thread, pinned to CPU 0; the load client, examples/echo_client, on CPU 1), every echoed
# byte checked by the client. The server's resident memory (VmRSS) is sampled every second
# and printed as a curve, one line per second; after the warm-up it must be flat: each of
# the last FLAT seconds (30, or half the run if shorter) within 5% of their median. Prints
# the figures; exits non-zero on any client error, a dead server, a non-zero exit of the
# server on SIGTERM, or a curve that is not flat. Extra arguments go to echo-server, e.g.
# `scripts/soak.sh 10000 60 --driver epoll`.
#
# usage: scripts/soak.sh [CONNS] [SECS] [echo-server flags...]     (10000 and 60)
set -euo pipefail
cd "$(dirname "$0")/.."
conns=${1:-10000}
secs=${2:-60}
shift 2 || shift $# || true
tolerance=5

fds=$((conns + 1000))
if [ "$(ulimit -n)" -lt "$fds" ]; then
    ulimit -n "$fds" 2>/dev/null || {
        echo "soak: cannot raise the descriptor limit to $fds (ulimit -n is $(ulimit -n), hard $(ulimit -Hn))" >&2
        exit 1
    }
fi
cargo build --release --quiet --bin echo-server --example echo_client
target=${CARGO_TARGET_DIR:-target}/release
work=$(mktemp -d)
cpus=$(nproc)
pin_server=() pin_client=()
if [ "$cpus" -ge 2 ] && command -v taskset >/dev/null; then
    pin_server=(taskset -c 0) pin_client=(taskset -c 1)
fi

"${pin_server[@]}" "$target/echo-server" --threads 1 --addr 127.0.0.1:0 "$@" \
    >"$work/server.out" 2>"$work/server.err" &
server=$!
sampler=
cleanup() {
    if [ -n "$sampler" ]; then kill "$sampler" 2>/dev/null || true; fi
    kill "$server" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq 100); do
    grep -q "^listening on " "$work/server.out" && break
    sleep 0.1
done
addr=$(sed -n 's/^listening on //p' "$work/server.out")
[ -n "$addr" ] || { echo "soak: the server did not start: $(cat "$work/server.err")" >&2; exit 1; }
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$server/status" 2>/dev/null || echo 0; }
idle_rss=$(rss)

# One sample a second while the load runs (second 1 is the end of the first second).
(
    start=$(date +%s%N)
    t=0
    while kill -0 "$server" 2>/dev/null; do
        t=$((t + 1))
        left=$((start + t * 1000000000 - $(date +%s%N)))
        [ "$left" -gt 0 ] && sleep "$(awk -v ns="$left" 'BEGIN { printf "%.3f", ns / 1e9 }')"
        echo "$t $(rss)" >>"$work/rss"
    done
) &
sampler=$!

echo "soak: $conns connections x ${secs}s against echo-server at $addr (${*:-default flags})"
status=0
"${pin_client[@]}" "$target/examples/echo_client" --addr "$addr" --conns "$conns" \
    --size 64 --pipeline 1 --duration "$secs" --threads 1 --json \
    >"$work/report.json" 2>"$work/client.err" || status=$?
kill "$sampler" 2>/dev/null || true
wait "$sampler" 2>/dev/null || true
sampler=

alive=yes
kill -0 "$server" 2>/dev/null || alive=no
server_status=dead
if [ "$alive" = yes ]; then
    kill -TERM "$server"
    server_status=0
    wait "$server" || server_status=$?
fi

echo
echo "server RSS (VmRSS), one sample a second:"
max=$(awk '{ if ($2 > m) m = $2 } END { print m + 0 }' "$work/rss")
awk -v max="$max" '{
    bar = (max > 0) ? int($2 * 50 / max) : 0
    s = ""; for (i = 0; i < bar; i++) s = s "#"
    printf "%4ds %9.1f MiB %8d KiB  %s\n", $1, $2 / 1024, $2, s
}' "$work/rss"

# Flat after the warm-up: the samples of the last FLAT seconds of the load.
flat=$((secs < 60 ? secs / 2 : 30))
verdict=$(head -n "$secs" "$work/rss" | tail -n "$flat" | sort -n -k2 | awk -v tol="$tolerance" '
    { v[NR] = $2 }
    END {
        if (NR == 0) { print "no samples"; exit }
        med = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        lo = (v[1] - med) * 100 / med; hi = (v[NR] - med) * 100 / med
        ok = (lo >= -tol && hi <= tol) ? "flat" : "NOT FLAT"
        printf "%s: last %d s median %.1f MiB, min %+.1f%%, max %+.1f%% (tolerance %d%%)\n",
            ok, NR, med / 1024, lo, hi, tol
    }')

echo
report=$(cat "$work/report.json")
if [ -n "$report" ] && command -v jq >/dev/null; then
    jq -r '"requests \(.requests)  \(.req_per_sec | floor) req/s  \(.mb_per_sec * 100 | floor / 100) MB/s  p50 \(.p50_us) us  p99 \(.p99_us) us  p99.9 \(.p999_us) us  max \(.max_us) us\nerrors \(.errors)\(if .first_error then "  first: " + .first_error else "" end)"' <<<"$report"
else
    echo "client report: ${report:-none} $(cat "$work/client.err")"
fi
echo "server RSS: idle $((idle_rss / 1024)) MiB, peak $((max / 1024)) MiB; $verdict"
echo "server alive at the end: $alive; exit status on SIGTERM: $server_status"
[ -s "$work/server.err" ] && sed 's/^/server: /' "$work/server.err"

errors=$(sed -n 's/.*"errors":\([0-9]*\).*/\1/p' <<<"$report")
requests=$(sed -n 's/.*"requests":\([0-9]*\).*/\1/p' <<<"$report")
errors=${errors:-unknown} requests=${requests:-0}
if [ "$status" -ne 0 ] || [ "$errors" != 0 ] || [ "$requests" = 0 ] || [ "$alive" != yes ] ||
    [ "$server_status" != 0 ] || [[ $verdict != flat* ]]; then
    echo "soak: FAILED" >&2
    exit 1
fi
echo "soak: ok"
