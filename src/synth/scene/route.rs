//! How actors move: the routes ([`Route`]), the junction manoeuvre
//! ([`Turn`]) and the speed profiles with stops ([`Stop`], crossings that
//! wait at the curbs).
//!
//! Owns the motion along a route only (distance, heading, speed over
//! time). Never places an actor in the world window or builds its boxes:
//! [`super::Scene::actor_states`] does.

use std::f64::consts::FRAC_PI_2;

/// How an actor moves. Every position wraps in x around the ego's window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Route {
    /// Along the road at `speed`: yaw 0, or pi when oncoming (all the town).
    Road,
    /// Standing at (x0, y) facing `yaw`: parked vehicles, waiting pedestrians.
    Still { yaw: f64 },
    /// Walking back and forth across the road at x0 between y = -`reach`
    /// and +`reach`, at |speed|, standing `dwell` seconds at each curb
    /// before crossing again (stop and go), `phase` metres into the walk at
    /// t = 0.
    Crossing { reach: f64, phase: f64, dwell: f64 },
    /// Through the junction at x0: `lead` metres straight along `heading`
    /// to a quarter turn of `radius` (left when `left`) about the corner
    /// (x0 + corner.0, corner.1), then `tail` metres straight, repeated;
    /// braking to a stop on the way in when `stop` says so.
    Turn(Turn),
}

/// A stop on a looping route: braking at `decel` (m/s²) to stand still
/// `at` metres into the loop for `wait` seconds, then pulling away at the
/// same rate back to the actor's speed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stop {
    pub at: f64,
    pub wait: f64,
    pub decel: f64,
}

impl Stop {
    /// Seconds from one stop to the next on a loop of `length` metres.
    pub fn cycle(&self, length: f64, speed: f64) -> f64 {
        let speed = speed.min((self.decel * length).sqrt());
        self.wait + length / speed + speed / self.decel
    }

