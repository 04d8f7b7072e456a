//! The street scene: parked rows (parallel and echelon, a few trucks),
//! through traffic, vehicles that brake to a stop and turn at a junction,
//! pedestrian groups (walking, standing beside parked cars, crossing and
//! waiting at the curbs), cyclists at the parked rows, and scenery that is never truth: poles, trees, bushes, hedges.
//! Actors are laid out over one window length (they wrap like the town's);
//! scenery is fixed in the world from x = -200 to 800 like the buildings.

use super::{
    Actor, EGO_LANE_Y, EGO_SPEED, Material, Part, Route, STREET_JUNCTION_X, Scene, Stop, Terrain,
    Turn, V3, WINDOW_BEHIND, WINDOW_LENGTH, buildings, paint,
};
use crate::obstacle::ObstacleClass;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::f64::consts::{FRAC_PI_2, PI};

const T: Terrain = Terrain::STREET;
const J: f64 = STREET_JUNCTION_X;
/// Cyclists ride this far from the centre line, just clear of the echelon rows.
const BIKE_Y: f64 = 4.3;
/// Parked rows stop this far either side of the junction (crosswalks there).
const ROW_CLEAR: f64 = 16.0;
const CAR_WIDTH: f64 = 1.85;
const CAR_LENGTH: f64 = 4.5;
const TRUCK_LENGTH: f64 = 9.5;

struct Builder {
    rng: ChaCha8Rng,
    actors: Vec<Actor>,
}

impl Builder {
    fn add(&mut self, class: ObstacleClass, x0: f64, y: f64, speed: f64, route: Route) {
        let color = paint(class, &mut self.rng);
        self.actors.push(Actor {
            id: self.actors.len() as u32 + 1,
            class,
            color,
            x0,
            y,
            speed,
            route,
        });
    }

    fn range(&mut self, r: std::ops::Range<f64>) -> f64 {
        self.rng.random_range(r)
    }
}

pub(super) fn generate(seed: u64) -> Scene {
    let mut b = Builder {
        rng: ChaCha8Rng::seed_from_u64(seed ^ 0x5354_5245_4554),
        actors: Vec::new(),
    };
    for side in [-1.0, 1.0] {
        parked_rows(&mut b, side);
    }
    through_traffic(&mut b);
    turning(&mut b);
    walking_groups(&mut b);
    crossing_groups(&mut b);
    cyclists(&mut b);
    let mut statics = buildings(&T, 15.0..19.0, &mut b.rng);
    let hedges = hedges(&statics, &mut b.rng);
    statics.extend(hedges);
    for side in [-1.0, 1.0] {
        scenery(side, &mut statics, &mut b.rng);
    }
    Scene {
        actors: b.actors,
        terrain: T,
        statics,
    }
}

