"""Drives a running `lookout node` over DDS, the way a vehicle would.

Publishes every Image, CompressedImage, CameraInfo and PointCloud2 message
of a rosbag2 MCAP file, as recorded (the serialized bytes, unchanged), at the
recorded timing, with /clock carrying the bag time (the node runs with
use_sim_time, as a bag replay with --clock does). Records what the node
publishes on ~/obstacles, ~/markers, ~/status and /diagnostics and writes it
as JSON for the Rust test to check.

With --restamp, each message's header stamp is set to the wall clock as it
is published and no /clock is sent (a live sensor; the node runs without
use_sim_time), and the round trip from publishing a scan to receiving its
obstacles is recorded.

With --odometry TOPIC, the bag's /tf poses in odom also go out as
nav_msgs/Odometry on TOPIC (a vehicle's odometry, for tracking).

With --formats, the other output formats are recorded too: ~/detections_3d
(vision_msgs/Detection3DArray), ~/objects and ~/tracked_objects
(autoware_perception_msgs DetectedObjects, TrackedObjects), ~/scene
(foxglove_msgs/SceneUpdate) and, with a detector, ~/detections_2d
(vision_msgs/Detection2DArray) and ~/image_annotations
(foxglove_msgs/ImageAnnotations), each decoded with its package's generated
Python type.

Usage: drive_node.py BAG OUT.json [--node /lookout] [--settle 3.0] [--restamp]
                     [--odometry TOPIC] [--formats]
Run with the ROS venv's python (scripts/setup-ros.sh).
"""

import argparse
import json
import struct
import sys
import time

import rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy, HistoryPolicy, qos_profile_sensor_data
from rclpy.serialization import deserialize_message, serialize_message
from rosbags.highlevel import AnyReader
from pathlib import Path

from builtin_interfaces.msg import Time
from rosgraph_msgs.msg import Clock
from nav_msgs.msg import Odometry
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2
from visualization_msgs.msg import MarkerArray
from diagnostic_msgs.msg import DiagnosticArray
from lookout_msgs.msg import ObstacleArray, PipelineStatus

TYPES = {
    "sensor_msgs/msg/Image": Image,
    "sensor_msgs/msg/CompressedImage": CompressedImage,
    "sensor_msgs/msg/CameraInfo": CameraInfo,
    "sensor_msgs/msg/PointCloud2": PointCloud2,
    "nav_msgs/msg/Odometry": Odometry,
}


def odometry_from_tf(reader, topic):
    """The bag's /tf transforms from odom, as nav_msgs/Odometry messages on
    `topic` at the same log times (what a vehicle's odometry publishes)."""
    out = []
    tf = [c for c in reader.connections if c.topic == "/tf"]
    for connection, log_time, raw in reader.messages(connections=tf):
        for t in reader.deserialize(raw, connection.msgtype).transforms:
            if t.header.frame_id != "odom":
                continue
            odometry = Odometry()
            odometry.header.stamp = Time(sec=t.header.stamp.sec, nanosec=t.header.stamp.nanosec)
            odometry.header.frame_id = t.header.frame_id
            odometry.child_frame_id = t.child_frame_id
            p, q = t.transform.translation, t.transform.rotation
            odometry.pose.pose.position.x, odometry.pose.pose.position.y = p.x, p.y
            odometry.pose.pose.position.z = p.z
            o = odometry.pose.pose.orientation
            o.x, o.y, o.z, o.w = q.x, q.y, q.z, q.w
            out.append((topic, "nav_msgs/msg/Odometry", log_time, serialize_message(odometry)))
    return out


def stamp_ns(stamp):
    return stamp.sec * 1_000_000_000 + stamp.nanosec


def xyz(v):
    return [v.x, v.y, v.z]


