//! Sensor calibration files (`calibration/*.yaml`): camera intrinsics in the
//! ROS `camera_calibration` layout and the lidar -> camera extrinsic transform.
//!
//! Owns parsing, validation and writing of that file. Never reads topics.

use nalgebra::{Matrix3, Quaternion, UnitQuaternion, Vector3};
use serde::{Deserialize, Serialize};
use std::path::Path;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum CalibrationError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: invalid YAML: {detail}")]
    Yaml { path: String, detail: String },
    #[error("{field}: {detail}")]
    Invalid { field: &'static str, detail: String },
}

/// A matrix as `camera_calibration` writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct YamlMatrix {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f64>,
}

impl YamlMatrix {
    fn new(rows: usize, cols: usize, data: Vec<f64>) -> Self {
        YamlMatrix { rows, cols, data }
    }

    fn check(
        &self,
        field: &'static str,
        rows: usize,
        cols: Option<usize>,
    ) -> Result<(), CalibrationError> {
        let shape_ok = self.rows == rows
            && cols.is_none_or(|c| self.cols == c)
            && self.data.len() == self.rows * self.cols;
        if !shape_ok {
            return Err(CalibrationError::Invalid {
                field,
                detail: format!(
                    "expected {rows}x{} with matching data, got {}x{} with {} values",
                    cols.map_or("N".to_owned(), |c| c.to_string()),
                    self.rows,
                    self.cols,
                    self.data.len()
                ),
            });
        }
        if self.data.iter().any(|v| !v.is_finite()) {
            return Err(CalibrationError::Invalid {
                field,
                detail: "contains a non-finite value".into(),
            });
        }
        Ok(())
    }
}

/// Camera intrinsics, field names as in ROS `camera_calibration` YAML.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CameraCalibration {
    pub frame_id: String,
    pub camera_name: String,
    pub image_width: u32,
    pub image_height: u32,
    pub camera_matrix: YamlMatrix,
    pub distortion_model: String,
    pub distortion_coefficients: YamlMatrix,
    pub rectification_matrix: YamlMatrix,
    pub projection_matrix: YamlMatrix,
}

/// The rigid transform taking points from `parent_frame` (lidar) into
/// `child_frame` (camera): `p_camera = R * p_lidar + t`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Extrinsics {
    pub parent_frame: String,
    pub child_frame: String,
    pub translation: [f64; 3],
    /// Unit quaternion `[x, y, z, w]`.
    pub rotation_xyzw: [f64; 4],
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub camera: CameraCalibration,
    pub lidar_to_camera: Extrinsics,
}

impl CameraCalibration {
    /// An undistorted pinhole camera.
    /// `size` is (width, height), `focal` (fx, fy), `principal` (cx, cy), all in pixels.
    pub fn pinhole(
        frame_id: &str,
        camera_name: &str,
        (width, height): (u32, u32),
        (fx, fy): (f64, f64),
        (cx, cy): (f64, f64),
    ) -> Self {
        CameraCalibration {
            frame_id: frame_id.to_owned(),
            camera_name: camera_name.to_owned(),
            image_width: width,
            image_height: height,
            camera_matrix: YamlMatrix::new(3, 3, vec![fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0]),
            distortion_model: "plumb_bob".into(),
            distortion_coefficients: YamlMatrix::new(1, 5, vec![0.0; 5]),
            rectification_matrix: YamlMatrix::new(
                3,
                3,
                vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
            ),
            projection_matrix: YamlMatrix::new(
                3,
                4,
                vec![fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0],
            ),
        }
    }

    pub fn k(&self) -> [f64; 9] {
        let mut k = [0.0; 9];
        k.copy_from_slice(&self.camera_matrix.data[..9]);
        k
    }

    pub fn r(&self) -> [f64; 9] {
        let mut r = [0.0; 9];
        r.copy_from_slice(&self.rectification_matrix.data[..9]);
        r
    }

    pub fn p(&self) -> [f64; 12] {
        let mut p = [0.0; 12];
        p.copy_from_slice(&self.projection_matrix.data[..12]);
        p
    }

