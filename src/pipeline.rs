//! The stages a lane runs, assembled: decode (the same zero-copy ingest as
//! everywhere), the lidar obstacle stage, and the camera detector when a
//! model is configured. One [`PipelineWork`] per lane; each owns its stage
//! instances and buffers, so lanes share nothing while they work.
//!
//! Camera detections are computed and timed under their deadline; they get
//! an output topic with camera–lidar fusion.

use crate::camera::{CameraStage, Detection2d};
use crate::cdr::CdrWriter;
use crate::frames::Obstacle;
use crate::ingest::{FrameFacts, Ingest, InputKind, camera_facts};
use crate::lidar::LidarStage;
use crate::msg::{Encode, Header, ObstacleArrayRef, Time};
use crate::sched::Sensor;
use crate::sched::runtime::{Job, OutputTopic, StageError, Work};

pub struct PipelineWork {
    ingest: Ingest,
    lidar: LidarStage,
    camera: Option<CameraStage>,
    obstacles: Vec<Obstacle>,
    detections: Vec<Detection2d>,
}

impl PipelineWork {
    pub fn new(lidar: LidarStage, camera: Option<CameraStage>) -> Self {
        PipelineWork {
            ingest: Ingest::new(),
            lidar,
            camera,
            obstacles: Vec::new(),
            detections: Vec::new(),
        }
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
    fn run(&mut self, sensor: Sensor, job: &Job) -> Result<FrameFacts, StageError> {
        match sensor {
            Sensor::Lidar => {
                let (facts, _) = self.ingest.ingest(job.kind, &job.bytes)?;
                self.lidar.process(self.ingest.scan(), &mut self.obstacles);
                Ok(facts)
            }
            Sensor::Camera => {
                let frame = self.ingest.camera_frame(job.kind, &job.bytes)?;
                let facts = camera_facts(&frame);
                if let Some(camera) = self.camera.as_mut() {
                    camera
                        .process(&frame, &mut self.detections)
                        .map_err(|e| StageError::stage(e.to_string()))?;
                }
                Ok(facts)
            }
        }
    }

    fn write(
        &mut self,
        sensor: Sensor,
        late: bool,
        degraded: bool,
        out: &mut Vec<u8>,
    ) -> Option<OutputTopic> {
        if sensor != Sensor::Lidar {
            return None;
        }
        let scan = self.ingest.scan();
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
