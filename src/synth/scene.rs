//! The synthetic world. World frame: x along the road, y to the left, z up.
//!
//! Owns the road surface ([`Terrain`]: grade, camber, curbs, sidewalks, the
//! street's junctions), the static scenery (building facades; on the street
//! also poles, trees and hedges, which are never truth), and the actors with
//! their motion ([`Route`], in `route.rs`): the town has cars, trucks,
//! pedestrians and cyclists on straight lanes at constant speed; the street
//! adds parked rows (parallel and echelon), vehicles that brake to a stop
//! and turn at a junction, pedestrian groups (walking, standing beside
//! parked cars, crossing and waiting at the curbs) and cyclists at the
//! parked rows. Never renders or casts rays against actors itself: it hands
//! out oriented boxes ([`Part`]) and the ground intersection.

use crate::obstacle::ObstacleClass;
use nalgebra::{Matrix3, Vector3};
use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::f64::consts::{FRAC_PI_2, PI, TAU};

pub type V3 = Vector3<f64>;

mod route;
mod street;

use route::crossing;
pub use route::{Route, Stop, Turn};

/// The town's road half-width (curb line); every scene's curb height.
pub const ROAD_HALF_WIDTH: f64 = 7.0;
pub const CURB_HEIGHT: f64 = 0.15;
/// Actors live in a window around the ego and wrap around its ends, so the
/// neighbourhood stays populated for any scene length.
pub const WINDOW_BEHIND: f64 = 90.0;
pub const WINDOW_LENGTH: f64 = 240.0;
pub const EGO_SPEED: f64 = 10.0;
pub const EGO_LANE_Y: f64 = -1.75;

/// Which world to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum SceneKind {
    /// Four straight lanes, evenly spaced traffic, single-file pedestrians,
    /// building facades (the original scene; its bags never change).
    #[default]
    Town,
    /// Two lanes between parked rows (parallel and echelon), a junction with
    /// vehicles that brake, stop and turn, pedestrian groups (some crossing
    /// and waiting at the curbs), cyclists at the parked cars, poles, trees
    /// and hedges; a cambered road that climbs.
    Street,
}

/// The ground: a road between curbs whose centre line follows
/// `z = A sin(2 pi x / L) + climb x`, falling `camber` per metre towards the
/// curbs, and flat raised sidewalks outside them. On the street, side roads
/// (no curbs, no sidewalk) cross at x = `junction_x` + k window lengths.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Terrain {
    pub half_width: f64,
    edge_line: f64,
    amplitude: f64,
    period: f64,
    climb: f64,
    camber: f64,
    /// Side-road centre (world x, repeating every window length) and half
    /// width; `None`: no junction.
    junction: Option<(f64, f64)>,
}

impl Terrain {
    /// The town: 14 m road, max grade 2.4 %, no camber.
    pub const TOWN: Terrain = Terrain {
        half_width: ROAD_HALF_WIDTH,
        edge_line: 6.8,
        amplitude: 1.5,
        period: 400.0,
        climb: 0.0,
        camber: 0.0,
        junction: None,
    };
    /// The street: 20 m between curbs (parking both sides), climbing 2.5 %
    /// plus a 3.1 % undulation, 2 % camber, a junction every window length.
    pub const STREET: Terrain = Terrain {
        half_width: 10.0,
        edge_line: 3.5,
        amplitude: 1.5,
        period: 300.0,
        climb: 0.025,
        camber: 0.02,
        junction: Some((STREET_JUNCTION_X, 6.0)),
    };

    /// Height of the road centre profile at `x`.
    pub fn road_height(&self, x: f64) -> f64 {
        let h = self.amplitude * (TAU * x / self.period).sin();
        if self.climb == 0.0 {
            h
        } else {
            h + self.climb * x
        }
    }

    pub fn road_slope(&self, x: f64) -> f64 {
        let s = self.amplitude * TAU / self.period * (TAU * x / self.period).cos();
        if self.climb == 0.0 { s } else { s + self.climb }
    }

    /// Whether (x, y) is carriageway: between the curbs or in a side road.
    fn is_road(&self, x: f64, y: f64) -> bool {
        y.abs() <= self.half_width || self.in_junction(x)
    }

    fn in_junction(&self, x: f64) -> bool {
        self.junction.is_some_and(|(jx, half)| {
            let d = (x - jx).rem_euclid(WINDOW_LENGTH);
            d.min(WINDOW_LENGTH - d) <= half
        })
    }

