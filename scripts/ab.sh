#!/usr/bin/env bash
# Two echo servers measured at the same time: the CPU per request of B over A's, with the
# host's slow spells cancelled out.
#
#   scripts/ab.sh [--conns 256] [--size 64] [--rate R] [--reps 7] [--duration 2]
#                 [--server-cpu 0] [--client-cpu 1] A B
#
# A, B: uring, epoll, tokio, monoio, uring-loop, epoll-loop, compat, compat-buf (as in
# scripts/instructions.sh), or a whole command line (anything with a space or a slash:
# another build, other flags; split at spaces, no quoting), which must take `--addr
# HOST:PORT` and print `listening on`.
# With `--http`, A and B are HTTP servers instead (hyper-uring, hyper-epoll, hyper-tokio:
# examples/hyper_server.rs and hyper_tokio_server.rs, or a command line), loaded by wrk
# (`GET /`, keep-alive, `--conns` connections; Debian's `wrk` package).
#
# Both servers run for the whole script, pinned to the same CPU; each has its own load
# client (examples/echo_client, `--conns` connections of `--size` bytes, closed loop or
# `--rate` requests/s), both clients pinned to another CPU. Per repetition: a 1 s warm-up,
# then a window of `--duration` seconds with both clients at once; each server's CPU time
# (every thread's run time, /proc/<pid>/task/*/schedstat) over the requests its client
# completed. The two share the CPU through the window, so whatever slows the host slows
# both: the ratio B/A of one window is steady where figures of runs one after the other
# drift by a third (`scripts/ab.sh uring uring`, the same server twice, gives 0.99-1.01).
# Sharing a core is a condition of its own (each server runs in time slices, with the other's
# data in the caches between): the ratio is of that condition, next to the echo
# benchmark's figures of one server at a time.
set -euo pipefail
cd "$(dirname "$0")/.."

conns=256
size=64
rate=
http=
reps=7
duration=2
server_cpu=0
client_cpu=1
names=()
while [ $# -gt 0 ]; do
    case "$1" in
    --conns) conns="$2"; shift 2 ;;
    --size) size="$2"; shift 2 ;;
    --rate) rate="$2"; shift 2 ;;
    --http) http=1; shift ;;
    --reps) reps="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --server-cpu) server_cpu="$2"; shift 2 ;;
    --client-cpu) client_cpu="$2"; shift 2 ;;
    -h | --help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "unknown argument $1 (see --help)" >&2; exit 2 ;;
    *) names+=("$1"); shift ;;
    esac
