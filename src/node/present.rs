//! What the node shows people: RViz markers for each obstacle array (a box,
//! a label with class, score, track id and speed, and an arrow for where a
//! moving obstacle will be in 1 s) and a live latency overlay, and
//! `/diagnostics` from the watchdog's status.
//!
//! Independent of r2r (it produces serialized messages), so it is tested
//! without ROS. Markers are built from reused buffers: nothing is allocated
//! per frame once the scene's size is reached.

use crate::cdr::CdrWriter;
use crate::msg::viz::{
    DiagnosticLevel, DiagnosticStatus, Marker, MarkerAction, MarkerKind, encode_diagnostic_array,
    encode_marker_array,
};
use crate::msg::{Encode, Header, Time};
use crate::obstacle::{Obstacle, ObstacleClass};
use crate::sched::Health;
use crate::sched::stats::{Rejects, StatusRecord};
use std::fmt::Write;

/// Marker namespaces in `~/markers`.
pub const OBSTACLE_NS: &str = "obstacles";
pub const LABEL_NS: &str = "labels";
pub const STATUS_NS: &str = "status";
pub const VELOCITY_NS: &str = "velocities";

/// Obstacles moving slower than this (m/s) get no velocity arrow.
const MIN_ARROW_MPS: f64 = 0.5;

fn speed(o: &Obstacle) -> f64 {
    o.velocity[0].hypot(o.velocity[1])
}

/// Diagnostic names in `/diagnostics` (prefixed with the node's name).
pub const PIPELINE_DIAGNOSTIC: &str = "pipeline";
pub const CAMERA_INFO_DIAGNOSTIC: &str = "camera_info";

/// Messages the node itself rejects before the pipeline (camera_info),
/// from one or more sources (a camera each).
#[derive(Debug, Clone, Default)]
pub struct InputRejects {
    pub rejects: Rejects,
    /// The sources whose latest message was rejected (no good one since),
    /// a bit each.
    failing_sources: u64,
}

impl InputRejects {
    pub fn accepted(&mut self) {
        self.accepted_from(0);
    }

    pub fn rejected(&mut self, error: &crate::sched::StageError) {
        self.rejected_from(0, error);
    }

    /// A good message from source `source` (0..64).
    pub fn accepted_from(&mut self, source: usize) {
        self.failing_sources &= !(1 << (source % 64));
    }

    /// A rejected one.
    pub fn rejected_from(&mut self, source: usize, error: &crate::sched::StageError) {
        self.rejects.record(error);
        self.failing_sources |= 1 << (source % 64);
    }

    /// Some source's latest message was rejected.
    pub fn failing(&self) -> bool {
        self.failing_sources != 0
    }
}

pub fn class_color(label: &str) -> [f32; 4] {
    ObstacleClass::from_label(label).display_rgba()
}

pub fn health_color(health: Health) -> [f32; 4] {
    match health {
        Health::Ok => [0.2, 0.9, 0.2, 1.0],
        Health::Warn => [1.0, 0.7, 0.0, 1.0],
        Health::Error => [1.0, 0.1, 0.1, 1.0],
    }
}

/// Turns pipeline outputs and status records into display messages.
pub struct Presenter {
    base_frame: String,
    writer: CdrWriter,
    overlay: String,
    label: String,
    health: Health,
}

impl Presenter {
    pub fn new(base_frame: &str) -> Self {
        Presenter {
            base_frame: base_frame.to_owned(),
            writer: CdrWriter::new(),
            overlay: String::from("lookout: waiting for the first status"),
            label: String::new(),
            health: Health::Ok,
        }
    }

