//! The stages a lane runs, assembled: decode (the same zero-copy ingest as
//! everywhere), the lidar obstacle stage, and the camera detector when a
//! model is configured. One [`PipelineWork`] per lane; each owns its stage
//! instances and buffers, so lanes share nothing while they work.
//!
//! With fusion configured (a calibration and a camera model), camera lanes
//! hand their detections to the shared [`crate::fusion::sync::CameraResults`]
//! and lidar lanes fuse each scan's obstacles with the camera frame nearest
//! in time before publishing them: camera results reach the output through
//! the fused (and camera-only) obstacles.

use crate::camera::{CameraStage, Detection2d};
use crate::fusion::{Fusion, FusionOutcome};
use crate::ingest::{FrameFacts, Ingest, InputKind, camera_facts};
use crate::lidar::LidarStage;
use crate::obstacle::Obstacle;
use crate::output::ObstacleBatch;
use crate::stage::{Job, RunContext, Sensor, StageError, Work};

/// Where (scan frame, m) the ground height for camera-only obstacles is
/// read: a few metres ahead, where a forward camera looks.
const CAMERA_GROUND_PROBE: [f32; 2] = [8.0, 0.0];

pub struct PipelineWork {
    ingest: Ingest,
    lidar: LidarStage,
    camera: Option<CameraStage>,
    obstacles: Vec<Obstacle>,
    detections: Vec<Detection2d>,
    fusion: Option<Fusion>,
    last_fusion: Option<FusionOutcome>,
    /// The last scan's header stamp less its pipeline-clock stamp: 0 live
    /// and in lockstep replay, the bag-to-wall offset in realtime replay.
    header_offset: i64,
    /// Copy each scan's points into its output (for the bird's-eye view).
    keep_points: bool,
}

impl PipelineWork {
    pub fn new(lidar: LidarStage, camera: Option<CameraStage>) -> Self {
        PipelineWork {
            ingest: Ingest::new(),
            lidar,
            camera,
            obstacles: Vec::new(),
            detections: Vec::new(),
            fusion: None,
            last_fusion: None,
            header_offset: 0,
            keep_points: false,
        }
    }

    /// Hands each scan's points (x, y) on with its obstacles.
    pub fn keep_points(mut self, keep: bool) -> Self {
        self.keep_points = keep;
        self
    }

    /// Fuses lidar obstacles with camera detections (the camera stage's
    /// classes; all lanes of a pipeline share one `Fusion` results store).
    pub fn with_fusion(mut self, fusion: Fusion) -> Self {
        self.fusion = Some(fusion);
        self
    }

    /// What fusion did with the last scan this lane ran.
    pub fn last_fusion(&self) -> Option<FusionOutcome> {
        self.last_fusion
    }

    /// Which sensor (and so which deadline and stage) a message type feeds.
    pub fn sensor_of(kind: InputKind) -> Option<Sensor> {
        match kind {
            InputKind::Image | InputKind::CompressedImage => Some(Sensor::Camera),
            InputKind::PointCloud2 => Some(Sensor::Lidar),
            _ => None,
        }
    }
}

impl Work for PipelineWork {
    type Output = ObstacleBatch;

    fn run(
        &mut self,
        sensor: Sensor,
        job: &Job,
        context: &RunContext<'_>,
    ) -> Result<FrameFacts, StageError> {
        match sensor {
            Sensor::Lidar => {
                let (facts, _) = self.ingest.ingest(job.kind, &job.bytes)?;
                let scan = self.ingest.scan();
                self.header_offset = scan.stamp - context.stamp;
                self.lidar.process(scan, &mut self.obstacles);
                if let Some(fusion) = self.fusion.as_mut() {
                    let lidar = &self.lidar;
                    // Camera frames are kept by their pipeline-clock stamps
                    // (the camera lane's `context.stamp`): pair on the
                    // scan's, and give the paired frame's stamp back in
                    // header time like the scan's own.
                    self.last_fusion = Some(fusion.fuse(
                        &mut self.obstacles,
                        |k| lidar.points_of(k),
                        context.stamp,
                        context.deadline,
                        context.clock,
                        lidar.ground_height_at(CAMERA_GROUND_PROBE[0], CAMERA_GROUND_PROBE[1]),
                    ));
                    for obstacle in self.obstacles.iter_mut().filter(|o| o.camera_stamp != 0) {
                        obstacle.camera_stamp += self.header_offset;
                    }
                }
                Ok(facts)
            }
            Sensor::Camera => {
                let frame = self.ingest.camera_frame(job.kind, &job.bytes)?;
                let facts = camera_facts(&frame);
                let Some(camera) = self.camera.as_mut() else {
                    return Ok(facts);
                };
                let fusion = self.fusion.as_ref();
                if let Some(fusion) = fusion {
                    fusion.camera_started(context.stamp);
                }
                let detected = camera.process(&frame, &mut self.detections);
                if let Some(fusion) = fusion {
                    let size = (frame.width, frame.height);
                    let ok = detected.as_ref().ok().map(|_| self.detections.as_slice());
                    fusion.camera_finished(context.stamp, size, ok);
                }
                detected.map_err(|e| StageError::stage(e.to_string()))?;
                Ok(facts)
            }
        }
    }

