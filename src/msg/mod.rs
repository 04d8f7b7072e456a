//! ROS 2 message layouts Lookout reads and writes, decoded with [`crate::cdr`].
//!
//! Owns: the field order of each message type, its `ros2msg` definition text
//! (for MCAP schemas), and validation of each message's own invariants
//! (sizes, encodings). Large payloads (`Image.data`, `PointCloud2.data`,
//! `CompressedImage.data`) are borrowed from the input buffer, never copied.
//! Never allocates while decoding the sensor types.

pub mod autoware;
pub mod defs;
pub mod foxglove;
pub(crate) mod geometry;
mod lookout;
pub mod odometry;
mod sensor;
pub mod tf;
pub mod vision;
pub mod viz;

pub use lookout::{
    Detection2D, Detection2DArray, FrameReport, Obstacle, ObstacleArray, ObstacleArrayRef,
    ObstacleSource, PipelineStatus, SensorStatus,
};
pub use sensor::{
    CameraInfo, CompressedImage, Image, MAX_DISTORTION, MAX_POINT_FIELDS, PointCloud2, PointField,
    PointFieldType, RegionOfInterest,
};

use crate::cdr::{CdrReader, CdrWriter, DecodeError};

/// A ROS message type: its name as rosbag2 records it and its definition.
pub trait MessageType {
    /// e.g. `sensor_msgs/msg/Image`.
    const TYPE_NAME: &'static str;
}

/// A type Lookout can serialize.
pub trait Encode: MessageType {
    fn encode_fields(&self, w: &mut CdrWriter);

    /// Serializes a whole message (encapsulation header included) into `w`.
    fn encode_into(&self, w: &mut CdrWriter) {
        w.clear();
        self.encode_fields(w);
    }

    fn to_cdr(&self) -> Vec<u8> {
        let mut w = CdrWriter::new();
        self.encode_into(&mut w);
        w.into_bytes()
    }
}

/// `builtin_interfaces/Time`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time {
    pub sec: i32,
    pub nanosec: u32,
}

impl Time {
    pub fn from_nanos(nanos: i64) -> Time {
        Time {
            sec: nanos.div_euclid(1_000_000_000) as i32,
            nanosec: nanos.rem_euclid(1_000_000_000) as u32,
        }
    }

    pub fn as_nanos(self) -> i64 {
        self.sec as i64 * 1_000_000_000 + self.nanosec as i64
    }

    pub(crate) fn decode(r: &mut CdrReader<'_>, field: &'static str) -> Result<Time, DecodeError> {
        let sec = r.i32(field)?;
        let nanosec = r.u32(field)?;
        if nanosec >= 1_000_000_000 {
            return Err(DecodeError::invalid(
                field,
                format!("nanosec {nanosec} is not below 1e9"),
            ));
        }
        Ok(Time { sec, nanosec })
    }

    pub(crate) fn encode(self, w: &mut CdrWriter) {
        w.i32(self.sec).u32(self.nanosec);
    }
}

/// `std_msgs/Header`, frame id borrowed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Header<'a> {
    pub stamp: Time,
    pub frame_id: &'a str,
}

impl<'a> Header<'a> {
    pub(crate) fn decode(
        r: &mut CdrReader<'a>,
        stamp_field: &'static str,
        frame_field: &'static str,
    ) -> Result<Header<'a>, DecodeError> {
        Ok(Header {
            stamp: Time::decode(r, stamp_field)?,
            frame_id: r.string(frame_field)?,
        })
    }

    pub(crate) fn encode(&self, w: &mut CdrWriter) {
        self.stamp.encode(w);
        w.string(self.frame_id);
    }
}

/// `std_msgs/Header` with an owned frame id, for messages Lookout builds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnedHeader {
    pub stamp: Time,
    pub frame_id: String,
}

impl OwnedHeader {
    pub fn borrowed(&self) -> Header<'_> {
        Header {
            stamp: self.stamp,
            frame_id: &self.frame_id,
        }
    }
}

impl From<Header<'_>> for OwnedHeader {
    fn from(h: Header<'_>) -> Self {
        OwnedHeader {
            stamp: h.stamp,
            frame_id: h.frame_id.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_nanos_round_trip_including_negative() {
        for nanos in [0, 1, 999_999_999, 1_000_000_000, -1, -1_500_000_000] {
            assert_eq!(Time::from_nanos(nanos).as_nanos(), nanos);
        }
        assert_eq!(Time::from_nanos(-1).nanosec, 999_999_999);
    }
}
