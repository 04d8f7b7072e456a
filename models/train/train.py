"""Trains the synthetic-scene detector and exports it to ONNX (YOLOX layout).

The COCO detector does not recognise the flat-shaded boxes `lookout synth`
renders, so Lookout trains its own small detector on them: a test and demo
model for measuring the pipeline end to end against ground truth. See
README.md beside this file for the whole procedure.

    python models/train/train.py --scenes DIR --out models/synthetic-det.onnx

Reads every `*.mcap` in DIR (written by `lookout synth`, with or without
`--rig`): every camera's frames (raw or JPEG) and its 2D ground truth
(/ground_truth/detections, or /ground_truth/<camera>/detections in a rig). Trains on
the CPU, reproducibly from --seed, and writes the ONNX model and its model
spec (`<out>.yaml` minus `.onnx`).

Model: a small conv net (5 stride-2 stages, a top-down feature pyramid, one
head per stride 8/16/32) predicting per grid cell the YOLOX row: x, y offsets
from the cell's corner in cells, log width and height in cells, objectness
and per-class probabilities (sigmoids in the graph). Lookout's `yolox`
decoder turns the output `[1, N, 5 + C]` into boxes.
"""

import argparse
import io
import math
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from rosbags.highlevel import AnyReader
from torch import nn

CLASSES = ["car", "truck", "pedestrian", "cyclist"]
STRIDES = [8, 16, 32]
# The network's input size; --width/--height set them before anything reads them.
WIDTH, HEIGHT = 512, 288
MEAN = [123.675, 116.28, 103.53]
STD = [58.395, 57.12, 57.375]
# The single-camera scenes' topics; a rig scene (`synth --rig`) has
# /<camera>/image_raw with its truth on /ground_truth/<camera>/detections.
CAMERA_TOPICS = ("/camera/image_raw", "/camera/image_raw/compressed")
TRUTH_TOPIC = "/ground_truth/detections"
# Truth seen less than this, or smaller than this (input pixels), is neither
# a positive nor a negative: the model is not asked about it.
MIN_VISIBLE = 0.3
MIN_SIZE = 6.0


def stamp_ns(stamp):
    return stamp.sec * 1_000_000_000 + stamp.nanosec


def camera_of(topic):
    """The camera an image topic belongs to, or None for other topics."""
    if topic in CAMERA_TOPICS:
        return "camera"
    parts = topic.strip("/").split("/")
    if len(parts) in (2, 3) and parts[1] == "image_raw":
        return parts[0]
    return None


def truth_topic(camera):
    return TRUTH_TOPIC if camera == "camera" else f"/ground_truth/{camera}/detections"


def read_scene(path):
    """Per camera: [(image uint8 HxWx3 at input size, [(x0, y0, x1, y1, class, ignore)])],
    frames in stamp order."""
    images, truths = {}, {}
    with AnyReader([path]) as reader:
        cameras = {c.topic: camera_of(c.topic) for c in reader.connections
                   if c.msgtype.startswith("sensor_msgs/msg/") and "Image" in c.msgtype}
        cameras = {topic: camera for topic, camera in cameras.items() if camera}
        truth_topics = {truth_topic(camera): camera for camera in cameras.values()}
        connections = [c for c in reader.connections
                       if c.topic in cameras or c.topic in truth_topics]
        for connection, _, raw in reader.messages(connections=connections):
            msg = reader.deserialize(raw, connection.msgtype)
            stamp = stamp_ns(msg.header.stamp)
            if connection.topic in truth_topics:
                truths[(truth_topics[connection.topic], stamp)] = msg.detections
            elif connection.msgtype.endswith("CompressedImage"):
                image = Image.open(io.BytesIO(bytes(msg.data))).convert("RGB")
                images[(cameras[connection.topic], stamp)] = image
            else:
                array = np.frombuffer(bytes(msg.data), np.uint8)
                image = Image.fromarray(array.reshape(msg.height, msg.width, 3))
                images[(cameras[connection.topic], stamp)] = image
    samples = {}
    for key in sorted(images):
        image = images[key]
        sx, sy = WIDTH / image.width, HEIGHT / image.height
        boxes = []
        for d in truths.get(key, []):
            if d.label not in CLASSES:
                continue
            box = (d.x0 * sx, d.y0 * sy, d.x1 * sx, d.y1 * sy)
            small = min(box[2] - box[0], box[3] - box[1]) < MIN_SIZE
            boxes.append((*box, CLASSES.index(d.label), d.visible < MIN_VISIBLE or small))
        resized = np.asarray(image.resize((WIDTH, HEIGHT), Image.BILINEAR), dtype=np.uint8)
        samples.setdefault(key[0], []).append((resized, boxes))
    return samples


