//! A pinhole camera rendered with a z-buffer: the ground is ray cast per
//! pixel, boxes are rasterized face by face (clipped at the near plane,
//! perspective-correct depth) with flat per-face Lambert shading.

use super::scene::{Material, Part, Terrain, V3};
use nalgebra::Matrix3;
use rayon::prelude::*;

#[derive(Debug, Clone, PartialEq)]
pub struct CameraSpec {
    pub frame_id: String,
    pub width: u32,
    pub height: u32,
    pub fx: f64,
    pub fy: f64,
    pub cx: f64,
    pub cy: f64,
    pub rate_hz: f64,
    /// Trigger offset from the lidar's scan start (s): the sensors are not synchronized.
    pub phase: f64,
    /// Mount position in the ego frame; the optical axis looks along ego x.
    pub mount: [f64; 3],
}

impl Default for CameraSpec {
    fn default() -> Self {
        CameraSpec {
            frame_id: "camera".into(),
            width: 1280,
            height: 720,
            fx: 1000.0,
            fy: 1000.0,
            cx: 640.0,
            cy: 360.0,
            rate_hz: 15.0,
            phase: 0.037,
            mount: [0.3, 0.0, 1.5],
        }
    }
}

/// Rotation taking optical-frame vectors (x right, y down, z forward) into
/// the ego frame (x forward, y left, z up).
pub fn ego_from_optical() -> Matrix3<f64> {
    Matrix3::new(0.0, 0.0, 1.0, -1.0, 0.0, 0.0, 0.0, -1.0, 0.0)
}

const NEAR: f64 = 0.05;
const SKY_HORIZON: [f64; 3] = [0.78, 0.84, 0.9];
const SKY_ZENITH: [f64; 3] = [0.35, 0.55, 0.85];

fn sun() -> V3 {
    V3::new(0.4, 0.3, 0.85).normalize()
}

fn base_color(material: Material) -> [f64; 3] {
    match material {
        Material::Road => [0.32, 0.32, 0.34],
        Material::LaneMarking => [0.92, 0.92, 0.9],
        Material::Curb => [0.62, 0.6, 0.58],
        Material::Sidewalk => [0.55, 0.53, 0.5],
        Material::Building => [0.62, 0.52, 0.45],
        Material::Pole => [0.45, 0.47, 0.5],
        Material::Bark => [0.35, 0.25, 0.18],
        Material::Foliage => [0.2, 0.42, 0.16],
        Material::Body(c) => c,
    }
}

fn shade(material: Material, normal: &V3) -> [f64; 3] {
    let light = 0.4 + 0.6 * normal.dot(&sun()).max(0.0);
    base_color(material).map(|c| c * light)
}

/// A face ready to rasterize: screen polygon, inverse-depth plane, colour.
struct Face {
    /// The actor index + 1 it belongs to (0: scenery).
    actor: u32,
    /// Screen vertices (pixel units), counter-clockwise or clockwise.
    vertices: Vec<[f64; 2]>,
    orientation: f64,
    /// Plane in camera coordinates: `n . X = d`.
    normal: V3,
    d: f64,
    color: [u8; 3],
    v_range: (u32, u32),
    u_range: (u32, u32),
}

pub struct Camera {
    spec: CameraSpec,
}

/// One actor as the camera sees it: the bounds of its visible pixels and
/// their count, beside the bounds of its whole box projected (both clipped
/// to the image).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeenActor {
    pub index: usize,
    pub visible_box: [f32; 4],
    pub visible_pixels: u32,
    pub full_box: [f32; 4],
}

impl SeenActor {
    /// Visible pixels over the projected box's area, in [0, 1].
    pub fn visible_share(&self) -> f32 {
        let [x0, y0, x1, y1] = self.full_box;
        let area = ((x1 - x0) * (y1 - y0)).max(1.0);
        (self.visible_pixels as f32 / area).min(1.0)
    }
}

impl Camera {
    pub fn new(spec: CameraSpec) -> Self {
        Camera { spec }
    }

