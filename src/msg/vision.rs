//! `vision_msgs` (ros-perception/vision_msgs, definitions in
//! `interfaces/vision_msgs/msg/`), the types most ROS 2 detectors and
//! Isaac ROS publish: Lookout's obstacles as a `Detection3DArray`.
//! Encoded straight from the pipeline's obstacles into the writer, without
//! building the message (no allocation on the publish path).

use super::geometry::{decimal, pose, pose_with_covariance};
use super::{Encode, Header, MessageType};
use crate::cdr::CdrWriter;
use crate::obstacle::Obstacle;

/// `vision_msgs/Detection3DArray` of an output's obstacles: one hypothesis
/// each (Lookout's label as `class_id`, its score; the pose with the
/// track's position covariance), the box, and the track id as `id` ("" for
/// an obstacle no track has named).
#[derive(Debug, Clone, Copy)]
pub struct Detection3DArrayRef<'a> {
    pub header: Header<'a>,
    pub obstacles: &'a [Obstacle],
}

impl MessageType for Detection3DArrayRef<'_> {
    const TYPE_NAME: &'static str = "vision_msgs/msg/Detection3DArray";
}

impl Encode for Detection3DArrayRef<'_> {
    fn encode_fields(&self, w: &mut CdrWriter) {
        self.header.encode(w);
        w.sequence_len(self.obstacles.len());
        let mut digits = [0; 10];
        for o in self.obstacles {
            self.header.encode(w);
            w.sequence_len(1);
            w.string(o.class.label()).f64(f64::from(o.score));
            pose_with_covariance(w, o);
            pose(w, &o.bbox.center, o.bbox.yaw);
            w.f64_slice(&o.bbox.size);
            let id = if o.track.is_tracked() {
                decimal(o.id, &mut digits)
            } else {
                ""
            };
            w.string(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cdr::CdrReader;
    use crate::msg::Time;
    use crate::msg::geometry::tests::test_obstacle;
    use crate::obstacle::TrackState;

    /// The fields sit where the vision_msgs layout puts them.
    #[test]
    fn detection_fields_in_order() {
        let mut o = test_obstacle();
        o.id = 42;
        o.bbox.yaw = std::f64::consts::FRAC_PI_2;
        o.track = TrackState {
            age_s: 1.0,
            position_covariance: [0.04, 0.0, 0.0, 0.09],
            velocity_known: true,
        };
        let array = Detection3DArrayRef {
            header: Header {
                stamp: Time::from_nanos(1_500_000_000),
                frame_id: "base_link",
            },
            obstacles: std::slice::from_ref(&o),
        };
        let bytes = array.to_cdr();
        let mut r = CdrReader::new(&bytes).unwrap();
        assert_eq!(r.i32("sec").unwrap(), 1);
        assert_eq!(r.u32("nanosec").unwrap(), 500_000_000);
        assert_eq!(r.string("frame").unwrap(), "base_link");
        assert_eq!(r.u32("detections").unwrap(), 1);
        r.i32("sec").unwrap();
        r.u32("nanosec").unwrap();
        r.string("frame").unwrap();
        assert_eq!(r.u32("results").unwrap(), 1);
        assert_eq!(r.string("class_id").unwrap(), "car");
        assert!((r.f64("score").unwrap() - 0.9).abs() < 1e-6);
        let position: [f64; 3] = r.f64_array("position").unwrap();
        assert_eq!(position, o.bbox.center);
        let q: [f64; 4] = r.f64_array("orientation").unwrap();
        assert!((q[2] - (0.25 * std::f64::consts::PI).sin()).abs() < 1e-12);
        let covariance: [f64; 36] = r.f64_array("covariance").unwrap();
        assert!((covariance[0] - 0.04).abs() < 1e-7 && (covariance[7] - 0.09).abs() < 1e-7);
        let _box_pose: [f64; 7] = r.f64_array("bbox.center").unwrap();
        let size: [f64; 3] = r.f64_array("bbox.size").unwrap();
        assert_eq!(size, o.bbox.size);
        assert_eq!(r.string("id").unwrap(), "42");
        r.finish("Detection3DArray").unwrap();
    }
}
