//! Inference engines behind one trait: load a model once (optimized at load),
//! run it on a preallocated input tensor, hand out named outputs.
//!
//! Owns the backends: [`TractEngine`] (pure Rust, the default) here; the
//! onnxruntime and TensorRT backends implement the same [`Engine`] trait.
//! An engine never touches frames or detections: tensors in, tensors out.

use super::spec::{Layout, ModelSpec};
use super::{Outputs, TensorView};
use tract_onnx::prelude::*;

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
}

/// The input shape a spec implies.
pub fn input_shape(spec: &ModelSpec) -> Vec<usize> {
    let (w, h) = (spec.input.width as usize, spec.input.height as usize);
    match spec.input.layout {
        Layout::Nchw => vec![1, 3, h, w],
        Layout::Nhwc => vec![1, h, w, 3],
    }
}

/// tract: pure Rust, single-threaded, the model optimized once at load.
pub struct TractEngine {
    info: EngineInfo,
    state: TypedSimpleState,
    outputs: Vec<(Vec<usize>, Vec<f32>)>,
}

impl TractEngine {
    pub fn load(spec: &ModelSpec) -> Result<Self, EngineError> {
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
        let plan = model.into_runnable().map_err(load_error)?;
        let state = plan.spawn().map_err(load_error)?;
        Ok(TractEngine {
            outputs: vec![(Vec::new(), Vec::new()); output_names.len()],
            info: EngineInfo {
                backend: "tract",
                input_name,
                input_shape: shape,
                output_names,
            },
            state,
        })
    }
}

impl Outputs for TractEngine {
    fn output(&self, name: &str) -> Option<TensorView<'_>> {
        let index = self.info.output_names.iter().position(|n| n == name)?;
        let (shape, data) = &self.outputs[index];
        Some(TensorView { shape, data })
    }
}

impl Engine for TractEngine {
    fn info(&self) -> &EngineInfo {
        &self.info
    }

    fn run(&mut self, input: &[f32]) -> Result<(), EngineError> {
        let expected: usize = self.info.input_shape.iter().product();
        if input.len() != expected {
            return Err(EngineError::InputSize {
                expected,
                found: input.len(),
            });
        }
        let tensor = Tensor::from_shape(&self.info.input_shape, input)
            .map_err(|e| EngineError::Run(format!("{e:#}")))?;
        let results = self
            .state
            .run(tvec!(tensor.into_tvalue()))
            .map_err(|e| EngineError::Run(format!("{e:#}")))?;
        for ((shape, data), (value, name)) in self
            .outputs
            .iter_mut()
            .zip(results.iter().zip(&self.info.output_names))
        {
            let view = value
                .to_plain_array_view::<f32>()
                .map_err(|_| EngineError::OutputType { name: name.clone() })?;
            shape.clear();
            shape.extend_from_slice(view.shape());
            data.clear();
            data.extend(view.iter().copied());
        }
        Ok(())
    }
}