/// Rows along the curb on `side`: segments of 20-60 m, each parallel
/// (bumper to bumper, gaps 0.3-1.5 m, some trucks, sometimes people standing
/// at a car's road-side flank) or echelon (30-60 degrees to the road).
fn parked_rows(b: &mut Builder, side: f64) {
    let end = J + WINDOW_LENGTH - ROW_CLEAR;
    let mut x = J + ROW_CLEAR;
    while x < end - 6.0 {
        let seg_end = (x + b.range(20.0..60.0)).min(end);
        if b.rng.random_bool(0.5) {
            let theta = b.range(30.0..60.0).to_radians();
            let reversed = b.rng.random_bool(0.4);
            let (s, c) = theta.sin_cos();
            let lateral = (CAR_LENGTH * s + CAR_WIDTH * c) / 2.0;
            let along = (CAR_LENGTH * c + CAR_WIDTH * s) / 2.0;
            let mut cx = x + along;
            while cx + along <= seg_end {
                let y = side * (T.half_width - b.range(0.15..0.4) - lateral);
                let yaw = side * theta + if reversed { PI } else { 0.0 };
                b.add(ObstacleClass::Car, cx, y, 0.0, Route::Still { yaw });
                cx += (CAR_WIDTH + b.range(0.3..1.5)) / s;
            }
        } else {
            let mut front = x;
            loop {
                let truck = b.rng.random_bool(0.12);
                let (class, length, width) = if truck {
                    (ObstacleClass::Truck, TRUCK_LENGTH, 2.5)
                } else {
                    (ObstacleClass::Car, CAR_LENGTH, CAR_WIDTH)
                };
                if front + length > seg_end {
                    break;
                }
                let cy = T.half_width - b.range(0.15..0.35) - width / 2.0;
                let yaw = if side < 0.0 { 0.0 } else { PI } + b.range(-0.03..0.03);
                let cx = front + length / 2.0;
                b.add(class, cx, side * cy, 0.0, Route::Still { yaw });
                if !truck && b.rng.random_bool(0.15) {
                    // Waiting at the driver's door: 2-3 people facing the car.
                    let members = b.rng.random_range(2..=3);
                    let y = cy - width / 2.0 - b.range(0.3..0.6) - 0.15;
                    let mut px = cx - 1.2;
                    for _ in 0..members {
                        let yaw = side * FRAC_PI_2;
                        b.add(
                            ObstacleClass::Pedestrian,
                            px,
                            side * y,
                            0.0,
                            Route::Still { yaw },
                        );
                        px += 0.5 + b.range(0.3..0.7);
                    }
                }
                front += length + b.range(0.3..1.5);
            }
        }
        x = seg_end + b.range(3.0..10.0);
    }
}

/// The ego's lane (flowing at the ego's speed) and the oncoming lane.
fn through_traffic(b: &mut Builder) {
    for (y, speed) in [(EGO_LANE_Y, EGO_SPEED), (-EGO_LANE_Y, -9.0)] {
        let mut x = -WINDOW_BEHIND + b.range(0.0..10.0);
        while x < WINDOW_LENGTH - WINDOW_BEHIND - 14.0 {
            let truck = b.rng.random_bool(0.15);
            let (class, length) = if truck {
                (ObstacleClass::Truck, TRUCK_LENGTH)
            } else {
                (ObstacleClass::Car, CAR_LENGTH)
            };
            // Keep the ego's own surroundings clear.
            let clear_of_ego = y != EGO_LANE_Y || (x + length / 2.0).abs() > 9.0 + length / 2.0;
            let jitter = b.range(-0.2..0.2);
            if clear_of_ego {
                b.add(class, x + length / 2.0, y + jitter, speed, Route::Road);
            }
            x += length + b.range(12.0..40.0);
        }
    }
}

/// Four vehicles looping through the junction: a right and a left turn off
/// each direction of the main road. Each brakes (2-3.5 m/s²) to a stop 4 m
/// before its turn, waits 0.5-2.5 s and pulls away: what a
/// constant-velocity filter gets wrong. The two that share an entry lane
/// drive the same profile on loops of the same length (the tighter turn's
/// tail is longer) half a cycle apart, which is longer than either spends
/// on the shared lane: they never stand in each other.
fn turning(b: &mut Builder) {
    let lanes = 1.75;
    // (heading, [(corner, left, radius, share of the cycle)]) per entry lane.
    let entries = [
        (
            0.0,
            [
                ((-lanes, -lanes), false, 5.0, 0.0),
                ((lanes, -lanes), true, 8.0, 0.5),
            ],
        ),
        (
            PI,
            [
                ((lanes, lanes), false, 5.0, 0.25),
                ((-lanes, lanes), true, 8.0, 0.75),
            ],
        ),
    ];
    let longest_arc = 8.0 * FRAC_PI_2;
    for (heading, pair) in entries {
        let speed = b.range(4.5..6.5);
        let stop = Stop {
            at: 0.0,
            wait: b.range(0.5..2.5),
            decel: b.range(2.0..3.5),
        };
        for (corner, left, radius, share) in pair {
            let mut turn = Turn {
                corner,
                heading,
                left,
                radius,
                lead: 22.0,
                tail: 60.0 + longest_arc - radius * FRAC_PI_2,
                phase: 0.0,
                stop: Some(Stop {
                    at: 22.0 - 4.0,
                    ..stop
                }),
            };
            turn.phase = share * stop.cycle(turn.length(), speed) * speed;
            let class = if b.rng.random_bool(0.2) {
                ObstacleClass::Truck
            } else {
                ObstacleClass::Car
            };
            b.add(class, J, 0.0, speed, Route::Turn(turn));
        }
    }
}

