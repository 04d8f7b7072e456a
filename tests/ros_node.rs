//! `lookout node` over real DDS: an rclpy process (PyPI Jazzy wheels)
//! publishes a synthetic scene at its recorded timing and records what the
//! node publishes. Needs the ROS environment of scripts/setup-ros.sh
//! (scripts/test.sh sources it; CI runs these tests).
#![cfg(feature = "ros2")]

mod common;

use lookout::bag::{Bag, WriterOptions};
use lookout::lidar::LidarConfig;
use lookout::msg::ObstacleArray;
use lookout::replay::OBSTACLES_TOPIC;
use lookout::sched::SchedulerConfig;
use lookout::sched::faults::FaultConfig;
use lookout::sched::replay::{Mode, ScheduledReplayOptions, replay_scheduled};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// Each test on its own DDS domain, so parallel tests do not meet.
static DOMAIN: AtomicU32 = AtomicU32::new(61);

struct Ros {
    domain: u32,
    python: PathBuf,
}

impl Ros {
    fn new() -> Ros {
        assert!(
            std::env::var_os("AMENT_PREFIX_PATH").is_some(),
            "the ROS environment is missing: run scripts/setup-ros.sh and source .ros/env.sh"
        );
        Ros {
            domain: DOMAIN.fetch_add(1, Ordering::Relaxed),
            python: Path::new(env!("CARGO_MANIFEST_DIR")).join(".ros/bin/python"),
        }
    }

