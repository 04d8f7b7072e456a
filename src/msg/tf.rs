//! `tf2_msgs/TFMessage`, as on `/tf_static`: the transforms between a
//! vehicle's frames. Decoded borrowing the frame names; a hostile count or
//! a truncated message is an error naming the field.

use super::{Encode, Header, MessageType};
use crate::cdr::{CdrReader, CdrWriter, DecodeError};

/// One `geometry_msgs/TransformStamped`: the pose of `child_frame_id` in
/// `header.frame_id`, `p_parent = R p_child + t`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TransformStamped<'a> {
    pub header: Header<'a>,
    pub child_frame_id: &'a str,
    pub translation: [f64; 3],
    /// Unit quaternion `[x, y, z, w]`.
    pub rotation_xyzw: [f64; 4],
}

#[derive(Debug, Clone, PartialEq)]
pub struct TfMessage<'a> {
    pub transforms: Vec<TransformStamped<'a>>,
}

impl MessageType for TfMessage<'_> {
    const TYPE_NAME: &'static str = "tf2_msgs/msg/TFMessage";
}

/// The least bytes one transform takes on the wire (two empty strings).
const MIN_TRANSFORM_BYTES: usize = 8 + 4 + 4 + 7 * 8;

impl<'a> TfMessage<'a> {
    pub fn decode(message: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = CdrReader::new(message)?;
        let n = r.sequence_len(MIN_TRANSFORM_BYTES, "TFMessage.transforms")?;
        let mut transforms = Vec::with_capacity(n);
        for _ in 0..n {
            transforms.push(TransformStamped {
                header: Header::decode(
                    &mut r,
                    "TFMessage.transforms.header.stamp",
                    "TFMessage.transforms.header.frame_id",
                )?,
                child_frame_id: r.string("TFMessage.transforms.child_frame_id")?,
                translation: r.f64_array("TFMessage.transforms.transform.translation")?,
                rotation_xyzw: r.f64_array("TFMessage.transforms.transform.rotation")?,
            });
        }
        r.finish("TFMessage")?;
        Ok(TfMessage { transforms })
    }
}

impl Encode for TfMessage<'_> {
    fn encode_fields(&self, w: &mut CdrWriter) {
        w.sequence_len(self.transforms.len());
        for t in &self.transforms {
            t.header.encode(w);
            w.string(t.child_frame_id)
                .f64_slice(&t.translation)
                .f64_slice(&t.rotation_xyzw);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::Time;

    #[test]
    fn transforms_round_trip_and_a_truncated_message_names_its_field() {
        let message = TfMessage {
            transforms: vec![
                TransformStamped {
                    header: Header {
                        stamp: Time::from_nanos(5),
                        frame_id: "base_link",
                    },
                    child_frame_id: "lidar_front",
                    translation: [3.7, 0.0, 0.6],
                    rotation_xyzw: [0.0, 0.0, 0.0, 1.0],
                },
                TransformStamped {
                    header: Header {
                        stamp: Time::from_nanos(5),
                        frame_id: "base_link",
                    },
                    child_frame_id: "cam",
                    translation: [1.0, 2.0, 3.0],
                    rotation_xyzw: [-0.5, 0.5, -0.5, 0.5],
                },
            ],
        };
        let mut w = CdrWriter::new();
        message.encode_into(&mut w);
        assert_eq!(TfMessage::decode(w.as_bytes()).unwrap(), message);
        let cut = &w.as_bytes()[..w.as_bytes().len() - 20];
        let e = TfMessage::decode(cut).unwrap_err().to_string();
        assert!(e.contains("TFMessage.transforms"), "{e}");
    }
}
