//! `foxglove_msgs` (foxglove/foxglove-sdk, definitions in
//! `interfaces/foxglove_msgs/ros2/`): Lookout's obstacles as a
//! `SceneUpdate`, which Foxglove's 3D panel draws from a bag or a live
//! topic, and a camera frame's detections as `ImageAnnotations`, which its
//! Image panel draws over the image. The ROS 2 flavour of Foxglove's schemas rather than their
//! protobuf or JSON encodings: it is CDR with a `ros2msg` schema like every
//! other channel Lookout writes, so one codec serves the node and the bags,
//! rosbags and `ros2 bag` still read every channel of an output file (their
//! readers reject JSON-schema channels), and Foxglove reads it as its own
//! schema. Encoded straight from the pipeline's obstacles into the writer,
//! text formatted on the stack (no allocation on the publish path).

use super::geometry::pose;
use super::{Encode, MessageType, Time};
use crate::cdr::CdrWriter;
use crate::obstacle::{Detection2d, Obstacle, ObstacleClass};
use serde::{Deserialize, Serialize};
use std::io::Write as _;

/// What a scene's boxes are coloured by.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ColorBy {
    /// The class (as the RViz markers).
    #[default]
    Class,
    /// End-to-end latency: green at 100 ms or less, red at 300 ms or more.
    Latency,
}

/// Metres a velocity arrow reaches per m/s: where the obstacle will be in
/// one second (as the RViz markers draw it).
const ARROW_SECONDS: f64 = 1.0;
/// Slower than this (m/s), no arrow.
const ARROW_MIN_MPS: f64 = 0.5;

/// `foxglove_msgs/SceneUpdate` of an output's obstacles: every earlier
/// entity deleted, then an entity per obstacle (id `track-<id>`, or
/// `obstacle-<index>` without a track) with its box, a label (class, track
/// id, speed) and, when it moves, an arrow to where it will be in a second;
/// class, score, source, track id, speed and latency in its metadata.
#[derive(Debug, Clone, Copy)]
pub struct SceneUpdateRef<'a> {
    pub stamp: Time,
    pub frame_id: &'a str,
    pub obstacles: &'a [Obstacle],
    pub color: ColorBy,
}

impl MessageType for SceneUpdateRef<'_> {
    const TYPE_NAME: &'static str = "foxglove_msgs/msg/SceneUpdate";
}

impl Encode for SceneUpdateRef<'_> {
    fn encode_fields(&self, w: &mut CdrWriter) {
        // deletions: ALL, at this update's stamp
        w.sequence_len(1);
        self.stamp.encode(w);
        w.u8(1).string("");
        w.sequence_len(self.obstacles.len());
        for (index, o) in self.obstacles.iter().enumerate() {
            self.entity(w, index, o);
        }
    }
}

impl SceneUpdateRef<'_> {
    fn entity(&self, w: &mut CdrWriter, index: usize, o: &Obstacle) {
        let mut text = Text::default();
        self.stamp.encode(w);
        w.string(self.frame_id);
        w.string(if o.track.is_tracked() {
            text.format(format_args!("track-{}", o.id))
        } else {
            text.format(format_args!("obstacle-{index}"))
        });
        // lifetime 0 (until the next update deletes it), not frame-locked
        w.i32(0).u32(0).bool(false);
        let speed = o.velocity[0].hypot(o.velocity[1]);
        metadata(w, o, speed);
        let color = match self.color {
            ColorBy::Class => o.class.display_rgba(),
            ColorBy::Latency => latency_rgba(o.latency),
        };
        // arrows
        if o.track.velocity_known && speed >= ARROW_MIN_MPS {
            w.sequence_len(1);
            let top = [
                o.bbox.center[0],
                o.bbox.center[1],
                o.bbox.center[2] + 0.5 * o.bbox.size[2],
            ];
            pose(w, &top, o.velocity[1].atan2(o.velocity[0]));
            // Shaft and head together reach where it will be.
            let length = speed * ARROW_SECONDS;
            let head = 0.3_f64.min(0.5 * length);
            w.f64(length - head).f64(0.1).f64(head).f64(0.3);
            rgba(w, [color[0], color[1], color[2], 1.0]);
        } else {
            w.sequence_len(0);
        }
        // cubes
        w.sequence_len(1);
        pose(w, &o.bbox.center, o.bbox.yaw);
        w.f64_slice(&o.bbox.size);
        rgba(w, color);
        // spheres, cylinders, lines, triangles
        for _ in 0..4 {
            w.sequence_len(0);
        }
        // texts
        w.sequence_len(1);
        let above = [
            o.bbox.center[0],
            o.bbox.center[1],
            o.bbox.center[2] + 0.5 * o.bbox.size[2] + 0.5,
        ];
        pose(w, &above, 0.0);
        w.bool(true).f64(12.0).bool(true);
        rgba(w, [1.0; 4]);
        let label = o.class.label();
        w.string(match (o.track.is_tracked(), o.track.velocity_known) {
            (true, true) => text.format(format_args!("{label} {} {speed:.1} m/s", o.id)),
            (true, false) => text.format(format_args!("{label} {}", o.id)),
            _ => label,
        });
        // models
        w.sequence_len(0);
    }
}

