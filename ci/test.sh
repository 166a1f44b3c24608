#!/usr/bin/env bash
# The project's test command: formatting, lints, and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings

echo "== cargo test"
cargo test --all-targets
cargo test --doc

echo "== io_uring fast paths forced off (PROACTOR_FAST_PATHS=off): the fallbacks"
PROACTOR_FAST_PATHS=off cargo test --test ring_features --test fixed_buf --test net_tcp \
    --test runtime --test time --test drop