    /// Renders rgb8 into `pixels` (`width * height * 3` bytes) and, per
    /// pixel, the actor seen there into `actors` (`width * height`; actor
    /// index + 1, 0 for scenery and sky).
    pub fn render(
        &self,
        terrain: &Terrain,
        parts: &[Part],
        origin: &V3,
        world_from_optical: &Matrix3<f64>,
        pixels: &mut [u8],
        actors: &mut [u32],
    ) {
        let s = &self.spec;
        let optical_from_world = world_from_optical.transpose();
        let faces: Vec<Face> = parts
            .iter()
            .flat_map(|part| self.faces(part, origin, &optical_from_world))
            .collect();
        let width = s.width as usize;
        pixels
            .par_chunks_mut(width * 3)
            .zip(actors.par_chunks_mut(width))
            .enumerate()
            .for_each(|(row, (line, actor_line))| {
                actor_line.fill(0);
                let mut depth = vec![f64::INFINITY; width];
                let v = row as f64 + 0.5;
                for (col, px) in line.chunks_exact_mut(3).enumerate() {
                    let ray = V3::new((col as f64 + 0.5 - s.cx) / s.fx, (v - s.cy) / s.fy, 1.0);
                    let norm = ray.norm();
                    let dir = world_from_optical * ray / norm;
                    let color = match terrain.intersect(origin, &dir, 400.0) {
                        Some((t, normal, material)) => {
                            depth[col] = t / norm;
                            let haze = (t / 400.0).min(1.0) * 0.6;
                            let c = shade(material, &normal);
                            [0, 1, 2].map(|k| c[k] * (1.0 - haze) + SKY_HORIZON[k] * haze)
                        }
                        None => {
                            let up = dir.z.clamp(0.0, 1.0).sqrt();
                            [0, 1, 2].map(|k| SKY_HORIZON[k] * (1.0 - up) + SKY_ZENITH[k] * up)
                        }
                    };
                    px.copy_from_slice(&color.map(to_byte));
                }
                for face in &faces {
                    if (row as u32) < face.v_range.0 || (row as u32) > face.v_range.1 {
                        continue;
                    }
                    for col in face.u_range.0..=face.u_range.1 {
                        let p = [col as f64 + 0.5, v];
                        if !inside(&face.vertices, face.orientation, p) {
                            continue;
                        }
                        let ray = V3::new((p[0] - s.cx) / s.fx, (p[1] - s.cy) / s.fy, 1.0);
                        let denom = face.normal.dot(&ray);
                        if denom.abs() < 1e-12 {
                            continue;
                        }
                        let z = face.d / denom;
                        let c = col as usize;
                        if z > NEAR && z < depth[c] {
                            depth[c] = z;
                            line[c * 3..c * 3 + 3].copy_from_slice(&face.color);
                            actor_line[c] = face.actor;
                        }
                    }
                }
            });
    }

    /// The actors seen in a frame rendered with `actors` (see [`Camera::render`]);
    /// `boxes(index)` gives an actor's 8 world corners.
    pub fn seen_actors(
        &self,
        actors: &[u32],
        origin: &V3,
        world_from_optical: &Matrix3<f64>,
        corners: impl Fn(usize) -> [V3; 8],
    ) -> Vec<SeenActor> {
        let s = &self.spec;
        let width = s.width as usize;
        let mut seen: Vec<SeenActor> = Vec::new();
        for (i, &id) in actors.iter().enumerate() {
            if id == 0 {
                continue;
            }
            let index = id as usize - 1;
            let (u, v) = ((i % width) as f32, (i / width) as f32);
            let entry = match seen.iter_mut().find(|a| a.index == index) {
                Some(entry) => entry,
                None => {
                    seen.push(SeenActor {
                        index,
                        visible_box: [u, v, u + 1.0, v + 1.0],
                        visible_pixels: 0,
                        full_box: [0.0; 4],
                    });
                    seen.last_mut().expect("just pushed")
                }
            };
            let b = &mut entry.visible_box;
            *b = [
                b[0].min(u),
                b[1].min(v),
                b[2].max(u + 1.0),
                b[3].max(v + 1.0),
            ];
            entry.visible_pixels += 1;
        }
        let optical_from_world = world_from_optical.transpose();
        for entry in &mut seen {
            let mut b = [f64::MAX, f64::MAX, f64::MIN, f64::MIN];
            for corner in corners(entry.index) {
                let p = optical_from_world * (corner - origin);
                let z = p.z.max(NEAR);
                let (u, v) = (s.fx * p.x / z + s.cx, s.fy * p.y / z + s.cy);
                b = [b[0].min(u), b[1].min(v), b[2].max(u), b[3].max(v)];
            }
            let (w, h) = (s.width as f64, s.height as f64);
            entry.full_box = [
                b[0].clamp(0.0, w) as f32,
                b[1].clamp(0.0, h) as f32,
                b[2].clamp(0.0, w) as f32,
                b[3].clamp(0.0, h) as f32,
            ];
        }
        seen.sort_by_key(|a| a.index);
        seen
    }

