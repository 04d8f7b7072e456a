//! Lidar points to image pixels and back through the calibration: the
//! lidar -> camera transform, the pinhole intrinsics and plumb_bob
//! distortion, as ROS `camera_calibration` defines them.
//!
//! Owns the geometry only, in `f32` for the per-point path. Never allocates,
//! never fails per point: a point the camera cannot see is `None`.

use crate::calibration::Calibration;
use nalgebra::{Matrix3, Vector3};

/// Points closer to the camera plane than this are not projected.
pub const MIN_DEPTH_M: f32 = 0.1;

#[derive(Debug, Clone, PartialEq)]
pub struct Projector {
    rotation: Matrix3<f32>,
    translation: Vector3<f32>,
    fx: f32,
    fy: f32,
    cx: f32,
    cy: f32,
    /// plumb_bob `[k1, k2, p1, p2, k3]` (zeros past what the file gives).
    distortion: [f32; 5],
    width: f32,
    height: f32,
}

impl Projector {
    /// From a validated calibration.
    pub fn new(calibration: &Calibration) -> Self {
        let camera = &calibration.camera;
        let k = camera.k();
        let mut distortion = [0.0f32; 5];
        for (d, &v) in distortion
            .iter_mut()
            .zip(&camera.distortion_coefficients.data)
        {
            *d = v as f32;
        }
        let extrinsics = &calibration.lidar_to_camera;
        Projector {
            rotation: extrinsics.rotation_matrix().cast(),
            translation: extrinsics.translation().cast(),
            fx: k[0] as f32,
            fy: k[4] as f32,
            cx: k[2] as f32,
            cy: k[5] as f32,
            distortion,
            width: camera.image_width as f32,
            height: camera.image_height as f32,
        }
    }

    pub fn image_size(&self) -> (f32, f32) {
        (self.width, self.height)
    }

    /// A lidar-frame point in the camera frame (x right, y down, z forward).
    pub fn to_camera(&self, p: [f32; 3]) -> [f32; 3] {
        let c = self.rotation * Vector3::from(p) + self.translation;
        [c.x, c.y, c.z]
    }

    /// The pixel a lidar-frame point lands on, or `None` when it is behind
    /// the camera or outside the image.
    pub fn project(&self, p: [f32; 3]) -> Option<[f32; 2]> {
        self.project_unclipped(p)
            .filter(|&pixel| self.contains(pixel))
    }

    /// The image-plane position of a point in front of the camera, also
    /// outside the image (`None` behind it).
    pub fn project_unclipped(&self, p: [f32; 3]) -> Option<[f32; 2]> {
        let [x, y, z] = self.to_camera(p);
        if z < MIN_DEPTH_M {
            return None;
        }
        let [u, v] = self.distort(x / z, y / z);
        Some([self.fx * u + self.cx, self.fy * v + self.cy])
    }

    pub fn contains(&self, pixel: [f32; 2]) -> bool {
        (0.0..self.width).contains(&pixel[0]) && (0.0..self.height).contains(&pixel[1])
    }

