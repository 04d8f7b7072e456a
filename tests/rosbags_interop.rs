//! Interoperability with rosbags, the pure-Python rosbag2 implementation
//! (PyPI `rosbags`): Lookout reads what rosbags writes and rosbags reads what
//! Lookout writes, every field compared.
//!
//! The Python side lives in `tests/interop/` (`write_rosbags.py`,
//! `read_rosbags.py`, `requirements.txt`). The interpreter is `$LOOKOUT_PYTHON`,
//! else `.venv-test/bin/python` in the crate root (`scripts/test.sh` sets it
//! up). Without a usable interpreter the tests print a SKIPPED line and pass,
//! unless `LOOKOUT_REQUIRE_PYTHON=1`, which makes them fail instead.
//!
//! JSON conventions shared with the scripts: floats are JSON numbers (float32
//! widened exactly) except non-finite ones, the strings `"nan"`, `"inf"`,
//! `"-inf"`; byte arrays are `{"len", "sha256"}`.

mod common;

use lookout::bag::{Bag, BagWriter, Compression, WriterOptions};
use lookout::cdr::DecodeError;
use lookout::frames::{CameraFrame, CameraIntrinsics, CompressedDecoder, LidarScan, PixelEncoding};
use lookout::ingest::{Ingest, InputKind};
use lookout::msg::{
    CameraInfo, CompressedImage, Detection2DArray, Encode, FrameReport, Header, Image, MessageType,
    Obstacle, ObstacleArray, ObstacleSource, OwnedHeader, PipelineStatus, PointCloud2, PointField,
    PointFieldType, RegionOfInterest, SensorStatus, Time,
};
use lookout::synth::{self, CameraFormat, CameraSpec, LidarSpec, SynthOptions};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::Command;

// ------------------------------------------------------------------ Python

/// The Python interpreter with rosbags, or `None` (after a loud SKIPPED
/// line) when there is none and `LOOKOUT_REQUIRE_PYTHON` is not `1`.
fn python(test: &str) -> Option<PathBuf> {
    common::python(test, "rosbags, numpy, PIL")
}

fn interop_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop")
        .join(name)
}

/// Runs a script of `tests/interop/`; panics with its output when it fails.
fn run_script(python: &Path, script: &str, args: &[&OsStr]) {
    let mut command = Command::new(python);
    command.arg(interop_script(script)).args(args);
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {script}: {e}"));
    assert!(
        out.status.success(),
        "{script} {args:?} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Reads `bag` with rosbags' AnyReader and returns its JSON dump.
fn rosbags_dump(python: &Path, bag: &Path, work: &Path) -> Value {
    let out = work.join(format!(
        "{}.rosbags.json",
        bag.file_name().unwrap().to_string_lossy()
    ));
    run_script(
        python,
        "read_rosbags.py",
        &[bag.as_os_str(), out.as_os_str()],
    );
    read_json(&out)
}

// ------------------------------------------------------------------ JSON helpers

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A float as the scripts write it.
fn jfloat(value: f64) -> Value {
    if value.is_nan() {
        json!("nan")
    } else if value.is_infinite() {
        json!(if value > 0.0 { "inf" } else { "-inf" })
    } else {
        json!(value)
    }
}

/// A float the scripts wrote (number or "nan"/"inf"/"-inf").
fn float_of(value: &Value) -> f64 {
    match value {
        Value::Number(n) => n.as_f64().unwrap(),
        Value::String(s) if s == "nan" => f64::NAN,
        Value::String(s) if s == "inf" => f64::INFINITY,
        Value::String(s) if s == "-inf" => f64::NEG_INFINITY,
        other => panic!("not a float: {other}"),
    }
}

fn uint(value: &Value) -> u64 {
    value
        .as_u64()
        .unwrap_or_else(|| panic!("not an unsigned integer: {value}"))
}

fn int(value: &Value) -> i64 {
    value
        .as_i64()
        .unwrap_or_else(|| panic!("not an integer: {value}"))
}

fn string(value: &Value) -> &str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not a string: {value}"))
}

fn array(value: &Value) -> &Vec<Value> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {value}"))
}

/// Compares `actual` with `expected` exactly: integers as integers, floats
/// bit for bit (so -0.0 differs from 0.0, and an integer never equals a
/// float), objects key by key. Collects every difference under `path`.
fn json_diff(path: &str, actual: &Value, expected: &Value, diffs: &mut Vec<String>) {
    match (actual, expected) {
        (Value::Number(a), Value::Number(e)) => {
            let same = if a.is_f64() || e.is_f64() {
                a.is_f64()
                    && e.is_f64()
                    && a.as_f64().unwrap().to_bits() == e.as_f64().unwrap().to_bits()
            } else {
                a.as_i128() == e.as_i128()
            };
            if !same {
                diffs.push(format!("{path}: {a} != expected {e}"));
            }
        }
        (Value::Array(a), Value::Array(e)) => {
            if a.len() != e.len() {
                diffs.push(format!(
                    "{path}: {} elements != expected {}",
                    a.len(),
                    e.len()
                ));
            }
            for (i, (a, e)) in a.iter().zip(e).enumerate() {
                json_diff(&format!("{path}[{i}]"), a, e, diffs);
            }
        }
        (Value::Object(a), Value::Object(e)) => {
            for key in e.keys().filter(|k| !a.contains_key(*k)) {
                diffs.push(format!("{path}.{key}: missing"));
            }
            for key in a.keys().filter(|k| !e.contains_key(*k)) {
                diffs.push(format!("{path}.{key}: unexpected field"));
            }
            for (key, a) in a {
                if let Some(e) = e.get(key) {
                    json_diff(&format!("{path}.{key}"), a, e, diffs);
                }
            }
        }
        (a, e) => {
            if a != e {
                diffs.push(format!("{path}: {a} != expected {e}"));
            }
        }
    }
}

fn assert_json_eq(context: &str, actual: &Value, expected: &Value) {
    let mut diffs = Vec::new();
    json_diff("", actual, expected, &mut diffs);
    assert!(
        diffs.is_empty(),
        "{context}: {} differences:\n  {}",
        diffs.len(),
        diffs.join("\n  ")
    );
}

// ------------------------------------------------- Lookout messages as JSON
//
// The same shape `read_rosbags.py` dumps: every field of the message
// definition, in the conventions above.

fn time_json(t: Time) -> Value {
    json!({"sec": t.sec, "nanosec": t.nanosec})
}

fn header_json(h: &Header<'_>) -> Value {
    json!({"stamp": time_json(h.stamp), "frame_id": h.frame_id})
}

fn blob_json(bytes: &[u8]) -> Value {
    json!({"len": bytes.len(), "sha256": sha256_hex(bytes)})
}

fn floats_json(values: &[f64]) -> Value {
    Value::Array(values.iter().map(|v| jfloat(*v)).collect())
}

fn xyz_json(v: [f64; 3]) -> Value {
    json!({"x": jfloat(v[0]), "y": jfloat(v[1]), "z": jfloat(v[2])})
}

fn tf_json(m: &lookout::msg::tf::TfMessage<'_>) -> Value {
    let transforms: Vec<Value> = m
        .transforms
        .iter()
        .map(|t| {
            let [x, y, z, w] = t.rotation_xyzw;
            json!({
                "header": header_json(&t.header),
                "child_frame_id": t.child_frame_id,
                "transform": {
                    "translation": xyz_json(t.translation),
                    "rotation": {"x": jfloat(x), "y": jfloat(y), "z": jfloat(z), "w": jfloat(w)},
                },
            })
        })
        .collect();
    json!({ "transforms": transforms })
}

