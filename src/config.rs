//! The pipeline's configuration file (YAML): every stage's parameters with
//! documented defaults (`config/lookout.yaml` lists them all), validated at
//! load with errors that name the parameter. Unknown keys are errors, so a
//! typo never silently falls back to a default.

use crate::lidar::LidarConfig;
use crate::sched::SchedulerConfig;
use serde::{Deserialize, Serialize};
use std::path::Path;

pub use crate::validate::ConfigError;

#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {detail}")]
    Parse { path: String, detail: String },
    #[error("{path}: {source}")]
    Invalid {
        path: String,
        #[source]
        source: ConfigError,
    },
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct LookoutConfig {
    pub lidar: LidarConfig,
    pub scheduler: SchedulerConfig,
    /// The camera detector's rung, per frame by deadline slack or fixed.
    pub camera: crate::camera::ladder::CameraConfig,
    /// Injected faults, for tests and demos (none by default).
    pub faults: crate::sched::faults::FaultConfig,
    /// Camera–lidar fusion (with a calibration and a camera model).
    pub fusion: crate::fusion::FusionConfig,
    /// What `lookout eval` counts and matches (range, points, bearings).
    pub eval: crate::eval::EvalConfig,
    /// Multi-object tracking in the output chain (stable ids, velocities).
    pub tracking: crate::track::TrackingConfig,
    /// What the published obstacles' header stamp says (latency
    /// compensation).
    pub output: crate::output::OutputConfig,
}

impl LookoutConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.lidar.validate()?;
        self.scheduler.validate()?;
        self.camera.validate()?;
        self.fusion.validate()?;
        self.tracking.validate()?;
        self.output.validate().map_err(|e| e.within("output"))?;
        if self.output.stamp == crate::output::StampMode::Publish && !self.tracking.enabled {
            return Err(ConfigError::new(
                "output.stamp",
                "publish predicts tracks to the moment of publication: it needs tracking.enabled",
            ));
        }
        self.eval.validate()
    }

    pub fn from_yaml(text: &str, origin: &str) -> Result<Self, ConfigFileError> {
        let config: LookoutConfig =
            serde_yaml::from_str(text).map_err(|e| ConfigFileError::Parse {
                path: origin.to_owned(),
                detail: e.to_string(),
            })?;
        config
            .validate()
            .map_err(|source| ConfigFileError::Invalid {
                path: origin.to_owned(),
                source,
            })?;
        Ok(config)
    }

    pub fn load(path: &Path) -> Result<Self, ConfigFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigFileError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_yaml(&text, &path.display().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_file_holds_exactly_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/lookout.yaml");
        assert_eq!(
            LookoutConfig::load(&path).unwrap(),
            LookoutConfig::default()
        );
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let err = LookoutConfig::from_yaml("lidar:\n  max_rnage: 50\n", "t").unwrap_err();
        assert!(err.to_string().contains("max_rnage"), "{err}");
        let err = LookoutConfig::from_yaml("lidar:\n  cluster_cell: -1\n", "t").unwrap_err();
        assert!(err.to_string().contains("lidar.cluster_cell"), "{err}");
        let err = LookoutConfig::from_yaml("lidar:\n  min_range: 90\n", "t").unwrap_err();
        assert!(err.to_string().contains("lidar.min_range"), "{err}");
        let partial = LookoutConfig::from_yaml("lidar:\n  max_range: 50\n", "t").unwrap();
        assert_eq!(partial.lidar.max_range, 50.0);
        assert_eq!(
            partial.lidar.ground_cell,
            LidarConfig::default().ground_cell
        );
    }
}
