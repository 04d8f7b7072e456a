//! The fusion step for one scan: pairing with the camera frame (copying its
//! detections) and associating 50 lidar obstacles of 256 points each with
//! 50 detections, on the synthetic rig's calibration. Target: <= 1 ms.

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use lookout::camera::Detection2d;
use lookout::clock::MonotonicClock;
use lookout::fusion::sync::CameraResults;
use lookout::fusion::{Fusion, FusionConfig};
use lookout::msg::ObstacleSource;
use lookout::obstacle::{Box3, Footprint, Obstacle, ObstacleClass, TrackState};
use lookout::synth::{self, SynthOptions};
use std::sync::Arc;

const OBSTACLES: usize = 50;
const DETECTIONS: usize = 50;
const POINTS: usize = 256;

/// Obstacles on a grid ahead (5..45 m, +-10 m), each a block of points.
fn scene() -> (Vec<Obstacle>, Vec<Vec<[f32; 3]>>) {
    let mut obstacles = Vec::new();
    let mut points = Vec::new();
    for k in 0..OBSTACLES {
        let x = 5.0 + (k / 10) as f32 * 8.0;
        let y = -10.0 + (k % 10) as f32 * 2.2;
        points.push(
            (0..POINTS)
                .map(|i| {
                    let (a, b, c) = (i % 8, (i / 8) % 8, i / 64);
                    [
                        x + a as f32 * 0.5,
                        y + b as f32 * 0.2,
                        -1.8 + c as f32 * 0.4,
                    ]
                })
                .collect(),
        );
        obstacles.push(Obstacle {
            id: k as u32 + 1,
            class: ObstacleClass::Car,
            score: 0.6,
            source: ObstacleSource::Lidar,
            bbox: Box3 {
                center: [x as f64 + 2.0, y as f64 + 0.7, -1.0],
                size: [4.0, 1.6, 1.6],
                yaw: 0.0,
            },
            velocity: [0.0; 3],
            point_count: POINTS as u32,
            nearest_distance: x,
            lidar_stamp: 0,
            camera_stamp: 0,
            latency: f32::NAN,
            footprint: Footprint::default(),
            track: TrackState::NONE,
        });
    }
    (obstacles, points)
}

fn fusion_step(c: &mut Criterion) {
    let options = SynthOptions::default();
    let calibration = synth::calibration(&options);
    let (width, height) = (
        calibration.camera.image_width,
        calibration.camera.image_height,
    );
    let classes: Vec<String> = ["car", "truck", "pedestrian", "cyclist"]
        .map(String::from)
        .to_vec();
    let detections: Vec<Detection2d> = (0..DETECTIONS)
        .map(|i| {
            let u = (i % 10) as f32 * width as f32 / 10.0;
            let v = height as f32 * (0.3 + (i / 10) as f32 * 0.1);
            Detection2d {
                class: (i % 4) as u16,
                score: 0.8,
                bbox: [u, v, u + width as f32 / 8.0, v + height as f32 / 6.0],
            }
        })
        .collect();
    let results = Arc::new(CameraResults::new(100));
    results.put(0, (width, height), &detections);
    let camera = lookout::fusion::FusionCamera {
        sensor: lookout::stage::Sensor::CAMERA,
        calibration: &calibration,
        results,
    };
    let mut fusion = Fusion::new(FusionConfig::default(), &classes, vec![camera]);
    let (obstacles, points) = scene();
    let clock = MonotonicClock::new();
    c.bench_function("fusion_step_50_obstacles_50_detections", |b| {
        b.iter_batched_ref(
            || obstacles.clone(),
            |obstacles| fusion.fuse(obstacles, |k| &points[k], 0, i64::MAX, &clock, -1.9),
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, fusion_step);
criterion_main!(benches);
