//! The camera stage with the shipped NanoDet-m: a real photo, and agreement
//! with an independent onnxruntime + numpy reference decode.

mod common;

#[cfg(feature = "onnxruntime")]
use lookout::camera::engine::OrtProvider;
use lookout::camera::engine::{Backend, EngineOptions};
use lookout::camera::spec::ModelSpec;
use lookout::camera::{CameraStage, Detection2d};
use lookout::frames::CameraFrame;
use std::path::{Path, PathBuf};
use std::process::Command;

fn nanodet(options: &EngineOptions) -> CameraStage {
    let spec =
        ModelSpec::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("models/nanodet-m-416.yaml"))
            .unwrap();
    CameraStage::load(spec, options).unwrap()
}

/// Every engine this build has, at one and two threads: the same tests run
/// on each of them.
fn every_engine(python: &Path) -> Vec<EngineOptions> {
    let mut engines = Vec::new();
    for threads in [1, 2] {
        engines.push(EngineOptions {
            backend: Backend::Tract,
            threads,
            onnxruntime_library: None,
            ..EngineOptions::default()
        });
        #[cfg(feature = "onnxruntime")]
        engines.push(EngineOptions {
            backend: Backend::Onnxruntime,
            threads,
            onnxruntime_library: Some(onnxruntime_library(python)),
            // GPU providers when the library has them (the PyPI wheel CI
            // uses has neither: then the CPU runs, same answers).
            onnxruntime_providers: if threads == 2 {
                vec![OrtProvider::Tensorrt, OrtProvider::Cuda]
            } else {
                Vec::new()
            },
            ..EngineOptions::default()
        });
    }
    let _ = python;
    engines
}

