//! `lookout node`: the pipeline as a ROS 2 node.
//!
//! - [`params`]: every config knob as a ROS parameter, validated.
//! - [`present`]: RViz markers, the latency overlay and `/diagnostics`.
//! - [`overhead`]: the node's own cost per result.
//! - `inputs` (feature `ros2`): a subscription per topic of the rig.
//! - `startup` (feature `ros2`): a rig completed from `/tf_static` and
//!   `CameraInfo` before the lanes are built.
//! - `ros` (feature `ros2`): the r2r node, publishers and time.
//!
//! Only `ros` touches r2r, so the rest is built and tested without ROS.

#[cfg(feature = "ros2")]
mod inputs;
pub mod overhead;
pub mod params;
pub mod present;
#[cfg(feature = "ros2")]
mod ros;
#[cfg(feature = "ros2")]
mod startup;

#[cfg(feature = "ros2")]
pub use ros::{NodeError, run};

use crate::camera::engine::EngineOptions;
use crate::fusion::FusionConfig;
use crate::pipeline::{CameraSide, SetupError};
use std::path::Path;

/// The node's camera side ([`CameraSide::load`]): the detector at `model`
/// (none when `None`), fusion with the calibration at `calibration` (the
/// parameter's value, `""` for none; read from `resolved`). A calibration
/// that cannot be used (no camera model, a missing or invalid file) leaves
/// the node lidar-only with one warning saying why: a bad calibration never
/// stops the node, the lidar keeps producing obstacles. A model that does
/// not load is an error.
pub fn camera_side(
    model: Option<&Path>,
    engine: EngineOptions,
    fusion: &FusionConfig,
    calibration: &str,
    resolved: &Path,
) -> Result<CameraSide, SetupError> {
    let wanted = (!calibration.is_empty()).then_some(resolved);
    match CameraSide::load(model, engine.clone(), fusion, wanted, None) {
        Err(SetupError::NoModel { .. }) => {
            tracing::warn!("fusion.calibration {calibration} unused: fusion needs node.model");
            CameraSide::load(model, engine, fusion, None, None)
        }
        Err(SetupError::Calibration { detail, .. }) => {
            tracing::warn!(
                "fusion.calibration '{calibration}': {detail}: running lidar-only (no camera–lidar fusion)"
            );
            CameraSide::load(model, engine, fusion, None, None)
        }
        loaded => loaded,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_invalid_calibration_means_lidar_only_not_a_failure() {
        let dir = tempfile::tempdir().unwrap();
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let model = root.join("models/synthetic-det.yaml");
        let side = |model: Option<&Path>, name: &str, path: &Path| {
            camera_side(
                model,
                EngineOptions::default(),
                &FusionConfig::default(),
                name,
                path,
            )
            .unwrap()
            .fusion
            .is_some()
        };
        let missing = dir.path().join("missing.yaml");
        assert!(!side(Some(&model), "missing.yaml", &missing));
        let invalid = dir.path().join("invalid.yaml");
        std::fs::write(&invalid, "lidar_to_camera: [1, 2]\n").unwrap();
        assert!(!side(Some(&model), "invalid.yaml", &invalid));
        let shipped = root.join("calibration/synthetic.yaml");
        assert!(side(Some(&model), "synthetic.yaml", &shipped));
        // Without a camera model the calibration is not even read.
        assert!(!side(None, "synthetic.yaml", &shipped));
        assert!(!side(Some(&model), "", &shipped));
        // A model that does not load is an error, not lidar-only.
        assert!(
            camera_side(
                Some(&dir.path().join("none.yaml")),
                EngineOptions::default(),
                &FusionConfig::default(),
                "",
                &shipped
            )
            .is_err()
        );
    }
}
