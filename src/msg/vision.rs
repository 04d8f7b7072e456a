//! `vision_msgs` (ros-perception/vision_msgs, definitions in
//! `interfaces/vision_msgs/msg/`), the types most ROS 2 detectors and
//! Isaac ROS publish: Lookout's obstacles as a `Detection3DArray`, a camera
//! frame's detections as a `Detection2DArray`.
//! Encoded straight from the pipeline's obstacles into the writer, without
//! building the message (no allocation on the publish path).

use super::geometry::{decimal, pose, pose_with_covariance};
use super::{Encode, Header, MessageType};
use crate::cdr::CdrWriter;
use crate::obstacle::{Detection2d, Obstacle};

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

/// `vision_msgs/Detection2DArray` of a camera frame's detections: one
/// hypothesis each (the detector's class name as `class_id`, its score;
/// no pose), the box (centre and size, pixels), no id.
#[derive(Debug, Clone, Copy)]
pub struct Detection2DArrayRef<'a> {
    pub header: Header<'a>,
    pub detections: &'a [Detection2d],
    /// The detector's class names, by index.
    pub class_names: &'a [String],
}

impl MessageType for Detection2DArrayRef<'_> {
    const TYPE_NAME: &'static str = "vision_msgs/msg/Detection2DArray";
}

impl Encode for Detection2DArrayRef<'_> {
    fn encode_fields(&self, w: &mut CdrWriter) {
        self.header.encode(w);
        w.sequence_len(self.detections.len());
        let mut digits = [0; 10];
        for d in self.detections {
            self.header.encode(w);
            w.sequence_len(1);
            let class = match self.class_names.get(usize::from(d.class)) {
                Some(name) => name.as_str(),
                None => decimal(u32::from(d.class), &mut digits),
            };
            w.string(class).f64(f64::from(d.score));
            // No pose: the detection is in the image.
            pose(w, &[0.0; 3], 0.0);
            w.f64_slice(&[0.0; 36]);
            let [x0, y0, x1, y1] = d.bbox.map(f64::from);
            w.f64(0.5 * (x0 + x1)).f64(0.5 * (y0 + y1)).f64(0.0);
            w.f64(x1 - x0).f64(y1 - y0);
            w.string("");
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

    #[test]
    fn a_2d_detection_is_its_box_centre_and_size() {
        let names = ["person".to_owned(), "car".to_owned()];
        let detections = [Detection2d {
            class: 1,
            score: 0.75,
            bbox: [10.0, 20.0, 50.0, 80.0],
        }];
        let array = Detection2DArrayRef {
            header: Header {
                stamp: Time::from_nanos(0),
                frame_id: "camera",
            },
            detections: &detections,
            class_names: &names,
        };
        let bytes = array.to_cdr();
        let mut r = CdrReader::new(&bytes).unwrap();
        r.i32("sec").unwrap();
        r.u32("nanosec").unwrap();
        r.string("frame").unwrap();
        assert_eq!(r.u32("detections").unwrap(), 1);
        r.i32("sec").unwrap();
        r.u32("nanosec").unwrap();
        assert_eq!(r.string("frame").unwrap(), "camera");
        assert_eq!(r.u32("results").unwrap(), 1);
        assert_eq!(r.string("class_id").unwrap(), "car");
        assert_eq!(r.f64("score").unwrap(), 0.75);
        let _: [f64; 43] = r.f64_array("pose with covariance").unwrap();
        let bbox: [f64; 5] = r.f64_array("bbox").unwrap();
        assert_eq!(bbox, [30.0, 50.0, 0.0, 40.0, 60.0]);
        assert_eq!(r.string("id").unwrap(), "");
        r.finish("Detection2DArray").unwrap();
    }
}
