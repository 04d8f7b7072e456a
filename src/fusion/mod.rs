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
use crate::msg::ObstacleSource;
use crate::obstacle::{Obstacle, ObstacleClass};
use crate::stage::Sensor;
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
    /// The first camera's pairing.
    pub pairing: Pairing,
    /// Cameras whose frame was paired with the scan.
    pub cameras_paired: u32,
    pub stats: AssociationStats,
}

/// One camera fusion sees through: the rig's sensor, its calibration for
/// points in the scan's frame, and its results store (one per camera,
/// shared by every lane).
pub struct FusionCamera<'a> {
    pub sensor: Sensor,
    pub calibration: &'a Calibration,
    pub results: Arc<CameraResults>,
}

struct Camera {
    sensor: Sensor,
    associator: Associator,
    results: Arc<CameraResults>,
    image_size: (u32, u32),
}

/// What the cameras say about one lidar obstacle.
#[derive(Debug, Clone, Copy)]
struct Evidence {
    /// Cameras that classed it (as `class`).
    cameras: u32,
    class: ObstacleClass,
    /// The best detection score for `class`.
    best: f32,
    /// Product of (1 - score) over the detections that said `class`.
    miss: f32,
    camera_stamp: Stamp,
}

const NO_EVIDENCE: Evidence = Evidence {
    cameras: 0,
    class: ObstacleClass::Unknown,
    best: 0.0,
    miss: 1.0,
    camera_stamp: 0,
};

impl Evidence {
    /// A camera's detection (`class`, `score`) of the obstacle. Cameras
    /// that agree add up (independent evidence); one that disagrees with
    /// a better score replaces the class.
    fn add(&mut self, class: ObstacleClass, score: f32, camera_stamp: Stamp) {
        if self.cameras > 0 && class == self.class {
            self.miss *= 1.0 - score;
            if score > self.best {
                self.best = score;
                self.camera_stamp = camera_stamp;
            }
        } else if self.cameras == 0 || score > self.best {
            self.class = class;
            self.best = score;
            self.miss = 1.0 - score;
            self.camera_stamp = camera_stamp;
        }
        self.cameras += 1;
    }
}

/// Camera-only obstacles of two cameras closer than this are one object
/// seen across the seam between their views (m).
const SEAM_MERGE_M: f64 = 1.5;

/// One lane's fusion step; all lanes share each camera's [`CameraResults`].
pub struct Fusion {
    config: FusionConfig,
    cameras: Vec<Camera>,
    paired: Vec<Detection2d>,
    evidence: Vec<Evidence>,
}

impl Fusion {
    /// `classes`: the camera detector's class names, by index; `cameras`:
    /// every calibrated camera, in rig order.
    pub fn new(config: FusionConfig, classes: &[String], cameras: Vec<FusionCamera<'_>>) -> Self {
        let max_detections = cameras
            .iter()
            .map(|c| c.results.max_detections())
            .max()
            .unwrap_or(0);
        let cameras = cameras
            .into_iter()
            .map(|c| Camera {
                sensor: c.sensor,
                associator: Associator::new(
                    config.association.clone(),
                    Projector::new(c.calibration),
                    classes,
                ),
                image_size: (
                    c.calibration.camera.image_width,
                    c.calibration.camera.image_height,
                ),
                results: c.results,
            })
            .collect();
        Fusion {
            config,
            cameras,
            paired: Vec::with_capacity(max_detections),
            evidence: Vec::new(),
        }
    }

    fn camera(&self, sensor: Sensor) -> Option<&Camera> {
        self.cameras.iter().find(|c| c.sensor == sensor)
    }

    /// A frame of camera `sensor` stamped `stamp` enters the detector.
    pub fn camera_started(&self, sensor: Sensor, stamp: Stamp) {
        if let Some(camera) = self.camera(sensor) {
            camera
                .results
                .begin(stamp + ms(self.config.camera_offset_ms));
        }
    }

    /// Its detections (`None`: the detector failed on it).
    pub fn camera_finished(
        &self,
        sensor: Sensor,
        stamp: Stamp,
        image_size: (u32, u32),
        detections: Option<&[Detection2d]>,
    ) {
        let Some(camera) = self.camera(sensor) else {
            return;
        };
        let stamp = stamp + ms(self.config.camera_offset_ms);
        match detections {
            Some(d) => camera.results.put(stamp, image_size, d),
            None => camera.results.abandon(stamp),
        }
    }

