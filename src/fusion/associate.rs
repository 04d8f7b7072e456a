//! Lidar obstacles meet camera detections: each obstacle's points are
//! projected into the image; a detection holding at least `min_share` of
//! them and fitting their extent (IoU at least `min_fit`) is a candidate,
//! scored share × IoU. Candidates are taken best first, one obstacle per
//! detection, and the obstacle takes the detection's class and score. A
//! detection no obstacle took becomes a camera-only obstacle placed where
//! its bottom edge meets the ground.
//!
//! Geometry from the lidar, class from the camera. Owns its scratch
//! buffers: after warm-up it never allocates; never blocks.

use super::project::Projector;
use crate::camera::Detection2d;
use crate::frames::Stamp;
use crate::msg::ObstacleSource;
use crate::obstacle::{Box3, Footprint, Obstacle, ObstacleClass, TrackState};
use serde::{Deserialize, Serialize};

/// How obstacles and detections are associated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct AssociationConfig {
    /// Least share of an obstacle's in-image points a detection box must
    /// hold to give the obstacle its class.
    pub min_share: f32,
    /// Least IoU between a detection box and the box around the
    /// obstacle's projected points (a car's box holding a pedestrian
    /// standing beside the car fits it badly).
    pub min_fit: f32,
    /// Least IoU for a box another obstacle took to class this one too
    /// (one object split into two clusters fills a good part of its box;
    /// a pedestrian inside a car's box does not).
    pub min_shared_fit: f32,
    /// Least number of an obstacle's points that land in the image for it
    /// to be associated at all.
    pub min_points: u32,
    /// A detection whose ground-plane range disagrees with the obstacle's
    /// by more than this fraction counts at half its share (a near box in
    /// front of a far cluster).
    pub range_disagreement: f32,
    /// Camera-only obstacles further than this are not reported (m).
    pub max_camera_only_range: f32,
    /// Report detections no lidar obstacle supports as camera-only obstacles.
    pub camera_only: bool,
}

impl Default for AssociationConfig {
    fn default() -> Self {
        AssociationConfig {
            min_share: 0.4,
            min_fit: 0.1,
            min_shared_fit: 0.3,
            min_points: 3,
            range_disagreement: 0.5,
            max_camera_only_range: 60.0,
            camera_only: true,
        }
    }
}

/// Typical sizes (length, width, height) for camera-only obstacles, which
/// have no points to measure.
fn class_size(class: ObstacleClass) -> [f64; 3] {
    match class {
        ObstacleClass::Car => [4.5, 1.8, 1.5],
        ObstacleClass::Truck => [8.0, 2.5, 3.2],
        ObstacleClass::Pedestrian => [0.6, 0.6, 1.75],
        ObstacleClass::Cyclist => [1.8, 0.6, 1.7],
        ObstacleClass::Unknown => [1.0, 1.0, 1.0],
    }
}

/// A detector class name as an obstacle class (COCO names and the
/// synthetic detector's own).
pub fn obstacle_class(name: &str) -> ObstacleClass {
    match name {
        "car" => ObstacleClass::Car,
        "truck" | "bus" => ObstacleClass::Truck,
        "person" | "pedestrian" => ObstacleClass::Pedestrian,
        "bicycle" | "motorcycle" | "cyclist" => ObstacleClass::Cyclist,
        _ => ObstacleClass::Unknown,
    }
}

/// What one [`Associator::associate`] call did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AssociationStats {
    pub fused: usize,
    pub lidar_only: usize,
    pub camera_only: usize,
}

pub struct Associator {
    config: AssociationConfig,
    projector: Projector,
    /// Obstacle class per detector class index.
    classes: Vec<ObstacleClass>,
    /// Per detection: whether an obstacle took it, and its ground-plane
    /// range (NaN: above the horizon).
    taken: Vec<bool>,
    ranges: Vec<f32>,
    ground_points: Vec<Option<[f32; 3]>>,
    /// The current obstacle's in-image points.
    pixels: Vec<[f32; 2]>,
    /// Possible (obstacle, detection) pairs of the current call.
    candidates: Vec<Candidate>,
    /// Per obstacle: the detection that classes it.
    assigned: Vec<Option<usize>>,
}