fn image_json(m: &Image<'_>) -> Value {
    json!({
        "header": header_json(&m.header),
        "height": m.height,
        "width": m.width,
        "encoding": m.encoding,
        "is_bigendian": m.is_bigendian,
        "step": m.step,
        "data": blob_json(m.data),
    })
}

fn compressed_json(m: &CompressedImage<'_>) -> Value {
    json!({
        "header": header_json(&m.header),
        "format": m.format,
        "data": blob_json(m.data),
    })
}

fn camera_info_json(m: &CameraInfo<'_>) -> Value {
    json!({
        "header": header_json(&m.header),
        "height": m.height,
        "width": m.width,
        "distortion_model": m.distortion_model,
        "d": floats_json(m.d()),
        "k": floats_json(&m.k),
        "r": floats_json(&m.r),
        "p": floats_json(&m.p),
        "binning_x": m.binning_x,
        "binning_y": m.binning_y,
        "roi": {
            "x_offset": m.roi.x_offset,
            "y_offset": m.roi.y_offset,
            "height": m.roi.height,
            "width": m.roi.width,
            "do_rectify": m.roi.do_rectify,
        },
    })
}

fn cloud_json(m: &PointCloud2<'_>) -> Value {
    let fields: Vec<Value> = m
        .fields()
        .iter()
        .map(|f| {
            json!({
                "name": f.name,
                "offset": f.offset,
                "datatype": f.datatype as u8,
                "count": f.count,
            })
        })
        .collect();
    json!({
        "header": header_json(&m.header),
        "height": m.height,
        "width": m.width,
        "fields": fields,
        "is_bigendian": m.is_bigendian,
        "point_step": m.point_step,
        "row_step": m.row_step,
        "data": blob_json(m.data),
        "is_dense": m.is_dense,
    })
}

fn obstacle_json(o: &Obstacle) -> Value {
    json!({
        "id": o.id,
        "label": o.label,
        "score": jfloat(o.score as f64),
        "source": o.source as u8,
        "center": xyz_json(o.center),
        "size": xyz_json(o.size),
        "yaw": jfloat(o.yaw),
        "velocity": xyz_json(o.velocity),
        "point_count": o.point_count,
        "nearest_distance": jfloat(o.nearest_distance as f64),
        "lidar_stamp": time_json(o.lidar_stamp),
        "camera_stamp": time_json(o.camera_stamp),
        "latency": jfloat(o.latency as f64),
        "track_age": jfloat(o.track_age as f64),
        "position_covariance": o
            .position_covariance
            .iter()
            .map(|&c| jfloat(c as f64))
            .collect::<Vec<_>>(),
    })
}

fn obstacle_array_json(m: &ObstacleArray) -> Value {
    json!({
        "header": header_json(&m.header.borrowed()),
        "obstacles": m.obstacles.iter().map(obstacle_json).collect::<Vec<_>>(),
        "degraded": m.degraded,
        "late": m.late,
    })
}

fn detection_array_json(m: &Detection2DArray) -> Value {
    json!({
        "header": header_json(&m.header.borrowed()),
        "detections": m.detections.iter().map(|d| json!({
            "label": d.label,
            "score": jfloat(d.score as f64),
            "x0": jfloat(d.bbox[0] as f64),
            "y0": jfloat(d.bbox[1] as f64),
            "x1": jfloat(d.bbox[2] as f64),
            "y1": jfloat(d.bbox[3] as f64),
            "visible": jfloat(d.visible as f64),
            "id": d.id,
        })).collect::<Vec<_>>(),
    })
}

fn frame_report_json(m: &FrameReport) -> Value {
    json!({
        "header": header_json(&m.header.borrowed()),
        "topic": m.topic,
        "message_type": m.message_type,
        "accepted": m.accepted,
        "reject_reason": m.reject_reason,
        "detail": m.detail,
        "width": m.width,
        "height": m.height,
        "point_count": m.point_count,
    })
}

fn pipeline_status_json(m: &PipelineStatus) -> Value {
    let five = |prefix: &str, v: &[f64; 5]| {
        ["p50", "p90", "p99", "p999", "max"]
            .iter()
            .zip(v)
            .map(|(q, x)| (format!("{prefix}_{q}_ms"), jfloat(*x)))
            .collect::<Vec<_>>()
    };
    let sensors: Vec<Value> = m
        .sensors
        .iter()
        .map(|s| {
            let mut fields = serde_json::Map::new();
            fields.insert("sensor".into(), json!(s.sensor));
            for (k, v) in five("stage", &s.stage_ms)
                .into_iter()
                .chain(five("end_to_end", &s.end_to_end_ms))
            {
                fields.insert(k, v);
            }
            for (k, v) in [
                ("received", s.received),
                ("started", s.started),
                ("published", s.published),
                ("superseded", s.superseded),
                ("stale", s.stale),
                ("infeasible", s.infeasible),
                ("late", s.late),
                ("errors", s.errors),
            ] {
                fields.insert(k.into(), json!(v));
            }
            fields.insert("consecutive_misses".into(), json!(s.consecutive_misses));
            fields.insert("variant".into(), json!(s.variant));
            fields.insert("variant_started".into(), json!(s.variant_started));
            Value::Object(fields)
        })
        .collect();
    json!({
        "header": header_json(&m.header.borrowed()),
        "health": m.health,
        "reason": m.reason,
        "degraded": m.degraded,
        "sensors": sensors,
    })
}

/// Decodes a stored message with Lookout into the dump's JSON shape.
fn lookout_json(type_name: &str, data: &[u8]) -> Value {
    fn ok<T>(type_name: &str, decoded: Result<T, DecodeError>) -> T {
        decoded.unwrap_or_else(|e| panic!("Lookout cannot decode a {type_name}: {e}"))
    }
    match type_name {
        "sensor_msgs/msg/Image" => image_json(&ok(type_name, Image::decode(data))),
        "sensor_msgs/msg/CompressedImage" => {
            compressed_json(&ok(type_name, CompressedImage::decode(data)))
        }
        "sensor_msgs/msg/CameraInfo" => camera_info_json(&ok(type_name, CameraInfo::decode(data))),
        "sensor_msgs/msg/PointCloud2" => cloud_json(&ok(type_name, PointCloud2::decode(data))),
        "lookout_msgs/msg/ObstacleArray" => {
            obstacle_array_json(&ok(type_name, ObstacleArray::decode(data)))
        }
        "lookout_msgs/msg/FrameReport" => {
            frame_report_json(&ok(type_name, FrameReport::decode(data)))
        }
        "lookout_msgs/msg/Detection2DArray" => {
            detection_array_json(&ok(type_name, Detection2DArray::decode(data)))
        }
        "lookout_msgs/msg/PipelineStatus" => {
            pipeline_status_json(&ok(type_name, PipelineStatus::decode(data)))
        }
        "tf2_msgs/msg/TFMessage" => {
            tf_json(&ok(type_name, lookout::msg::tf::TfMessage::decode(data)))
        }
        other => panic!("no JSON form for {other}"),
    }
}

