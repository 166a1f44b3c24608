#!/usr/bin/env bash
# The randomised drop/cancel stress test (tests/stress.rs) at length: a million operations
# per driver by default, in a release build, printing the seed and the figures of each run.
#   scripts/stress.sh [OPS] [SEED]
# A failing run prints its seed: `scripts/stress.sh 1000000 <seed>` replays it.
set -euo pipefail
cd "$(dirname "$0")/.."
ops="${1:-1000000}"
export PROACTOR_STRESS_OPS="$ops"
if [ -n "${2:-}" ]; then
    export PROACTOR_STRESS_SEED="$2"
fi
cargo test --release --test stress -- --nocapture --test-threads 1 2>&1 | grep -E 'stress (Uring|Epoll)|test result|panicked|failed'
