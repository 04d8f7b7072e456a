//! `lookout_msgs` types (definitions in `lookout_msgs/msg/`): owned, since
//! Lookout builds them; decoded by tests, `eval` and replays of Lookout's own output.

use super::{Encode, Header, MessageType, OwnedHeader, Time};
use crate::cdr::{CdrReader, CdrWriter, DecodeError};
pub use crate::obstacle::ObstacleSource;
use crate::obstacle::{Box3, Footprint, ObstacleClass, TrackState};

/// `lookout_msgs/Obstacle`.
#[derive(Debug, Clone, PartialEq)]
pub struct Obstacle {
    pub id: u32,
    pub label: String,
    pub score: f32,
    pub source: ObstacleSource,
    pub center: [f64; 3],
    pub size: [f64; 3],
    pub yaw: f64,
    pub velocity: [f64; 3],
    pub point_count: u32,
    pub nearest_distance: f32,
    pub lidar_stamp: Time,
    pub camera_stamp: Time,
    /// Seconds from the oldest source stamp to the end of processing; NaN
    /// when unknown.
    pub latency: f32,
    /// Seconds since the track's first update; 0 without a track.
    pub track_age: f32,
    /// The centre's x/y covariance (m², row major); `[-1, 0, 0, 0]`
    /// without a track.
    pub position_covariance: [f32; 4],
}

impl MessageType for Obstacle {
    const TYPE_NAME: &'static str = "lookout_msgs/msg/Obstacle";
}

/// Zeros, except the covariance, which says "no estimate" (an obstacle no
/// track has named).
impl Default for Obstacle {
    fn default() -> Self {
        Obstacle {
            id: 0,
            label: String::new(),
            score: 0.0,
            source: ObstacleSource::default(),
            center: [0.0; 3],
            size: [0.0; 3],
            yaw: 0.0,
            velocity: [0.0; 3],
            point_count: 0,
            nearest_distance: 0.0,
            lidar_stamp: Time::default(),
            camera_stamp: Time::default(),
            latency: 0.0,
            track_age: 0.0,
            position_covariance: TrackState::NONE.position_covariance,
        }
    }
}

impl Obstacle {
    fn encode_fields(&self, w: &mut CdrWriter) {
        w.u32(self.id)
            .string(&self.label)
            .f32(self.score)
            .u8(self.source as u8)
            .f64_slice(&self.center)
            .f64_slice(&self.size)
            .f64(self.yaw)
            .f64_slice(&self.velocity)
            .u32(self.point_count)
            .f32(self.nearest_distance);
        self.lidar_stamp.encode(w);
        self.camera_stamp.encode(w);
        w.f32(self.latency).f32(self.track_age);
        for c in self.position_covariance {
            w.f32(c);
        }
    }

    /// Serializes a pipeline obstacle in this message's layout, without
    /// building the owned message (no allocation on the publish path).
    fn encode_frame_obstacle(o: &crate::obstacle::Obstacle, w: &mut CdrWriter) {
        w.u32(o.id)
            .string(o.class.label())
            .f32(o.score)
            .u8(o.source as u8)
            .f64_slice(&o.bbox.center)
            .f64_slice(&o.bbox.size)
            .f64(o.bbox.yaw)
            .f64_slice(&o.velocity)
            .u32(o.point_count)
            .f32(o.nearest_distance);
        Time::from_nanos(o.lidar_stamp).encode(w);
        Time::from_nanos(o.camera_stamp).encode(w);
        w.f32(o.latency).f32(o.track.age_s);
        for c in o.track.position_covariance {
            w.f32(c);
        }
    }

