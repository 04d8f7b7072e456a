//! Lidar stage parameters: every knob, its unit, its default, its checks.

use serde::{Deserialize, Serialize};

pub use crate::validate::ConfigError;
use crate::validate::Section;

/// Parameters of the lidar obstacle stage. Lengths in metres, in the scan's
/// own frame (x forward, y left, z up, origin at the sensor).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct LidarConfig {
    /// Points closer than this (horizontal range) are dropped: the vehicle itself.
    pub min_range: f32,
    /// Points farther than this (horizontal range) are dropped.
    pub max_range: f32,
    /// Region of interest: x and y limits (metres, sensor frame).
    pub roi_x: [f32; 2],
    pub roi_y: [f32; 2],
    /// Vertical crop relative to the sensor.
    pub roi_z: [f32; 2],
    /// Height of the sensor above the ground under the vehicle.
    pub sensor_height: f32,
    /// Ground grid cell size (square cells).
    pub ground_cell: f32,
    /// Largest ground rise accepted between neighbouring ground cells when
    /// the cell looks flat (curbs are about 0.15 m).
    pub ground_max_step: f32,
    /// Past cells where no ground was seen, a flat cell may rise by this
    /// much more per metre of unseen ground (a road climbing behind a
    /// shadow or a crest); 0 turns it off.
    pub ground_max_grade: f32,
    /// Largest ground rise accepted from a cell whose points spread over more
    /// than `ground_flat_spread` vertically (a cell that also holds an object).
    pub ground_max_step_cluttered: f32,
    /// A cell whose points span less than this vertically looks flat.
    pub ground_flat_spread: f32,
    /// Points less than this above the local ground are ground.
    pub ground_clearance: f32,
    /// Points higher than this above the local ground are dropped before
    /// clustering: overhanging branches, signs and bridges, which would
    /// otherwise join whatever stands below them in the bird's-eye view.
    pub max_point_height: f32,
    /// Clustering grid cell size.
    pub cluster_cell: f32,
    /// Clustering tolerance at the sensor; grows by `cluster_tolerance_per_metre`
    /// with range (sparser points far away) up to `cluster_max_tolerance`.
    pub cluster_tolerance: f32,
    pub cluster_tolerance_per_metre: f32,
    pub cluster_max_tolerance: f32,
    /// A cluster at least `split_min_length` long (its box's heading side)
    /// is cut in two at the widest empty stretch across it, along or
    /// across its heading, when that is at least `split_gap` wide and
    /// leaves `split_min_points` (of the points fitted) on each side: cars
    /// parked nose to tail, a person standing beside a car, people in a
    /// row. Each side may be cut again (three times at most). 0: off.
    pub split_gap: f32,
    pub split_min_length: f32,
    pub split_min_points: u32,
    /// Clusters with fewer points are dropped (1 keeps single-point clusters).
    pub min_cluster_points: u32,
    /// Clusters taller than this above the ground, or longer than
    /// `max_obstacle_length`, are structure (buildings, walls), not obstacles.
    pub max_obstacle_height: f32,
    pub max_obstacle_length: f32,
    /// Most points used to fit one box (an evenly strided subset beyond this).
    pub max_fit_points: u32,
    /// A cluster whose lowest point is higher than this above the ground
    /// floats: it joins the cluster in front of it (same bearing) when their
    /// bird's-eye gap is at most `float_merge_gap`.
    pub float_height: f32,
    pub float_merge_gap: f32,
    /// ... and when its lowest point is at most this far below the top of
    /// that cluster (a cabin sits on its hood; a cyclist behind a car does not).
    pub float_over_host: f32,
    /// A cluster within the bearings of a nearer one (its shadow) joins it
    /// when their gap is at most this times its range: a flank seen at a
    /// grazing angle breaks into pieces along the line of sight.
    pub shadow_merge_per_metre: f32,
    /// A floating cluster or a slice joins another only when the two
    /// together fit in a box no wider across (bird's-eye diagonal) than
    /// this: pieces of one vehicle, not a parked car and the wall behind it.
    pub merge_max_extent: f32,
    /// How far apart (degrees) two bearing intervals may be and still count
    /// as one line of sight: about twice the azimuth resolution.
    pub shadow_bearing_margin_deg: f32,
    /// Drop `unknown` obstacles whose centre lies inside a car's or a
    /// truck's box: fragments of that vehicle the clustering left apart.
    pub absorb_fragments: bool,
    /// Lidar-only class guesses and the size priors that complete boxes.
    pub classes: ClassModel,
}