/// A message as Lookout's reader hands it out, copied.
#[derive(Debug, Clone)]
struct Stored {
    topic: String,
    type_name: String,
    encoding: String,
    log_time: u64,
    data: Vec<u8>,
}

fn read_all(bag: &Bag) -> Vec<Stored> {
    let mut out = Vec::new();
    let summary = bag
        .read_messages(None, |m| {
            out.push(Stored {
                topic: m.topic.to_owned(),
                type_name: m.type_name.to_owned(),
                encoding: m.encoding.to_owned(),
                log_time: m.log_time,
                data: m.data.to_vec(),
            });
            ControlFlow::Continue(())
        })
        .unwrap_or_else(|e| panic!("Lookout cannot read {}: {e}", bag.path().display()));
    assert_eq!(summary.messages, out.len() as u64);
    assert!(
        summary.files_read_linearly.is_empty(),
        "{}: read linearly, the summary was not usable: {:?}",
        bag.path().display(),
        summary.files_read_linearly
    );
    assert_eq!(summary.out_of_order, 0);
    out
}

fn assert_log_time_order(context: &str, times: impl IntoIterator<Item = u64>) {
    let times: Vec<u64> = times.into_iter().collect();
    for pair in times.windows(2) {
        assert!(
            pair[0] <= pair[1],
            "{context}: log time {} after {}",
            pair[1],
            pair[0]
        );
    }
}

/// The messages of a dump grouped by topic, in order.
fn dump_by_topic(dump: &Value) -> BTreeMap<String, Vec<&Value>> {
    let mut topics: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for m in array(&dump["messages"]) {
        topics
            .entry(string(&m["topic"]).to_owned())
            .or_default()
            .push(m);
    }
    topics
}

// ------------------------------------- lookout_reads_what_rosbags_writes

fn check_header(context: &str, actual: &Header<'_>, expected: &Value) {
    assert_eq!(
        actual.stamp.sec as i64,
        int(&expected["stamp"]["sec"]),
        "{context}: stamp.sec"
    );
    assert_eq!(
        actual.stamp.nanosec as u64,
        uint(&expected["stamp"]["nanosec"]),
        "{context}: stamp.nanosec"
    );
    assert_eq!(
        actual.frame_id,
        string(&expected["frame_id"]),
        "{context}: frame_id"
    );
}

fn expected_stamp_ns(header: &Value) -> i64 {
    int(&header["stamp"]["sec"]) * 1_000_000_000 + int(&header["stamp"]["nanosec"])
}

fn check_blob(context: &str, data: &[u8], len: &Value, sha: &Value) {
    assert_eq!(data.len() as u64, uint(len), "{context}: length");
    assert_eq!(sha256_hex(data), string(sha), "{context}: sha256");
}

fn check_image(context: &str, data: &[u8], e: &Value) {
    let image = Image::decode(data).unwrap_or_else(|err| panic!("{context}: {err}"));
    check_header(context, &image.header, &e["header"]);
    assert_eq!(image.height as u64, uint(&e["height"]), "{context}: height");
    assert_eq!(image.width as u64, uint(&e["width"]), "{context}: width");
    assert_eq!(
        image.encoding,
        string(&e["encoding"]),
        "{context}: encoding"
    );
    assert_eq!(
        image.is_bigendian as u64,
        uint(&e["is_bigendian"]),
        "{context}: is_bigendian"
    );
    assert_eq!(image.step as u64, uint(&e["step"]), "{context}: step");
    check_blob(context, image.data, &e["data_len"], &e["data_sha256"]);

    let frame = CameraFrame::from_image(&image).unwrap_or_else(|err| panic!("{context}: {err}"));
    let encoding = match string(&e["encoding"]) {
        "rgb8" => PixelEncoding::Rgb8,
        "bgra8" => PixelEncoding::Bgra8,
        "mono16" => PixelEncoding::Mono16 { big_endian: false },
        other => panic!("{context}: test has no expectation for {other}"),
    };
    assert_eq!(frame.encoding, encoding, "{context}: frame encoding");
    assert_eq!(
        frame.stamp,
        expected_stamp_ns(&e["header"]),
        "{context}: stamp"
    );
    assert_eq!(frame.frame_id, string(&e["header"]["frame_id"]));
    assert_eq!((frame.width, frame.height), (image.width, image.height));
    assert_eq!(frame.step, image.step);
    let mut rows = Vec::new();
    for y in 0..frame.height {
        rows.extend_from_slice(frame.row(y));
    }
    assert_eq!(
        sha256_hex(&rows),
        string(&e["rows_sha256"]),
        "{context}: pixels without row padding"
    );
}

fn check_compressed(context: &str, data: &[u8], e: &Value, work: &Path) {
    let message = CompressedImage::decode(data).unwrap_or_else(|err| panic!("{context}: {err}"));
    check_header(context, &message.header, &e["header"]);
    assert_eq!(message.format, string(&e["format"]), "{context}: format");
    check_blob(context, message.data, &e["data_len"], &e["data_sha256"]);

    let mut decoder = CompressedDecoder::new();
    let frame = decoder
        .decode(&message)
        .unwrap_or_else(|err| panic!("{context}: {err}"));
    let d = &e["decoded"];
    assert_eq!(frame.width as u64, uint(&d["width"]), "{context}: width");
    assert_eq!(frame.height as u64, uint(&d["height"]), "{context}: height");
    let encoding = match string(&d["mode"]) {
        "RGB" => PixelEncoding::Rgb8,
        "L" => PixelEncoding::Mono8,
        other => panic!("{context}: test has no expectation for Pillow mode {other}"),
    };
    assert_eq!(frame.encoding, encoding, "{context}: decoded encoding");
    assert_eq!(
        frame.step as usize,
        frame.width as usize * encoding.bytes_per_pixel()
    );
    assert_eq!(
        frame.stamp,
        expected_stamp_ns(&e["header"]),
        "{context}: stamp"
    );
    assert_eq!(
        frame.pixels.len() as u64,
        uint(&d["pixels_len"]),
        "{context}: pixel bytes"
    );
    if let Some(sha) = d.get("pixels_sha256") {
        // Lossless: Lookout's pixels are exactly Pillow's.
        assert_eq!(
            sha256_hex(frame.pixels),
            string(sha),
            "{context}: decoded pixels"
        );
    } else {
        // JPEG: IDCT and chroma upsampling differ between decoders.
        let path = work.join(string(&d["pixels_bin"]));
        let pillow = std::fs::read(&path).unwrap();
        assert_eq!(pillow.len(), frame.pixels.len());
        let mut total = 0u64;
        let mut max = 0u8;
        for (a, b) in frame.pixels.iter().zip(&pillow) {
            let diff = a.abs_diff(*b);
            total += diff as u64;
            max = max.max(diff);
        }
        let mean = total as f64 / pillow.len() as f64;
        eprintln!("{context}: JPEG vs Pillow: mean abs diff {mean:.3}, max {max}");
        assert!(
            mean <= 2.0 && max <= 30,
            "{context}: JPEG pixels differ from Pillow's decode: mean abs diff {mean:.3} (limit 2), max {max} (limit 30)"
        );
    }
}

