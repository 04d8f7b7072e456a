//! The ego's recent poses in the fixed frame, as `/tf` gives them (the
//! transform odom → a vehicle frame) or a `nav_msgs/Odometry` topic (the
//! pose of its child frame in its header frame), looked up at an output's
//! stamp in the output's frame.
//!
//! Owns [`EgoPoses`]: per child frame of the fixed frame (at most 8), a
//! bounded, time-ordered buffer (no allocation once full). Never reads a
//! clock; the stamps are header time.

use std::collections::VecDeque;

use super::EgoPose2;
use crate::msg::odometry::Odometry;
use crate::msg::tf::TfMessage;

/// The ground-plane pose of a 3D translation and rotation: x, y and the
/// heading about z.
fn pose2(translation: [f64; 3], [x, y, z, w]: [f64; 4]) -> EgoPose2 {
    EgoPose2 {
        x: translation[0],
        y: translation[1],
        yaw: (2.0 * (w * z + x * y)).atan2(1.0 - 2.0 * (y * y + z * z)),
    }
}

/// Most poses kept (at 100 Hz, 2.5 s).
const CAPACITY: usize = 256;
/// A stamp further than this from every pose has none.
const MAX_GAP_NS: i64 = 150_000_000;
/// Time going back by more than this starts the buffer anew (a loop).
const RESET_NS: i64 = 1_000_000_000;

/// Most child frames followed.
const MAX_FRAMES: usize = 8;

#[derive(Debug, Clone)]
pub struct EgoPoses {
    fixed_frame: String,
    frames: Vec<FramePoses>,
}

#[derive(Debug, Clone)]
struct FramePoses {
    frame: String,
    poses: VecDeque<(i64, EgoPose2)>,
}

impl EgoPoses {
    /// Poses of the vehicle's frames in `fixed_frame`.
    pub fn new(fixed_frame: &str) -> Self {
        EgoPoses {
            fixed_frame: fixed_frame.to_owned(),
            frames: Vec::new(),
        }
    }

    /// Takes the transforms of one `/tf` message that are the ego's pose.
    pub fn observe(&mut self, message: &TfMessage<'_>) {
        for t in &message.transforms {
            if t.header.frame_id == self.fixed_frame {
                let pose = pose2(t.translation, t.rotation_xyzw);
                self.push(t.child_frame_id, t.header.stamp.as_nanos(), pose);
            }
        }
    }

    /// Takes the pose of one odometry message, when it is in the fixed
    /// frame.
    pub fn observe_odometry(&mut self, odometry: &Odometry<'_>) {
        if odometry.header.frame_id == self.fixed_frame {
            let pose = pose2(odometry.position, odometry.orientation_xyzw);
            let stamp = odometry.header.stamp.as_nanos();
            self.push(odometry.child_frame_id, stamp, pose);
        }
    }

    /// Takes the pose of `frame` at `stamp`.
    pub fn push(&mut self, frame: &str, stamp: i64, pose: EgoPose2) {
        let index = match self.frames.iter().position(|f| f.frame == frame) {
            Some(index) => index,
            None if self.frames.len() < MAX_FRAMES => {
                self.frames.push(FramePoses {
                    frame: frame.to_owned(),
                    poses: VecDeque::with_capacity(CAPACITY),
                });
                self.frames.len() - 1
            }
            None => return,
        };
        self.frames[index].push(stamp, pose);
    }

    /// The pose of `frame` at `stamp`: interpolated between the poses
    /// around it, or the nearest one within 150 ms; `None` without one.
    pub fn at(&self, stamp: i64, frame: &str) -> Option<EgoPose2> {
        self.frames.iter().find(|f| f.frame == frame)?.at(stamp)
    }

    /// The pose of `frame` at `stamp`, which may be after the last pose
    /// (the moment an output is published, before odometry has reported
    /// it): extrapolated at the motion between the last two poses, for at
    /// most `MAX_EXTRAPOLATION_NS`; otherwise as [`EgoPoses::at`].
    pub fn predicted(&self, stamp: i64, frame: &str) -> Option<EgoPose2> {
        let poses = &self.frames.iter().find(|f| f.frame == frame)?.poses;
        let n = poses.len();
        let &(t1, b) = poses.back()?;
        if stamp <= t1 || n < 2 || stamp - t1 > MAX_EXTRAPOLATION_NS {
            return self.at(stamp, frame);
        }
        let (t0, a) = poses[n - 2];
        if t1 - t0 > 2 * MAX_GAP_NS {
            return self.at(stamp, frame);
        }
        let f = (stamp - t1) as f64 / (t1 - t0) as f64;
        Some(EgoPose2 {
            x: b.x + f * (b.x - a.x),
            y: b.y + f * (b.y - a.y),
            yaw: b.yaw + f * wrap_angle(b.yaw - a.yaw),
        })
    }
}