    fn env(&self, command: &mut Command) {
        command
            .env("ROS_DOMAIN_ID", self.domain.to_string())
            .env("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
            .env_remove("ROS_LOCALHOST_ONLY");
    }

    /// `lookout node` with `args` after `--ros-args`.
    fn node(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_lookout"));
        command.arg("node").arg("--ros-args").args(args);
        if let Some(preload) = std::env::var_os("LOOKOUT_ROS_PRELOAD") {
            command.env("LD_PRELOAD", preload);
        }
        self.env(&mut command);
        command
    }

    /// Runs the driver to completion; returns what it recorded.
    fn drive(&self, bag: &Path, out: &Path) -> Value {
        let mut command = Command::new(&self.python);
        command
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ros/drive_node.py"))
            .arg(bag)
            .arg(out);
        self.env(&mut command);
        let status = command.status().expect("running the rclpy driver");
        assert!(status.success(), "drive_node.py failed: {status}");
        serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap()
    }
}

/// A running node; killed if the test fails before [`RunningNode::stop`].
struct RunningNode(Option<Child>);

impl Drop for RunningNode {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Stops the node with SIGINT and returns its stdout.
fn stop(mut node: RunningNode) -> String {
    let node = node.0.take().expect("running");
    let _ = Command::new("kill")
        .args(["-INT", &node.id().to_string()])
        .status();
    let out = node.wait_with_output().expect("node output");
    assert!(out.status.success(), "node exited with {}", out.status);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The node's relative input topics onto the synthetic scene's
/// (`lookout::synth::{CAMERA_TOPIC, CAMERA_INFO_TOPIC, LIDAR_TOPIC}`).
const REMAPS: [&str; 6] = [
    "-r",
    "image:=/camera/image_raw",
    "-r",
    "camera_info:=/camera/camera_info",
    "-r",
    "points:=/lidar/points",
];

fn replay_obstacles(scene: &Path, out: &Path) -> HashMap<i64, ObstacleArray> {
    let options = ScheduledReplayOptions {
        mode: Mode::Lockstep,
        scheduler: SchedulerConfig::default(),
        lidar: LidarConfig::default(),
        camera: None,
        faults: FaultConfig::default(),
        out: Some(out.to_path_buf()),
        writer: WriterOptions::default(),
    };
    replay_scheduled(&Bag::open(scene).unwrap(), &options).unwrap();
    let mut arrays = HashMap::new();
    Bag::open(out)
        .unwrap()
        .read_messages(Some(&[OBSTACLES_TOPIC.to_owned()]), |m| {
            let array = ObstacleArray::decode(m.data).unwrap();
            arrays.insert(array.header.stamp.as_nanos(), array);
            std::ops::ControlFlow::Continue(())
        })
        .unwrap();
    arrays
}

#[test]
fn obstacles_over_dds_equal_replay_and_markers_status_diagnostics_arrive() {
    let ros = Ros::new();
    let dir = tempfile::tempdir().unwrap();
    let scene = dir.path().join("scene.mcap");
    common::write_small_scene(&scene, 3.0, 23);
    let expected = replay_obstacles(&scene, &dir.path().join("replay.mcap"));
    assert_eq!(expected.len(), 30);

    let mut args = vec!["-p", "use_sim_time:=true"];
    args.extend(REMAPS);
    let node = RunningNode(Some(
        ros.node(&args).stdout(Stdio::piped()).spawn().unwrap(),
    ));
    let got = ros.drive(&scene, &dir.path().join("driven.json"));
    let stdout = stop(node);
    println!("{stdout}");
    let received = &got["received"];

    // Obstacles: same obstacles, classes and boxes as replay, per scan.
    let arrays = received["obstacles"].as_array().unwrap();
    assert!(arrays.len() >= 27, "{} of 30 scans came back", arrays.len());
    for array in arrays {
        let stamp = array["stamp"].as_i64().unwrap();
        let want = expected.get(&stamp).expect("a scan replay also saw");
        let got = array["obstacles"].as_array().unwrap();
        assert_eq!(got.len(), want.obstacles.len(), "scan {stamp}");
        assert_eq!(array["frame_id"], want.header.frame_id.as_str());
        assert_eq!(array["degraded"], false);
        for (g, w) in got.iter().zip(&want.obstacles) {
            assert_eq!(g["label"], w.label.as_str(), "scan {stamp}");
            for axis in 0..3 {
                let c = g["center"][axis].as_f64().unwrap();
                assert!(
                    (c - w.center[axis]).abs() <= 0.01,
                    "scan {stamp}: {g} vs {w:?}"
                );
                let s = g["size"][axis].as_f64().unwrap();
                assert!(
                    (s - w.size[axis]).abs() <= 0.01,
                    "scan {stamp}: {g} vs {w:?}"
                );
            }
        }
    }

    // Markers: per array, the previous boxes and labels deleted, a box and
    // a label per obstacle, and the status overlay on the base frame.
    let markers = received["markers"].as_array().unwrap();
    assert_eq!(markers.len(), arrays.len());
    for (markers, array) in markers.iter().zip(arrays) {
        let markers = markers.as_array().unwrap();
        let n = array["obstacles"].as_array().unwrap().len();
        assert_eq!(markers.len(), 2 * n + 3);
        let count = |ns: &str, kind: i64, action: i64| {
            markers
                .iter()
                .filter(|m| m["ns"] == ns && m["type"] == kind && m["action"] == action)
                .count()
        };
        assert_eq!(count("obstacles", 1, 3) + count("labels", 1, 3), 2);
        assert_eq!(count("obstacles", 1, 0), n);
        assert_eq!(count("labels", 9, 0), n);
        let overlay = markers.iter().find(|m| m["ns"] == "status").unwrap();
        assert_eq!(overlay["frame_id"], "base_link");
        assert!(
            overlay["text"].as_str().unwrap().starts_with("lookout "),
            "{overlay}"
        );
    }

    // Status: both sensors, counters that add up to what was sent.
    let statuses = received["status"].as_array().unwrap();
    assert!(!statuses.is_empty());
    let last = statuses.last().unwrap();
    let lidar = last["sensors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["sensor"] == "lidar")
        .unwrap();
    assert!(lidar["received"].as_u64().unwrap() >= 27, "{last}");
    assert!(lidar["end_to_end_ms"][1].as_f64().unwrap() > 0.0, "{last}");

    // Diagnostics: the pipeline's health and one entry per sensor.
    let diagnostics = received["diagnostics"].as_array().unwrap();
    assert!(!diagnostics.is_empty());
    let names: Vec<&str> = diagnostics[0]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["lookout: pipeline", "lookout: camera", "lookout: lidar"]
    );

    assert!(stdout.contains("node overhead"), "{stdout}");
}

#[test]
fn an_invalid_parameter_stops_the_node_with_its_name() {
    let ros = Ros::new();
    let dir = tempfile::tempdir().unwrap();
    let params = dir.path().join("bad.params.yaml");
    std::fs::write(
        &params,
        "lookout:\n  ros__parameters:\n    scheduler.camera.budget_ms: -3.0\n",
    )
    .unwrap();
    let out = ros
        .node(&["--params-file", params.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("scheduler.camera.budget_ms"),
        "the error names the parameter: {stderr}"
    );
    let out = ros.node(&["-p", "scheduler.polcy:=fifo"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("scheduler.polcy"), "{stderr}");
}