    /// Camber term of the road surface at lateral offset `y` (<= 0).
    fn camber_drop(&self, y: f64) -> f64 {
        if self.camber == 0.0 {
            0.0
        } else {
            -self.camber * y.abs()
        }
    }

    /// Sidewalk height above the road centre profile.
    fn sidewalk_lift(&self) -> f64 {
        CURB_HEIGHT + self.camber_drop(self.half_width)
    }

    /// Ground height at (x, y): road inside the curbs, raised sidewalk outside.
    pub fn ground_height(&self, x: f64, y: f64) -> f64 {
        self.road_height(x)
            + if !self.is_road(x, y) {
                self.sidewalk_lift()
            } else {
                self.camber_drop(y)
            }
    }

    /// Lateral slope of the ground at `y` (dz/dy), for the ego's roll.
    pub fn cross_slope(&self, y: f64) -> f64 {
        if y.abs() > self.half_width {
            0.0
        } else {
            -self.camber * y.signum()
        }
    }
}

/// Where the street's junction crosses (world x, repeating every window
/// length): ahead of the ego at the start.
pub const STREET_JUNCTION_X: f64 = 70.0;

/// Surface kinds, for colour and lidar reflectivity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Material {
    Road,
    LaneMarking,
    Curb,
    Sidewalk,
    Building,
    /// Street-light and sign posts.
    Pole,
    /// Tree trunks.
    Bark,
    /// Tree canopies, bushes and hedges.
    Foliage,
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
            Material::Pole => 0.45,
            Material::Bark => 0.2,
            Material::Foliage => 0.12,
            Material::Body(c) => 0.15 + 0.35 * (c[0] + c[1] + c[2]) / 3.0,
        }
    }
}

