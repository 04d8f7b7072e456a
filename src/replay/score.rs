//! Replays that score: the lidar stage, the camera detector and the fused
//! pipeline run over a bag, their outputs matched to the bag's truth with
//! [`crate::eval`]'s metrics. Everything is scored in memory.
//!
//! Owns these runs only; the metrics are [`crate::eval`]'s, the scheduled
//! replay [`super::scheduled`]'s. Never writes a bag of its own.

use super::check::StageReport;
use crate::bag::{Bag, BagError};
use crate::clock::Clock;
use crate::ingest::{Ingest, InputKind};
use crate::lidar::{LidarConfig, LidarStage};
use crate::obstacle::Obstacle;
use std::collections::BTreeMap;
use std::ops::ControlFlow;

/// The outcome of [`evaluate_lidar`].
#[derive(Debug)]
pub struct LidarEvaluation {
    pub report: crate::eval::EvalReport,
    /// Scans that had a truth record with the same stamp (the ones scored).
    pub scored_scans: u64,
    /// Scans without truth, and truth records without a scan.
    pub unpaired_scans: u64,
    pub unpaired_truth: u64,
    /// Truth records that did not decode (e.g. written with an older
    /// `lookout_msgs/Obstacle`), and the first one's error.
    pub undecodable_truth: u64,
    pub first_truth_error: Option<String>,
    pub stage: StageReport,
}

/// Runs the lidar stage over every scan of `bag` and scores its obstacles
/// against the truth records (`lookout_msgs/ObstacleArray` on `truth_topic`)
/// that carry the same stamp. A damaged bag is scored up to the damage, then
/// its error returned.
pub fn evaluate_lidar(
    bag: &Bag,
    lidar: &LidarConfig,
    truth_topic: &str,
    eval: crate::eval::EvalConfig,
    clock: &dyn Clock,
    progress: &crate::progress::Progress,
) -> Result<LidarEvaluation, BagError> {
    let mut stage = LidarStage::new(lidar.clone()).map_err(|e| BagError::Metadata {
        path: bag.path().to_path_buf(),
        detail: format!("invalid lidar configuration: {e}"),
    })?;
    let mut ingest = Ingest::new();
    let mut stage_report = StageReport::new();
    let mut detections: BTreeMap<i64, Vec<Obstacle>> = BTreeMap::new();
    let mut truth: BTreeMap<i64, Vec<Obstacle>> = BTreeMap::new();
    let mut obstacles = Vec::new();
    let (mut undecodable_truth, mut first_truth_error) = (0, None);
    let read = bag.read_messages(None, |message| {
        progress.inc();
        if message.topic == truth_topic {
            match crate::msg::ObstacleArray::decode(message.data) {
                Ok(array) => {
                    truth.insert(
                        array.header.stamp.as_nanos(),
                        array.obstacles.iter().map(Obstacle::from_msg).collect(),
                    );
                }
                Err(e) => {
                    undecodable_truth += 1;
                    first_truth_error.get_or_insert_with(|| e.to_string());
                }
            }
        } else if InputKind::from_type_name(message.type_name) == Some(InputKind::PointCloud2)
            && ingest.ingest(InputKind::PointCloud2, message.data).is_ok()
        {
            let started = clock.now_ns();
            stage.process(ingest.scan(), &mut obstacles);
            let _ = stage_report
                .time_ns
                .record(((clock.now_ns() - started).max(1)) as u64);
            stage_report.scans += 1;
            stage_report.obstacles += obstacles.len() as u64;
            detections.insert(ingest.scan().stamp, obstacles.clone());
        }
        ControlFlow::Continue(())
    });
    progress.finish();
    let mut evaluator = crate::eval::Evaluator::new(eval);
    let mut scored = 0;
    for (stamp, found) in &detections {
        if let Some(expected) = truth.get(stamp) {
            evaluator.add_frame(found, expected);
            scored += 1;
        }
    }
    read?;
    Ok(LidarEvaluation {
        report: evaluator.report(),
        scored_scans: scored,
        unpaired_scans: detections.len() as u64 - scored,
        unpaired_truth: truth.len() as u64 - scored,
        undecodable_truth,
        first_truth_error,
        stage: stage_report,
    })
}

