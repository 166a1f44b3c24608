#!/usr/bin/env bash
# The project's test command: formatting, lints, the whole test suite, and a smoke run of
# the benchmarks (they are built, and the echo comparison runs once, briefly; no timing is
# asserted anywhere).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings

echo "== cargo test"
cargo test --all-targets
cargo test --doc

echo "== benchmarks build"
cargo bench --no-run

echo "== echo benchmark smoke run (--quick)"
cargo bench --bench echo -- --quick --conns 1,256

echo "== io_uring fast paths forced off (PROACTOR_FAST_PATHS=off): the fallbacks"
PROACTOR_FAST_PATHS=off cargo test --test ring_features --test fixed_buf --test net_tcp \
    --test runtime --test time --test drop --test fs --test multishot --test net_drop \
    --test echo_server --test fixed_files
