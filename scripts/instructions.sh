#!/usr/bin/env bash
# User-space instructions per request of each echo server, counted by callgrind (the same
# figure run to run, whatever else the machine does), next to system calls per request
# (strace -c), with a separate load generator (examples/echo_client, not under valgrind).
#
#   scripts/instructions.sh [--conns 256] [--size 64] [--window 3] [--rate 20000] [--servers LIST]
#
# LIST: any of uring,epoll,tokio,monoio,uring-loop,epoll-loop (default: all). For each
# server: it starts under `valgrind --tool=callgrind` (one thread), takes a warm-up of load,
# zeroes the counters, runs the measured window, dumps, and divides the instructions by the
# requests the client completed: closed loop (each connection keeps one message in flight)
# and paced (4,000 requests/s in all). Then, outside valgrind, `strace -c -f` counts system
# calls over a paced window of 20,000 requests/s. Prints one table.
set -euo pipefail
cd "$(dirname "$0")/.."

conns=256
size=64
window=3
rate=20000
servers="uring,epoll,tokio,monoio,uring-loop,epoll-loop"
while [ $# -gt 0 ]; do
    case "$1" in
    --conns) conns="$2"; shift 2 ;;
    --size) size="$2"; shift 2 ;;
    --window) window="$2"; shift 2 ;;
    --rate) rate="$2"; shift 2 ;;
    --servers) servers="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
for tool in valgrind callgrind_control strace; do
    command -v "$tool" >/dev/null || { echo "needs $tool (apt-get install valgrind strace)" >&2; exit 2; }
done

cargo build --release --bin echo-server --example echo_client --example tokio_echo_server \
    --example monoio_echo_server --example uring_echo_loop --example epoll_echo_loop >&2
bin=target/release
client="$bin/examples/echo_client"
work=$(mktemp -d)
trap 'rm -rf "$work"; kill $(jobs -p) 2>/dev/null || true' EXIT

command_of() {
    case "$1" in
    uring) echo "$bin/echo-server --driver uring --threads 1" ;;
    epoll) echo "$bin/echo-server --driver epoll --threads 1" ;;
    tokio) echo "$bin/examples/tokio_echo_server" ;;
    monoio) echo "$bin/examples/monoio_echo_server" ;;
    uring-loop) echo "$bin/examples/uring_echo_loop" ;;
    epoll-loop) echo "$bin/examples/epoll_echo_loop" ;;
    *) echo "unknown server $1" >&2; exit 2 ;;
    esac
}

port=7900
# Starts `$@` with stdout to $work/out; waits for `listening on`; sets $pid and $addr.
start() {
    port=$((port + 1))
    "$@" --addr "127.0.0.1:$port" >"$work/out" 2>"$work/err" &
    pid=$!
    for _ in $(seq 600); do
        grep -q "listening on" "$work/out" 2>/dev/null && break
        sleep 0.1
    done
    grep -q "listening on" "$work/out" || { echo "server did not start: $(cat "$work/err")" >&2; exit 1; }
    addr="127.0.0.1:$port"
}

stop() {
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# Requests the client completed, from its JSON report.
load() {
    "$client" --addr "$addr" --conns "$conns" --size "$size" --json "$@" |
        sed -n 's/.*"requests":\([0-9]*\).*/\1/p'
}

# Instructions per request of server $1 under load args $2...
per_request() {
    local name="$1"; shift
    # shellcheck disable=SC2046
    start valgrind --tool=callgrind --callgrind-out-file="$work/cg.%p" $(command_of "$name")
    load --duration 2 "$@" >/dev/null # warm-up
    callgrind_control --zero "$pid" >/dev/null 2>&1
    local requests
    requests=$(load --duration "$window" "$@")
    callgrind_control --dump "$pid" >/dev/null 2>&1
    stop
    local ir
    ir=$(cat "$work"/cg.* | sed -n 's/^summary: \([0-9]*\).*/\1/p' | sort -n | tail -1)
    rm -f "$work"/cg.*
    if [ -z "$requests" ] || [ "$requests" = 0 ] || [ -z "$ir" ]; then echo "-"; return; fi
    echo $((ir / requests))
}

# System calls per request of server $1 at 20,000 requests/s: total, and the busiest three.
# The server runs under `strace -c -f` from its start; every request it served is counted
# (the warm-up's too), so startup calls weigh nothing next to tens of thousands of requests.
syscalls() {
    local name="$1"
    # shellcheck disable=SC2046
    start strace -c -f -q -o "$work/strace" $(command_of "$name")
    local warm requests server
    warm=$(load --duration 1 --rate "$rate")
    requests=$(load --duration "$window" --rate "$rate")
    requests=$((warm + requests))
    server=$(pgrep -P "$pid" | head -1)
    kill -TERM "$server" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    # strace -c: "% time, seconds, usecs/call, calls, [errors,] syscall"; the last row is
    # the total.
    awk '$1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" { print $NF, $4 }' "$work/strace" |
        sort -k2 -nr >"$work/calls"
    local total top
    total=$(awk -v r="$requests" '{ all += $2 } END { printf "%.2f", all / r }' "$work/calls")
    top=$(head -3 "$work/calls" | awk -v r="$requests" '{ printf "%s%s %.3f", sep, $1, $2 / r; sep = ", " }')
    echo "$total ($top)"
}

printf "echo %s connections x %s B; callgrind window %s s; user-space instructions per request\n\n" "$conns" "$size" "$window"
printf "| server | instructions/request, closed loop | instructions/request, paced 4,000 req/s | syscalls/request, paced %s req/s |\n" "$rate"
printf "|---|---:|---:|---|\n"
IFS=, read -ra list <<<"$servers"
for s in "${list[@]}"; do
    closed=$(per_request "$s")
    paced=$(per_request "$s" --rate 4000)
    calls=$(syscalls "$s")
    printf "| %s | %s | %s | %s |\n" "$s" "$closed" "$paced" "$calls"
done
