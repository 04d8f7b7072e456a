//! `autoware_perception_msgs` (autowarefoundation/autoware_msgs,
//! definitions in `interfaces/autoware_perception_msgs/msg/`), what
//! Autoware Universe's tracking, prediction and planning read: Lookout's
//! obstacles as `DetectedObjects` and, once tracked, `TrackedObjects`.
//! Encoded straight from the pipeline's obstacles into the writer, without
//! building the message (no allocation on the publish path).

use super::geometry::{
    footprint_in_object_frame, linear_with_zero_covariance, pose_with_covariance,
    velocity_in_object_frame,
};
use super::{Encode, Header, MessageType};
use crate::cdr::CdrWriter;
use crate::obstacle::{Obstacle, ObstacleClass};
use serde::{Deserialize, Serialize};

/// `ObjectClassification.label` of a Lookout class (a cyclist is a
/// BICYCLE, as Autoware labels the rider with the bike).
pub fn label(class: ObstacleClass) -> u8 {
    match class {
        ObstacleClass::Unknown => 0,
        ObstacleClass::Car => 1,
        ObstacleClass::Truck => 2,
        ObstacleClass::Cyclist => 6,
        ObstacleClass::Pedestrian => 7,
    }
}

/// `DetectedObjectKinematics.SIGN_UNKNOWN`: a box fitted to points has a
/// heading only up to half a turn.
const ORIENTATION_SIGN_UNKNOWN: u8 = 1;

/// Below this speed (m/s) a tracked object is `is_stationary`.
pub const STATIONARY_MPS: f64 = 0.5;

/// `Shape.type` of the objects Lookout publishes.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ShapeKind {
    /// `BOUNDING_BOX`: the oriented box (length, width, height).
    #[default]
    BoundingBox,
    /// `POLYGON`: the footprint Lookout computes (the cluster's convex
    /// hull, in the object's frame) with the box's height; the box where
    /// an obstacle has no footprint (camera only).
    Polygon,
}

/// `autoware_perception_msgs/DetectedObjects` of an output's obstacles.
#[derive(Debug, Clone, Copy)]
pub struct DetectedObjectsRef<'a> {
    pub header: Header<'a>,
    pub obstacles: &'a [Obstacle],
    pub shape: ShapeKind,
}

impl MessageType for DetectedObjectsRef<'_> {
    const TYPE_NAME: &'static str = "autoware_perception_msgs/msg/DetectedObjects";
}

impl Encode for DetectedObjectsRef<'_> {
    fn encode_fields(&self, w: &mut CdrWriter) {
        self.header.encode(w);
        w.sequence_len(self.obstacles.len());
        for o in self.obstacles {
            w.f32(o.score);
            classification(w, o);
            // DetectedObjectKinematics
            pose_with_covariance(w, o);
            w.bool(o.track.is_tracked()).u8(ORIENTATION_SIGN_UNKNOWN);
            linear_with_zero_covariance(w, velocity_in_object_frame(o));
            w.bool(o.track.velocity_known).bool(false);
            shape(w, o, self.shape);
        }
    }
}

/// `autoware_perception_msgs/TrackedObjects`: the confirmed tracks among an
/// output's obstacles (those with a velocity), each with a UUID from its
/// track id ([`track_uuid`]).
#[derive(Debug, Clone, Copy)]
pub struct TrackedObjectsRef<'a> {
    pub header: Header<'a>,
    pub obstacles: &'a [Obstacle],
    pub shape: ShapeKind,
}

impl MessageType for TrackedObjectsRef<'_> {
    const TYPE_NAME: &'static str = "autoware_perception_msgs/msg/TrackedObjects";
}

impl Encode for TrackedObjectsRef<'_> {
    fn encode_fields(&self, w: &mut CdrWriter) {
        self.header.encode(w);
        let tracked = || self.obstacles.iter().filter(|o| o.track.velocity_known);
        w.sequence_len(tracked().count());
        for o in tracked() {
            for byte in track_uuid(o.id) {
                w.u8(byte);
            }
            w.f32(o.score);
            classification(w, o);
            // TrackedObjectKinematics
            pose_with_covariance(w, o);
            let velocity = velocity_in_object_frame(o);
            linear_with_zero_covariance(w, velocity);
            linear_with_zero_covariance(w, [0.0; 3]);
            let speed = velocity[0].hypot(velocity[1]);
            w.u8(ORIENTATION_SIGN_UNKNOWN).bool(speed < STATIONARY_MPS);
            shape(w, o, self.shape);
        }
    }
}

/// A track's UUID (`unique_identifier_msgs/UUID`): an RFC 9562 version 8
/// (vendor-defined) UUID, "look" then the track id big-endian in the last
/// four bytes, so that it names the same track in every message of a run.
pub fn track_uuid(id: u32) -> [u8; 16] {
    let mut uuid = [0; 16];
    uuid[..4].copy_from_slice(b"look");
    uuid[6] = 0x80; // version 8
    uuid[8] = 0x80; // variant 10
    uuid[12..].copy_from_slice(&id.to_be_bytes());
    uuid
}

/// `ObjectClassification[]`: the one class, with the obstacle's score.
fn classification(w: &mut CdrWriter, o: &Obstacle) {
    w.sequence_len(1).u8(label(o.class)).f32(o.score);
}

