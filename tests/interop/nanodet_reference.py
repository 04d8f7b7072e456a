"""Independent NanoDet-m reference: onnxruntime inference + numpy decode.

Usage: nanodet_reference.py MODEL.onnx INPUT.bin OUT.json \
           scale_x scale_y pad_x pad_y image_w image_h

INPUT.bin is the float32 [1, 3, 416, 416] tensor Lookout fed its engine. The
decode follows models/README.md (GFL distributions, reg_max 10, strides 8,
16, 32; every class above 0.35; per-class greedy NMS at IoU 0.6; at most
100), written from that description, not from Lookout's code.
"""
import json
import sys

import numpy as np
import onnxruntime as ort

SCORE_THRESHOLD = 0.35
NMS_IOU = 0.6
MAX_DETECTIONS = 100
REG_MAX = 10
STRIDES = (8, 16, 32)
SIZE = 416


def iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def main():
    model, tensor_path, out_path = sys.argv[1:4]
    sx, sy, px, py, iw, ih = map(float, sys.argv[4:10])
    tensor = np.fromfile(tensor_path, dtype="<f4").reshape(1, 3, SIZE, SIZE)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    outputs = dict(zip([o.name for o in session.get_outputs()],
                       session.run(None, {session.get_inputs()[0].name: tensor})))
    candidates = []
    for level, stride in enumerate(STRIDES):
        scores = outputs[f"Identity_{level}:0" if level else "Identity:0"][0]
        dists = outputs[f"Identity_{level + 3}:0"][0]
        grid = SIZE // stride
        for cell, classes in zip(*np.nonzero(scores > SCORE_THRESHOLD)):
            row, col = divmod(int(cell), grid)
            cx, cy = (col + 0.5) * stride, (row + 0.5) * stride
            d = dists[cell].reshape(4, REG_MAX + 1).astype(np.float64)
            p = np.exp(d - d.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            left, top, right, bottom = (p @ np.arange(REG_MAX + 1)) * stride
            box = [cx - left, cy - top, cx + right, cy + bottom]
            candidates.append((float(scores[cell, classes]), int(classes), box))
    candidates.sort(key=lambda c: -c[0])
    kept = []
    for score, cls, box in candidates:
        if all(k[1] != cls or iou(k[2], box) <= NMS_IOU for k in kept):
            kept.append((score, cls, box))
        if len(kept) == MAX_DETECTIONS:
            break

    def to_image(box):
        x0, y0, x1, y1 = box
        fx = lambda x: min(max((x - px) / sx, 0.0), iw)
        fy = lambda y: min(max((y - py) / sy, 0.0), ih)
        return [fx(x0), fy(y0), fx(x1), fy(y1)]

    result = [{"class": cls, "score": score, "box": to_image(box)} for score, cls, box in kept]
    with open(out_path, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