/// Groups of 2-5 on both sidewalks, two abreast, 0.3-0.8 m apart.
fn walking_groups(b: &mut Builder) {
    for (side, speed) in [(-1.0, 1.3), (1.0, -1.2)] {
        let mut x = b.range(0.0..10.0);
        while x < WINDOW_LENGTH - 6.0 {
            let members = b.rng.random_range(2..=5);
            let y = side * (T.half_width + 1.7);
            let yaw_sign = if speed < 0.0 { -1.0 } else { 1.0 };
            let mut rank_x = 0.0;
            for i in 0..members {
                if i % 2 == 0 && i > 0 {
                    rank_x -= yaw_sign * (0.3 + b.range(0.3..0.8));
                }
                let across = if i % 2 == 1 {
                    side * (0.5 + b.range(0.3..0.7))
                } else {
                    0.0
                };
                b.add(
                    ObstacleClass::Pedestrian,
                    x + rank_x,
                    y + across,
                    speed,
                    Route::Road,
                );
            }
            x += b.range(8.0..30.0);
        }
    }
}

/// Two groups crossing the main road at the crosswalks either side of the
/// junction, abreast, waiting 2-5 s at each curb (stop and go).
fn crossing_groups(b: &mut Builder) {
    for (x, direction) in [(J - 8.5, -1.0), (J + 8.5, 1.0)] {
        let members = b.rng.random_range(2..=5);
        let speed = b.range(1.1..1.5);
        let phase = b.range(0.0..44.0);
        let dwell = b.range(2.0..5.0);
        let mut offset = 0.0;
        for _ in 0..members {
            let route = Route::Crossing {
                reach: T.half_width + 1.0,
                phase,
                dwell,
            };
            b.add(ObstacleClass::Pedestrian, x + offset, 0.0, speed, route);
            offset += direction * (0.5 + b.range(0.3..0.7));
        }
    }
}

/// Cyclists with the traffic, at the parked rows' edge.
fn cyclists(b: &mut Builder) {
    for (y, speed) in [(-BIKE_Y, 5.0), (BIKE_Y, -5.5)] {
        let mut x = b.range(0.0..20.0);
        while x < WINDOW_LENGTH - 2.0 {
            b.add(ObstacleClass::Cyclist, x, y, speed, Route::Road);
            x += b.range(25.0..60.0);
        }
    }
}

/// A vertical post of square section standing on `foot`.
fn post(foot: V3, width: f64, height: f64) -> Part {
    static_box(
        foot + V3::new(0.0, 0.0, height / 2.0),
        V3::new(width, width, height),
        0.0,
        Material::Pole,
    )
}

fn static_box(center: V3, size: V3, yaw: f64, material: Material) -> Part {
    Part {
        center,
        half: size / 2.0,
        yaw,
        material,
        actor: None,
    }
}

/// Hedges along most building fronts.
fn hedges(buildings: &[Part], rng: &mut ChaCha8Rng) -> Vec<Part> {
    let mut out = Vec::new();
    for building in buildings {
        if !rng.random_bool(0.6) {
            continue;
        }
        let side = building.center.y.signum();
        let front = building.center.y.abs() - building.half.y;
        let length = rng.random_range(3.0..(2.0 * building.half.x).min(12.0));
        let depth = rng.random_range(0.6..1.0);
        let height = rng.random_range(0.6..1.4);
        let cx = building.center.x + rng.random_range(-0.3..0.3) * building.half.x;
        let base = T.road_height(cx) + T.sidewalk_lift();
        let cy = side * (front - 0.1 - depth / 2.0);
        out.push(static_box(
            V3::new(cx, cy, base + height / 2.0),
            V3::new(length, depth, height),
            0.0,
            Material::Foliage,
        ));
        // A few lumps on top make it irregular.
        for _ in 0..rng.random_range(1..=3) {
            let lump = V3::new(
                rng.random_range(0.8..2.0),
                depth * 0.8,
                rng.random_range(0.2..0.5),
            );
            let lx = cx + rng.random_range(-0.4..0.4) * length;
            out.push(static_box(
                V3::new(lx, cy, base + height + lump.z / 2.0 - 0.05),
                lump,
                0.0,
                Material::Foliage,
            ));
        }
    }
    out
}