    /// Decodes into `self`, reusing its label's allocation.
    fn decode_fields_into(&mut self, r: &mut CdrReader<'_>) -> Result<(), DecodeError> {
        self.id = r.u32("Obstacle.id")?;
        self.label.clear();
        self.label.push_str(r.string("Obstacle.label")?);
        self.score = r.f32("Obstacle.score")?;
        let code = r.u8("Obstacle.source")?;
        self.source = ObstacleSource::from_code(code).ok_or_else(|| {
            DecodeError::invalid("Obstacle.source", format!("unknown source {code}"))
        })?;
        self.center = r.f64_array("Obstacle.center")?;
        self.size = r.f64_array("Obstacle.size")?;
        self.yaw = r.f64("Obstacle.yaw")?;
        self.velocity = r.f64_array("Obstacle.velocity")?;
        self.point_count = r.u32("Obstacle.point_count")?;
        self.nearest_distance = r.f32("Obstacle.nearest_distance")?;
        self.lidar_stamp = Time::decode(r, "Obstacle.lidar_stamp")?;
        self.camera_stamp = Time::decode(r, "Obstacle.camera_stamp")?;
        self.latency = r.f32("Obstacle.latency")?;
        self.track_age = r.f32("Obstacle.track_age")?;
        for c in &mut self.position_covariance {
            *c = r.f32("Obstacle.position_covariance")?;
        }
        Ok(())
    }
}

/// `lookout_msgs/ObstacleArray`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ObstacleArray {
    pub header: OwnedHeader,
    pub obstacles: Vec<Obstacle>,
    pub degraded: bool,
    pub late: bool,
}

impl MessageType for ObstacleArray {
    const TYPE_NAME: &'static str = "lookout_msgs/msg/ObstacleArray";
}

impl Encode for ObstacleArray {
    fn encode_fields(&self, w: &mut CdrWriter) {
        self.header.borrowed().encode(w);
        w.sequence_len(self.obstacles.len());
        for obstacle in &self.obstacles {
            obstacle.encode_fields(w);
        }
        w.bool(self.degraded).bool(self.late);
    }
}

impl ObstacleArray {
    pub fn decode(message: &[u8]) -> Result<Self, DecodeError> {
        let mut array = ObstacleArray::default();
        array.decode_into(message)?;
        Ok(array)
    }

    /// Decodes into `self`, reusing its allocations: once the obstacle list
    /// and labels have grown to a scene's size, decoding allocates nothing.
    /// On error `self` holds a partial message.
    pub fn decode_into(&mut self, message: &[u8]) -> Result<(), DecodeError> {
        let mut r = CdrReader::new(message)?;
        let header = Header::decode(
            &mut r,
            "ObstacleArray.header.stamp",
            "ObstacleArray.header.frame_id",
        )?;
        self.header.stamp = header.stamp;
        self.header.frame_id.clear();
        self.header.frame_id.push_str(header.frame_id);
        // An Obstacle is at least 120 bytes on the wire.
        let count = r.sequence_len(120, "ObstacleArray.obstacles")?;
        self.obstacles.truncate(count);
        self.obstacles.resize_with(count, Obstacle::default);
        for obstacle in &mut self.obstacles {
            obstacle.decode_fields_into(&mut r)?;
        }
        self.degraded = r.bool("ObstacleArray.degraded")?;
        self.late = r.bool("ObstacleArray.late")?;
        r.finish("ObstacleArray")
    }
}

/// `lookout_msgs/Detection2D`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Detection2D {
    pub label: String,
    pub score: f32,
    /// `[x0, y0, x1, y1]`, pixels.
    pub bbox: [f32; 4],
    /// Ground truth: the seen share of the object's box; NaN for detections.
    pub visible: f32,
    /// Ground truth: the object's id in the 3D truth; 0 for detections.
    pub id: u32,
}

impl Detection2D {
    fn encode_fields(&self, w: &mut CdrWriter) {
        w.string(&self.label).f32(self.score);
        for v in self.bbox {
            w.f32(v);
        }
        w.f32(self.visible).u32(self.id);
    }

