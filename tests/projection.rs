//! Camera projection with lens distortion, checked against OpenCV: the
//! projector fusion uses (`lookout::fusion::project`, plumb_bob as ROS
//! `camera_calibration` defines it) puts points where `cv2.projectPoints`
//! does, for a wide-angle lens with strong barrel distortion and a
//! tangential part, across the whole image out to where the lens folds.

mod common;

use lookout::calibration::{Calibration, CameraCalibration, Extrinsics};
use lookout::fusion::project::Projector;
use nalgebra::{Matrix3, Rotation3, Vector3};
use std::process::Command;

/// A 1920x1080 camera with a wide lens (about 100 degrees across), turned
/// and offset against the lidar like a real mount.
fn distorted_rig() -> Calibration {
    let mut camera = CameraCalibration::pinhole(
        "camera",
        "wide",
        (1920, 1080),
        (800.0, 795.0),
        (955.0, 545.0),
    );
    camera.distortion_coefficients.data = vec![-0.31, 0.11, 0.0012, -0.0009, -0.018];
    // Optical axes (z forward, x right, y down) from the lidar's (x
    // forward, y left, z up), then a few degrees of yaw, pitch and roll.
    let optical: Matrix3<f64> = Matrix3::new(0.0, -1.0, 0.0, 0.0, 0.0, -1.0, 1.0, 0.0, 0.0);
    let tilt = Rotation3::from_euler_angles(0.03, -0.05, 0.08);
    let rotation = tilt.matrix() * optical;
    let lidar_to_camera = Extrinsics::from_rotation(
        "lidar",
        "camera",
        &rotation,
        Vector3::new(0.05, 0.42, -0.31),
    );
    let calibration = Calibration {
        camera,
        lidar_to_camera,
    };
    calibration.validate().unwrap();
    calibration
}

/// Points in front of the camera, spread over its view out to the
/// corners, at 3 to 40 m.
fn points() -> Vec<[f32; 3]> {
    let mut points = Vec::new();
    for i in 0..25 {
        for j in 0..15 {
            let range = 3.0 + ((i * 7 + j * 3) % 38) as f32;
            let bearing = (-1.4 + 2.8 * i as f32 / 24.0) * range;
            let height = (-0.8 + 1.6 * j as f32 / 14.0) * range;
            points.push([range, bearing, height]);
        }
    }
    points
}

#[test]
fn distorted_projection_agrees_with_opencv_project_points() {
    let Some(python) = common::python(
        "distorted_projection_agrees_with_opencv_project_points",
        "cv2, numpy",
    ) else {
        return;
    };
    let calibration = distorted_rig();
    let projector = Projector::new(&calibration);
    let points = points();
    let e = &calibration.lidar_to_camera;
    let input = serde_json::json!({
        "points": points,
        "rotation": e.rotation_matrix().transpose().as_slice(),
        "translation": e.translation,
        "k": calibration.camera.k(),
        "d": calibration.camera.distortion_coefficients.data,
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("input.json");
    std::fs::write(&path, input.to_string()).unwrap();
    let script = r#"
import json, sys
import cv2, numpy as np
d = json.load(open(sys.argv[1]))
r = np.array(d["rotation"], dtype=np.float64).reshape(3, 3)
rvec, _ = cv2.Rodrigues(r)
pixels, _ = cv2.projectPoints(np.array(d["points"], dtype=np.float64).reshape(-1, 1, 3),
                              rvec, np.array(d["translation"], dtype=np.float64),
                              np.array(d["k"], dtype=np.float64).reshape(3, 3),
                              np.array(d["d"], dtype=np.float64))
print(json.dumps(pixels.reshape(-1, 2).tolist()))
"#;
    let out = common::stdout_of(Command::new(python).args(["-c", script, path.to_str().unwrap()]));
    let opencv: Vec<[f64; 2]> = serde_json::from_slice(&out).unwrap();
    assert_eq!(opencv.len(), points.len());
    let (mut compared, mut worst, mut corner) = (0, 0.0f64, 0.0f64);
    for (p, cv) in points.iter().zip(&opencv) {
        let Some(pixel) = projector.project(*p) else {
            // Outside the image for OpenCV too (or behind the camera).
            let inside = (0.0..1920.0).contains(&cv[0]) && (0.0..1080.0).contains(&cv[1]);
            assert!(
                !inside || projector.to_camera(*p)[2] < 0.1,
                "{p:?} -> {cv:?}"
            );
            continue;
        };
        let error = (pixel[0] as f64 - cv[0]).hypot(pixel[1] as f64 - cv[1]);
        worst = worst.max(error);
        let from_centre = (cv[0] - 955.0).hypot(cv[1] - 545.0);
        corner = corner.max(from_centre);
        compared += 1;
    }
    println!(
        "{compared} points compared, worst {worst:.4} px, out to {corner:.0} px from the centre"
    );
    assert!(compared >= 150, "only {compared} points in the image");
    // The lens folds back (its radial polynomial turns down) about 800 px
    // out: as far into the corners as it images at all.
    assert!(
        corner > 750.0,
        "the image's edges were not reached ({corner:.0} px)"
    );
    // f32 arithmetic against OpenCV's f64: well under a hundredth of a pixel.
    assert!(worst < 0.01, "worst disagreement {worst} px");
}
