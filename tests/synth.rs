//! The synthetic scene generator: reproducible bytes, plausible sensors,
//! consistent ground truth and calibration.

mod common;

use lookout::bag::Bag;
use lookout::calibration::Calibration;
use lookout::frames::LidarScan;
use lookout::msg::{CameraInfo, Detection2DArray, Image, ObstacleArray, PointCloud2};
use lookout::synth::{self, LidarSpec, SceneKind, SynthOptions};
use std::ops::ControlFlow;
use std::process::Command;

fn synth_cli(out: &std::path::Path, seed: u64, threads: &str) {
    let status = Command::new(env!("CARGO_BIN_EXE_lookout"))
        .args([
            "synth",
            "--seconds",
            "0.4",
            "--seed",
            &seed.to_string(),
            "--out",
        ])
        .arg(out)
        .env("RAYON_NUM_THREADS", threads)
        .status()
        .expect("run lookout synth");
    assert!(status.success());
}

#[test]
fn same_seed_gives_identical_bytes_whatever_the_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.mcap");
    let b = dir.path().join("b.mcap");
    let c = dir.path().join("c.mcap");
    synth_cli(&a, 7, "2");
    synth_cli(&b, 7, "1");
    synth_cli(&c, 8, "2");
    assert_eq!(common::sha256_file(&a), common::sha256_file(&b));
    assert_ne!(common::sha256_file(&a), common::sha256_file(&c));
    assert_eq!(
        std::fs::read(synth::calibration_path(&a)).unwrap(),
        std::fs::read(synth::calibration_path(&b)).unwrap()
    );
}

#[test]
fn default_scene_has_the_documented_sensors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scene.mcap");
    let options = SynthOptions {
        seconds: 0.25,
        ..SynthOptions::default()
    };
    let summary = synth::synthesize(&path, &options).unwrap();
    assert_eq!(summary.lidar_scans, 3); // t = 0, 0.1, 0.2
    assert_eq!(summary.camera_frames, 4); // t = 0.037 + k / 15
    let per_scan = summary.lidar_points / summary.lidar_scans;
    assert!(
        (100_000..=130_000).contains(&per_scan),
        "{per_scan} points per scan"
    );

    let bag = Bag::open(&path).unwrap();
    let mut scan = LidarScan::new();
    let mut camera_stamps = Vec::new();
    let mut truth_2d_stamps = Vec::new();
    let mut lidar_stamps = Vec::new();
    let mut tf_stamps = Vec::new();
    bag.read_messages(None, |m| {
        match m.topic {
            synth::CAMERA_TOPIC => {
                let image = Image::decode(m.data).unwrap();
                assert_eq!(
                    (image.width, image.height, image.encoding),
                    (1280, 720, "rgb8")
                );
                camera_stamps.push(image.header.stamp.as_nanos());
                assert!(m.log_time as i64 > image.header.stamp.as_nanos());
            }
            synth::CAMERA_INFO_TOPIC => {
                let info = CameraInfo::decode(m.data).unwrap();
                assert_eq!(info.k[0], 1000.0);
            }
            synth::LIDAR_TOPIC => {
                let cloud = PointCloud2::decode(m.data).unwrap();
                scan.fill_from(&cloud).unwrap();
                assert_eq!(scan.ring.len(), scan.len());
                assert_eq!(scan.time.len(), scan.len());
                assert_eq!(*scan.ring.iter().max().unwrap(), 63);
                assert!(scan.time.iter().all(|t| (0.0..0.1).contains(t)));
                lidar_stamps.push(scan.stamp);
            }
            synth::TRUTH_TOPIC => {
                let truth = ObstacleArray::decode(m.data).unwrap();
                assert_eq!(truth.header.frame_id, "lidar");
                let labels: std::collections::BTreeSet<_> =
                    truth.obstacles.iter().map(|o| o.label.as_str()).collect();
                for class in ["car", "truck", "pedestrian", "cyclist"] {
                    assert!(labels.contains(class), "no {class} in the truth");
                }
            }
            synth::CAMERA_TRUTH_TOPIC => {
                let truth = Detection2DArray::decode(m.data).unwrap();
                assert_eq!(truth.header.frame_id, "camera");
                assert!(!truth.detections.is_empty());
                for d in &truth.detections {
                    let [x0, y0, x1, y1] = d.bbox;
                    assert!(0.0 <= x0 && x0 < x1 && x1 <= 1280.0, "{d:?}");
                    assert!(0.0 <= y0 && y0 < y1 && y1 <= 720.0, "{d:?}");
                    assert!((0.0..=1.0).contains(&d.visible), "{d:?}");
                }
                truth_2d_stamps.push(truth.header.stamp.as_nanos());
            }
            synth::TF_TOPIC => {
                // The ego's pose at each scan, before the scan.
                let tf = lookout::msg::tf::TfMessage::decode(m.data).unwrap();
                let pose = &tf.transforms[0];
                assert_eq!(
                    (pose.header.frame_id, pose.child_frame_id),
                    ("odom", "lidar")
                );
                tf_stamps.push(pose.header.stamp.as_nanos());
            }
            other => panic!("unexpected topic {other}"),
        }
        ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(tf_stamps, lidar_stamps);
    // One 2D truth per camera frame, at its stamp.
    assert_eq!(truth_2d_stamps, camera_stamps);
    // Camera and lidar are never triggered at the same instant.
    assert!(camera_stamps.iter().all(|c| !lidar_stamps.contains(c)));
}

/// Every actor the lidar sees well has its points inside its truth box.
#[test]
fn truth_boxes_contain_their_lidar_points() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scene.mcap");
    common::write_small_scene(&path, 0.1, 11);
    let bag = Bag::open(&path).unwrap();
    let mut scan = LidarScan::new();
    let mut truth = None;
    bag.read_messages(None, |m| {
        if m.topic == synth::LIDAR_TOPIC {
            scan.fill_from(&PointCloud2::decode(m.data).unwrap())
                .unwrap();
        } else if m.topic == synth::TRUTH_TOPIC {
            truth = Some(ObstacleArray::decode(m.data).unwrap());
        }
        ControlFlow::Continue(())
    })
    .unwrap();
    let truth = truth.unwrap();
    let mut checked = 0;
    for o in truth.obstacles.iter().filter(|o| o.point_count >= 15) {
        let (s, c) = o.yaw.sin_cos();
        // Inside the box grown by noise and the grade's pitch.
        let margin = 0.15;
        let inside = (0..scan.len())
            .filter(|&i| {
                let dx = scan.x[i] as f64 - o.center[0];
                let dy = scan.y[i] as f64 - o.center[1];
                let dz = scan.z[i] as f64 - o.center[2];
                let lx = c * dx + s * dy;
                let ly = -s * dx + c * dy;
                lx.abs() <= o.size[0] / 2.0 + margin
                    && ly.abs() <= o.size[1] / 2.0 + margin
                    && dz.abs() <= o.size[2] / 2.0 + margin
            })
            .count();
        assert!(
            inside as f64 >= 0.95 * o.point_count as f64,
            "{} {}: {inside} points in box, truth says {}",
            o.label,
            o.id,
            o.point_count
        );
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} well-observed actors");
}

