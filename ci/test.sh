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
