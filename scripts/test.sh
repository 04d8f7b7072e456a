#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit + integration tests (including
# the cross-implementation tests against the Python `rosbags` package).
# Needs: the Rust toolchain and python3 (for the test venv, from PyPI).
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

echo "== cargo fmt --check"
cargo fmt --check
echo "== cargo clippy (default features)"
cargo clippy --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --all-targets --locked
cargo test --doc --locked
