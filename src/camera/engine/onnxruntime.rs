//! The onnxruntime backend through the `ort` crate, loaded at run time from
//! a shared library (e.g. the one inside the `onnxruntime` PyPI wheel): CPU
//! users get onnxruntime's speed without a build-time download. One process
//! loads one library: the first engine loaded fixes it.
//!
//! On a GPU machine with a GPU build of onnxruntime, the CUDA and TensorRT
//! execution providers are registered when asked for
//! ([`EngineOptions::onnxruntime_providers`]) and the loaded library has
//! them; TensorRT gets Lookout's engine cache directory and precision. A
//! provider the library lacks is skipped with a warning, and the CPU
//! provider always comes last.

use super::cache::Precision;
use super::{
    EngineError, EngineInfo, EngineOptions, OrtProvider, OutputBuffers, check_input_len,
    input_shape,
};
use crate::camera::spec::ModelSpec;
use crate::camera::{Engine, Outputs, TensorView};
use std::path::Path;
use std::sync::OnceLock;

pub struct OrtEngine {
    info: EngineInfo,
    /// The execution providers registered, in order; the CPU one last.
    providers: Vec<&'static str>,
    session: ort::session::Session,
    outputs: OutputBuffers,
}

static ENVIRONMENT: OnceLock<ort::environment::Environment> = OnceLock::new();

fn environment(library: &Path) -> Result<&'static ort::environment::Environment, String> {
    // A path that names no file loads nothing, whatever was loaded before
    // (a bare name is for the system's loader to search).
    if library.is_absolute() && !library.exists() {
        return Err(format!(
            "onnxruntime library {}: no such file",
            library.display()
        ));
    }
    if let Some(environment) = ENVIRONMENT.get() {
        return Ok(environment);
    }
    let built = ort::environment::init_from(library)
        .map_err(|e| format!("onnxruntime library {}: {e}", library.display()))?
        .build()
        .map_err(|e| e.to_string())?;
    Ok(ENVIRONMENT.get_or_init(|| built))
}

impl OrtEngine {
    /// Loads the model with `options.threads` intra-op threads and the
    /// execution providers `options` ask for that `library` has.
    pub fn load(
        spec: &ModelSpec,
        library: &Path,
        options: &EngineOptions,
    ) -> Result<Self, EngineError> {
        let path = spec.onnx_path();
        let load_error = |detail: String| EngineError::Load {
            path: path.display().to_string(),
            detail,
        };
        let environment = environment(library).map_err(load_error)?;
        let (providers, mut names) = execution_providers(options);
        names.push("CPU");
        let session = ort::session::Session::builder(environment)
            .map_err(|e| load_error(e.to_string()))?
            .with_intra_threads(options.threads.max(1))
            .map_err(|e| load_error(e.to_string()))?
            .with_execution_providers(providers)
            .map_err(|e| load_error(e.to_string()))?
            .commit_from_file(&path)
            .map_err(|e| load_error(e.to_string()))?;
        let output_names: Vec<String> = session
            .outputs()
            .iter()
            .map(|o| o.name().to_owned())
            .collect();
        let input_name = session
            .inputs()
            .first()
            .map(|i| i.name().to_owned())
            .unwrap_or_default();
        tracing::info!("onnxruntime execution providers: {}", names.join(", "));
        Ok(OrtEngine {
            providers: names,
            info: EngineInfo {
                backend: "onnxruntime",
                input_name,
                input_shape: input_shape(spec),
                output_names: output_names.clone(),
            },
            outputs: OutputBuffers::new(output_names),
            session,
        })
    }
}

impl OrtEngine {
    /// The execution providers registered, in order of preference; `"CPU"`
    /// last (always there).
    pub fn execution_providers(&self) -> &[&'static str] {
        &self.providers
    }
}

/// The providers asked for that the loaded library has, configured, with
/// their names; one warning per provider it lacks.
fn execution_providers(
    options: &EngineOptions,
) -> (Vec<ort::ep::ExecutionProviderDispatch>, Vec<&'static str>) {
    use ort::ep::ExecutionProvider;
    let ordinal = options.gpu.ordinal as i32;
    let trt = &options.tensorrt;
    let mut providers = Vec::new();
    let mut names = Vec::new();
    for &wanted in &options.onnxruntime_providers {
        let (name, available) = match wanted {
            OrtProvider::Cuda => ("CUDA", ort::ep::CUDA::is_available()),
            OrtProvider::Tensorrt => ("TensorRT", ort::ep::TensorRT::is_available()),
        };
        match available {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(
                    "onnxruntime: the loaded library has no {name} execution provider; skipped"
                );
                continue;
            }
            Err(e) => {
                tracing::warn!("onnxruntime: {name} execution provider: {e}; skipped");
                continue;
            }
        }
        let provider = match wanted {
            OrtProvider::Cuda => ort::ep::CUDA::default().with_device_id(ordinal).build(),
            OrtProvider::Tensorrt => {
                let cache = trt.cache_dir.join("onnxruntime");
                let mut ep = ort::ep::TensorRT::default()
                    .with_device_id(ordinal)
                    .with_engine_cache(true)
                    .with_engine_cache_path(cache.display())
                    .with_timing_cache(true)
                    .with_timing_cache_path(cache.display())
                    .with_fp16(trt.precision == Precision::Fp16)
                    .with_int8(trt.precision == Precision::Int8);
                if let Some(table) = &trt.calibration_cache {
                    ep = ep.with_int8_calibration_table_name(table.display());
                }
                ep.build()
            }
        };
        providers.push(provider);
        names.push(name);
    }
    (providers, names)
}

impl Outputs for OrtEngine {
    fn output(&self, name: &str) -> Option<TensorView<'_>> {
        self.outputs.output(name)
    }
}

impl Engine for OrtEngine {
    fn info(&self) -> &EngineInfo {
        &self.info
    }

    fn run(&mut self, input: &[f32]) -> Result<(), EngineError> {
        check_input_len(&self.info, input)?;
        let tensor = ort::value::TensorRef::from_array_view((self.info.input_shape.clone(), input))
            .map_err(|e| EngineError::Run(e.to_string()))?;
        let results = self
            .session
            .run(ort::inputs![self.info.input_name.as_str() => tensor])
            .map_err(|e| EngineError::Run(e.to_string()))?;
        for (index, name) in self.info.output_names.iter().enumerate() {
            let value = results
                .get(name)
                .ok_or_else(|| EngineError::Run(format!("no output {name:?}")))?;
            let (dims, values) = value
                .try_extract_tensor::<f32>()
                .map_err(|_| EngineError::OutputType { name: name.clone() })?;
            self.outputs.store(
                index,
                dims.iter().map(|&d| d.max(0) as usize),
                values.iter().copied(),
            );
        }
        Ok(())
    }
}
