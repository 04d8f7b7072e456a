//! Fault injection for tests and demos, from the config file: extra delay
//! per stage (fixed, plus seeded random jitter), a stall of one frame, stage
//! errors over a range of frames, and sensor dropout over a span of time.
//! Deterministic: the jitter is a function of the seed and the frame.

use crate::stage::Sensor;
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

impl StageFaults {
    /// Extra run time (ns) injected into frame `frame` of the sensor at
    /// `index`, its jitter drawn from `seed`.
    pub fn delay_ns(&self, seed: u64, index: usize, frame: u64) -> i64 {
        let mut ms = self.delay_ms;
        if self.jitter_ms > 0.0 {
            // The default rig's two sensors keep the keys they always had
            // (so a seeded run replays as before); further sensors take
            // keys of their own.
            let key = match index {
                0 | 1 => frame << 1 | index as u64,
                _ => (frame << 7) | 0x40 | index as u64,
            };
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(
                seed ^ key.wrapping_mul(0x9E37_79B9_7F4A_7C15),
            );
            ms += rng.random_range(0.0..self.jitter_ms);
        }
        if self.stall_frame == Some(frame) {
            ms += self.stall_ms;
        }
        (ms * 1e6) as i64
    }

    pub fn fails(&self, frame: u64) -> bool {
        self.error_frames
            .is_some_and(|[from, to]| (from..to).contains(&frame))
    }

    /// Whether the sensor is silent `seconds` after the first input.
    pub fn dropped_out(&self, seconds: f64) -> bool {
        self.dropout_s
            .is_some_and(|[from, to]| seconds >= from && seconds < to)
    }
}

impl FaultConfig {
    /// The faults of the default rig's sensor `sensor` (its camera or lidar).
    pub fn stage(&self, sensor: Sensor) -> &StageFaults {
        if sensor == Sensor::CAMERA {
            &self.camera
        } else {
            &self.lidar
        }
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
        let (camera, lidar) = (faults.stage(Sensor::CAMERA), faults.stage(Sensor::LIDAR));
        let d = camera.delay_ns(faults.seed, 0, 1);
        assert_eq!(d, camera.delay_ns(faults.seed, 0, 1));
        assert!((5_000_000..7_000_000).contains(&d), "{d}");
        assert_ne!(d, camera.delay_ns(faults.seed, 5, 1), "sensors draw apart");
        assert!(camera.delay_ns(faults.seed, 0, 4) >= 505_000_000);
        assert_eq!(lidar.delay_ns(faults.seed, 1, 4), 0);
        assert!(!camera.fails(9));
        assert!(camera.fails(11));
        assert!(!camera.fails(12));
        assert!(camera.dropped_out(1.5));
        assert!(!camera.dropped_out(2.0));
        assert!(!lidar.dropped_out(1.5));
    }
}