/// scikit-image's sample images ship inside its wheel.
fn skimage_image(python: &Path, name: &str) -> PathBuf {
    let out = Command::new(python)
        .args([
            "-c",
            "import os, sys, skimage; print(os.path.join(os.path.dirname(skimage.__file__), 'data', sys.argv[1]))",
            name,
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

fn rgb(path: &Path) -> (u32, u32, Vec<u8>) {
    let image = image::open(path).unwrap().into_rgb8();
    let (w, h) = image.dimensions();
    (w, h, image.into_raw())
}

fn frame(w: u32, h: u32, pixels: &[u8]) -> CameraFrame<'_> {
    CameraFrame::rgb8("camera", w, h, pixels)
}

fn iou(a: [f32; 4], b: [f32; 4]) -> f32 {
    let ix = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let iy = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = ix * iy;
    let union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    if union > 0.0 { inter / union } else { 0.0 }
}

#[test]
fn the_astronaut_is_a_person() {
    let Some(python) = common::python("the_astronaut_is_a_person", "skimage, onnxruntime") else {
        return;
    };
    let (w, h, pixels) = rgb(&skimage_image(&python, "astronaut.png"));
    for options in every_engine(&python) {
        let mut stage = nanodet(&options);
        if let Err(problem) = person_over_the_astronaut(&mut stage, (w, h, &pixels)) {
            panic!("{options:?}: {problem}");
        }
    }
}

/// Runs `stage` on the astronaut photo: a person (score ≥ 0.5) must cover
/// the figure (suit, face and hair, from the left edge of the suit to its
/// right shoulder, hair to the bottom of the picture) at IoU ≥ 0.6.
fn person_over_the_astronaut(
    stage: &mut CameraStage,
    (w, h, pixels): (u32, u32, &[u8]),
) -> Result<(), String> {
    let mut detections = Vec::new();
    stage
        .process(&frame(w, h, pixels), &mut detections)
        .unwrap();
    let person = stage.spec().class_index("person").unwrap() as u16;
    let figure = [20.0, 15.0, 365.0, 512.0];
    let best = detections
        .iter()
        .filter(|d| d.class == person && d.score >= 0.5)
        .map(|d| (iou(d.bbox, figure), d))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    let Some((overlap, d)) = best else {
        return Err(format!("no person >= 0.5 in {detections:?}"));
    };
    if overlap < 0.6 {
        return Err(format!(
            "person box {:?} covers the figure only {overlap:.2}",
            d.bbox
        ));
    }
    Ok(())
}

/// The INT8 rung of the ladder: the committed model is what
/// `models/quantize/quantize.py` makes (initializers compared), and on
/// onnxruntime it still puts a person over the astronaut.
#[cfg(feature = "onnxruntime")]
#[test]
fn the_int8_nanodet_is_what_its_script_makes_and_sees_the_astronaut() {
    let Some(python) = common::python(
        "the_int8_nanodet_is_what_its_script_makes_and_sees_the_astronaut",
        "onnx, onnxruntime, skimage",
    ) else {
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let checked = common::stdout_of(
        Command::new(&python)
            .arg(root.join("models/quantize/quantize.py"))
            .arg("--check")
            .arg(root.join("models/nanodet-m-416_int8.onnx")),
    );
    assert!(String::from_utf8_lossy(&checked).contains("the same as a new quantization"));
    let spec = ModelSpec::load(&root.join("models/nanodet-m-416-int8.yaml")).unwrap();
    let options = EngineOptions {
        backend: Backend::Onnxruntime,
        onnxruntime_library: Some(onnxruntime_library(&python)),
        ..EngineOptions::default()
    };
    let mut stage = CameraStage::load(spec, &options).unwrap();
    let (w, h, pixels) = rgb(&skimage_image(&python, "astronaut.png"));
    if let Err(problem) = person_over_the_astronaut(&mut stage, (w, h, &pixels)) {
        panic!("int8: {problem}");
    }
}

fn reference(python: &Path, stage: &CameraStage, transform: [f32; 6]) -> Vec<(u16, f32, [f32; 4])> {
    let dir = tempfile::tempdir().unwrap();
    let tensor = dir.path().join("input.bin");
    let bytes: Vec<u8> = stage
        .input_tensor()
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    std::fs::write(&tensor, bytes).unwrap();
    let out = dir.path().join("reference.json");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/nanodet_reference.py");
    let status = Command::new(python)
        .arg(script)
        .arg(stage.spec().onnx_path())
        .arg(&tensor)
        .arg(&out)
        .args(transform.map(|v| v.to_string()))
        .status()
        .unwrap();
    assert!(status.success());
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(out).unwrap()).unwrap();
    json.as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let b: Vec<f32> = d["box"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect();
            (
                d["class"].as_u64().unwrap() as u16,
                d["score"].as_f64().unwrap() as f32,
                [b[0], b[1], b[2], b[3]],
            )
        })
        .collect()
}

/// Runs `stage` over scikit-image sample photos and compares every detection
/// with the reference decode of the same input tensor.
fn compare_with_reference(python: &Path, stage: &mut CameraStage) {
    let mut compared = 0;
    for name in [
        "astronaut.png",
        "coffee.png",
        "chelsea.png",
        "motorcycle_left.png",
        "rocket.jpg",
    ] {
        let (w, h, pixels) = rgb(&skimage_image(python, name));
        let mut ours: Vec<Detection2d> = Vec::new();
        stage.process(&frame(w, h, &pixels), &mut ours).unwrap();
        // The shipped spec stretches: tensor = image * (416 / size).
        let transform = [
            416.0 / w as f32,
            416.0 / h as f32,
            0.0,
            0.0,
            w as f32,
            h as f32,
        ];
        let theirs = reference(python, stage, transform);
        let backend = stage.engine().info().backend;
        assert_eq!(
            ours.len(),
            theirs.len(),
            "{backend} {name}: {ours:?}\nvs\n{theirs:?}"
        );
        for (o, (class, score, bbox)) in ours.iter().zip(&theirs) {
            assert_eq!(o.class, *class, "{backend} {name}");
            assert!(
                (o.score - score).abs() <= 1e-3,
                "{backend} {name}: score {} vs {score}",
                o.score
            );
            for k in 0..4 {
                assert!(
                    (o.bbox[k] - bbox[k]).abs() <= 1.0,
                    "{backend} {name}: box {:?} vs {bbox:?}",
                    o.bbox
                );
            }
            compared += 1;
        }
    }
    assert!(compared >= 5, "only {compared} detections compared");
}

#[test]
fn detections_equal_an_onnxruntime_reference_on_every_engine() {
    let Some(python) = common::python(
        "detections_equal_an_onnxruntime_reference_on_every_engine",
        "skimage, onnxruntime, numpy",
    ) else {
        return;
    };
    for options in every_engine(&python) {
        compare_with_reference(&python, &mut nanodet(&options));
    }
}

/// The default engine is onnxruntime wherever its wheel is found (here,
/// the test venv's, as ORT_DYLIB_PATH or a `.venv*` folder would give it),
/// and tract in a build without the feature.
#[test]
fn the_default_engine_is_onnxruntime_where_its_library_is_found() {
    let Some(python) = common::python(
        "the_default_engine_is_onnxruntime_where_its_library_is_found",
        "onnxruntime",
    ) else {
        return;
    };
    let spec =
        ModelSpec::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("models/nanodet-m-416.yaml"))
            .unwrap();
    #[cfg(feature = "onnxruntime")]
    let (library, expected) = (Some(onnxruntime_library(&python)), "onnxruntime");
    #[cfg(not(feature = "onnxruntime"))]
    let (library, expected) = (None, "tract");
    let _ = python;
    let options = EngineOptions {
        onnxruntime_library: library,
        threads: 2,
        ..EngineOptions::default()
    };
    assert_eq!(options.backend, Backend::Auto);
    let engine = lookout::camera::engine::load(&spec, &options).unwrap();
    assert_eq!(engine.info().backend, expected);
}