/// `foxglove_msgs/ImageAnnotations` of a camera frame's detections: a box
/// outline per detection (coloured by the class the detector's name maps
/// to) and a label with the class and score at its top-left corner.
#[derive(Debug, Clone, Copy)]
pub struct ImageAnnotationsRef<'a> {
    /// The image's header stamp (the Image panel matches it).
    pub stamp: Time,
    pub detections: &'a [Detection2d],
    /// The detector's class names, by index.
    pub class_names: &'a [String],
}

impl MessageType for ImageAnnotationsRef<'_> {
    const TYPE_NAME: &'static str = "foxglove_msgs/msg/ImageAnnotations";
}

impl Encode for ImageAnnotationsRef<'_> {
    fn encode_fields(&self, w: &mut CdrWriter) {
        self.stamp.encode(w);
        w.sequence_len(0); // circles
        w.sequence_len(self.detections.len());
        for d in self.detections {
            self.stamp.encode(w);
            w.u8(2); // LINE_LOOP
            let [x0, y0, x1, y1] = d.bbox.map(f64::from);
            w.sequence_len(4);
            w.f64_slice(&[x0, y0, x1, y0, x1, y1, x0, y1]);
            let color = self.color(d);
            rgba(w, [color[0], color[1], color[2], 1.0]);
            w.sequence_len(0); // outline_colors
            rgba(w, [0.0; 4]); // no fill
            w.f64(2.0).sequence_len(0); // thickness, metadata
        }
        w.sequence_len(self.detections.len());
        let mut text = Text::default();
        for d in self.detections {
            self.stamp.encode(w);
            w.f64(f64::from(d.bbox[0])).f64(f64::from(d.bbox[1]));
            w.string(text.format(format_args!("{} {:.2}", self.name(d), d.score)));
            w.f64(12.0);
            rgba(w, [1.0; 4]);
            rgba(w, [0.0, 0.0, 0.0, 0.6]);
            w.sequence_len(0); // metadata
        }
        w.sequence_len(0); // metadata
    }
}

impl ImageAnnotationsRef<'_> {
    fn name(&self, d: &Detection2d) -> &str {
        self.class_names
            .get(usize::from(d.class))
            .map_or("?", String::as_str)
    }

    /// The colour of the class its name maps to, or one of a palette by
    /// class index for names that map to none (COCO's "person", "bus").
    fn color(&self, d: &Detection2d) -> [f32; 4] {
        const PALETTE: [[f32; 4]; 6] = [
            [0.9, 0.3, 0.3, 1.0],
            [0.3, 0.9, 0.3, 1.0],
            [0.3, 0.5, 1.0, 1.0],
            [1.0, 0.8, 0.2, 1.0],
            [0.8, 0.3, 0.9, 1.0],
            [0.2, 0.9, 0.9, 1.0],
        ];
        match ObstacleClass::from_label(self.name(d)) {
            ObstacleClass::Unknown => PALETTE[usize::from(d.class) % PALETTE.len()],
            class => class.display_rgba(),
        }
    }
}

