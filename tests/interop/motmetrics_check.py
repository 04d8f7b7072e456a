"""Scores `lookout eval --mot-frames` output with py-motmetrics.

Reads the JSON that TrackingEvaluator::frames() writes (per class group, a
list of frames: truth ids, hypothesis ids, row-major distances with null for
"may not pair") and feeds each frame to motmetrics' MOTAccumulator.update on
exactly the same matches. Prints one JSON object per group with motmetrics'
figures, for tests/tracking.rs to compare with Lookout's to 1e-6.

Usage: motmetrics_check.py FRAMES.json
"""

import json
import sys

import motmetrics as mm
import numpy as np

METRICS = [
    "num_frames",
    "num_objects",
    "num_predictions",
    "num_matches",
    "num_misses",
    "num_false_positives",
    "num_switches",
    "mota",
    "motp",
    "idtp",
    "idf1",
]


def score(frames):
    acc = mm.MOTAccumulator(auto_id=False)
    for index, frame in enumerate(frames):
        truth, hyps = frame["truth"], frame["hypotheses"]
        d = np.array(
            [np.nan if x is None else x for x in frame["distances"]], dtype=float
        ).reshape(len(truth), len(hyps))
        acc.update(truth, hyps, d, frameid=index)
    summary = mm.metrics.create().compute(acc, metrics=METRICS, name="group")
    return {m: float(summary[m].iloc[0]) for m in METRICS}


def main():
    with open(sys.argv[1]) as f:
        groups = json.load(f)
    out = {name: score(frames) for name, frames in groups.items() if frames}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
