#!/usr/bin/env python3
"""Writes a rosbag2 bag with rosbags' own Writer, for tests/rosbags_interop.rs.

Usage: write_rosbags.py OUT_DIR [--compression none|zstd]

Writes OUT_DIR/bag (a rosbag2 directory, MCAP storage, Jazzy typestore) and
OUT_DIR/expected.json, which lists every message in log-time order with the
field values the Rust test checks. Everything is deterministic: no clocks, no
randomness. The messages are written topic by topic, so the file order is
not the log-time order (readers must sort).

Floats in expected.json are JSON numbers (exactly the stored value: float32
fields are widened to float64), except non-finite ones, which are the
strings "nan", "inf" and "-inf".
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import sys
from pathlib import Path

import numpy as np
from PIL import Image as PILImage
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.rosbag2.enums import CompressionFormat, CompressionMode
from rosbags.typesys import Stores, get_typestore

T0 = 1_700_000_000_000_000_000
MS = 1_000_000

TYPESTORE = get_typestore(Stores.ROS2_JAZZY)
T = TYPESTORE.types
Time = T['builtin_interfaces/msg/Time']
Header = T['std_msgs/msg/Header']
Image = T['sensor_msgs/msg/Image']
CompressedImage = T['sensor_msgs/msg/CompressedImage']
CameraInfo = T['sensor_msgs/msg/CameraInfo']
RegionOfInterest = T['sensor_msgs/msg/RegionOfInterest']
PointCloud2 = T['sensor_msgs/msg/PointCloud2']
PointField = T['sensor_msgs/msg/PointField']

IMAGE = 'sensor_msgs/msg/Image'
COMPRESSED = 'sensor_msgs/msg/CompressedImage'
INFO = 'sensor_msgs/msg/CameraInfo'
CLOUD = 'sensor_msgs/msg/PointCloud2'

TOPICS = {
    '/camera/image_raw': IMAGE,
    '/camera/depth/image_raw': IMAGE,
    '/camera/bgra/image_raw': IMAGE,
    '/camera/image_raw/compressed': COMPRESSED,
    '/camera/camera_info': INFO,
    '/lidar/points': CLOUD,
    '/lidar/aux_points': CLOUD,
}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def jfloat(value: float) -> float | str:
    value = float(value)
    if math.isnan(value):
        return 'nan'
    if math.isinf(value):
        return 'inf' if value > 0 else '-inf'
    return value


def f32(value: float) -> float:
    """The float32 nearest to value, as a Python float."""
    return float(np.float32(value))


def header(stamp_ns: int, frame_id: str) -> tuple[object, dict]:
    sec, nanosec = divmod(stamp_ns, 1_000_000_000)
    msg = Header(stamp=Time(sec=sec, nanosec=nanosec), frame_id=frame_id)
    return msg, {'stamp': {'sec': sec, 'nanosec': nanosec}, 'frame_id': frame_id}


# ---------------------------------------------------------------- raw images


def raw_image(
    stamp_ns: int,
    frame_id: str,
    encoding: str,
    width: int,
    height: int,
    bytes_per_pixel: int,
    step: int,
    pixels: np.ndarray,
    pad_byte: int,
) -> tuple[object, dict]:
    """pixels: (height, width * bytes_per_pixel) uint8, rows without padding."""
    assert pixels.shape == (height, width * bytes_per_pixel)
    assert pixels.dtype == np.uint8
    buf = np.full((height, step), pad_byte, dtype=np.uint8)
    buf[:, : width * bytes_per_pixel] = pixels
    data = buf.reshape(-1)
    hdr, hexp = header(stamp_ns, frame_id)
    msg = Image(
        header=hdr,
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=0,
        step=step,
        data=data,
    )
    expected = {
        'kind': 'image',
        'header': hexp,
        'height': height,
        'width': width,
        'encoding': encoding,
        'is_bigendian': 0,
        'step': step,
        'data_len': len(data),
        'data_sha256': sha256(data.tobytes()),
        # The rows without their padding, concatenated.
        'rows_sha256': sha256(np.ascontiguousarray(pixels).tobytes()),
    }
    return msg, expected


def rgb8(frame: int) -> tuple[int, int, np.ndarray]:
    width, height = 64, 48
    y, x = np.mgrid[0:height, 0:width]
    r = (x * 4 + frame * 7) % 256
    g = (y * 5 + frame) % 256
    b = ((x ^ y) * 3) % 256
    pixels = np.stack([r, g, b], axis=-1).astype(np.uint8).reshape(height, width * 3)
    return width, height, pixels


def mono16() -> tuple[int, int, np.ndarray]:
    width, height = 40, 30
    y, x = np.mgrid[0:height, 0:width]
    values = ((x * 1000 + y * 37 + 12345) % 65536).astype('<u2')
    return width, height, values.view(np.uint8).reshape(height, width * 2)


def bgra8() -> tuple[int, int, np.ndarray]:
    width, height = 30, 20
    y, x = np.mgrid[0:height, 0:width]
    b = (x * 8) % 256
    g = (y * 12) % 256
    r = (x * y) % 256
    a = 255 - (x + y) % 64
    pixels = np.stack([b, g, r, a], axis=-1).astype(np.uint8).reshape(height, width * 4)
    return width, height, pixels


# --------------------------------------------------------- compressed images


def compressed(
    stamp_ns: int,
    frame_id: str,
    fmt: str,
    image: PILImage.Image,
    pil_format: str,
    bin_name: str | None,
    out_dir: Path,
    **save_args: object,
) -> tuple[object, dict]:
    encoded = io.BytesIO()
    image.save(encoded, format=pil_format, **save_args)
    data = np.frombuffer(encoded.getvalue(), dtype=np.uint8)
    decoded = PILImage.open(io.BytesIO(encoded.getvalue()))
    decoded.load()
    pixels = decoded.tobytes()
    hdr, hexp = header(stamp_ns, frame_id)
    msg = CompressedImage(header=hdr, format=fmt, data=data)
    expected_decoded: dict = {
        'width': decoded.width,
        'height': decoded.height,
        'mode': decoded.mode,
        'pixels_len': len(pixels),
    }
    if bin_name is None:
        expected_decoded['pixels_sha256'] = sha256(pixels)
    else:
        (out_dir / bin_name).write_bytes(pixels)
        expected_decoded['pixels_bin'] = bin_name
    expected = {
        'kind': 'compressed_image',
        'header': hexp,
        'format': fmt,
        'data_len': len(data),
        'data_sha256': sha256(data.tobytes()),
        'decoded': expected_decoded,
    }
    return msg, expected


def png_rgb() -> PILImage.Image:
    width, height = 48, 32
    y, x = np.mgrid[0:height, 0:width]
    r = (x * 5) % 256
    g = ((x + y) * 11) % 256
    b = np.where((x // 4 + y // 4) % 2 == 0, 250, 10)
    return PILImage.fromarray(np.stack([r, g, b], axis=-1).astype(np.uint8), 'RGB')


def png_mono() -> PILImage.Image:
    width, height = 33, 17
    y, x = np.mgrid[0:height, 0:width]
    return PILImage.fromarray(((x * 7 + y * 13) % 256).astype(np.uint8), 'L')


def jpeg_rgb() -> PILImage.Image:
    # Smooth gradients: decoders' IDCT and upsampling differ, so the test
    # compares with a tolerance that sharp edges would exceed.
    width, height = 64, 48
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    r = 40 + 170 * x / (width - 1)
    g = 60 + 150 * y / (height - 1)
    b = 128 + 100 * np.sin(x / 9.0) * np.cos(y / 7.0)
    rgb = np.stack([r, g, b], axis=-1).round().clip(0, 255).astype(np.uint8)
    return PILImage.fromarray(rgb, 'RGB')


# ------------------------------------------------------------------ camera info


def camera_info(stamp_ns: int, frame_id: str, variant: int) -> tuple[object, dict]:
    hdr, hexp = header(stamp_ns, frame_id)
    d = [-0.28340811, 0.07395907, 0.00019359, 1.76187114e-05, -0.0102 * (variant + 1)]
    k = [1001.5, 0.0, 640.25, 0.0, 1002.75 + variant, 360.125, 0.0, 0.0, 1.0]
    c, s = math.cos(0.01), math.sin(0.01)
    r = [c, -s, 0.0, s, c, 0.0, 0.0, 0.0, 1.0]
    p = [998.0, 0.0, 641.5, -59.9, 0.0, 999.0, 361.5, 0.25, 0.0, 0.0, 1.0, 0.0]
    roi = {'x_offset': 16, 'y_offset': 8, 'height': 700, 'width': 1240, 'do_rectify': True}
    msg = CameraInfo(
        header=hdr,
        height=720,
        width=1280,
        distortion_model='plumb_bob',
        d=np.array(d, dtype=np.float64),
        k=np.array(k, dtype=np.float64),
        r=np.array(r, dtype=np.float64),
        p=np.array(p, dtype=np.float64),
        binning_x=2,
        binning_y=1 + variant,
        roi=RegionOfInterest(**roi),
    )
    expected = {
        'kind': 'camera_info',
        'header': hexp,
        'height': 720,
        'width': 1280,
        'distortion_model': 'plumb_bob',
        'd': d,
        'k': k,
        'r': r,
        'p': p,
        'binning_x': 2,
        'binning_y': 1 + variant,
        'roi': roi,
    }
    return msg, expected


# ------------------------------------------------------------------ point clouds

DATATYPES = {'i1': 1, 'u1': 2, 'i2': 3, 'u2': 4, 'i4': 5, 'u4': 6, 'f4': 7, 'f8': 8}


def cloud(
    stamp_ns: int,
    frame_id: str,
    width: int,
    height: int,
    layout: list[tuple[str, int, str]],
    point_step: int,
    row_step: int,
    pad_byte: int,
    columns: dict[str, list[float]],
    is_dense: bool,
) -> tuple[object, dict]:
    """layout: (name, offset, numpy type code); columns: values per point, row-major."""
    dtype = np.dtype(
        {
            'names': [name for name, _, _ in layout],
            'formats': ['<' + code for _, _, code in layout],
            'offsets': [offset for _, offset, _ in layout],
            'itemsize': point_step,
        }
    )
    buf = bytearray([pad_byte]) * (height * row_step)
    for row in range(height):
        points = np.frombuffer(buf, dtype=dtype, count=width, offset=row * row_step)
        for name, _, _ in layout:
            points[name] = columns[name][row * width : (row + 1) * width]
    data = np.frombuffer(bytes(buf), dtype=np.uint8)
    fields = [
        PointField(name=name, offset=offset, datatype=DATATYPES[code], count=1)
        for name, offset, code in layout
    ]
    hdr, hexp = header(stamp_ns, frame_id)
    msg = PointCloud2(
        header=hdr,
        height=height,
        width=width,
        fields=fields,
        is_bigendian=False,
        point_step=point_step,
        row_step=row_step,
        data=data,
        is_dense=is_dense,
    )
    # The values as stored (float32 columns rounded), read back from the bytes.
    stored: dict[str, list] = {name: [] for name, _, _ in layout}
    for row in range(height):
        points = np.frombuffer(bytes(buf), dtype=dtype, count=width, offset=row * row_step)
        for name, _, code in layout:
            for value in points[name].tolist():
                stored[name].append(jfloat(value) if code[0] == 'f' else int(value))
    expected = {
        'kind': 'point_cloud',
        'header': hexp,
        'height': height,
        'width': width,
        'fields': [
            {'name': name, 'offset': offset, 'datatype': DATATYPES[code], 'count': 1}
            for name, offset, code in layout
        ],
        'is_bigendian': False,
        'point_step': point_step,
        'row_step': row_step,
        'is_dense': is_dense,
        'data_len': len(data),
        'data_sha256': sha256(bytes(buf)),
        'points': stored,
    }
    return msg, expected


def velodyne_like(stamp_ns: int, frame_id: str, scan: int) -> tuple[object, dict]:
    """x/y/z float32, intensity uint8, ring uint16, time float32; point_step 24."""
    n = 40
    x = [i * 0.25 - 3.1 + scan for i in range(n)]
    y = [math.sin(i + scan) * 10.0 for i in range(n)]
    z = [-1.5 + i * 0.01 for i in range(n)]
    if scan == 0:
        x[7] = math.nan  # dropped by Lookout
        z[11] = math.inf  # dropped by Lookout
        y[23] = -math.inf  # dropped by Lookout
    columns = {
        'x': x,
        'y': y,
        'z': z,
        'intensity': [(i * 13 + scan) % 256 for i in range(n)],
        'ring': [(i * 4099 + scan) % 65536 for i in range(n)],
        'time': [i * 1.0e-4 - 0.002 for i in range(n)],
    }
    layout = [
        ('x', 0, 'f4'),
        ('y', 4, 'f4'),
        ('z', 8, 'f4'),
        ('intensity', 12, 'u1'),
        ('ring', 14, 'u2'),
        ('time', 16, 'f4'),
    ]
    # Bytes 13 and 20..24 are padding.
    return cloud(stamp_ns, frame_id, n, 1, layout, 24, 24 * n, 0xCD, columns, scan != 0)


def organized_f64(stamp_ns: int, frame_id: str) -> tuple[object, dict]:
    """x/y/z float64, intensity float32, 3 rows of 7, padded points and rows."""
    width, height = 7, 3
    n = width * height
    columns = {
        'x': [i * 1.1 + 1e-9 for i in range(n)],
        'y': [-i * 0.3 - 1e-12 for i in range(n)],
        'z': [2.0**-i + 0.5 for i in range(n)],
        'intensity': [i * 0.5 + 0.125 for i in range(n)],
    }
    layout = [('x', 0, 'f8'), ('y', 8, 'f8'), ('z', 16, 'f8'), ('intensity', 24, 'f4')]
    row_step = width * 32 + 16
    return cloud(stamp_ns, frame_id, width, height, layout, 32, row_step, 0x5A, columns, True)


# ------------------------------------------------------------------------ main


def build(out_dir: Path) -> list[tuple[int, str, object, dict]]:
    """(log time, topic, message, expected) in write order (grouped by topic)."""
    messages: list[tuple[int, str, object, dict]] = []

    def add(log_time: int, topic: str, built: tuple[object, dict]) -> None:
        messages.append((log_time, topic, built[0], built[1]))

    for k in range(2):
        log = T0 + k * 66 * MS + 13 * MS
        w, h, px = rgb8(k)
        image = raw_image(log - 12 * MS, 'camera', 'rgb8', w, h, 3, w * 3, px, 0)
        add(log, '/camera/image_raw', image)
    w, h, px = mono16()
    log = T0 + 40 * MS
    image = raw_image(log - 12 * MS - 1, 'depth_optical', 'mono16', w, h, 2, w * 2, px, 0)
    add(log, '/camera/depth/image_raw', image)
    w, h, px = bgra8()
    log = T0 + 52 * MS
    # step 128 > 30 * 4: 8 padding bytes a row.
    image = raw_image(log - 999_999_999, 'camera_bgra', 'bgra8', w, h, 4, 128, px, 0xEE)
    add(log, '/camera/bgra/image_raw', image)

    log = T0 + 20 * MS
    stamp, fmt = log - 12 * MS, 'rgb8; png compressed rgb8'
    image = compressed(stamp, 'camera', fmt, png_rgb(), 'PNG', None, out_dir)
    add(log, '/camera/image_raw/compressed', image)
    log = T0 + 86 * MS
    stamp, fmt, name = log - 12 * MS, 'jpeg', 'jpeg_0.bin'
    image = compressed(stamp, 'camera', fmt, jpeg_rgb(), 'JPEG', name, out_dir, quality=90)
    add(log, '/camera/image_raw/compressed', image)
    log = T0 + 120 * MS
    image = compressed(log - 12 * MS, 'camera_mono', 'png', png_mono(), 'PNG', None, out_dir)
    add(log, '/camera/image_raw/compressed', image)

    for k in range(2):
        log = T0 + k * 66 * MS + 13 * MS + 1
        add(log, '/camera/camera_info', camera_info(log - 12 * MS - 1, 'camera', k))

    for k in range(2):
        log = T0 + k * 100 * MS + 105 * MS
        add(log, '/lidar/points', velodyne_like(log - 105 * MS, 'lidar', k))
    log = T0 + 70 * MS
    add(log, '/lidar/aux_points', organized_f64(log - 30 * MS, 'aux_lidar'))

    times = [m[0] for m in messages]
    assert len(set(times)) == len(times), 'log times must be unique'
    assert times != sorted(times), 'write order should differ from log-time order'
    return messages


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('out_dir', type=Path)
    parser.add_argument('--compression', choices=['none', 'zstd'], default='none')
    args = parser.parse_args()
    out_dir: Path = args.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    bag = out_dir / 'bag'

    messages = build(out_dir)
    writer = Writer(bag, version=9, storage_plugin=StoragePlugin.MCAP)
    if args.compression == 'zstd':
        writer.set_compression(CompressionMode.STORAGE, CompressionFormat.ZSTD)
    with writer:
        connections = {
            topic: writer.add_connection(topic, msgtype, typestore=TYPESTORE)
            for topic, msgtype in TOPICS.items()
        }
        for log_time, topic, msg, _ in messages:
            writer.write(connections[topic], log_time, TYPESTORE.serialize_cdr(msg, TOPICS[topic]))

    ordered = sorted(messages, key=lambda m: m[0])
    expected = {
        'bag': 'bag',
        'compression': args.compression,
        'topics': {
            topic: {'type': msgtype, 'count': sum(1 for m in messages if m[1] == topic)}
            for topic, msgtype in TOPICS.items()
        },
        'messages': [
            {'topic': topic, 'type': TOPICS[topic], 'log_time': log_time, **exp}
            for log_time, topic, _, exp in ordered
        ],
    }
    (out_dir / 'expected.json').write_text(json.dumps(expected, indent=1, allow_nan=False))
    return 0


if __name__ == '__main__':
    sys.exit(main())