def subscribe_formats(node, prefix, qos, received):
    """Records ~/detections_3d, ~/objects and ~/tracked_objects into
    received["detections_3d"], ["objects"], ["tracked_objects"]."""
    from autoware_perception_msgs.msg import DetectedObjects, TrackedObjects
    from foxglove_msgs.msg import ImageAnnotations, SceneUpdate
    from vision_msgs.msg import Detection2DArray, Detection3DArray

    def on_detections(m):
        received["detections_3d"].append({
            "stamp": stamp_ns(m.header.stamp),
            "frame_id": m.header.frame_id,
            "detections": [{
                "class_id": d.results[0].hypothesis.class_id,
                "score": d.results[0].hypothesis.score,
                "center": xyz(d.bbox.center.position), "size": xyz(d.bbox.size),
                "id": d.id,
            } for d in m.detections],
        })

    def kinematics(k):
        return {"center": xyz(k.pose_with_covariance.pose.position),
                "twist": xyz(k.twist_with_covariance.twist.linear)}

    def on_objects(m):
        received["objects"].append({
            "stamp": stamp_ns(m.header.stamp),
            "objects": [{
                "label": o.classification[0].label,
                "has_twist": o.kinematics.has_twist,
                "dimensions": xyz(o.shape.dimensions),
                **kinematics(o.kinematics),
            } for o in m.objects],
        })

    def on_tracked(m):
        received["tracked_objects"].append({
            "stamp": stamp_ns(m.header.stamp),
            "objects": [{
                "uuid": [int(b) for b in o.object_id.uuid],
                "label": o.classification[0].label,
                **kinematics(o.kinematics),
            } for o in m.objects],
        })

    def on_scene(m):
        received["scene"].append({
            "stamp": stamp_ns(m.entities[0].timestamp) if m.entities else None,
            "deletions": [d.type for d in m.deletions],
            "entities": [{
                "id": e.id, "frame_id": e.frame_id,
                "center": xyz(e.cubes[0].pose.position), "size": xyz(e.cubes[0].size),
                "text": e.texts[0].text,
                "metadata": {kv.key: kv.value for kv in e.metadata},
            } for e in m.entities],
        })

    def on_detections_2d(m):
        received["detections_2d"].append({
            "stamp": stamp_ns(m.header.stamp), "frame_id": m.header.frame_id,
            "detections": [{
                "class_id": d.results[0].hypothesis.class_id,
                "center": [d.bbox.center.position.x, d.bbox.center.position.y],
                "size": [d.bbox.size_x, d.bbox.size_y],
            } for d in m.detections],
        })

    def on_annotations(m):
        received["image_annotations"].append({
            "stamp": stamp_ns(m.timestamp),
            "outlines": [[[p.x, p.y] for p in a.points] for a in m.points],
            "texts": [t.text for t in m.texts],
        })

    for name in ("detections_3d", "objects", "tracked_objects", "scene",
                 "detections_2d", "image_annotations"):
        received[name] = []
    node.create_subscription(Detection2DArray, f"{prefix}/detections_2d", on_detections_2d, qos)
    node.create_subscription(ImageAnnotations, f"{prefix}/image_annotations", on_annotations, qos)
    node.create_subscription(SceneUpdate, f"{prefix}/scene", on_scene, qos)
    node.create_subscription(Detection3DArray, f"{prefix}/detections_3d", on_detections, qos)
    node.create_subscription(DetectedObjects, f"{prefix}/objects", on_objects, qos)
    node.create_subscription(TrackedObjects, f"{prefix}/tracked_objects", on_tracked, qos)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("bag")
    parser.add_argument("out")
    parser.add_argument("--node", default="/lookout")
    parser.add_argument("--settle", type=float, default=3.0)
    parser.add_argument("--restamp", action="store_true")
    parser.add_argument("--reliable", action="store_true",
                        help="publish sensor topics reliably (the node needs node.reliability: reliable)")
    parser.add_argument("--topic-map", default="",
                        help="comma list of bag_topic=published_topic")
    parser.add_argument("--formats", action="store_true",
                        help="also record the vision_msgs and Autoware outputs")
    parser.add_argument("--odometry", default="",
                        help="also publish the bag's /tf poses in odom as nav_msgs/Odometry on this topic")
    args = parser.parse_args()
    remap = dict(pair.split("=", 1) for pair in args.topic_map.split(",") if pair)

    rclpy.init()
    node = rclpy.create_node("lookout_driver")
    reliable = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=50,
                          reliability=ReliabilityPolicy.RELIABLE)
    received = {"obstacles": [], "markers": [], "status": [], "diagnostics": []}
    receipt = {"obstacles": [], "obstacles_wall_ns": []}

    def on_obstacles(raw):
        receipt["obstacles"].append(time.monotonic())
        receipt["obstacles_wall_ns"].append(time.time_ns())
        m = deserialize_message(raw, ObstacleArray)
        received["obstacles"].append({
            "stamp": stamp_ns(m.header.stamp),
            "frame_id": m.header.frame_id,
            "degraded": m.degraded,
            "late": m.late,
            "obstacles": [{
                "id": o.id, "label": o.label, "score": o.score, "source": o.source,
                "center": [o.center.x, o.center.y, o.center.z],
                "size": [o.size.x, o.size.y, o.size.z], "yaw": o.yaw,
                "point_count": o.point_count,
                "velocity": [o.velocity.x, o.velocity.y, o.velocity.z],
            } for o in m.obstacles],
        })

    def on_markers(raw):
        m = deserialize_message(raw, MarkerArray)
        received["markers"].append([{
            "ns": k.ns, "id": k.id, "type": k.type, "action": k.action,
            "frame_id": k.header.frame_id, "text": k.text,
            "position": [k.pose.position.x, k.pose.position.y, k.pose.position.z],
            "scale": [k.scale.x, k.scale.y, k.scale.z],
            "color": [k.color.r, k.color.g, k.color.b, k.color.a],
        } for k in m.markers])

    def on_status(raw):
        m = deserialize_message(raw, PipelineStatus)
        received["status"].append({
            "health": m.health, "reason": m.reason, "degraded": m.degraded,
            "sensors": [{
                "sensor": s.sensor,
                "stage_ms": [s.stage_p50_ms, s.stage_p90_ms, s.stage_p99_ms,
                             s.stage_p999_ms, s.stage_max_ms],
                "end_to_end_ms": [s.end_to_end_p50_ms, s.end_to_end_p90_ms,
                                  s.end_to_end_p99_ms, s.end_to_end_p999_ms,
                                  s.end_to_end_max_ms],
                "received": s.received,
                "published": s.published, "errors": s.errors,
                "stale": s.stale, "superseded": s.superseded,
            } for s in m.sensors],
        })

    def on_diagnostics(raw):
        m = deserialize_message(raw, DiagnosticArray)
        received["diagnostics"].append([{
            "level": int.from_bytes(s.level, "little") if isinstance(s.level, bytes) else int(s.level),
            "name": s.name, "message": s.message, "hardware_id": s.hardware_id,
            "values": {kv.key: kv.value for kv in s.values},
        } for s in m.status])

    if args.formats:
        subscribe_formats(node, args.node, reliable, received)
    node.create_subscription(ObstacleArray, f"{args.node}/obstacles", on_obstacles, reliable, raw=True)
    node.create_subscription(MarkerArray, f"{args.node}/markers", on_markers, reliable, raw=True)
    node.create_subscription(PipelineStatus, f"{args.node}/status", on_status, reliable, raw=True)
    node.create_subscription(DiagnosticArray, "/diagnostics", on_diagnostics, reliable, raw=True)

    with AnyReader([Path(args.bag)]) as reader:
        connections = [c for c in reader.connections if c.msgtype in TYPES]
        messages = [(c.topic, c.msgtype, t, raw) for c, t, raw in reader.messages(connections=connections)]
        if args.odometry:
            messages = sorted(messages + odometry_from_tf(reader, args.odometry), key=lambda m: m[2])
    publishers = {}
    clock_pub = node.create_publisher(Clock, "/clock", reliable)
    for topic, msgtype, _, _ in messages:
        if topic not in publishers:
            publishers[topic] = node.create_publisher(
                TYPES[msgtype], remap.get(topic, topic),
                reliable if args.reliable else qos_profile_sensor_data)

    # Wait until the node has subscribed to everything we publish.
    deadline = time.monotonic() + 30.0
    while time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.05)
        if all(p.get_subscription_count() > 0 for p in publishers.values()) \
                and (args.restamp or clock_pub.get_subscription_count() > 0):
            break
    else:
        missing = [t for t, p in publishers.items() if p.get_subscription_count() == 0]
        if not args.restamp and clock_pub.get_subscription_count() == 0:
            missing.append("/clock")
        print(f"drive_node: lookout never subscribed to {', '.join(missing)}", file=sys.stderr)
        sys.exit(2)
    # Discovery of our subscriptions on the node's side.
    settle_until = time.monotonic() + 1.0
    while time.monotonic() < settle_until:
        rclpy.spin_once(node, timeout_sec=0.05)

    start_wall = time.monotonic()
    start_bag = messages[0][2] if messages else 0
    sent = []
    for topic, msgtype, log_time, raw in messages:
        due = start_wall + (log_time - start_bag) / 1e9
        while True:
            now = time.monotonic()
            if now >= due:
                break
            rclpy.spin_once(node, timeout_sec=min(0.005, due - now))
        data = bytearray(raw)
        if args.restamp:
            # CDR: 4-byte encapsulation header, then std_msgs/Header.stamp
            # (int32 sec, uint32 nanosec), little endian in rosbag2 files.
            now = time.time_ns()
            data[4:12] = struct.pack("<iI", now // 1_000_000_000, now % 1_000_000_000)
            stamp = now
        else:
            clock = Clock()
            clock.clock = Time(sec=log_time // 1_000_000_000, nanosec=log_time % 1_000_000_000)
            clock_pub.publish(clock)
            stamp = None
        publishers[topic].publish(bytes(data))
        sent.append({"topic": topic, "type": msgtype, "sent": time.monotonic(), "stamp": stamp})
    # Keep the clock moving while the last results come back.
    last_bag = messages[-1][2] if messages else 0
    end = time.monotonic() + args.settle
    while time.monotonic() < end:
        elapsed = time.monotonic() - start_wall
        t = start_bag + int(elapsed * 1e9)
        if not args.restamp:
            clock = Clock()
            clock.clock = Time(sec=t // 1_000_000_000, nanosec=t % 1_000_000_000)
            clock_pub.publish(clock)
        rclpy.spin_once(node, timeout_sec=0.02)
    del last_bag

    # Round trip: a scan published -> its obstacles received (restamped runs,
    # where each stamp is unique to one publish).
    sent_at = {s["stamp"]: s["sent"] for s in sent if s["stamp"] is not None}
    round_trip_ms = [
        (got_at - sent_at[array["stamp"]]) * 1e3
        for array, got_at in zip(received["obstacles"], receipt["obstacles"])
        if array["stamp"] in sent_at
    ]

    # Consumer-side latency: receipt here (system clock) minus the sensor
    # stamp the array carries, for every obstacle array (restamped runs,
    # whose stamps are system-clock times too).
    stamp_to_receipt_ms = [
        (got_ns - array["stamp"]) / 1e6
        for array, got_ns in zip(received["obstacles"], receipt["obstacles_wall_ns"])
    ] if args.restamp else []

    with open(args.out, "w") as f:
        json.dump({"sent": sent, "received": received, "receipt": receipt,
                   "round_trip_ms": round_trip_ms,
                   "stamp_to_receipt_ms": stamp_to_receipt_ms}, f)
    node.destroy_node()
    rclpy.shutdown()


if __name__ == "__main__":
    main()
