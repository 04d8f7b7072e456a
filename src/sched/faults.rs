//! Fault injection for tests and demos, from the config file: extra delay
//! per stage (fixed, plus seeded random jitter), a stall of one frame, stage
//! errors over a range of frames, and sensor dropout over a span of time.
//! Deterministic: the jitter is a function of the seed and the frame.

use super::core::Sensor;
use rand::RngExt;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

/// Faults of one stage / sensor. Frames are counted per sensor from 0 in
/// arrival order.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct StageFaults {
    /// Added to every run of the stage (milliseconds).
    pub delay_ms: f64,
    /// Plus a uniform random 0..jitter_ms.
    pub jitter_ms: f64,
    /// This frame's run stalls for `stall_ms`.
    pub stall_frame: Option<u64>,
    pub stall_ms: f64,
    /// Frames `[from, to)` fail with an injected stage error.
    pub error_frames: Option<[u64; 2]>,
    /// The sensor delivers nothing between these seconds of input time
    /// (from the first message).
    pub dropout_s: Option<[f64; 2]>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct FaultConfig {
    pub seed: u64,
    pub camera: StageFaults,
    pub lidar: StageFaults,
}

impl FaultConfig {
    pub fn stage(&self, sensor: Sensor) -> &StageFaults {
        match sensor {
            Sensor::Camera => &self.camera,
            Sensor::Lidar => &self.lidar,
        }
    }

    /// Extra run time (ns) injected into frame `frame` of `sensor`.
    pub fn delay_ns(&self, sensor: Sensor, frame: u64) -> i64 {
        let f = self.stage(sensor);
        let mut ms = f.delay_ms;
        if f.jitter_ms > 0.0 {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(
                self.seed ^ (frame << 1 | sensor as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            );
            ms += rng.random_range(0.0..f.jitter_ms);
        }
        if f.stall_frame == Some(frame) {
            ms += f.stall_ms;
        }
        (ms * 1e6) as i64
    }

    pub fn fails(&self, sensor: Sensor, frame: u64) -> bool {
        self.stage(sensor)
            .error_frames
            .is_some_and(|[from, to]| (from..to).contains(&frame))
    }

    /// Whether `sensor` is silent `seconds` after the first input.
    pub fn dropped_out(&self, sensor: Sensor, seconds: f64) -> bool {
        self.stage(sensor)
            .dropout_s
            .is_some_and(|[from, to]| seconds >= from && seconds < to)
    }

    pub fn is_empty(&self) -> bool {
        *self == FaultConfig::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_deterministic_and_limited_to_their_frames() {
        let faults = FaultConfig {
            seed: 3,
            camera: StageFaults {
                delay_ms: 5.0,
                jitter_ms: 2.0,
                stall_frame: Some(4),
                stall_ms: 500.0,
                error_frames: Some([10, 12]),
                dropout_s: Some([1.0, 2.0]),
            },
            ..FaultConfig::default()
        };
        let d = faults.delay_ns(Sensor::Camera, 1);
        assert_eq!(d, faults.delay_ns(Sensor::Camera, 1));
        assert!((5_000_000..7_000_000).contains(&d), "{d}");
        assert!(faults.delay_ns(Sensor::Camera, 4) >= 505_000_000);
        assert_eq!(faults.delay_ns(Sensor::Lidar, 4), 0);
        assert!(!faults.fails(Sensor::Camera, 9));
        assert!(faults.fails(Sensor::Camera, 11));
        assert!(!faults.fails(Sensor::Camera, 12));
        assert!(faults.dropped_out(Sensor::Camera, 1.5));
        assert!(!faults.dropped_out(Sensor::Camera, 2.0));
        assert!(!faults.dropped_out(Sensor::Lidar, 1.5));
    }
}