    fn decode_fields(r: &mut CdrReader<'_>) -> Result<Self, DecodeError> {
        let label = r.string("Detection2D.label")?.to_owned();
        let score = r.f32("Detection2D.score")?;
        let mut bbox = [0.0; 4];
        for (v, field) in bbox.iter_mut().zip([
            "Detection2D.x0",
            "Detection2D.y0",
            "Detection2D.x1",
            "Detection2D.y1",
        ]) {
            *v = r.f32(field)?;
        }
        let visible = r.f32("Detection2D.visible")?;
        let id = r.u32("Detection2D.id")?;
        Ok(Detection2D {
            label,
            score,
            bbox,
            visible,
            id,
        })
    }
}

/// `lookout_msgs/Detection2DArray`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Detection2DArray {
    pub header: OwnedHeader,
    pub detections: Vec<Detection2D>,
}

impl MessageType for Detection2DArray {
    const TYPE_NAME: &'static str = "lookout_msgs/msg/Detection2DArray";
}

impl Encode for Detection2DArray {
    fn encode_fields(&self, w: &mut CdrWriter) {
        self.header.borrowed().encode(w);
        w.sequence_len(self.detections.len());
        for d in &self.detections {
            d.encode_fields(w);
        }
    }
}

impl Detection2DArray {
    pub fn decode(message: &[u8]) -> Result<Self, DecodeError> {
        let mut r = CdrReader::new(message)?;
        let header = Header::decode(
            &mut r,
            "Detection2DArray.header.stamp",
            "Detection2DArray.header.frame_id",
        )?;
        // A Detection2D is at least 28 bytes on the wire.
        let count = r.sequence_len(28, "Detection2DArray.detections")?;
        let mut detections = Vec::with_capacity(count);
        for _ in 0..count {
            detections.push(Detection2D::decode_fields(&mut r)?);
        }
        r.finish("Detection2DArray")?;
        Ok(Detection2DArray {
            header: header.into(),
            detections,
        })
    }
}

/// Pipeline obstacles published as `lookout_msgs/ObstacleArray`, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct ObstacleArrayRef<'a> {
    pub header: Header<'a>,
    pub obstacles: &'a [crate::obstacle::Obstacle],
    pub degraded: bool,
    pub late: bool,
}

impl MessageType for ObstacleArrayRef<'_> {
    const TYPE_NAME: &'static str = ObstacleArray::TYPE_NAME;
}

impl Encode for ObstacleArrayRef<'_> {
    fn encode_fields(&self, w: &mut CdrWriter) {
        self.header.encode(w);
        w.sequence_len(self.obstacles.len());
        for obstacle in self.obstacles {
            Obstacle::encode_frame_obstacle(obstacle, w);
        }
        w.bool(self.degraded).bool(self.late);
    }
}

impl ObstacleArrayRef<'_> {
    /// Sets the `late` flag of an encoded `ObstacleArray` in place: the
    /// output chain learns that an output is late only once it is encoded
    /// and about to be handed over. `late` is the message's last field (a
    /// CDR bool, one unaligned byte), so it is the buffer's last byte.
    pub fn mark_late(encoded: &mut [u8]) {
        if let Some(last) = encoded.last_mut() {
            *last = 1;
        }
    }
}

/// `lookout_msgs/FrameReport`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FrameReport {
    pub header: OwnedHeader,
    pub topic: String,
    pub message_type: String,
    pub accepted: bool,
    pub reject_reason: String,
    pub detail: String,
    pub width: u32,
    pub height: u32,
    pub point_count: u32,
}

impl MessageType for FrameReport {
    const TYPE_NAME: &'static str = "lookout_msgs/msg/FrameReport";
}

impl Encode for FrameReport {
    fn encode_fields(&self, w: &mut CdrWriter) {
        self.header.borrowed().encode(w);
        w.string(&self.topic)
            .string(&self.message_type)
            .bool(self.accepted)
            .string(&self.reject_reason)
            .string(&self.detail)
            .u32(self.width)
            .u32(self.height)
            .u32(self.point_count);
    }
}

