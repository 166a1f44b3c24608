#!/usr/bin/env bash
# Runs the cargo-fuzz targets of fuzz/ (the download example's URL, response head and
# chunked-body parsing; the in-flight table's state machine), each for SECS seconds, and
# prints each run's figures: executions, coverage (libFuzzer's `cov:` edges and `ft:`
# features) and corpus size. Needs the nightly toolchain and cargo-fuzz (installed here
# when missing, unless --no-install: then the run is skipped with a message, as in CI).
#
# The corpus grows in $CARGO_TARGET_DIR/fuzz/corpus/<target> (seeded from fuzz/seeds/),
# so repeated runs go further. A crash stops the run with exit status 1; its input is in
# fuzz/artifacts/<target>/: reproduce it with `cargo +nightly fuzz run <target> <file>`,
# then make it a unit test.
#
# usage: scripts/fuzz.sh [--no-install] [SECS] [TARGET...]     (SECS defaults to 300)
set -euo pipefail
cd "$(dirname "$0")/.."
install=1
if [ "${1:-}" = --no-install ]; then
    install=0
    shift
fi
secs=${1:-300}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(url http_head chunked inflight)

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    echo "fuzz: skipped: no nightly toolchain (rustup toolchain install nightly)" >&2
    exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    if [ "$install" = 0 ]; then
        echo "fuzz: skipped: cargo-fuzz is not installed (cargo install cargo-fuzz)" >&2
        exit 0
    fi
    cargo install cargo-fuzz --locked
fi

target_dir=${CARGO_TARGET_DIR:-$PWD/target}/fuzz
mkdir -p "$target_dir"
if ! cargo +nightly fuzz build --target-dir "$target_dir" >"$target_dir/build.log" 2>&1; then
    cat "$target_dir/build.log" >&2
    echo "fuzz: building the targets failed" >&2
    exit 1
fi
failed=0
for t in "${targets[@]}"; do
    corpus="$target_dir/corpus/$t"
    mkdir -p "$corpus"
    log="$target_dir/$t.log"
    echo "== fuzz $t: ${secs}s"
    # max_len: room for a chunk-size or trailer line past the client's 4 KiB limit.
    if cargo +nightly fuzz run --target-dir "$target_dir" "$t" "$corpus" "fuzz/seeds/$t" -- \
        -max_total_time="$secs" -max_len=9000 -print_final_stats=1 >"$log" 2>&1; then
        status=ok
    else
        status=CRASH
        failed=1
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p' <<<"$last")
    echo "$t: $status  executions ${runs:-?}  cov ${cov:-?}  ft ${ft:-?}  corpus ${corp:-?}"
    if [ "$status" = CRASH ]; then
        grep -E "panicked at|^thread|SUMMARY|Test unit written|assert" "$log" | head -12 >&2
        echo "fuzz: $t crashed; the whole log is $log" >&2
    fi
done
exit $failed
