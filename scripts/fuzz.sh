#!/usr/bin/env bash
# Fuzzes Lookout's parsers (fuzz/README.md): every target for RUNS
# executions from an empty corpus, seed 1 (deterministic for a given build).
#   scripts/fuzz.sh            short run, as CI does (100k executions each)
#   scripts/fuzz.sh 10000000   the long run
# Needs cargo-fuzz (installed from crates.io when missing). The toolchain is
# stable: RUSTC_BOOTSTRAP=1 lets cargo-fuzz use its few unstable flags.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-100000}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --version 0.13.2
export RUSTC_BOOTSTRAP=1
# No sanitizer (the parsers have no unsafe), debug assertions on (integer
# overflow is a crash).
cargo fuzz build -s none -a --release
for target in cdr_messages pointcloud2 mcap_bag config; do
    corpus="$(mktemp -d)"
    echo "== fuzz $target: $runs executions"
    log="$(mktemp)"
    if ! cargo fuzz run -s none -a --release "$target" "$corpus" -- \
        -seed=1 -runs="$runs" -rss_limit_mb=4096 -max_len=65536 -print_final_stats=1 \
        >"$log" 2>&1; then
        tail -60 "$log"
        echo "fuzz $target: crash (input in fuzz/artifacts/$target)"
        exit 1
    fi
    grep -E "^Done|stat::number_of_executed_units|stat::peak_rss_mb" "$log" || tail -5 "$log"
    rm -f "$log"
    rm -rf "$corpus"
done