fn assert_floats_eq(context: &str, actual: &[f64], expected: &Value) {
    let expected: Vec<f64> = array(expected).iter().map(float_of).collect();
    assert_eq!(actual.len(), expected.len(), "{context}: length");
    for (i, (a, e)) in actual.iter().zip(&expected).enumerate() {
        assert_eq!(a.to_bits(), e.to_bits(), "{context}[{i}]: {a} != {e}");
    }
}

fn check_camera_info(context: &str, data: &[u8], e: &Value) {
    let info = CameraInfo::decode(data).unwrap_or_else(|err| panic!("{context}: {err}"));
    check_header(context, &info.header, &e["header"]);
    assert_eq!(info.height as u64, uint(&e["height"]), "{context}: height");
    assert_eq!(info.width as u64, uint(&e["width"]), "{context}: width");
    assert_eq!(info.distortion_model, string(&e["distortion_model"]));
    assert_floats_eq(&format!("{context}: d"), info.d(), &e["d"]);
    assert_floats_eq(&format!("{context}: k"), &info.k, &e["k"]);
    assert_floats_eq(&format!("{context}: r"), &info.r, &e["r"]);
    assert_floats_eq(&format!("{context}: p"), &info.p, &e["p"]);
    assert_eq!(info.binning_x as u64, uint(&e["binning_x"]), "{context}");
    assert_eq!(info.binning_y as u64, uint(&e["binning_y"]), "{context}");
    let roi = &e["roi"];
    assert_eq!(
        info.roi,
        RegionOfInterest {
            x_offset: uint(&roi["x_offset"]) as u32,
            y_offset: uint(&roi["y_offset"]) as u32,
            height: uint(&roi["height"]) as u32,
            width: uint(&roi["width"]) as u32,
            do_rectify: roi["do_rectify"].as_bool().unwrap(),
        },
        "{context}: roi"
    );
    let intrinsics =
        CameraIntrinsics::from_camera_info(&info).unwrap_or_else(|err| panic!("{context}: {err}"));
    assert_eq!(
        (intrinsics.fx, intrinsics.fy, intrinsics.cx, intrinsics.cy),
        (info.k[0], info.k[4], info.k[2], info.k[5])
    );
}

fn check_cloud(context: &str, data: &[u8], e: &Value) {
    let cloud = PointCloud2::decode(data).unwrap_or_else(|err| panic!("{context}: {err}"));
    check_header(context, &cloud.header, &e["header"]);
    assert_eq!(cloud.height as u64, uint(&e["height"]), "{context}: height");
    assert_eq!(cloud.width as u64, uint(&e["width"]), "{context}: width");
    let fields = array(&e["fields"]);
    assert_eq!(cloud.fields().len(), fields.len(), "{context}: fields");
    for (f, ef) in cloud.fields().iter().zip(fields) {
        assert_eq!(f.name, string(&ef["name"]), "{context}: field name");
        assert_eq!(
            f.offset as u64,
            uint(&ef["offset"]),
            "{context}: {}",
            f.name
        );
        assert_eq!(
            f.datatype as u64,
            uint(&ef["datatype"]),
            "{context}: {}",
            f.name
        );
        assert_eq!(f.count as u64, uint(&ef["count"]), "{context}: {}", f.name);
    }
    assert_eq!(Some(cloud.is_bigendian), e["is_bigendian"].as_bool());
    assert_eq!(cloud.point_step as u64, uint(&e["point_step"]), "{context}");
    assert_eq!(cloud.row_step as u64, uint(&e["row_step"]), "{context}");
    assert_eq!(Some(cloud.is_dense), e["is_dense"].as_bool(), "{context}");
    check_blob(context, cloud.data, &e["data_len"], &e["data_sha256"]);

    let mut scan = LidarScan::new();
    scan.fill_from(&cloud)
        .unwrap_or_else(|err| panic!("{context}: {err}"));
    assert_eq!(scan.stamp, expected_stamp_ns(&e["header"]), "{context}");
    assert_eq!(scan.frame_id, string(&e["header"]["frame_id"]));

    let points = &e["points"];
    let column = |name: &str| -> Option<Vec<f64>> {
        points
            .get(name)
            .map(|values| array(values).iter().map(float_of).collect())
    };
    let (x, y, z) = (
        column("x").unwrap(),
        column("y").unwrap(),
        column("z").unwrap(),
    );
    let intensity = column("intensity");
    let ring = column("ring");
    let time = column("time");
    assert_eq!(x.len(), cloud.len(), "{context}: expected point count");

    let mut kept = 0;
    let mut dropped = 0;
    for i in 0..cloud.len() {
        if !(x[i].is_finite() && y[i].is_finite() && z[i].is_finite()) {
            dropped += 1;
            continue;
        }
        let at = format!("{context}: point {i} (kept #{kept})");
        let same = |a: f32, e: f64| a.to_bits() == (e as f32).to_bits();
        assert!(kept < scan.len(), "{at}: missing from the scan");
        assert!(
            same(scan.x[kept], x[i]),
            "{at}: x {} != {}",
            scan.x[kept],
            x[i]
        );
        assert!(
            same(scan.y[kept], y[i]),
            "{at}: y {} != {}",
            scan.y[kept],
            y[i]
        );
        assert!(
            same(scan.z[kept], z[i]),
            "{at}: z {} != {}",
            scan.z[kept],
            z[i]
        );
        let expected_intensity = intensity.as_ref().map_or(0.0, |v| v[i]);
        assert!(
            same(scan.intensity[kept], expected_intensity),
            "{at}: intensity {} != {expected_intensity}",
            scan.intensity[kept]
        );
        if let Some(ring) = &ring {
            assert_eq!(scan.ring[kept] as f64, ring[i], "{at}: ring");
        }
        if let Some(time) = &time {
            assert!(
                same(scan.time[kept], time[i]),
                "{at}: time {} != {}",
                scan.time[kept],
                time[i]
            );
        }
        kept += 1;
    }
    assert_eq!(scan.len(), kept, "{context}: points kept");
    assert_eq!(
        scan.dropped_non_finite, dropped,
        "{context}: points dropped"
    );
    assert_eq!(scan.ring.len(), if ring.is_some() { kept } else { 0 });
    assert_eq!(scan.time.len(), if time.is_some() { kept } else { 0 });
}

