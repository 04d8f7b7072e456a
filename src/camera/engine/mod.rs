//! Inference engines behind one trait: load a model once (optimized at load),
//! run it on a preallocated input tensor, hand out named outputs.
//!
//! Owns the backends: [`TractEngine`] (pure Rust, always built) and, with
//! the `onnxruntime` feature (on by default), [`OrtEngine`]; the TensorRT
//! backend implements the same [`Engine`] trait. The default choice,
//! [`Backend::Auto`], is onnxruntime wherever its library is found
//! ([`ort_library`]) and tract otherwise, with a one-line notice saying why. An engine never touches frames or detections:
//! tensors in, tensors out.

pub mod cache;
pub mod ort_library;
mod tract;
pub mod trtexec;
pub use tract::TractEngine;
#[cfg(feature = "onnxruntime")]
mod onnxruntime;
#[cfg(feature = "tensorrt")]
pub mod tensorrt;
#[cfg(feature = "onnxruntime")]
pub use onnxruntime::OrtEngine;

use super::spec::{Layout, ModelSpec};
use super::{Outputs, TensorView};
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("loading {path}: {detail}")]
    Load { path: String, detail: String },
    #[error("input has {found} values, the model takes {expected}")]
    InputSize { expected: usize, found: usize },
    #[error("inference failed: {0}")]
    Run(String),
    #[error("output {name:?} is not f32")]
    OutputType { name: String },
    #[error("the {backend} engine is not built in: rebuild with `--features {feature}`")]
    NotBuilt {
        backend: &'static str,
        feature: &'static str,
    },
}

/// What an engine was built for.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineInfo {
    pub backend: &'static str,
    pub input_name: String,
    pub input_shape: Vec<usize>,
    pub output_names: Vec<String>,
}

/// A loaded model, ready to run.
pub trait Engine: Outputs + Send {
    fn info(&self) -> &EngineInfo;
    /// Runs on `input` (`info().input_shape` elements, row-major); the
    /// results are then readable through [`Outputs`] until the next run.
    fn run(&mut self, input: &[f32]) -> Result<(), EngineError>;

    /// An engine that runs on the GPU: the lane it runs on (its stream is
    /// where preprocessing must run too) and the device buffer its input is
    /// bound to, for GPU preprocessing to write the tensor in place.
    #[cfg(feature = "cuda")]
    fn device_input(&mut self) -> Option<DeviceInput<'_>> {
        None
    }

    /// Runs on what was written into [`device_input`](Self::device_input)
    /// (enqueued on the lane's stream before this call).
    #[cfg(feature = "cuda")]
    fn run_bound(&mut self) -> Result<(), EngineError> {
        Err(EngineError::Run(format!(
            "the {} engine takes its input from the host",
            self.info().backend
        )))
    }
}

/// A GPU engine's lane and input buffer.
#[cfg(feature = "cuda")]
pub struct DeviceInput<'a> {
    pub lane: &'a crate::gpu::lane::GpuLane,
    pub buffer: &'a mut cudarc::driver::CudaSlice<f32>,
}

/// Which engine runs the model.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// onnxruntime when it is built in and its library can be found (the
    /// path given, ORT_DYLIB_PATH, a virtual environment's `onnxruntime`
    /// wheel, the system), tract otherwise: said once, in one line.
    #[default]
    Auto,
    /// Pure Rust, always built in.
    Tract,
    /// onnxruntime, loaded at run time (feature `onnxruntime`).
    Onnxruntime,
    /// A TensorRT 10 engine from the engine cache, on a CUDA stream of its
    /// own (feature `tensorrt`).
    Tensorrt,
}

/// How to load an engine.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineOptions {
    pub backend: Backend,
    /// Threads the engine may use for one inference.
    pub threads: usize,
    /// The onnxruntime shared library; `None` searches for one
    /// ([`ort_library::locate`]).
    pub onnxruntime_library: Option<PathBuf>,
    /// onnxruntime only: execution providers to ask for, in order of
    /// preference (each used when the loaded library has it; the CPU one
    /// always follows).
    pub onnxruntime_providers: Vec<OrtProvider>,
    pub tensorrt: TensorRtOptions,
    /// Where preprocessing runs, and the GPU lane's stream priority.
    pub gpu: crate::gpu::GpuOptions,
}

