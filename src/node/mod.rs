//! `lookout node`: the pipeline as a ROS 2 node.
//!
//! - [`params`]: every config knob as a ROS parameter, validated.
//! - [`present`]: RViz markers, the latency overlay and `/diagnostics`.
//! - [`overhead`]: the node's own cost per result.
//! - `ros` (feature `ros2`): the r2r subscriptions, publishers and time.
//!
//! Only `ros` touches r2r, so the rest is built and tested without ROS.

pub mod overhead;
pub mod params;
pub mod present;
#[cfg(feature = "ros2")]
mod ros;

#[cfg(feature = "ros2")]
pub use ros::{NodeError, run};

use crate::calibration::Calibration;
use std::path::Path;

/// The calibration fusion runs with, or `None` (lidar-only obstacles) with
/// one warning saying why: no camera model, no calibration configured, or a
/// calibration file that is missing or invalid. A bad calibration never
/// stops the node: the lidar keeps producing obstacles.
pub fn fusion_calibration(has_model: bool, path: &str, resolved: &Path) -> Option<Calibration> {
    match (has_model, path.is_empty()) {
        (_, true) => None,
        (false, false) => {
            tracing::warn!("fusion.calibration {path} unused: fusion needs node.model");
            None
        }
        (true, false) => match Calibration::load(resolved) {
            Ok(calibration) => Some(calibration),
            Err(e) => {
                tracing::warn!(
                    "fusion.calibration '{path}': {e}: running lidar-only (no camera–lidar fusion)"
                );
                None
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_invalid_calibration_means_lidar_only_not_a_failure() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.yaml");
        assert!(fusion_calibration(true, "missing.yaml", &missing).is_none());
        let invalid = dir.path().join("invalid.yaml");
        std::fs::write(&invalid, "lidar_to_camera: [1, 2]\n").unwrap();
        assert!(fusion_calibration(true, "invalid.yaml", &invalid).is_none());
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("calibration/synthetic.yaml");
        assert!(fusion_calibration(true, "synthetic.yaml", &shipped).is_some());
        // Without a camera model the calibration is not even read.
        assert!(fusion_calibration(false, "synthetic.yaml", &shipped).is_none());
        assert!(fusion_calibration(true, "", &shipped).is_none());
    }
}
