//! The stages a lane runs, assembled: decode (the same zero-copy ingest as
//! everywhere), the lidar obstacle stage, and the camera detector when a
//! model is configured. One [`PipelineWork`] per lane; each owns its stage
//! instances and buffers, so lanes share nothing while they work.
//!
//! The rig ([`crate::rig`]) says what each sensor is. A lidar frame is one
//! scan, or the scans of several lidars the merge window
//! ([`crate::merge`]) gathered; each is moved into the base frame and the
//! lidar stage runs once on them together. Every camera runs the one
//! detector of the lane.
//!
//! With fusion configured (calibrated cameras and a camera model), camera
//! lanes hand their detections to their camera's shared
//! [`crate::fusion::sync::CameraResults`] and lidar lanes fuse each scan's
//! obstacles with every camera's frame nearest in time before publishing
//! them: camera results reach the output through the fused (and
//! camera-only) obstacles.

use crate::camera::Detection2d;
use crate::camera::ladder::{CameraConfig, CameraLadder};
use crate::frames::{LidarScan, RigidF32};
use crate::fusion::sync::CameraResults;
use crate::fusion::{Fusion, FusionCamera, FusionOutcome};
use crate::ingest::{FrameFacts, Ingest, camera_facts};
use crate::lidar::LidarStage;
use crate::obstacle::Obstacle;
use crate::output::{BatchKind, ObstacleBatch};
use crate::rig::{Rig, SensorKind};
use crate::stage::{Job, RunContext, Sensor, StageError, Work};
use std::sync::Arc;

/// Where (base frame, m) the ground height for camera-only obstacles is
/// read: a few metres ahead, where a forward camera looks.
const CAMERA_GROUND_PROBE: [f32; 2] = [8.0, 0.0];

pub struct PipelineWork {
    rig: Arc<Rig>,
    /// Per sensor: how its points move into the base frame (`None`: they
    /// are there already).
    to_base: Vec<Option<RigidF32>>,
    ingest: Ingest,
    lidar: LidarStage,
    camera: Option<CameraLadder>,
    obstacles: Vec<Obstacle>,
    detections: Vec<Detection2d>,
    fusion: Option<Fusion>,
    last_fusion: Option<FusionOutcome>,
    /// The scan in the base frame when it had to be moved or merged.
    merged: LidarScan,
    /// Whether the last scan is `merged` (else the ingest's own).
    last_merged: bool,
    /// The lidars in the last scan, a bit per sensor index.
    merged_mask: u64,
    /// The last scan's header stamp less its pipeline-clock stamp: 0 live
    /// and in lockstep replay, the bag-to-wall offset in realtime replay.
    header_offset: i64,
    /// Copy each scan's points into its output (for the bird's-eye view).
    keep_points: bool,
    /// Hand each camera frame's detections on (2D output formats), with
    /// the detector's class names.
    camera_outputs: Option<Arc<[String]>>,
    /// The last camera frame's header stamp, frame, and header less
    /// pipeline-clock stamp (as `header_offset`).
    camera_stamp: i64,
    camera_frame_id: String,
    camera_offset: i64,
}

impl PipelineWork {
    /// Stages for the sensors of `rig`.
    pub fn new(rig: Arc<Rig>, lidar: LidarStage, camera: Option<CameraLadder>) -> Self {
        let to_base = rig
            .all()
            .map(|(sensor, s)| {
                let moved = s
                    .extrinsics
                    .as_ref()
                    .is_some_and(|p| *p != crate::rig::Pose::IDENTITY);
                moved.then(|| rigid(&rig, sensor))
            })
            .collect();
        PipelineWork {
            rig,
            to_base,
            ingest: Ingest::new(),
            lidar,
            camera,
            obstacles: Vec::new(),
            detections: Vec::new(),
            fusion: None,
            last_fusion: None,
            merged: LidarScan::new(),
            last_merged: false,
            merged_mask: 0,
            header_offset: 0,
            keep_points: false,
            camera_outputs: None,
            camera_stamp: 0,
            camera_frame_id: String::new(),
            camera_offset: 0,
        }
    }

