#!/usr/bin/env bash
# The GPU check: on a machine with an NVIDIA GPU (driver, and NVRTC from the
# CUDA toolkit or a PyPI wheel), runs the GPU tests that CI skips and prints
# the table of `lookout gpu-check`: CPU vs GPU preprocessing, pinned vs
# pageable H2D bandwidth, per-lane GPU time, stream priority under
# contention, and the camera stage with GPU vs CPU preprocessing.
#
#   scripts/gpu-check.sh                 build with cargo (if there) and run
#   scripts/gpu-check.sh --package DIR   on a build machine: put the cuda
#                                        build's binaries into DIR, to carry
#   scripts/gpu-check.sh --bin DIR       run binaries from DIR (no Rust there)
#
# Run from the repository root (the tests read models/ from it). Finishes in
# well under 5 minutes on one GPU (each step is bounded by `timeout`).
set -euo pipefail
cd "$(dirname "$0")/.."

mode=run
bin=""
case "${1:-}" in
    --package) mode=package; bin="${2:?--package DIR}" ;;
    --bin) bin="${2:?--bin DIR}" ;;
    "") ;;
    *) echo "usage: $0 [--package DIR | --bin DIR]" >&2; exit 2 ;;
esac

build() {
    cargo build --release --locked --features cuda >&2
    # The test binary's path, from cargo's own report.
    cargo test --release --locked --features cuda --test gpu --no-run --message-format=json \
        | python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "gpu" and m.get("executable"):
        print(m["executable"])'
}

if [ "$mode" = package ]; then
    # Stripped and xz-compressed: about 13 MB for both, small enough to carry.
    mkdir -p "$bin"
    tests="$(build | tail -1)"
    strip -o "$bin/lookout" target/release/lookout
    strip -o "$bin/gpu-tests" "$tests"
    xz -f -T0 "$bin/lookout" "$bin/gpu-tests"
    ls -l "$bin"
    exit 0
fi

# Unpacks DIR/NAME.xz (made by --package) next to it, with xz or Python.
unpack() {
    local packed="$1/$2.xz"
    [ -f "$packed" ] || return 0
    local out
    out="$(mktemp -d)/$2"
    if command -v xz >/dev/null; then
        xz -dc "$packed" >"$out"
    else
        python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$packed" "$out"
    fi
    chmod +x "$out"
    echo "$out"
}

if [ -z "$bin" ]; then
    if command -v cargo >/dev/null; then
        tests="$(build | tail -1)"
        lookout=target/release/lookout
    else
        bin=target/gpu-check
    fi
fi
if [ -n "$bin" ]; then
    lookout="$(unpack "$bin" lookout)"; lookout="${lookout:-$bin/lookout}"
    tests="$(unpack "$bin" gpu-tests)"; tests="${tests:-$bin/gpu-tests}"
    [ -x "$lookout" ] && [ -x "$tests" ] || {
        echo "no cargo here and no binaries in $bin: run '$0 --package $bin' on a build machine and copy $bin over" >&2
        exit 1
    }
fi

# NVRTC and the driver: the toolkit's lib dir, and any NVRTC a Python wheel
# (PyTorch's nvidia-* packages) brings.
extra=""
for dir in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
    [ -d "$dir" ] && extra="$extra:$dir"
done
if command -v python3 >/dev/null; then
    wheel="$(python3 - <<'PY' 2>/dev/null || true
import glob, os, site
paths = site.getsitepackages() + [site.getusersitepackages()]
libs = sorted({os.path.dirname(p) for d in paths for p in glob.glob(os.path.join(d, "nvidia", "**", "libnvrtc.so*"), recursive=True)})
print(":".join(libs))
PY
)"
    [ -n "$wheel" ] && extra="$extra:$wheel"
fi
export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:-}$extra"
export LOOKOUT_ROOT="$PWD"

command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader

echo "== GPU tests (the #[ignore]d ones)"
timeout 150 "$tests" --ignored --test-threads=1

echo "== lookout gpu-check"
timeout 120 "$lookout" gpu-check --frames 200 --model models/nanodet-m-416.yaml
