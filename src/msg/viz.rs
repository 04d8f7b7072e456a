//! `visualization_msgs/MarkerArray` and `diagnostic_msgs/DiagnosticArray`,
//! encode only: Lookout publishes them for RViz and `/diagnostics`, and
//! never reads them. Markers are written straight from borrowed parts into
//! a reused writer, so publishing them allocates nothing per frame.

use super::{Header, MessageType};
use crate::cdr::CdrWriter;

pub const MARKER_ARRAY: &str = "visualization_msgs/msg/MarkerArray";
pub const DIAGNOSTIC_ARRAY: &str = "diagnostic_msgs/msg/DiagnosticArray";

/// `Marker.type` values Lookout uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkerKind {
    /// Along x of its pose, `scale.x` long.
    Arrow = 0,
    Cube = 1,
    TextViewFacing = 9,
}

/// `Marker.action` values Lookout uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkerAction {
    Add = 0,
    /// Deletes every marker of the namespace (all, with an empty one).
    DeleteAll = 3,
}

/// One `visualization_msgs/Marker`, borrowed. Fields Lookout never sets
/// (points, colors, texture, mesh) are written empty.
#[derive(Debug, Clone, Copy)]
pub struct Marker<'a> {
    pub header: Header<'a>,
    pub ns: &'a str,
    pub id: i32,
    pub kind: MarkerKind,
    pub action: MarkerAction,
    pub position: [f64; 3],
    /// Rotation about z (radians).
    pub yaw: f64,
    /// Box size, or `[_, _, text height]` for text.
    pub scale: [f64; 3],
    /// r, g, b, a in 0..=1.
    pub color: [f32; 4],
    /// Nanoseconds; 0 lasts until replaced or deleted.
    pub lifetime_ns: i64,
    pub frame_locked: bool,
    pub text: &'a str,
}

impl MessageType for Marker<'_> {
    const TYPE_NAME: &'static str = "visualization_msgs/msg/Marker";
}

impl Marker<'_> {
    pub fn encode_fields(&self, w: &mut CdrWriter) {
        self.header.encode(w);
        w.string(self.ns)
            .i32(self.id)
            .i32(self.kind as i32)
            .i32(self.action as i32);
        // geometry_msgs/Pose: position, then the yaw as a quaternion.
        let half = self.yaw / 2.0;
        w.f64_slice(&self.position)
            .f64_slice(&[0.0, 0.0, half.sin(), half.cos()])
            .f64_slice(&self.scale);
        for c in self.color {
            w.f32(c);
        }
        let lifetime = super::Time::from_nanos(self.lifetime_ns);
        w.i32(lifetime.sec).u32(lifetime.nanosec);
        w.bool(self.frame_locked)
            .sequence_len(0) // points
            .sequence_len(0) // colors
            .string(""); // texture_resource
        // texture: sensor_msgs/CompressedImage (header, format, data).
        Header::default().encode(w);
        w.string("").sequence_len(0);
        w.sequence_len(0) // uv_coordinates
            .string(self.text)
            .string("") // mesh_resource
            .string("") // mesh_file.filename
            .sequence_len(0) // mesh_file.data
            .bool(false); // mesh_use_embedded_materials
    }
}

/// Writes a `MarkerArray` of `count` markers; `each(i, w)` encodes marker
/// `i` (with [`Marker::encode_fields`]).
pub fn encode_marker_array(
    w: &mut CdrWriter,
    count: usize,
    mut each: impl FnMut(usize, &mut CdrWriter),
) {
    w.clear();
    w.sequence_len(count);
    for i in 0..count {
        each(i, w);
    }
}

/// `diagnostic_msgs/DiagnosticStatus` levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiagnosticLevel {
    Ok = 0,
    Warn = 1,
    Error = 2,
    Stale = 3,
}

/// One `diagnostic_msgs/DiagnosticStatus`.
#[derive(Debug, Clone, PartialEq)]
pub struct DiagnosticStatus {
    pub level: DiagnosticLevel,
    pub name: String,
    pub message: String,
    pub hardware_id: String,
    pub values: Vec<(String, String)>,
}

/// Serializes a `DiagnosticArray` (diagnostics go out at the status rate,
/// not per frame, so owned strings are fine here).
pub fn encode_diagnostic_array(
    w: &mut CdrWriter,
    header: Header<'_>,
    statuses: &[DiagnosticStatus],
) {
    w.clear();
    header.encode(w);
    w.sequence_len(statuses.len());
    for s in statuses {
        w.u8(s.level as u8)
            .string(&s.name)
            .string(&s.message)
            .string(&s.hardware_id)
            .sequence_len(s.values.len());
        for (key, value) in &s.values {
            w.string(key).string(value);
        }
    }
}
