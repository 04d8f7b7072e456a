//! Ingest: one serialized input message of any supported type in, a checked
//! frame out. The same code serves replay and (later) the ROS node.
//!
//! Owns the reusable decode buffers (lidar struct-of-arrays, compressed-image
//! pixels). Never copies raw image data; never allocates for raw images,
//! camera info or point clouds once the buffers have grown.

use crate::cdr::DecodeError;
use crate::frames::{CameraFrame, CameraIntrinsics, CompressedDecoder, LidarScan, Stamp};
use crate::msg::{
    CameraInfo, CompressedImage, Detection2DArray, FrameReport, Image, MessageType, ObstacleArray,
    PointCloud2,
};

/// Input message types Lookout understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InputKind {
    Image,
    CompressedImage,
    CameraInfo,
    PointCloud2,
    /// Ground-truth or previously computed obstacles.
    ObstacleArray,
    FrameReport,
    /// 2D ground truth or camera detections.
    Detection2DArray,
}

impl InputKind {
    pub fn from_type_name(type_name: &str) -> Option<Self> {
        // rosbag2 writes `pkg/msg/Type`; some tools write `pkg/Type`.
        let normalized = type_name.replacen("/msg/", "/", 1);
        Some(match normalized.as_str() {
            "sensor_msgs/Image" => InputKind::Image,
            "sensor_msgs/CompressedImage" => InputKind::CompressedImage,
            "sensor_msgs/CameraInfo" => InputKind::CameraInfo,
            "sensor_msgs/PointCloud2" => InputKind::PointCloud2,
            "lookout_msgs/ObstacleArray" => InputKind::ObstacleArray,
            "lookout_msgs/FrameReport" => InputKind::FrameReport,
            "lookout_msgs/Detection2DArray" => InputKind::Detection2DArray,
            _ => return None,
        })
    }

    pub fn type_name(self) -> &'static str {
        match self {
            InputKind::Image => Image::TYPE_NAME,
            InputKind::CompressedImage => CompressedImage::TYPE_NAME,
            InputKind::CameraInfo => CameraInfo::TYPE_NAME,
            InputKind::PointCloud2 => PointCloud2::TYPE_NAME,
            InputKind::ObstacleArray => ObstacleArray::TYPE_NAME,
            InputKind::Detection2DArray => Detection2DArray::TYPE_NAME,
            InputKind::FrameReport => FrameReport::TYPE_NAME,
        }
    }
}

/// What a decoded message held, in numbers a summary can report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FrameFacts {
    pub stamp: Stamp,
    pub width: u32,
    pub height: u32,
    /// Points kept (lidar) or obstacles listed (obstacle arrays).
    pub point_count: u32,
    /// Lidar points dropped for non-finite coordinates.
    pub dropped_non_finite: u32,
}

/// Decodes and validates input messages into reusable frames.
#[derive(Debug, Default)]
pub struct Ingest {
    scan: LidarScan,
    compressed: CompressedDecoder,
}

impl Ingest {
    pub fn new() -> Self {
        Self::default()
    }

    /// The last lidar scan decoded.
    pub fn scan(&self) -> &LidarScan {
        &self.scan
    }

    /// Decodes a camera message (Image or CompressedImage) into a frame:
    /// raw images borrow `data`, compressed ones this ingest's buffer.
    pub fn camera_frame<'s>(
        &'s mut self,
        kind: InputKind,
        data: &'s [u8],
    ) -> Result<CameraFrame<'s>, DecodeError> {
        match kind {
            InputKind::CompressedImage => {
                let message = CompressedImage::decode(data)?;
                self.compressed.decode(&message)
            }
            _ => CameraFrame::from_image(&Image::decode(data)?),
        }
    }

    /// Decodes and validates one message; returns the frame id alongside.
    pub fn ingest<'m>(
        &mut self,
        kind: InputKind,
        data: &'m [u8],
    ) -> Result<(FrameFacts, &'m str), DecodeError> {
        match kind {
            InputKind::Image => {
                let image = Image::decode(data)?;
                let frame = CameraFrame::from_image(&image)?;
                Ok((camera_facts(&frame), image.header.frame_id))
            }
            InputKind::CompressedImage => {
                let message = CompressedImage::decode(data)?;
                let frame = self.compressed.decode(&message)?;
                Ok((camera_facts(&frame), message.header.frame_id))
            }
            InputKind::CameraInfo => {
                let info = CameraInfo::decode(data)?;
                CameraIntrinsics::check(&info)?;
                let facts = FrameFacts {
                    stamp: info.header.stamp.as_nanos(),
                    width: info.width,
                    height: info.height,
                    ..FrameFacts::default()
                };
                Ok((facts, info.header.frame_id))
            }
            InputKind::PointCloud2 => {
                let cloud = PointCloud2::decode(data)?;
                self.scan.fill_from(&cloud)?;
                let facts = FrameFacts {
                    stamp: self.scan.stamp,
                    width: cloud.width,
                    height: cloud.height,
                    point_count: self.scan.len() as u32,
                    dropped_non_finite: self.scan.dropped_non_finite as u32,
                };
                Ok((facts, cloud.header.frame_id))
            }
            InputKind::ObstacleArray => {
                let array = ObstacleArray::decode(data)?;
                let facts = FrameFacts {
                    stamp: array.header.stamp.as_nanos(),
                    point_count: array.obstacles.len() as u32,
                    ..FrameFacts::default()
                };
                Ok((facts, header_frame_id(data)))
            }
            InputKind::FrameReport => {
                let report = FrameReport::decode(data)?;
                let facts = FrameFacts {
                    stamp: report.header.stamp.as_nanos(),
                    ..FrameFacts::default()
                };
                Ok((facts, header_frame_id(data)))
            }
            InputKind::Detection2DArray => {
                let array = Detection2DArray::decode(data)?;
                let facts = FrameFacts {
                    stamp: array.header.stamp.as_nanos(),
                    point_count: array.detections.len() as u32,
                    ..FrameFacts::default()
                };
                Ok((facts, header_frame_id(data)))
            }
        }
    }
}

/// The facts of a decoded camera frame.
pub fn camera_facts(frame: &CameraFrame<'_>) -> FrameFacts {
    FrameFacts {
        stamp: frame.stamp,
        width: frame.width,
        height: frame.height,
        ..FrameFacts::default()
    }
}

/// The header of a message that starts with a `std_msgs/Header`, without
/// decoding the rest.
fn header(data: &[u8]) -> Result<crate::msg::Header<'_>, DecodeError> {
    let mut r = crate::cdr::CdrReader::new(data)?;
    crate::msg::Header::decode(&mut r, "header.stamp", "header.frame_id")
}

/// The header stamp (the scheduler needs it before the stage runs).
pub fn header_stamp(data: &[u8]) -> Result<Stamp, DecodeError> {
    Ok(header(data)?.stamp.as_nanos())
}

/// The borrowed frame id; empty when the header does not decode.
fn header_frame_id(data: &[u8]) -> &str {
    header(data).map(|h| h.frame_id).unwrap_or("")
}
