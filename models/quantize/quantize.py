#!/usr/bin/env python3
"""INT8 rungs of the shipped detectors for onnxruntime on CPUs with VNNI, reproducibly.

    quantize.py --out models/nanodet-m-416_int8.onnx [IMAGE...]
    quantize.py --check models/nanodet-m-416_int8.onnx
    quantize.py --model synthetic-det --bag CALIB.mcap --out models/synthetic-det_int8.onnx

`--model synthetic-det` quantizes the detector trained on synthetic scenes
(models/synthetic-det.onnx) instead, calibrated on every 4th camera frame of
a bag `lookout synth` writes (`lookout synth --out CALIB.mcap --seconds 4
--seed 1000 --rig rig/surround.yaml`: a training seed, never one Lookout is
scored on), preprocessed as models/synthetic-det.yaml says (stretch to
800x448, RGB, its mean and std). The rest below is NanoDet's.

The calibration images default to the 26 photos that ship inside the
scikit-image wheel (tests/interop/requirements.txt pins it, with onnx and
onnxruntime): none of them is a road scene Lookout is scored on.
`--check` quantizes again and compares every initializer of the file with
the new one (integers equal, scales to 1e-6): the committed file is what
this script makes.

Reads models/nanodet-m-416_coco_fp16w.onnx, turns its fp16 initializers
(each followed by a Cast to float32) into float32 initializers so that the
quantizer sees the convolution weights, and quantizes it statically with
onnxruntime's tools: QDQ format, int8 weights per output channel, uint8
activations with MinMax ranges over the calibration images (preprocessed as
models/nanodet-m-416.yaml says: plain resize to 416, BGR, its mean and
std). MinMax over a fixed image list is deterministic: the same images and
package versions (requirements.txt) give the same file.
"""

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "models" / "nanodet-m-416_coco_fp16w.onnx"
SIZE = 416
MEAN = np.array([103.53, 116.28, 123.675], dtype=np.float32)  # B, G, R
STD = np.array([57.375, 57.12, 58.395], dtype=np.float32)

SYNTHETIC = ROOT / "models" / "synthetic-det.onnx"
SYNTHETIC_SIZE = (800, 448)
SYNTHETIC_MEAN = np.array([123.675, 116.28, 103.53], dtype=np.float32)  # R, G, B
SYNTHETIC_STD = np.array([58.395, 57.12, 57.375], dtype=np.float32)


def tensor(path: Path) -> np.ndarray:
    """The model's input for one image, as models/nanodet-m-416.yaml says."""
    rgb = Image.open(path).convert("RGB").resize((SIZE, SIZE), Image.BILINEAR)
    bgr = np.asarray(rgb, dtype=np.float32)[:, :, ::-1]
    return ((bgr - MEAN) / STD).transpose(2, 0, 1)[None].copy()


def synthetic_tensor(rgb: Image.Image) -> np.ndarray:
    """The input of models/synthetic-det.yaml for one frame."""
    pixels = np.asarray(rgb.resize(SYNTHETIC_SIZE, Image.BILINEAR), dtype=np.float32)
    return ((pixels - SYNTHETIC_MEAN) / SYNTHETIC_STD).transpose(2, 0, 1)[None].copy()


def bag_frames(bag: Path, every: int = 4) -> list[Image.Image]:
    """Every `every`-th rgb8 sensor_msgs/Image of the bag, in log order."""
    from rosbags.highlevel import AnyReader

    frames = []
    with AnyReader([bag]) as reader:
        images = [c for c in reader.connections if c.msgtype == "sensor_msgs/msg/Image"]
        for i, (conn, _, raw) in enumerate(reader.messages(connections=images)):
            if i % every:
                continue
            msg = reader.deserialize(raw, conn.msgtype)
            if msg.encoding != "rgb8":
                raise SystemExit(f"{bag}: {conn.topic}: encoding {msg.encoding}, not rgb8")
            rows = np.asarray(msg.data, dtype=np.uint8).reshape(msg.height, msg.step)
            pixels = rows[:, : msg.width * 3].reshape(msg.height, msg.width, 3)
            frames.append(Image.fromarray(pixels, "RGB"))
    if not frames:
        raise SystemExit(f"{bag}: no sensor_msgs/Image frames")
    return frames


