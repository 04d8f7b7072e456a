#!/usr/bin/env bash
# Synthesizes the training scenes for the synthetic-scene detector:
# seeds FIRST..FIRST+COUNT-1, SECONDS each, JPEG camera frames, into DIR.
# With RIG, every camera of that rig file is rendered (each with its 2D truth
# on /ground_truth/<camera>/detections), so the detector also learns the
# side and rear views of a surround rig; without it, the single front camera.
# Evaluation uses other seeds (README.md beside this file).
#
#   models/train/make-scenes.sh DIR [COUNT=40] [FIRST=1000] [SECONDS=3] [RIG]
set -euo pipefail
dir=${1:?usage: make-scenes.sh DIR [COUNT] [FIRST] [SECONDS] [RIG]}
count=${2:-40}
first=${3:-1000}
seconds=${4:-3}
rig=${5:-}
if [[ -n $rig ]]; then
    rig=$(realpath "$rig")
fi
cd "$(dirname "$0")/../.."
cargo build --release --quiet
target=${CARGO_TARGET_DIR:-target}
mkdir -p "$dir"
for ((seed = first; seed < first + count; seed++)); do
    if [[ -n $rig ]]; then
        "$target/release/lookout" synth --out "$dir/rig-$seed.mcap" --seed "$seed" \
            --seconds "$seconds" --camera-format jpeg --rig "$rig"
    else
        "$target/release/lookout" synth --out "$dir/scene-$seed.mcap" --seed "$seed" \
            --seconds "$seconds" --camera-format jpeg
    fi
done
