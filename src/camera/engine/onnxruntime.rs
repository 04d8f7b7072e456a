//! The onnxruntime backend through the `ort` crate, loaded at run time from
//! a shared library (e.g. the one inside the `onnxruntime` PyPI wheel): CPU
//! users get onnxruntime's speed without a build-time download. One process
//! loads one library: the first engine loaded fixes it.

use super::{EngineError, EngineInfo, OutputBuffers, check_input_len, input_shape};
use crate::camera::spec::ModelSpec;
use crate::camera::{Engine, Outputs, TensorView};
use std::path::Path;
use std::sync::OnceLock;

pub struct OrtEngine {
    info: EngineInfo,
    session: ort::session::Session,
    outputs: OutputBuffers,
}

static ENVIRONMENT: OnceLock<ort::environment::Environment> = OnceLock::new();

fn environment(library: &Path) -> Result<&'static ort::environment::Environment, String> {
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
    /// Loads the model with `threads` intra-op threads.
    pub fn load(spec: &ModelSpec, library: &Path, threads: usize) -> Result<Self, EngineError> {
        let path = spec.onnx_path();
        let load_error = |detail: String| EngineError::Load {
            path: path.display().to_string(),
            detail,
        };
        let session = ort::session::Session::builder(environment(library).map_err(load_error)?)
            .map_err(|e| load_error(e.to_string()))?
            .with_intra_threads(threads.max(1))
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
        Ok(OrtEngine {
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