def conv(cin, cout, stride):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class Detector(nn.Module):
    def __init__(self, classes, width=64):
        super().__init__()
        self.classes = classes
        self.stem = conv(3, 16, 2)
        self.c2 = nn.Sequential(conv(16, 24, 2), conv(24, 24, 1))
        self.c3 = nn.Sequential(conv(24, 40, 2), conv(40, 40, 1))
        self.c4 = nn.Sequential(conv(40, 64, 2), conv(64, 64, 1))
        self.c5 = nn.Sequential(conv(64, 96, 2), conv(96, 96, 1))
        self.lateral = nn.ModuleList([nn.Conv2d(c, width, 1) for c in (40, 64, 96)])
        self.smooth = nn.ModuleList([conv(width, width, 1) for _ in STRIDES])
        self.heads = nn.ModuleList([nn.Conv2d(width, 5 + classes, 1) for _ in STRIDES])
        for head in self.heads:
            # Start with low objectness and class scores (focal-loss style prior).
            nn.init.constant_(head.bias[4:], -4.0)

    def levels(self, x):
        """Raw head outputs per stride, each [B, H*W, 5 + C]."""
        c3 = self.c3(self.c2(self.stem(x)))
        c4 = self.c4(c3)
        c5 = self.c5(c4)
        p5 = self.lateral[2](c5)
        p4 = self.lateral[1](c4) + nn.functional.interpolate(p5, scale_factor=2.0, mode="nearest")
        p3 = self.lateral[0](c3) + nn.functional.interpolate(p4, scale_factor=2.0, mode="nearest")
        out = []
        for p, smooth, head in zip((p3, p4, p5), self.smooth, self.heads):
            y = head(smooth(p))
            out.append(y.flatten(2).transpose(1, 2))
        return out

    def forward(self, x):
        """The exported graph: levels concatenated, objectness and classes
        as probabilities."""
        raw = torch.cat(self.levels(x), dim=1)
        return torch.cat([raw[..., :4], torch.sigmoid(raw[..., 4:])], dim=2)


