//! What a build without an optional feature does when asked for it: each
//! command that needs `ros2`, `cuda` or `onnxruntime` names the feature and
//! fails, and nothing else changes. scripts/test.sh runs this file in the
//! default build (a newcomer's `cargo run`) and in the all-features build,
//! where the other branch of each test runs.

use std::path::Path;
use std::process::{Command, Output};

fn lookout(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lookout"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs `lookout ARGS`, which must fail; gives its stderr.
fn fails(args: &[&str]) -> String {
    let output = lookout(args);
    assert!(!output.status.success(), "lookout {args:?} succeeded");
    stderr(&output)
}

/// A plain grey picture: any decodable image will do.
fn image(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("grey.png");
    image::RgbImage::from_pixel(64, 48, image::Rgb([128, 128, 128]))
        .save(&path)
        .unwrap();
    path
}

#[cfg(not(feature = "ros2"))]
#[test]
fn node_without_ros2_names_the_feature() {
    let text = fails(&["node"]);
    assert!(text.contains("built without the ros2 feature"), "{text}");
}

#[cfg(not(feature = "cuda"))]
#[test]
fn gpu_check_without_cuda_names_the_feature() {
    let text = fails(&["gpu-check"]);
    assert!(text.contains("--features cuda"), "{text}");
}

/// With the feature and no NVIDIA driver (CI), the check fails saying what
/// is missing instead of naming the feature.
#[cfg(feature = "cuda")]
#[test]
fn gpu_check_with_cuda_and_no_gpu_says_what_is_missing() {
    if matches!(lookout::gpu::probe(0), lookout::gpu::Availability::Gpu(_)) {
        return; // a real GPU: tests/gpu.rs covers it
    }
    let text = fails(&["gpu-check", "--frames", "2"]);
    assert!(!text.contains("--features cuda"), "{text}");
    assert!(
        ["libcuda", "libnvrtc", "GPU 0"]
            .iter()
            .any(|r| text.contains(r)),
        "{text}"
    );
}

#[test]
fn detect_runs_on_the_default_engine() {
    let dir = tempfile::tempdir().unwrap();
    let image = image(dir.path());
    let output = lookout(&["detect", image.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn detect_on_onnxruntime_needs_the_feature_or_the_library() {
    let dir = tempfile::tempdir().unwrap();
    let image = image(dir.path());
    let text = fails(&[
        "detect",
        image.to_str().unwrap(),
        "--engine",
        "onnxruntime",
        "--onnxruntime-library",
        "/nonexistent/libonnxruntime.so",
    ]);
    if cfg!(feature = "onnxruntime") {
        assert!(text.contains("/nonexistent"), "{text}");
    } else {
        assert!(text.contains("--features onnxruntime"), "{text}");
    }
}
