#!/usr/bin/env bash
# Synthesizes the training scenes for the synthetic-scene detector:
# seeds FIRST..FIRST+COUNT-1, SECONDS each, JPEG camera frames, into DIR.
# Evaluation uses other seeds (README.md beside this file).
#
#   models/train/make-scenes.sh DIR [COUNT=40] [FIRST=1000] [SECONDS=3]
set -euo pipefail
dir=${1:?usage: make-scenes.sh DIR [COUNT] [FIRST] [SECONDS]}
count=${2:-40}
first=${3:-1000}
seconds=${4:-3}
cd "$(dirname "$0")/../.."
cargo build --release --quiet
mkdir -p "$dir"
for ((seed = first; seed < first + count; seed++)); do
    target/release/lookout synth --out "$dir/scene-$seed.mcap" --seed "$seed" \
        --seconds "$seconds" --camera-format jpeg
done
