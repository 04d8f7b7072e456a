//! A spinning multi-beam lidar, ray cast against the scene. Points come out
//! in firing order (column by column), as x/y/z/intensity/ring/time; ring 0
//! is the lowest beam. Owns the sensor models ([`LidarSpec`] and its presets);
//! never decides what is truth (it only counts which actor each return hit).

use super::scene::{Material, Part, Terrain, V3};
use crate::msg::{PointField, PointFieldType};
use nalgebra::Matrix3;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use rayon::prelude::*;

#[derive(Debug, Clone, PartialEq)]
pub struct LidarSpec {
    pub frame_id: String,
    pub beams: usize,
    pub azimuth_steps: usize,
    pub rate_hz: f64,
    pub min_elevation_deg: f64,
    pub max_elevation_deg: f64,
    pub min_range: f64,
    pub max_range: f64,
    /// Standard deviation of range noise (m).
    pub range_noise: f64,
    /// Probability that a return is lost.
    pub dropout: f64,
    /// Mount position in the ego frame (no rotation).
    pub mount: [f64; 3],
    /// Beam elevations (degrees, lowest first, one per beam); empty: evenly
    /// spaced from `min_elevation_deg` to `max_elevation_deg`.
    pub elevations_deg: Vec<f64>,
}

/// The lidar models `lookout synth --lidar` offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LidarModel {
    /// [`LidarSpec::default`]: 64 beams, -25 to +15 degrees.
    #[default]
    Default,
    /// [`LidarSpec::hdl64`]: KITTI's Velodyne HDL-64E.
    Hdl64,
    /// [`LidarSpec::hdl32`]: nuScenes' Velodyne HDL-32E.
    Hdl32,
}

impl LidarModel {
    pub fn spec(self) -> LidarSpec {
        match self {
            LidarModel::Default => LidarSpec::default(),
            LidarModel::Hdl64 => LidarSpec::hdl64(),
            LidarModel::Hdl32 => LidarSpec::hdl32(),
        }
    }
}

/// HDL-32E beam elevations (datasheet), lowest first: -30.67 to +10.67 in
/// 4/3 degree steps.
const HDL32_ELEVATIONS: [f64; 32] = [
    -30.67, -29.33, -28.00, -26.66, -25.33, -24.00, -22.67, -21.33, -20.00, -18.67, -17.33, -16.00,
    -14.67, -13.33, -12.00, -10.67, -9.33, -8.00, -6.66, -5.33, -4.00, -2.67, -1.33, 0.00, 1.33,
    2.67, 4.00, 5.33, 6.67, 8.00, 9.33, 10.67,
];

impl LidarSpec {
    /// KITTI's Velodyne HDL-64E: 64 beams from -24.8 to +2.0 degrees in the
    /// sensor's two blocks (nominal layout, not one unit's calibration: the
    /// upper 32 lasers every 1/3 degree from +2.0 down to -8.33, the lower 32
    /// evenly from -8.83 down to -24.8), 2083 columns a turn (0.17 degrees at 10 Hz: ~120k points like a KITTI scan),
    /// mounted 1.73 m up, 2 cm range noise, 2 % dropout.
    pub fn hdl64() -> Self {
        let lower = (0..32).map(|b| -24.8 + b as f64 * (24.8 - 8.83) / 31.0);
        let upper = (0..32).map(|b| -8.33 + b as f64 * (2.0 + 8.33) / 31.0);
        LidarSpec {
            frame_id: "lidar".into(),
            beams: 64,
            azimuth_steps: 2083,
            rate_hz: 10.0,
            min_elevation_deg: -24.8,
            max_elevation_deg: 2.0,
            min_range: 1.0,
            max_range: 120.0,
            range_noise: 0.02,
            dropout: 0.02,
            mount: [0.0, 0.0, 1.73],
            elevations_deg: lower.chain(upper).collect(),
        }
    }

    /// nuScenes' Velodyne HDL-32E: the datasheet's 32 beam elevations
    /// (-30.67 to +10.67 degrees), 1085 columns a turn (0.33 degrees),
    /// 20 Hz like the real sensor, mounted 1.84 m up, 2 cm range noise, 3 %
    /// dropout, 70 m useful range.
    pub fn hdl32() -> Self {
        LidarSpec {
            frame_id: "lidar".into(),
            beams: 32,
            azimuth_steps: 1085,
            rate_hz: 20.0,
            min_elevation_deg: -30.67,
            max_elevation_deg: 10.67,
            min_range: 1.0,
            max_range: 70.0,
            range_noise: 0.02,
            dropout: 0.03,
            mount: [0.0, 0.0, 1.84],
            elevations_deg: HDL32_ELEVATIONS.to_vec(),
        }
    }
}

