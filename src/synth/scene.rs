//! The synthetic world: a straight four-lane road with gentle grades, curbs,
//! sidewalks and building facades, and actors (cars, trucks, pedestrians,
//! cyclists) moving with constant-velocity kinematics. World frame: x along
//! the road, y to the left, z up.

use crate::frames::ObstacleClass;
use nalgebra::{Matrix3, Vector3};
use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub type V3 = Vector3<f64>;

/// Road half-width (curb line) and curb height.
pub const ROAD_HALF_WIDTH: f64 = 7.0;
pub const CURB_HEIGHT: f64 = 0.15;
/// Grade profile: `z = A sin(2 pi x / L)` (max grade 2.4 %).
const GRADE_AMPLITUDE: f64 = 1.5;
const GRADE_PERIOD: f64 = 400.0;
/// Actors live in a window around the ego and wrap around its ends, so the
/// neighbourhood stays populated for any scene length.
pub const WINDOW_BEHIND: f64 = 90.0;
pub const WINDOW_LENGTH: f64 = 240.0;
pub const EGO_SPEED: f64 = 10.0;
pub const EGO_LANE_Y: f64 = -1.75;

/// Height of the road centre profile at `x`.
pub fn road_height(x: f64) -> f64 {
    GRADE_AMPLITUDE * (std::f64::consts::TAU * x / GRADE_PERIOD).sin()
}

pub fn road_slope(x: f64) -> f64 {
    GRADE_AMPLITUDE * std::f64::consts::TAU / GRADE_PERIOD
        * (std::f64::consts::TAU * x / GRADE_PERIOD).cos()
}

/// Ground height at (x, y): road inside the curbs, raised sidewalk outside.
pub fn ground_height(x: f64, y: f64) -> f64 {
    road_height(x)
        + if y.abs() > ROAD_HALF_WIDTH {
            CURB_HEIGHT
        } else {
            0.0
        }
}

/// Surface kinds, for colour and lidar reflectivity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Material {
    Road,
    LaneMarking,
    Curb,
    Sidewalk,
    Building,
    Body([f64; 3]),
}

impl Material {
    /// Lidar reflectivity in [0, 1].
    pub fn reflectivity(self) -> f64 {
        match self {
            Material::Road => 0.08,
            Material::LaneMarking => 0.55,
            Material::Curb => 0.25,
            Material::Sidewalk => 0.18,
            Material::Building => 0.3,
            Material::Body(c) => 0.15 + 0.35 * (c[0] + c[1] + c[2]) / 3.0,
        }
    }
}

/// The road surface material at a ground point.
pub fn ground_material(x: f64, y: f64) -> Material {
    let ay = y.abs();
    if ay > ROAD_HALF_WIDTH {
        return Material::Sidewalk;
    }
    // Solid edge lines, dashed lane lines (3 m dash, 9 m period), double centre line.
    let edge = (ay - 6.8).abs() < 0.075;
    let dashed = (ay - 3.5).abs() < 0.075 && x.rem_euclid(9.0) < 3.0;
    let centre = (ay - 0.12).abs() < 0.06;
    if edge || dashed || centre {
        Material::LaneMarking
    } else {
        Material::Road
    }
}

/// An oriented box: centre, half extents, yaw about z.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Part {
    pub center: V3,
    pub half: V3,
    pub yaw: f64,
    pub material: Material,
    /// Index of the actor it belongs to; `None` for scenery.
    pub actor: Option<usize>,
}

impl Part {
    /// World -> box-local rotation applied to a vector.
    pub fn rotate_into_local(&self, v: &V3) -> V3 {
        let (s, c) = self.yaw.sin_cos();
        V3::new(c * v.x + s * v.y, -s * v.x + c * v.y, v.z)
    }

    pub fn rotate_into_world(&self, v: &V3) -> V3 {
        let (s, c) = self.yaw.sin_cos();
        V3::new(c * v.x - s * v.y, s * v.x + c * v.y, v.z)
    }

    pub fn corners(&self) -> [V3; 8] {
        let mut out = [V3::zeros(); 8];
        for (i, corner) in out.iter_mut().enumerate() {
            let local = V3::new(
                if i & 1 == 0 {
                    -self.half.x
                } else {
                    self.half.x
                },
                if i & 2 == 0 {
                    -self.half.y
                } else {
                    self.half.y
                },
                if i & 4 == 0 {
                    -self.half.z
                } else {
                    self.half.z
                },
            );
            *corner = self.center + self.rotate_into_world(&local);
        }
        out
    }

