//! The output formats other stacks read (`output.formats`): a replay writes
//! each of them, rosbags decodes every type from the definitions in the
//! file alone, those definitions are the upstream packages' (field by
//! field), and every format carries the same obstacles as the
//! `lookout_msgs` output of the same run.
//!
//! Python (`$LOOKOUT_PYTHON` with rosbags; see `tests/rosbags_interop.rs`)
//! does the decoding; without it the test prints SKIPPED, unless
//! `LOOKOUT_REQUIRE_PYTHON=1`.

mod common;

use lookout::bag::Bag;
use lookout::msg::ObstacleArray;
use lookout::msg::autoware::{ShapeKind, label, track_uuid};
use lookout::obstacle::ObstacleClass;
use lookout::output::{OutputConfig, OutputFormat};
use lookout::replay::{ScheduledReplayOptions, replay_scheduled};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::Path;
use std::process::Command;

fn run(python: &Path, script: &str, args: &[&Path]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop")
        .join(script);
    let out = Command::new(python)
        .arg(&script)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{} failed:\n{stdout}\n{}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn xyz(v: &Value) -> [f64; 3] {
    [f(&v["x"]), f(&v["y"]), f(&v["z"])]
}

fn stamp_ns(header: &Value) -> i64 {
    header["stamp"]["sec"].as_i64().unwrap() * 1_000_000_000
        + header["stamp"]["nanosec"].as_i64().unwrap()
}

fn close(a: [f64; 3], b: [f64; 3], tolerance: f64) -> bool {
    a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tolerance)
}

/// The messages of one topic of a rosbags dump, by header stamp.
fn by_stamp<'a>(dump: &'a Value, topic: &str) -> BTreeMap<i64, &'a Value> {
    dump["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["topic"] == topic)
        .map(|m| (stamp_ns(&m["msg"]["header"]), &m["msg"]))
        .collect()
}

/// A synthetic scene of `seconds` replayed in lockstep with `output`;
/// with `detector`, its camera (320 x 180) runs the synthetic detector,
/// else it is a tiny one nobody looks at. Returns the scene's and the
/// output's paths.
fn scene_and_replay(
    dir: &Path,
    seconds: f64,
    seed: u64,
    output: OutputConfig,
    detector: bool,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let scene = dir.join("scene.mcap");
    let mut synth = common::small_scene_options(seconds, seed);
    if !detector {
        synth.camera = common::tiny_camera();
    }
    lookout::synth::synthesize(&scene, &synth).unwrap();
    let out = dir.join("out.mcap");
    let camera = detector.then(|| {
        let spec = lookout::camera::spec::ModelSpec::load(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("models/synthetic-det.yaml"),
        )
        .unwrap();
        (spec, lookout::camera::engine::EngineOptions::default())
    });
    let options = ScheduledReplayOptions {
        output,
        camera,
        out: Some(out.clone()),
        ..common::lockstep_options()
    };
    replay_scheduled(&Bag::open(&scene).unwrap(), &options).unwrap();
    (scene, out)
}

/// Checks that the definitions in `out` are the upstream packages' (the
/// `upstream` types among them, by name) and returns rosbags' dump of
/// every message, decoded with those definitions alone.
fn upstream_checked_dump(python: &Path, dir: &Path, out: &Path, upstream: &[&str]) -> Value {
    let interfaces = Path::new(env!("CARGO_MANIFEST_DIR")).join("interfaces");
    let checked = run(python, "check_output_types.py", &[out, &interfaces]);
    for t in upstream {
        assert!(
            checked.contains(&format!("{t}: same as upstream")),
            "{t} not checked:\n{checked}"
        );
    }
    let dump_path = dir.join("out.json");
    run(python, "read_rosbags.py", &[out, &dump_path]);
    serde_json::from_str(&std::fs::read_to_string(&dump_path).unwrap()).unwrap()
}

