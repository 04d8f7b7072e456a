//! The constant-velocity Kalman filter of one track: state (x, y, vx, vy)
//! in the tracking frame, its covariance, and the predict and update steps.
//!
//! Owns [`ConstantVelocity`]. Fixed-size matrices (nalgebra's stack types):
//! nothing here allocates. Never decides association or a track's life.

use nalgebra::{Matrix2, Matrix2x4, Matrix4, Matrix4x2, Vector2, Vector4};

/// A constant-velocity state with white-noise acceleration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConstantVelocity {
    /// x, y (m), vx, vy (m/s).
    pub state: Vector4<f64>,
    pub covariance: Matrix4<f64>,
}

/// Observation of the position: H = [I 0].
fn h() -> Matrix2x4<f64> {
    Matrix2x4::new(1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0)
}

impl ConstantVelocity {
    /// A track born at `position`: at rest, with the velocity unknown to
    /// `velocity_sd` (m/s) and the position to `position_sd` (m).
    pub fn new(position: [f64; 2], position_sd: f64, velocity_sd: f64) -> Self {
        let p = position_sd * position_sd;
        let v = velocity_sd * velocity_sd;
        ConstantVelocity {
            state: Vector4::new(position[0], position[1], 0.0, 0.0),
            covariance: Matrix4::from_diagonal(&Vector4::new(p, p, v, v)),
        }
    }

    /// The state `dt` seconds on, with the uncertainty of an unknown
    /// acceleration of standard deviation `accel_sd` (m/s²) over it.
    pub fn predict(&mut self, dt: f64, accel_sd: f64) {
        if dt <= 0.0 {
            return;
        }
        let f = Matrix4::new(
            1.0, 0.0, dt, 0.0, //
            0.0, 1.0, 0.0, dt, //
            0.0, 0.0, 1.0, 0.0, //
            0.0, 0.0, 0.0, 1.0,
        );
        let q = accel_sd * accel_sd;
        let (dt2, dt3, dt4) = (dt * dt, dt * dt * dt, dt * dt * dt * dt);
        // Discrete white-noise acceleration (Bar-Shalom), per axis.
        let noise = Matrix4::new(
            dt4 / 4.0,
            0.0,
            dt3 / 2.0,
            0.0, //
            0.0,
            dt4 / 4.0,
            0.0,
            dt3 / 2.0, //
            dt3 / 2.0,
            0.0,
            dt2,
            0.0, //
            0.0,
            dt3 / 2.0,
            0.0,
            dt2,
        ) * q;
        self.state = f * self.state;
        self.covariance = f * self.covariance * f.transpose() + noise;
    }

    /// The position's innovation covariance with measurement noise
    /// `position_sd` (m).
    pub fn innovation_covariance(&self, position_sd: f64) -> Matrix2<f64> {
        let h = h();
        h * self.covariance * h.transpose() + Matrix2::identity() * (position_sd * position_sd)
    }

    /// The squared Mahalanobis distance of a measured position from the
    /// predicted one; infinite when the covariance is degenerate.
    pub fn mahalanobis2(&self, position: [f64; 2], position_sd: f64) -> f64 {
        let innovation = Vector2::new(position[0] - self.state.x, position[1] - self.state.y);
        match self.innovation_covariance(position_sd).try_inverse() {
            Some(inverse) => (innovation.transpose() * inverse * innovation)[0],
            None => f64::INFINITY,
        }
    }

    /// Takes a measured position in (Joseph form, which keeps the
    /// covariance symmetric and positive).
    pub fn update(&mut self, position: [f64; 2], position_sd: f64) {
        let h = h();
        let s = self.innovation_covariance(position_sd);
        let Some(s_inverse) = s.try_inverse() else {
            return;
        };
        let gain: Matrix4x2<f64> = self.covariance * h.transpose() * s_inverse;
        let innovation = Vector2::new(position[0] - self.state.x, position[1] - self.state.y);
        self.state += gain * innovation;
        let i_kh = Matrix4::identity() - gain * h;
        let r = Matrix2::identity() * (position_sd * position_sd);
        self.covariance = i_kh * self.covariance * i_kh.transpose() + gain * r * gain.transpose();
    }

    pub fn position(&self) -> [f64; 2] {
        [self.state.x, self.state.y]
    }

    pub fn velocity(&self) -> [f64; 2] {
        [self.state.z, self.state.w]
    }

    /// The position's covariance (m², x and y, row major).
    pub fn position_covariance(&self) -> [f64; 4] {
        let c = &self.covariance;
        [c[(0, 0)], c[(0, 1)], c[(1, 0)], c[(1, 1)]]
    }

    /// The larger of the position's two variances (m²).
    pub fn position_variance(&self) -> f64 {
        self.covariance[(0, 0)].max(self.covariance[(1, 1)])
    }

    /// Moves the state into another frame: `rotation` (radians about z)
    /// then `translation`; the covariance turns with it.
    pub fn transform(&mut self, rotation: f64, translation: [f64; 2]) {
        let (s, c) = rotation.sin_cos();
        let r = Matrix4::new(
            c, -s, 0.0, 0.0, //
            s, c, 0.0, 0.0, //
            0.0, 0.0, c, -s, //
            0.0, 0.0, s, c,
        );
        self.state = r * self.state;
        self.state.x += translation[0];
        self.state.y += translation[1];
        self.covariance = r * self.covariance * r.transpose();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Noise-free positions of a target at constant velocity: the filter's
    /// velocity converges to it, and its variance shrinks.
    #[test]
    fn converges_on_a_constant_velocity() {
        let mut filter = ConstantVelocity::new([10.0, -2.0], 0.2, 10.0);
        let first = filter.position_variance();
        for k in 1..=30 {
            let t = k as f64 * 0.1;
            filter.predict(0.1, 1.0);
            filter.update([10.0 + 8.0 * t, -2.0 - 1.5 * t], 0.2);
        }
        let [vx, vy] = filter.velocity();
        assert!(
            (vx - 8.0).abs() < 0.05 && (vy + 1.5).abs() < 0.05,
            "{vx} {vy}"
        );
        assert!(filter.position_variance() < first);
        // Symmetric after many updates (Joseph form).
        let p = filter.covariance;
        assert!((p - p.transpose()).abs().max() < 1e-12);
    }

    #[test]
    fn prediction_moves_by_the_velocity_and_grows_the_uncertainty() {
        let mut filter = ConstantVelocity::new([0.0, 0.0], 0.2, 1.0);
        filter.state.z = 2.0;
        let before = filter.position_variance();
        filter.predict(0.5, 2.0);
        assert!((filter.position()[0] - 1.0).abs() < 1e-12);
        assert!(filter.position_variance() > before);
        // A gate distance grows with the miss and shrinks with the noise.
        let near = filter.mahalanobis2([1.1, 0.0], 0.2);
        let far = filter.mahalanobis2([3.0, 0.0], 0.2);
        assert!(near < far);
    }

    #[test]
    fn a_frame_change_turns_position_and_velocity() {
        let mut filter = ConstantVelocity::new([1.0, 0.0], 0.2, 1.0);
        filter.state.z = 1.0;
        filter.transform(std::f64::consts::FRAC_PI_2, [5.0, 0.0]);
        let ([x, y], [vx, vy]) = (filter.position(), filter.velocity());
        assert!((x - 5.0).abs() < 1e-12 && (y - 1.0).abs() < 1e-12);
        assert!(vx.abs() < 1e-12 && (vy - 1.0).abs() < 1e-12);
    }
}