/// onnxruntime execution providers Lookout can ask for.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum OrtProvider {
    /// CUDA (on `gpu.ordinal`).
    Cuda,
    /// TensorRT, with its engine cache under `tensorrt.cache_dir` and the
    /// precision of `tensorrt.precision`.
    Tensorrt,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            backend: Backend::Auto,
            threads: 1,
            onnxruntime_library: None,
            onnxruntime_providers: Vec::new(),
            tensorrt: TensorRtOptions::default(),
            gpu: crate::gpu::GpuOptions::default(),
        }
    }
}

/// Where the TensorRT backend finds (or builds) its engine and how it runs.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TensorRtOptions {
    /// Engines and their sidecars, named by their cache key.
    pub cache_dir: PathBuf,
    /// An explicit engine instead of the cache's file (its sidecar must
    /// still match).
    pub engine: Option<PathBuf>,
    pub precision: cache::Precision,
    /// Build a missing or mismatched engine at start (minutes, before any
    /// lane runs) instead of refusing to start.
    pub build_engine_on_start: bool,
    /// trtexec, for building.
    pub trtexec: PathBuf,
    /// INT8 only: the calibration cache.
    pub calibration_cache: Option<PathBuf>,
}

impl Default for TensorRtOptions {
    fn default() -> Self {
        TensorRtOptions {
            cache_dir: PathBuf::from("engines"),
            engine: None,
            precision: cache::Precision::Fp16,
            build_engine_on_start: false,
            trtexec: PathBuf::from("trtexec"),
            calibration_cache: None,
        }
    }
}

/// Loads the model of `spec` on the engine `options` choose.
pub fn load(spec: &ModelSpec, options: &EngineOptions) -> Result<Box<dyn Engine>, EngineError> {
    match options.backend {
        Backend::Tract => Ok(Box::new(TractEngine::load_with_threads(
            spec,
            options.threads,
        )?)),
        Backend::Auto => load_auto(spec, options),
        Backend::Onnxruntime => load_onnxruntime(spec, options),
        Backend::Tensorrt => load_tensorrt(spec, &options.tensorrt, &options.gpu),
    }
}

/// `auto`: onnxruntime where its library loads, else tract. The notice of
/// a fallback is given once per process (every lane loads its own engine).
fn load_auto(spec: &ModelSpec, options: &EngineOptions) -> Result<Box<dyn Engine>, EngineError> {
    static NOTICE: std::sync::Once = std::sync::Once::new();
    let why = match load_onnxruntime(spec, options) {
        Ok(engine) => return Ok(engine),
        Err(why) => why,
    };
    NOTICE.call_once(|| {
        tracing::info!(
            "camera engine: tract (onnxruntime: {why}; set ORT_DYLIB_PATH or \
             `pip install onnxruntime` into a virtual environment for its speed)"
        )
    });
    Ok(Box::new(TractEngine::load_with_threads(
        spec,
        options.threads,
    )?))
}