#[test]
fn written_calibration_matches_the_committed_file_and_projects_correctly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scene.mcap");
    let options = SynthOptions {
        seconds: 0.05,
        ..SynthOptions::default()
    };
    synth::synthesize(&path, &options).unwrap();
    let written = Calibration::load(&synth::calibration_path(&path)).unwrap();
    let committed = Calibration::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("calibration/synthetic.yaml"),
    )
    .unwrap();
    assert_eq!(written, committed);
    // A point 10 m straight ahead of the lidar at camera height lands on the
    // principal point's column, below the centre row (camera is 0.4 m lower).
    let r = written.lidar_to_camera.rotation_matrix();
    let t = written.lidar_to_camera.translation();
    let p = r * nalgebra::Vector3::new(10.3, 0.0, -0.4) + t;
    let k = written.camera.k();
    let (u, v) = (k[0] * p.x / p.z + k[2], k[4] * p.y / p.z + k[5]);
    assert!(
        (u - 640.0).abs() < 1e-6 && (v - 360.0).abs() < 1e-6,
        "({u}, {v})"
    );
}

/// Options for a street scene with a tiny camera (only lidar and truth are
/// checked).
fn street_options(seconds: f64, lidar: LidarSpec) -> SynthOptions {
    SynthOptions {
        seconds,
        scene: SceneKind::Street,
        lidar,
        camera: common::tiny_camera(),
        ..SynthOptions::default()
    }
}

/// The first scan and truth of a bag.
fn first_scan(path: &std::path::Path) -> (LidarScan, ObstacleArray) {
    let mut scan = None;
    let mut truth = None;
    Bag::open(path)
        .unwrap()
        .read_messages(None, |m| {
            if m.topic == synth::LIDAR_TOPIC && scan.is_none() {
                let mut s = LidarScan::new();
                s.fill_from(&PointCloud2::decode(m.data).unwrap()).unwrap();
                scan = Some(s);
            } else if m.topic == synth::TRUTH_TOPIC && truth.is_none() {
                truth = Some(ObstacleArray::decode(m.data).unwrap());
            }
            ControlFlow::Continue(())
        })
        .unwrap();
    (scan.unwrap(), truth.unwrap())
}

