#!/usr/bin/env python3
"""Builds the nuScenes test fixture: a minimal v1.0-mini table set.

Reads one keyframe in mmdetection3d's info layout (sample.json: the lidar's
and cameras' poses, intrinsics and timestamps, and the boxes in the
LIDAR_TOP frame) with its seven data files, and writes them in the nuScenes
devkit layout (docs/schema_nuscenes.md of nutonomy/nuscenes-devkit):

    OUT/v1.0-mini/{log,scene,sample,sample_data,sensor,calibrated_sensor,
                   ego_pose,sample_annotation,instance,category,attribute,
                   visibility}.json
    OUT/samples/LIDAR_TOP/<log>__LIDAR_TOP__<usec>.pcd.bin
    OUT/samples/CAM_*/<log>__CAM_*__<usec>.jpg
    OUT/sample.json  (the source, for the round-trip test)

One log, one scene (scene-0061, log n015-2018-07-24-11-22-45+0800), one
sample. The lidar's ego pose is sample.json's ego2global; each camera's is
recovered from its lidar2cam, which mmdetection3d composed through the ego
poses at both timestamps (lidar -> ego -> global -> ego at the camera's time
-> camera): ego2global_cam = ego2global . lidar2ego . lidar2cam^-1 .
cam2ego^-1. Boxes go LIDAR_TOP -> ego -> global; sizes become
[w, l, h]; rotations are [w, x, y, z] quaternions. sample.json carries no
attributes or visibility, so annotations have none (empty token lists, an
empty visibility token, as the schema allows); boxes of category 'ignore'
are left out. Tokens are md5 digests of names: the output is the same on
every run.

Python 3 standard library only. Usage (from the repository root):
    python3 scripts/make-nuscenes-fixture.py \
        [--source ../shared/real-data/nuscenes] [--out tests/data/real/nuscenes]
"""

import argparse
import hashlib
import json
import math
import os
import shutil

LOG = "n015-2018-07-24-11-22-45+0800"
SCENE = "scene-0061"
VERSION = "v1.0-mini"
CAMERAS = [
    "CAM_FRONT",
    "CAM_FRONT_RIGHT",
    "CAM_BACK_RIGHT",
    "CAM_BACK",
    "CAM_BACK_LEFT",
    "CAM_FRONT_LEFT",
]
CATEGORIES = {
    "car": "vehicle.car",
    "truck": "vehicle.truck",
    "bus": "vehicle.bus.rigid",
    "trailer": "vehicle.trailer",
    "construction_vehicle": "vehicle.construction",
    "pedestrian": "human.pedestrian.adult",
    "bicycle": "vehicle.bicycle",
    "motorcycle": "vehicle.motorcycle",
    "barrier": "movable_object.barrier",
    "traffic_cone": "movable_object.trafficcone",
}
ATTRIBUTES = [
    "vehicle.moving",
    "vehicle.stopped",
    "vehicle.parked",
    "cycle.with_rider",
    "cycle.without_rider",
    "pedestrian.sitting_lying_down",
    "pedestrian.standing",
    "pedestrian.moving",
]
VISIBILITY = [("1", "v0-40"), ("2", "v40-60"), ("3", "v60-80"), ("4", "v80-100")]


def token(*parts):
    return hashlib.md5("/".join(parts).encode()).hexdigest()


def usec(seconds):
    return int(round(seconds * 1e6))


# ------------------------------------------------------------- geometry ---


def quaternion(m):
    """[w, x, y, z] of the rotation part of a 3x3 or 4x4 matrix, normalised."""
    t = m[0][0] + m[1][1] + m[2][2]
    if t > 0:
        s = math.sqrt(t + 1.0) * 2
        q = [0.25 * s, (m[2][1] - m[1][2]) / s, (m[0][2] - m[2][0]) / s, (m[1][0] - m[0][1]) / s]
    elif m[0][0] > m[1][1] and m[0][0] > m[2][2]:
        s = math.sqrt(1.0 + m[0][0] - m[1][1] - m[2][2]) * 2
        q = [(m[2][1] - m[1][2]) / s, 0.25 * s, (m[0][1] + m[1][0]) / s, (m[0][2] + m[2][0]) / s]
    elif m[1][1] > m[2][2]:
        s = math.sqrt(1.0 + m[1][1] - m[0][0] - m[2][2]) * 2
        q = [(m[0][2] - m[2][0]) / s, (m[0][1] + m[1][0]) / s, 0.25 * s, (m[1][2] + m[2][1]) / s]
    else:
        s = math.sqrt(1.0 + m[2][2] - m[0][0] - m[1][1]) * 2
        q = [(m[1][0] - m[0][1]) / s, (m[0][2] + m[2][0]) / s, (m[1][2] + m[2][1]) / s, 0.25 * s]
    n = math.sqrt(sum(v * v for v in q))
    q = [v / n for v in q]
    return q if q[0] >= 0 else [-v for v in q]