/// How clusters are classed from their footprint (observed length >= width)
/// and height above the ground, and the footprint (length, width) each class
/// is completed to when its far sides are hidden. The camera refines classes
/// when fusion runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ClassModel {
    pub car_size: [f32; 2],
    pub truck_size: [f32; 2],
    pub cyclist_size: [f32; 2],
    pub pedestrian_size: [f32; 2],
    /// Half a car cabin's length: a vehicle seen only above its hidden lower
    /// body shows its cabin, whose near face is this far from the centre.
    pub cabin_half_length: f32,
    /// Taller than this (and at least `cyclist_min_length` long): truck,
    /// when at most `truck_max_height` tall with a face at least
    /// `truck_min_face` long and a solid outline; otherwise unknown (trees,
    /// poles, building parts).
    pub truck_min_height: f32,
    /// Taller than this is no truck (unknown: a tree, a pole, a building part).
    pub truck_max_height: f32,
    /// A truck's observed face is at least this long.
    pub truck_min_face: f32,
    /// Vehicles (car, truck) need at least this share of their points on
    /// the outline of their observed box (within `outline_margin`): the
    /// faces of a body, not points scattered through vegetation.
    pub vehicle_min_outline: f32,
    /// How near a point must lie to its box's outline to count as on it.
    pub outline_margin: f32,
    /// Cars are at least this tall above the ground (lower: barriers,
    /// walls, kerbs, hedges; unknown).
    pub car_min_height: f32,
    /// Cars are at most this tall above the ground (taller, and not a
    /// truck: a tree, a hedge, a building part; unknown).
    pub car_max_top: f32,
    /// Cars are at most this long as observed (longer and lower than a
    /// truck: a hedge, a fence, a row of barriers; unknown).
    pub car_max_length: f32,
    /// Clusters with fewer points are unknown whatever their shape.
    pub min_points: u32,
    /// Points at which the support part of the existence score saturates.
    pub full_support_points: u32,
    /// Highest existence score of an `unknown` obstacle.
    pub unknown_score: f32,
    /// Lower than this: unknown.
    pub min_height: f32,
    /// At least this long: car; or at least `car_min_face` long and either
    /// lower than `car_max_height` or at least `car_min_width` wide.
    pub car_min_length: f32,
    pub car_min_face: f32,
    pub car_max_height: f32,
    pub car_min_width: f32,
    /// At least this long and `cyclist_min_height` tall: cyclist.
    pub cyclist_min_length: f32,
    pub cyclist_min_height: f32,
    /// A cyclist-sized cluster whose upper half spans more than this share
    /// of its length (and at least `car_min_face`, with a solid outline) is
    /// a vehicle's end face; a rider spans only part of the bicycle.
    pub cyclist_max_upper_share: f32,
    /// Shorter than `cyclist_min_length` and this tall: pedestrian.
    pub pedestrian_height: [f32; 2],
    /// A pedestrian-sized cluster of at least `pedestrian_depth_points`
    /// points whose observed box is thinner than this is a pole, a post or
    /// a panel (unknown): a body seen densely shows its depth.
    pub pedestrian_min_depth: f32,
    /// Points from which `pedestrian_min_depth` applies (sparser clusters
    /// cannot show depth).
    pub pedestrian_depth_points: u32,
}