    /// Ray/box slab test: the entry distance and outward normal (world).
    pub fn intersect(&self, origin: &V3, dir: &V3) -> Option<(f64, V3)> {
        let o = self.rotate_into_local(&(origin - self.center));
        let d = self.rotate_into_local(dir);
        let mut t_near = f64::NEG_INFINITY;
        let mut t_far = f64::INFINITY;
        let mut axis = 0;
        for k in 0..3 {
            if d[k].abs() < 1e-12 {
                if o[k].abs() > self.half[k] {
                    return None;
                }
                continue;
            }
            let t1 = (-self.half[k] - o[k]) / d[k];
            let t2 = (self.half[k] - o[k]) / d[k];
            let (lo, hi) = if t1 < t2 { (t1, t2) } else { (t2, t1) };
            if lo > t_near {
                t_near = lo;
                axis = k;
            }
            t_far = t_far.min(hi);
            if t_near > t_far {
                return None;
            }
        }
        if t_near <= 0.0 {
            return None;
        }
        let mut normal = V3::zeros();
        normal[axis] = -d[axis].signum();
        Some((t_near, self.rotate_into_world(&normal)))
    }
}

/// A part of an actor, in the actor's frame (x forward, z up from the ground).
#[derive(Debug, Clone, Copy)]
struct PartShape {
    offset: [f64; 3],
    size: [f64; 3],
    /// Colour factor relative to the actor's paint (1 = paint).
    shade: f64,
}

const fn shape(offset: [f64; 3], size: [f64; 3], shade: f64) -> PartShape {
    PartShape {
        offset,
        size,
        shade,
    }
}

const CAR: &[PartShape] = &[
    shape([0.0, 0.0, 0.55], [4.5, 1.85, 0.75], 1.0),
    shape([-0.3, 0.0, 1.2], [2.4, 1.65, 0.55], 0.55),
];
const TRUCK: &[PartShape] = &[
    shape([3.6, 0.0, 1.6], [2.2, 2.45, 3.0], 1.0),
    shape([-1.2, 0.0, 1.95], [7.2, 2.5, 3.5], 0.9),
];
const PEDESTRIAN: &[PartShape] = &[
    shape([0.0, 0.0, 0.45], [0.28, 0.42, 0.9], 0.5),
    shape([0.0, 0.0, 1.22], [0.3, 0.5, 0.65], 1.0),
    shape([0.0, 0.0, 1.66], [0.22, 0.2, 0.23], 0.8),
];
const CYCLIST: &[PartShape] = &[
    shape([0.0, 0.0, 0.5], [1.75, 0.12, 0.8], 0.35),
    shape([-0.15, 0.0, 1.25], [0.45, 0.45, 0.7], 1.0),
    shape([-0.05, 0.0, 1.7], [0.22, 0.2, 0.22], 0.8),
];

fn shapes(class: ObstacleClass) -> &'static [PartShape] {
    match class {
        ObstacleClass::Car => CAR,
        ObstacleClass::Truck => TRUCK,
        ObstacleClass::Pedestrian => PEDESTRIAN,
        ObstacleClass::Cyclist | ObstacleClass::Unknown => CYCLIST,
    }
}

/// An actor: class, paint, and straight-line motion along the road.
#[derive(Debug, Clone)]
pub struct Actor {
    pub id: u32,
    pub class: ObstacleClass,
    pub color: [f64; 3],
    /// World x at t = 0, lateral position, speed along x (negative: oncoming).
    pub x0: f64,
    pub y: f64,
    pub speed: f64,
}

/// An actor's state at one instant, in the world frame.
#[derive(Debug, Clone, Copy)]
pub struct ActorState {
    pub index: usize,
    pub center: V3,
    pub size: V3,
    pub yaw: f64,
    pub velocity: V3,
}

/// The ego vehicle pose: position of its base (on the ground) and pitch.
#[derive(Debug, Clone, Copy)]
pub struct EgoPose {
    pub position: V3,
    pub pitch: f64,
}