def rotation(q):
    """3x3 matrix of a [w, x, y, z] unit quaternion."""
    w, x, y, z = q
    return [
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ]


def matmul(a, b):
    return [[sum(a[i][k] * b[k][j] for k in range(3)) for j in range(3)] for i in range(3)]


def matmul4(a, b):
    return [[sum(a[i][k] * b[k][j] for k in range(4)) for j in range(4)] for i in range(4)]


def invert_rigid(m):
    r = [[m[j][i] for j in range(3)] for i in range(3)]
    t = [-sum(r[i][k] * m[k][3] for k in range(3)) for i in range(3)]
    return [r[0] + [t[0]], r[1] + [t[1]], r[2] + [t[2]], [0.0, 0.0, 0.0, 1.0]]


def camera_ego_to_global(info, cam):
    """The ego pose at the camera's time, from mmdetection3d's lidar2cam."""
    lidar = matmul4(info["ego2global"], info["lidar"]["lidar2ego"])
    return matmul4(lidar, matmul4(invert_rigid(cam["lidar2cam"]), invert_rigid(cam["cam2ego"])))


def apply(r, v):
    return [sum(r[i][k] * v[k] for k in range(3)) for i in range(3)]


class Pose:
    """A rigid transform child -> parent from a 4x4 matrix (rotation kept as
    the normalised quaternion the tables store)."""

    def __init__(self, m):
        self.q = quaternion(m)
        self.r = rotation(self.q)
        self.t = [m[0][3], m[1][3], m[2][3]]

    def point(self, p):
        return [a + b for a, b in zip(apply(self.r, p), self.t)]


