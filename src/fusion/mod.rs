//! Camera–lidar fusion: lidar clusters (where) meet camera detections
//! (what) through the calibration.
//!
//! - [`project`]: lidar points to pixels and pixels to the ground.
//! - [`sync`]: camera results shared between lanes, paired with scans by time.
//! - [`associate`]: obstacles take the class of the detection holding their points.
//!
//! [`Fusion`] is the step a lidar lane runs after the lidar stage, and the
//! hand-off a camera lane makes after its detector. Never allocates after
//! warm-up; the only wait is for a camera frame still being detected, and
//! it ends before the scan's deadline.

pub mod associate;
pub mod project;
pub mod sync;

use crate::calibration::Calibration;
use crate::camera::Detection2d;
use crate::clock::Clock;
use crate::frames::Stamp;
use crate::obstacle::Obstacle;
use crate::validate::ConfigError;
use associate::{AssociationConfig, AssociationStats, Associator};
use project::Projector;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use sync::{CameraResults, Pairing};

/// How scans are paired with camera frames and fused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct FusionConfig {
    /// The calibration file (`calibration/*.yaml`); empty: no fusion (lidar
    /// obstacles keep the lidar stage's shape-based class).
    pub calibration: String,
    /// Largest gap between a scan's stamp and its camera frame's, ms.
    pub time_tolerance_ms: f64,
    /// Added to camera stamps before pairing (a camera clock or exposure
    /// offset against the lidar's), ms.
    pub camera_offset_ms: f64,
    /// A scan whose camera frame is still being detected waits for it until
    /// this long before the scan's deadline (the fusion step's share), ms.
    pub wait_margin_ms: f64,
    pub association: AssociationConfig,
}

impl Default for FusionConfig {
    fn default() -> Self {
        FusionConfig {
            calibration: String::new(),
            time_tolerance_ms: 50.0,
            camera_offset_ms: 0.0,
            wait_margin_ms: 5.0,
            association: AssociationConfig::default(),
        }
    }
}

impl FusionConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |section: &str, field: &str, problem: &str| {
            Err(ConfigError::new(format!("{section}.{field}"), problem))
        };
        if !(self.time_tolerance_ms > 0.0 && self.time_tolerance_ms.is_finite()) {
            return invalid(
                "fusion",
                "time_tolerance_ms",
                "must be a positive number of ms",
            );
        }
        if !self.camera_offset_ms.is_finite() {
            return invalid("fusion", "camera_offset_ms", "must be finite");
        }
        if !(self.wait_margin_ms >= 0.0 && self.wait_margin_ms.is_finite()) {
            return invalid("fusion", "wait_margin_ms", "must be >= 0 ms");
        }
        let a = &self.association;
        if !(a.min_share > 0.0 && a.min_share <= 1.0) {
            return invalid("fusion.association", "min_share", "must be in (0, 1]");
        }
        if !(a.range_disagreement > 0.0 && a.range_disagreement.is_finite()) {
            return invalid(
                "fusion.association",
                "range_disagreement",
                "must be positive",
            );
        }
        if !(a.max_camera_only_range > 0.0 && a.max_camera_only_range.is_finite()) {
            return invalid(
                "fusion.association",
                "max_camera_only_range",
                "must be positive",
            );
        }
        Ok(())
    }
}

fn ms(v: f64) -> i64 {
    (v * 1e6).round() as i64
}

/// What the last fused scan found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FusionOutcome {
    pub pairing: Pairing,
    pub stats: AssociationStats,
}

/// One lane's fusion step; all lanes share one [`CameraResults`].
pub struct Fusion {
    config: FusionConfig,
    associator: Associator,
    results: Arc<CameraResults>,
    image_size: (u32, u32),
    paired: Vec<Detection2d>,
}

impl Fusion {
    /// `classes`: the camera detector's class names, by index.
    pub fn new(
        config: FusionConfig,
        calibration: &Calibration,
        classes: &[String],
        results: Arc<CameraResults>,
    ) -> Self {
        Fusion {
            associator: Associator::new(
                config.association.clone(),
                Projector::new(calibration),
                classes,
            ),
            image_size: (
                calibration.camera.image_width,
                calibration.camera.image_height,
            ),
            config,
            paired: Vec::with_capacity(results.max_detections()),
            results,
        }
    }

    /// A camera frame stamped `stamp` enters the detector.
    pub fn camera_started(&self, stamp: Stamp) {
        self.results.begin(stamp + ms(self.config.camera_offset_ms));
    }

