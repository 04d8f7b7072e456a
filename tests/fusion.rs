//! Camera–lidar fusion on synthetic scans, with an oracle camera: 2D boxes
//! projected from the ground truth through the calibration, so that the
//! association is measured alone (the detector is measured elsewhere).

mod common;

use lookout::bag::Bag;
use lookout::camera::Detection2d;
use lookout::eval::{EvalConfig, Evaluator};
use lookout::fusion::associate::{AssociationConfig, Associator};
use lookout::fusion::project::Projector;
use lookout::ingest::{Ingest, InputKind};
use lookout::lidar::{LidarConfig, LidarStage};
use lookout::msg::ObstacleArray;
use lookout::obstacle::{Obstacle, ObstacleClass};
use lookout::synth::{LIDAR_TOPIC, SynthOptions, TRUTH_TOPIC};
use std::collections::BTreeMap;
use std::ops::ControlFlow;

const CLASSES: [&str; 4] = ["car", "truck", "pedestrian", "cyclist"];

/// The image box of a truth obstacle's 3D box, clipped to the image;
/// `None` when no corner is in front of the camera or nothing is left.
fn oracle_box(projector: &Projector, truth: &Obstacle) -> Option<Detection2d> {
    let b = &truth.bbox;
    let (sin, cos) = b.yaw.sin_cos();
    let mut bbox = [f32::MAX, f32::MAX, f32::MIN, f32::MIN];
    let mut any = false;
    for corner in 0..8 {
        let l = if corner & 1 == 0 { 0.5 } else { -0.5 } * b.size[0];
        let w = if corner & 2 == 0 { 0.5 } else { -0.5 } * b.size[1];
        let h = if corner & 4 == 0 { 0.5 } else { -0.5 } * b.size[2];
        let p = [
            (b.center[0] + l * cos - w * sin) as f32,
            (b.center[1] + l * sin + w * cos) as f32,
            (b.center[2] + h) as f32,
        ];
        if let Some([u, v]) = projector.project_unclipped(p) {
            any = true;
            bbox = [
                bbox[0].min(u),
                bbox[1].min(v),
                bbox[2].max(u),
                bbox[3].max(v),
            ];
        }
    }
    let (width, height) = projector.image_size();
    let bbox = [
        bbox[0].max(0.0),
        bbox[1].max(0.0),
        bbox[2].min(width - 1.0),
        bbox[3].min(height - 1.0),
    ];
    let class = CLASSES.iter().position(|c| *c == truth.class.label())?;
    (any && bbox[0] < bbox[2] && bbox[1] < bbox[3]).then_some(Detection2d {
        class: class as u16,
        score: 0.9,
        bbox,
    })
}

/// Scans and truth arrays of a synthetic bag, by stamp.
fn read(bag: &std::path::Path) -> BTreeMap<i64, (Vec<u8>, Vec<Obstacle>)> {
    let mut frames: BTreeMap<i64, (Vec<u8>, Vec<Obstacle>)> = BTreeMap::new();
    let topics = [LIDAR_TOPIC.to_owned(), TRUTH_TOPIC.to_owned()];
    Bag::open(bag)
        .unwrap()
        .read_messages(Some(&topics), |m| {
            if m.topic == TRUTH_TOPIC {
                let array = ObstacleArray::decode(m.data).unwrap();
                let entry = frames.entry(array.header.stamp.as_nanos()).or_default();
                entry.1 = array.obstacles.iter().map(Obstacle::from_msg).collect();
            } else {
                let stamp = lookout::ingest::header_stamp(m.data).unwrap();
                frames.entry(stamp).or_default().0 = m.data.to_vec();
            }
            ControlFlow::Continue(())
        })
        .unwrap();
    frames
}