class Images(CalibrationDataReader):
    def __init__(self, input_name: str, tensors: list[np.ndarray]):
        self.feeds = iter([{input_name: t} for t in tensors])

    def get_next(self):
        return next(self.feeds, None)


def fp32_weights(model: onnx.ModelProto) -> onnx.ModelProto:
    """Folds each fp16 initializer -> Cast(to float) into a float32 initializer."""
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    keep = []
    for node in graph.node:
        to = next((a.i for a in node.attribute if a.name == "to"), None)
        if node.op_type == "Cast" and node.input[0] in inits and to == onnx.TensorProto.FLOAT:
            values = numpy_helper.to_array(inits[node.input[0]]).astype(np.float32)
            graph.initializer.append(numpy_helper.from_array(values, node.output[0]))
        else:
            keep.append(node)
    del graph.node[:]
    graph.node.extend(keep)
    used = {name for node in graph.node for name in node.input}
    unused = [i for i in graph.initializer if i.name not in used]
    for init in unused:
        graph.initializer.remove(init)
    return model


def skimage_photos() -> list[Path]:
    import skimage

    data = Path(skimage.__file__).parent / "data"
    return sorted(p for p in data.iterdir() if p.suffix in (".png", ".jpg"))


def quantize(source: Path, tensors: list[np.ndarray], out: Path) -> None:
    model = fp32_weights(onnx.load(source))
    input_name = model.graph.input[0].name
    with tempfile.TemporaryDirectory() as tmp:
        folded = Path(tmp) / "fp32.onnx"
        prepared = Path(tmp) / "prepared.onnx"
        onnx.save(model, folded)
        quant_pre_process(str(folded), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared),
            str(out),
            Images(input_name, tensors),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            calibrate_method=CalibrationMethod.MinMax,
            # Convolutions only: with the head's Sigmoid, Concat and
            # Reshape quantized too, the class scores collapsed (the
            # astronaut's person at 0.05 instead of 0.73).
            op_types_to_quantize=["Conv"],
        )


def same_initializers(a: Path, b: Path) -> list[str]:
    """Names of the initializers that differ between two models."""
    mine = {i.name: numpy_helper.to_array(i) for i in onnx.load(a).graph.initializer}
    theirs = {i.name: numpy_helper.to_array(i) for i in onnx.load(b).graph.initializer}
    differ = sorted(set(mine) ^ set(theirs))
    for name in set(mine) & set(theirs):
        x, y = mine[name], theirs[name]
        if x.shape != y.shape or x.dtype != y.dtype:
            differ.append(name)
        elif x.dtype.kind == "f":
            if not np.allclose(x, y, rtol=1e-6, atol=0.0):
                differ.append(name)
        elif not np.array_equal(x, y):
            differ.append(name)
    return differ


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", nargs="*", type=Path)
    parser.add_argument("--model", choices=["nanodet-m-416", "synthetic-det"],
                        default="nanodet-m-416")
    parser.add_argument("--bag", type=Path, help="synthetic-det: the calibration bag")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--out", type=Path)
    target.add_argument("--check", type=Path)
    args = parser.parse_args()
    if args.model == "synthetic-det":
        if args.bag is None:
            parser.error("--model synthetic-det needs --bag (a `lookout synth` bag)")
        source = SYNTHETIC
        tensors = [synthetic_tensor(f) for f in bag_frames(args.bag)]
    else:
        source = SOURCE
        tensors = [tensor(p) for p in sorted(args.images) or skimage_photos()]
    images = tensors
    if args.out:
        quantize(source, tensors, args.out)
        print(f"{args.out}: {len(images)} calibration images", file=sys.stderr)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        again = Path(tmp) / "again.onnx"
        quantize(source, tensors, again)
        differ = same_initializers(args.check, again)
    if differ:
        print(f"{args.check}: {len(differ)} initializers differ from a new quantization: "
              f"{', '.join(differ[:5])}", file=sys.stderr)
        return 1
    print(f"{args.check}: the same as a new quantization ({len(images)} images)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
