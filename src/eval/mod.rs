//! Accuracy metrics: pure functions of detections and truth handed in.
//!
//! - [`metrics`]: 3D obstacles against 3D truth, in the bird's-eye view
//!   (recall, precision, AP, centre and size errors, by class and range).
//! - [`image`]: 2D detections against 2D truth (per-class AP at an IoU).
//! - [`tracking`]: tracked obstacles against truth with ids (MOTA, IDF1,
//!   ID switches, velocity error).
//!
//! Never reads a bag, runs a stage or touches the clock: the replays that
//! score ([`crate::replay::score`]) feed them, and the `eval` command
//! prints what they return.

pub mod image;
pub mod metrics;
pub mod tracking;

pub use metrics::*;