    /// The `MarkerArray` for one scan's obstacles (stamp and frame of the
    /// scan): the previous boxes and labels deleted, one box coloured by
    /// class and one text label per obstacle, and the status overlay.
    pub fn markers(&mut self, stamp: i64, frame_id: &str, obstacles: &[Obstacle]) -> &[u8] {
        let Presenter {
            writer,
            overlay,
            label,
            base_frame,
            health,
        } = self;
        let header = Header {
            stamp: Time::from_nanos(stamp),
            frame_id,
        };
        let n = obstacles.len();
        let moving = || obstacles.iter().filter(|o| speed(o) >= MIN_ARROW_MPS);
        let count = 3 + 2 * n + moving().count() + 1;
        encode_marker_array(writer, count, |i, w| {
            let mut marker = Marker {
                header,
                ns: OBSTACLE_NS,
                id: 0,
                kind: MarkerKind::Cube,
                action: MarkerAction::DeleteAll,
                position: [0.0; 3],
                yaw: 0.0,
                scale: [1.0; 3],
                color: [0.0; 4],
                lifetime_ns: 0,
                frame_locked: false,
                text: "",
            };
            match i {
                0 => {}
                1 => marker.ns = LABEL_NS,
                2 => marker.ns = VELOCITY_NS,
                i if i < 3 + n => {
                    let o = &obstacles[i - 3];
                    marker.id = i as i32 - 3;
                    marker.action = MarkerAction::Add;
                    marker.position = o.bbox.center;
                    marker.yaw = o.bbox.yaw;
                    marker.scale = o.bbox.size.map(|s| s.max(0.05));
                    marker.color = class_color(o.class.label());
                }
                i if i < 3 + 2 * n => {
                    let o = &obstacles[i - 3 - n];
                    label.clear();
                    let _ = write!(label, "{} {:.2}", o.class.label(), o.score);
                    if o.id != 0 {
                        let _ = write!(label, " #{}", o.id);
                    }
                    if speed(o) >= MIN_ARROW_MPS {
                        let _ = write!(label, " {:.1} m/s", speed(o));
                    }
                    marker.ns = LABEL_NS;
                    marker.id = (i - 3 - n) as i32;
                    marker.kind = MarkerKind::TextViewFacing;
                    marker.action = MarkerAction::Add;
                    marker.position = [
                        o.bbox.center[0],
                        o.bbox.center[1],
                        o.bbox.center[2] + o.bbox.size[2] / 2.0 + 0.5,
                    ];
                    marker.scale = [0.0, 0.0, 0.6];
                    marker.color = [1.0, 1.0, 1.0, 1.0];
                    marker.text = label;
                }
                i if i < count - 1 => {
                    // The k-th moving obstacle's arrow: where it goes in 1 s.
                    let k = i - 3 - 2 * n;
                    if let Some(o) = moving().nth(k) {
                        marker.ns = VELOCITY_NS;
                        marker.id = k as i32;
                        marker.kind = MarkerKind::Arrow;
                        marker.action = MarkerAction::Add;
                        marker.position = [
                            o.bbox.center[0],
                            o.bbox.center[1],
                            o.bbox.center[2] + o.bbox.size[2] / 2.0,
                        ];
                        marker.yaw = o.velocity[1].atan2(o.velocity[0]);
                        marker.scale = [speed(o), 0.2, 0.3];
                        marker.color = class_color(o.class.label());
                    }
                }
                _ => {
                    // The overlay rides with the vehicle, above it.
                    marker.header = Header {
                        stamp: header.stamp,
                        frame_id: base_frame,
                    };
                    marker.ns = STATUS_NS;
                    marker.kind = MarkerKind::TextViewFacing;
                    marker.action = MarkerAction::Add;
                    marker.position = [0.0, 0.0, 4.0];
                    marker.scale = [0.0, 0.0, 0.5];
                    marker.color = health_color(*health);
                    marker.frame_locked = true;
                    marker.text = overlay;
                }
            }
            marker.encode_fields(w);
        });
        self.writer.as_bytes()
    }

    /// Takes a status record (and the node's own camera_info rejects):
    /// updates the overlay text and returns the serialized `PipelineStatus`
    /// and `DiagnosticArray` for it.
    pub fn status(
        &mut self,
        record: &StatusRecord,
        camera_info: &InputRejects,
        stamp: Time,
        node: &str,
    ) -> (Vec<u8>, Vec<u8>) {
        self.health = record.health;
        self.overlay.clear();
        overlay_text(record, &mut self.overlay);
        let status = record.to_msg(stamp).to_cdr();
        let header = Header {
            stamp,
            frame_id: "",
        };
        encode_diagnostic_array(
            &mut self.writer,
            header,
            &diagnostics(record, camera_info, node),
        );
        (status, self.writer.as_bytes().to_vec())
    }
}