    /// Hands each camera frame's detections on as an output of its own
    /// (for the 2D output formats); without a detector there are none.
    fn hand_on_detections(&mut self, on: bool) {
        self.camera_outputs = self
            .camera
            .as_ref()
            .filter(|_| on)
            .map(|c| Arc::from(c.top().spec().classes.as_slice()));
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

    /// How the scheduler picks the camera detector's rung per frame (one,
    /// fixed, without a detector).
    pub fn camera_variants(&self) -> crate::sched::Variants {
        self.camera
            .as_ref()
            .map_or_else(Default::default, CameraLadder::variants)
    }

    /// The camera detector's rungs, most accurate first (empty without one).
    pub fn camera_variant_names(&self) -> Vec<String> {
        self.camera
            .as_ref()
            .map_or_else(Vec::new, CameraLadder::names)
    }

    /// What fusion did with the last scan this lane ran.
    pub fn last_fusion(&self) -> Option<FusionOutcome> {
        self.last_fusion
    }

    fn scan(&self) -> &LidarScan {
        if self.last_merged {
            &self.merged
        } else {
            self.ingest.scan()
        }
    }

    /// Decodes the job's scans: one scan already in the base frame is used
    /// as decoded; otherwise every scan is moved into the base frame and
    /// merged, stamped with the earliest.
    fn decode_scans(&mut self, sensor: Sensor, job: &Job) -> Result<FrameFacts, StageError> {
        if job.parts.is_empty() && self.to_base[sensor.index()].is_none() {
            let (facts, _) = self.ingest.ingest(job.kind, &job.bytes)?;
            self.last_merged = false;
            self.merged_mask = 1 << sensor.index();
            return Ok(facts);
        }
        let mut total = FrameFacts::default();
        let mut first = true;
        self.merged_mask = 0;
        for (part, bytes) in job.messages(sensor) {
            let (facts, _) = self.ingest.ingest(job.kind, bytes)?;
            let scan = self.ingest.scan();
            if first {
                self.merged.start_merge(scan.stamp, &self.rig.base_frame);
                total.stamp = facts.stamp;
                first = false;
            }
            // Parts come earliest first: the merged scan keeps that stamp.
            let pose = self.to_base[part.index()].unwrap_or(RigidF32::IDENTITY);
            self.merged.append_moved(scan, &pose);
            self.merged_mask |= 1 << part.index();
            total.point_count += facts.point_count;
            total.dropped_non_finite += facts.dropped_non_finite;
        }
        self.last_merged = true;
        Ok(total)
    }

    fn run_lidar(
        &mut self,
        sensor: Sensor,
        job: &Job,
        context: &RunContext<'_>,
    ) -> Result<FrameFacts, StageError> {
        let facts = self.decode_scans(sensor, job)?;
        let scan = if self.last_merged {
            &self.merged
        } else {
            self.ingest.scan()
        };
        self.header_offset = scan.stamp - context.stamp;
        self.lidar.process(scan, &mut self.obstacles);
        if let Some(fusion) = self.fusion.as_mut() {
            let lidar = &self.lidar;
            // Camera frames are kept by their pipeline-clock stamps (the
            // camera lane's `context.stamp`): pair on the scan's, and give
            // the paired frame's stamp back in header time like the scan's.
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

    fn run_camera(
        &mut self,
        sensor: Sensor,
        job: &Job,
        context: &RunContext<'_>,
    ) -> Result<FrameFacts, StageError> {
        let frame = self.ingest.camera_frame(job.kind, &job.bytes)?;
        let facts = camera_facts(&frame);
        self.camera_stamp = frame.stamp;
        self.camera_offset = frame.stamp - context.stamp;
        self.camera_frame_id.clear();
        self.camera_frame_id.push_str(frame.frame_id);
        let Some(camera) = self.camera.as_mut() else {
            return Ok(facts);
        };
        let fusion = self.fusion.as_ref();
        if let Some(fusion) = fusion {
            fusion.camera_started(sensor, context.stamp);
        }
        let detected = camera.process(context.variant, &frame, &mut self.detections);
        if let Some(fusion) = fusion {
            let size = (frame.width, frame.height);
            let ok = detected.as_ref().ok().map(|_| self.detections.as_slice());
            fusion.camera_finished(sensor, context.stamp, size, ok);
        }
        detected.map_err(|e| StageError::stage(e.to_string()))?;
        Ok(facts)
    }
}

impl PipelineWork {
    /// A camera frame's detections into `out`, when they are handed on.
    fn output_detections(
        &mut self,
        sensor: Sensor,
        degraded: bool,
        out: &mut ObstacleBatch,
    ) -> bool {
        let Some(names) = &self.camera_outputs else {
            return false;
        };
        out.kind = BatchKind::Camera;
        out.sensor = sensor.index();
        out.class_names = Some(names.clone());
        out.stamp = self.camera_stamp;
        out.frame_id.clear();
        out.frame_id.push_str(&self.camera_frame_id);
        // The batch takes the frame's detections; the lane keeps the
        // recycled vector (no copy, no allocation).
        std::mem::swap(&mut out.detections, &mut self.detections);
        out.obstacles.clear();
        out.points_x.clear();
        out.points_y.clear();
        out.degraded = degraded;
        out.header_offset = self.camera_offset;
        out.lidars = 0;
        true
    }
}

/// The transform of `sensor`'s points into the rig's base frame.
fn rigid(rig: &Rig, sensor: Sensor) -> RigidF32 {
    let e = rig.to_base(sensor);
    let r = e.rotation_matrix();
    let t = e.translation;
    RigidF32 {
        rotation: [
            r[(0, 0)] as f32,
            r[(0, 1)] as f32,
            r[(0, 2)] as f32,
            r[(1, 0)] as f32,
            r[(1, 1)] as f32,
            r[(1, 2)] as f32,
            r[(2, 0)] as f32,
            r[(2, 1)] as f32,
            r[(2, 2)] as f32,
        ],
        translation: [t[0] as f32, t[1] as f32, t[2] as f32],
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
        match self.rig.kind(sensor) {
            SensorKind::Lidar => self.run_lidar(sensor, job, context),
            SensorKind::Camera => self.run_camera(sensor, job, context),
        }
    }

    fn output(
        &mut self,
        sensor: Sensor,
        _finished: i64,
        degraded: bool,
        out: &mut ObstacleBatch,
    ) -> bool {
        if self.rig.kind(sensor) != SensorKind::Lidar {
            return self.output_detections(sensor, degraded, out);
        }
        let scan = self.scan();
        out.kind = BatchKind::Scan;
        out.sensor = sensor.index();
        out.detections.clear();
        out.stamp = scan.stamp;
        out.frame_id.clear();
        out.frame_id.push_str(&scan.frame_id);
        out.points_x.clear();
        out.points_y.clear();
        if self.keep_points {
            out.points_x.extend_from_slice(&scan.x);
            out.points_y.extend_from_slice(&scan.y);
        }
        // The batch takes this scan's obstacles; the lane keeps the
        // recycled vector for the next scan (no copy, no allocation).
        std::mem::swap(&mut out.obstacles, &mut self.obstacles);
        out.degraded = degraded;
        out.header_offset = self.header_offset;
        out.lidars = self.merged_mask;
        true
    }
}

/// What a pipeline's lanes are built from.
pub struct LaneSetup<'a> {
    pub workers: usize,
    pub lidar: &'a crate::lidar::LidarConfig,
    /// The sensors.
    pub rig: &'a Rig,
    /// The camera detector, if any.
    pub camera: Option<(
        &'a crate::camera::spec::ModelSpec,
        &'a crate::camera::engine::EngineOptions,
    )>,
    /// Which of the detector's rungs the lanes load and how one is chosen.
    pub ladder: &'a CameraConfig,
    /// Fusion, through each calibrated camera of the rig; applied only
    /// with a camera detector.
    pub fusion: Option<&'a crate::fusion::FusionConfig>,
    /// Hand each scan's points on with its obstacles (bird's-eye view).
    pub keep_points: bool,
    /// Hand each camera frame's detections on (the 2D output formats).
    pub detections_out: bool,
}

/// `workers` lanes, each with its own stages; with fusion they share one
/// results store per camera. The error names what failed to load.
pub fn build_lanes(setup: &LaneSetup<'_>) -> Result<Vec<PipelineWork>, String> {
    let max_detections = setup.camera.map_or(0, |(spec, _)| spec.max_detections);
    let rig = Arc::new(setup.rig.clone());
    let cameras: Vec<(Sensor, crate::calibration::Calibration, Arc<CameraResults>)> = rig
        .of_kind(SensorKind::Camera)
        .filter_map(|camera| {
            let calibration = rig.camera_calibration(camera)?;
            Some((
                camera,
                calibration,
                Arc::new(CameraResults::new(max_detections)),
            ))
        })
        .collect();
    let mut lanes = Vec::with_capacity(setup.workers);
    for _ in 0..setup.workers.max(1) {
        let lidar = LidarStage::new(setup.lidar.clone()).map_err(|e| e.to_string())?;
        let camera = match setup.camera {
            Some((spec, engine)) => Some(CameraLadder::load(spec, engine, setup.ladder)?),
            None => None,
        };
        let mut lane = PipelineWork::new(rig.clone(), lidar, camera).keep_points(setup.keep_points);
        lane.hand_on_detections(setup.detections_out);
        if let (Some((spec, _)), Some(config)) = (setup.camera, setup.fusion)
            && !cameras.is_empty()
        {
            let fusion_cameras = cameras
                .iter()
                .map(|(sensor, calibration, results)| FusionCamera {
                    sensor: *sensor,
                    calibration,
                    results: results.clone(),
                })
                .collect();
            lane = lane.with_fusion(Fusion::new(config.clone(), &spec.classes, fusion_cameras));
        }
        lanes.push(lane);
    }
    Ok(lanes)
}

/// Where every output message goes for `rig` (`output.routes`): with a
/// `detector`, the 2D messages for each of its cameras.
pub fn output_routes(
    rig: &Rig,
    detector: bool,
    output: &crate::output::OutputConfig,
    tracking: bool,
    prefix: &str,
    lookout_topic: &str,
) -> Vec<crate::output::Route> {
    let cameras: Vec<(usize, &str)> = rig
        .of_kind(SensorKind::Camera)
        .filter(|_| detector)
        .map(|c| (c.index(), rig.get(c).name.as_str()))
        .collect();
    output.routes(tracking, &cameras, prefix, lookout_topic)
}

/// The scheduler's sensor set for `rig` with the lanes' camera ladder: each
/// camera's rung chosen as the lanes' detector says.
pub fn sensor_set(
    rig: &Rig,
    scheduler: &crate::sched::SchedulerConfig,
    faults: &crate::sched::faults::FaultConfig,
    lanes: &[PipelineWork],
) -> crate::sched::SensorSet {
    let mut sensors = rig.sensor_set(scheduler, faults);
    if let Some(lane) = lanes.first() {
        for camera in rig.of_kind(SensorKind::Camera) {
            sensors.set_variants(camera, lane.camera_variants());
        }
    }
    sensors
}

/// The camera side of a pipeline, loaded once by whichever driver runs it
/// (the node, the replay, the eval command): the detector's model spec and
/// engine, the rig, and fusion. Fusion needs a detector and calibrated
/// cameras.
#[derive(Debug, Clone)]
pub struct CameraSide {
    pub camera: Option<(
        crate::camera::spec::ModelSpec,
        crate::camera::engine::EngineOptions,
    )>,
    pub rig: Rig,
    pub fusion: Option<crate::fusion::FusionConfig>,
}

impl Default for CameraSide {
    fn default() -> Self {
        CameraSide {
            camera: None,
            rig: Rig::from_calibration(None),
            fusion: None,
        }
    }
}

/// Why the camera side could not be loaded, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("model {path}: {detail}")]
    Model { path: String, detail: String },
    #[error("calibration {path}: {detail}")]
    Calibration { path: String, detail: String },
    #[error(transparent)]
    Rig(#[from] crate::rig::RigError),
    #[error("calibration {path}: fusion needs a camera detector (a camera model)")]
    NoModel { path: String },
    #[error("a rig file ({rig}) and a calibration file ({calibration}): give one")]
    RigAndCalibration { rig: String, calibration: String },
}

impl CameraSide {
    /// Loads the model spec at `model` (run with `engine`) and the sensors:
    /// the rig file at `rig`, or the rig of the calibration file at
    /// `calibration` (read only with a model, for fusion configured as
    /// `fusion`). A calibration without a model is [`SetupError::NoModel`]:
    /// the caller decides whether that is an error (a command line that
    /// asked for fusion) or a warning (a node that keeps its lidar going).
    /// A rig file fuses through its cameras whenever there is a model.
    pub fn load(
        model: Option<&std::path::Path>,
        engine: crate::camera::engine::EngineOptions,
        fusion: &crate::fusion::FusionConfig,
        calibration: Option<&std::path::Path>,
        rig: Option<&std::path::Path>,
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
        if let (Some(rig), Some(calibration)) = (rig, calibration) {
            return Err(SetupError::RigAndCalibration {
                rig: rig.display().to_string(),
                calibration: calibration.display().to_string(),
            });
        }
        if let Some(path) = rig {
            return Ok(CameraSide {
                fusion: camera.as_ref().map(|_| fusion.clone()),
                camera,
                rig: Rig::load(path)?,
            });
        }
        let calibration = match (calibration, &camera) {
            (None, _) => None,
            (Some(path), None) => {
                return Err(SetupError::NoModel {
                    path: path.display().to_string(),
                });
            }
            (Some(path), Some(_)) => {
                Some(crate::calibration::Calibration::load(path).map_err(|e| {
                    SetupError::Calibration {
                        path: path.display().to_string(),
                        detail: e.to_string(),
                    }
                })?)
            }
        };
        Ok(CameraSide {
            fusion: calibration.as_ref().map(|_| fusion.clone()),
            rig: Rig::from_calibration(calibration.as_ref()),
            camera,
        })
    }

    /// Fusion through the single calibration file, when that is the rig.
    pub fn calibration_fusion(
        &self,
    ) -> Option<(crate::fusion::FusionConfig, crate::calibration::Calibration)> {
        let fusion = self.fusion.clone().filter(|_| self.rig.routes_by_type())?;
        Some((fusion, self.rig.camera_calibration(Sensor::CAMERA)?))
    }

    /// A rig file's rig and the fusion through its cameras (`config` when
    /// no detector makes fusion moot).
    pub fn rig_fusion(
        &self,
        config: &crate::fusion::FusionConfig,
    ) -> Option<(Rig, crate::fusion::FusionConfig)> {
        let fusion = self.fusion.clone().unwrap_or_else(|| config.clone());
        (!self.rig.routes_by_type()).then(|| (self.rig.clone(), fusion))
    }

    /// As [`LaneSetup`] wants them.
    pub fn lane_setup<'a>(
        &'a self,
        workers: usize,
        lidar: &'a crate::lidar::LidarConfig,
        ladder: &'a CameraConfig,
        keep_points: bool,
        detections_out: bool,
    ) -> LaneSetup<'a> {
        LaneSetup {
            workers,
            lidar,
            rig: &self.rig,
            camera: self.camera.as_ref().map(|(spec, engine)| (spec, engine)),
            ladder,
            fusion: self.fusion.as_ref(),
            keep_points,
            detections_out,
        }
    }

    /// Where every output message goes (`output.routes`): the 2D messages
    /// for each of the rig's cameras when there is a detector.
    pub fn output_routes(
        &self,
        output: &crate::output::OutputConfig,
        tracking: bool,
        prefix: &str,
        lookout_topic: &str,
    ) -> Vec<crate::output::Route> {
        output_routes(
            &self.rig,
            self.camera.is_some(),
            output,
            tracking,
            prefix,
            lookout_topic,
        )
    }
}