/// Runs the camera detector over every camera frame of `bag` and scores
/// its detections against the 2D truth (`lookout_msgs/Detection2DArray` on
/// `truth_topic`) of the same stamp; frames without truth are not scored.
/// Detector classes and truth labels are both read as Lookout's classes
/// (COCO's person as pedestrian, bicycle and motorcycle as cyclist, bus as
/// truck), so a COCO detector is scored against any truth. Returns the
/// report and the number of frames scored.
pub fn evaluate_camera(
    bag: &Bag,
    camera: &mut crate::camera::CameraStage,
    truth_topic: &str,
    config: crate::eval::image::ImageEvalConfig,
    progress: &crate::progress::Progress,
) -> Result<(crate::eval::image::ImageEvalReport, u64), BagError> {
    use crate::eval::image::{ImageEvaluator, LabeledBox};
    use crate::fusion::associate::obstacle_class;
    let class_names = camera.spec().classes.clone();
    let mut reported: Vec<&str> = Vec::new();
    for name in &camera.spec().obstacle_classes {
        let label = obstacle_class(name).label();
        if obstacle_class(name) != crate::obstacle::ObstacleClass::Unknown
            && !reported.contains(&label)
        {
            reported.push(label);
        }
    }
    let mut evaluator = ImageEvaluator::new(config, &reported);
    let mut ingest = Ingest::new();
    let mut found: BTreeMap<i64, Vec<LabeledBox>> = BTreeMap::new();
    let mut truth: BTreeMap<i64, Vec<LabeledBox>> = BTreeMap::new();
    let mut detections = Vec::new();
    let read = bag.read_messages(None, |message| {
        progress.inc();
        if message.topic == truth_topic {
            if let Ok(array) = crate::msg::Detection2DArray::decode(message.data) {
                let boxes = array
                    .detections
                    .iter()
                    .map(|d| LabeledBox {
                        label: obstacle_class(&d.label).label().to_owned(),
                        score: d.score,
                        bbox: d.bbox,
                        visible: d.visible,
                    })
                    .collect();
                truth.insert(array.header.stamp.as_nanos(), boxes);
            }
            return ControlFlow::Continue(());
        }
        let kind = InputKind::from_type_name(message.type_name);
        if !matches!(kind, Some(InputKind::Image | InputKind::CompressedImage)) {
            return ControlFlow::Continue(());
        }
        let Ok(frame) = ingest.camera_frame(kind.expect("matched"), message.data) else {
            return ControlFlow::Continue(());
        };
        if camera.process(&frame, &mut detections).is_ok() {
            let boxes = detections
                .iter()
                .map(|d| LabeledBox {
                    label: obstacle_class(class_names.get(d.class as usize).map_or("", |n| n))
                        .label()
                        .to_owned(),
                    score: d.score,
                    bbox: d.bbox,
                    visible: f32::NAN,
                })
                .collect();
            found.insert(frame.stamp, boxes);
        }
        ControlFlow::Continue(())
    });
    progress.finish();
    let mut scored = 0;
    for (stamp, boxes) in &found {
        if let Some(expected) = truth.get(stamp) {
            evaluator.add_frame(boxes, expected);
            scored += 1;
        }
    }
    read?;
    Ok((evaluator.report(), scored))
}

/// The truth fused obstacles are scored against.
#[derive(Debug, Clone, Copy)]
pub struct FusedTruth<'a> {
    /// 3D truth (`lookout_msgs/ObstacleArray`).
    pub obstacles: &'a str,
    /// 2D truth (`lookout_msgs/Detection2DArray`): what the camera sees of
    /// each 3D truth object, by id.
    pub camera: &'a str,
    /// 3D truth the camera frame nearest the scan sees less than this of
    /// (or not at all) is don't care: no camera can class it. The camera
    /// eval's rule.
    pub min_visible: f32,
}