impl FrameReport {
    pub fn decode(message: &[u8]) -> Result<Self, DecodeError> {
        let mut r = CdrReader::new(message)?;
        let report = FrameReport {
            header: Header::decode(
                &mut r,
                "FrameReport.header.stamp",
                "FrameReport.header.frame_id",
            )?
            .into(),
            topic: r.string("FrameReport.topic")?.to_owned(),
            message_type: r.string("FrameReport.message_type")?.to_owned(),
            accepted: r.bool("FrameReport.accepted")?,
            reject_reason: r.string("FrameReport.reject_reason")?.to_owned(),
            detail: r.string("FrameReport.detail")?.to_owned(),
            width: r.u32("FrameReport.width")?,
            height: r.u32("FrameReport.height")?,
            point_count: r.u32("FrameReport.point_count")?,
        };
        r.finish("FrameReport")?;
        Ok(report)
    }
}

/// `lookout_msgs/SensorStatus`: latencies in milliseconds as
/// `[p50, p90, p99, p99.9, max]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SensorStatus {
    pub sensor: String,
    pub stage_ms: [f64; 5],
    pub end_to_end_ms: [f64; 5],
    pub received: u64,
    pub started: u64,
    pub published: u64,
    pub superseded: u64,
    pub stale: u64,
    pub infeasible: u64,
    pub late: u64,
    pub errors: u64,
    pub consecutive_misses: u32,
    /// The variant of the last started frame (a model ladder's rung).
    pub variant: u8,
    /// Frames started per variant, up to the last that ran (empty while
    /// only variant 0 has).
    pub variant_started: Vec<u64>,
}

impl SensorStatus {
    fn encode_fields(&self, w: &mut CdrWriter) {
        w.string(&self.sensor)
            .f64_slice(&self.stage_ms)
            .f64_slice(&self.end_to_end_ms);
        for count in self.counts() {
            w.u64(count);
        }
        w.u32(self.consecutive_misses).u8(self.variant);
        w.sequence_len(self.variant_started.len());
        for &count in &self.variant_started {
            w.u64(count);
        }
    }

    fn counts(&self) -> [u64; 8] {
        [
            self.received,
            self.started,
            self.published,
            self.superseded,
            self.stale,
            self.infeasible,
            self.late,
            self.errors,
        ]
    }

    fn decode_fields(r: &mut CdrReader<'_>) -> Result<Self, DecodeError> {
        let sensor = r.string("SensorStatus.sensor")?.to_owned();
        let stage_ms = r.f64_array::<5>("SensorStatus.stage_ms")?;
        let end_to_end_ms = r.f64_array::<5>("SensorStatus.end_to_end_ms")?;
        let mut counts = [0u64; 8];
        for count in &mut counts {
            *count = r.u64("SensorStatus.counters")?;
        }
        let [
            received,
            started,
            published,
            superseded,
            stale,
            infeasible,
            late,
            errors,
        ] = counts;
        Ok(SensorStatus {
            sensor,
            stage_ms,
            end_to_end_ms,
            received,
            started,
            published,
            superseded,
            stale,
            infeasible,
            late,
            errors,
            consecutive_misses: r.u32("SensorStatus.consecutive_misses")?,
            variant: r.u8("SensorStatus.variant")?,
            variant_started: {
                let len = r.sequence_len(8, "SensorStatus.variant_started")?;
                (0..len)
                    .map(|_| r.u64("SensorStatus.variant_started"))
                    .collect::<Result<_, _>>()?
            },
        })
    }
}

/// `lookout_msgs/PipelineStatus`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PipelineStatus {
    pub header: OwnedHeader,
    /// `PipelineStatus.OK` / `WARN` / `ERROR` (0 / 1 / 2).
    pub health: u8,
    pub reason: String,
    pub degraded: bool,
    pub sensors: Vec<SensorStatus>,
}