/// The overlay: health, then per sensor end-to-end p50/p99 and drops.
pub fn overlay_text(record: &StatusRecord, out: &mut String) {
    let _ = write!(out, "lookout {}", record.health.as_str());
    if record.health != Health::Ok {
        let _ = write!(out, ": {}", record.reason);
    }
    for s in &record.sensors {
        let c = &s.counters;
        let _ = write!(
            out,
            "\n{} e2e p50 {:.1} p99 {:.1} ms | misses {} (late {}, stale {}, infeasible {})",
            s.sensor,
            s.end_to_end.p50_ms,
            s.end_to_end.p99_ms,
            c.misses(),
            c.late,
            c.stale,
            c.infeasible
        );
    }
}

fn level(health: Health) -> DiagnosticLevel {
    match health {
        Health::Ok => DiagnosticLevel::Ok,
        Health::Warn => DiagnosticLevel::Warn,
        Health::Error => DiagnosticLevel::Error,
    }
}

/// `rejected.<reason>` per reason seen, then `last_rejection` (the message).
fn reject_values(rejects: &Rejects, values: &mut Vec<(String, String)>) {
    for (reason, count) in rejects.iter() {
        values.push((format!("rejected.{reason}"), count.to_string()));
    }
    if !rejects.last.is_empty() {
        values.push(("last_rejection".into(), rejects.last.clone()));
    }
}

/// One diagnostic for the pipeline (health and reason), one per sensor
/// (latencies and counters as key/values, failed frames by reason) and one
/// for the camera_info messages the node rejected.
pub fn diagnostics(
    record: &StatusRecord,
    camera_info: &InputRejects,
    node: &str,
) -> Vec<DiagnosticStatus> {
    let mut out = vec![DiagnosticStatus {
        level: level(record.health),
        name: format!("{node}: {PIPELINE_DIAGNOSTIC}"),
        message: if record.health == Health::Ok {
            "ok".into()
        } else {
            record.reason.clone()
        },
        hardware_id: node.to_owned(),
        values: vec![
            ("health".into(), record.health.as_str().into()),
            ("degraded".into(), record.degraded.to_string()),
        ],
    }];
    for s in &record.sensors {
        let c = &s.counters;
        let sensor_level = if c.consecutive_misses > 0 {
            DiagnosticLevel::Warn.max_with(level(record.health))
        } else {
            DiagnosticLevel::Ok
        };
        let ms = |x: f64| format!("{x:.3}");
        let mut message = format!(
            "e2e p99 {:.1} ms, {} misses ({} in a row)",
            s.end_to_end.p99_ms,
            c.misses(),
            c.consecutive_misses
        );
        if c.errors > 0 {
            let _ = write!(message, ", {} rejected: {}", c.errors, s.rejects.last);
        }
        let mut values = vec![
            ("stage_p50_ms".into(), ms(s.stage.p50_ms)),
            ("stage_p99_ms".into(), ms(s.stage.p99_ms)),
            ("e2e_p50_ms".into(), ms(s.end_to_end.p50_ms)),
            ("e2e_p99_ms".into(), ms(s.end_to_end.p99_ms)),
            ("e2e_max_ms".into(), ms(s.end_to_end.max_ms)),
            ("received".into(), c.received.to_string()),
            ("published".into(), c.published.to_string()),
            ("superseded".into(), c.superseded.to_string()),
            ("stale".into(), c.stale.to_string()),
            ("infeasible".into(), c.infeasible.to_string()),
            ("late".into(), c.late.to_string()),
            ("errors".into(), c.errors.to_string()),
        ];
        // A stage choosing among variants (a model ladder): the rung of
        // the last frame and the frames per rung.
        let ran = c.ran_variants();
        if !ran.is_empty() {
            values.push(("variant".into(), c.variant.to_string()));
            let counts: Vec<String> = ran.iter().map(u64::to_string).collect();
            values.push(("variant_started".into(), counts.join(" ")));
        }
        reject_values(&s.rejects, &mut values);
        out.push(DiagnosticStatus {
            level: sensor_level,
            name: format!("{node}: {}", s.sensor),
            message,
            hardware_id: node.to_owned(),
            values,
        });
    }
    let rejected = camera_info.rejects.total();
    let mut values = vec![("rejected".into(), rejected.to_string())];
    reject_values(&camera_info.rejects, &mut values);
    out.push(DiagnosticStatus {
        level: if camera_info.failing() {
            DiagnosticLevel::Warn
        } else {
            DiagnosticLevel::Ok
        },
        name: format!("{node}: {CAMERA_INFO_DIAGNOSTIC}"),
        message: match (camera_info.failing(), rejected) {
            (true, _) => format!("latest rejected: {}", camera_info.rejects.last),
            (false, 0) => "ok".into(),
            (false, n) => format!("ok ({n} rejected before)"),
        },
        hardware_id: node.to_owned(),
        values,
    });
    out
}