/// The street with KITTI's lidar: reproducible, parked rows with angled
/// cars, pedestrian groups, cyclists, and returns from scenery that no
/// truth box explains.
#[test]
fn street_scene_is_reproducible_and_hard() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.mcap");
    let b = dir.path().join("b.mcap");
    let options = street_options(0.15, LidarSpec::hdl64());
    synth::synthesize(&a, &options).unwrap();
    synth::synthesize(&b, &options).unwrap();
    assert_eq!(common::sha256_file(&a), common::sha256_file(&b));

    let (scan, truth) = first_scan(&a);
    assert_eq!(scan.ring.iter().copied().max(), Some(63));
    let count = |label: &str| truth.obstacles.iter().filter(|o| o.label == label).count();
    eprintln!(
        "street truth: {} cars, {} trucks, {} pedestrians, {} cyclists",
        count("car"),
        count("truck"),
        count("pedestrian"),
        count("cyclist")
    );
    let speed = |o: &lookout::msg::Obstacle| o.velocity[0].hypot(o.velocity[1]);
    let parked = truth
        .obstacles
        .iter()
        .filter(|o| (o.label == "car" || o.label == "truck") && speed(o) < 0.01);
    let angled = parked.clone().filter(|o| o.yaw.sin().abs() > 0.3).count();
    let parked = parked.count();
    assert!(
        parked >= 30 && angled >= 5,
        "{parked} parked, {angled} angled"
    );
    let turning = truth
        .obstacles
        .iter()
        .filter(|o| speed(o) > 1.0 && o.label != "pedestrian" && o.velocity[1].abs() > 0.5)
        .count();
    assert!(turning >= 1, "no vehicle moving across the road");
    let pedestrians: Vec<_> = truth
        .obstacles
        .iter()
        .filter(|o| o.label == "pedestrian")
        .collect();
    let in_groups = pedestrians
        .iter()
        .filter(|p| {
            pedestrians.iter().any(|q| {
                q.id != p.id && (p.center[0] - q.center[0]).hypot(p.center[1] - q.center[1]) < 1.2
            })
        })
        .count();
    assert!(in_groups >= 10, "only {in_groups} pedestrians in groups");
    assert!(count("cyclist") >= 3);

    // Returns from the strip between the curb and the walkers (poles, tree
    // trunks, bushes) at least 0.6 m above the road, in no truth box.
    let in_truth = |i: usize| {
        truth.obstacles.iter().any(|o| {
            let (s, c) = o.yaw.sin_cos();
            let dx = scan.x[i] as f64 - o.center[0];
            let dy = scan.y[i] as f64 - o.center[1];
            let dz = scan.z[i] as f64 - o.center[2];
            (c * dx + s * dy).abs() <= o.size[0] / 2.0 + 0.3
                && (-s * dx + c * dy).abs() <= o.size[1] / 2.0 + 0.3
                && dz.abs() <= o.size[2] / 2.0 + 0.3
        })
    };
    let scenery = (0..scan.len())
        .filter(|&i| {
            let world_y = (scan.y[i] - 1.75).abs();
            scan.x[i].abs() < 25.0
                && (10.2..11.5).contains(&world_y)
                && scan.z[i] > -1.1
                && !in_truth(i)
        })
        .count();
    assert!(scenery >= 200, "only {scenery} scenery returns");
}

/// nuScenes' lidar: 32 rings, 20 scans a second.
#[test]
fn hdl32_scans_have_32_rings() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hdl32.mcap");
    let summary = synth::synthesize(&path, &street_options(0.1, LidarSpec::hdl32())).unwrap();
    assert_eq!(summary.lidar_scans, 2);
    let (scan, _) = first_scan(&path);
    let rings: std::collections::BTreeSet<u16> = scan.ring.iter().copied().collect();
    assert_eq!(rings.len(), 32);
    assert_eq!(rings.last(), Some(&31));
}

/// The town with the default lidar is pinned: the demo, the tests and the
/// trained camera detector depend on these exact bytes. (Re-pinned when
/// the ego's pose on `/tf` was added, and when the truth's `Obstacle` gained
/// `track_age` and `position_covariance`; the sensors' bytes did not change.)
#[test]
fn default_town_bytes_are_pinned() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("town.mcap");
    common::write_small_scene(&path, 0.1, 7);
    assert_eq!(
        common::sha256_file(&path),
        "a607c09c54517d41a0c2d1e37ac16c94952f1309667c229e27b522340eebefe7"
    );
}