impl MessageType for PipelineStatus {
    const TYPE_NAME: &'static str = "lookout_msgs/msg/PipelineStatus";
}

impl Encode for PipelineStatus {
    fn encode_fields(&self, w: &mut CdrWriter) {
        self.header.borrowed().encode(w);
        w.u8(self.health)
            .string(&self.reason)
            .bool(self.degraded)
            .sequence_len(self.sensors.len());
        for sensor in &self.sensors {
            sensor.encode_fields(w);
        }
    }
}

impl PipelineStatus {
    pub fn decode(message: &[u8]) -> Result<Self, DecodeError> {
        let mut r = CdrReader::new(message)?;
        let header = Header::decode(
            &mut r,
            "PipelineStatus.header.stamp",
            "PipelineStatus.header.frame_id",
        )?
        .into();
        let health = r.u8("PipelineStatus.health")?;
        let reason = r.string("PipelineStatus.reason")?.to_owned();
        let degraded = r.bool("PipelineStatus.degraded")?;
        // A SensorStatus is at least 4 + 80 + 64 + 4 bytes on the wire.
        let count = r.sequence_len(152, "PipelineStatus.sensors")?;
        let mut sensors = Vec::with_capacity(count);
        for _ in 0..count {
            sensors.push(SensorStatus::decode_fields(&mut r)?);
        }
        r.finish("PipelineStatus")?;
        Ok(PipelineStatus {
            header,
            health,
            reason,
            degraded,
            sensors,
        })
    }
}

/// The message form of the pipeline's obstacles (an inherent impl of
/// [`crate::obstacle::Obstacle`] kept here, beside the message: the
/// obstacle type knows nothing of messages).
impl crate::obstacle::Obstacle {
    pub fn to_msg(&self) -> Obstacle {
        Obstacle {
            id: self.id,
            label: self.class.label().to_owned(),
            score: self.score,
            source: self.source,
            center: self.bbox.center,
            size: self.bbox.size,
            yaw: self.bbox.yaw,
            velocity: self.velocity,
            point_count: self.point_count,
            nearest_distance: self.nearest_distance,
            lidar_stamp: Time::from_nanos(self.lidar_stamp),
            camera_stamp: Time::from_nanos(self.camera_stamp),
            latency: self.latency,
            track_age: self.track.age_s,
            position_covariance: self.track.position_covariance,
        }
    }

