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
use crate::cdr::CdrWriter;
use crate::frames::Obstacle;
use crate::fusion::{Fusion, FusionOutcome};
use crate::ingest::{FrameFacts, Ingest, InputKind, camera_facts};
use crate::lidar::LidarStage;
use crate::msg::{Encode, Header, ObstacleArrayRef, Time};
use crate::sched::Sensor;
use crate::sched::runtime::{Job, OutputTopic, RunContext, StageError, Work};

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
        }
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

    fn write(
        &mut self,
        sensor: Sensor,
        finished: i64,
        late: bool,
        degraded: bool,
        out: &mut Vec<u8>,
    ) -> Option<OutputTopic> {
        if sensor != Sensor::Lidar {
            return None;
        }
        let scan = self.ingest.scan();
        // Obstacle stamps are header time; so is `finished` after this.
        let finished = finished + self.header_offset;
        for obstacle in &mut self.obstacles {
            obstacle.latency = end_to_end_latency(obstacle, finished);
        }
        let array = ObstacleArrayRef {
            header: Header {
                stamp: Time::from_nanos(scan.stamp),
                frame_id: &scan.frame_id,
            },
            obstacles: &self.obstacles,
            degraded,
            late,
        };
        let mut w = CdrWriter::from_buffer(std::mem::take(out));
        array.encode_into(&mut w);
        *out = w.into_bytes();
        Some(OutputTopic::Obstacles)
    }
}

/// Seconds from the oldest of the obstacle's source stamps (0: that
/// source did not contribute) to `finished`.
fn end_to_end_latency(obstacle: &Obstacle, finished: i64) -> f32 {
    let oldest = [obstacle.lidar_stamp, obstacle.camera_stamp]
        .into_iter()
        .filter(|&s| s != 0)
        .min();
    match oldest {
        Some(stamp) => ((finished - stamp) as f64 * 1e-9) as f32,
        None => f32::NAN,
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
        let mut lane = PipelineWork::new(lidar, camera);
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