    fn validate(&self) -> Result<(), CalibrationError> {
        self.camera_matrix
            .check("camera.camera_matrix", 3, Some(3))?;
        self.rectification_matrix
            .check("camera.rectification_matrix", 3, Some(3))?;
        self.projection_matrix
            .check("camera.projection_matrix", 3, Some(4))?;
        self.distortion_coefficients
            .check("camera.distortion_coefficients", 1, None)?;
        let k = self.k();
        if !(k[0] > 0.0 && k[4] > 0.0) {
            return Err(CalibrationError::Invalid {
                field: "camera.camera_matrix",
                detail: format!(
                    "focal lengths must be positive, got fx={} fy={}",
                    k[0], k[4]
                ),
            });
        }
        if self.image_width == 0 || self.image_height == 0 {
            return Err(CalibrationError::Invalid {
                field: "camera.image_width",
                detail: format!(
                    "image size {}x{} is empty",
                    self.image_width, self.image_height
                ),
            });
        }
        let (cx, cy) = (k[2], k[5]);
        if !(0.0..=self.image_width as f64).contains(&cx)
            || !(0.0..=self.image_height as f64).contains(&cy)
        {
            return Err(CalibrationError::Invalid {
                field: "camera.camera_matrix",
                detail: format!(
                    "principal point ({cx}, {cy}) lies outside the {}x{} image",
                    self.image_width, self.image_height
                ),
            });
        }
        Ok(())
    }
}

impl Extrinsics {
    pub fn rotation(&self) -> UnitQuaternion<f64> {
        let [x, y, z, w] = self.rotation_xyzw;
        UnitQuaternion::new_normalize(Quaternion::new(w, x, y, z))
    }

    pub fn rotation_matrix(&self) -> Matrix3<f64> {
        *self.rotation().to_rotation_matrix().matrix()
    }

    pub fn translation(&self) -> Vector3<f64> {
        Vector3::from(self.translation)
    }

    pub fn from_rotation(
        parent: &str,
        child: &str,
        rotation: &Matrix3<f64>,
        translation: Vector3<f64>,
    ) -> Self {
        let q = UnitQuaternion::from_matrix(rotation);
        Extrinsics {
            parent_frame: parent.to_owned(),
            child_frame: child.to_owned(),
            translation: translation.into(),
            rotation_xyzw: [q.i, q.j, q.k, q.w],
        }
    }

    /// The transform taking `child_frame` points back into `parent_frame`.
    pub fn inverse(&self) -> Extrinsics {
        let rotation = self.rotation().inverse();
        let translation = -(rotation * self.translation());
        Extrinsics::from_rotation(
            &self.child_frame,
            &self.parent_frame,
            rotation.to_rotation_matrix().matrix(),
            translation,
        )
    }

    /// `self` (a -> b) followed by `next` (b -> c): the transform a -> c.
    /// Fails, naming both, when `next` does not start where `self` ends.
    pub fn then(&self, next: &Extrinsics) -> Result<Extrinsics, CalibrationError> {
        if self.child_frame != next.parent_frame {
            return Err(CalibrationError::Invalid {
                field: "extrinsics",
                detail: format!(
                    "cannot chain {} -> {} with {} -> {}",
                    self.parent_frame, self.child_frame, next.parent_frame, next.child_frame
                ),
            });
        }
        let rotation = next.rotation() * self.rotation();
        let translation = next.rotation() * self.translation() + next.translation();
        Ok(Extrinsics::from_rotation(
            &self.parent_frame,
            &next.child_frame,
            rotation.to_rotation_matrix().matrix(),
            translation,
        ))
    }

    /// A point of `parent_frame` in `child_frame`.
    pub fn apply(&self, p: [f64; 3]) -> [f64; 3] {
        (self.rotation() * Vector3::from(p) + self.translation()).into()
    }

    fn validate(&self) -> Result<(), CalibrationError> {
        if self.translation.iter().any(|v| !v.is_finite()) {
            return Err(CalibrationError::Invalid {
                field: "lidar_to_camera.translation",
                detail: "contains a non-finite value".into(),
            });
        }
        let norm = self.rotation_xyzw.iter().map(|v| v * v).sum::<f64>().sqrt();
        if !norm.is_finite() || (norm - 1.0).abs() > 1e-6 {
            return Err(CalibrationError::Invalid {
                field: "lidar_to_camera.rotation_xyzw",
                detail: format!("quaternion must have unit norm, has {norm}"),
            });
        }
        if self.parent_frame.is_empty() || self.child_frame.is_empty() {
            return Err(CalibrationError::Invalid {
                field: "lidar_to_camera.parent_frame",
                detail: "frame ids must not be empty".into(),
            });
        }
        Ok(())
    }
}