#[test]
fn oracle_boxes_give_fused_obstacles_their_class() {
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<String> = CLASSES.map(String::from).to_vec();
    let mut evaluator = Evaluator::new(EvalConfig {
        max_range: 40.0,
        ..EvalConfig::default()
    });
    let config = AssociationConfig {
        camera_only: false,
        ..AssociationConfig::default()
    };
    for seed in [3, 5] {
        let bag = dir.path().join(format!("scene{seed}.mcap"));
        let options = SynthOptions {
            seconds: 4.0,
            seed,
            ..common::small_scene_options(4.0, seed)
        };
        let options = SynthOptions {
            lidar: lookout::synth::LidarSpec::default(),
            ..options
        };
        lookout::synth::synthesize(&bag, &options).unwrap();
        let projector = Projector::new(&lookout::synth::calibration(&options));
        let mut associator = Associator::new(config.clone(), projector.clone(), &names);
        let mut lidar = LidarStage::new(LidarConfig::default()).unwrap();
        let mut ingest = Ingest::new();
        let mut obstacles = Vec::new();
        for (stamp, (scan, truth)) in read(&bag) {
            ingest.ingest(InputKind::PointCloud2, &scan).unwrap();
            lidar.process(ingest.scan(), &mut obstacles);
            let detections: Vec<Detection2d> = truth
                .iter()
                .filter_map(|t| oracle_box(&projector, t))
                .collect();
            associator.associate(
                &mut obstacles,
                |k| lidar.points_of(k),
                &detections,
                stamp,
                -1.9,
            );
            let in_view = |o: &Obstacle| {
                let c = o.bbox.center.map(|v| v as f32);
                projector.project(c).is_some()
            };
            evaluator.add_frame_within(&obstacles, &truth, in_view);
        }
    }
    let report = evaluator.report();
    println!("{}", report.table());
    let overall = &report.overall;
    assert!(overall.true_positives >= 100, "{}", report.table());
    assert!(overall.class_accuracy >= 0.98, "{}", report.table());
    for class in [ObstacleClass::Car, ObstacleClass::Pedestrian] {
        assert!(
            report.per_class[class.label()].true_positives > 0,
            "{class:?}"
        );
    }
}

/// The whole pipeline on a scene the detector never saw in training (its
/// seeds start at 1000): lockstep replay with the synthetic-scene detector
/// and fusion, scored against the truth. A regression guard with margins
/// below what `lookout eval` measures on the demo scene (see the README).
#[test]
fn the_pipeline_fuses_with_the_synthetic_detector() {
    use lookout::bag::WriterOptions;
    use lookout::camera::engine::{Backend, EngineOptions};
    use lookout::camera::spec::ModelSpec;
    use lookout::replay::{Mode, ScheduledReplayOptions};
    use lookout::sched::SchedulerConfig;
    use lookout::sched::faults::FaultConfig;

    let dir = tempfile::tempdir().unwrap();
    let bag_path = dir.path().join("scene.mcap");
    let options = SynthOptions {
        seconds: 2.0,
        seed: 11,
        ..SynthOptions::default()
    };
    lookout::synth::synthesize(&bag_path, &options).unwrap();
    let spec = ModelSpec::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/synthetic-det.yaml"),
    )
    .unwrap();
    let engine = EngineOptions {
        backend: Backend::Tract,
        threads: 1,
        onnxruntime_library: None,
        ..EngineOptions::default()
    };
    let bag = Bag::open(&bag_path).unwrap();

    let mut camera = lookout::camera::CameraStage::load(spec.clone(), &engine).unwrap();
    let (camera_report, frames) = lookout::replay::evaluate_camera(
        &bag,
        &mut camera,
        lookout::synth::CAMERA_TRUTH_TOPIC,
        Default::default(),
        &Default::default(),
    )
    .unwrap();
    println!("{}", camera_report.table());
    assert_eq!(frames, 30);
    assert!(
        camera_report.per_class["car"].ap >= 0.7,
        "{}",
        camera_report.table()
    );

    let replay = ScheduledReplayOptions {
        mode: Mode::Lockstep,
        scheduler: SchedulerConfig::default(),
        lidar: LidarConfig::default(),
        camera: Some((spec, engine)),
        ladder: Default::default(),
        fusion: Some((
            lookout::fusion::FusionConfig::default(),
            lookout::synth::calibration(&options),
        )),
        faults: FaultConfig::default(),
        tracking: Default::default(),
        output: Default::default(),
        rig: None,
        out: Some(dir.path().join("fused.mcap")),
        writer: WriterOptions::default(),
        loops: 1,
        observe: Default::default(),
    };
    let (report, scans) = lookout::replay::evaluate_fused(
        &bag,
        &replay,
        lookout::replay::FusedTruth {
            obstacles: TRUTH_TOPIC,
            camera: lookout::synth::CAMERA_TRUTH_TOPIC,
            min_visible: 0.3,
        },
        EvalConfig {
            max_range: 40.0,
            ..EvalConfig::default()
        },
    )
    .unwrap();
    println!("{}", report.table());
    assert_eq!(scans, 20);
    let overall = &report.overall;
    assert!(overall.true_positives >= 100, "{}", report.table());
    assert!(overall.recall >= 0.9, "{}", report.table());
    assert!(overall.class_accuracy >= 0.9, "{}", report.table());
    assert!(
        report.per_class["car"].class_accuracy >= 0.95,
        "{}",
        report.table()
    );
}
