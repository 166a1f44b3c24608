#!/usr/bin/env bash
# Echo throughput across cores: for each N from 1 to the number of CPUs, runs the release
# echo-server with N threads (one runtime and one SO_REUSEPORT listener per thread, thread
# i pinned to CPU i) and the load client on the remaining CPUs (N .. CPUs-1), and prints
# req/s, the server's CPU per request, and how the connections spread over its threads
# (the accept balance of SO_REUSEPORT). At N = CPUs no CPU is left for the client: that
# row shares its CPUs with the server and says so. docs/scaling.md describes the expected
# curve and what can bend it.
#
# usage: scripts/scale.sh [--driver uring|epoll] [--conns-per-thread C] [--size B]
#                         [--duration S] [--reps R] [--max N]
set -euo pipefail
cd "$(dirname "$0")/.."
driver=uring conns_per=256 size=64 duration=5 reps=3 max=
while [ $# -gt 0 ]; do
    case $1 in
        --driver) driver=$2; shift 2 ;;
        --conns-per-thread) conns_per=$2; shift 2 ;;
        --size) size=$2; shift 2 ;;
        --duration) duration=$2; shift 2 ;;
        --reps) reps=$2; shift 2 ;;
        --max) max=$2; shift 2 ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) echo "scale: unknown argument $1" >&2; exit 2 ;;
    esac
done
cpus=$(nproc)
max=${max:-$cpus}
[ "$max" -le "$cpus" ] || max=$cpus
command -v taskset >/dev/null || { echo "scale: needs taskset (util-linux)" >&2; exit 1; }
cargo build --release --quiet -p echo-server --bin echo-server
cargo build --release --quiet --example echo_client
target=${CARGO_TARGET_DIR:-target}/release
port=7600

# Sum of the nanoseconds on CPU of every thread of process $1.
cpu_ns() {
    local sum=0 t
    for t in /proc/"$1"/task/*/schedstat; do
        read -r ns _ <"$t" && sum=$((sum + ns))
    done
    echo "$sum"
}

json_field() { sed -n "s/.*\"$2\":\([0-9.e+-]*\).*/\1/p" <<<"$1"; }

# One run of N server threads; prints "req_per_sec cpu_us_per_req balance".
run() {
    local n=$1 out stats server addr conns client_cpus cthreads before after report
    port=$((port + 1))
    out=$(mktemp) stats=$(mktemp)
    "$target/echo-server" --threads "$n" --pin --driver "$driver" --stats \
        --addr "127.0.0.1:$port" >"$out" 2>"$stats" &
    server=$!
    for _ in $(seq 100); do
        grep -q "^listening on " "$out" && break
        sleep 0.1
    done
    addr=$(sed -n 's/^listening on //p' "$out")
    if [ -z "$addr" ]; then
        kill "$server" 2>/dev/null || true
        echo "scale: echo-server did not start: $(cat "$stats")" >&2
        exit 1
    fi
    conns=$((conns_per * n))
    if [ "$n" -lt "$cpus" ]; then
        client_cpus="$n-$((cpus - 1))" cthreads=$((cpus - n))
    else
        client_cpus="0-$((cpus - 1))" cthreads=$cpus
    fi
    # Warm-up (connections, buffer pools, the page cache of the binaries).
    taskset -c "$client_cpus" "$target/examples/echo_client" --addr "$addr" --conns "$conns" \
        --size "$size" --duration 1 --threads "$cthreads" --json >/dev/null
    before=$(cpu_ns "$server")
    report=$(taskset -c "$client_cpus" "$target/examples/echo_client" --addr "$addr" \
        --conns "$conns" --size "$size" --duration "$duration" --threads "$cthreads" --json)
    after=$(cpu_ns "$server")
    kill -INT "$server"
    wait "$server" || true
    local requests rps errors balance
    requests=$(json_field "$report" requests)
    rps=$(json_field "$report" req_per_sec)
    errors=$(json_field "$report" errors)
    [ "${errors:-1}" = 0 ] || echo "scale: N=$n: the client saw $errors errors" >&2
    # Connections per thread: each thread spawns one task per connection it accepted (two
    # runs: warm-up and measured).
    balance=$(sed -n 's/.*thread \([0-9]*\): .*tasks_spawned: \([0-9]*\).*/\2/p' "$stats" |
        paste -sd/ -)
    rm -f "$out" "$stats"
    awk -v r="$rps" -v ns=$((after - before)) -v q="$requests" -v b="$balance" \
        'BEGIN { printf "%.0f %.2f %s\n", r, ns / 1000 / q, b }'
}

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "echo scaling: $driver, $conns_per connections per server thread x $size B, $duration s per run, $reps rep(s), median; $cpus CPUs"
echo
echo "| N threads | server CPUs | client CPUs | req/s | req/s per thread | vs N=1 | CPU us/req | connections per thread (2 runs) |"
echo "|---:|---|---|---:|---:|---:|---:|---|"
base=
for n in $(seq 1 "$max"); do
    rows=()
    for _ in $(seq "$reps"); do
        rows+=("$(run "$n")")
    done
    rps=$(printf '%s\n' "${rows[@]}" | awk '{ print $1 }' | median)
    cpu=$(printf '%s\n' "${rows[@]}" | awk '{ print $2 }' | median)
    balance=$(printf '%s\n' "${rows[@]}" | tail -1 | awk '{ print $3 }')
    base=${base:-$rps}
    if [ "$n" -lt "$cpus" ]; then
        client="$n-$((cpus - 1))"
    else
        client="0-$((cpus - 1)) (shared with the server)"
    fi
    awk -v n="$n" -v c="$client" -v r="$rps" -v b="$base" -v cpu="$cpu" -v bal="$balance" \
        'BEGIN { printf "| %d | 0-%d | %s | %.0f | %.0f | %.2fx | %.2f | %s |\n", n, n - 1, c, r, r / n, r / b, cpu, bal }'
done