/// Replays `bag` through the scheduled pipeline in `options` (lockstep,
/// camera detector and fusion as configured; an output bag is written when
/// `options.out` names one), then scores the published obstacles, kept in
/// memory, against the 3D truth. Counted: truth the camera sees (its 2D
/// truth in the camera frame nearest the scan, within the fusion time
/// tolerance, is at least `min_visible` seen); detections whose centre
/// projects into the image. Returns the report and the scans scored.
pub fn evaluate_fused(
    bag: &Bag,
    options: &super::scheduled::ScheduledReplayOptions,
    truth: FusedTruth<'_>,
    eval: crate::eval::EvalConfig,
) -> Result<(crate::eval::EvalReport, u64), String> {
    let (fusion, calibration) = options
        .fusion
        .as_ref()
        .ok_or("evaluate_fused needs fusion (a calibration and a camera model)")?;
    let projector = crate::fusion::project::Projector::new(calibration);
    let mut options = options.clone();
    options.observe.obstacles = true;
    let report = super::scheduled::replay_scheduled(bag, &options).map_err(|e| e.to_string())?;
    let fused = report.obstacles;
    let expected = obstacle_arrays(bag, truth.obstacles).map_err(|e| e.to_string())?;
    let seen = seen_shares(bag, truth.camera).map_err(|e| e.to_string())?;
    let tolerance = (fusion.time_tolerance_ms * 1e6) as i64;
    let view = CameraView {
        projector: &projector,
        seen: &seen,
        tolerance,
        min_visible: truth.min_visible,
    };
    Ok(view.score(&fused, &expected, eval))
}

/// What one camera sees of a replay, for scoring it.
struct CameraView<'a> {
    projector: &'a crate::fusion::project::Projector,
    /// Its 2D truth: per stamp, each object's seen share.
    seen: &'a BTreeMap<i64, BTreeMap<u32, f32>>,
    /// How far from a scan its frames pair (the fusion time tolerance).
    tolerance: i64,
    min_visible: f32,
}

impl CameraView<'_> {
    /// The obstacles `found` whose centre the camera sees, scored against
    /// the truth it sees: its 2D truth nearest each scan says how much
    /// (at least `min_visible` counts); without 2D truth near a scan (a
    /// real dataset has none), the geometry decides. Returns the report
    /// and the scans scored.
    fn score(
        &self,
        found: &BTreeMap<i64, Vec<Obstacle>>,
        expected: &BTreeMap<i64, Vec<Obstacle>>,
        eval: crate::eval::EvalConfig,
    ) -> (crate::eval::EvalReport, u64) {
        let in_view = |o: &Obstacle| {
            self.projector
                .project(o.bbox.center.map(|v| v as f32))
                .is_some()
        };
        let mut evaluator = crate::eval::Evaluator::new(eval);
        let mut scored = 0;
        for (stamp, found) in found {
            let Some(expected) = expected.get(stamp) else {
                continue;
            };
            let nearest = self
                .seen
                .range(stamp - self.tolerance..=stamp + self.tolerance)
                .min_by_key(|(t, _)| (*t - stamp).abs())
                .map(|(_, shares)| shares);
            let seen_by_camera = |o: &Obstacle| match nearest {
                Some(shares) => shares.get(&o.id).is_some_and(|&v| v >= self.min_visible),
                None => in_view(o),
            };
            evaluator.add_frame_scoped(found, expected, &in_view, &seen_by_camera);
            scored += 1;
        }
        (evaluator.report(), scored)
    }
}

/// Per camera truth stamp: the seen share of each object, by id.
fn seen_shares(bag: &Bag, topic: &str) -> Result<BTreeMap<i64, BTreeMap<u32, f32>>, BagError> {
    let mut seen = BTreeMap::new();
    bag.read_messages(Some(&[topic.to_owned()]), |m| {
        if let Ok(array) = crate::msg::Detection2DArray::decode(m.data) {
            let shares = array.detections.iter().map(|d| (d.id, d.visible)).collect();
            seen.insert(array.header.stamp.as_nanos(), shares);
        }
        ControlFlow::Continue(())
    })?;
    Ok(seen)
}