impl Terrain {
    /// The surface material at a ground point.
    pub fn material(&self, x: f64, y: f64) -> Material {
        let ay = y.abs();
        if !self.is_road(x, y) {
            return Material::Sidewalk;
        }
        if ay > self.half_width {
            return Material::Road; // side road
        }
        // Solid edge lines, dashed lane lines (3 m dash, 9 m period), double centre line.
        let edge = (ay - self.edge_line).abs() < 0.075;
        let dashed = (ay - 3.5).abs() < 0.075 && x.rem_euclid(9.0) < 3.0;
        let centre = (ay - 0.12).abs() < 0.06;
        if edge || dashed || centre {
            Material::LaneMarking
        } else {
            Material::Road
        }
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

/// An actor: class, paint, and how it moves.
#[derive(Debug, Clone)]
pub struct Actor {
    pub id: u32,
    pub class: ObstacleClass,
    pub color: [f64; 3],
    /// World x at t = 0, lateral position, speed (negative: oncoming).
    pub x0: f64,
    pub y: f64,
    pub speed: f64,
    pub route: Route,
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

/// The ego vehicle pose: position of its base (on the ground), pitch, roll.
#[derive(Debug, Clone, Copy)]
pub struct EgoPose {
    pub position: V3,
    pub pitch: f64,
    pub roll: f64,
}

impl EgoPose {
    /// Rotation taking ego-frame vectors into the world frame.
    pub fn rotation(&self) -> Matrix3<f64> {
        let (s, c) = self.pitch.sin_cos();
        let pitch = Matrix3::new(c, 0.0, -s, 0.0, 1.0, 0.0, s, 0.0, c);
        if self.roll == 0.0 {
            return pitch;
        }
        let (s, c) = self.roll.sin_cos();
        pitch * Matrix3::new(1.0, 0.0, 0.0, 0.0, c, -s, 0.0, s, c)
    }
}

#[derive(Debug, Clone)]
pub struct Scene {
    pub actors: Vec<Actor>,
    pub terrain: Terrain,
    /// Buildings, and on the street poles, trees and hedges: never truth.
    statics: Vec<Part>,
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
    pub fn generate(kind: SceneKind, seed: u64) -> Scene {
        match kind {
            SceneKind::Town => Scene::town(seed),
            SceneKind::Street => street::generate(seed),
        }
    }

    fn town(seed: u64) -> Scene {
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
                route: Route::Road,
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
            terrain: Terrain::TOWN,
            statics: buildings(&Terrain::TOWN, 13.0..18.0, &mut rng),
        }
    }

    pub fn ego(&self, t: f64) -> EgoPose {
        let x = EGO_SPEED * t;
        let terrain = &self.terrain;
        EgoPose {
            position: V3::new(x, EGO_LANE_Y, terrain.ground_height(x, EGO_LANE_Y)),
            pitch: terrain.road_slope(x).atan(),
            roll: terrain.cross_slope(EGO_LANE_Y).atan(),
        }
    }

    /// Where every actor is at time `t`.
    pub fn actor_states(&self, t: f64, out: &mut Vec<ActorState>) {
        out.clear();
        let ego_x = EGO_SPEED * t;
        // Wrap into [ego - behind, ego - behind + length).
        let wrap =
            |x: f64| ego_x - WINDOW_BEHIND + (x - ego_x + WINDOW_BEHIND).rem_euclid(WINDOW_LENGTH);
        for (index, actor) in self.actors.iter().enumerate() {
            let (x, y, yaw, velocity) = match actor.route {
                Route::Road => {
                    let x = wrap(actor.x0 + actor.speed * t);
                    let yaw = if actor.speed < 0.0 { PI } else { 0.0 };
                    (x, actor.y, yaw, V3::new(actor.speed, 0.0, 0.0))
                }
                Route::Still { yaw } => (wrap(actor.x0), actor.y, yaw, V3::zeros()),
                Route::Crossing {
                    reach,
                    phase,
                    dwell,
                } => {
                    let (y, dir, speed) = crossing(reach, dwell, actor.speed.abs(), phase, t);
                    let v = V3::new(0.0, dir * speed, 0.0);
                    (wrap(actor.x0), actor.y + y, dir * FRAC_PI_2, v)
                }
                Route::Turn(turn) => {
                    let (s, speed) = match turn.stop {
                        Some(stop) => {
                            stop.along(turn.length(), actor.speed, turn.phase / actor.speed + t)
                        }
                        None => (
                            (turn.phase + actor.speed * t).rem_euclid(turn.length()),
                            actor.speed,
                        ),
                    };
                    let (dx, y, heading) = turn.at(s);
                    let (sh, ch) = heading.sin_cos();
                    let v = V3::new(ch, sh, 0.0) * speed;
                    (wrap(actor.x0) + dx, y, heading, v)
                }
            };
            let (lo, hi) = extent(actor.class);
            let size = hi - lo;
            let local_center = (hi + lo) / 2.0;
            let (s, c) = yaw.sin_cos();
            let ground = self.terrain.ground_height(x, y);
            let center = V3::new(
                x + c * local_center.x - s * local_center.y,
                y + s * local_center.x + c * local_center.y,
                ground + local_center.z,
            );
            out.push(ActorState {
                index,
                center,
                size,
                yaw,
                velocity,
            });
        }
    }

    /// Every box in the world at time `t`: actor parts, then scenery.
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
        out.extend_from_slice(&self.statics);
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

/// Building facades along both sides, fixed in the world, from x = -200 to
/// 800 (80 s of driving), set back `setback` from the road centre; gaps where
/// the terrain has side roads.
fn buildings(terrain: &Terrain, setback: std::ops::Range<f64>, rng: &mut impl Rng) -> Vec<Part> {
    let mut out = Vec::new();
    for side in [-1.0, 1.0] {
        let mut x = -200.0;
        while x < 800.0 {
            let length = rng.random_range(12.0..30.0);
            let depth = rng.random_range(8.0..14.0);
            let height = rng.random_range(6.0..20.0);
            let setback = rng.random_range(setback.clone());
            let cx = x + length / 2.0;
            let cy = side * (setback + depth / 2.0);
            let base = terrain.road_height(cx) + terrain.sidewalk_lift();
            let blocked = terrain.junction.is_some()
                && (0..=4).any(|k| terrain.in_junction(x + k as f64 * length / 4.0));
            if !blocked {
                out.push(Part {
                    center: V3::new(cx, cy, base + height / 2.0 - 0.5),
                    half: V3::new(length / 2.0, depth / 2.0, height / 2.0 + 0.5),
                    yaw: 0.0,
                    material: Material::Building,
                    actor: None,
                });
            }
            x += length + rng.random_range(3.0..12.0);
        }
    }
    out
}

impl Terrain {
    /// First hit of a ray with the ground (road, curb face or sidewalk),
    /// within `max_range`. Returns the distance, normal and material.
    pub fn intersect(&self, origin: &V3, dir: &V3, max_range: f64) -> Option<(f64, V3, Material)> {
        let mut best: Option<(f64, V3, Material)> = None;
        let mut consider = |t: f64, normal: V3, material: Material| {
            if t > 0.0 && t <= max_range && best.is_none_or(|(b, _, _)| t < b) {
                best = Some((t, normal, material));
            }
        };
        let w = self.half_width;
        if let Some(t) = self.surface_hit(origin, dir, 0.0, self.camber, max_range) {
            let p = origin + dir * t;
            if self.is_road(p.x, p.y) {
                let slope = self.road_slope(p.x);
                let normal = if self.camber == 0.0 {
                    V3::new(-slope, 0.0, 1.0)
                } else {
                    V3::new(-slope, -self.cross_slope(p.y.clamp(-w, w)), 1.0)
                };
                consider(t, normal.normalize(), self.material(p.x, p.y));
            }
        }
        if let Some(t) = self.surface_hit(origin, dir, self.sidewalk_lift(), 0.0, max_range) {
            let p = origin + dir * t;
            if !self.is_road(p.x, p.y) {
                let slope = self.road_slope(p.x);
                consider(t, V3::new(-slope, 0.0, 1.0).normalize(), Material::Sidewalk);
            }
        }
        // Curb faces at |y| = half width, seen from the road.
        if dir.y.abs() > 1e-9 {
            for side in [-1.0, 1.0] {
                let t = (side * w - origin.y) / dir.y;
                let p = origin + dir * t;
                let base = self.road_height(p.x) + self.camber_drop(w);
                if origin.y.abs() < w
                    && p.z >= base
                    && p.z <= base + CURB_HEIGHT
                    && !self.in_junction(p.x)
                {
                    consider(t, V3::new(0.0, -side, 0.0), Material::Curb);
                }
            }
        }
        best
    }

    /// Distance along the ray to the surface
    /// `z = road_height(x) + lift - camber |y|`, by Newton iteration from the
    /// local tangent plane (the grade is gentle; the surface is convex seen
    /// from above, so Newton from the sensor side never overshoots).
    fn surface_hit(
        &self,
        origin: &V3,
        dir: &V3,
        lift: f64,
        camber: f64,
        max_range: f64,
    ) -> Option<f64> {
        let f = |t: f64| {
            let z = origin.z + dir.z * t - self.road_height(origin.x + dir.x * t) - lift;
            if camber == 0.0 {
                z
            } else {
                z + camber * (origin.y + dir.y * t).abs()
            }
        };
        let df = |t: f64| {
            let d = dir.z - self.road_slope(origin.x + dir.x * t) * dir.x;
            if camber == 0.0 {
                d
            } else {
                d + camber * (origin.y + dir.y * t).signum() * dir.y
            }
        };
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_scene() {
        let a = Scene::generate(SceneKind::Town, 3);
        let b = Scene::generate(SceneKind::Town, 3);
        assert_eq!(a.actors.len(), b.actors.len());
        assert!(
            a.actors
                .iter()
                .zip(&b.actors)
                .all(|(x, y)| x.x0 == y.x0 && x.y == y.y)
        );
        let c = Scene::generate(SceneKind::Town, 4);
        assert!(a.actors.iter().zip(&c.actors).any(|(x, y)| x.x0 != y.x0));
    }

    #[test]
    fn downward_ray_hits_road_at_expected_distance() {
        let origin = V3::new(0.0, -1.75, 2.0 + Terrain::TOWN.road_height(0.0));
        let dir = V3::new(1.0, 0.0, -1.0).normalize();
        let (t, normal, _) = Terrain::TOWN.intersect(&origin, &dir, 100.0).unwrap();
        let p = origin + dir * t;
        assert!((p.z - Terrain::TOWN.road_height(p.x)).abs() < 1e-6);
        assert!(normal.z > 0.99);
    }

    #[test]
    fn sideways_ray_hits_the_curb_face() {
        let origin = V3::new(0.0, 0.0, Terrain::TOWN.road_height(0.0) + 0.1);
        let dir = V3::new(0.0, 1.0, -0.001).normalize();
        let (t, normal, material) = Terrain::TOWN.intersect(&origin, &dir, 100.0).unwrap();
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