def yaw_rotation(yaw):
    c, s = math.cos(yaw), math.sin(yaw)
    return [[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]


# --------------------------------------------------------------- tables ---


def sample_data_row(channel, stamp, filename, size, sample, ego, calibrated):
    return {
        "token": token("sample_data", channel),
        "sample_token": sample,
        "ego_pose_token": ego,
        "calibrated_sensor_token": calibrated,
        "timestamp": stamp,
        "fileformat": "pcd" if channel.startswith("LIDAR") else "jpg",
        "is_key_frame": True,
        "height": size[1],
        "width": size[0],
        "filename": filename,
        "prev": "",
        "next": "",
    }


def annotation_rows(boxes, sample, lidar_to_ego, ego_to_global):
    annotations, instances, categories = [], [], {}
    for index, box in enumerate(boxes):
        if box["category"] not in CATEGORIES:
            continue
        name = CATEGORIES[box["category"]]
        categories[name] = token("category", name)
        ego = lidar_to_ego.point(box["centre"])
        centre = ego_to_global.point(ego)
        r = matmul(ego_to_global.r, matmul(lidar_to_ego.r, yaw_rotation(box["yaw"])))
        l, w, h = box["size"]
        a_token = token("sample_annotation", str(index))
        i_token = token("instance", str(index))
        annotations.append(
            {
                "token": a_token,
                "sample_token": sample,
                "instance_token": i_token,
                "visibility_token": "",
                "attribute_tokens": [],
                "translation": centre,
                "size": [w, l, h],
                "rotation": quaternion(r),
                "prev": "",
                "next": "",
                "num_lidar_pts": box["num_lidar_pts"],
                "num_radar_pts": 0,
            }
        )
        instances.append(
            {
                "token": i_token,
                "category_token": categories[name],
                "nbr_annotations": 1,
                "first_annotation_token": a_token,
                "last_annotation_token": a_token,
            }
        )
    category_rows = [
        {"token": t, "name": n, "description": n} for n, t in sorted(categories.items())
    ]
    return annotations, instances, category_rows


def build(source, out):
    with open(os.path.join(source, "sample.json")) as f:
        info = json.load(f)
    lidar = info["lidar"]
    lidar_to_ego = Pose(lidar["lidar2ego"])
    ego_to_global = Pose(info["ego2global"])
    sample = token("sample", SCENE, "0")
    scene = token("scene", SCENE)
    log = token("log", LOG)
    lidar_stamp = usec(lidar["timestamp"])
    tables = {
        "log": [
            {
                "token": log,
                "logfile": LOG,
                "vehicle": "n015",
                "date_captured": "2018-07-24",
                "location": "singapore-onenorth",
            }
        ],
        "scene": [
            {
                "token": scene,
                "log_token": log,
                "nbr_samples": 1,
                "first_sample_token": sample,
                "last_sample_token": sample,
                "name": SCENE,
                "description": "one keyframe of " + SCENE + " (test fixture)",
            }
        ],
        "sample": [
            {"token": sample, "timestamp": lidar_stamp, "prev": "", "next": "", "scene_token": scene}
        ],
        "sensor": [],
        "calibrated_sensor": [],
        "ego_pose": [],
        "sample_data": [],
        "attribute": [{"token": token("attribute", a), "name": a, "description": a} for a in ATTRIBUTES],
        "visibility": [{"token": t, "level": level, "description": level} for t, level in VISIBILITY],
    }
    copies = []
    channels = [("LIDAR_TOP", lidar, lidar_to_ego, ego_to_global, [], lidar["file"], ".pcd.bin", (0, 0))]
    for channel in CAMERAS:
        cam = info["cameras"][channel]
        ego_pose = Pose(camera_ego_to_global(info, cam))
        channels.append((channel, cam, Pose(cam["cam2ego"]), ego_pose, cam["cam2img"], cam["file"], ".jpg", (1600, 900)))
    for channel, record, pose, ego_pose, intrinsic, source_file, suffix, size in channels:
        stamp = usec(record["timestamp"])
        sensor = token("sensor", channel)
        calibrated = token("calibrated_sensor", channel)
        ego = token("ego_pose", channel)
        modality = "lidar" if channel.startswith("LIDAR") else "camera"
        tables["sensor"].append({"token": sensor, "channel": channel, "modality": modality})
        tables["calibrated_sensor"].append(
            {
                "token": calibrated,
                "sensor_token": sensor,
                "translation": pose.t,
                "rotation": pose.q,
                "camera_intrinsic": intrinsic,
            }
        )
        tables["ego_pose"].append(
            {"token": ego, "timestamp": stamp, "rotation": ego_pose.q, "translation": ego_pose.t}
        )
        filename = "samples/%s/%s__%s__%d%s" % (channel, LOG, channel, stamp, suffix)
        tables["sample_data"].append(sample_data_row(channel, stamp, filename, size, sample, ego, calibrated))
        copies.append((os.path.join(os.path.dirname(source), source_file), filename))
    annotations, instances, categories = annotation_rows(info["boxes"], sample, lidar_to_ego, ego_to_global)
    tables["sample_annotation"] = annotations
    tables["instance"] = instances
    tables["category"] = categories
    write(out, tables, copies, os.path.join(source, "sample.json"))
    return len(annotations)


def write(out, tables, copies, sample_json):
    version = os.path.join(out, VERSION)
    os.makedirs(version, exist_ok=True)
    for name, rows in sorted(tables.items()):
        with open(os.path.join(version, name + ".json"), "w") as f:
            json.dump(rows, f, indent=1)
            f.write("\n")
    for source, filename in copies:
        target = os.path.join(out, filename)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(source, target)
    shutil.copyfile(sample_json, os.path.join(out, "sample.json"))


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", default=os.path.join(root, "..", "shared", "real-data", "nuscenes"))
    parser.add_argument("--out", default=os.path.join(root, "tests", "data", "real", "nuscenes"))
    args = parser.parse_args()
    count = build(os.path.normpath(args.source), args.out)
    print("wrote %s: one sample, 7 channels, %d annotations" % (args.out, count))


if __name__ == "__main__":
    main()