#[test]
fn every_format_decodes_from_the_file_and_carries_the_same_obstacles() {
    let Some(python) = common::python(
        "every_format_decodes_from_the_file_and_carries_the_same_obstacles",
        "rosbags, numpy",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let output = OutputConfig {
        formats: OutputFormat::ALL.to_vec(),
        autoware_shape: ShapeKind::Polygon,
        ..OutputConfig::default()
    };
    let (_, out) = scene_and_replay(dir.path(), 3.0, 21, output, false);

    // The definitions in the file are the upstream packages', and rosbags
    // decodes every message with them alone.
    let upstream = [
        "vision_msgs/msg/Detection3D",
        "autoware_perception_msgs/msg/DetectedObjectKinematics",
        "autoware_perception_msgs/msg/TrackedObject",
        "geometry_msgs/msg/Polygon",
        "unique_identifier_msgs/msg/UUID",
        "foxglove_msgs/msg/SceneEntity",
        "foxglove_msgs/msg/TextPrimitive",
        "builtin_interfaces/msg/Duration",
    ];
    let dump = upstream_checked_dump(&python, dir.path(), &out, &upstream);
    let detections = by_stamp(&dump, "/lookout/detections_3d");
    let objects = by_stamp(&dump, "/lookout/objects");
    let tracked = by_stamp(&dump, "/lookout/tracked_objects");
    // A SceneUpdate has no header: its entities carry the stamp and frame.
    let scenes: Vec<&Value> = dump["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["topic"] == "/lookout/scene")
        .map(|m| &m["msg"])
        .collect();

    let mut arrays = Vec::new();
    Bag::open(&out)
        .unwrap()
        .read_messages(None, |m| {
            if m.topic == "/lookout/obstacles" {
                arrays.push(ObstacleArray::decode(m.data).unwrap());
            }
            ControlFlow::Continue(())
        })
        .unwrap();
    assert!(arrays.len() >= 25, "{} outputs", arrays.len());
    for map in [&detections, &objects, &tracked] {
        assert_eq!(map.len(), arrays.len());
    }
    assert_eq!(scenes.len(), arrays.len());
    let (mut compared, mut tracks) = (0, 0);
    for (array, scene) in arrays.iter().zip(&scenes) {
        let stamp = array.header.stamp.as_nanos();
        // Foxglove: every earlier entity deleted, then a box per obstacle.
        assert_eq!(scene["deletions"][0]["type"], 1);
        let entities = scene["entities"].as_array().unwrap();
        assert_eq!(entities.len(), array.obstacles.len(), "at {stamp}");
        for (e, obstacle) in entities.iter().zip(&array.obstacles) {
            assert_eq!(
                stamp_ns(&serde_json::json!({"stamp": e["timestamp"]})),
                stamp
            );
            assert_eq!(e["frame_id"], array.header.frame_id.as_str());
            assert!(close(
                xyz(&e["cubes"][0]["pose"]["position"]),
                obstacle.center,
                1e-3
            ));
            assert!(close(xyz(&e["cubes"][0]["size"]), obstacle.size, 1e-3));
            assert_eq!(e["metadata"][0]["value"], obstacle.label.as_str());
            if obstacle.position_covariance[0] >= 0.0 {
                assert_eq!(e["id"], format!("track-{}", obstacle.id).as_str());
            }
            let label = e["texts"][0]["text"].as_str().unwrap();
            assert!(label.starts_with(obstacle.label.as_str()), "{label}");
        }
        let d = detections[&stamp]["detections"].as_array().unwrap();
        let o = objects[&stamp]["objects"].as_array().unwrap();
        let t = tracked[&stamp]["objects"].as_array().unwrap();
        assert_eq!(d.len(), array.obstacles.len(), "at {stamp}");
        assert_eq!(o.len(), array.obstacles.len(), "at {stamp}");
        let mut expected_tracks = 0;
        for ((obstacle, d), o) in array.obstacles.iter().zip(d).zip(o) {
            let class = ObstacleClass::from_label(&obstacle.label);
            // vision_msgs: centre, size, class, score, track id.
            let hypothesis = &d["results"][0];
            assert_eq!(
                hypothesis["hypothesis"]["class_id"],
                obstacle.label.as_str()
            );
            assert!(
                (f(&hypothesis["hypothesis"]["score"]) - f64::from(obstacle.score)).abs() < 1e-6
            );
            assert!(close(
                xyz(&d["bbox"]["center"]["position"]),
                obstacle.center,
                1e-3
            ));
            assert!(close(
                xyz(&hypothesis["pose"]["pose"]["position"]),
                obstacle.center,
                1e-3
            ));
            assert!(close(xyz(&d["bbox"]["size"]), obstacle.size, 1e-3));
            let id = if obstacle.position_covariance[0] >= 0.0 {
                obstacle.id.to_string()
            } else {
                String::new()
            };
            assert_eq!(d["id"], id.as_str());
            // Autoware: centre, class, dimensions, footprint about the centre.
            let pose = &o["kinematics"]["pose_with_covariance"]["pose"];
            assert!(close(xyz(&pose["position"]), obstacle.center, 1e-3));
            assert_eq!(o["classification"][0]["label"], u64::from(label(class)));
            assert!(close(xyz(&o["shape"]["dimensions"]), obstacle.size, 1e-3));
            let points = o["shape"]["footprint"]["points"].as_array().unwrap();
            if o["shape"]["type"] == 2 {
                let half = 0.5 * obstacle.size[0].hypot(obstacle.size[1]) + 0.5;
                for p in points {
                    assert!(
                        f(&p["x"]).hypot(f(&p["y"])) <= half,
                        "{p} outside {obstacle:?}"
                    );
                }
            }
            let velocity_known = o["kinematics"]["has_twist"] == true;
            expected_tracks += usize::from(velocity_known);
            if velocity_known {
                let twist = xyz(&o["kinematics"]["twist_with_covariance"]["twist"]["linear"]);
                let speed = obstacle.velocity[0].hypot(obstacle.velocity[1]);
                assert!((twist[0].hypot(twist[1]) - speed).abs() < 1e-3);
            }
            compared += 1;
        }
        // Autoware's tracked objects: the tracks with a velocity, by UUID.
        assert_eq!(t.len(), expected_tracks, "at {stamp}");
        for object in t {
            let position = xyz(&object["kinematics"]["pose_with_covariance"]["pose"]["position"]);
            let owner = array
                .obstacles
                .iter()
                .find(|o| close(o.center, position, 1e-3))
                .expect("a tracked object is one of the obstacles");
            let uuid = hex::encode(Sha256::digest(track_uuid(owner.id)));
            assert_eq!(object["object_id"]["uuid"]["sha256"], uuid.as_str());
            tracks += 1;
        }
    }
    assert!(
        compared > 100 && tracks > 50,
        "{compared} obstacles, {tracks} tracked"
    );
}

/// The committed Foxglove layout (`foxglove/lookout-layout.json`) names
/// only topics that a synthetic scene and its replay (every format on)
/// have, and its plots only fields their message types define.
#[test]
fn the_foxglove_layout_names_topics_and_fields_that_exist() {
    let layout: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("foxglove/lookout-layout.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let output = OutputConfig {
        formats: vec![OutputFormat::Lookout, OutputFormat::Foxglove],
        ..OutputConfig::default()
    };
    let (scene, out) = scene_and_replay(dir.path(), 0.5, 3, output, true);
    let mut types = BTreeMap::new();
    for path in [&scene, &out] {
        for topic in Bag::open(path).unwrap().topics().unwrap() {
            types.insert(topic.topic.clone(), topic.type_name.clone());
        }
    }

    let panels = layout["configById"].as_object().unwrap();
    let mut named = Vec::new();
    for panel in panels.values() {
        if let Some(topics) = panel["topics"].as_object() {
            named.extend(topics.keys().cloned());
        }
        for key in ["imageTopic", "calibrationTopic"] {
            if let Some(topic) = panel["imageMode"][key].as_str() {
                named.push(topic.to_owned());
            }
        }
        if let Some(annotations) = panel["imageMode"]["annotations"].as_object() {
            named.extend(annotations.keys().cloned());
        }
    }
    // Hidden by default: the RViz markers the node publishes (not replay).
    named.retain(|t| t != "/lookout/markers");
    for topic in &named {
        assert!(types.contains_key(topic), "{topic} is in no bag: {types:?}");
    }
    let mut plotted = 0;
    for panel in panels.values() {
        for path in panel["paths"].as_array().into_iter().flatten() {
            let value = path["value"].as_str().unwrap();
            let (topic, fields) = value.split_at(value.find('.').unwrap());
            let schema = lookout::msg::defs::schema_text(&types[topic]);
            for field in fields
                .split(['.', '[', ']', '{', '}', ':', '='])
                .filter(|f| f.starts_with(|c: char| c.is_ascii_lowercase()))
                .filter(|f| !f.starts_with('"'))
            {
                let defined = schema
                    .lines()
                    .any(|line| line.split_whitespace().nth(1) == Some(field));
                assert!(defined, "{value}: no field {field} in {}", types[topic]);
                plotted += 1;
            }
        }
    }
    assert!(
        plotted >= 10 && named.len() >= 4,
        "{plotted} fields, {named:?}"
    );
}

/// With a detector, each camera frame's detections go out in the 2D forms
/// of the formats: vision_msgs `Detection2DArray` and Foxglove
/// `ImageAnnotations`, stamped and framed as the image, one box each, the
/// same boxes in both, decoded by rosbags from the file's schemas.
#[test]
fn camera_detections_go_out_as_vision_msgs_and_foxglove_annotations() {
    let Some(python) = common::python(
        "camera_detections_go_out_as_vision_msgs_and_foxglove_annotations",
        "rosbags, numpy",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let output = OutputConfig {
        formats: vec![
            OutputFormat::Lookout,
            OutputFormat::VisionMsgs,
            OutputFormat::Foxglove,
        ],
        ..OutputConfig::default()
    };
    let (scene, out) = scene_and_replay(dir.path(), 1.0, 7, output, true);
    let upstream = [
        "vision_msgs/msg/Detection2D",
        "vision_msgs/msg/BoundingBox2D",
        "foxglove_msgs/msg/PointsAnnotation",
        "foxglove_msgs/msg/TextAnnotation",
    ];
    let dump = upstream_checked_dump(&python, dir.path(), &out, &upstream);
    let messages = |topic: &str| -> Vec<Value> {
        dump["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["topic"] == topic)
            .map(|m| m["msg"].clone())
            .collect()
    };
    let (detections, annotations) = (
        messages("/lookout/detections_2d"),
        messages("/lookout/image_annotations"),
    );
    // Every camera frame of the scene, in order, stamped as its image.
    let mut images = Vec::new();
    Bag::open(&scene)
        .unwrap()
        .read_messages(Some(&[lookout::synth::CAMERA_TOPIC.to_owned()]), |m| {
            let image = lookout::msg::Image::decode(m.data).unwrap();
            images.push((
                image.header.stamp.as_nanos(),
                image.header.frame_id.to_owned(),
            ));
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(detections.len(), images.len());
    assert_eq!(annotations.len(), images.len());
    let mut boxes = 0;
    for ((d, a), (stamp, frame)) in detections.iter().zip(&annotations).zip(&images) {
        assert_eq!(stamp_ns(&d["header"]), *stamp);
        assert_eq!(d["header"]["frame_id"], frame.as_str());
        assert_eq!(
            stamp_ns(&serde_json::json!({"stamp": a["timestamp"]})),
            *stamp
        );
        let d = d["detections"].as_array().unwrap();
        let outlines = a["points"].as_array().unwrap();
        let labels = a["texts"].as_array().unwrap();
        assert_eq!((outlines.len(), labels.len()), (d.len(), d.len()));
        for ((d, outline), label) in d.iter().zip(outlines).zip(labels) {
            let (cx, cy) = (
                f(&d["bbox"]["center"]["position"]["x"]),
                f(&d["bbox"]["center"]["position"]["y"]),
            );
            let (w, h) = (f(&d["bbox"]["size_x"]), f(&d["bbox"]["size_y"]));
            let corners: Vec<[f64; 2]> = outline["points"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| [f(&p["x"]), f(&p["y"])])
                .collect();
            assert_eq!(outline["type"], 2);
            let (x0, y0, x1, y1) = (corners[0][0], corners[0][1], corners[2][0], corners[2][1]);
            assert!((cx - 0.5 * (x0 + x1)).abs() < 1e-3 && (cy - 0.5 * (y0 + y1)).abs() < 1e-3);
            assert!((w - (x1 - x0)).abs() < 1e-3 && (h - (y1 - y0)).abs() < 1e-3);
            let class = d["results"][0]["hypothesis"]["class_id"].as_str().unwrap();
            let text = label["text"].as_str().unwrap();
            assert!(text.starts_with(class), "{text} / {class}");
            boxes += 1;
        }
    }
    assert!(boxes >= 10, "{boxes} boxes in {} frames", images.len());
}