impl EgoPose {
    /// Rotation taking ego-frame vectors into the world frame.
    pub fn rotation(&self) -> Matrix3<f64> {
        let (s, c) = self.pitch.sin_cos();
        Matrix3::new(c, 0.0, -s, 0.0, 1.0, 0.0, s, 0.0, c)
    }
}

#[derive(Debug, Clone)]
pub struct Scene {
    pub actors: Vec<Actor>,
    buildings: Vec<Part>,
}

/// Lanes: (centre y, flow speed). The ego lane flows at the ego's speed so
/// nothing drives through the ego.
const LANES: [(f64, f64); 4] = [
    (-5.25, 12.5),
    (EGO_LANE_Y, EGO_SPEED),
    (1.75, -11.0),
    (5.25, -13.5),
];

impl Scene {
    pub fn generate(seed: u64) -> Scene {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut actors = Vec::new();
        let mut add = |class, x0: f64, y: f64, speed: f64, rng: &mut ChaCha8Rng| {
            let color = paint(class, rng);
            actors.push(Actor {
                id: actors.len() as u32 + 1,
                class,
                color,
                x0,
                y,
                speed,
            });
        };
        for (lane, &(y, speed)) in LANES.iter().enumerate() {
            let outer = lane == 0 || lane == 3;
            let mut x = -WINDOW_BEHIND + rng.random_range(0.0..10.0);
            while x < WINDOW_LENGTH - WINDOW_BEHIND - 14.0 {
                let truck = outer && rng.random_bool(0.3);
                let class = if truck {
                    ObstacleClass::Truck
                } else {
                    ObstacleClass::Car
                };
                let length = if truck { 10.0 } else { 4.5 };
                // Keep the ego's own surroundings clear.
                let clear_of_ego = y != EGO_LANE_Y || x.abs() > 9.0;
                if clear_of_ego {
                    add(
                        class,
                        x + length / 2.0,
                        y + rng.random_range(-0.25..0.25),
                        speed,
                        &mut rng,
                    );
                }
                x += length + rng.random_range(8.0..38.0);
            }
        }
        // Cyclists on the bike paths, pedestrians on the sidewalks; one speed
        // per row keeps spacing (and so nobody overlaps).
        let rows = [
            (ObstacleClass::Cyclist, -7.9, 5.5, 30.0..70.0),
            (ObstacleClass::Cyclist, 7.9, -6.0, 30.0..70.0),
            (ObstacleClass::Pedestrian, -9.6, 1.3, 6.0..30.0),
            (ObstacleClass::Pedestrian, -10.4, -1.4, 6.0..30.0),
            (ObstacleClass::Pedestrian, 9.8, -1.2, 6.0..30.0),
        ];
        for (class, y, speed, gaps) in rows {
            let mut x = -WINDOW_BEHIND + rng.random_range(0.0..gaps.start);
            while x < WINDOW_LENGTH - WINDOW_BEHIND - 2.0 {
                add(class, x, y, speed, &mut rng);
                x += rng.random_range(gaps.clone());
            }
        }
        Scene {
            actors,
            buildings: buildings(&mut rng),
        }
    }

    pub fn ego(&self, t: f64) -> EgoPose {
        let x = EGO_SPEED * t;
        EgoPose {
            position: V3::new(x, EGO_LANE_Y, road_height(x)),
            pitch: road_slope(x).atan(),
        }
    }

    /// Where every actor is at time `t`.
    pub fn actor_states(&self, t: f64, out: &mut Vec<ActorState>) {
        out.clear();
        let ego_x = EGO_SPEED * t;
        for (index, actor) in self.actors.iter().enumerate() {
            let travelled = actor.x0 + actor.speed * t;
            // Wrap into [ego - behind, ego - behind + length).
            let x = ego_x - WINDOW_BEHIND
                + (travelled - ego_x + WINDOW_BEHIND).rem_euclid(WINDOW_LENGTH);
            let (lo, hi) = extent(actor.class);
            let size = hi - lo;
            let local_center = (hi + lo) / 2.0;
            let yaw = if actor.speed < 0.0 {
                std::f64::consts::PI
            } else {
                0.0
            };
            let (s, c) = yaw.sin_cos();
            let ground = ground_height(x, actor.y);
            let center = V3::new(
                x + c * local_center.x - s * local_center.y,
                actor.y + s * local_center.x + c * local_center.y,
                ground + local_center.z,
            );
            out.push(ActorState {
                index,
                center,
                size,
                yaw,
                velocity: V3::new(actor.speed, 0.0, 0.0),
            });
        }
    }

