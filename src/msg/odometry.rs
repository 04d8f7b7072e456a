//! `nav_msgs/Odometry`: the vehicle's pose (and twist) as its odometry or
//! localization publishes it, for the tracker's fixed frame when the node
//! is given an odometry topic (`tracking.odometry_topic`) rather than
//! `/tf`. Decoded borrowing the frame names, without allocating; a
//! truncated message is an error naming the field.

use super::{Encode, Header, MessageType};
use crate::cdr::{CdrReader, CdrWriter, DecodeError};

/// The pose of `child_frame_id` in `header.frame_id` at `header.stamp`,
/// and the twist in `child_frame_id`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Odometry<'a> {
    pub header: Header<'a>,
    pub child_frame_id: &'a str,
    pub position: [f64; 3],
    /// Unit quaternion `[x, y, z, w]`.
    pub orientation_xyzw: [f64; 4],
    /// Row-major 6×6 (x, y, z, roll, pitch, yaw).
    pub pose_covariance: [f64; 36],
    pub linear: [f64; 3],
    pub angular: [f64; 3],
    pub twist_covariance: [f64; 36],
}

impl MessageType for Odometry<'_> {
    const TYPE_NAME: &'static str = "nav_msgs/msg/Odometry";
}

impl<'a> Odometry<'a> {
    pub fn decode(message: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = CdrReader::new(message)?;
        let odometry = Odometry {
            header: Header::decode(&mut r, "Odometry.header.stamp", "Odometry.header.frame_id")?,
            child_frame_id: r.string("Odometry.child_frame_id")?,
            position: r.f64_array("Odometry.pose.pose.position")?,
            orientation_xyzw: r.f64_array("Odometry.pose.pose.orientation")?,
            pose_covariance: r.f64_array("Odometry.pose.covariance")?,
            linear: r.f64_array("Odometry.twist.twist.linear")?,
            angular: r.f64_array("Odometry.twist.twist.angular")?,
            twist_covariance: r.f64_array("Odometry.twist.covariance")?,
        };
        r.finish("Odometry")?;
        Ok(odometry)
    }
}

impl Encode for Odometry<'_> {
    fn encode_fields(&self, w: &mut CdrWriter) {
        self.header.encode(w);
        w.string(self.child_frame_id)
            .f64_slice(&self.position)
            .f64_slice(&self.orientation_xyzw)
            .f64_slice(&self.pose_covariance)
            .f64_slice(&self.linear)
            .f64_slice(&self.angular)
            .f64_slice(&self.twist_covariance);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::Time;

    #[test]
    fn odometry_round_trips_and_a_truncated_message_names_its_field() {
        let mut covariance = [0.0; 36];
        covariance[0] = 0.04;
        let message = Odometry {
            header: Header {
                stamp: Time::from_nanos(1_700_000_000_100_000_000),
                frame_id: "odom",
            },
            child_frame_id: "base_link",
            position: [12.5, -3.0, 0.1],
            orientation_xyzw: [0.0, 0.0, 0.258819, 0.965926],
            pose_covariance: covariance,
            linear: [10.0, 0.0, 0.0],
            angular: [0.0, 0.0, 0.1],
            twist_covariance: covariance,
        };
        let mut w = CdrWriter::new();
        message.encode_into(&mut w);
        assert_eq!(Odometry::decode(w.as_bytes()).unwrap(), message);
        let cut = &w.as_bytes()[..w.as_bytes().len() - 300];
        let e = Odometry::decode(cut).unwrap_err().to_string();
        assert!(e.contains("Odometry.twist"), "{e}");
    }
}