#[cfg(feature = "tensorrt")]
fn load_tensorrt(
    spec: &ModelSpec,
    options: &TensorRtOptions,
    gpu_options: &crate::gpu::GpuOptions,
) -> Result<Box<dyn Engine>, EngineError> {
    let onnx = spec.onnx_path();
    let load_error = |detail: String| EngineError::Load {
        path: onnx.display().to_string(),
        detail,
    };
    let gpu = match crate::gpu::probe(gpu_options.ordinal) {
        crate::gpu::Availability::Gpu(gpu) => gpu,
        crate::gpu::Availability::Cpu { reason } => {
            return Err(load_error(format!(
                "the tensorrt engine needs a GPU: {reason}"
            )));
        }
    };
    let linked = tensorrt::linked_version();
    let key = cache::EngineKey::for_model(
        &onnx,
        &input_shape(spec),
        &cache::Target {
            tensorrt_version: linked.clone(),
            compute_capability: gpu.compute_capability_label(),
        },
        options.precision,
    )
    .map_err(|e| load_error(e.to_string()))?;
    let on_mismatch = if options.build_engine_on_start {
        cache::OnMismatch::BuildOnStart
    } else {
        cache::OnMismatch::Refuse
    };
    let engines = cache::EngineCache::new(&options.cache_dir, on_mismatch);
    let plan = engines
        .resolve(&spec.name, &key, options.engine.as_deref(), |path| {
            let found = trtexec::trtexec_version(&options.trtexec)?;
            if found != linked {
                return Err(format!(
                    "{} is TensorRT {found}, this build links {linked}: its engine would not load",
                    options.trtexec.display()
                ));
            }
            let request = trtexec::BuildRequest {
                onnx: onnx.clone(),
                model: spec.name.clone(),
                input_shape: input_shape(spec),
                precision: options.precision,
                calibration_cache: options.calibration_cache.clone(),
                cache_dir: options.cache_dir.clone(),
                engine: Some(path.to_path_buf()),
                trtexec: options.trtexec.clone(),
                device: gpu_options.ordinal,
            };
            // The cache is resolving already: run trtexec only (trtexec::build
            // would key, resolve and record the engine a second time).
            trtexec::run(&request, path)
        })
        .map_err(|e| load_error(e.to_string()))?;
    let lane = crate::gpu::lane::GpuLane::new(gpu_options)
        .map_err(|e| load_error(format!("GPU lane: {e}")))?;
    Ok(Box::new(tensorrt::TensorRtEngine::load(spec, &plan, lane)?))
}

#[cfg(not(feature = "tensorrt"))]
fn load_tensorrt(
    _: &ModelSpec,
    _: &TensorRtOptions,
    _: &crate::gpu::GpuOptions,
) -> Result<Box<dyn Engine>, EngineError> {
    Err(EngineError::NotBuilt {
        backend: "tensorrt",
        feature: "tensorrt",
    })
}

#[cfg(feature = "onnxruntime")]
fn load_onnxruntime(
    spec: &ModelSpec,
    options: &EngineOptions,
) -> Result<Box<dyn Engine>, EngineError> {
    let found = ort_library::locate(options.onnxruntime_library.as_deref());
    let engine = OrtEngine::load(spec, &found.path, options)?;
    tracing::debug!(
        "camera engine: onnxruntime from {} ({})",
        found.path.display(),
        found.source
    );
    Ok(Box::new(engine))
}

#[cfg(not(feature = "onnxruntime"))]
fn load_onnxruntime(_: &ModelSpec, _: &EngineOptions) -> Result<Box<dyn Engine>, EngineError> {
    Err(EngineError::NotBuilt {
        backend: "onnxruntime",
        feature: "onnxruntime",
    })
}

/// The input shape a spec implies.
pub fn input_shape(spec: &ModelSpec) -> Vec<usize> {
    let (w, h) = (spec.input.width as usize, spec.input.height as usize);
    match spec.input.layout {
        Layout::Nchw => vec![1, 3, h, w],
        Layout::Nhwc => vec![1, h, w, 3],
    }
}

/// An engine's output tensors, copied out of the backend after each run so
/// that decoders see one layout whatever the backend. Capacities grow on the
/// first run and are reused after.
#[derive(Debug, Clone, Default)]
pub struct OutputBuffers {
    names: Vec<String>,
    tensors: Vec<(Vec<usize>, Vec<f32>)>,
}

impl OutputBuffers {
    pub fn new(names: Vec<String>) -> Self {
        OutputBuffers {
            tensors: vec![(Vec::new(), Vec::new()); names.len()],
            names,
        }
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Replaces output `index` with `shape` and `values`.
    pub fn store(
        &mut self,
        index: usize,
        shape: impl IntoIterator<Item = usize>,
        values: impl IntoIterator<Item = f32>,
    ) {
        let (dims, data) = &mut self.tensors[index];
        dims.clear();
        dims.extend(shape);
        data.clear();
        data.extend(values);
    }
}

impl Outputs for OutputBuffers {
    fn output(&self, name: &str) -> Option<TensorView<'_>> {
        let index = self.names.iter().position(|n| n == name)?;
        let (shape, data) = &self.tensors[index];
        Some(TensorView { shape, data })
    }
}