done
[ ${#names[@]} -eq 2 ] || { echo "give two servers, A and B (see --help)" >&2; exit 2; }
[ -n "$http" ] && [ -n "$rate" ] && { echo "--rate is for the echo load, not --http" >&2; exit 2; }
need=(taskset python3)
[ -n "$http" ] && need+=(wrk)
for tool in "${need[@]}"; do
    command -v "$tool" >/dev/null || { echo "needs $tool (apt-get install $tool)" >&2; exit 2; }
done

# shellcheck source=scripts/lib/servers.sh
. scripts/lib/servers.sh
cmd_a=$(command_of "${names[0]}")
cmd_b=$(command_of "${names[1]}")

build_servers "${names[@]}"
client="$bin/examples/echo_client"

work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

port=$((7800 + RANDOM % 100))
# Starts server $2 (command line) as side $1 (a or b); sets pid_$1 and addr_$1.
start() {
    port=$((port + 1))
    # shellcheck disable=SC2086
    taskset -c "$server_cpu" $2 --addr "127.0.0.1:$port" >"$work/$1.out" 2>"$work/$1.err" &
    local pid=$!
    pids+=("$pid")
    for _ in $(seq 300); do
        grep -q "listening on" "$work/$1.out" 2>/dev/null && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    grep -q "listening on" "$work/$1.out" ||
        { echo "server $1 ($2) did not start: $(cat "$work/$1.err")" >&2; exit 1; }
    printf -v "pid_$1" %s "$pid"
    printf -v "addr_$1" %s "127.0.0.1:$port"
}
start a "$cmd_a"
start b "$cmd_b"

# Nanoseconds of CPU every thread of process $1 has run.
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f", s }'; }
requests() {
    if [ -n "$http" ]; then
        awk '/requests in/ { print $1 }' "$1"
    else
        sed -n 's/.*"requests":\([0-9]*\).*/\1/p' "$1"
    fi
}
# Both clients at once for $1 seconds; their reports in $work/a.json, $work/b.json.
both() {
    local pace=()
    [ -n "$rate" ] && pace=(--rate "$rate")
    local side clients=()
    for side in a b; do
        local addr_var="addr_$side"
        if [ -n "$http" ]; then
            taskset -c "$client_cpu" wrk -t1 -c "$conns" -d "${1}s" "http://${!addr_var}/" \
                >"$work/$side.json" &
        else
            taskset -c "$client_cpu" "$client" --addr "${!addr_var}" --conns "$conns" \
                --size "$size" --duration "$1" --json "${pace[@]}" >"$work/$side.json" &
        fi
        clients+=($!)
    done
    local c
    for c in "${clients[@]}"; do wait "$c" || true; done # a failed client: checked below
    alive
}

# Stops the script if a server has exited.
alive() {
    local side pid_var
    for side in a b; do
        pid_var="pid_$side"
        kill -0 "${!pid_var}" 2>/dev/null ||
            { echo "server $side exited: $(tail -3 "$work/$side.err")" >&2; exit 1; }
    done
}

load="$size B, closed loop"
[ -n "$rate" ] && load="$size B, paced, $rate requests/s each"
[ -n "$http" ] && load="HTTP GET / under wrk, keep-alive"
echo "A = ${names[0]}: $cmd_a"
echo "B = ${names[1]}: $cmd_b"
echo "both on CPU $server_cpu at once, a client each on CPU $client_cpu; $conns connections, $load; $reps x $duration s"
echo
echo "| rep | A us/req | B us/req | B/A CPU/req | A req/s | B req/s |"
echo "|---:|---:|---:|---:|---:|---:|"
rows="$work/rows"
: >"$rows"
for r in $(seq "$reps"); do
    both 1
    a0=$(cpu_ns "$pid_a")
    b0=$(cpu_ns "$pid_b")
    both "$duration"
    a1=$(cpu_ns "$pid_a")
    b1=$(cpu_ns "$pid_b")
    ra=$(requests "$work/a.json")
    rb=$(requests "$work/b.json")
    if [ -z "$ra" ] || [ -z "$rb" ] || [ "$ra" = 0 ] || [ "$rb" = 0 ]; then
        echo "rep $r: a client completed no request: $(cat "$work/a.json" "$work/b.json")" >&2
        exit 1
    fi
    python3 - "$r" "$a0" "$a1" "$ra" "$b0" "$b1" "$rb" "$duration" <<'EOF' | tee -a "$rows"
import sys
r, a0, a1, ra, b0, b1, rb, d = sys.argv[1:]
ua = (int(a1) - int(a0)) / 1e3 / int(ra)
ub = (int(b1) - int(b0)) / 1e3 / int(rb)
print(f"| {r} | {ua:.2f} | {ub:.2f} | {ub / ua:.3f}x | {int(ra) / float(d):.0f} | {int(rb) / float(d):.0f} |")
EOF
done
python3 - "$rows" <<'EOF'
import statistics, sys
rows = [l.split("|") for l in open(sys.argv[1])]
ratios = [float(r[4].strip().rstrip("x")) for r in rows]
rates = [float(r[6]) / float(r[5]) for r in rows]
a = statistics.median(float(r[2]) for r in rows)
b = statistics.median(float(r[3]) for r in rows)
print()
print(f"B/A CPU per request: median {statistics.median(ratios):.3f}x [{min(ratios):.3f}-{max(ratios):.3f}]"
      f" over {len(ratios)} windows (A {a:.2f} us/req, B {b:.2f} us/req, medians)")
print(f"B/A req/s: median {statistics.median(rates):.3f}x [{min(rates):.3f}-{max(rates):.3f}]"
      " (the two share the server CPU, and their clients the other: a ratio of this condition)")
EOF