    /// Every box in the world at time `t`: actor parts, then buildings.
    pub fn parts(&self, states: &[ActorState], out: &mut Vec<Part>) {
        out.clear();
        for state in states {
            let actor = &self.actors[state.index];
            let (lo, hi) = extent(actor.class);
            let origin_offset = (hi + lo) / 2.0;
            let (s, c) = state.yaw.sin_cos();
            for p in shapes(actor.class) {
                let local = V3::from(p.offset) - origin_offset;
                let color = actor.color.map(|v| (v * p.shade).min(1.0));
                out.push(Part {
                    center: state.center
                        + V3::new(
                            c * local.x - s * local.y,
                            s * local.x + c * local.y,
                            local.z,
                        ),
                    half: V3::from(p.size) / 2.0,
                    yaw: state.yaw,
                    material: Material::Body(color),
                    actor: Some(state.index),
                });
            }
        }
        out.extend_from_slice(&self.buildings);
    }
}

/// Tight bounds of an actor's parts in its own frame.
fn extent(class: ObstacleClass) -> (V3, V3) {
    let mut lo = V3::repeat(f64::INFINITY);
    let mut hi = V3::repeat(f64::NEG_INFINITY);
    for p in shapes(class) {
        let o = V3::from(p.offset);
        let h = V3::from(p.size) / 2.0;
        lo = lo.inf(&(o - h));
        hi = hi.sup(&(o + h));
    }
    (lo, hi)
}

fn paint(class: ObstacleClass, rng: &mut impl Rng) -> [f64; 3] {
    const CAR_PAINTS: [[f64; 3]; 6] = [
        [0.75, 0.1, 0.1],
        [0.1, 0.2, 0.6],
        [0.85, 0.85, 0.85],
        [0.15, 0.15, 0.15],
        [0.2, 0.5, 0.25],
        [0.9, 0.7, 0.1],
    ];
    match class {
        ObstacleClass::Car => CAR_PAINTS[rng.random_range(0..CAR_PAINTS.len())],
        ObstacleClass::Truck => [0.95, 0.95, 0.9],
        ObstacleClass::Pedestrian => [
            rng.random_range(0.3..0.9),
            rng.random_range(0.2..0.6),
            rng.random_range(0.2..0.8),
        ],
        ObstacleClass::Cyclist | ObstacleClass::Unknown => [0.1, 0.55, 0.85],
    }
}

/// Building facades along both sides, fixed in the world, repeating every
/// window length so any scene length has them.
fn buildings(rng: &mut impl Rng) -> Vec<Part> {
    let mut out = Vec::new();
    for side in [-1.0, 1.0] {
        let mut x = -200.0;
        while x < 800.0 {
            let length = rng.random_range(12.0..30.0);
            let depth = rng.random_range(8.0..14.0);
            let height = rng.random_range(6.0..20.0);
            let setback = rng.random_range(13.0..18.0);
            let cx = x + length / 2.0;
            let cy = side * (setback + depth / 2.0);
            let base = road_height(cx) + CURB_HEIGHT;
            out.push(Part {
                center: V3::new(cx, cy, base + height / 2.0 - 0.5),
                half: V3::new(length / 2.0, depth / 2.0, height / 2.0 + 0.5),
                yaw: 0.0,
                material: Material::Building,
                actor: None,
            });
            x += length + rng.random_range(3.0..12.0);
        }
    }
    out
}