fn lookout_reads_rosbags_bag(python: &Path, compression: &str) {
    let work = tempfile::tempdir().unwrap();
    let flag = format!("--compression={compression}");
    run_script(
        python,
        "write_rosbags.py",
        &[work.path().as_os_str(), OsStr::new(&flag)],
    );
    let expected = read_json(&work.path().join("expected.json"));
    let bag_path = work.path().join(string(&expected["bag"]));
    assert!(bag_path.join("metadata.yaml").is_file());

    let bag = Bag::open(&bag_path).unwrap();
    assert_eq!(bag.files().len(), 1);
    let topics = bag.topics().unwrap();
    let expected_topics = expected["topics"].as_object().unwrap();
    assert_eq!(topics.len(), expected_topics.len(), "{compression}: topics");
    for topic in &topics {
        let e = &expected_topics[&topic.topic];
        assert_eq!(topic.type_name, string(&e["type"]), "{}", topic.topic);
        assert_eq!(topic.encoding, "cdr", "{}", topic.topic);
        assert_eq!(topic.message_count, uint(&e["count"]), "{}", topic.topic);
    }

    let messages = read_all(&bag);
    let expected_messages = array(&expected["messages"]);
    // rosbags wrote the messages topic by topic; Lookout must hand them out
    // in log-time order across topics (the log times are unique).
    assert_log_time_order(compression, messages.iter().map(|m| m.log_time));
    let order: Vec<(String, u64)> = messages
        .iter()
        .map(|m| (m.topic.clone(), m.log_time))
        .collect();
    let expected_order: Vec<(String, u64)> = expected_messages
        .iter()
        .map(|e| (string(&e["topic"]).to_owned(), uint(&e["log_time"])))
        .collect();
    assert_eq!(order, expected_order, "{compression}: message order");

    let mut ingest = Ingest::new();
    for (m, e) in messages.iter().zip(expected_messages) {
        let context = format!("{compression} {} @{}", m.topic, m.log_time);
        assert_eq!(m.type_name, string(&e["type"]), "{context}");
        assert_eq!(m.encoding, "cdr", "{context}");
        match string(&e["kind"]) {
            "image" => check_image(&context, &m.data, e),
            "compressed_image" => check_compressed(&context, &m.data, e, work.path()),
            "camera_info" => check_camera_info(&context, &m.data, e),
            "point_cloud" => check_cloud(&context, &m.data, e),
            other => panic!("{context}: unknown kind {other}"),
        }
        // The replay path's entry point accepts every message too.
        let kind = InputKind::from_type_name(&m.type_name).unwrap();
        let (facts, frame_id) = ingest
            .ingest(kind, &m.data)
            .unwrap_or_else(|err| panic!("{context}: ingest: {err}"));
        assert_eq!(frame_id, string(&e["header"]["frame_id"]), "{context}");
        assert_eq!(facts.stamp, expected_stamp_ns(&e["header"]), "{context}");
    }
}

#[test]
fn lookout_reads_what_rosbags_writes() {
    let Some(python) = python("lookout_reads_what_rosbags_writes") else {
        return;
    };
    lookout_reads_rosbags_bag(&python, "none");
    lookout_reads_rosbags_bag(&python, "zstd");
}

// ------------------------------------- rosbags_reads_what_lookout_writes

/// One message Lookout writes, with the JSON rosbags must dump for it.
struct Written {
    topic: &'static str,
    type_name: &'static str,
    log_time: u64,
    cdr: Vec<u8>,
    json: Value,
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(31).wrapping_add(seed as u32 * 7) as u8)
        .collect()
}

fn header(stamp_ns: i64, frame_id: &str) -> Header<'_> {
    Header {
        stamp: Time::from_nanos(stamp_ns),
        frame_id,
    }
}

fn owned_header(stamp: Time, frame_id: &str) -> OwnedHeader {
    OwnedHeader {
        stamp,
        frame_id: frame_id.to_owned(),
    }
}

const T0: i64 = 1_700_000_000_000_000_000;
const MS: i64 = 1_000_000;

