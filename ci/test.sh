#!/usr/bin/env bash
# The project's test command: formatting, lints, the layering and dependency checks, the
# whole test suite (the bridge's and the doc tests with every feature), and a smoke run of the
# benchmarks (they are built, and the echo and http comparisons run once, briefly; no
# timing is asserted anywhere).
set -euo pipefail
cd "$(dirname "$0")/.."

# CI builds from a fresh clone and never debugs or profiles what it builds, so there: no
# incremental caches, and line tables only in the test builds (backtraces keep their file and
# line) and no debuginfo in the optimized ones (the bench, release and loom builds; Cargo.toml
# keeps `debug = 1` there for profiling). The code built, and so what runs, is the same. Off CI
# the builds are left as they are, to reuse what `cargo test` and `cargo bench` built.
if [ "${CI:-}" = true ]; then
    export CARGO_INCREMENTAL=0
    export CARGO_PROFILE_DEV_DEBUG=line-tables-only
    export CARGO_PROFILE_RELEASE_DEBUG=0 CARGO_PROFILE_BENCH_DEBUG=0
fi

# Runs a benchmark as `cargo bench --bench NAME -- ARGS...` does, but starts the executable
# here: under `cargo bench` it would inherit the CARGO_MANIFEST_DIR, CARGO_PKG_* ... of the
# bench target, and the `cargo build --release` it runs for its servers would then see them
# too. ring's build script reruns when those change (`rerun-if-env-changed`), so each switch
# between that cargo and this script's would rebuild ring, rustls and all that links them.
bench() {
    local name=$1 exe
    shift
    exe=$(cargo bench --no-run --bench "$name" --message-format=json-render-diagnostics |
        sed -n 's/.*"executable":"\([^"]*\)".*/\1/p')
    [ -n "$exe" ] || { echo "cargo bench --no-run --bench $name: no executable" >&2; exit 1; }
    "$exe" --bench "$@"
}

# Each step's header, with the seconds since the start (where CI's time goes).
step() {
    echo "== $* (at ${SECONDS} s)"
}

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings (default features, then all)"
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy --workspace --all-targets --all-features -- -D warnings

step "layering: the driver and the ops never name the runtime"
if grep -rn 'crate::runtime' src/driver src/op; then
    echo "the lines above reach from the driver or an op up into the runtime" >&2
    exit 1
fi
echo "ok"

step "the library's normal dependencies: no CLI crate, no macros by default"
deps=$(cargo tree -p proactor -e normal --prefix none)
if grep -E '^(clap|signal-hook) ' <<<"$deps"; then
    echo "the library depends on a CLI crate (above); it belongs to the echo-server member" >&2
    exit 1
fi
if grep -E '^proactor-macros ' <<<"$deps"; then
    echo "the macros crate is in the default dependencies; it is the \`macros\` feature's" >&2
    exit 1
fi
if grep -E '^(tokio|futures-io|futures-core) ' <<<"$deps"; then
    echo "the default build depends on a bridge crate (above); it belongs behind its feature" >&2
    exit 1
fi
if grep -E '^tracing' <<<"$deps"; then
    echo "tracing is in the default dependencies; it is the \`tracing\` feature's" >&2
    exit 1
fi
echo "$(sort -u <<<"$deps" | wc -l) crates: $(sort -u <<<"$deps" | cut -d' ' -f1 | tr '\n' ' ')"

# The network-namespace tests (echo-server/tests/netns) put random loss on their links with
# nftables; where it is missing they are skipped with a message, so CI installs it.
if [ "${CI:-}" = true ] && ! command -v nft >/dev/null && command -v apt-get >/dev/null; then
    echo "== installing nftables for the network-namespace tests"
    { apt-get update -qq && apt-get install -y -qq nftables >/dev/null; } ||
        echo "could not install nftables: the tests that need it will be skipped"
fi

step "cargo test (default features; then the doc tests and the features' tests with all features)"
# The examples first (the asyncio tour below runs them): the tests of echo-server and of the
# download example use target/debug/examples/*, and build them with a cargo of their own (whose
# environment differs, see bench() above) when they are missing.
cargo build --quiet --examples
cargo test --workspace --all-targets
cargo test --workspace --doc --all-features
cargo test -p proactor --all-features --lib --test compat --test ecosystem --test stream \
    --test macros --test tracing

step "the macros feature: the compile errors of #[proactor::main] / #[proactor::test]"
bash ci/macros-errors.sh

step "the asyncio tour (docs/asyncio-tour.md): each example runs to its end, on each driver"
cargo build --quiet --examples
for example in asyncio_gather asyncio_wait asyncio_as_completed asyncio_cancel \
    asyncio_run_in_executor asyncio_start_server asyncio_threadsafe asyncio_signal; do
    for driver in uring epoll; do
        if ! PROACTOR_DRIVER=$driver timeout 60 cargo run --quiet --example "$example" >/dev/null; then
            echo "the tour example $example failed on $driver" >&2
            exit 1
        fi
    done
done
echo "ok"

step "benchmarks build"
cargo bench --no-run --all-features

step "echo benchmark smoke run (--quick)"
bench echo --quick --conns 1,256

step "http benchmark smoke run (--quick): hyper on proactor (uring, epoll) and on tokio"
bench http --quick --conns 64

step "io_uring fast paths forced off (PROACTOR_FAST_PATHS=off): the fallbacks"
PROACTOR_FAST_PATHS=off cargo test -p proactor --test ring_features --test fixed_buf \
    --test net_tcp --test runtime --test time --test drop --test fs --test multishot \
    --test net_drop --test fixed_files --test stress --test hardening --test short_reads \
    --test handle --test shutdown --test signal --test fs_dirs --test net_names --test net_socket \
    --test net_fds --test vectored --test op_timeout --test sendfile --test stats
PROACTOR_FAST_PATHS=off cargo test -p proactor --all-features --test compat --test ecosystem \
    --test net_fd --test stream
# --workspace, not -p echo-server: the same test target, as `cargo test --workspace` built it
# (with -p its dependencies' features differ, so it would be built again).
PROACTOR_FAST_PATHS=off cargo test --workspace --test echo_server

step "loom: the cross-thread wake-up model (wake-model/; its own target directory)"
CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/loom" RUSTFLAGS="--cfg loom" \
    cargo test -p wake-model --test loom_wake --release

step "miri: the task cell and its tests (cell-model/; its own target directory; skipped without Miri)"
if cargo +nightly miri --version >/dev/null 2>&1; then
    CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/miri-cell" MIRIFLAGS="-Zmiri-many-seeds=0..4" \
        cargo +nightly miri test -p cell-model
else
    echo "miri: skipped: no Miri for the nightly toolchain (rustup component add --toolchain nightly miri)"
fi

step "fuzz targets, 10 s each (scripts/fuzz.sh runs them longer; skipped without nightly or cargo-fuzz)"
bash scripts/fuzz.sh --no-install 10
step "done"
