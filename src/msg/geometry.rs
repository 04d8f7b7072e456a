//! `geometry_msgs` pieces shared by the message formats other stacks read
//! (vision_msgs, Autoware): a pose from a ground box, a covariance from the
//! tracker's, a twist, a polygon. Encoders only, straight into the
//! writer (no allocation), for the output formats in [`super::vision`] and
//! [`super::autoware`].

use crate::cdr::CdrWriter;
use crate::obstacle::{Obstacle, TrackState};

/// `geometry_msgs/Pose` of a box on the ground: its centre, turned `yaw`
/// about z.
pub(crate) fn pose(w: &mut CdrWriter, center: &[f64; 3], yaw: f64) {
    let (s, c) = (0.5 * yaw).sin_cos();
    w.f64_slice(center).f64_slice(&[0.0, 0.0, s, c]);
}

/// `float64[36]` of a `PoseWithCovariance`: the track's x/y covariance in
/// its place (row major over x, y, z, roll, pitch, yaw), zeros elsewhere
/// and everywhere without a track.
pub(crate) fn pose_covariance(w: &mut CdrWriter, track: &TrackState) {
    let mut covariance = [0.0; 36];
    if track.is_tracked() {
        let [xx, xy, yx, yy] = track.position_covariance.map(f64::from);
        covariance[0] = xx;
        covariance[1] = xy;
        covariance[6] = yx;
        covariance[7] = yy;
    }
    w.f64_slice(&covariance);
}

/// `geometry_msgs/PoseWithCovariance` of an obstacle.
pub(crate) fn pose_with_covariance(w: &mut CdrWriter, o: &Obstacle) {
    pose(w, &o.bbox.center, o.bbox.yaw);
    pose_covariance(w, &o.track);
}

/// `geometry_msgs/TwistWithCovariance` (or `AccelWithCovariance`, the same
/// layout) with a linear part, no angular part and no covariance.
pub(crate) fn linear_with_zero_covariance(w: &mut CdrWriter, linear: [f64; 3]) {
    w.f64_slice(&linear)
        .f64_slice(&[0.0; 3])
        .f64_slice(&[0.0; 36]);
}

/// The obstacle's velocity in its own frame (x along its heading), as
/// Autoware's kinematics carry it.
pub(crate) fn velocity_in_object_frame(o: &Obstacle) -> [f64; 3] {
    let (s, c) = o.bbox.yaw.sin_cos();
    let [vx, vy, vz] = o.velocity;
    [c * vx + s * vy, -s * vx + c * vy, vz]
}

/// `geometry_msgs/Polygon` of the obstacle's footprint in its own frame
/// (relative to the centre, x along its heading), on the ground (z at the
/// box's bottom relative to the centre).
pub(crate) fn footprint_in_object_frame(w: &mut CdrWriter, o: &Obstacle) {
    let (s, c) = o.bbox.yaw.sin_cos();
    let [cx, cy, _] = o.bbox.center;
    let vertices = o.footprint.vertices();
    w.sequence_len(vertices.len());
    let z = (-0.5 * o.bbox.size[2]) as f32;
    for &[x, y] in vertices {
        let (dx, dy) = (f64::from(x) - cx, f64::from(y) - cy);
        w.f32((c * dx + s * dy) as f32)
            .f32((-s * dx + c * dy) as f32)
            .f32(z);
    }
}

/// A `u32` in decimal, on the stack (a string field without allocating).
pub(crate) fn decimal(value: u32, buf: &mut [u8; 10]) -> &str {
    let mut n = value;
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // Only ASCII digits were written.
    std::str::from_utf8(&buf[i..]).unwrap_or("0")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn decimal_writes_every_digit() {
        let mut buf = [0; 10];
        assert_eq!(decimal(0, &mut buf), "0");
        assert_eq!(decimal(7, &mut buf), "7");
        assert_eq!(decimal(1_234_567_890, &mut buf), "1234567890");
        assert_eq!(decimal(u32::MAX, &mut buf), "4294967295");
    }

    #[test]
    fn velocity_turns_into_the_heading() {
        let mut o = test_obstacle();
        o.bbox.yaw = std::f64::consts::FRAC_PI_2;
        o.velocity = [0.0, 5.0, 0.0];
        let v = velocity_in_object_frame(&o);
        assert!((v[0] - 5.0).abs() < 1e-12 && v[1].abs() < 1e-12, "{v:?}");
    }

    pub(crate) fn test_obstacle() -> Obstacle {
        use crate::obstacle::{Box3, Footprint, ObstacleClass, ObstacleSource};
        Obstacle {
            id: 0,
            class: ObstacleClass::Car,
            score: 0.9,
            source: ObstacleSource::Lidar,
            bbox: Box3 {
                center: [10.0, 2.0, 0.8],
                size: [4.5, 1.8, 1.6],
                yaw: 0.0,
            },
            velocity: [0.0; 3],
            point_count: 100,
            nearest_distance: 8.0,
            lidar_stamp: 0,
            camera_stamp: 0,
            latency: f32::NAN,
            footprint: Footprint::default(),
            track: TrackState::NONE,
        }
    }
}