/// Every input and output type, with edge cases, in write order (not log-time order).
fn lookout_messages() -> Vec<Written> {
    let mut out = Vec::new();
    let mut push = |topic, type_name, log_time: i64, cdr: Vec<u8>, json: Value| {
        out.push(Written {
            topic,
            type_name,
            log_time: log_time as u64,
            cdr,
            json,
        })
    };

    // Images: rgb8 with a padded step, big-endian mono16, a stamp before 1970.
    let rgb = pattern(16 * 3, 1);
    let mono = pattern(4 * 2, 2);
    let bgr = pattern(2 * 6 * 2, 3);
    let images = [
        (
            T0 + 10 * MS,
            Image {
                header: header(T0, "camera"),
                height: 3,
                width: 5,
                encoding: "rgb8",
                is_bigendian: 0,
                step: 16,
                data: &rgb,
            },
        ),
        (
            T0 + 110 * MS,
            Image {
                header: header(T0 + 100 * MS - 1, "depth"),
                height: 2,
                width: 2,
                encoding: "mono16",
                is_bigendian: 1,
                step: 4,
                data: &mono,
            },
        ),
        (
            T0 + 210 * MS,
            Image {
                header: header(-1_500_000_000, ""),
                height: 2,
                width: 2,
                encoding: "bgr8",
                is_bigendian: 0,
                step: 12,
                data: &bgr,
            },
        ),
    ];
    for (log_time, m) in &images {
        push(
            "/camera/image_raw",
            Image::TYPE_NAME,
            *log_time,
            m.to_cdr(),
            image_json(m),
        );
    }

    // Compressed: image_transport format string, an empty payload.
    let jpeg = pattern(1000, 4);
    let compressed = [
        (
            T0 + 11 * MS,
            CompressedImage {
                header: header(T0 + MS, "camera"),
                format: "rgb8; jpeg compressed bgr8",
                data: &jpeg,
            },
        ),
        (
            T0 + 111 * MS,
            CompressedImage {
                header: header(0, "camera"),
                format: "",
                data: &[],
            },
        ),
    ];
    for (log_time, m) in &compressed {
        push(
            "/camera/image_raw/compressed",
            CompressedImage::TYPE_NAME,
            *log_time,
            m.to_cdr(),
            compressed_json(m),
        );
    }

    // Camera info: plumb_bob with binning and roi, rational_polynomial, no distortion.
    let k = [1001.5, 0.0, 640.25, 0.0, 1002.75, 360.125, 0.0, 0.0, 1.0];
    let r = [
        0.9999500004166653,
        -0.009999833334166664,
        0.0,
        0.009999833334166664,
        0.9999500004166653,
        0.0,
        0.0,
        0.0,
        1.0,
    ];
    let p = [
        998.0, 0.0, 641.5, -59.9, 0.0, 999.0, 361.5, 0.25, 0.0, 0.0, 1.0, 0.0,
    ];
    let mut plumb_bob = CameraInfo::new(
        header(T0 + 2 * MS, "camera"),
        1280,
        720,
        "plumb_bob",
        &[-0.28340811, 0.07395907, 0.00019359, 1.76187114e-05, -0.0102],
        k,
        r,
        p,
    )
    .unwrap();
    plumb_bob.binning_x = 2;
    plumb_bob.binning_y = 4;
    plumb_bob.roi = RegionOfInterest {
        x_offset: 16,
        y_offset: 8,
        height: 700,
        width: 1240,
        do_rectify: true,
    };
    let rational = CameraInfo::new(
        header(T0 + 102 * MS, "camera"),
        640,
        480,
        "rational_polynomial",
        &[
            0.1,
            -0.2,
            1e-300,
            -0.0,
            5e-324,
            f64::MAX,
            -f64::MIN_POSITIVE,
            0.3,
        ],
        k,
        r,
        p,
    )
    .unwrap();
    let none = CameraInfo::new(
        header(-1, "camera"),
        1,
        1,
        "",
        &[],
        [0.0; 9],
        [0.0; 9],
        [0.0; 12],
    )
    .unwrap();
    for (log_time, m) in [
        (T0 + 12 * MS, &plumb_bob),
        (T0 + 112 * MS, &rational),
        (T0 + 212 * MS, &none),
    ] {
        push(
            "/camera/camera_info",
            CameraInfo::TYPE_NAME,
            log_time,
            m.to_cdr(),
            camera_info_json(m),
        );
    }

    // Point clouds: Velodyne-like padded points; organized float64 with row
    // padding, big-endian flag; an empty cloud.
    let f = |name, offset, datatype| PointField {
        name,
        offset,
        datatype,
        count: 1,
    };
    let velodyne_fields = [
        f("x", 0, PointFieldType::F32),
        f("y", 4, PointFieldType::F32),
        f("z", 8, PointFieldType::F32),
        f("intensity", 12, PointFieldType::U8),
        f("ring", 14, PointFieldType::U16),
        f("time", 16, PointFieldType::F32),
    ];
    let organized_fields = [
        f("x", 0, PointFieldType::F64),
        f("y", 8, PointFieldType::F64),
        f("z", 16, PointFieldType::F64),
        f("intensity", 24, PointFieldType::F32),
        PointField {
            name: "rgb",
            offset: 28,
            datatype: PointFieldType::I8,
            count: 4,
        },
    ];
    let velodyne_data = pattern(24 * 10, 5);
    let organized_data = pattern(2 * (3 * 32 + 16), 6);
    let velodyne = PointCloud2::new(
        header(T0 + 3 * MS, "lidar"),
        1,
        10,
        &velodyne_fields,
        false,
        24,
        240,
        &velodyne_data,
        false,
    )
    .unwrap();
    let organized = PointCloud2::new(
        header(T0 + 103 * MS, "lidar_organized"),
        2,
        3,
        &organized_fields,
        true,
        32,
        3 * 32 + 16,
        &organized_data,
        true,
    )
    .unwrap();
    let empty = PointCloud2::new(
        header(T0 + 203 * MS, "lidar"),
        0,
        0,
        &[],
        false,
        0,
        0,
        &[],
        true,
    )
    .unwrap();
    for (log_time, m) in [
        (T0 + 13 * MS, &velodyne),
        (T0 + 113 * MS, &organized),
        (T0 + 213 * MS, &empty),
    ] {
        push(
            "/lidar/points",
            PointCloud2::TYPE_NAME,
            log_time,
            m.to_cdr(),
            cloud_json(m),
        );
    }

    // Obstacles: NaN and infinite floats, extreme and negative values,
    // negative and extreme stamps, non-ASCII and empty labels, every source.
    let car = Obstacle {
        id: 4,
        label: "car".into(),
        score: 0.1,
        source: ObstacleSource::Lidar,
        center: [10.0, -2.0, 0.8],
        size: [4.5, 1.9, 1.6],
        yaw: 0.1,
        velocity: [5.0, -0.0, 0.0],
        point_count: 120,
        nearest_distance: 8.5,
        lidar_stamp: Time::from_nanos(T0 + 4 * MS),
        camera_stamp: Time::from_nanos(T0 + 3 * MS + 1),
        latency: 0.0425,
        track_age: 1.25,
        position_covariance: [0.04, -0.01, -0.01, 0.09],
    };
    let unknown_distance = Obstacle {
        id: 5,
        label: "Fußgänger 🚶".into(),
        score: f32::INFINITY,
        source: ObstacleSource::Camera,
        center: [f64::MAX, -f64::MIN_POSITIVE, 5e-324],
        size: [0.0, 1e-300, 1e300],
        yaw: -std::f64::consts::PI,
        velocity: [f64::NAN, f64::NEG_INFINITY, f64::INFINITY],
        point_count: 0,
        nearest_distance: f32::NAN,
        lidar_stamp: Time::from_nanos(-1),
        camera_stamp: Time {
            sec: i32::MIN,
            nanosec: 0,
        },
        latency: f32::NAN,
        track_age: 0.0,
        position_covariance: [-1.0, 0.0, 0.0, 0.0],
    };
    let extreme = Obstacle {
        id: u32::MAX,
        label: String::new(),
        score: -0.0,
        source: ObstacleSource::Fused,
        center: [-1.5, 2.25, -3.125],
        size: [f64::EPSILON, 1.0 / 3.0, 2.0f64.sqrt()],
        yaw: 3.0,
        velocity: [1e-7, -1e7, 123_456_789.0 + 0.123_456_789],
        point_count: u32::MAX,
        nearest_distance: f32::MIN_POSITIVE,
        lidar_stamp: Time {
            sec: i32::MAX,
            nanosec: 999_999_999,
        },
        camera_stamp: Time::default(),
        latency: -0.0,
        track_age: f32::MAX,
        position_covariance: [f32::NAN, f32::INFINITY, f32::MIN_POSITIVE, -0.0],
    };
    let truth = Obstacle {
        id: 9,
        label: "truck \"quoted\"\n\ttabbed".into(),
        source: ObstacleSource::GroundTruth,
        nearest_distance: f32::NEG_INFINITY,
        score: f32::MAX,
        ..car.clone()
    };
    let arrays = [
        (
            T0 + 14 * MS,
            ObstacleArray {
                header: owned_header(Time::from_nanos(T0 + 4 * MS), "lidar"),
                obstacles: vec![car, unknown_distance, extreme, truth],
                degraded: false,
                late: true,
            },
        ),
        (
            T0 + 114 * MS,
            ObstacleArray {
                header: owned_header(Time::from_nanos(-1_500_000_000), ""),
                obstacles: vec![],
                degraded: true,
                late: false,
            },
        ),
    ];
    for (log_time, m) in &arrays {
        push(
            "/lookout/obstacles",
            ObstacleArray::TYPE_NAME,
            *log_time,
            m.to_cdr(),
            obstacle_array_json(m),
        );
    }
    // A second topic of the same type (one schema, two channels).
    let truth_array = ObstacleArray {
        header: owned_header(Time::from_nanos(T0), "map"),
        obstacles: vec![arrays[0].1.obstacles[3].clone()],
        degraded: false,
        late: false,
    };
    push(
        "/ground_truth/obstacles",
        ObstacleArray::TYPE_NAME,
        T0 + 15 * MS,
        truth_array.to_cdr(),
        obstacle_array_json(&truth_array),
    );

    let reports = [
        FrameReport {
            header: owned_header(Time::from_nanos(T0), "camera"),
            topic: "/camera/image_raw".into(),
            message_type: "sensor_msgs/msg/Image".into(),
            accepted: true,
            width: 1280,
            height: 720,
            ..FrameReport::default()
        },
        FrameReport {
            header: owned_header(Time::default(), ""),
            topic: "/lidar/points".into(),
            message_type: "sensor_msgs/msg/PointCloud2".into(),
            accepted: false,
            reject_reason: "truncated".into(),
            detail:
                "PointCloud2.data: truncated: needs 4 bytes at payload offset 120, 1 left — «é»"
                    .into(),
            width: u32::MAX,
            height: 0,
            point_count: u32::MAX,
        },
    ];
    for (i, m) in reports.iter().enumerate() {
        push(
            "/lookout/frame_reports",
            FrameReport::TYPE_NAME,
            T0 + 16 * MS + i as i64 * 100 * MS,
            m.to_cdr(),
            frame_report_json(m),
        );
    }

    let sensor = |name: &str, base: f64, count: u64| SensorStatus {
        sensor: name.into(),
        stage_ms: [base, base * 1.5, base * 2.0, base * 2.5, base * 3.0],
        end_to_end_ms: [base * 4.0, 0.0, f64::NAN, f64::INFINITY, 1e300],
        received: count,
        started: count - 1,
        published: count - 2,
        superseded: 3,
        stale: 0,
        infeasible: u64::MAX,
        late: 1,
        errors: 2,
        consecutive_misses: u32::MAX,
        variant: count as u8 % 3,
        variant_started: (0..count % 4)
            .map(|i| i * 7 + u64::from(count > 25))
            .collect(),
    };
    let statuses = [
        PipelineStatus {
            header: owned_header(Time::from_nanos(T0 + 500 * MS), ""),
            health: 0,
            reason: "all deadlines met".into(),
            degraded: false,
            sensors: vec![sensor("camera", 41.5, 30), sensor("lidar", 3.25, 20)],
        },
        PipelineStatus {
            header: owned_header(Time::from_nanos(T0 + 510 * MS), "lookout"),
            health: 2,
            reason: "camera stage stalled: 260 ms past its frame's deadline — «é»".into(),
            degraded: true,
            sensors: vec![],
        },
    ];
    for (i, m) in statuses.iter().enumerate() {
        push(
            "/lookout/status",
            PipelineStatus::TYPE_NAME,
            T0 + 500 * MS + i as i64 * 10 * MS,
            m.to_cdr(),
            pipeline_status_json(m),
        );
    }
    out
}