    fn distort(&self, x: f32, y: f32) -> [f32; 2] {
        let [k1, k2, p1, p2, k3] = self.distortion;
        let r2 = x * x + y * y;
        let radial = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3));
        [
            x * radial + 2.0 * p1 * x * y + p2 * (r2 + 2.0 * x * x),
            y * radial + p1 * (r2 + 2.0 * y * y) + 2.0 * p2 * x * y,
        ]
    }

    /// Normalized undistorted coordinates of a pixel (fixed-point
    /// iteration, as OpenCV's `undistortPoints`).
    fn undistort(&self, pixel: [f32; 2]) -> [f32; 2] {
        let xd = (pixel[0] - self.cx) / self.fx;
        let yd = (pixel[1] - self.cy) / self.fy;
        let (mut x, mut y) = (xd, yd);
        if self.distortion.iter().all(|&d| d == 0.0) {
            return [x, y];
        }
        for _ in 0..8 {
            let [dx, dy] = self.distort(x, y);
            x += xd - dx;
            y += yd - dy;
        }
        [x, y]
    }

    /// Where the viewing ray through `pixel` meets the horizontal plane
    /// `z = ground_z` of the lidar frame, in the lidar frame; `None` when
    /// the ray points at or above the horizon.
    pub fn ground_point(&self, pixel: [f32; 2], ground_z: f32) -> Option<[f32; 3]> {
        let [x, y] = self.undistort(pixel);
        // Camera -> lidar: p_l = R^T (p_c - t).
        let rt = self.rotation.transpose();
        let origin = -(rt * self.translation);
        let direction = rt * Vector3::new(x, y, 1.0);
        if direction.z > -1e-6 {
            return None;
        }
        let s = (ground_z - origin.z) / direction.z;
        if s <= 0.0 {
            return None;
        }
        let hit = origin + direction * s;
        Some([hit.x, hit.y, hit.z])
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::calibration::{CameraCalibration, Extrinsics};
    use nalgebra::{Matrix3, Vector3};

    /// Lidar x forward, y left, z up; camera z forward, x right, y down,
    /// 0.4 m ahead of and 0.3 m below the lidar origin.
    pub(crate) fn rig(distortion: [f64; 5]) -> Calibration {
        let mut camera = CameraCalibration::pinhole(
            "camera",
            "front",
            (1280, 720),
            (1000.0, 1000.0),
            (640.0, 360.0),
        );
        camera.distortion_coefficients.data = distortion.to_vec();
        Calibration {
            camera,
            // camera x = -lidar y, camera y = -lidar z, camera z = lidar x.
            lidar_to_camera: Extrinsics::from_rotation(
                "lidar",
                "camera",
                &Matrix3::new(0.0, -1.0, 0.0, 0.0, 0.0, -1.0, 1.0, 0.0, 0.0),
                Vector3::new(0.0, -0.3, -0.4),
            ),
        }
    }

    #[test]
    fn known_points_land_on_known_pixels() {
        let p = Projector::new(&rig([0.0; 5]));
        // 10 m straight ahead of the camera: the principal point.
        let ahead = p.project([10.4, 0.0, -0.3]).unwrap();
        assert!(
            (ahead[0] - 640.0).abs() < 1e-3 && (ahead[1] - 360.0).abs() < 1e-3,
            "{ahead:?}"
        );
        // 1 m to the left at 10 m depth: 100 px left of centre.
        let left = p.project([10.4, 1.0, -0.3]).unwrap();
        assert!((left[0] - 540.0).abs() < 1e-3, "{left:?}");
        // 0.5 m up: 50 px up.
        let up = p.project([10.4, 0.0, 0.2]).unwrap();
        assert!((up[1] - 310.0).abs() < 1e-3, "{up:?}");
    }

    #[test]
    fn points_behind_or_outside_are_not_projected() {
        let p = Projector::new(&rig([0.0; 5]));
        assert_eq!(p.project([-5.0, 0.0, 0.0]), None);
        assert_eq!(
            p.project([0.45, 0.0, -0.3]),
            None,
            "closer than MIN_DEPTH_M"
        );
        assert_eq!(p.project([10.4, 20.0, -0.3]), None, "far left of the image");
    }

    #[test]
    fn ground_rays_invert_projection_with_and_without_distortion() {
        for distortion in [[0.0; 5], [-0.28, 0.07, 0.001, -0.0005, 0.0]] {
            let p = Projector::new(&rig(distortion));
            for ground in [[8.0f32, 1.5, -1.9], [25.0, -4.0, -1.9], [40.0, 6.0, -1.9]] {
                let pixel = p.project(ground).unwrap();
                let back = p.ground_point(pixel, -1.9).unwrap();
                for axis in 0..3 {
                    assert!(
                        (back[axis] - ground[axis]).abs() < 0.01 * ground[0],
                        "{distortion:?}: {ground:?} -> {pixel:?} -> {back:?}"
                    );
                }
            }
            // Above the horizon: no ground.
            assert_eq!(p.ground_point([640.0, 100.0], -1.9), None);
        }
    }
}
