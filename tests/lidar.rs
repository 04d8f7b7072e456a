//! The lidar obstacle stage: accuracy against synthetic ground truth on
//! seeds never used while tuning, degenerate inputs, and no allocation per
//! scan once warm.

mod common;

use lookout::bag::Bag;
use lookout::clock::MonotonicClock;
use lookout::eval::EvalConfig;
use lookout::frames::LidarScan;
use lookout::lidar::{LidarConfig, LidarStage};
use lookout::msg::PointCloud2;
use lookout::obstacle::ObstacleClass;
use lookout::replay::evaluate_lidar;
use lookout::synth::{self, SynthOptions};
use std::ops::ControlFlow;

/// A full-resolution lidar scene; the camera is shrunk to almost nothing
/// since only the lidar is scored.
fn lidar_scene(path: &std::path::Path, seconds: f64, seed: u64) {
    let options = SynthOptions {
        seconds,
        seed,
        camera: common::tiny_camera(),
        ..SynthOptions::default()
    };
    synth::synthesize(path, &options).unwrap();
}

fn scans(path: &std::path::Path) -> Vec<LidarScan> {
    let mut out = Vec::new();
    Bag::open(path)
        .unwrap()
        .read_messages(Some(&[synth::LIDAR_TOPIC.to_owned()]), |m| {
            let mut scan = LidarScan::new();
            scan.fill_from(&PointCloud2::decode(m.data).unwrap())
                .unwrap();
            out.push(scan);
            ControlFlow::Continue(())
        })
        .unwrap();
    out
}

/// The acceptance figures, on seeds that were never looked at while the
/// stage was tuned (tuning used seeds 101, 202 and 303).
#[test]
fn accuracy_on_held_out_seeds() {
    let dir = tempfile::tempdir().unwrap();
    for seed in [4242, 9001] {
        let path = dir.path().join(format!("seed{seed}.mcap"));
        lidar_scene(&path, 2.0, seed);
        let evaluation = evaluate_lidar(
            &Bag::open(&path).unwrap(),
            &LidarConfig::default(),
            synth::TRUTH_TOPIC,
            EvalConfig::default(),
            &MonotonicClock::new(),
            &Default::default(),
        )
        .unwrap();
        let report = &evaluation.report;
        eprintln!("seed {seed}:\n{}", report.table());
        assert_eq!(evaluation.scored_scans, 20);
        let overall = &report.overall;
        assert!(
            overall.truth > 300,
            "seed {seed}: only {} truth",
            overall.truth
        );
        assert!(
            overall.recall >= 0.95,
            "seed {seed}: recall {}",
            overall.recall
        );
        assert!(
            overall.precision >= 0.90,
            "seed {seed}: precision {}",
            overall.precision
        );
        assert!(
            overall.center_error_median <= 0.25,
            "seed {seed}: centre error {}",
            overall.center_error_median
        );
        assert!(
            report.vehicle.yaw_error_median_deg <= 8.0,
            "seed {seed}: vehicle yaw {}",
            report.vehicle.yaw_error_median_deg
        );
    }
}

/// The real sensors' configurations on the harder synthetic street (parked
/// rows, groups, turning traffic, trees and poles) with their lidar
/// models: floors under today's recall, so the harder
/// world is scored on every change; raise them as the stage learns it
/// (seed 31: 0.59 and 0.51).
#[test]
fn sensor_configs_on_the_harder_street() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            synth::LidarSpec::hdl64(),
            "config/kitti-hdl64.yaml",
            15,
            0.35,
        ),
        (
            synth::LidarSpec::hdl32(),
            "config/nuscenes-lidar-top.yaml",
            10,
            0.40,
        ),
    ];
    for (lidar, file, min_points, floor) in cases {
        let path = dir.path().join("street.mcap");
        let options = SynthOptions {
            seconds: 1.0,
            seed: 31,
            scene: synth::SceneKind::Street,
            lidar,
            camera: common::tiny_camera(),
            ..SynthOptions::default()
        };
        synth::synthesize(&path, &options).unwrap();
        let config = lookout::config::LookoutConfig::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file),
        )
        .unwrap();
        let evaluation = evaluate_lidar(
            &Bag::open(&path).unwrap(),
            &config.lidar,
            synth::TRUTH_TOPIC,
            EvalConfig {
                min_truth_points: min_points,
                ..EvalConfig::default()
            },
            &MonotonicClock::new(),
            &Default::default(),
        )
        .unwrap();
        let report = &evaluation.report;
        eprintln!("{file} on the street:\n{}", report.table());
        assert!(report.overall.truth > 200, "{}", report.overall.truth);
        assert!(
            report.overall.recall >= floor,
            "{file}: street recall {} below {floor}",
            report.overall.recall
        );
    }
}