/// The field lists Lookout's own types must have once rosbags parses their
/// schema text (names and types as in `lookout_msgs/msg/*.msg`).
fn expected_lookout_types() -> Value {
    json!({
        "lookout_msgs/msg/Obstacle": {
            "fields": [
                ["id", "uint32"],
                ["label", "string"],
                ["score", "float32"],
                ["source", "uint8"],
                ["center", "geometry_msgs/msg/Point"],
                ["size", "geometry_msgs/msg/Vector3"],
                ["yaw", "float64"],
                ["velocity", "geometry_msgs/msg/Vector3"],
                ["point_count", "uint32"],
                ["nearest_distance", "float32"],
                ["lidar_stamp", "builtin_interfaces/msg/Time"],
                ["camera_stamp", "builtin_interfaces/msg/Time"],
                ["latency", "float32"],
                ["track_age", "float32"],
                ["position_covariance", "float32[4]"],
            ],
            "constants": {
                "SOURCE_LIDAR": ["uint8", ObstacleSource::Lidar as u8],
                "SOURCE_CAMERA": ["uint8", ObstacleSource::Camera as u8],
                "SOURCE_FUSED": ["uint8", ObstacleSource::Fused as u8],
                "SOURCE_GROUND_TRUTH": ["uint8", ObstacleSource::GroundTruth as u8],
            },
        },
        "lookout_msgs/msg/ObstacleArray": {
            "fields": [
                ["header", "std_msgs/msg/Header"],
                ["obstacles", "lookout_msgs/msg/Obstacle[]"],
                ["degraded", "bool"],
                ["late", "bool"],
            ],
            "constants": {},
        },
        "lookout_msgs/msg/FrameReport": {
            "fields": [
                ["header", "std_msgs/msg/Header"],
                ["topic", "string"],
                ["message_type", "string"],
                ["accepted", "bool"],
                ["reject_reason", "string"],
                ["detail", "string"],
                ["width", "uint32"],
                ["height", "uint32"],
                ["point_count", "uint32"],
            ],
            "constants": {},
        },
        "lookout_msgs/msg/SensorStatus": {
            "fields": [
                ["sensor", "string"],
                ["stage_p50_ms", "float64"],
                ["stage_p90_ms", "float64"],
                ["stage_p99_ms", "float64"],
                ["stage_p999_ms", "float64"],
                ["stage_max_ms", "float64"],
                ["end_to_end_p50_ms", "float64"],
                ["end_to_end_p90_ms", "float64"],
                ["end_to_end_p99_ms", "float64"],
                ["end_to_end_p999_ms", "float64"],
                ["end_to_end_max_ms", "float64"],
                ["received", "uint64"],
                ["started", "uint64"],
                ["published", "uint64"],
                ["superseded", "uint64"],
                ["stale", "uint64"],
                ["infeasible", "uint64"],
                ["late", "uint64"],
                ["errors", "uint64"],
                ["consecutive_misses", "uint32"],
                ["variant", "uint8"],
                ["variant_started", "uint64[]"],
            ],
            "constants": {},
        },
        "lookout_msgs/msg/PipelineStatus": {
            "fields": [
                ["header", "std_msgs/msg/Header"],
                ["health", "uint8"],
                ["reason", "string"],
                ["degraded", "bool"],
                ["sensors", "lookout_msgs/msg/SensorStatus[]"],
            ],
            "constants": {
                "OK": ["uint8", 0],
                "WARN": ["uint8", 1],
                "ERROR": ["uint8", 2],
            },
        },
        "geometry_msgs/msg/Point": {
            "fields": [["x", "float64"], ["y", "float64"], ["z", "float64"]],
            "constants": {},
        },
        "geometry_msgs/msg/Vector3": {
            "fields": [["x", "float64"], ["y", "float64"], ["z", "float64"]],
            "constants": {},
        },
        "std_msgs/msg/Header": {
            "fields": [["stamp", "builtin_interfaces/msg/Time"], ["frame_id", "string"]],
            "constants": {},
        },
        "builtin_interfaces/msg/Time": {
            "fields": [["sec", "int32"], ["nanosec", "uint32"]],
            "constants": {},
        },
    })
}

/// Checks a rosbags dump of a bag Lookout wrote against what Lookout wrote:
/// the same topics, types and counts, and per topic the same messages (log
/// time and every field) in the same order.
fn check_dump_against(context: &str, dump: &Value, written: &[(String, String, u64, Value)]) {
    // Topics, types and counts.
    let mut expected_connections: BTreeMap<String, (String, u64)> = BTreeMap::new();
    for (topic, type_name, _, _) in written {
        expected_connections
            .entry(topic.clone())
            .or_insert_with(|| (type_name.clone(), 0))
            .1 += 1;
    }
    let connections: BTreeMap<String, (String, u64)> = array(&dump["connections"])
        .iter()
        .map(|c| {
            (
                string(&c["topic"]).to_owned(),
                (string(&c["msgtype"]).to_owned(), uint(&c["msgcount"])),
            )
        })
        .collect();
    assert_eq!(connections, expected_connections, "{context}: connections");

    // rosbags yields messages in log-time order across topics.
    let messages = array(&dump["messages"]);
    assert_eq!(messages.len(), written.len(), "{context}: message count");
    assert_log_time_order(context, messages.iter().map(|m| uint(&m["log_time"])));

    let by_topic = dump_by_topic(dump);
    let mut expected_by_topic: BTreeMap<&str, Vec<&(String, String, u64, Value)>> = BTreeMap::new();
    for w in written {
        expected_by_topic.entry(&w.0).or_default().push(w);
    }
    for (topic, expected) in &expected_by_topic {
        let actual = by_topic
            .get(*topic)
            .unwrap_or_else(|| panic!("{context}: rosbags lists no messages on {topic}"));
        assert_eq!(actual.len(), expected.len(), "{context}: {topic} count");
        for (a, (_, type_name, log_time, json)) in actual.iter().zip(expected) {
            let at = format!("{context}: {topic} @{log_time}");
            assert_eq!(string(&a["msgtype"]), type_name, "{at}");
            assert_eq!(uint(&a["log_time"]), *log_time, "{at}");
            assert_json_eq(&at, &a["msg"], json);
        }
    }
}

