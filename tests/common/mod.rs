//! Fixtures shared by the integration tests: small synthetic scenes.
#![allow(dead_code)]

use lookout::synth::{CameraSpec, LidarSpec, SynthOptions};
use std::path::Path;

/// A short, reduced-size scene that synthesizes in well under a second.
pub fn small_scene_options(seconds: f64, seed: u64) -> SynthOptions {
    SynthOptions {
        seconds,
        seed,
        camera: CameraSpec {
            width: 320,
            height: 180,
            fx: 250.0,
            fy: 250.0,
            cx: 160.0,
            cy: 90.0,
            ..CameraSpec::default()
        },
        lidar: LidarSpec {
            azimuth_steps: 512,
            ..LidarSpec::default()
        },
        ..SynthOptions::default()
    }
}

pub fn write_small_scene(path: &Path, seconds: f64, seed: u64) {
    lookout::synth::synthesize(path, &small_scene_options(seconds, seed)).expect("synthesize");
}

pub fn sha256_file(path: &Path) -> String {
    use sha2::Digest;
    let bytes = std::fs::read(path).expect("read file");
    hex::encode(sha2::Sha256::digest(&bytes))
}