impl DiagnosticLevel {
    fn max_with(self, other: DiagnosticLevel) -> DiagnosticLevel {
        if other as u8 > self as u8 {
            other
        } else {
            self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::stats::LatencyStats;
    use crate::sched::{Cause, Sensor, SensorCounters, StageError};

    fn value<'a>(status: &'a DiagnosticStatus, key: &str) -> Option<&'a str> {
        status
            .values
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn diagnostics_count_rejects_by_reason_per_sensor_and_for_camera_info() {
        let mut counters = [SensorCounters::default(); 2];
        counters[Sensor::LIDAR.index()].errors = 2;
        counters[Sensor::LIDAR.index()].consecutive_misses = 1;
        counters[Sensor::CAMERA.index()].variant_started[..2].copy_from_slice(&[7, 3]);
        counters[Sensor::CAMERA.index()].variant = 1;
        let mut rejects: [Rejects; 2] = Default::default();
        for reason in ["inconsistent_size", "sequence_too_long"] {
            rejects[Sensor::LIDAR.index()].record(&StageError {
                reason,
                message: format!("PointCloud2: {reason}"),
            });
        }
        let record = StatusRecord::new(
            0,
            Health::Warn,
            Cause::Misses {
                sensor: Sensor::LIDAR,
                count: 1,
            },
            &crate::sched::SensorSet::default_rig(&Default::default(), &Default::default()),
            &LatencyStats::new(2),
            &counters,
            &rejects,
        );
        let mut camera_info = InputRejects::default();
        camera_info.rejected(&StageError {
            reason: "truncated",
            message: "CameraInfo.r: truncated".into(),
        });
        let all = diagnostics(&record, &camera_info, "lookout");
        let names: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "lookout: pipeline",
                "lookout: camera",
                "lookout: lidar",
                "lookout: camera_info"
            ]
        );
        let lidar = &all[2];
        assert_eq!(lidar.level, DiagnosticLevel::Warn);
        assert_eq!(value(lidar, "errors"), Some("2"));
        assert_eq!(value(lidar, "rejected.inconsistent_size"), Some("1"));
        assert_eq!(value(lidar, "rejected.sequence_too_long"), Some("1"));
        assert_eq!(
            value(lidar, "last_rejection"),
            Some("PointCloud2: sequence_too_long")
        );
        assert!(lidar.message.contains("2 rejected"), "{}", lidar.message);
        let camera = &all[1];
        assert_eq!(camera.level, DiagnosticLevel::Ok);
        assert_eq!(value(camera, "last_rejection"), None);
        assert_eq!(value(camera, "variant"), Some("1"));
        assert_eq!(value(camera, "variant_started"), Some("7 3"));
        assert_eq!(value(lidar, "variant"), None);

        let info = &all[3];
        assert_eq!(info.level, DiagnosticLevel::Warn);
        assert_eq!(value(info, "rejected.truncated"), Some("1"));
        camera_info.accepted();
        let info = &diagnostics(&record, &camera_info, "lookout")[3];
        assert_eq!(info.level, DiagnosticLevel::Ok);
        assert_eq!(info.message, "ok (1 rejected before)");
    }
}
