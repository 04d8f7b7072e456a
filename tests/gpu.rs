//! The GPU path (`cuda` feature). CI has no GPU: there the CPU fallback is
//! tested, and the tests that need a GPU are `#[ignore]`d; on a GPU machine
//! `scripts/gpu-check.sh` runs them (`-- --ignored`).
#![cfg(feature = "cuda")]

use lookout::camera::CameraStage;
use lookout::camera::engine::EngineOptions;
use lookout::camera::gpu_check as check;
use lookout::camera::spec::ModelSpec;
use lookout::gpu::{Device, GpuOptions};
use std::path::PathBuf;

/// The repository: `LOOKOUT_ROOT` when the test binary was built elsewhere
/// (the GPU machine runs a binary carried from the build machine).
fn root() -> PathBuf {
    std::env::var_os("LOOKOUT_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

fn nanodet() -> ModelSpec {
    ModelSpec::load(&root().join("models/nanodet-m-416.yaml")).unwrap()
}

fn cuda() -> GpuOptions {
    GpuOptions {
        device: Device::Cuda,
        ..GpuOptions::default()
    }
}

/// Without a usable GPU (CI), a stage asked to preprocess on the GPU runs
/// on the CPU and detects as before.
#[test]
fn without_a_gpu_the_stage_preprocesses_on_the_cpu() {
    if let lookout::gpu::Availability::Gpu(_) = lookout::gpu::probe(0) {
        return; // a GPU machine: the ignored tests below cover it
    }
    let options = EngineOptions {
        gpu: cuda(),
        ..EngineOptions::default()
    };
    let mut stage = CameraStage::load(nanodet(), &options).unwrap();
    assert!(!stage.preprocesses_on_gpu());
    let frame = check::TestFrame::new(640, 480, lookout::frames::PixelEncoding::Rgb8, 0, 1);
    let mut out = Vec::new();
    stage.process(&frame.frame(), &mut out).unwrap();
}

#[test]
#[ignore = "needs an NVIDIA GPU: scripts/gpu-check.sh"]
fn gpu_preprocessing_matches_the_cpu_path_within_1_255() {
    let agreement = check::preprocessing_agreement(&cuda()).unwrap();
    assert!(agreement.cases >= 48, "{agreement:?}");
    assert!(
        agreement.max_abs_diff <= check::AGREEMENT_BOUND,
        "{agreement:?}"
    );
}

#[test]
#[ignore = "needs an NVIDIA GPU: scripts/gpu-check.sh"]
fn gpu_pinned_and_pageable_copies_are_measured() {
    let b = check::h2d_bandwidth(&cuda(), 16 << 20, 5).unwrap();
    assert!(b.pinned_gbps > 0.0 && b.pageable_gbps > 0.0, "{b:?}");
}

#[test]
#[ignore = "needs an NVIDIA GPU: scripts/gpu-check.sh"]
fn gpu_lanes_time_every_stage_with_events() {
    for graph in [false, true] {
        let options = GpuOptions {
            cuda_graph: graph,
            ..cuda()
        };
        let lanes = check::lane_timing(&options, 20).unwrap();
        assert_eq!(lanes.len(), 2);
        for lane in &lanes {
            assert!(lane.preprocess.median > 0.0, "{lane:?}");
            assert!(lane.download.median > 0.0, "{lane:?}");
        }
        // Two lanes at the two ends of the device's priority range.
        assert!(lanes[0].priority <= lanes[1].priority);
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU: scripts/gpu-check.sh"]
fn gpu_stream_priority_is_measured_under_contention() {
    let c = check::priority_under_contention(&cuda(), 20).unwrap();
    for s in [c.idle, c.greatest_priority, c.least_priority] {
        assert!(s.median > 0.0 && s.median.is_finite(), "{c:?}");
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU: scripts/gpu-check.sh"]
fn gpu_camera_stage_detects_as_on_the_cpu() {
    let (count, boxes, scores) = check::camera_stage_agreement(&nanodet(), &cuda()).unwrap();
    // Identical tensors give identical detections; allow for nothing more
    // than float noise.
    assert!(boxes < 0.5 && scores < 1e-3, "{count} {boxes} {scores}");
}
