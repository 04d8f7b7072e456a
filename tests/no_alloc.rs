//! The per-frame paths allocate nothing once their buffers are warm:
//! `allocation-counter`'s counting global allocator watches this thread while
//! frames are ingested, and while camera results are stored and scans fused.

mod common;

use lookout::bag::Bag;
use lookout::ingest::{Ingest, InputKind};
use lookout::synth;
use std::ops::ControlFlow;

#[test]
fn ingesting_images_camera_info_and_clouds_allocates_nothing_after_warm_up() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scene.mcap");
    common::write_small_scene(&path, 0.5, 5);
    let mut messages: Vec<(InputKind, Vec<u8>)> = Vec::new();
    Bag::open(&path)
        .unwrap()
        .read_messages(None, |m| {
            // The ego's pose on /tf goes to the output chain, not to ingest.
            if m.topic == synth::TF_TOPIC {
                return ControlFlow::Continue(());
            }
            let kind = InputKind::from_type_name(m.type_name).unwrap();
            // Ground truth (3D and 2D) is read by evaluations, not per frame.
            if m.topic != synth::TRUTH_TOPIC && m.topic != synth::CAMERA_TRUTH_TOPIC {
                messages.push((kind, m.data.to_vec()));
            }
            ControlFlow::Continue(())
        })
        .unwrap();
    // The scans differ in size; warm up on the largest of each kind.
    let mut ingest = Ingest::new();
    for (kind, data) in &messages {
        ingest.ingest(*kind, data).unwrap();
    }
    let mut points = 0u64;
    let counted = allocation_counter::measure(|| {
        for (kind, data) in &messages {
            let (facts, _) = ingest.ingest(*kind, data).unwrap();
            points += facts.point_count as u64;
        }
    });
    assert!(points > 0);
    assert_eq!(
        counted.count_total,
        0,
        "allocations while ingesting {} warm frames",
        messages.len()
    );
}