def grids():
    return [(HEIGHT // s, WIDTH // s) for s in STRIDES]


def level_of(size):
    return 0 if size <= 40 else 1 if size <= 112 else 2


def targets(boxes, classes):
    """Per level: obj target, obj weight, class target, box target, positive mask."""
    out = []
    for (h, w) in grids():
        out.append({
            "obj": np.zeros((h, w), np.float32),
            "weight": np.ones((h, w), np.float32),
            "cls": np.zeros((h, w, classes), np.float32),
            "box": np.zeros((h, w, 4), np.float32),
            "area": np.full((h, w), np.inf, np.float32),
        })
    for x0, y0, x1, y1, cls, ignore in boxes:
        bw, bh = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        level = level_of(max(bw, bh))
        s = STRIDES[level]
        t = out[level]
        h, w = t["obj"].shape
        gx0, gy0 = int(cx // s), int(cy // s)
        for gy in range(gy0 - 1, gy0 + 2):
            for gx in range(gx0 - 1, gx0 + 2):
                if not (0 <= gx < w and 0 <= gy < h):
                    continue
                centre = ((gx + 0.5) * s, (gy + 0.5) * s)
                inside = x0 <= centre[0] <= x1 and y0 <= centre[1] <= y1
                if not (inside or (gx, gy) == (gx0, gy0)):
                    continue
                if ignore:
                    if t["obj"][gy, gx] == 0:
                        t["weight"][gy, gx] = 0.0
                    continue
                area = bw * bh
                if area >= t["area"][gy, gx]:
                    continue
                t["area"][gy, gx] = area
                t["obj"][gy, gx] = 1.0
                t["weight"][gy, gx] = 1.0
                t["cls"][gy, gx] = 0.0
                t["cls"][gy, gx, cls] = 1.0
                t["box"][gy, gx] = (cx / s - gx, cy / s - gy, math.log(bw / s), math.log(bh / s))
    return [{k: v.reshape(-1, *v.shape[2:]) for k, v in t.items() if k != "area"} for t in out]


def flip(image, boxes):
    return image[:, ::-1].copy(), [(WIDTH - x1, y0, WIDTH - x0, y1, c, i)
                                   for x0, y0, x1, y1, c, i in boxes]


def to_tensor(images):
    x = torch.from_numpy(np.stack(images)).float().permute(0, 3, 1, 2)
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return (x - mean) / std


def loss_of(model, images, boxes_list):
    levels = model.levels(to_tensor(images))
    bce = nn.functional.binary_cross_entropy_with_logits
    total_obj, total_cls, total_box, positives = 0.0, 0.0, 0.0, 0
    per_image = [targets(b, model.classes) for b in boxes_list]
    for k, raw in enumerate(levels):
        obj = torch.from_numpy(np.stack([t[k]["obj"] for t in per_image]))
        weight = torch.from_numpy(np.stack([t[k]["weight"] for t in per_image]))
        cls = torch.from_numpy(np.stack([t[k]["cls"] for t in per_image]))
        box = torch.from_numpy(np.stack([t[k]["box"] for t in per_image]))
        total_obj = total_obj + (bce(raw[..., 4], obj, reduction="none") * weight).sum()
        mask = obj > 0
        n = int(mask.sum())
        if n:
            positives += n
            total_cls = total_cls + bce(raw[..., 5:][mask], cls[mask], reduction="sum")
            total_box = total_box + nn.functional.smooth_l1_loss(
                raw[..., :4][mask], box[mask], beta=0.1, reduction="sum")
    n = max(positives, 1)
    return (total_obj + total_cls + 5.0 * total_box) / n


def export(model, out):
    model.eval()
    dummy = torch.zeros(1, 3, HEIGHT, WIDTH)
    torch.onnx.export(model, (dummy,), str(out), input_names=["images"],
                      output_names=["detections"], opset_version=17, dynamo=False)


def write_spec(onnx_path, classes):
    spec = onnx_path.with_suffix(".yaml")
    spec.write_text(f"""# Detector trained on `lookout synth` scenes (models/train/): a test and demo
# model for the synthetic world, not for real cameras. See models/README.md.
name: {onnx_path.stem}
onnx: {onnx_path.name}
input:
  name: images
  layout: nchw
  width: {WIDTH}
  height: {HEIGHT}
  color: rgb
  mean: {MEAN}
  std: {STD}
  resize: stretch
  pad_value: 114
decoder:
  kind: yolox
  output: detections
  strides: {STRIDES}
score_threshold: 0.2
nms_iou: 0.5
class_agnostic_nms: false
max_detections: 100
obstacle_classes: {classes}
classes: {classes}
""")
    return spec


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenes", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--width", type=int, default=800, help="input width (multiple of 32)")
    parser.add_argument("--height", type=int, default=448, help="input height (multiple of 32)")
    parser.add_argument("--every", type=int, default=2,
                        help="use every n-th frame of each camera (neighbours look alike)")
    args = parser.parse_args()
    if args.width % 32 or args.height % 32:
        sys.exit("--width and --height must be multiples of 32 (the coarsest stride)")
    global WIDTH, HEIGHT
    WIDTH, HEIGHT = args.width, args.height

    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)
    if args.threads:
        torch.set_num_threads(args.threads)

    bags = sorted(args.scenes.glob("*.mcap"))
    if not bags:
        sys.exit(f"no .mcap scenes in {args.scenes}")
    samples = []
    for bag in bags:
        for frames in read_scene(bag).values():
            samples += frames[::args.every]
    positives = sum(1 for _, boxes in samples for b in boxes if not b[5])
    print(f"{len(samples)} frames from {len(bags)} scenes, {positives} training boxes", flush=True)

    model = Detector(len(CLASSES))
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    steps = args.epochs * math.ceil(len(samples) / args.batch)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, total_steps=steps,
                                                   pct_start=0.1)
    order = list(range(len(samples)))
    for epoch in range(args.epochs):
        model.train()
        random.shuffle(order)
        started, total, batches = time.time(), 0.0, 0
        for i in range(0, len(order), args.batch):
            images, boxes = [], []
            for j in order[i:i + args.batch]:
                image, b = samples[j]
                if random.random() < 0.5:
                    image, b = flip(image, b)
                images.append(image)
                boxes.append(b)
            loss = loss_of(model, images, boxes)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total += float(loss)
            batches += 1
        print(f"epoch {epoch + 1}/{args.epochs}: loss {total / batches:.4f} "
              f"({time.time() - started:.0f} s)", flush=True)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    export(model, args.out)
    spec = write_spec(args.out, CLASSES)
    print(f"wrote {args.out} and {spec}")


if __name__ == "__main__":
    main()