impl Default for ClassModel {
    fn default() -> Self {
        ClassModel {
            car_size: [4.5, 1.85],
            truck_size: [9.5, 2.5],
            cyclist_size: [1.75, 0.5],
            pedestrian_size: [0.4, 0.5],
            cabin_half_length: 1.2,
            truck_min_height: 2.6,
            truck_max_height: 4.5,
            truck_min_face: 1.1,
            vehicle_min_outline: 0.0,
            outline_margin: 0.2,
            car_min_height: 0.5,
            car_max_top: 100.0,
            car_max_length: 100.0,
            min_points: 1,
            full_support_points: 60,
            unknown_score: 0.3,
            min_height: 0.5,
            car_min_length: 2.4,
            car_min_face: 1.3,
            car_max_height: 1.62,
            car_min_width: 1.0,
            cyclist_min_length: 1.1,
            cyclist_min_height: 1.2,
            cyclist_max_upper_share: 1.0,
            pedestrian_height: [1.0, 2.2],
            pedestrian_min_depth: 0.0,
            pedestrian_depth_points: 30,
        }
    }
}

impl ClassModel {
    fn validate(&self) -> Result<(), ConfigError> {
        let sizes = [
            ("classes.car_size", self.car_size),
            ("classes.truck_size", self.truck_size),
            ("classes.cyclist_size", self.cyclist_size),
            ("classes.pedestrian_size", self.pedestrian_size),
        ];
        for (field, [length, width]) in sizes {
            if !(length.is_finite() && width.is_finite() && length > 0.0 && width > 0.0) {
                return Err(err(field, format!("[{length}, {width}] must be positive")));
            }
        }
        let lengths = [
            ("classes.cabin_half_length", self.cabin_half_length),
            ("classes.truck_min_height", self.truck_min_height),
            ("classes.truck_max_height", self.truck_max_height),
            ("classes.truck_min_face", self.truck_min_face),
            ("classes.vehicle_min_outline", self.vehicle_min_outline),
            ("classes.outline_margin", self.outline_margin),
            ("classes.car_min_height", self.car_min_height),
            ("classes.car_max_top", self.car_max_top),
            ("classes.car_max_length", self.car_max_length),
            ("classes.unknown_score", self.unknown_score),
            ("classes.min_height", self.min_height),
            ("classes.car_min_length", self.car_min_length),
            ("classes.car_min_face", self.car_min_face),
            ("classes.car_max_height", self.car_max_height),
            ("classes.car_min_width", self.car_min_width),
            ("classes.cyclist_min_length", self.cyclist_min_length),
            ("classes.cyclist_min_height", self.cyclist_min_height),
            (
                "classes.cyclist_max_upper_share",
                self.cyclist_max_upper_share,
            ),
            ("classes.pedestrian_min_depth", self.pedestrian_min_depth),
        ];
        for (field, value) in lengths {
            LIDAR.non_negative(field, value as f64)?;
        }
        if !(self.unknown_score >= 0.01 && self.unknown_score <= 1.0) {
            return Err(err(
                "classes.unknown_score",
                format!("must be in [0.01, 1], got {}", self.unknown_score),
            ));
        }
        let [lo, hi] = self.pedestrian_height;
        LIDAR.interval("classes.pedestrian_height", [lo as f64, hi as f64], true)?;
        Ok(())
    }
}