fn rosbags_reads_lookout_bag(python: &Path, compression: Compression, chunk_size: u64) {
    let work = tempfile::tempdir().unwrap();
    let context = format!("{compression:?} (chunk size {chunk_size})");
    let path = work
        .path()
        .join(format!("lookout_{compression:?}.mcap").to_lowercase());
    let messages = lookout_messages();
    let mut writer = BagWriter::create(
        &path,
        WriterOptions {
            compression,
            chunk_size,
        },
    )
    .unwrap();
    let mut topics = BTreeMap::new();
    for m in &messages {
        if !topics.contains_key(m.topic) {
            let id = writer.add_topic(m.topic, m.type_name).unwrap();
            topics.insert(m.topic, id);
        }
    }
    for m in &messages {
        writer
            .write_raw(topics[m.topic], m.log_time, &m.cdr)
            .unwrap();
    }
    writer.finish().unwrap();

    let written: Vec<(String, String, u64, Value)> = messages
        .iter()
        .map(|m| {
            (
                m.topic.to_owned(),
                m.type_name.to_owned(),
                m.log_time,
                m.json.clone(),
            )
        })
        .collect();
    let dump = rosbags_dump(python, &path, work.path());
    check_dump_against(&context, &dump, &written);

    // rosbags parsed Lookout's schema texts into the intended types.
    let types = dump["types"].as_object().unwrap();
    for (name, expected) in expected_lookout_types().as_object().unwrap() {
        let actual = types
            .get(name)
            .unwrap_or_else(|| panic!("{context}: rosbags did not register {name}"));
        assert_json_eq(&format!("{context}: type {name}"), actual, expected);
    }

    // And Lookout reads its own file back to the same values.
    let stored = read_all(&Bag::open(&path).unwrap());
    let own: Vec<(String, String, u64, Value)> = stored
        .iter()
        .map(|m| {
            (
                m.topic.clone(),
                m.type_name.clone(),
                m.log_time,
                lookout_json(&m.type_name, &m.data),
            )
        })
        .collect();
    let mut own_sorted = own.clone();
    let mut written_sorted = written.clone();
    own_sorted.sort_by_key(|w| w.2);
    written_sorted.sort_by_key(|w| w.2);
    for (a, e) in own_sorted.iter().zip(&written_sorted) {
        assert_eq!((&a.0, &a.1, a.2), (&e.0, &e.1, e.2), "{context}");
        assert_json_eq(&format!("{context}: Lookout re-read {}", a.0), &a.3, &e.3);
    }
    assert_eq!(own.len(), written.len());
}

#[test]
fn rosbags_reads_what_lookout_writes() {
    let Some(python) = python("rosbags_reads_what_lookout_writes") else {
        return;
    };
    // Small chunks for two of them: messages then span several chunks.
    rosbags_reads_lookout_bag(
        &python,
        Compression::Zstd,
        WriterOptions::default().chunk_size,
    );
    rosbags_reads_lookout_bag(&python, Compression::Lz4, 2048);
    rosbags_reads_lookout_bag(&python, Compression::None, 512);
}

// ------------------------------------------- rosbags_reads_a_synth_scene

fn synth_scene(python: &Path, camera_format: CameraFormat, compression: Compression) {
    let work = tempfile::tempdir().unwrap();
    let context = format!("synth {camera_format:?} {compression:?}");
    let path = work.path().join("scene.mcap");
    let options = SynthOptions {
        seconds: 0.3,
        seed: 11,
        camera: CameraSpec {
            width: 160,
            height: 90,
            fx: 125.0,
            fy: 125.0,
            cx: 80.0,
            cy: 45.0,
            ..CameraSpec::default()
        },
        lidar: LidarSpec {
            beams: 16,
            azimuth_steps: 360,
            ..LidarSpec::default()
        },
        camera_format,
        compression,
        ..SynthOptions::default()
    };
    let summary = synth::synthesize(&path, &options).unwrap();
    assert!(
        summary.camera_frames >= 4 && summary.lidar_scans >= 3,
        "{summary:?}"
    );

    let bag = Bag::open(&path).unwrap();
    let stored = read_all(&bag);
    let dump = rosbags_dump(python, &path, work.path());

    // Every topic, its type and its count agree with Lookout's own reader.
    let lookout_topics: BTreeMap<String, (String, u64)> = bag
        .topics()
        .unwrap()
        .into_iter()
        .map(|t| (t.topic, (t.type_name, t.message_count)))
        .collect();
    let camera_topic = match camera_format {
        CameraFormat::Raw => synth::CAMERA_TOPIC,
        _ => synth::COMPRESSED_TOPIC,
    };
    for topic in [
        camera_topic,
        synth::CAMERA_INFO_TOPIC,
        synth::LIDAR_TOPIC,
        synth::TRUTH_TOPIC,
    ] {
        assert!(lookout_topics.contains_key(topic), "{context}: no {topic}");
    }
    assert_eq!(
        lookout_topics[camera_topic].1, summary.camera_frames,
        "{context}"
    );
    assert_eq!(
        lookout_topics[synth::LIDAR_TOPIC].1,
        summary.lidar_scans,
        "{context}"
    );

    // Every message: rosbags decodes it to exactly what Lookout decodes.
    let written: Vec<(String, String, u64, Value)> = stored
        .iter()
        .map(|m| {
            (
                m.topic.clone(),
                m.type_name.clone(),
                m.log_time,
                lookout_json(&m.type_name, &m.data),
            )
        })
        .collect();
    check_dump_against(&context, &dump, &written);

    // A few fields, spelled out.
    let by_topic = dump_by_topic(&dump);
    let truth = &by_topic[synth::TRUTH_TOPIC];
    let points = &by_topic[synth::LIDAR_TOPIC];
    assert_eq!(truth.len(), points.len());
    let mut obstacles = 0;
    for (t, p) in truth.iter().zip(points) {
        assert_eq!(t["msg"]["header"], p["msg"]["header"], "{context}");
        assert_eq!(
            string(&p["msg"]["header"]["frame_id"]),
            options.lidar.frame_id
        );
        for o in array(&t["msg"]["obstacles"]) {
            assert_eq!(uint(&o["source"]), ObstacleSource::GroundTruth as u64);
            obstacles += 1;
        }
    }
    assert_eq!(obstacles, summary.truth_obstacles, "{context}");
    let total_points: u64 = points
        .iter()
        .map(|p| uint(&p["msg"]["width"]) * uint(&p["msg"]["height"]))
        .sum();
    assert_eq!(total_points, summary.lidar_points, "{context}");
    for c in &by_topic[camera_topic] {
        assert_eq!(
            string(&c["msg"]["header"]["frame_id"]),
            options.camera.frame_id
        );
        if camera_format == CameraFormat::Raw {
            assert_eq!(uint(&c["msg"]["width"]), options.camera.width as u64);
            assert_eq!(uint(&c["msg"]["height"]), options.camera.height as u64);
            assert_eq!(string(&c["msg"]["encoding"]), "rgb8");
        }
    }
}

#[test]
fn rosbags_reads_a_synth_scene() {
    let Some(python) = python("rosbags_reads_a_synth_scene") else {
        return;
    };
    synth_scene(&python, CameraFormat::Raw, Compression::Zstd);
    synth_scene(&python, CameraFormat::Jpeg, Compression::Lz4);
}
