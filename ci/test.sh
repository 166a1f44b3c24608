#!/usr/bin/env bash
# The project's test command: formatting, lints, the layering and dependency checks, the
# whole test suite with default features and with every feature, and a smoke run of the
# benchmarks (they are built, and the echo and http comparisons run once, briefly; no
# timing is asserted anywhere).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy --all-targets -- -D warnings (default features, then all)"
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy --workspace --all-targets --all-features -- -D warnings

echo "== layering: the driver and the ops never name the runtime"
if grep -rn 'crate::runtime' src/driver src/op; then
    echo "the lines above reach from the driver or an op up into the runtime" >&2
    exit 1
fi
echo "ok"

echo "== the library's normal dependencies: no CLI crate"
deps=$(cargo tree -p proactor -e normal --prefix none)
if grep -E '^(clap|signal-hook) ' <<<"$deps"; then
    echo "the library depends on a CLI crate (above); it belongs to the echo-server member" >&2
    exit 1
fi
if grep -E '^(tokio|futures-io|futures-core) ' <<<"$deps"; then
    echo "the default build depends on a bridge crate (above); it belongs behind its feature" >&2
    exit 1
fi
echo "$(sort -u <<<"$deps" | wc -l) crates: $(sort -u <<<"$deps" | cut -d' ' -f1 | tr '\n' ' ')"

echo "== cargo test (default features, then all: tokio-io, futures-io, stream)"
cargo test --workspace --all-targets
cargo test --workspace --doc
cargo test --workspace --all-targets --all-features
cargo test --workspace --doc --all-features

echo "== benchmarks build"
cargo bench --no-run --all-features

echo "== echo benchmark smoke run (--quick)"
cargo bench --bench echo -- --quick --conns 1,256

echo "== http benchmark smoke run (--quick): hyper on proactor (uring, epoll) and on tokio"
cargo bench --bench http -- --quick --conns 64

echo "== io_uring fast paths forced off (PROACTOR_FAST_PATHS=off): the fallbacks"
PROACTOR_FAST_PATHS=off cargo test -p proactor --test ring_features --test fixed_buf \
    --test net_tcp --test runtime --test time --test drop --test fs --test multishot \
    --test net_drop --test fixed_files
PROACTOR_FAST_PATHS=off cargo test -p proactor --all-features --test compat --test ecosystem \
    --test net_fd --test stream
PROACTOR_FAST_PATHS=off cargo test -p echo-server --test echo_server