/// An obstacle–detection pair that could be associated, and how well.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    score: f32,
    fit: f32,
    obstacle: u32,
    detection: u32,
}

/// Intersection over union of two intervals `[start, end]`. Fit is
/// judged across the image only: a scan's rings sample an obstacle
/// vertically too sparsely (a far car can be one ring, a line of points).
fn overlap_ratio(a: [f32; 2], b: [f32; 2]) -> f32 {
    let inter = (a[1].min(b[1]) - a[0].max(b[0])).max(0.0);
    let union = (a[1] - a[0]).max(0.0) + (b[1] - b[0]).max(0.0) - inter;
    if union > 0.0 { inter / union } else { 0.0 }
}

impl Associator {
    /// `class_names`: the detector's classes, by index.
    pub fn new(config: AssociationConfig, projector: Projector, class_names: &[String]) -> Self {
        Associator {
            config,
            projector,
            classes: class_names.iter().map(|n| obstacle_class(n)).collect(),
            taken: Vec::new(),
            ranges: Vec::new(),
            ground_points: Vec::new(),
            pixels: Vec::new(),
            candidates: Vec::new(),
            assigned: Vec::new(),
        }
    }

    pub fn projector(&self) -> &Projector {
        &self.projector
    }

    /// The obstacle class of a detection.
    pub fn class_of(&self, d: &Detection2d) -> ObstacleClass {
        self.classes
            .get(d.class as usize)
            .copied()
            .unwrap_or(ObstacleClass::Unknown)
    }

