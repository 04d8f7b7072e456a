//! Oriented boxes from cluster footprints: L-shape fitting (the closeness
//! criterion of Zhang et al., 2017) for vehicle-sized clusters, minimum-area
//! rectangles otherwise, then class-size priors to complete boxes whose far
//! sides are hidden (a car seen from behind shows only its rear).

use super::config::ClassModel;
use crate::obstacle::ObstacleClass;

/// A fitted rectangle: unit axes, and the observed interval along each.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Rect {
    /// Heading axis (length direction).
    pub axis: [f32; 2],
    pub length: (f32, f32),
    pub width: (f32, f32),
}

impl Rect {
    pub fn extent(&self) -> (f32, f32) {
        (self.length.1 - self.length.0, self.width.1 - self.width.0)
    }

    pub fn center(&self) -> [f32; 2] {
        let u = (self.length.0 + self.length.1) / 2.0;
        let v = (self.width.0 + self.width.1) / 2.0;
        let [ax, ay] = self.axis;
        [ax * u - ay * v, ay * u + ax * v]
    }

    pub fn yaw(&self) -> f32 {
        let yaw = self.axis[1].atan2(self.axis[0]);
        // Heading is ambiguous by pi from one frame: report it in (-pi/2, pi/2].
        if yaw > std::f32::consts::FRAC_PI_2 {
            yaw - std::f32::consts::PI
        } else if yaw <= -std::f32::consts::FRAC_PI_2 {
            yaw + std::f32::consts::PI
        } else {
            yaw
        }
    }

