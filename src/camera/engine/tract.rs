//! The tract backend: pure Rust, the model optimized once at load, matrix
//! products spread over a private thread pool when asked for more than one
//! thread.

use super::{EngineError, EngineInfo, OutputBuffers, check_input_len, input_shape};
use crate::camera::spec::ModelSpec;
use crate::camera::{Engine, Outputs, TensorView};
use tract_onnx::prelude::*;

pub struct TractEngine {
    info: EngineInfo,
    state: TypedSimpleState,
    outputs: OutputBuffers,
}

impl TractEngine {
    /// Single-threaded.
    pub fn load(spec: &ModelSpec) -> Result<Self, EngineError> {
        Self::load_with_threads(spec, 1)
    }

    /// With `threads` threads for one inference (a private pool, so the
    /// engine never competes with other rayon users for workers).
    pub fn load_with_threads(spec: &ModelSpec, threads: usize) -> Result<Self, EngineError> {
        let path = spec.onnx_path();
        let load_error = |e: TractError| EngineError::Load {
            path: path.display().to_string(),
            detail: format!("{e:#}"),
        };
        let shape = input_shape(spec);
        let model = tract_onnx::onnx()
            .model_for_path(&path)
            .map_err(load_error)?
            .with_input_fact(0, f32::fact(&shape).into())
            .map_err(load_error)?
            .into_optimized()
            .map_err(load_error)?;
        let output_names = model
            .output_outlets()
            .map_err(load_error)?
            .iter()
            .map(|&outlet| {
                model
                    .outlet_label(outlet)
                    .unwrap_or(&model.node(outlet.node).name)
                    .to_owned()
            })
            .collect::<Vec<_>>();
        let input_name = model
            .input_outlets()
            .map_err(load_error)?
            .first()
            .map(|o| model.node(o.node).name.clone())
            .unwrap_or_default();
        let options = RunOptions {
            executor: (threads > 1).then(|| {
                tract_linalg::multithread::Executor::multithread_with_name(threads, "lookout-tract")
            }),
            ..RunOptions::default()
        };
        let plan = model
            .into_runnable_with_options(&options)
            .map_err(load_error)?;
        let state = plan.spawn().map_err(load_error)?;
        Ok(TractEngine {
            info: EngineInfo {
                backend: "tract",
                input_name,
                input_shape: shape,
                output_names: output_names.clone(),
            },
            outputs: OutputBuffers::new(output_names),
            state,
        })
    }
}

impl Outputs for TractEngine {
    fn output(&self, name: &str) -> Option<TensorView<'_>> {
        self.outputs.output(name)
    }
}

impl Engine for TractEngine {
    fn info(&self) -> &EngineInfo {
        &self.info
    }

    fn run(&mut self, input: &[f32]) -> Result<(), EngineError> {
        check_input_len(&self.info, input)?;
        let tensor = Tensor::from_shape(&self.info.input_shape, input)
            .map_err(|e| EngineError::Run(format!("{e:#}")))?;
        let results = self
            .state
            .run(tvec!(tensor.into_tvalue()))
            .map_err(|e| EngineError::Run(format!("{e:#}")))?;
        for (index, value) in results.iter().enumerate() {
            let view = value
                .to_plain_array_view::<f32>()
                .map_err(|_| EngineError::OutputType {
                    name: self.info.output_names[index].clone(),
                })?;
            self.outputs
                .store(index, view.shape().iter().copied(), view.iter().copied());
        }
        Ok(())
    }
}