/// Fusion on a lidar lane: camera lanes hand their detections to the shared
/// results ring, a scan pairs with the nearest frame, its obstacles are
/// associated. Camera detections here are the scene's 2D truth boxes.
#[test]
fn fusing_scans_with_camera_detections_allocates_nothing_after_warm_up() {
    use lookout::camera::Detection2d;
    use lookout::clock::MonotonicClock;
    use lookout::fusion::sync::CameraResults;
    use lookout::fusion::{Fusion, FusionConfig};
    use lookout::lidar::{LidarConfig, LidarStage};
    use lookout::msg::Detection2DArray;
    use lookout::stage::Sensor;
    use std::sync::Arc;

    enum Event {
        Camera(i64, Vec<Detection2d>),
        Scan(i64, Vec<u8>),
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scene.mcap");
    let options = common::small_scene_options(1.0, 6);
    synth::synthesize(&path, &options).unwrap();
    let classes: Vec<String> = ["car", "truck", "pedestrian", "cyclist"]
        .map(String::from)
        .to_vec();
    let mut events = Vec::new();
    Bag::open(&path)
        .unwrap()
        .read_messages(None, |m| {
            if m.topic == synth::CAMERA_TRUTH_TOPIC {
                let array = Detection2DArray::decode(m.data).unwrap();
                let boxes = array
                    .detections
                    .iter()
                    .filter_map(|d| {
                        let class = classes.iter().position(|c| *c == d.label)?;
                        Some(Detection2d {
                            class: class as u16,
                            score: 0.9,
                            bbox: d.bbox,
                        })
                    })
                    .collect();
                events.push(Event::Camera(array.header.stamp.as_nanos(), boxes));
            } else if InputKind::from_type_name(m.type_name) == Some(InputKind::PointCloud2) {
                let stamp = lookout::ingest::header_stamp(m.data).unwrap();
                events.push(Event::Scan(stamp, m.data.to_vec()));
            }
            ControlFlow::Continue(())
        })
        .unwrap();
    let calibration = synth::calibration(&options);
    let size = (
        calibration.camera.image_width,
        calibration.camera.image_height,
    );
    let camera = lookout::fusion::FusionCamera {
        sensor: Sensor::CAMERA,
        calibration: &calibration,
        results: Arc::new(CameraResults::new(100)),
    };
    let mut fusion = Fusion::new(FusionConfig::default(), &classes, vec![camera]);
    let mut lidar = LidarStage::new(LidarConfig::default()).unwrap();
    let mut ingest = Ingest::new();
    let mut obstacles = Vec::new();
    let clock = MonotonicClock::new();
    let (mut allocations, mut fused) = (0, 0);
    for pass in 0..2 {
        for event in &events {
            let counted = match event {
                Event::Camera(stamp, boxes) => allocation_counter::measure(|| {
                    fusion.camera_started(Sensor::CAMERA, *stamp);
                    fusion.camera_finished(Sensor::CAMERA, *stamp, size, Some(boxes));
                }),
                Event::Scan(stamp, data) => {
                    ingest.ingest(InputKind::PointCloud2, data).unwrap();
                    lidar.process(ingest.scan(), &mut obstacles);
                    allocation_counter::measure(|| {
                        let outcome = fusion.fuse(
                            &mut obstacles,
                            |k| lidar.points_of(k),
                            *stamp,
                            i64::MAX,
                            &clock,
                            -1.9,
                        );
                        fused += outcome.stats.fused;
                    })
                }
            };
            if pass == 1 {
                allocations += counted.count_total;
            }
        }
    }
    assert!(fused > 20, "only {fused} obstacles fused");
    assert_eq!(allocations, 0, "allocations while fusing warm frames");
}

/// After the lanes: a lane hands its scan's obstacles on in a recycled
/// batch (`Work::output`), the output chain stamps, encodes them in every
/// format (lookout_msgs, vision_msgs, Autoware) and hands each to the sink,
/// the markers are drawn from the same batch, and the batch goes back. With
/// warm buffers none of it allocates.
#[test]
fn the_output_chain_and_markers_allocate_nothing_after_warm_up() {
    use lookout::clock::SimulatedClock;
    use lookout::lidar::{LidarConfig, LidarStage};
    use lookout::node::present::Presenter;
    use lookout::output::{ObstacleBatch, OutputChain, OutputConfig, OutputFormat, OutputMessage};
    use lookout::pipeline::PipelineWork;
    use lookout::stage::{Job, RunContext, Sensor, Work};
    use lookout::track::TrackingConfig;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scene.mcap");
    common::write_small_scene(&path, 0.5, 5);
    let mut scans = Vec::new();
    Bag::open(&path)
        .unwrap()
        .read_messages(None, |m| {
            if InputKind::from_type_name(m.type_name) == Some(InputKind::PointCloud2) {
                scans.push(m.data.to_vec());
            }
            ControlFlow::Continue(())
        })
        .unwrap();
    let rig = std::sync::Arc::new(lookout::rig::Rig::from_calibration(None));
    let mut lane = PipelineWork::new(rig, LidarStage::new(LidarConfig::default()).unwrap(), None);
    let clock = SimulatedClock::new(0);
    let output = OutputConfig {
        formats: OutputFormat::ALL.to_vec(),
        ..OutputConfig::default()
    };
    let tracking = TrackingConfig {
        enabled: false,
        ..TrackingConfig::default()
    };
    let mut chain = OutputChain::with_tracking(&tracking, &output);
    assert_eq!(
        chain.messages(),
        [
            OutputMessage::Obstacles,
            OutputMessage::Detections3d,
            OutputMessage::Objects,
            OutputMessage::Scene
        ]
    );
    let mut presenter = Presenter::new("base_link");
    let mut pool: Vec<ObstacleBatch> = vec![ObstacleBatch::default(), ObstacleBatch::default()];
    let mut jobs: Vec<Job> = scans
        .iter()
        .map(|bytes| Job::single(InputKind::PointCloud2, bytes.clone(), 0))
        .collect();
    let mut handed = 0u64;
    let mut frame = |jobs: &mut Vec<Job>, pool: &mut Vec<ObstacleBatch>, handed: &mut u64| {
        for job in jobs.iter_mut() {
            let context = RunContext {
                stamp: 0,
                deadline: i64::MAX,
                clock: &clock,
                variant: 0,
            };
            lane.run(Sensor::LIDAR, job, &context).unwrap();
            let mut batch = pool.pop().unwrap();
            assert!(lane.output(Sensor::LIDAR, 0, false, &mut batch));
            let handoff = chain
                .emit(&mut batch, i64::MAX, false, &clock, |_, bytes, _| {
                    *handed += bytes.len() as u64;
                    Ok::<(), ()>(())
                })
                .unwrap();
            assert!(!handoff.late);
            let markers = presenter.markers(batch.stamp, &batch.frame_id, &batch.obstacles);
            *handed += markers.len() as u64;
            pool.push(batch);
        }
    };
    // Warm-up: every scan twice, so both batches of the pool have seen the
    // largest obstacle list.
    frame(&mut jobs, &mut pool, &mut handed);
    frame(&mut jobs, &mut pool, &mut handed);
    let counted = allocation_counter::measure(|| frame(&mut jobs, &mut pool, &mut handed));
    assert!(handed > 0);
    assert_eq!(
        counted.count_total,
        0,
        "allocations after the lanes over {} warm scans",
        scans.len()
    );

    // A camera frame's detections, as vision_msgs and Foxglove annotations.
    let names: std::sync::Arc<[String]> = ["car".to_owned(), "person".to_owned()].into();
    let mut camera = ObstacleBatch {
        kind: lookout::output::BatchKind::Camera,
        frame_id: "camera".into(),
        detections: (0..20)
            .map(|k| lookout::camera::Detection2d {
                class: k % 2,
                score: 0.5,
                bbox: [f32::from(k), 10.0, f32::from(k) + 30.0, 60.0],
            })
            .collect(),
        class_names: Some(names),
        ..ObstacleBatch::default()
    };
    let mut emit_camera = |camera: &mut ObstacleBatch| {
        chain
            .emit(camera, i64::MAX, false, &clock, |_, bytes, _| {
                handed += bytes.len() as u64;
                Ok::<(), ()>(())
            })
            .unwrap();
    };
    emit_camera(&mut camera);
    let counted = allocation_counter::measure(|| emit_camera(&mut camera));
    assert_eq!(counted.count_total, 0, "allocations for a camera frame");
}