/// Extrapolation of the ego's motion reaches this far past its last pose.
const MAX_EXTRAPOLATION_NS: i64 = 500_000_000;

fn wrap_angle(a: f64) -> f64 {
    (a + std::f64::consts::PI).rem_euclid(std::f64::consts::TAU) - std::f64::consts::PI
}

impl FramePoses {
    fn push(&mut self, stamp: i64, pose: EgoPose2) {
        if let Some(&(last, _)) = self.poses.back() {
            if stamp < last - RESET_NS {
                self.poses.clear();
            } else if stamp <= last {
                return;
            }
        }
        if self.poses.len() == CAPACITY {
            self.poses.pop_front();
        }
        self.poses.push_back((stamp, pose));
    }

    fn at(&self, stamp: i64) -> Option<EgoPose2> {
        let after = self.poses.partition_point(|&(t, _)| t < stamp);
        let next = self.poses.get(after);
        let previous = after.checked_sub(1).and_then(|i| self.poses.get(i));
        match (previous, next) {
            (Some(&(t0, a)), Some(&(t1, b))) if t1 - t0 <= 2 * MAX_GAP_NS => {
                let f = if t1 > t0 {
                    (stamp - t0) as f64 / (t1 - t0) as f64
                } else {
                    0.0
                };
                let turn = wrap_angle(b.yaw - a.yaw);
                Some(EgoPose2 {
                    x: a.x + f * (b.x - a.x),
                    y: a.y + f * (b.y - a.y),
                    yaw: a.yaw + f * turn,
                })
            }
            _ => [previous, next]
                .into_iter()
                .flatten()
                .filter(|(t, _)| (t - stamp).abs() <= MAX_GAP_NS)
                .min_by_key(|(t, _)| (t - stamp).abs())
                .map(|&(_, pose)| pose),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::tf::TransformStamped;
    use crate::msg::{Header, Time};

    const MS: i64 = 1_000_000;

    fn tf(
        stamp: i64,
        parent: &'static str,
        child: &'static str,
        x: f64,
        yaw: f64,
    ) -> TfMessage<'static> {
        let (s, c) = (yaw / 2.0).sin_cos();
        TfMessage {
            transforms: vec![TransformStamped {
                header: Header {
                    stamp: Time::from_nanos(stamp),
                    frame_id: parent,
                },
                child_frame_id: child,
                translation: [x, 2.0, 0.0],
                rotation_xyzw: [0.0, 0.0, s, c],
            }],
        }
    }

    #[test]
    fn poses_are_interpolated_and_other_frames_ignored() {
        let mut poses = EgoPoses::new("odom");
        poses.observe(&tf(0, "odom", "lidar", 0.0, 0.1));
        poses.observe(&tf(100 * MS, "odom", "lidar", 1.0, 0.3));
        poses.observe(&tf(50 * MS, "map", "lidar", 99.0, 0.0));
        poses.observe(&tf(60 * MS, "odom", "camera", 99.0, 0.0));
        assert_eq!(poses.at(60 * MS, "camera").unwrap().x, 99.0);
        let mid = poses.at(25 * MS, "lidar").unwrap();
        assert!((mid.x - 0.25).abs() < 1e-9 && (mid.y - 2.0).abs() < 1e-9);
        assert!((mid.yaw - 0.15).abs() < 1e-9);
        // Just past the last pose: the nearest; far past it: none.
        assert_eq!(poses.at(150 * MS, "lidar").unwrap().x, 1.0);
        assert!(poses.at(400 * MS, "lidar").is_none());
        assert!(poses.at(25 * MS, "base_link").is_none(), "no such frame");
        // Predicted past the last pose at the last motion.
        let ahead = poses.predicted(300 * MS, "lidar").unwrap();
        assert!((ahead.x - 3.0).abs() < 1e-9 && (ahead.yaw - 0.7).abs() < 1e-9);
        assert_eq!(
            poses.predicted(50 * MS, "lidar"),
            poses.at(50 * MS, "lidar")
        );
        assert!(poses.predicted(700 * MS, "lidar").is_none());
        // A loop back in time starts anew.
        poses.push("lidar", -5_000 * MS, EgoPose2::default());
        assert!(poses.at(50 * MS, "lidar").is_none());
    }
}