    fn faces(&self, part: &Part, origin: &V3, optical_from_world: &Matrix3<f64>) -> Vec<Face> {
        let s = &self.spec;
        let corners = part.corners();
        // Corner index bits: 1 = +x, 2 = +y, 4 = +z (see Part::corners).
        const QUADS: [([usize; 4], [f64; 3]); 6] = [
            ([0, 2, 6, 4], [-1.0, 0.0, 0.0]),
            ([1, 5, 7, 3], [1.0, 0.0, 0.0]),
            ([0, 4, 5, 1], [0.0, -1.0, 0.0]),
            ([2, 3, 7, 6], [0.0, 1.0, 0.0]),
            ([0, 1, 3, 2], [0.0, 0.0, -1.0]),
            ([4, 6, 7, 5], [0.0, 0.0, 1.0]),
        ];
        let mut out = Vec::new();
        for (quad, local_normal) in QUADS {
            let normal_world = part.rotate_into_world(&V3::from(local_normal));
            let face_point = corners[quad[0]];
            if normal_world.dot(&(face_point - origin)) >= 0.0 {
                continue; // back face
            }
            let camera_points: Vec<V3> = quad
                .iter()
                .map(|&i| optical_from_world * (corners[i] - origin))
                .collect();
            let clipped = clip_near(&camera_points);
            if clipped.len() < 3 {
                continue;
            }
            let vertices: Vec<[f64; 2]> = clipped
                .iter()
                .map(|p| [s.fx * p.x / p.z + s.cx, s.fy * p.y / p.z + s.cy])
                .collect();
            let (mut u0, mut u1, mut v0, mut v1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
            for [u, v] in &vertices {
                u0 = u0.min(*u);
                u1 = u1.max(*u);
                v0 = v0.min(*v);
                v1 = v1.max(*v);
            }
            if u1 < 0.0 || v1 < 0.0 || u0 >= s.width as f64 || v0 >= s.height as f64 {
                continue;
            }
            let clamp_u = |x: f64| x.clamp(0.0, s.width as f64 - 1.0) as u32;
            let clamp_v = |x: f64| x.clamp(0.0, s.height as f64 - 1.0) as u32;
            let normal = optical_from_world * normal_world;
            let orientation = signed_area(&vertices).signum();
            out.push(Face {
                actor: part.actor.map_or(0, |a| a as u32 + 1),
                orientation,
                d: normal.dot(&camera_points[0]),
                normal,
                color: shade(part.material, &normal_world).map(to_byte),
                u_range: (clamp_u(u0.floor()), clamp_u(u1.ceil())),
                v_range: (clamp_v(v0.floor()), clamp_v(v1.ceil())),
                vertices,
            });
        }
        out
    }
}

fn to_byte(c: f64) -> u8 {
    (c.clamp(0.0, 1.0) * 255.0).round() as u8
}

/// Sutherland-Hodgman against the plane z = NEAR.
fn clip_near(polygon: &[V3]) -> Vec<V3> {
    let mut out = Vec::with_capacity(polygon.len() + 2);
    for i in 0..polygon.len() {
        let a = polygon[i];
        let b = polygon[(i + 1) % polygon.len()];
        let (a_in, b_in) = (a.z >= NEAR, b.z >= NEAR);
        if a_in {
            out.push(a);
        }
        if a_in != b_in {
            let t = (NEAR - a.z) / (b.z - a.z);
            out.push(a + (b - a) * t);
        }
    }
    out
}

fn signed_area(vertices: &[[f64; 2]]) -> f64 {
    let mut area = 0.0;
    for i in 0..vertices.len() {
        let [x0, y0] = vertices[i];
        let [x1, y1] = vertices[(i + 1) % vertices.len()];
        area += x0 * y1 - x1 * y0;
    }
    area / 2.0
}

fn inside(vertices: &[[f64; 2]], orientation: f64, p: [f64; 2]) -> bool {
    (0..vertices.len()).all(|i| {
        let [x0, y0] = vertices[i];
        let [x1, y1] = vertices[(i + 1) % vertices.len()];
        orientation * ((x1 - x0) * (p[1] - y0) - (y1 - y0) * (p[0] - x0)) >= 0.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clipping_keeps_front_part_only() {
        let quad = [
            V3::new(-1.0, 0.0, -1.0),
            V3::new(1.0, 0.0, -1.0),
            V3::new(1.0, 0.0, 3.0),
            V3::new(-1.0, 0.0, 3.0),
        ];
        let clipped = clip_near(&quad);
        assert_eq!(clipped.len(), 4);
        assert!(clipped.iter().all(|p| p.z >= NEAR - 1e-12));
    }

    #[test]
    fn box_in_front_of_camera_is_drawn_over_the_ground() {
        let spec = CameraSpec {
            width: 64,
            height: 48,
            fx: 50.0,
            fy: 50.0,
            cx: 32.0,
            cy: 24.0,
            ..CameraSpec::default()
        };
        let camera = Camera::new(spec);
        let part = Part {
            center: V3::new(10.0, 0.0, 1.5),
            half: V3::new(1.0, 1.0, 1.0),
            yaw: 0.0,
            material: Material::Body([1.0, 0.0, 0.0]),
            actor: Some(0),
        };
        let origin = V3::new(0.0, 0.0, 1.5);
        let mut pixels = vec![0u8; 64 * 48 * 3];
        let mut actors = vec![0u32; 64 * 48];
        camera.render(
            &super::super::scene::Terrain::TOWN,
            &[part],
            &origin,
            &ego_from_optical(),
            &mut pixels,
            &mut actors,
        );
        let centre = (24 * 64 + 32) * 3;
        let px = &pixels[centre..centre + 3];
        assert!(
            px[0] > 80 && px[1] == 0 && px[2] == 0,
            "centre pixel {px:?}"
        );
        assert_eq!(actors[24 * 64 + 32], 1, "the actor is seen at the centre");
        assert_eq!(actors[0], 0, "sky in the corner");
    }
}