    /// Fuses a scan's obstacles (`points(k)`: obstacle `k`'s points) with
    /// each camera's frame nearest `scan_stamp`, waiting for one at most
    /// until the scan's `deadline` less the margin. Every camera whose view
    /// holds an obstacle's points weighs in ([`Evidence`]); detections no
    /// obstacle took become camera-only obstacles, one per object where two
    /// cameras see it across their seam. `ground_z`: the ground's height in
    /// the scan frame, for camera-only obstacles.
    #[allow(clippy::too_many_arguments)]
    pub fn fuse<'p>(
        &mut self,
        obstacles: &mut Vec<Obstacle>,
        points: impl Fn(usize) -> &'p [[f32; 3]] + Copy,
        scan_stamp: Stamp,
        deadline: i64,
        clock: &dyn Clock,
        ground_z: f32,
    ) -> FusionOutcome {
        let lidar_obstacles = obstacles.len();
        self.evidence.clear();
        self.evidence.resize(lidar_obstacles, NO_EVIDENCE);
        let mut outcome = FusionOutcome {
            pairing: Pairing::NoFrame,
            cameras_paired: 0,
            stats: AssociationStats::default(),
        };
        for c in 0..self.cameras.len() {
            let pairing = self.pair(c, scan_stamp, deadline, clock);
            if c == 0 {
                outcome.pairing = pairing;
            }
            let Pairing::Paired { stamp, .. } = pairing else {
                continue;
            };
            outcome.cameras_paired += 1;
            let camera = &mut self.cameras[c];
            let associator = &mut camera.associator;
            associator.match_obstacles(
                &obstacles[..lidar_obstacles],
                points,
                &self.paired,
                ground_z,
            );
            for (evidence, assigned) in self.evidence.iter_mut().zip(associator.assigned()) {
                if let Some(i) = *assigned {
                    let d = &self.paired[i];
                    evidence.add(associator.class_of(d), d.score, stamp);
                }
            }
            if associator.reports_camera_only() {
                let before = obstacles.len();
                associator.camera_only(obstacles, &self.paired, stamp, ground_z);
                drop_seen_across_a_seam(obstacles, lidar_obstacles, before);
            }
        }
        for (obstacle, evidence) in obstacles.iter_mut().zip(&self.evidence) {
            if evidence.cameras > 0 {
                obstacle.class = evidence.class;
                obstacle.score = 1.0 - (1.0 - obstacle.score) * evidence.miss;
                obstacle.source = ObstacleSource::Fused;
                obstacle.camera_stamp = evidence.camera_stamp;
                outcome.stats.fused += 1;
            } else {
                obstacle.class = ObstacleClass::Unknown;
                obstacle.score *= 0.5;
                obstacle.source = ObstacleSource::Lidar;
                outcome.stats.lidar_only += 1;
            }
        }
        outcome.stats.camera_only = obstacles.len() - lidar_obstacles;
        outcome
    }

    /// Camera `c`'s frame nearest the scan, its detections in `paired`.
    fn pair(&mut self, c: usize, scan_stamp: Stamp, deadline: i64, clock: &dyn Clock) -> Pairing {
        let camera = &self.cameras[c];
        let pairing = camera.results.nearest(
            scan_stamp,
            ms(self.config.time_tolerance_ms),
            clock,
            deadline - ms(self.config.wait_margin_ms),
            &mut self.paired,
        );
        match pairing {
            Pairing::Paired { image_size, .. } if image_size != camera.image_size => {
                // Not the calibrated camera's image size: the calibration
                // does not apply to these detections.
                self.paired.clear();
                Pairing::ImageSizeMismatch
            }
            other => other,
        }
    }
}

/// Removes the camera-only obstacles added from `added` on that repeat one
/// an earlier camera added (from `first_camera_only` to `added`): the same
/// class within [`SEAM_MERGE_M`]. Ids stay one more than the index.
fn drop_seen_across_a_seam(obstacles: &mut Vec<Obstacle>, first_camera_only: usize, added: usize) {
    let mut k = added;
    while k < obstacles.len() {
        let o = &obstacles[k];
        let seen = obstacles[first_camera_only..added].iter().any(|e| {
            let [dx, dy] = [
                e.bbox.center[0] - o.bbox.center[0],
                e.bbox.center[1] - o.bbox.center[1],
            ];
            e.class == o.class && dx.hypot(dy) < SEAM_MERGE_M
        });
        if seen {
            obstacles.remove(k);
        } else {
            obstacles[k].id = k as u32 + 1;
            k += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::MonotonicClock;
    use crate::obstacle::{Box3, Footprint, TrackState};

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
            track: TrackState::NONE,
        }
    }

    /// Detections from a camera whose images are not the calibrated size
    /// are not projected onto: the scan goes lidar-only and says why.
    #[test]
    fn frames_of_another_size_than_calibrated_are_not_fused() {
        let calibration = crate::fusion::project::tests::rig([0.0; 5]);
        let results = Arc::new(CameraResults::new(100));
        let classes = vec!["car".to_owned()];
        let camera = FusionCamera {
            sensor: Sensor::CAMERA,
            calibration: &calibration,
            results,
        };
        let mut fusion = Fusion::new(FusionConfig::default(), &classes, vec![camera]);
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
            fusion.camera_started(Sensor::CAMERA, 100);
            fusion.camera_finished(Sensor::CAMERA, 100, size, Some(&[points_box]));
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