impl Default for LidarSpec {
    /// A 64-beam, 10 Hz sensor with a 40 degree vertical field of view (-25 to
    /// +15, like a Pandar64): about 120k points a scan in the synthetic town.
    fn default() -> Self {
        LidarSpec {
            frame_id: "lidar".into(),
            beams: 64,
            azimuth_steps: 2048,
            rate_hz: 10.0,
            min_elevation_deg: -25.0,
            max_elevation_deg: 15.0,
            min_range: 1.0,
            max_range: 120.0,
            range_noise: 0.02,
            dropout: 0.01,
            mount: [0.0, 0.0, 1.9],
            elevations_deg: Vec::new(),
        }
    }
}

/// Bytes per point: x, y, z, intensity (f32), ring (u16), time (f32).
pub const POINT_STEP: u32 = 22;

pub fn point_fields() -> [PointField<'static>; 6] {
    let f = |name, offset, datatype| PointField {
        name,
        offset,
        datatype,
        count: 1,
    };
    [
        f("x", 0, PointFieldType::F32),
        f("y", 4, PointFieldType::F32),
        f("z", 8, PointFieldType::F32),
        f("intensity", 12, PointFieldType::F32),
        f("ring", 16, PointFieldType::U16),
        f("time", 18, PointFieldType::F32),
    ]
}

/// One simulated return.
#[derive(Debug, Clone, Copy)]
struct Return {
    point: [f32; 3],
    intensity: f32,
    ring: u16,
    time: f32,
    range: f32,
    actor: Option<usize>,
}

/// Per-actor lidar evidence in one scan.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ActorHits {
    pub points: u32,
    pub nearest: f32,
}

pub struct Lidar {
    spec: LidarSpec,
    /// (sin, cos) of each beam's elevation, beam 0 lowest.
    beams: Vec<(f64, f64)>,
}

impl Lidar {
    pub fn new(spec: LidarSpec) -> Self {
        if !spec.elevations_deg.is_empty() {
            let beams = spec
                .elevations_deg
                .iter()
                .map(|e| e.to_radians().sin_cos())
                .collect();
            return Lidar { spec, beams };
        }
        let beams = (0..spec.beams)
            .map(|b| {
                let frac = if spec.beams > 1 {
                    b as f64 / (spec.beams - 1) as f64
                } else {
                    0.5
                };
                let elevation = (spec.min_elevation_deg
                    + frac * (spec.max_elevation_deg - spec.min_elevation_deg))
                    .to_radians();
                elevation.sin_cos()
            })
            .collect();
        Lidar { spec, beams }
    }

    /// Casts one sweep (scene frozen at the scan stamp; `time` is each
    /// column's firing offset). Appends the serialized points to `data`,
    /// returns the point count and fills per-actor evidence.
    #[allow(clippy::too_many_arguments)]
    pub fn scan(
        &self,
        terrain: &Terrain,
        parts: &[Part],
        origin: &V3,
        rotation: &Matrix3<f64>,
        seed: u64,
        data: &mut Vec<u8>,
        hits: &mut Vec<ActorHits>,
    ) -> usize {
        let steps = self.spec.azimuth_steps;
        let candidates = column_candidates(parts, origin, rotation, steps);
        let columns: Vec<Vec<Return>> = (0..steps)
            .into_par_iter()
            .map(|col| {
                self.cast_column(
                    col,
                    terrain,
                    parts,
                    &candidates[col],
                    origin,
                    rotation,
                    seed,
                )
            })
            .collect();
        data.clear();
        let mut count = 0;
        for r in columns.iter().flatten() {
            for v in r.point {
                data.extend_from_slice(&v.to_le_bytes());
            }
            data.extend_from_slice(&r.intensity.to_le_bytes());
            data.extend_from_slice(&r.ring.to_le_bytes());
            data.extend_from_slice(&r.time.to_le_bytes());
            if let Some(actor) = r.actor {
                if hits.len() <= actor {
                    hits.resize(
                        actor + 1,
                        ActorHits {
                            points: 0,
                            nearest: f32::NAN,
                        },
                    );
                }
                let h = &mut hits[actor];
                h.points += 1;
                h.nearest = if h.nearest.is_nan() {
                    r.range
                } else {
                    h.nearest.min(r.range)
                };
            }
            count += 1;
        }
        count
    }