/// Poles, trees and bushes along the curb on `side`, none at the junctions.
fn scenery(side: f64, out: &mut Vec<Part>, rng: &mut ChaCha8Rng) {
    let mut x = -200.0;
    while x < 800.0 {
        x += rng.random_range(4.0..14.0);
        let near_junction = (0..=2).any(|k| T.in_junction(x + (k as f64 - 1.0) * 10.0));
        let kind = rng.random_range(0..4);
        if near_junction {
            continue;
        }
        let base = T.road_height(x) + T.sidewalk_lift();
        match kind {
            0 => {
                // Street light: a 6-8 m post with an arm over the road.
                let width = rng.random_range(0.15..0.3);
                let height = rng.random_range(6.0..8.0);
                let y = side * (T.half_width + 0.5);
                out.push(post(V3::new(x, y, base), width, height));
                out.push(static_box(
                    V3::new(x, y - side * 0.9, base + height - 0.1),
                    V3::new(0.12, 1.8, 0.12),
                    0.0,
                    Material::Pole,
                ));
            }
            1 => {
                // Sign post: a thin 2.5-3.2 m post with a plate.
                let width = rng.random_range(0.1..0.15);
                let height = rng.random_range(2.5..3.2);
                let y = side * (T.half_width + 0.4);
                out.push(post(V3::new(x, y, base), width, height));
                out.push(static_box(
                    V3::new(x, y, base + height - 0.35),
                    V3::new(0.05, 0.6, 0.6),
                    0.0,
                    Material::Pole,
                ));
            }
            2 => {
                // Tree: trunk to 2-3 m, a canopy of jittered boxes that
                // overhangs sidewalk and road.
                let trunk = rng.random_range(0.2..0.4);
                let crown = rng.random_range(2.0..3.0);
                let y = side * (T.half_width + 1.0);
                out.push(static_box(
                    V3::new(x, y, base + crown / 2.0 + 0.3),
                    V3::new(trunk, trunk, crown + 0.6),
                    0.0,
                    Material::Bark,
                ));
                for _ in 0..rng.random_range(3..=4) {
                    let size = V3::new(
                        rng.random_range(1.5..3.5),
                        rng.random_range(1.5..3.5),
                        rng.random_range(1.2..2.5),
                    );
                    let centre = V3::new(
                        x + rng.random_range(-0.8..0.8),
                        y + rng.random_range(-0.8..0.8),
                        base + crown + size.z / 2.0 + rng.random_range(0.0..1.5),
                    );
                    out.push(static_box(
                        centre,
                        size,
                        rng.random_range(0.0..PI),
                        Material::Foliage,
                    ));
                }
            }
            _ => {
                // Bush: a few low boxes.
                let y = side * (T.half_width + 1.0);
                for _ in 0..rng.random_range(2..=3) {
                    let size = V3::new(
                        rng.random_range(0.6..1.5),
                        rng.random_range(0.4..0.8),
                        rng.random_range(0.5..1.5),
                    );
                    let centre = V3::new(
                        x + rng.random_range(-0.5..0.5),
                        y + rng.random_range(-0.1..0.1),
                        base + size.z / 2.0,
                    );
                    out.push(static_box(
                        centre,
                        size,
                        rng.random_range(-0.3..0.3),
                        Material::Foliage,
                    ));
                }
            }
        }
    }
}