    fn output(
        &mut self,
        sensor: Sensor,
        _finished: i64,
        degraded: bool,
        out: &mut ObstacleBatch,
    ) -> bool {
        if sensor != Sensor::Lidar {
            return false;
        }
        let scan = self.ingest.scan();
        out.stamp = scan.stamp;
        out.frame_id.clear();
        out.frame_id.push_str(&scan.frame_id);
        // The batch takes this scan's obstacles; the lane keeps the
        // recycled vector for the next scan (no copy, no allocation).
        std::mem::swap(&mut out.obstacles, &mut self.obstacles);
        out.degraded = degraded;
        out.header_offset = self.header_offset;
        out.points_x.clear();
        out.points_y.clear();
        if self.keep_points {
            out.points_x.extend_from_slice(&scan.x);
            out.points_y.extend_from_slice(&scan.y);
        }
        true
    }
}

/// What a pipeline's lanes are built from.
pub struct LaneSetup<'a> {
    pub workers: usize,
    pub lidar: &'a crate::lidar::LidarConfig,
    /// The camera detector, if any.
    pub camera: Option<(
        &'a crate::camera::spec::ModelSpec,
        &'a crate::camera::engine::EngineOptions,
    )>,
    /// Fusion, with its calibration; applied only with a camera detector.
    pub fusion: Option<(
        &'a crate::fusion::FusionConfig,
        &'a crate::calibration::Calibration,
    )>,
    /// Hand each scan's points on with its obstacles (bird's-eye view).
    pub keep_points: bool,
}

/// `workers` lanes, each with its own stages; with fusion they share one
/// camera results store. The error names what failed to load.
pub fn build_lanes(setup: &LaneSetup<'_>) -> Result<Vec<PipelineWork>, String> {
    let max_detections = setup.camera.map_or(0, |(spec, _)| spec.max_detections);
    let results = std::sync::Arc::new(crate::fusion::sync::CameraResults::new(max_detections));
    let mut lanes = Vec::with_capacity(setup.workers);
    for _ in 0..setup.workers.max(1) {
        let lidar = LidarStage::new(setup.lidar.clone()).map_err(|e| e.to_string())?;
        let camera = match setup.camera {
            Some((spec, engine)) => {
                Some(CameraStage::load(spec.clone(), engine).map_err(|e| e.to_string())?)
            }
            None => None,
        };
        let mut lane = PipelineWork::new(lidar, camera).keep_points(setup.keep_points);
        if let (Some((spec, _)), Some((config, calibration))) = (setup.camera, setup.fusion) {
            lane = lane.with_fusion(Fusion::new(
                config.clone(),
                calibration,
                &spec.classes,
                results.clone(),
            ));
        }
        lanes.push(lane);
    }
    Ok(lanes)
}

/// The camera side of a pipeline, loaded once by whichever driver runs it
/// (the node, the replay, the eval command): the detector's model spec and
/// engine, and fusion with its calibration. Fusion needs both.
#[derive(Debug, Clone, Default)]
pub struct CameraSide {
    pub camera: Option<(
        crate::camera::spec::ModelSpec,
        crate::camera::engine::EngineOptions,
    )>,
    pub fusion: Option<(crate::fusion::FusionConfig, crate::calibration::Calibration)>,
}

/// Why the camera side could not be loaded, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("model {path}: {detail}")]
    Model { path: String, detail: String },
    #[error("calibration {path}: {detail}")]
    Calibration { path: String, detail: String },
    #[error("calibration {path}: fusion needs a camera detector (a camera model)")]
    NoModel { path: String },
}

impl CameraSide {
    /// Loads the model spec at `model` (run with `engine`) and, with a
    /// model, the calibration at `calibration` for fusion configured as
    /// `fusion`. A calibration without a model is [`SetupError::NoModel`]:
    /// the caller decides whether that is an error (a command line that
    /// asked for fusion) or a warning (a node that keeps its lidar going).
    pub fn load(
        model: Option<&std::path::Path>,
        engine: crate::camera::engine::EngineOptions,
        fusion: &crate::fusion::FusionConfig,
        calibration: Option<&std::path::Path>,
    ) -> Result<CameraSide, SetupError> {
        let camera = match model {
            Some(path) => Some((
                crate::camera::spec::ModelSpec::load(path).map_err(|e| SetupError::Model {
                    path: path.display().to_string(),
                    detail: e.to_string(),
                })?,
                engine,
            )),
            None => None,
        };
        let fusion = match (calibration, &camera) {
            (None, _) => None,
            (Some(path), None) => {
                return Err(SetupError::NoModel {
                    path: path.display().to_string(),
                });
            }
            (Some(path), Some(_)) => Some((
                fusion.clone(),
                crate::calibration::Calibration::load(path).map_err(|e| {
                    SetupError::Calibration {
                        path: path.display().to_string(),
                        detail: e.to_string(),
                    }
                })?,
            )),
        };
        Ok(CameraSide { camera, fusion })
    }

    /// As [`LaneSetup`] wants them.
    pub fn lane_setup<'a>(
        &'a self,
        workers: usize,
        lidar: &'a crate::lidar::LidarConfig,
        keep_points: bool,
    ) -> LaneSetup<'a> {
        LaneSetup {
            workers,
            lidar,
            camera: self.camera.as_ref().map(|(spec, engine)| (spec, engine)),
            fusion: self
                .fusion
                .as_ref()
                .map(|(config, calibration)| (config, calibration)),
            keep_points,
        }
    }
}