/// `KeyValuePair[] metadata`: what a click on the entity shows.
fn metadata(w: &mut CdrWriter, o: &Obstacle, speed: f64) {
    let mut text = Text::default();
    w.sequence_len(6);
    w.string("class").string(o.class.label());
    w.string("score")
        .string(text.format(format_args!("{:.2}", o.score)));
    w.string("source").string(match o.source {
        crate::obstacle::ObstacleSource::Lidar => "lidar",
        crate::obstacle::ObstacleSource::Camera => "camera",
        crate::obstacle::ObstacleSource::Fused => "fused",
        crate::obstacle::ObstacleSource::GroundTruth => "ground truth",
    });
    // Empty for an obstacle no track has named (its id is the output's).
    w.string("track_id").string(if o.track.is_tracked() {
        text.format(format_args!("{}", o.id))
    } else {
        ""
    });
    w.string("speed_mps")
        .string(text.format(format_args!("{speed:.2}")));
    w.string("latency_ms")
        .string(text.format(format_args!("{:.1}", 1e3 * o.latency)));
}

/// `foxglove_msgs/Color`.
fn rgba(w: &mut CdrWriter, color: [f32; 4]) {
    for c in color {
        w.f64(f64::from(c));
    }
}

/// Green at 100 ms or less, through yellow, red at 300 ms or more; grey
/// when the latency is unknown.
pub fn latency_rgba(latency_s: f32) -> [f32; 4] {
    if !latency_s.is_finite() {
        return [0.7, 0.7, 0.7, 0.5];
    }
    let t = ((latency_s - 0.1) / 0.2).clamp(0.0, 1.0);
    [(2.0 * t).min(1.0), (2.0 * (1.0 - t)).min(1.0), 0.1, 0.6]
}

/// A short text formatted on the stack.
struct Text {
    buf: [u8; 64],
}

impl Default for Text {
    fn default() -> Self {
        Text { buf: [0; 64] }
    }
}

