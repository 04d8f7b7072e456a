//! Camera–lidar fusion: lidar clusters (where) meet camera detections
//! (what) through the calibration.
//!
//! - [`project`]: lidar points to pixels and pixels to the ground.
//! - [`sync`]: camera results shared between lanes, paired with scans by time.
//! - [`associate`]: obstacles take the class of the detection holding their points.

pub mod associate;
pub mod project;
pub mod sync;