    /// Distance into a loop of `length` metres (in `[0, length)`) and speed
    /// at `t` seconds into the actor's cycle, for a cruising `speed`. The
    /// cycle starts standing at the stop; a loop too short to reach the
    /// speed between stops is driven at the speed it allows.
    pub fn along(&self, length: f64, speed: f64, t: f64) -> (f64, f64) {
        let speed = speed.min((self.decel * length).sqrt());
        let ramp_t = speed / self.decel;
        let ramp_d = speed * speed / (2.0 * self.decel);
        let cruise_t = (length - 2.0 * ramp_d) / speed;
        let cycle = self.cycle(length, speed);
        let tau = t.rem_euclid(cycle);
        let (d, v) = if tau < self.wait {
            (0.0, 0.0)
        } else if tau < self.wait + ramp_t {
            let a = tau - self.wait;
            (self.decel * a * a / 2.0, self.decel * a)
        } else if tau < self.wait + ramp_t + cruise_t {
            (ramp_d + speed * (tau - self.wait - ramp_t), speed)
        } else {
            let left = cycle - tau;
            (length - self.decel * left * left / 2.0, self.decel * left)
        };
        ((self.at + d).rem_euclid(length), v)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Turn {
    pub corner: (f64, f64),
    pub heading: f64,
    pub left: bool,
    pub radius: f64,
    pub lead: f64,
    pub tail: f64,
    /// Metres into the manoeuvre at t = 0 (with a stop: the cruising
    /// speed's seconds of it, into the stop's cycle).
    pub phase: f64,
    pub stop: Option<Stop>,
}

impl Turn {
    fn arc(&self) -> f64 {
        self.radius * FRAC_PI_2
    }

    pub(super) fn length(&self) -> f64 {
        self.lead + self.arc() + self.tail
    }

    /// Position (relative to the junction) and heading `s` metres in.
    pub(super) fn at(&self, s: f64) -> (f64, f64, f64) {
        let (sh, ch) = self.heading.sin_cos();
        let turn = if self.left { FRAC_PI_2 } else { -FRAC_PI_2 };
        // The arc starts `radius` before the corner, on the entry line.
        let start = (
            self.corner.0 - (self.lead + self.radius) * ch,
            self.corner.1 - (self.lead + self.radius) * sh,
        );
        if s <= self.lead {
            return (start.0 + s * ch, start.1 + s * sh, self.heading);
        }
        let entry = (start.0 + self.lead * ch, start.1 + self.lead * sh);
        let side = if self.left { 1.0 } else { -1.0 };
        // Centre of the arc: `radius` to the inside of the entry heading.
        let centre = (
            entry.0 - side * self.radius * sh,
            entry.1 + side * self.radius * ch,
        );
        let swept = ((s - self.lead) / self.radius).min(FRAC_PI_2);
        let heading = self.heading + side * swept;
        let (sa, ca) = heading.sin_cos();
        let on_arc = (
            centre.0 + side * self.radius * sa,
            centre.1 - side * self.radius * ca,
        );
        if s <= self.lead + self.arc() {
            return (on_arc.0, on_arc.1, heading);
        }
        let out = s - self.lead - self.arc();
        let exit_heading = self.heading + turn;
        let (se, ce) = exit_heading.sin_cos();
        (on_arc.0 + out * ce, on_arc.1 + out * se, exit_heading)
    }
}

/// Where a crossing pedestrian is at `t` (walking at `speed` between
/// -`reach` and +`reach`, `dwell` seconds at each end, `phase` metres into
/// the walk at t = 0): lateral offset, heading sign (+1 towards +y) and
/// speed. Standing at a curb, it faces the road it is about to cross.
pub(super) fn crossing(reach: f64, dwell: f64, speed: f64, phase: f64, t: f64) -> (f64, f64, f64) {
    let walk_t = 2.0 * reach / speed;
    let cycle = 2.0 * (walk_t + dwell);
    let tau = (phase / speed + t).rem_euclid(cycle);
    if tau < walk_t {
        (-reach + speed * tau, 1.0, speed)
    } else if tau < walk_t + dwell {
        (reach, -1.0, 0.0)
    } else if tau < 2.0 * walk_t + dwell {
        (reach - speed * (tau - walk_t - dwell), -1.0, speed)
    } else {
        (-reach, 1.0, 0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Position by finite difference agrees with the reported speed, and
    /// the stop is reached and held.
    #[test]
    fn a_stop_brakes_waits_and_pulls_away() {
        let stop = Stop {
            at: 18.0,
            wait: 1.5,
            decel: 2.5,
        };
        let (length, speed) = (60.0, 6.0);
        let (start, v0) = stop.along(length, speed, 0.0);
        assert_eq!((start, v0), (18.0, 0.0));
        assert_eq!(stop.along(length, speed, 1.4), (18.0, 0.0));
        let dt = 1e-4;
        let mut top: f64 = 0.0;
        for k in 0..400 {
            let t = k as f64 * 0.05;
            let (a, v) = stop.along(length, speed, t);
            let (b, _) = stop.along(length, speed, t + dt);
            let moved = (b - a).rem_euclid(length);
            assert!((moved / dt - v).abs() < 1e-2, "t {t}: {moved} vs {v}");
            assert!(v <= speed + 1e-9);
            top = top.max(v);
        }
        assert!((top - speed).abs() < 1e-9);
    }

    #[test]
    fn crossing_walkers_wait_at_each_curb() {
        let (reach, dwell, speed) = (8.0, 3.0, 1.6);
        // 10 s to cross, 3 s at the far curb, 10 s back, 3 s at the near one.
        assert_eq!(
            crossing(reach, dwell, speed, 0.0, 0.0),
            (-reach, 1.0, speed)
        );
        let (y, dir, v) = crossing(reach, dwell, speed, 0.0, 11.0);
        assert_eq!((y, dir, v), (reach, -1.0, 0.0));
        let (y, _, v) = crossing(reach, dwell, speed, 0.0, 18.0);
        assert!((y - 0.0).abs() < 1e-9 && v == speed);
        assert_eq!(crossing(reach, dwell, speed, 0.0, 24.0), (-reach, 1.0, 0.0));
    }
}
