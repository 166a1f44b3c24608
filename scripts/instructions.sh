#!/usr/bin/env bash
# User-space instructions per request of each echo server, counted by callgrind (the same
# figure run to run, whatever else the machine does), next to system calls per request
# (perf stat of the syscall tracepoints, or strace -c where perf cannot count them), with a
# separate load generator (examples/echo_client, not under valgrind).
#
#   scripts/instructions.sh [--conns 256] [--size 64] [--window 3] [--rate 20000] [--servers LIST]
#
# LIST: any of uring,epoll,tokio,monoio,uring-loop,epoll-loop (default: these six) and
# compat,compat-buf (the echo through tokio::io on proactor's io_uring driver,
# examples/compat_echo_server: `read` + `write_all`, and `copy_buf`). For each
# server: it starts under `valgrind --tool=callgrind` (one thread), takes a warm-up of load,
# zeroes the counters, then runs two measured windows, each with new connections: --window
# seconds, then three times that, dumping the counters after each. The instructions of a
# request are the difference of the two windows' instructions over the difference of their
# requests (so the connections' setup and teardown, alike in both, weigh nothing in it;
# what the short window spent beyond its requests, per connection, is the last column):
# closed loop (each connection keeps one message in flight) and paced (4,000 requests/s in
# all). Then, outside valgrind, the system calls of a paced
# window are counted: by `perf stat` on the `syscalls:` tracepoints where perf can count
# them (exact, at no cost to the server), else by `strace -c -f` (which slows the server
# enough that it may not keep a high pace: lower --rate then); the pace is --rate, 20,000
# requests/s by default. Prints one table.
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
for tool in valgrind callgrind_control; do
    command -v "$tool" >/dev/null || { echo "needs $tool (apt-get install valgrind)" >&2; exit 2; }
done
# The system calls each server makes in an echo loop, counted one tracepoint each.
traced="recvfrom sendto recvmsg sendmsg read write readv writev epoll_wait epoll_pwait
    epoll_pwait2 epoll_ctl io_uring_enter futex close accept4 setsockopt"
use_perf=
if command -v perf >/dev/null &&
    perf stat -e raw_syscalls:sys_enter -o /dev/null -- true 2>/dev/null; then
    use_perf=1
    # Only the tracepoints this kernel has (perf refuses the whole list for one missing).
    have=
    for call in $traced; do
        perf stat -e "syscalls:sys_enter_$call" -o /dev/null -- true 2>/dev/null && have="$have $call"
    done
    traced=$have
elif ! command -v strace >/dev/null; then
    echo "needs perf (linux-perf) or strace to count system calls" >&2
    exit 2
fi

# shellcheck source=scripts/lib/servers.sh
. scripts/lib/servers.sh
build_servers ${servers//,/ }
client="$bin/examples/echo_client"
work=$(mktemp -d)
trap 'rm -rf "$work"; kill $(jobs -p) 2>/dev/null || true' EXIT

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

# Instructions per request of server $1 under load args $2..., and per connection.
# Steady state: two windows on the same server, a short one and one three times as long,
# each with its own $conns connections; the difference of their instructions over the
# difference of their requests is what a request costs, the connections' setup and
# teardown (the same in both) cancelled out. What the short window spent beyond its
# requests is what its connections cost. Prints "per-request per-connection".
per_request() {
    local name="$1"; shift
    # shellcheck disable=SC2046
    start valgrind --tool=callgrind --callgrind-out-file="$work/cg.%p" $(command_of "$name")
    load --duration 2 "$@" >/dev/null # warm-up
    callgrind_control --zero "$pid" >/dev/null 2>&1
    local short long
    short=$(load --duration "$window" "$@")
    callgrind_control --dump "$pid" >/dev/null 2>&1
    long=$(load --duration "$(awk -v w="$window" 'BEGIN { print 3 * w }')" "$@")
    callgrind_control --dump "$pid" >/dev/null 2>&1
    stop
    # Each dump holds what ran since the one before (or the zeroing): parts 1 and 2.
    local ir1 ir2
    ir1=$(sed -n 's/^summary: \([0-9]*\).*/\1/p' "$work"/cg.*.1 2>/dev/null | head -1)
    ir2=$(sed -n 's/^summary: \([0-9]*\).*/\1/p' "$work"/cg.*.2 2>/dev/null | head -1)
    rm -f "$work"/cg.*
    if [ -z "$short" ] || [ -z "$long" ] || [ -z "$ir1" ] || [ -z "$ir2" ] ||
        [ "$long" -le "$short" ]; then
        echo "- -"
        return
    fi
    awk -v i1="$ir1" -v i2="$ir2" -v r1="$short" -v r2="$long" -v c="$conns" 'BEGIN {
        per = (i2 - i1) / (r2 - r1)
        printf "%d %d\n", per, (i1 - per * r1) / c }'
}

# System calls per request of server $1 at $rate requests/s: total, and the busiest three.
syscalls() {
    if [ -n "$use_perf" ]; then syscalls_perf "$1"; else syscalls_strace "$1"; fi
}

# perf stat counts the server's system calls (every thread) for exactly the client's run.
syscalls_perf() {
    local name="$1"
    # shellcheck disable=SC2046
    start $(command_of "$name")
    load --duration 1 --rate "$rate" >/dev/null # warm-up
    local events=(-e raw_syscalls:sys_enter) call
    for call in $traced; do
        events+=(-e "syscalls:sys_enter_$call")
    done
    local requests
    requests=$(perf stat -x, "${events[@]}" -p "$pid" -o "$work/perf" -- \
        "$client" --addr "$addr" --conns "$conns" --size "$size" --json --duration "$window" \
        --rate "$rate" | sed -n 's/.*"requests":\([0-9]*\).*/\1/p')
    stop
    # perf stat -x,: "count,unit,event,..."
    awk -F, '$3 ~ /^syscalls:sys_enter_/ && $1 ~ /^[0-9]+$/ && $1 > 0 {
        sub(/^syscalls:sys_enter_/, "", $3); print $3, $1 }' "$work/perf" |
        sort -k2 -nr >"$work/calls"
    local total top
    total=$(awk -F, -v r="$requests" '$3 == "raw_syscalls:sys_enter" { printf "%.2f", $1 / r }' "$work/perf")
    top=$(head -3 "$work/calls" | awk -v r="$requests" '{ printf "%s%s %.3f", sep, $1, $2 / r; sep = ", " }')
    echo "$total ($top)"
}

# strace -c: the server runs under it from its start; every request it served is counted
# (the warm-up's too), so startup calls weigh nothing next to tens of thousands of requests.
syscalls_strace() {
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
counter=strace
[ -n "$use_perf" ] && counter="perf stat"
printf "| server | instructions/request, closed loop | instructions/request, paced 4,000 req/s | instructions/connection (setup, teardown) | syscalls/request, paced %s req/s (%s) |\n" "$rate" "$counter"
printf "|---|---:|---:|---:|---|\n"
IFS=, read -ra list <<<"$servers"
for s in "${list[@]}"; do
    read -r closed per_conn <<<"$(per_request "$s")"
    read -r paced _ <<<"$(per_request "$s" --rate 4000)"
    calls=$(syscalls "$s")
    printf "| %s | %s | %s | %s | %s |\n" "$s" "$closed" "$paced" "$per_conn" "$calls"
done