    pub fn from_msg(m: &Obstacle) -> Self {
        crate::obstacle::Obstacle {
            id: m.id,
            class: ObstacleClass::from_label(&m.label),
            score: m.score,
            source: m.source,
            bbox: Box3 {
                center: m.center,
                size: m.size,
                yaw: m.yaw,
            },
            velocity: m.velocity,
            point_count: m.point_count,
            nearest_distance: m.nearest_distance,
            lidar_stamp: m.lidar_stamp.as_nanos(),
            camera_stamp: m.camera_stamp.as_nanos(),
            latency: m.latency,
            footprint: Footprint::default(),
            track: TrackState {
                age_s: m.track_age,
                position_covariance: m.position_covariance,
                // The message does not say; a velocity was published.
                velocity_known: m.position_covariance[0] >= 0.0 && m.velocity != [0.0; 3],
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mark_late_sets_the_last_field() {
        let obstacles = [crate::obstacle::Obstacle {
            id: 3,
            class: ObstacleClass::Car,
            score: 0.5,
            source: ObstacleSource::Lidar,
            bbox: Box3::default(),
            velocity: [0.0; 3],
            point_count: 10,
            nearest_distance: 4.0,
            lidar_stamp: 7,
            camera_stamp: 0,
            latency: 0.01,
            footprint: Footprint::default(),
            track: TrackState::NONE,
        }];
        let array = ObstacleArrayRef {
            header: Header {
                stamp: Time::from_nanos(7),
                frame_id: "lidar",
            },
            obstacles: &obstacles,
            degraded: true,
            late: false,
        };
        let mut bytes = array.to_cdr();
        ObstacleArrayRef::mark_late(&mut bytes);
        let decoded = ObstacleArray::decode(&bytes).unwrap();
        assert!(decoded.late && decoded.degraded);
        assert_eq!(decoded.obstacles.len(), 1);
        assert_eq!(decoded.obstacles[0].point_count, 10);
    }

    #[test]
    fn pipeline_status_round_trip() {
        let status = PipelineStatus {
            header: OwnedHeader {
                stamp: Time { sec: 7, nanosec: 9 },
                frame_id: "lookout".into(),
            },
            health: 2,
            reason: "camera stage stalled".into(),
            degraded: true,
            sensors: vec![SensorStatus {
                sensor: "camera".into(),
                stage_ms: [1.0, 2.0, 3.0, 4.0, 5.0],
                end_to_end_ms: [6.0, 7.0, 8.0, 9.0, 10.0],
                received: 11,
                started: 12,
                published: 13,
                superseded: 14,
                stale: 15,
                infeasible: 16,
                late: 17,
                errors: 18,
                consecutive_misses: 19,
                variant: 1,
                variant_started: vec![20, 21],
            }],
        };
        assert_eq!(PipelineStatus::decode(&status.to_cdr()).unwrap(), status);
    }

    #[test]
    fn obstacle_array_round_trip() {
        let array = ObstacleArray {
            header: OwnedHeader {
                stamp: Time { sec: 3, nanosec: 5 },
                frame_id: "lidar".into(),
            },
            obstacles: vec![Obstacle {
                id: 4,
                label: "car".into(),
                score: 1.0,
                source: ObstacleSource::GroundTruth,
                center: [10.0, -2.0, 0.8],
                size: [4.5, 1.9, 1.6],
                yaw: 0.1,
                velocity: [5.0, 0.0, 0.0],
                point_count: 120,
                nearest_distance: 8.5,
                lidar_stamp: Time { sec: 3, nanosec: 5 },
                camera_stamp: Time::default(),
                latency: 0.0425,
                track_age: 2.5,
                position_covariance: [0.04, 0.01, 0.01, 0.09],
            }],
            degraded: false,
            late: true,
        };
        assert_eq!(ObstacleArray::decode(&array.to_cdr()).unwrap(), array);
    }

    #[test]
    fn detection_array_round_trip() {
        let array = Detection2DArray {
            header: OwnedHeader {
                stamp: Time::from_nanos(1_500_000_123),
                frame_id: "camera".into(),
            },
            detections: vec![
                Detection2D {
                    label: "car".into(),
                    score: 0.75,
                    bbox: [10.0, 20.5, 100.0, 80.25],
                    visible: f32::NAN,
                    id: 0,
                },
                Detection2D {
                    label: "pedestrian".into(),
                    score: 1.0,
                    bbox: [0.0, 0.0, 5.0, 12.0],
                    visible: 0.5,
                    id: 17,
                },
            ],
        };
        let decoded = Detection2DArray::decode(&array.to_cdr()).unwrap();
        assert_eq!(decoded.header, array.header);
        assert_eq!(decoded.detections[1], array.detections[1]);
        assert!(decoded.detections[0].visible.is_nan());
        assert_eq!(decoded.detections[0].bbox, array.detections[0].bbox);
        let err = Detection2DArray::decode(&array.to_cdr()[..40]).unwrap_err();
        assert!(err.field().starts_with("Detection2D"), "{err}");
    }

    #[test]
    fn frame_report_round_trip() {
        let report = FrameReport {
            topic: "/camera/image".into(),
            message_type: "sensor_msgs/msg/Image".into(),
            reject_reason: "truncated".into(),
            detail: "Image.data: truncated".into(),
            ..Default::default()
        };
        assert_eq!(FrameReport::decode(&report.to_cdr()).unwrap(), report);
    }
}