fn scan_of(points: &[[f32; 3]]) -> LidarScan {
    let mut scan = LidarScan::new();
    scan.frame_id.push_str("lidar");
    for p in points {
        scan.x.push(p[0]);
        scan.y.push(p[1]);
        scan.z.push(p[2]);
        scan.intensity.push(0.0);
    }
    scan
}

/// A flat ground disc at -1.9 m, 0.25 m spacing, out to 30 m.
fn ground_points() -> Vec<[f32; 3]> {
    let mut points = Vec::new();
    for i in -120..=120 {
        for j in -120..=120 {
            let (x, y) = (i as f32 * 0.25, j as f32 * 0.25);
            if x * x + y * y < 900.0 {
                points.push([x, y, -1.9]);
            }
        }
    }
    points
}

#[test]
fn empty_and_all_ground_scans_give_no_obstacles() {
    let mut stage = LidarStage::new(LidarConfig::default()).unwrap();
    let mut out = Vec::new();
    let stats = stage.process(&LidarScan::new(), &mut out);
    assert!(out.is_empty());
    assert_eq!(stats.input_points, 0);

    let ground = scan_of(&ground_points());
    let stats = stage.process(&ground, &mut out);
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(stats.ground_points, stats.kept_points);
    assert!(stats.kept_points > 40_000);
}

#[test]
fn non_finite_points_are_ignored() {
    let mut points = ground_points();
    // A 1.5 m tall post at (10, 5), and garbage.
    for k in 0..15 {
        points.push([10.0, 5.0, -1.8 + k as f32 * 0.1]);
    }
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        points.push([bad, 1.0, 0.0]);
        points.push([1.0, bad, 0.0]);
        points.push([3.0, 3.0, bad]);
    }
    let mut stage = LidarStage::new(LidarConfig::default()).unwrap();
    let mut out = Vec::new();
    stage.process(&scan_of(&points), &mut out);
    assert_eq!(out.len(), 1, "{out:?}");
    let post = &out[0];
    assert!((post.bbox.center[0] - 10.0).abs() < 0.3 && (post.bbox.center[1] - 5.0).abs() < 0.3);
    assert!(post.bbox.size[2] > 1.0);
    assert!(post.bbox.center.iter().all(|v| v.is_finite()));
}

#[test]
fn single_point_clusters_are_handled() {
    let mut points = ground_points();
    points.push([12.0, -4.0, -1.0]);
    points.push([-8.0, 9.0, -0.5]);
    let config = LidarConfig {
        min_cluster_points: 1,
        ..LidarConfig::default()
    };
    let mut stage = LidarStage::new(config).unwrap();
    let mut out = Vec::new();
    stage.process(&scan_of(&points), &mut out);
    assert_eq!(out.len(), 2, "{out:?}");
    for o in &out {
        assert_eq!(o.point_count, 1);
        assert!(
            o.bbox
                .center
                .iter()
                .chain(&o.bbox.size)
                .all(|v| v.is_finite())
        );
        assert_eq!(o.footprint.vertices().len(), 1);
    }
    // With the default minimum they are dropped.
    let mut stage = LidarStage::new(LidarConfig::default()).unwrap();
    stage.process(&scan_of(&points), &mut out);
    assert!(out.is_empty());
}

/// The flank of a car parked along x at y = 6 (1.5 m of body above the
/// ground), every 5 cm, from `x0` for `length`.
fn flank(x0: f32, length: f32) -> Vec<[f32; 3]> {
    let mut points = Vec::new();
    for i in 0..=(length / 0.05) as usize {
        for k in 0..10 {
            points.push([x0 + i as f32 * 0.05, 6.0, -1.6 + k as f32 * 0.15]);
        }
    }
    points
}

