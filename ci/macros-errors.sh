#!/usr/bin/env bash
# The compile errors of `#[proactor::main]` / `#[proactor::test]`: builds
# proactor-macros/compile-fail/lib.rs as a crate of its own (outside the workspace) and
# checks that the build fails with every message of expected.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/src"
cp proactor-macros/compile-fail/lib.rs "$dir/src/lib.rs"
cat >"$dir/Cargo.toml" <<TOML
[package]
name = "proactor-compile-fail"
version = "0.0.0"
edition = "2021"
publish = false
[dependencies]
proactor = { path = "$root", features = ["macros"] }
[workspace]
TOML
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
if out=$(cargo build --offline --manifest-path "$dir/Cargo.toml" 2>&1); then
    echo "the compile-fail crate compiled" >&2
    exit 1
fi
missing=0
while IFS= read -r line; do
    if ! grep -qF -- "error: $line" <<<"$out"; then
        echo "missing error: $line" >&2
        missing=1
    fi
done <proactor-macros/compile-fail/expected.txt
if [ "$missing" -ne 0 ]; then
    echo "$out" >&2
    exit 1
fi
echo "ok: $(wc -l <proactor-macros/compile-fail/expected.txt) errors as expected"