    /// Fuses `obstacles` (lidar, scan frame; `points(k)` gives obstacle
    /// `k`'s points) with `detections` of the camera frame stamped
    /// `camera_stamp`. Matched obstacles take the detection's class (source
    /// fused) and a score from both sensors' evidence, 1 - (1 - lidar)(1 -
    /// camera): two independent sensors agreeing. The rest become `unknown`
    /// (source lidar) at half their lidar score: no road user the detector
    /// recognises;
    /// unsupported detections are appended as camera-only obstacles on
    /// the ground plane `z = ground_z` (scan frame).
    ///
    /// Each detection classes at most one obstacle: candidate pairs are
    /// taken best first, so a pedestrian standing in front of a car keeps
    /// its own box and the car keeps the car's.
    pub fn associate<'p>(
        &mut self,
        obstacles: &mut Vec<Obstacle>,
        points: impl Fn(usize) -> &'p [[f32; 3]],
        detections: &[Detection2d],
        camera_stamp: Stamp,
        ground_z: f32,
    ) -> AssociationStats {
        self.match_obstacles(obstacles, points, detections, ground_z);
        let mut stats = AssociationStats::default();
        for (obstacle, assigned) in obstacles.iter_mut().zip(&self.assigned) {
            match *assigned {
                Some(i) => {
                    let d = &detections[i];
                    obstacle.class = self.class_of(d);
                    obstacle.score = 1.0 - (1.0 - obstacle.score) * (1.0 - d.score);
                    obstacle.source = ObstacleSource::Fused;
                    obstacle.camera_stamp = camera_stamp;
                    stats.fused += 1;
                }
                None => {
                    obstacle.class = ObstacleClass::Unknown;
                    obstacle.score *= 0.5;
                    obstacle.source = ObstacleSource::Lidar;
                    stats.lidar_only += 1;
                }
            }
        }
        if self.config.camera_only {
            stats.camera_only = self.camera_only(obstacles, detections, camera_stamp, ground_z);
        }
        stats
    }

    /// Decides which detection classes each obstacle ([`Self::assigned`]),
    /// changing nothing: the first half of [`Self::associate`], for a
    /// caller that weighs several cameras' evidence.
    pub fn match_obstacles<'p>(
        &mut self,
        obstacles: &[Obstacle],
        points: impl Fn(usize) -> &'p [[f32; 3]],
        detections: &[Detection2d],
        ground_z: f32,
    ) {
        self.prepare(detections, ground_z);
        self.candidates.clear();
        for (k, obstacle) in obstacles.iter().enumerate() {
            self.add_candidates(k, obstacle, points(k), detections);
        }
        self.assign(obstacles.len());
    }

    /// Per obstacle of the last [`Self::match_obstacles`]: the index of the
    /// detection that classes it.
    pub fn assigned(&self) -> &[Option<usize>] {
        &self.assigned
    }

    /// Whether detections no obstacle took become camera-only obstacles.
    pub fn reports_camera_only(&self) -> bool {
        self.config.camera_only
    }

    /// Takes the candidates best first, one obstacle per detection; then
    /// lets an obstacle still without one share a taken box it fills well
    /// (one object the clustering split in two).
    fn assign(&mut self, obstacles: usize) {
        self.candidates.sort_unstable_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then(a.obstacle.cmp(&b.obstacle))
        });
        self.assigned.clear();
        self.assigned.resize(obstacles, None);
        for c in &self.candidates {
            let (k, i) = (c.obstacle as usize, c.detection as usize);
            if self.assigned[k].is_none() && !self.taken[i] {
                self.assigned[k] = Some(i);
                self.taken[i] = true;
            }
        }
        for c in &self.candidates {
            let k = c.obstacle as usize;
            if self.assigned[k].is_none() && c.fit >= self.config.min_shared_fit {
                self.assigned[k] = Some(c.detection as usize);
            }
        }
    }

    fn prepare(&mut self, detections: &[Detection2d], ground_z: f32) {
        self.taken.clear();
        self.taken.resize(detections.len(), false);
        self.ground_points.clear();
        self.ranges.clear();
        for d in detections {
            let bottom = [(d.bbox[0] + d.bbox[2]) / 2.0, d.bbox[3]];
            let ground = self.projector.ground_point(bottom, ground_z);
            self.ground_points.push(ground);
            self.ranges
                .push(ground.map_or(f32::NAN, |[x, y, _]| (x * x + y * y).sqrt()));
        }
    }

    /// Records every detection that could class obstacle `k`: one holding
    /// at least `min_share` of its in-image points and overlapping their
    /// horizontal extent by at least `min_fit` (IoU); a box whose ground
    /// range disagrees counts at half weight in both. Its score is share ×
    /// fit, so a box that fits the points beats a larger one that merely
    /// contains them.
    fn add_candidates(
        &mut self,
        k: usize,
        obstacle: &Obstacle,
        points: &[[f32; 3]],
        detections: &[Detection2d],
    ) {
        self.pixels.clear();
        let mut bounds = [f32::MAX, f32::MAX, f32::MIN, f32::MIN];
        for &p in points {
            if let Some([u, v]) = self.projector.project(p) {
                self.pixels.push([u, v]);
                bounds = [
                    bounds[0].min(u),
                    bounds[1].min(v),
                    bounds[2].max(u),
                    bounds[3].max(v),
                ];
            }
        }
        let in_image = self.pixels.len();
        if in_image < self.config.min_points.max(1) as usize {
            return;
        }
        let [cx, cy, _] = obstacle.bbox.center;
        let range = (cx * cx + cy * cy).sqrt() as f32;
        for (i, d) in detections.iter().enumerate() {
            let b = d.bbox;
            // Only boxes that overlap the points' extent can hold any.
            if b[0] > bounds[2] || b[2] < bounds[0] || b[1] > bounds[3] || b[3] < bounds[1] {
                continue;
            }
            if self.class_of(d) == ObstacleClass::Unknown {
                continue;
            }
            let inside = self
                .pixels
                .iter()
                .filter(|&&[u, v]| u >= b[0] && u <= b[2] && v >= b[1] && v <= b[3])
                .count();
            let mut share = inside as f32 / in_image as f32;
            let detected_range = self.ranges[i];
            let mut fit = overlap_ratio([bounds[0], bounds[2]], [b[0], b[2]]);
            if detected_range.is_finite()
                && (detected_range - range).abs() > self.config.range_disagreement * range
            {
                share *= 0.5;
                fit *= 0.5;
            }
            if share >= self.config.min_share && fit >= self.config.min_fit {
                self.candidates.push(Candidate {
                    score: share * fit,
                    fit,
                    obstacle: k as u32,
                    detection: i as u32,
                });
            }
        }
    }

    /// Appends a camera-only obstacle for each detection no obstacle took
    /// in the last match.
    pub fn camera_only(
        &self,
        obstacles: &mut Vec<Obstacle>,
        detections: &[Detection2d],
        camera_stamp: Stamp,
        ground_z: f32,
    ) -> usize {
        let mut added = 0;
        for (i, d) in detections.iter().enumerate() {
            let class = self.class_of(d);
            if self.taken[i] || class == ObstacleClass::Unknown {
                continue;
            }
            let (Some([x, y, _]), range) = (self.ground_points[i], self.ranges[i]) else {
                continue;
            };
            if range > self.config.max_camera_only_range {
                continue;
            }
            let size = class_size(class);
            // The bottom edge is the near face: the centre is half a
            // length further along the viewing direction.
            let (dx, dy) = (x / range, y / range);
            let half = (size[0].min(size[1]) / 2.0) as f32;
            obstacles.push(Obstacle {
                id: obstacles.len() as u32 + 1,
                class,
                score: d.score,
                source: ObstacleSource::Camera,
                bbox: Box3 {
                    center: [
                        (x + dx * half) as f64,
                        (y + dy * half) as f64,
                        ground_z as f64 + size[2] / 2.0,
                    ],
                    size,
                    yaw: dy.atan2(dx) as f64,
                },
                velocity: [0.0; 3],
                point_count: 0,
                nearest_distance: range,
                lidar_stamp: 0,
                camera_stamp,
                latency: f32::NAN,
                footprint: Footprint::default(),
                track: TrackState::NONE,
            });
            added += 1;
        }
        added
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fusion::project::tests::rig;

    const GROUND: f32 = -1.9;

    /// Points filling a box standing on the ground at `(x, y)`.
    fn block(x: f32, y: f32, size: [f32; 3]) -> Vec<[f32; 3]> {
        let mut points = Vec::new();
        for i in 0..6 {
            for j in 0..6 {
                for k in 0..6 {
                    points.push([
                        x + size[0] * (i as f32 / 5.0 - 0.5),
                        y + size[1] * (j as f32 / 5.0 - 0.5),
                        GROUND + size[2] * k as f32 / 5.0,
                    ]);
                }
            }
        }
        points
    }

    fn obstacle(points: &[[f32; 3]]) -> Obstacle {
        let n = points.len() as f32;
        let c = points.iter().fold([0.0f32; 3], |a, p| {
            [a[0] + p[0] / n, a[1] + p[1] / n, a[2] + p[2] / n]
        });
        Obstacle {
            id: 1,
            class: ObstacleClass::Car,
            score: 0.6,
            source: ObstacleSource::Lidar,
            bbox: Box3 {
                center: c.map(f64::from),
                size: [1.0; 3],
                yaw: 0.0,
            },
            velocity: [0.0; 3],
            point_count: points.len() as u32,
            nearest_distance: 0.0,
            lidar_stamp: 5,
            camera_stamp: 0,
            latency: f32::NAN,
            footprint: Footprint::default(),
            track: TrackState::NONE,
        }
    }

    /// The detection box around `points` as the camera sees them.
    fn detection(projector: &Projector, points: &[[f32; 3]], class: u16) -> Detection2d {
        let mut bbox = [f32::MAX, f32::MAX, f32::MIN, f32::MIN];
        for p in points {
            let [u, v] = projector.project(*p).unwrap();
            bbox = [
                bbox[0].min(u),
                bbox[1].min(v),
                bbox[2].max(u),
                bbox[3].max(v),
            ];
        }
        Detection2d {
            class,
            score: 0.8,
            bbox,
        }
    }

    fn classes() -> Vec<String> {
        ["person", "car", "traffic light"]
            .map(String::from)
            .to_vec()
    }

    #[test]
    fn obstacles_take_the_class_of_the_box_holding_their_points() {
        let projector = Projector::new(&rig([0.0; 5]));
        let car = block(15.0, 2.0, [4.0, 1.8, 1.5]);
        let person = block(10.0, -2.0, [0.5, 0.5, 1.7]);
        let unseen = block(12.0, 30.0, [1.0, 1.0, 1.0]);
        let walker = block(20.0, -4.0, [0.5, 0.5, 1.7]);
        let detections = [
            detection(&projector, &car, 1),
            detection(&projector, &person, 0),
            detection(&projector, &walker, 0),
        ];
        let clouds = [car.clone(), person.clone(), unseen.clone()];
        let mut obstacles: Vec<Obstacle> = clouds.iter().map(|c| obstacle(c)).collect();
        let mut associator = Associator::new(AssociationConfig::default(), projector, &classes());
        let stats = associator.associate(&mut obstacles, |k| &clouds[k], &detections, 77, GROUND);
        assert_eq!(
            stats,
            AssociationStats {
                fused: 2,
                lidar_only: 1,
                camera_only: 1
            }
        );
        assert_eq!(obstacles[0].class, ObstacleClass::Car);
        assert_eq!(obstacles[0].source, ObstacleSource::Fused);
        assert_eq!(obstacles[0].camera_stamp, 77);
        // Lidar 0.6 and camera 0.8 agreeing: 1 - 0.4 x 0.2.
        assert!((obstacles[0].score - 0.92).abs() < 1e-6);
        assert!((obstacles[2].score - 0.3).abs() < 1e-6);
        assert_eq!(obstacles[1].class, ObstacleClass::Pedestrian);
        assert_eq!(obstacles[2].class, ObstacleClass::Unknown);
        assert_eq!(obstacles[2].source, ObstacleSource::Lidar);
        // The walker has no lidar obstacle: camera-only, on the ground
        // where it stands (its near face at x = 19.75).
        let walker = &obstacles[3];
        assert_eq!(walker.source, ObstacleSource::Camera);
        assert_eq!(walker.class, ObstacleClass::Pedestrian);
        assert_eq!(walker.point_count, 0);
        let [x, y, _] = walker.bbox.center;
        assert!(
            (x - 20.0).abs() < 0.5 && (y + 4.0).abs() < 0.3,
            "{:?}",
            walker.bbox
        );
    }

    #[test]
    fn a_near_box_in_front_does_not_take_a_far_cluster() {
        let projector = Projector::new(&rig([0.0; 5]));
        // A person at 8 m standing in front of a car at 30 m on the same
        // bearing: the person's box covers part of the car's points.
        let person = block(8.0, 0.0, [0.6, 0.6, 1.8]);
        let car = block(30.0, 0.0, [4.5, 1.8, 1.5]);
        let mut person_box = detection(&projector, &person, 0);
        person_box.bbox[0] -= 40.0;
        person_box.bbox[2] += 40.0;
        let detections = [person_box, detection(&projector, &car, 1)];
        let clouds = [car.clone()];
        let mut obstacles = vec![obstacle(&car)];
        let mut associator = Associator::new(AssociationConfig::default(), projector, &classes());
        associator.associate(&mut obstacles, |k| &clouds[k], &detections, 1, GROUND);
        assert_eq!(obstacles[0].class, ObstacleClass::Car);
    }

    #[test]
    fn each_box_classes_one_obstacle_and_the_best_fitting_one() {
        let projector = Projector::new(&rig([0.0; 5]));
        // A pedestrian beside a car, both at 15 m: the car's box (widened
        // a little, as detector boxes are) holds the pedestrian's points
        // too, but fits them badly.
        let car = block(15.0, 1.0, [4.5, 1.8, 1.5]);
        let person = block(14.0, -0.4, [0.5, 0.5, 1.7]);
        let mut car_box = detection(&projector, &car, 1);
        car_box.bbox[0] -= 30.0;
        car_box.bbox[1] -= 40.0;
        let person_box = detection(&projector, &person, 0);
        let clouds = [person.clone(), car.clone()];
        let mut associator = Associator::new(AssociationConfig::default(), projector, &classes());

        let mut obstacles: Vec<Obstacle> = clouds.iter().map(|c| obstacle(c)).collect();
        let stats = associator.associate(
            &mut obstacles,
            |k| &clouds[k],
            &[car_box, person_box],
            1,
            GROUND,
        );
        assert_eq!(obstacles[0].class, ObstacleClass::Pedestrian);
        assert_eq!(obstacles[1].class, ObstacleClass::Car);
        assert_eq!(stats.camera_only, 0);

        // The detector missed the pedestrian: the car's box still goes to
        // the car, and the pedestrian is lidar-only, not a car.
        let mut obstacles: Vec<Obstacle> = clouds.iter().map(|c| obstacle(c)).collect();
        let stats = associator.associate(&mut obstacles, |k| &clouds[k], &[car_box], 1, GROUND);
        assert_eq!(obstacles[0].class, ObstacleClass::Unknown);
        assert_eq!(obstacles[0].source, ObstacleSource::Lidar);
        assert_eq!(obstacles[1].class, ObstacleClass::Car);
        assert_eq!(
            stats,
            AssociationStats {
                fused: 1,
                lidar_only: 1,
                camera_only: 0
            }
        );
    }

    #[test]
    fn a_car_split_into_two_clusters_is_a_car_twice() {
        let projector = Projector::new(&rig([0.0; 5]));
        // The car's rear and front halves, seen side on at 12 m.
        let rear = block(12.0, -1.1, [1.8, 2.0, 1.5]);
        let front = block(12.0, 1.1, [1.8, 2.0, 1.5]);
        let whole: Vec<[f32; 3]> = rear.iter().chain(&front).copied().collect();
        let car_box = detection(&projector, &whole, 1);
        let clouds = [rear, front];
        let mut obstacles: Vec<Obstacle> = clouds.iter().map(|c| obstacle(c)).collect();
        let mut associator = Associator::new(AssociationConfig::default(), projector, &classes());
        let stats = associator.associate(&mut obstacles, |k| &clouds[k], &[car_box], 1, GROUND);
        assert_eq!(stats.fused, 2);
        assert!(obstacles.iter().all(|o| o.class == ObstacleClass::Car));
    }

    #[test]
    fn overlap_ratio_of_intervals() {
        assert_eq!(overlap_ratio([0.0, 10.0], [0.0, 10.0]), 1.0);
        assert_eq!(overlap_ratio([0.0, 10.0], [5.0, 15.0]), 5.0 / 15.0);
        assert_eq!(overlap_ratio([0.0, 10.0], [2.0, 4.0]), 0.2);
        assert_eq!(overlap_ratio([0.0, 10.0], [20.0, 30.0]), 0.0);
        assert_eq!(overlap_ratio([1.0, 1.0], [1.0, 1.0]), 0.0);
    }

    #[test]
    fn detector_names_map_to_obstacle_classes() {
        assert_eq!(obstacle_class("bus"), ObstacleClass::Truck);
        assert_eq!(obstacle_class("motorcycle"), ObstacleClass::Cyclist);
        assert_eq!(obstacle_class("pedestrian"), ObstacleClass::Pedestrian);
        assert_eq!(obstacle_class("traffic light"), ObstacleClass::Unknown);
    }
}