#[test]
fn cars_parked_nose_to_tail_are_cut_apart_at_the_gap() {
    // Two 4.4 m flanks 0.35 m apart: one cluster at the default tolerance.
    let mut points = ground_points();
    points.extend(flank(8.0, 4.4));
    points.extend(flank(12.75, 4.4));
    let scan = scan_of(&points);
    let mut out = Vec::new();
    let mut merged = LidarStage::new(LidarConfig::default()).unwrap();
    merged.process(&scan, &mut out);
    assert_eq!(out.len(), 1, "{out:?}");
    let config = LidarConfig {
        split_gap: 0.3,
        ..LidarConfig::default()
    };
    let mut split = LidarStage::new(config).unwrap();
    split.process(&scan, &mut out);
    assert_eq!(out.len(), 2, "{out:?}");
    let mut xs: Vec<f64> = out.iter().map(|o| o.bbox.center[0]).collect();
    xs.sort_by(f64::total_cmp);
    assert!(
        (xs[0] - 10.2).abs() < 0.3 && (xs[1] - 14.95).abs() < 0.3,
        "{xs:?}"
    );
    for (k, o) in out.iter().enumerate() {
        assert_eq!(o.class, ObstacleClass::Car);
        // Each piece keeps its own points for fusion.
        let mine = split.points_of(k);
        assert!(!mine.is_empty());
        assert!(
            mine.iter()
                .all(|p| (p[0] as f64 - o.bbox.center[0]).abs() < 2.5)
        );
    }
    // A single flank with no gap is not cut.
    let mut points = ground_points();
    points.extend(flank(8.0, 4.4));
    split.process(&scan_of(&points), &mut out);
    assert_eq!(out.len(), 1, "{out:?}");
}

#[test]
fn a_fragment_inside_a_car_is_that_car() {
    // A parked car's flank at y = 6, and behind it (inside the box the
    // car is completed to) a low piece the clustering leaves apart.
    let mut points = ground_points();
    points.extend(flank(8.0, 4.4));
    for k in 0..6 {
        points.push([9.5 + k as f32 * 0.1, 7.3, -1.5]);
        points.push([9.5 + k as f32 * 0.1, 7.3, -1.1]);
    }
    let scan = scan_of(&points);
    let mut out = Vec::new();
    let mut plain = LidarStage::new(LidarConfig::default()).unwrap();
    plain.process(&scan, &mut out);
    assert_eq!(out.len(), 2, "{out:?}");
    let config = LidarConfig {
        absorb_fragments: true,
        ..LidarConfig::default()
    };
    let mut absorbing = LidarStage::new(config).unwrap();
    let stats = absorbing.process(&scan, &mut out);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(stats.obstacles, 1);
    assert_eq!((out[0].class, out[0].id), (ObstacleClass::Car, 1));
    assert!(!absorbing.points_of(0).is_empty());
}

#[test]
fn invalid_configuration_is_rejected_by_name() {
    let bad = LidarConfig {
        cluster_cell: 0.0,
        ..LidarConfig::default()
    };
    let err = LidarStage::new(bad).err().unwrap();
    assert_eq!(err.path, "lidar.cluster_cell");
    let bad = LidarConfig {
        roi_x: [10.0, -10.0],
        ..LidarConfig::default()
    };
    assert_eq!(LidarStage::new(bad).err().unwrap().path, "lidar.roi_x");
}

#[test]
fn no_allocation_per_scan_after_warm_up() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scene.mcap");
    lidar_scene(&path, 0.5, 77);
    let scans = scans(&path);
    let mut stage = LidarStage::new(LidarConfig::default()).unwrap();
    let mut out = Vec::new();
    for scan in &scans {
        stage.process(scan, &mut out);
    }
    let mut found = 0;
    let counted = allocation_counter::measure(|| {
        for scan in &scans {
            found += stage.process(scan, &mut out).obstacles;
        }
    });
    assert!(found > 0);
    assert_eq!(
        counted.count_total,
        0,
        "allocations while processing {} warm scans",
        scans.len()
    );
}