/// `Shape`: a box, or the footprint as a polygon where there is one.
fn shape(w: &mut CdrWriter, o: &Obstacle, kind: ShapeKind) {
    let polygon = kind == ShapeKind::Polygon && o.footprint.vertices().len() >= 3;
    if polygon {
        w.u8(2);
        footprint_in_object_frame(w, o);
    } else {
        w.u8(0).sequence_len(0);
    }
    w.f64_slice(&o.bbox.size);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cdr::CdrReader;
    use crate::msg::Time;
    use crate::msg::geometry::tests::test_obstacle;
    use crate::obstacle::{Footprint, TrackState};

    fn header() -> Header<'static> {
        Header {
            stamp: Time::from_nanos(2_000_000_000),
            frame_id: "base_link",
        }
    }

    fn skip_header(r: &mut CdrReader<'_>) {
        r.i32("sec").unwrap();
        r.u32("nanosec").unwrap();
        r.string("frame").unwrap();
    }

    fn tracked(mut o: Obstacle, id: u32) -> Obstacle {
        o.id = id;
        o.velocity = [0.0, 10.0, 0.0];
        o.bbox.yaw = std::f64::consts::FRAC_PI_2;
        o.track = TrackState {
            age_s: 1.0,
            position_covariance: [0.04, 0.0, 0.0, 0.04],
            velocity_known: true,
        };
        o
    }

    /// A detected object's fields in Autoware's order: the twist in the
    /// object's frame, the footprint as a polygon about the centre.
    #[test]
    fn detected_object_fields_in_order() {
        let mut o = tracked(test_obstacle(), 3);
        o.footprint = Footprint::from_polygon(&[[9.0, 1.0], [11.0, 1.0], [11.0, 3.0], [9.0, 3.0]]);
        let objects = DetectedObjectsRef {
            header: header(),
            obstacles: std::slice::from_ref(&o),
            shape: ShapeKind::Polygon,
        };
        let bytes = objects.to_cdr();
        let mut r = CdrReader::new(&bytes).unwrap();
        skip_header(&mut r);
        assert_eq!(r.u32("objects").unwrap(), 1);
        assert!((r.f32("existence").unwrap() - 0.9).abs() < 1e-6);
        assert_eq!(r.u32("classification").unwrap(), 1);
        assert_eq!(r.u8("label").unwrap(), 1);
        r.f32("probability").unwrap();
        let pose: [f64; 7] = r.f64_array("pose").unwrap();
        assert_eq!(&pose[..3], &o.bbox.center);
        let _: [f64; 36] = r.f64_array("covariance").unwrap();
        assert!(r.bool("has_position_covariance").unwrap());
        assert_eq!(r.u8("orientation").unwrap(), ORIENTATION_SIGN_UNKNOWN);
        let twist: [f64; 6] = r.f64_array("twist").unwrap();
        assert!(
            (twist[0] - 10.0).abs() < 1e-9 && twist[1].abs() < 1e-9,
            "{twist:?}"
        );
        let _: [f64; 36] = r.f64_array("twist covariance").unwrap();
        assert!(r.bool("has_twist").unwrap());
        assert!(!r.bool("has_twist_covariance").unwrap());
        assert_eq!(r.u8("shape.type").unwrap(), 2);
        assert_eq!(r.u32("points").unwrap(), 4);
        // (9, 1) about the centre (10, 2), in the frame turned to +y.
        let first = [
            r.f32("x").unwrap(),
            r.f32("y").unwrap(),
            r.f32("z").unwrap(),
        ];
        assert!(
            (first[0] + 1.0).abs() < 1e-6 && (first[1] - 1.0).abs() < 1e-6,
            "{first:?}"
        );
        for _ in 0..9 {
            r.f32("point").unwrap();
        }
        let dimensions: [f64; 3] = r.f64_array("dimensions").unwrap();
        assert_eq!(dimensions, o.bbox.size);
        r.finish("DetectedObjects").unwrap();
    }

    /// Only confirmed tracks are tracked objects, each under its UUID.
    #[test]
    fn tracked_objects_are_the_confirmed_tracks() {
        let unconfirmed = test_obstacle();
        let o = tracked(test_obstacle(), 258);
        let obstacles = [unconfirmed, o.clone()];
        let objects = TrackedObjectsRef {
            header: header(),
            obstacles: &obstacles,
            shape: ShapeKind::BoundingBox,
        };
        let bytes = objects.to_cdr();
        let mut r = CdrReader::new(&bytes).unwrap();
        skip_header(&mut r);
        assert_eq!(r.u32("objects").unwrap(), 1);
        let mut uuid = [0; 16];
        for b in &mut uuid {
            *b = r.u8("uuid").unwrap();
        }
        assert_eq!(uuid, track_uuid(258));
        assert_eq!(&uuid[12..], &[0, 0, 1, 2]);
        r.f32("existence").unwrap();
        assert_eq!(r.u32("classification").unwrap(), 1);
        r.u8("label").unwrap();
        r.f32("probability").unwrap();
        let _: [f64; 43] = r.f64_array("pose with covariance").unwrap();
        let twist: [f64; 42] = r.f64_array("twist with covariance").unwrap();
        assert!((twist[0] - 10.0).abs() < 1e-9);
        let _: [f64; 42] = r.f64_array("accel with covariance").unwrap();
        assert_eq!(r.u8("orientation").unwrap(), ORIENTATION_SIGN_UNKNOWN);
        assert!(!r.bool("is_stationary").unwrap());
        assert_eq!(r.u8("shape.type").unwrap(), 0);
        assert_eq!(r.u32("points").unwrap(), 0);
        let _: [f64; 3] = r.f64_array("dimensions").unwrap();
        r.finish("TrackedObjects").unwrap();
    }

    #[test]
    fn every_class_has_an_autoware_label() {
        let labels: Vec<u8> = ObstacleClass::ALL.into_iter().map(label).collect();
        assert_eq!(labels, [1, 2, 7, 6, 0]);
    }
}
