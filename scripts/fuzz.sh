#!/usr/bin/env bash
# Fuzzes Lookout's parsers (fuzz/README.md): every target for RUNS
# executions from an empty corpus, seed 1 (deterministic for a given build).
#   scripts/fuzz.sh            short run, as CI does (100k executions each)
#   scripts/fuzz.sh 10000000   the long run
# The targets are libFuzzer binaries (libfuzzer-sys) built by plain cargo:
# scripts/fuzz-rustc instruments Lookout and the targets the way cargo-fuzz
# does (no sanitizer: the parsers have no unsafe; debug assertions on, so
# integer overflow is a crash) and leaves every dependency as the release
# build has it, in the shared target directory (scripts/cache.sh). No
# cargo-fuzz is needed; `cargo fuzz` still works on fuzz/ as before.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-100000}"
# shellcheck source=scripts/cache.sh
. scripts/cache.sh
# shellcheck source=scripts/steps.sh
. scripts/steps.sh
targets=(cdr_messages pointcloud2 mcap_bag config)

build() {
    RUSTC_WRAPPER="$PWD/scripts/fuzz-rustc" \
        cargo build --manifest-path fuzz/Cargo.toml --release --locked --bins
}

run() {
    local target="$1" corpus log
    corpus="$(mktemp -d)"
    log="$(mktemp)"
    mkdir -p "fuzz/artifacts/$target"
    echo "-- fuzz $target: $runs executions"
    if ! "$CARGO_TARGET_DIR/release/$target" "$corpus" \
        -artifact_prefix="fuzz/artifacts/$target/" \
        -seed=1 -runs="$runs" -rss_limit_mb=4096 -max_len=65536 -print_final_stats=1 \
        >"$log" 2>&1; then
        tail -60 "$log"
        echo "fuzz $target: crash (input in fuzz/artifacts/$target)"
        exit 1
    fi
    # A binary without coverage counters fuzzes blind: check it has some.
    local coverage
    coverage="$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || true)"
    if [ "${coverage:-0}" -lt 50 ]; then
        tail -20 "$log"
        echo "fuzz $target: no coverage instrumentation (cov ${coverage:-none})"
        exit 1
    fi
    grep -E "^Done|stat::number_of_executed_units|stat::peak_rss_mb" "$log" || tail -5 "$log"
    rm -f "$log"
    rm -rf "$corpus"
}

fuzz_all() {
    for target in "${targets[@]}"; do
        run "$target"
    done
}

step "fuzz build" build
step "fuzz run ($runs executions per target)" fuzz_all