    /// Its detections (`None`: the detector failed on it).
    pub fn camera_finished(
        &self,
        stamp: Stamp,
        image_size: (u32, u32),
        detections: Option<&[Detection2d]>,
    ) {
        let stamp = stamp + ms(self.config.camera_offset_ms);
        match detections {
            Some(d) => self.results.put(stamp, image_size, d),
            None => self.results.abandon(stamp),
        }
    }

    /// Fuses a scan's obstacles (`points(k)`: obstacle `k`'s points) with
    /// the camera frame nearest `scan_stamp`, waiting for it at most until
    /// the scan's `deadline` less the margin. `ground_z`: the ground's
    /// height in the scan frame, for camera-only obstacles.
    #[allow(clippy::too_many_arguments)]
    pub fn fuse<'p>(
        &mut self,
        obstacles: &mut Vec<Obstacle>,
        points: impl Fn(usize) -> &'p [[f32; 3]],
        scan_stamp: Stamp,
        deadline: i64,
        clock: &dyn Clock,
        ground_z: f32,
    ) -> FusionOutcome {
        let mut pairing = self.results.nearest(
            scan_stamp,
            ms(self.config.time_tolerance_ms),
            clock,
            deadline - ms(self.config.wait_margin_ms),
            &mut self.paired,
        );
        let camera_stamp = match pairing {
            Pairing::Paired { stamp, image_size } if image_size == self.image_size => stamp,
            Pairing::Paired { .. } => {
                // Not the calibrated camera's image size: the calibration
                // does not apply to these detections.
                self.paired.clear();
                pairing = Pairing::ImageSizeMismatch;
                0
            }
            _ => 0,
        };
        let stats =
            self.associator
                .associate(obstacles, points, &self.paired, camera_stamp, ground_z);
        FusionOutcome { pairing, stats }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::MonotonicClock;
    use crate::msg::ObstacleSource;
    use crate::obstacle::{Box3, Footprint, ObstacleClass};

    fn obstacle() -> Obstacle {
        Obstacle {
            id: 1,
            class: ObstacleClass::Car,
            score: 0.6,
            source: ObstacleSource::Lidar,
            bbox: Box3 {
                center: [10.0, 0.0, -1.0],
                size: [4.0, 1.8, 1.5],
                yaw: 0.0,
            },
            velocity: [0.0; 3],
            point_count: 3,
            nearest_distance: 9.0,
            lidar_stamp: 0,
            camera_stamp: 0,
            latency: f32::NAN,
            footprint: Footprint::default(),
        }
    }

    /// Detections from a camera whose images are not the calibrated size
    /// are not projected onto: the scan goes lidar-only and says why.
    #[test]
    fn frames_of_another_size_than_calibrated_are_not_fused() {
        let calibration = crate::fusion::project::tests::rig([0.0; 5]);
        let results = Arc::new(CameraResults::new(100));
        let classes = vec!["car".to_owned()];
        let mut fusion = Fusion::new(FusionConfig::default(), &calibration, &classes, results);
        let points = [[10.0f32, 0.0, -1.0], [10.0, 0.2, -0.8], [10.0, -0.2, -0.6]];
        let projector = super::project::Projector::new(&calibration);
        let pixels = points.map(|p| projector.project(p).unwrap());
        let around =
            |f: fn(f32, f32) -> f32, k: usize| pixels.iter().map(|p| p[k]).reduce(f).unwrap();
        let points_box = Detection2d {
            class: 0,
            score: 0.9,
            bbox: [
                around(f32::min, 0) - 5.0,
                around(f32::min, 1) - 5.0,
                around(f32::max, 0) + 5.0,
                around(f32::max, 1) + 5.0,
            ],
        };
        let clock = MonotonicClock::new();
        for (size, fused) in [((1280, 720), true), ((640, 480), false)] {
            fusion.camera_started(100);
            fusion.camera_finished(100, size, Some(&[points_box]));
            let mut obstacles = vec![obstacle()];
            let outcome = fusion.fuse(&mut obstacles, |_| &points, 100, i64::MAX, &clock, -1.9);
            if fused {
                assert!(
                    matches!(outcome.pairing, Pairing::Paired { .. }),
                    "{outcome:?}"
                );
                assert_eq!(obstacles[0].source, ObstacleSource::Fused);
            } else {
                assert_eq!(outcome.pairing, Pairing::ImageSizeMismatch);
                assert_eq!(obstacles[0].source, ObstacleSource::Lidar);
                assert_eq!(obstacles[0].class, ObstacleClass::Unknown);
            }
        }
    }
}