fn check_input_len(info: &EngineInfo, input: &[f32]) -> Result<(), EngineError> {
    let expected: usize = info.input_shape.iter().product();
    if input.len() == expected {
        Ok(())
    } else {
        Err(EngineError::InputSize {
            expected,
            found: input.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn shipped() -> ModelSpec {
        ModelSpec::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("models/nanodet-m-416.yaml"))
            .unwrap()
    }

    #[test]
    fn a_missing_model_file_is_a_load_error_naming_it() {
        let mut spec = shipped();
        spec.onnx = "no-such-model.onnx".into();
        let error = load(&spec, &EngineOptions::default()).err().unwrap();
        assert!(matches!(error, EngineError::Load { .. }), "{error}");
        assert!(error.to_string().contains("no-such-model.onnx"), "{error}");
    }

    #[test]
    fn a_corrupt_model_file_is_a_load_error() {
        let dir = tempfile::tempdir().unwrap();
        let onnx = dir.path().join("corrupt.onnx");
        std::fs::write(&onnx, b"\x08\x07not a protobuf model").unwrap();
        let mut spec = shipped();
        spec.onnx = onnx;
        let error = load(&spec, &EngineOptions::default()).err().unwrap();
        assert!(matches!(error, EngineError::Load { .. }), "{error}");
    }

    #[test]
    fn the_wrong_input_size_is_refused_before_inference() {
        let mut engine = load(&shipped(), &EngineOptions::default()).unwrap();
        let error = engine.run(&[0.0; 7]).unwrap_err();
        assert!(
            matches!(error, EngineError::InputSize { found: 7, .. }),
            "{error}"
        );
    }

    #[cfg(not(feature = "onnxruntime"))]
    #[test]
    fn onnxruntime_without_the_feature_says_how_to_get_it() {
        let options = EngineOptions {
            backend: Backend::Onnxruntime,
            ..EngineOptions::default()
        };
        let error = load(&shipped(), &options).err().unwrap();
        assert!(
            error.to_string().contains("--features onnxruntime"),
            "{error}"
        );
    }

    #[cfg(feature = "onnxruntime")]
    #[test]
    fn onnxruntime_with_a_missing_library_is_a_load_error() {
        let options = EngineOptions {
            backend: Backend::Onnxruntime,
            threads: 1,
            onnxruntime_library: Some("/nonexistent/libonnxruntime.so".into()),
            ..EngineOptions::default()
        };
        let error = load(&shipped(), &options).err().unwrap();
        assert!(error.to_string().contains("/nonexistent"), "{error}");
    }

    /// `auto` with a library that does not load runs on tract (and says
    /// so once) rather than failing.
    #[test]
    fn auto_falls_back_to_tract_when_onnxruntime_does_not_load() {
        let options = EngineOptions {
            backend: Backend::Auto,
            onnxruntime_library: Some("/nonexistent/libonnxruntime.so".into()),
            ..EngineOptions::default()
        };
        assert_eq!(Backend::default(), Backend::Auto);
        let engine = load(&shipped(), &options).unwrap();
        assert_eq!(engine.info().backend, "tract");
    }

    #[test]
    fn output_buffers_hand_out_what_was_stored() {
        let mut buffers = OutputBuffers::new(vec!["a".into(), "b".into()]);
        buffers.store(1, [2, 3], (0..6).map(|v| v as f32));
        let b = buffers.output("b").unwrap();
        assert_eq!(b.shape, &[2, 3]);
        assert_eq!(b.data, &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(buffers.output("a").unwrap().data, &[] as &[f32]);
        assert!(buffers.output("c").is_none());
    }
}