impl Calibration {
    pub fn validate(&self) -> Result<(), CalibrationError> {
        self.camera.validate()?;
        self.lidar_to_camera.validate()?;
        if self.lidar_to_camera.child_frame != self.camera.frame_id {
            return Err(CalibrationError::Invalid {
                field: "lidar_to_camera.child_frame",
                detail: format!(
                    "{:?} does not match camera.frame_id {:?}",
                    self.lidar_to_camera.child_frame, self.camera.frame_id
                ),
            });
        }
        Ok(())
    }

    pub fn from_yaml(text: &str, origin: &str) -> Result<Self, CalibrationError> {
        let calibration: Calibration =
            serde_yaml::from_str(text).map_err(|e| CalibrationError::Yaml {
                path: origin.to_owned(),
                detail: e.to_string(),
            })?;
        calibration.validate()?;
        Ok(calibration)
    }

    pub fn load(path: &Path) -> Result<Self, CalibrationError> {
        let text = std::fs::read_to_string(path).map_err(|source| CalibrationError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_yaml(&text, &path.display().to_string())
    }

    pub fn to_yaml(&self) -> String {
        let body = serde_yaml::to_string(self).expect("calibration always serializes");
        format!(
            "# Lookout calibration: camera intrinsics (ROS camera_calibration layout)\n# and the lidar -> camera transform (p_camera = R p_lidar + t).\n{body}"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Calibration {
        Calibration {
            camera: CameraCalibration::pinhole(
                "camera",
                "front",
                (1280, 720),
                (1000.0, 1000.0),
                (640.0, 360.0),
            ),
            lidar_to_camera: Extrinsics {
                parent_frame: "lidar".into(),
                child_frame: "camera".into(),
                translation: [0.0, -0.4, -0.3],
                rotation_xyzw: [0.5, -0.5, 0.5, -0.5],
            },
        }
    }

    #[test]
    fn extrinsics_compose_and_invert() {
        // base -> lidar: a lidar mounted 1.9 m up, turned 90 degrees about z
        // (p_lidar = R p_base + t).
        let base_to_lidar = Extrinsics::from_rotation(
            "base_link",
            "lidar",
            &Matrix3::new(0.0, 1.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0, 1.0),
            Vector3::new(0.0, 1.0, -1.9),
        );
        let lidar_to_camera = sample().lidar_to_camera;
        let base_to_camera = base_to_lidar.then(&lidar_to_camera).unwrap();
        assert_eq!(
            (
                base_to_camera.parent_frame.as_str(),
                base_to_camera.child_frame.as_str()
            ),
            ("base_link", "camera")
        );
        for p in [[0.0, 0.0, 0.0], [10.0, -2.0, 0.5], [-3.0, 7.0, 1.0]] {
            let chained = lidar_to_camera.apply(base_to_lidar.apply(p));
            let direct = base_to_camera.apply(p);
            for k in 0..3 {
                assert!((chained[k] - direct[k]).abs() < 1e-9, "{p:?}");
            }
            let back = base_to_camera.inverse().apply(direct);
            for k in 0..3 {
                assert!((back[k] - p[k]).abs() < 1e-9, "{p:?}");
            }
        }
        // A known point: (5, 0, 1.9) in the base frame is (0, -4, 0) in the lidar's.
        let in_lidar = base_to_lidar.apply([5.0, 0.0, 1.9]);
        assert!(
            in_lidar
                .iter()
                .zip([0.0, -4.0, 0.0])
                .all(|(a, b)| (a - b).abs() < 1e-9)
        );
        // Frames that do not meet are refused, naming them.
        let err = lidar_to_camera
            .then(&base_to_lidar)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("lidar -> camera") && err.contains("base_link -> lidar"),
            "{err}"
        );
    }

    #[test]
    fn yaml_round_trip() {
        let c = sample();
        assert_eq!(Calibration::from_yaml(&c.to_yaml(), "test").unwrap(), c);
    }

    #[test]
    fn rejects_bad_values_naming_the_field() {
        let mut c = sample();
        c.camera.camera_matrix.data[0] = -1.0;
        assert!(matches!(
            c.validate(),
            Err(CalibrationError::Invalid {
                field: "camera.camera_matrix",
                ..
            })
        ));
        let mut c = sample();
        c.lidar_to_camera.rotation_xyzw = [0.0, 0.0, 0.0, 2.0];
        assert!(matches!(
            c.validate(),
            Err(CalibrationError::Invalid {
                field: "lidar_to_camera.rotation_xyzw",
                ..
            })
        ));
    }
}