impl Text {
    /// `args` written into the buffer (cut at 64 bytes, on a character
    /// boundary).
    fn format(&mut self, args: std::fmt::Arguments<'_>) -> &str {
        let mut cursor = std::io::Cursor::new(&mut self.buf[..]);
        // A full buffer cuts the text; nothing else fails.
        let _ = cursor.write_fmt(args);
        let len = cursor.position() as usize;
        match std::str::from_utf8(&self.buf[..len]) {
            Ok(text) => text,
            Err(e) => std::str::from_utf8(&self.buf[..e.valid_up_to()]).unwrap_or(""),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cdr::CdrReader;
    use crate::msg::geometry::tests::test_obstacle;
    use crate::obstacle::TrackState;

    #[test]
    fn an_entity_per_obstacle_with_box_label_and_arrow() {
        let mut o = test_obstacle();
        o.id = 7;
        o.velocity = [3.0, 4.0, 0.0];
        o.latency = 0.12;
        o.track = TrackState {
            age_s: 1.0,
            position_covariance: [0.04, 0.0, 0.0, 0.04],
            velocity_known: true,
        };
        let scene = SceneUpdateRef {
            stamp: Time::from_nanos(3_000_000_000),
            frame_id: "base_link",
            obstacles: std::slice::from_ref(&o),
            color: ColorBy::Class,
        };
        let bytes = scene.to_cdr();
        let mut r = CdrReader::new(&bytes).unwrap();
        assert_eq!(r.u32("deletions").unwrap(), 1);
        assert_eq!(r.i32("sec").unwrap(), 3);
        r.u32("nanosec").unwrap();
        assert_eq!(r.u8("type").unwrap(), 1);
        assert_eq!(r.string("id").unwrap(), "");
        assert_eq!(r.u32("entities").unwrap(), 1);
        r.i32("sec").unwrap();
        r.u32("nanosec").unwrap();
        assert_eq!(r.string("frame_id").unwrap(), "base_link");
        assert_eq!(r.string("id").unwrap(), "track-7");
        r.i32("lifetime.sec").unwrap();
        r.u32("lifetime.nanosec").unwrap();
        assert!(!r.bool("frame_locked").unwrap());
        assert_eq!(r.u32("metadata").unwrap(), 6);
        let pairs: Vec<(String, String)> = (0..6)
            .map(|_| {
                (
                    r.string("key").unwrap().to_owned(),
                    r.string("value").unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(pairs[0], ("class".into(), "car".into()));
        assert_eq!(pairs[4], ("speed_mps".into(), "5.00".into()));
        assert_eq!(pairs[5], ("latency_ms".into(), "120.0".into()));
        assert_eq!(r.u32("arrows").unwrap(), 1);
        let _: [f64; 7] = r.f64_array("arrow pose").unwrap();
        assert!((r.f64("shaft_length").unwrap() - 4.7).abs() < 1e-12);
        assert_eq!(r.f64("shaft_diameter").unwrap(), 0.1);
        assert_eq!(r.f64("head_length").unwrap(), 0.3);
        let _: [f64; 5] = r.f64_array("arrow rest").unwrap();
        assert_eq!(r.u32("cubes").unwrap(), 1);
        let cube: [f64; 14] = r.f64_array("cube").unwrap();
        assert_eq!(&cube[..3], &o.bbox.center);
        assert_eq!(&cube[7..10], &o.bbox.size);
        for primitive in ["spheres", "cylinders", "lines", "triangles"] {
            assert_eq!(r.u32(primitive).unwrap(), 0);
        }
        assert_eq!(r.u32("texts").unwrap(), 1);
        let _: [f64; 7] = r.f64_array("text pose").unwrap();
        assert!(r.bool("billboard").unwrap());
        r.f64("font_size").unwrap();
        r.bool("scale_invariant").unwrap();
        let _: [f64; 4] = r.f64_array("color").unwrap();
        assert_eq!(r.string("text").unwrap(), "car 7 5.0 m/s");
        assert_eq!(r.u32("models").unwrap(), 0);
        r.finish("SceneUpdate").unwrap();
    }

    #[test]
    fn a_detection_is_an_outline_and_a_label() {
        let names = ["car".to_owned()];
        let detections = [Detection2d {
            class: 0,
            score: 0.5,
            bbox: [1.0, 2.0, 3.0, 4.0],
        }];
        let annotations = ImageAnnotationsRef {
            stamp: Time::from_nanos(5),
            detections: &detections,
            class_names: &names,
        };
        let bytes = annotations.to_cdr();
        let mut r = CdrReader::new(&bytes).unwrap();
        r.i32("sec").unwrap();
        assert_eq!(r.u32("nanosec").unwrap(), 5);
        assert_eq!(r.u32("circles").unwrap(), 0);
        assert_eq!(r.u32("points").unwrap(), 1);
        r.i32("sec").unwrap();
        r.u32("nanosec").unwrap();
        assert_eq!(r.u8("type").unwrap(), 2);
        assert_eq!(r.u32("points").unwrap(), 4);
        let corners: [f64; 8] = r.f64_array("corners").unwrap();
        assert_eq!(corners, [1.0, 2.0, 3.0, 2.0, 3.0, 4.0, 1.0, 4.0]);
        let _: [f64; 4] = r.f64_array("outline_color").unwrap();
        assert_eq!(r.u32("outline_colors").unwrap(), 0);
        let _: [f64; 4] = r.f64_array("fill_color").unwrap();
        assert_eq!(r.f64("thickness").unwrap(), 2.0);
        assert_eq!(r.u32("metadata").unwrap(), 0);
        assert_eq!(r.u32("texts").unwrap(), 1);
        r.i32("sec").unwrap();
        r.u32("nanosec").unwrap();
        let _: [f64; 2] = r.f64_array("position").unwrap();
        assert_eq!(r.string("text").unwrap(), "car 0.50");
        let _: [f64; 9] = r.f64_array("font size and colours").unwrap();
        assert_eq!(r.u32("metadata").unwrap(), 0);
        assert_eq!(r.u32("metadata").unwrap(), 0);
        r.finish("ImageAnnotations").unwrap();
    }

    #[test]
    fn latency_colours_run_green_to_red() {
        assert_eq!(latency_rgba(0.05)[..2], [0.0, 1.0]);
        assert_eq!(latency_rgba(0.2)[..2], [1.0, 1.0]);
        assert_eq!(latency_rgba(0.5)[..2], [1.0, 0.0]);
        assert_eq!(latency_rgba(f32::NAN)[3], 0.5);
    }

    #[test]
    fn text_is_cut_on_a_character_boundary() {
        let mut text = Text::default();
        let long = "é".repeat(40);
        let cut = text.format(format_args!("{long}"));
        assert_eq!(cut.chars().count(), 32);
    }
}