impl Default for LidarConfig {
    fn default() -> Self {
        LidarConfig {
            min_range: 2.5,
            max_range: 80.0,
            roi_x: [-80.0, 80.0],
            roi_y: [-80.0, 80.0],
            roi_z: [-4.0, 12.0],
            sensor_height: 1.9,
            ground_cell: 1.0,
            ground_max_step: 0.25,
            ground_max_grade: 0.0,
            ground_max_step_cluttered: 0.08,
            ground_flat_spread: 0.3,
            ground_clearance: 0.2,
            max_point_height: 100.0,
            cluster_cell: 0.2,
            cluster_tolerance: 0.45,
            cluster_tolerance_per_metre: 0.012,
            cluster_max_tolerance: 1.0,
            split_gap: 0.0,
            split_min_length: 1.2,
            split_min_points: 8,
            min_cluster_points: 3,
            max_obstacle_height: 4.5,
            max_obstacle_length: 16.0,
            max_fit_points: 256,
            float_height: 0.6,
            float_merge_gap: 2.0,
            float_over_host: 0.45,
            shadow_merge_per_metre: 0.07,
            merge_max_extent: 1000.0,
            shadow_bearing_margin_deg: 0.4,
            absorb_fragments: false,
            classes: ClassModel::default(),
        }
    }
}

impl LidarConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive = [
            ("max_range", self.max_range),
            ("sensor_height", self.sensor_height),
            ("ground_cell", self.ground_cell),
            ("ground_flat_spread", self.ground_flat_spread),
            ("max_point_height", self.max_point_height),
            ("cluster_cell", self.cluster_cell),
            ("cluster_tolerance", self.cluster_tolerance),
            ("cluster_max_tolerance", self.cluster_max_tolerance),
            ("max_obstacle_height", self.max_obstacle_height),
            ("max_obstacle_length", self.max_obstacle_length),
            ("merge_max_extent", self.merge_max_extent),
        ];
        for (field, value) in positive {
            LIDAR.positive(field, value as f64)?;
        }
        let non_negative = [
            ("min_range", self.min_range),
            ("ground_max_step", self.ground_max_step),
            ("ground_max_step_cluttered", self.ground_max_step_cluttered),
            ("ground_clearance", self.ground_clearance),
            ("ground_max_grade", self.ground_max_grade),
            (
                "cluster_tolerance_per_metre",
                self.cluster_tolerance_per_metre,
            ),
            ("split_gap", self.split_gap),
            ("split_min_length", self.split_min_length),
        ];
        for (field, value) in non_negative {
            LIDAR.non_negative(field, value as f64)?;
        }
        if self.min_range >= self.max_range {
            return Err(err(
                "min_range",
                format!(
                    "{} is not below max_range {}",
                    self.min_range, self.max_range
                ),
            ));
        }
        for (field, [lo, hi]) in [
            ("roi_x", self.roi_x),
            ("roi_y", self.roi_y),
            ("roi_z", self.roi_z),
        ] {
            LIDAR.interval(field, [lo as f64, hi as f64], false)?;
        }
        if self.cluster_max_tolerance < self.cluster_tolerance {
            return Err(err(
                "cluster_max_tolerance",
                "is below cluster_tolerance".into(),
            ));
        }
        // Grids are sized from the region of interest; keep them sane.
        let cells = |cell: f32| {
            let w = (self.roi_x[1] - self.roi_x[0]) / cell;
            let h = (self.roi_y[1] - self.roi_y[0]) / cell;
            w as f64 * h as f64
        };
        if cells(self.cluster_cell) > 16e6 || cells(self.ground_cell) > 16e6 {
            return Err(err(
                "cluster_cell",
                "region of interest / cell size gives more than 16M grid cells".into(),
            ));
        }
        if self.min_cluster_points == 0 {
            return Err(err("min_cluster_points", "must be at least 1".into()));
        }
        self.classes.validate()?;
        if self.max_fit_points < 8 {
            return Err(err("max_fit_points", "must be at least 8".into()));
        }
        Ok(())
    }

    /// Clustering tolerance at horizontal range `r`.
    pub fn tolerance_at(&self, r: f32) -> f32 {
        (self.cluster_tolerance + self.cluster_tolerance_per_metre * r)
            .min(self.cluster_max_tolerance)
    }
}

const LIDAR: Section = Section("lidar");

fn err(field: &str, problem: String) -> ConfigError {
    LIDAR.err(field, problem)
}