    #[allow(clippy::too_many_arguments)]
    fn cast_column(
        &self,
        col: usize,
        terrain: &Terrain,
        parts: &[Part],
        candidates: &[u32],
        origin: &V3,
        rotation: &Matrix3<f64>,
        seed: u64,
    ) -> Vec<Return> {
        let mut rng =
            ChaCha8Rng::seed_from_u64(seed ^ (col as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let noise = Normal::new(0.0, self.spec.range_noise.max(1e-12)).expect("finite sigma");
        let azimuth = std::f64::consts::TAU * col as f64 / self.spec.azimuth_steps as f64;
        let (sin_az, cos_az) = azimuth.sin_cos();
        let time = (col as f64 / self.spec.azimuth_steps as f64 / self.spec.rate_hz) as f32;
        let mut out = Vec::with_capacity(self.beams.len());
        for (ring, &(sin_el, cos_el)) in self.beams.iter().enumerate() {
            let local = V3::new(cos_el * cos_az, cos_el * sin_az, sin_el);
            let dir = rotation * local;
            let mut best = terrain
                .intersect(origin, &dir, self.spec.max_range)
                .map(|(t, n, m)| (t, n, m, None));
            for &index in candidates {
                let part = &parts[index as usize];
                if let Some((t, n)) = part.intersect(origin, &dir)
                    && t <= self.spec.max_range
                    && best.is_none_or(|(b, ..)| t < b)
                {
                    best = Some((t, n, part.material, part.actor));
                }
            }
            let dropped = rng.random_bool(self.spec.dropout.clamp(0.0, 1.0));
            let Some((t, normal, material, actor)) = best else {
                continue;
            };
            if dropped || t < self.spec.min_range {
                continue;
            }
            let range = (t + noise.sample(&mut rng)).max(self.spec.min_range);
            let incidence = (-normal.dot(&dir)).clamp(0.1, 1.0);
            let intensity = (255.0 * reflectivity(material) * incidence
                + rng.random_range(-2.0..2.0))
            .clamp(0.0, 255.0);
            let p = local * range;
            out.push(Return {
                point: [p.x as f32, p.y as f32, p.z as f32],
                intensity: intensity as f32,
                ring: ring as u16,
                time,
                range: range as f32,
                actor,
            });
        }
        out
    }
}

fn reflectivity(material: Material) -> f64 {
    material.reflectivity()
}

/// For each azimuth column, the parts whose azimuth span (seen from the
/// sensor, in the sensor frame) covers it: each ray tests only those.
fn column_candidates(
    parts: &[Part],
    origin: &V3,
    rotation: &Matrix3<f64>,
    steps: usize,
) -> Vec<Vec<u32>> {
    let mut columns = vec![Vec::new(); steps];
    let to_sensor = rotation.transpose();
    let step = std::f64::consts::TAU / steps as f64;
    for (index, part) in parts.iter().enumerate() {
        let corners = part.corners().map(|c| to_sensor * (c - origin));
        let centre = to_sensor * (part.center - origin);
        let centre_az = centre.y.atan2(centre.x);
        let (mut lo, mut hi) = (0.0f64, 0.0f64);
        for c in &corners {
            let d = wrap_angle(c.y.atan2(c.x) - centre_az);
            lo = lo.min(d);
            hi = hi.max(d);
        }
        let inside = centre.x.abs() <= part.half.norm() && centre.y.abs() <= part.half.norm();
        if hi - lo > std::f64::consts::PI || inside {
            columns.iter_mut().for_each(|c| c.push(index as u32));
            continue;
        }
        let first = ((centre_az + lo) / step).floor() as i64 - 1;
        let last = ((centre_az + hi) / step).ceil() as i64 + 1;
        for col in first..=last {
            columns[col.rem_euclid(steps as i64) as usize].push(index as u32);
        }
    }
    columns
}

fn wrap_angle(a: f64) -> f64 {
    let tau = std::f64::consts::TAU;
    let w = a.rem_euclid(tau);
    if w > std::f64::consts::PI { w - tau } else { w }
}