/// First hit of a ray with the ground (road, curb face or sidewalk), within
/// `max_range`. Returns the distance, normal and material.
pub fn intersect_ground(origin: &V3, dir: &V3, max_range: f64) -> Option<(f64, V3, Material)> {
    let mut best: Option<(f64, V3, Material)> = None;
    let mut consider = |t: f64, normal: V3, material: Material| {
        if t > 0.0 && t <= max_range && best.is_none_or(|(b, _, _)| t < b) {
            best = Some((t, normal, material));
        }
    };
    if let Some(t) = surface_hit(origin, dir, 0.0, max_range) {
        let p = origin + dir * t;
        if p.y.abs() <= ROAD_HALF_WIDTH {
            let slope = road_slope(p.x);
            consider(
                t,
                V3::new(-slope, 0.0, 1.0).normalize(),
                ground_material(p.x, p.y),
            );
        }
    }
    if let Some(t) = surface_hit(origin, dir, CURB_HEIGHT, max_range) {
        let p = origin + dir * t;
        if p.y.abs() > ROAD_HALF_WIDTH {
            let slope = road_slope(p.x);
            consider(t, V3::new(-slope, 0.0, 1.0).normalize(), Material::Sidewalk);
        }
    }
    // Curb faces at |y| = ROAD_HALF_WIDTH, seen from the road.
    if dir.y.abs() > 1e-9 {
        for side in [-1.0, 1.0] {
            let t = (side * ROAD_HALF_WIDTH - origin.y) / dir.y;
            let p = origin + dir * t;
            let base = road_height(p.x);
            if origin.y.abs() < ROAD_HALF_WIDTH && p.z >= base && p.z <= base + CURB_HEIGHT {
                consider(t, V3::new(0.0, -side, 0.0), Material::Curb);
            }
        }
    }
    best
}

/// Distance along the ray to the surface `z = road_height(x) + lift`, by
/// Newton iteration from the local tangent plane (the grade is gentle).
fn surface_hit(origin: &V3, dir: &V3, lift: f64, max_range: f64) -> Option<f64> {
    let f = |t: f64| origin.z + dir.z * t - road_height(origin.x + dir.x * t) - lift;
    let df = |t: f64| dir.z - road_slope(origin.x + dir.x * t) * dir.x;
    if f(0.0) <= 0.0 {
        return None; // origin below the surface
    }
    let mut t = 0.0;
    for _ in 0..8 {
        let slope = df(t);
        if slope >= -1e-9 {
            return None; // parallel or rising relative to the surface
        }
        let next = t - f(t) / slope;
        if !(next.is_finite()) || next > max_range * 2.0 {
            return None;
        }
        if (next - t).abs() < 1e-6 {
            return Some(next);
        }
        t = next;
    }
    (f(t).abs() < 1e-3).then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_scene() {
        let a = Scene::generate(3);
        let b = Scene::generate(3);
        assert_eq!(a.actors.len(), b.actors.len());
        assert!(
            a.actors
                .iter()
                .zip(&b.actors)
                .all(|(x, y)| x.x0 == y.x0 && x.y == y.y)
        );
        let c = Scene::generate(4);
        assert!(a.actors.iter().zip(&c.actors).any(|(x, y)| x.x0 != y.x0));
    }

    #[test]
    fn downward_ray_hits_road_at_expected_distance() {
        let origin = V3::new(0.0, -1.75, 2.0 + road_height(0.0));
        let dir = V3::new(1.0, 0.0, -1.0).normalize();
        let (t, normal, _) = intersect_ground(&origin, &dir, 100.0).unwrap();
        let p = origin + dir * t;
        assert!((p.z - road_height(p.x)).abs() < 1e-6);
        assert!(normal.z > 0.99);
    }

    #[test]
    fn sideways_ray_hits_the_curb_face() {
        let origin = V3::new(0.0, 0.0, road_height(0.0) + 0.1);
        let dir = V3::new(0.0, 1.0, -0.001).normalize();
        let (t, normal, material) = intersect_ground(&origin, &dir, 100.0).unwrap();
        assert_eq!(material, Material::Curb);
        assert!((t - 7.0).abs() < 0.01);
        assert!(normal.y < -0.99);
    }

    #[test]
    fn box_intersection_reports_entry_face() {
        let part = Part {
            center: V3::new(10.0, 0.0, 1.0),
            half: V3::new(2.0, 1.0, 1.0),
            yaw: 0.0,
            material: Material::Building,
            actor: None,
        };
        let (t, n) = part
            .intersect(&V3::new(0.0, 0.0, 1.0), &V3::new(1.0, 0.0, 0.0))
            .unwrap();
        assert!((t - 8.0).abs() < 1e-9);
        assert!((n - V3::new(-1.0, 0.0, 0.0)).norm() < 1e-9);
    }
}