/// Every `lookout_msgs/ObstacleArray` on `topic`, by header stamp (arrays
/// that do not decode are left out).
pub(super) fn obstacle_arrays(
    bag: &Bag,
    topic: &str,
) -> Result<BTreeMap<i64, Vec<Obstacle>>, BagError> {
    let mut arrays = BTreeMap::new();
    bag.read_messages(Some(&[topic.to_owned()]), |m| {
        if let Ok(array) = crate::msg::ObstacleArray::decode(m.data) {
            arrays.insert(
                array.header.stamp.as_nanos(),
                array.obstacles.iter().map(Obstacle::from_msg).collect(),
            );
        }
        ControlFlow::Continue(())
    })?;
    Ok(arrays)
}

/// The truth [`evaluate_rig`] scores against.
#[derive(Debug, Clone, Copy)]
pub struct RigTruth<'a> {
    /// 3D truth (`lookout_msgs/ObstacleArray`), in the rig's base frame.
    pub obstacles: &'a str,
    /// Per camera, truth it sees less of than this is don't care.
    pub min_visible: f32,
    /// Per camera, only obstacles this near the base are scored (m).
    pub camera_range: f64,
}

/// What [`evaluate_rig`] found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RigEvaluation {
    /// Every published obstacle against every truth object, all around.
    pub all: crate::eval::EvalReport,
    /// Per calibrated camera of the rig (by name): the fused obstacles
    /// whose centre it sees, against the truth it sees (its 2D truth,
    /// `synth::rig::camera_truth_topic`, at least `min_visible`; without
    /// any, the truth whose centre it sees); empty without a detector.
    pub cameras: Vec<(String, crate::eval::EvalReport)>,
    /// Scans scored.
    pub scans: u64,
}

/// Replays `bag` through the scheduled pipeline in `options` with its rig
/// (lockstep; the lidars merged, every camera detected and fused when a
/// detector is configured) and scores the published obstacles, in memory,
/// against the 3D truth: all around, and per camera.
pub fn evaluate_rig(
    bag: &Bag,
    options: &super::scheduled::ScheduledReplayOptions,
    truth: RigTruth<'_>,
    eval: crate::eval::EvalConfig,
) -> Result<RigEvaluation, String> {
    let (rig, fusion) = options.sensors();
    let rig = super::scheduled::resolve_rig(bag, &rig)?;
    let mut options = options.clone();
    options.observe.obstacles = true;
    let report = super::scheduled::replay_scheduled(bag, &options).map_err(|e| e.to_string())?;
    let expected = obstacle_arrays(bag, truth.obstacles).map_err(|e| e.to_string())?;
    let mut all = crate::eval::Evaluator::new(eval.clone());
    let camera_eval = crate::eval::EvalConfig {
        max_range: truth.camera_range,
        ..eval.clone()
    };
    let mut scans = 0;
    for (stamp, found) in &report.obstacles {
        if let Some(expected) = expected.get(stamp) {
            all.add_frame(found, expected);
            scans += 1;
        }
    }
    let mut cameras = Vec::new();
    if let Some(fusion) = fusion.filter(|_| options.camera.is_some()) {
        let tolerance = (fusion.time_tolerance_ms * 1e6) as i64;
        for camera in rig.of_kind(crate::rig::SensorKind::Camera) {
            let Some(calibration) = rig.camera_calibration(camera) else {
                continue;
            };
            let name = &rig.get(camera).name;
            let projector = crate::fusion::project::Projector::new(&calibration);
            let topic = crate::synth::rig::camera_truth_topic(name);
            let seen = seen_shares(bag, &topic).map_err(|e| e.to_string())?;
            let view = CameraView {
                projector: &projector,
                seen: &seen,
                tolerance,
                min_visible: truth.min_visible,
            };
            let (report, _) = view.score(&report.obstacles, &expected, camera_eval.clone());
            cameras.push((name.clone(), report));
        }
    }
    Ok(RigEvaluation {
        all: all.report(),
        cameras,
        scans,
    })
}
