#!/usr/bin/env bash
# The echo-server's resident memory per idle connection: starts the release server (one
# thread), reads its RSS, opens N idle connections (examples/idle_conns.rs), reads the RSS
# again and prints the difference per connection. Extra arguments go to the echo-server,
# e.g. `scripts/idle-rss.sh 10000 --driver epoll` or `... --no-multishot-recv`.
#
# usage: scripts/idle-rss.sh [N] [echo-server flags...]     (N defaults to 10000)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10000}
shift || true
ulimit -n $((n + 1000)) 2>/dev/null || {
    echo "idle-rss: cannot raise the descriptor limit to $((n + 1000)) (ulimit -n is $(ulimit -n))" >&2
    exit 1
}
cargo build --release --quiet --bin echo-server --example idle_conns
target=${CARGO_TARGET_DIR:-target}/release
out=$(mktemp)
"$target/echo-server" --threads 1 --addr 127.0.0.1:0 "$@" >"$out" &
server=$!
trap 'kill $server 2>/dev/null; rm -f "$out"' EXIT
for _ in $(seq 100); do
    grep -q "^listening on " "$out" && break
    sleep 0.1
done
addr=$(sed -n 's/^listening on //p' "$out")
[ -n "$addr" ] || { echo "idle-rss: the server did not print its address" >&2; exit 1; }
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$server/status"; }
sleep 0.5
before=$(rss)
fifo=$(mktemp -u)
mkfifo "$fifo"
"$target/examples/idle_conns" "$addr" "$n" 30 >"$fifo" &
clients=$!
read -r line <"$fifo"
rm -f "$fifo"
[ "$line" = "open $n" ] || { echo "idle-rss: clients said: $line" >&2; exit 1; }
sleep 1
after=$(rss)
kill $clients 2>/dev/null || true
awk -v n="$n" -v b="$before" -v a="$after" -v args="$*" 'BEGIN {
    printf "idle connections: %d  server flags: %s\n", n, (args == "" ? "(defaults)" : args)
    printf "RSS before %.1f MiB, after %.1f MiB: %.2f KiB per idle connection\n", b / 1024, a / 1024, (a - b) / n
}'
