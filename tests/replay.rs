//! `lookout replay`: every frame decoded and accounted for, bad frames
//! rejected by reason, outputs written deterministically, clear failures.

mod common;

use lookout::bag::{Bag, BagWriter, WriterOptions};
use lookout::clock::{MonotonicClock, SimulatedClock};
use lookout::msg::{Encode, FrameReport, Header, Image, ObstacleArray, Time};
use lookout::replay::{
    FRAME_REPORT_TOPIC, OBSTACLES_TOPIC, ReplayOptions, STAMP_WENT_BACKWARDS, replay,
};
use lookout::synth;
use std::ops::ControlFlow;
use std::process::Command;

fn reports(path: &std::path::Path) -> Vec<FrameReport> {
    let mut out = Vec::new();
    Bag::open(path)
        .unwrap()
        .read_messages(Some(&[FRAME_REPORT_TOPIC.to_owned()]), |m| {
            assert_eq!(m.topic, FRAME_REPORT_TOPIC);
            out.push(FrameReport::decode(m.data).unwrap());
            ControlFlow::Continue(())
        })
        .unwrap();
    out
}

#[test]
fn a_synthetic_scene_replays_cleanly_and_deterministically() {
    let dir = tempfile::tempdir().unwrap();
    let scene = dir.path().join("scene.mcap");
    common::write_small_scene(&scene, 0.5, 3);
    let bag = Bag::open(&scene).unwrap();
    let run = |name: &str| {
        let out = dir.path().join(name);
        let options = ReplayOptions {
            out: Some(out.clone()),
            ..ReplayOptions::default()
        };
        let report = replay(&bag, &options, &SimulatedClock::new(0)).unwrap();
        (report, out)
    };
    let (report, out_a) = run("a.mcap");
    let (_, out_b) = run("b.mcap");
    assert!(report.bag_error.is_none());
    assert_eq!(report.total_rejected(), 0);
    let lidar = &report.topics[synth::LIDAR_TOPIC];
    assert_eq!(lidar.frames, 5);
    assert_eq!(lidar.accepted, 5);
    assert!(lidar.points > 5 * 20_000);
    assert_eq!(report.topics[synth::CAMERA_TOPIC].accepted, 7);
    assert_eq!(report.topics[synth::TRUTH_TOPIC].accepted, 5);

    let written = reports(&out_a);
    // One report per message but the ego's poses on /tf (one per scan),
    // which are not the pipeline's input.
    assert_eq!(written.len() as u64, report.read.messages - lidar.frames);
    assert!(
        written
            .iter()
            .all(|r| r.accepted && r.reject_reason.is_empty())
    );
    let camera = written
        .iter()
        .find(|r| r.topic == synth::CAMERA_TOPIC)
        .unwrap();
    assert_eq!(
        (camera.width, camera.height, camera.header.frame_id.as_str()),
        (320, 180, "camera")
    );
    assert_eq!(common::sha256_file(&out_a), common::sha256_file(&out_b));

    // One obstacle array per scan, stamped and framed like the scan.
    let mut arrays = Vec::new();
    Bag::open(&out_a)
        .unwrap()
        .read_messages(Some(&[OBSTACLES_TOPIC.to_owned()]), |m| {
            arrays.push(ObstacleArray::decode(m.data).unwrap());
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(arrays.len(), 5);
    assert!(
        arrays
            .iter()
            .all(|a| a.header.frame_id == "lidar" && !a.obstacles.is_empty())
    );
    assert_eq!(report.lidar.as_ref().unwrap().scans, 5);
}

fn image(sec: i32, encoding: &str, pixels: &[u8]) -> Vec<u8> {
    Image {
        header: Header {
            stamp: Time { sec, nanosec: 0 },
            frame_id: "camera",
        },
        height: 2,
        width: 2,
        encoding,
        is_bigendian: 0,
        step: 6,
        data: pixels,
    }
    .to_cdr()
}

#[test]
fn bad_frames_are_rejected_by_reason_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("bad.mcap");
    let pixels = [9u8; 12];
    let mut w = BagWriter::create(&input, WriterOptions::default()).unwrap();
    let cam = w.add_topic("/cam", "sensor_msgs/msg/Image").unwrap();
    let tf = w
        .add_topic_with_definition("/tf", "tf2_msgs/msg/TFMessage", "")
        .unwrap();
    w.write_raw(cam, 1, &image(10, "rgb8", &pixels)).unwrap();
    w.write_raw(cam, 2, &image(11, "yuv422", &pixels)).unwrap();
    let good = image(12, "rgb8", &pixels);
    w.write_raw(cam, 3, &good[..good.len() - 5]).unwrap();
    w.write_raw(cam, 4, &image(9, "rgb8", &pixels)).unwrap(); // stamp goes backwards
    w.write_raw(cam, 5, &[1, 2, 3]).unwrap();
    w.write_raw(cam, 6, &image(13, "rgb8", &pixels)).unwrap();
    w.write_raw(tf, 7, &[0, 1, 0, 0]).unwrap();
    w.finish().unwrap();

    let out = dir.path().join("out.mcap");
    let options = ReplayOptions {
        out: Some(out.clone()),
        ..ReplayOptions::default()
    };
    let report = replay(
        &Bag::open(&input).unwrap(),
        &options,
        &MonotonicClock::new(),
    )
    .unwrap();
    let cam = &report.topics["/cam"];
    assert_eq!(cam.frames, 6);
    assert_eq!(cam.accepted, 2);
    assert_eq!(cam.rejects["unsupported_encoding"], 1);
    assert_eq!(cam.rejects["sequence_too_long"], 1);
    assert_eq!(cam.rejects["truncated"], 1);
    assert_eq!(cam.rejects[STAMP_WENT_BACKWARDS], 1);
    assert_eq!(report.topics["/tf"].skipped, 1);
    assert!(
        cam.first_error
            .as_deref()
            .unwrap()
            .contains("Image.encoding")
    );
    let table = report.table();
    assert!(table.contains("unsupported_encoding: 1"), "{table}");

    let written = reports(&out);
    let reasons: Vec<&str> = written.iter().map(|r| r.reject_reason.as_str()).collect();
    assert_eq!(
        reasons,
        [
            "",
            "unsupported_encoding",
            "sequence_too_long",
            STAMP_WENT_BACKWARDS,
            "truncated",
            ""
        ]
    );
    assert!(written[1].detail.contains("yuv422"));
}

#[test]
fn the_cli_fails_clearly_on_unreadable_input() {
    let dir = tempfile::tempdir().unwrap();
    let missing = Command::new(env!("CARGO_BIN_EXE_lookout"))
        .args(["replay", "/nonexistent/bag.mcap"])
        .output()
        .unwrap();
    assert!(!missing.status.success());
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(stderr.contains("/nonexistent/bag.mcap"), "{stderr}");

    let garbage = dir.path().join("garbage.mcap");
    std::fs::write(&garbage, vec![0x42; 1000]).unwrap();
    let corrupt = Command::new(env!("CARGO_BIN_EXE_lookout"))
        .arg("replay")
        .arg(&garbage)
        .output()
        .unwrap();
    assert!(!corrupt.status.success());
    let stderr = String::from_utf8_lossy(&corrupt.stderr);
    assert!(stderr.contains("not an MCAP file"), "{stderr}");

    let scene = dir.path().join("scene.mcap");
    common::write_small_scene(&scene, 0.3, 6);
    let bytes = std::fs::read(&scene).unwrap();
    let cut = dir.path().join("cut.mcap");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let truncated = Command::new(env!("CARGO_BIN_EXE_lookout"))
        .arg("replay")
        .arg(&cut)
        .output()
        .unwrap();
    assert_eq!(truncated.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&truncated.stderr);
    assert!(stderr.contains("damaged"), "{stderr}");
    // What preceded the damage was replayed and summarized.
    let stdout = String::from_utf8_lossy(&truncated.stdout);
    assert!(stdout.contains(synth::LIDAR_TOPIC), "{stdout}");
}

#[test]
fn the_cli_replays_and_summarizes() {
    let dir = tempfile::tempdir().unwrap();
    let scene = dir.path().join("scene.mcap");
    common::write_small_scene(&scene, 0.2, 4);
    let out = dir.path().join("out.mcap");
    let run = Command::new(env!("CARGO_BIN_EXE_lookout"))
        .arg("replay")
        .arg(&scene)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(run.status.success());
    let stdout = String::from_utf8_lossy(&run.stdout);
    for topic in [
        synth::CAMERA_TOPIC,
        synth::LIDAR_TOPIC,
        synth::CAMERA_INFO_TOPIC,
        synth::TRUTH_TOPIC,
    ] {
        assert!(stdout.contains(topic), "{stdout}");
    }
    assert!(stdout.contains("p99 us"));
    assert!(out.exists());
}