    /// The same rectangle with length and width axes exchanged.
    fn swapped(&self) -> Rect {
        let [ax, ay] = self.axis;
        // New length axis = old width axis (-ay, ax); new width axis = -(old length axis).
        Rect {
            axis: [-ay, ax],
            length: self.width,
            width: (-self.length.1, -self.length.0),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Criterion {
    Closeness,
    MinArea,
}

fn intervals(points: &[[f32; 2]], c: f32, s: f32) -> ((f32, f32), (f32, f32)) {
    let (mut a0, mut a1, mut b0, mut b1) = (f32::MAX, f32::MIN, f32::MAX, f32::MIN);
    for &[x, y] in points {
        let a = x * c + y * s;
        let b = -x * s + y * c;
        a0 = a0.min(a);
        a1 = a1.max(a);
        b0 = b0.min(b);
        b1 = b1.max(b);
    }
    ((a0, a1), (b0, b1))
}

fn score(points: &[[f32; 2]], theta: f32, criterion: Criterion) -> f32 {
    let (s, c) = theta.sin_cos();
    let ((a0, a1), (b0, b1)) = intervals(points, c, s);
    match criterion {
        Criterion::MinArea => -((a1 - a0) * (b1 - b0)),
        Criterion::Closeness => {
            const D0: f32 = 0.01;
            let mut total = 0.0;
            for &[x, y] in points {
                let a = x * c + y * s;
                let b = -x * s + y * c;
                let da = (a1 - a).min(a - a0);
                let db = (b1 - b).min(b - b0);
                total += 1.0 / da.min(db).max(D0);
            }
            total
        }
    }
}

/// Best orientation in [0, pi/2): a 3 degree sweep, then a 0.5 degree refinement.
pub(super) fn fit(points: &[[f32; 2]], criterion: Criterion) -> Rect {
    let coarse = 3f32.to_radians();
    let fine = 0.5f32.to_radians();
    let mut best = (f32::MIN, 0.0f32);
    for k in 0..30 {
        let theta = k as f32 * coarse;
        let value = score(points, theta, criterion);
        if value > best.0 {
            best = (value, theta);
        }
    }
    let centre = best.1;
    for k in -6..=6 {
        let theta = centre + k as f32 * fine;
        let value = score(points, theta, criterion);
        if value > best.0 {
            best = (value, theta);
        }
    }
    let (s, c) = best.1.sin_cos();
    let (a, b) = intervals(points, c, s);
    let rect = Rect {
        axis: [c, s],
        length: a,
        width: b,
    };
    let (l, w) = rect.extent();
    if w > l { rect.swapped() } else { rect }
}

/// The footprint (length, width) a class is completed to.
pub(super) fn size_prior(class: ObstacleClass, model: &ClassModel) -> Option<(f32, f32)> {
    let [length, width] = match class {
        ObstacleClass::Car => model.car_size,
        ObstacleClass::Truck => model.truck_size,
        ObstacleClass::Cyclist => model.cyclist_size,
        ObstacleClass::Pedestrian => model.pedestrian_size,
        ObstacleClass::Unknown => return None,
    };
    Some((length, width))
}

/// What a cluster shows, for classing and scoring: its observed box, its
/// height above the ground, its points, and the share of its (fitted)
/// points lying on the box's outline.
#[derive(Debug, Clone, Copy)]
pub(super) struct Evidence {
    pub rect: Rect,
    pub height: f32,
    pub points: u32,
    pub outline_share: f32,
    /// Length of the upper half (above mid-height) over the full length
    /// along the box's heading: a rider spans a fraction of the bicycle,
    /// a vehicle's end face spans its whole width at every height.
    pub upper_share: f32,
}

/// A lidar-only class guess from the footprint and height (the camera
/// refines it when fusion runs). Thresholds: [`ClassModel`]. A road user
/// must show enough points, and a vehicle a solid outline (its faces, not
/// points scattered through a canopy); anything else stays `unknown`.
pub(super) fn classify(e: &Evidence, m: &ClassModel) -> ObstacleClass {
    let (l, w) = e.rect.extent();
    let height = e.height;
    if e.points < m.min_points || height < m.min_height {
        return ObstacleClass::Unknown;
    }
    let solid = e.outline_share >= m.vehicle_min_outline;
    if height > m.truck_min_height && l >= m.cyclist_min_length {
        let truck = height <= m.truck_max_height && l >= m.truck_min_face && solid;
        return if truck {
            ObstacleClass::Truck
        } else {
            ObstacleClass::Unknown
        };
    }
    if l >= m.car_min_length
        || (l >= m.car_min_face && (height < m.car_max_height || w >= m.car_min_width))
    {
        // Long, or wide, or as low as a car (people on bikes are taller);
        // longer than any car and lower than a truck: a hedge, a fence.
        let car_sized = height >= m.car_min_height && height <= m.car_max_top;
        if car_sized && l <= m.car_max_length && solid {
            ObstacleClass::Car
        } else {
            ObstacleClass::Unknown
        }
    } else if l >= m.cyclist_min_length && height >= m.cyclist_min_height {
        if e.upper_share > m.cyclist_max_upper_share && l >= m.car_min_face && solid {
            ObstacleClass::Car
        } else {
            ObstacleClass::Cyclist
        }
    } else if l < m.cyclist_min_length
        && (m.pedestrian_height[0]..=m.pedestrian_height[1]).contains(&height)
    {
        // Seen densely, a body shows its depth; a pole, a post or a sign
        // panel shows a thin section.
        let flat = e.points >= m.pedestrian_depth_points && w < m.pedestrian_min_depth;
        if flat {
            ObstacleClass::Unknown
        } else {
            ObstacleClass::Pedestrian
        }
    } else {
        ObstacleClass::Unknown
    }
}

/// The share of `points` within `margin` of the outline of `rect` (its
/// observed box): near 1 for the faces of a vehicle, low for vegetation.
pub(super) fn outline_share(points: &[[f32; 2]], rect: &Rect, margin: f32) -> f32 {
    if points.is_empty() {
        return 0.0;
    }
    let [c, s] = rect.axis;
    let near = points
        .iter()
        .filter(|&&[x, y]| {
            let a = x * c + y * s;
            let b = -x * s + y * c;
            let da = (rect.length.1 - a).min(a - rect.length.0);
            let db = (rect.width.1 - b).min(b - rect.width.0);
            da.min(db) <= margin
        })
        .count();
    near as f32 / points.len() as f32
}

/// The length along `rect`'s heading of the points above `mid_z`, over the
/// rectangle's length (1 when no point is above).
pub(super) fn upper_share(points: &[[f32; 3]], rect: &Rect, mid_z: f32) -> f32 {
    let [c, s] = rect.axis;
    let (mut lo, mut hi) = (f32::MAX, f32::MIN);
    for &[x, y, z] in points {
        if z >= mid_z {
            let a = x * c + y * s;
            lo = lo.min(a);
            hi = hi.max(a);
        }
    }
    let (length, _) = rect.extent();
    if hi < lo || length <= 0.0 {
        1.0
    } else {
        (hi - lo) / length
    }
}

/// How sure the stage is that a cluster is the road user it was classed
/// as, in (0, 1): the product of its support (points against
/// [`ClassModel::full_support_points`]), its outline share and how well its
/// height fits the class; `unknown` obstacles score at most
/// [`ClassModel::unknown_score`]. A threshold on it trades recall for
/// precision.
pub(super) fn existence_score(e: &Evidence, class: ObstacleClass, m: &ClassModel) -> f32 {
    let support = (e.points as f32 / m.full_support_points.max(1) as f32).min(1.0);
    let support = 0.3 + 0.7 * support.sqrt();
    let (low, high) = match class {
        ObstacleClass::Car => (m.car_min_height, m.truck_min_height),
        ObstacleClass::Truck => (m.truck_min_height, m.truck_max_height),
        ObstacleClass::Cyclist => (m.cyclist_min_height, m.pedestrian_height[1]),
        ObstacleClass::Pedestrian => (m.pedestrian_height[0], m.pedestrian_height[1]),
        ObstacleClass::Unknown => {
            return (m.unknown_score * support).clamp(0.01, m.unknown_score);
        }
    };
    let mid = (low + high) / 2.0;
    let half = ((high - low) / 2.0).max(0.1);
    let height_fit = 1.0 - 0.5 * ((e.height - mid).abs() / half).min(1.0);
    let outline = match class {
        ObstacleClass::Car | ObstacleClass::Truck => e.outline_share.clamp(0.0, 1.0),
        _ => 1.0,
    };
    (support * height_fit * (0.5 + 0.5 * outline)).clamp(0.01, 0.99)
}

/// Heading and extent completion with the class prior. Vehicles seen only
/// end-on show a face about as wide as the vehicle and little depth: their
/// heading is across that face. Hidden sides lie away from the sensor.
pub(super) fn complete(
    rect: Rect,
    class: ObstacleClass,
    centre: [f32; 2],
    floating: bool,
    model: &ClassModel,
) -> Rect {
    let Some((prior_length, prior_width)) = size_prior(class, model) else {
        return rect;
    };
    let (l, _) = rect.extent();
    let vehicle = matches!(class, ObstacleClass::Car | ObstacleClass::Truck);
    // An end face is about as long as the vehicle is wide and lies across
    // the line of sight; a short stretch of flank lies along it.
    let sight = centre[1].atan2(centre[0]);
    let across = (rect.axis[1].atan2(rect.axis[0]) - sight).sin().abs() > 0.5;
    let end_on = vehicle && across && l <= prior_width + 0.5;
    let mut rect = if end_on { rect.swapped() } else { rect };
    // A vehicle seen only above its hidden lower body shows its cabin, which
    // sits mid-length: its near face is about half a cabin from the centre.
    rect.length = if vehicle && floating {
        grow_from_cabin(rect.length, prior_length, model.cabin_half_length)
    } else {
        grow_away(rect.length, prior_length)
    };
    rect.width = grow_away(rect.width, prior_width);
    rect
}

fn grow_from_cabin((a, b): (f32, f32), prior: f32, cabin_half_length: f32) -> (f32, f32) {
    let mid = if b - a >= prior {
        return (a, b);
    } else if a >= 0.0 {
        a + cabin_half_length
    } else if b <= 0.0 {
        b - cabin_half_length
    } else {
        (a + b) / 2.0
    };
    (mid - prior / 2.0, mid + prior / 2.0)
}

/// Grows an observed interval (sensor at 0) to `prior`, away from the sensor.
fn grow_away((a, b): (f32, f32), prior: f32) -> (f32, f32) {
    if b - a >= prior {
        (a, b)
    } else if a >= 0.0 {
        (a, a + prior)
    } else if b <= 0.0 {
        (b - prior, b)
    } else {
        let mid = (a + b) / 2.0;
        (mid - prior / 2.0, mid + prior / 2.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l_shape(yaw: f32, length: f32, width: f32, offset: [f32; 2]) -> Vec<[f32; 2]> {
        // The two sides of a box facing the origin, sampled every 5 cm.
        let (s, c) = yaw.sin_cos();
        let mut out = Vec::new();
        let corner = [-length / 2.0, -width / 2.0];
        for k in 0..=(length / 0.05) as usize {
            out.push([corner[0] + k as f32 * 0.05, corner[1]]);
        }
        for k in 0..=(width / 0.05) as usize {
            out.push([corner[0], corner[1] + k as f32 * 0.05]);
        }
        out.iter()
            .map(|&[x, y]| [offset[0] + c * x - s * y, offset[1] + s * x + c * y])
            .collect()
    }

    #[test]
    fn l_shape_recovers_yaw_and_size() {
        let yaw = 0.3f32;
        let points = l_shape(yaw, 4.5, 1.85, [12.0, 6.0]);
        let rect = fit(&points, Criterion::Closeness);
        let (l, w) = rect.extent();
        assert!((l - 4.5).abs() < 0.1 && (w - 1.85).abs() < 0.1, "{l} {w}");
        assert!(
            (rect.yaw() - yaw).abs() < 1f32.to_radians(),
            "{}",
            rect.yaw()
        );
        let [cx, cy] = rect.center();
        assert!((cx - 12.0).abs() < 0.1 && (cy - 6.0).abs() < 0.1);
    }

    #[test]
    fn a_rear_face_is_completed_away_from_the_sensor() {
        // A car 20 m ahead, seen end-on: a 1.85 m face, 0.1 m deep.
        let points: Vec<[f32; 2]> = (0..38)
            .flat_map(|k| {
                let y = -0.925 + k as f32 * 0.05;
                [[17.75, y], [17.85, y]]
            })
            .collect();
        let rect = fit(&points, Criterion::Closeness);
        let model = ClassModel::default();
        let evidence = Evidence {
            rect,
            height: 1.45,
            points: 76,
            outline_share: outline_share(&points, &rect, 0.2),
            upper_share: 1.0,
        };
        let class = classify(&evidence, &model);
        assert_eq!(class, ObstacleClass::Car);
        let done = complete(rect, class, [17.8, 0.0], false, &model);
        let [cx, cy] = done.center();
        assert!((cx - 20.0).abs() < 0.15 && cy.abs() < 0.1, "({cx}, {cy})");
        assert!(done.yaw().abs() < 0.05, "{}", done.yaw());
    }

    #[test]
    fn faces_are_solid_canopies_are_not_and_scores_follow_the_evidence() {
        let model = ClassModel {
            vehicle_min_outline: 0.5,
            min_points: 10,
            ..ClassModel::default()
        };
        let faces = l_shape(0.3, 4.5, 1.85, [12.0, 6.0]);
        let rect = fit(&faces, Criterion::Closeness);
        let solid = outline_share(&faces, &rect, 0.2);
        assert!(solid > 0.95, "{solid}");
        // A bush: points spread evenly through a 4 x 2 m footprint.
        let bush: Vec<[f32; 2]> = (0..400)
            .map(|k| [20.0 + (k % 20) as f32 * 0.2, 5.0 + (k / 20) as f32 * 0.1])
            .collect();
        let bush_rect = fit(&bush, Criterion::Closeness);
        let spread = outline_share(&bush, &bush_rect, 0.2);
        assert!(spread < 0.4, "{spread}");
        let evidence = |rect, outline_share, points| Evidence {
            rect,
            height: 1.5,
            points,
            outline_share,
            upper_share: 1.0,
        };
        assert_eq!(
            classify(&evidence(rect, solid, 200), &model),
            ObstacleClass::Car
        );
        assert_eq!(
            classify(&evidence(bush_rect, spread, 400), &model),
            ObstacleClass::Unknown
        );
        assert_eq!(
            classify(&evidence(rect, solid, 9), &model),
            ObstacleClass::Unknown
        );
        // More points, a better outline: a higher score; unknown stays low.
        let score = |e: &Evidence, class| existence_score(e, class, &model);
        let (few, many) = (evidence(rect, solid, 15), evidence(rect, solid, 200));
        assert!(score(&few, ObstacleClass::Car) < score(&many, ObstacleClass::Car));
        let ragged = evidence(rect, 0.6, 200);
        assert!(score(&ragged, ObstacleClass::Car) < score(&many, ObstacleClass::Car));
        assert!(score(&many, ObstacleClass::Unknown) <= model.unknown_score);
    }

    #[test]
    fn a_riders_upper_half_spans_part_of_the_bicycle() {
        let rect = Rect {
            axis: [1.0, 0.0],
            length: (10.0, 11.8),
            width: (2.0, 2.4),
        };
        // Wheels along the full length low down; the rider mid-length.
        let mut points = vec![[10.0, 2.2, -1.5], [11.8, 2.2, -1.5], [10.9, 2.2, -1.4]];
        points.extend([[10.7, 2.2, -0.4], [11.1, 2.2, 0.0]]);
        let share = upper_share(&points, &rect, -0.8);
        assert!((share - 0.4 / 1.8).abs() < 1e-5, "{share}");
    }

    #[test]
    fn grow_away_keeps_the_near_side() {
        assert_eq!(grow_away((2.0, 3.0), 4.0), (2.0, 6.0));
        assert_eq!(grow_away((-3.0, -2.0), 4.0), (-6.0, -2.0));
        assert_eq!(grow_away((-1.0, 1.0), 4.0), (-2.0, 2.0));
        assert_eq!(grow_away((0.0, 5.0), 4.0), (0.0, 5.0));
    }
}