/// GPU execution providers are registered exactly when the loaded library
/// has them (as onnxruntime itself reports), in the order asked, and the
/// CPU provider always follows.
#[cfg(feature = "onnxruntime")]
#[test]
fn onnxruntime_uses_the_gpu_providers_the_library_has() {
    let Some(python) = common::python(
        "onnxruntime_uses_the_gpu_providers_the_library_has",
        "onnxruntime",
    ) else {
        return;
    };
    let out = Command::new(&python)
        .args([
            "-c",
            "import onnxruntime; print(','.join(onnxruntime.get_available_providers()))",
        ])
        .output()
        .unwrap();
    let available = String::from_utf8(out.stdout).unwrap();
    let mut expected = Vec::new();
    for (name, ort_name) in [
        ("TensorRT", "TensorrtExecutionProvider"),
        ("CUDA", "CUDAExecutionProvider"),
    ] {
        if available.trim().split(',').any(|p| p == ort_name) {
            expected.push(name);
        }
    }
    expected.push("CPU");
    let spec =
        ModelSpec::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("models/nanodet-m-416.yaml"))
            .unwrap();
    let options = EngineOptions {
        backend: Backend::Onnxruntime,
        onnxruntime_providers: vec![OrtProvider::Tensorrt, OrtProvider::Cuda],
        ..EngineOptions::default()
    };
    let engine =
        lookout::camera::engine::OrtEngine::load(&spec, &onnxruntime_library(&python), &options)
            .unwrap();
    assert_eq!(engine.execution_providers(), expected.as_slice());
}

/// The onnxruntime shared library inside the `onnxruntime` wheel.
#[cfg(feature = "onnxruntime")]
fn onnxruntime_library(python: &Path) -> PathBuf {
    let out = common::stdout_of(Command::new(python).args([
        "-c",
        "import glob, os, onnxruntime; print(sorted(glob.glob(os.path.join(os.path.dirname(onnxruntime.__file__), 'capi', 'libonnxruntime.so*')))[-1])",
    ]));
    PathBuf::from(String::from_utf8(out).unwrap().trim())
}
