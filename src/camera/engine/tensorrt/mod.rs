//! The TensorRT 10 backend (feature `tensorrt`): a serialized engine that
//! the [engine cache](super::cache) vouched for is deserialized once, its
//! named I/O tensors are bound to device buffers allocated once, and each
//! run enqueues with `enqueueV3` on the lane's CUDA stream and copies the
//! outputs back. The input comes from the host ([`Engine::run`]) or, with GPU
//! preprocessing, is written in place on the device by the preprocessing
//! kernel on the same stream ([`Engine::device_input`], [`Engine::run_bound`]).
//! Implements the same [`Engine`] trait as tract and onnxruntime.
//!
//! Our own binding, not a crate: the one published (tensorrt-rs) stopped at
//! TensorRT 7, whose binding-index API TensorRT 10 removed. The C++ side
//! (`shim.cpp`) is a few dozen lines of C ABI. `unsafe` is in `ffi.rs`, and
//! in `TensorRtEngine::bind`, which hands the context device buffers this
//! engine owns and drops after it.

mod ffi;
pub use ffi::{IoMode, IoTensor};

use super::{DeviceInput, EngineError, EngineInfo, OutputBuffers, check_input_len, input_shape};
use crate::camera::spec::ModelSpec;
use crate::camera::{Engine, Outputs, TensorView};
use crate::gpu::lane::GpuLane;
use cudarc::driver::{CudaSlice, CudaStream, DevicePtr};
use std::path::Path;
use std::sync::Arc;

/// `nvinfer1::DataType::kFLOAT`.
const FLOAT32: i32 = 0;

/// The TensorRT version this build links, e.g. `"10.3.0"`: half of an
/// engine's cache key.
pub fn linked_version() -> String {
    let (major, minor, patch) = ffi::version();
    format!("{major}.{minor}.{patch}")
}

pub struct TensorRtEngine {
    info: EngineInfo,
    outputs: OutputBuffers,
    /// Device buffers the context is bound to: input, then each output
    /// (with its shape), in `info.output_names` order.
    input: CudaSlice<f32>,
    device_outputs: Vec<(Vec<usize>, CudaSlice<f32>)>,
    host: Vec<f32>,
    stream: Arc<CudaStream>,
    // Drop order is field order: the context before the engine, the engine
    // before the runtime, all before the lane (its stream and context).
    context: ffi::Context,
    _engine: ffi::Engine,
    _runtime: ffi::Runtime,
    lane: GpuLane,
}

impl TensorRtEngine {
    /// Loads the engine at `plan` for `spec`'s input, on `lane`'s stream.
    /// The engine must have one float32 input named as in the spec
    /// and float32 outputs; a dynamic input takes the spec's shape through
    /// optimization profile 0.
    pub fn load(spec: &ModelSpec, plan: &Path, lane: GpuLane) -> Result<Self, EngineError> {
        let stream = lane.stream().clone();
        let load_error = |detail: String| EngineError::Load {
            path: plan.display().to_string(),
            detail,
        };
        let bytes = std::fs::read(plan).map_err(|e| load_error(e.to_string()))?;
        let runtime = ffi::Runtime::new().map_err(load_error)?;
        let engine = runtime.deserialize(&bytes).map_err(load_error)?;
        let tensors = engine.tensors().map_err(load_error)?;
        let input = pick_input(&tensors, &spec.input.name).map_err(load_error)?;
        let shape = input_shape(spec);
        let mut context = engine.context().map_err(load_error)?;
        if input.shape.iter().any(|&d| d < 0) {
            context
                .set_profile(0, stream.cu_stream().cast())
                .map_err(load_error)?;
            let dims: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
            context
                .set_input_shape(&input.name, &dims)
                .map_err(load_error)?;
        } else if input
            .shape
            .iter()
            .map(|&d| d as usize)
            .ne(shape.iter().copied())
        {
            return Err(load_error(format!(
                "the engine's input {:?} is {:?}, the model spec says {shape:?}",
                input.name, input.shape
            )));
        }
        let alloc = |len: usize| {
            stream
                .alloc_zeros::<f32>(len)
                .map_err(|e| load_error(format!("cuMemAlloc: {e}")))
        };
        let input_buffer = alloc(shape.iter().product())?;
        let mut output_names = Vec::new();
        let mut device_outputs = Vec::new();
        for t in tensors.iter().filter(|t| t.mode == IoMode::Output) {
            if t.dtype != FLOAT32 {
                return Err(load_error(format!(
                    "output {:?} has TensorRT data type {} (only float32 is bound)",
                    t.name, t.dtype
                )));
            }
            let resolved = context.tensor_shape(&t.name).map_err(load_error)?;
            if resolved.iter().any(|&d| d < 0) {
                return Err(load_error(format!(
                    "output {:?} has unresolved shape {resolved:?}",
                    t.name
                )));
            }
            let dims: Vec<usize> = resolved.iter().map(|&d| d as usize).collect();
            device_outputs.push((dims.clone(), alloc(dims.iter().product())?));
            output_names.push(t.name.clone());
        }
        let mut engine_out = TensorRtEngine {
            info: EngineInfo {
                backend: "tensorrt",
                input_name: input.name.clone(),
                input_shape: shape,
                output_names: output_names.clone(),
            },
            outputs: OutputBuffers::new(output_names),
            input: input_buffer,
            device_outputs,
            host: Vec::new(),
            stream,
            context,
            _engine: engine,
            _runtime: runtime,
            lane,
        };
        engine_out.bind().map_err(load_error)?;
        Ok(engine_out)
    }

    /// Points the context at the device buffers (once: they never move).
    fn bind(&mut self) -> Result<(), String> {
        let stream = self.stream.clone();
        let (input, _sync) = self.input.device_ptr(&stream);
        // SAFETY: the buffer holds the input's element count and lives in
        // `self` as long as the context does (dropped after it).
        unsafe {
            self.context
                .set_tensor_address(&self.info.input_name, input)
        }?;
        for (name, (_, buffer)) in self.info.output_names.iter().zip(&self.device_outputs) {
            let (address, _sync) = buffer.device_ptr(&stream);
            // SAFETY: as above, sized from the context's resolved shape.
            unsafe { self.context.set_tensor_address(name, address) }?;
        }
        Ok(())
    }
}

/// The float32 input named `name`, or the only input when the spec's name
/// is not among them.
fn pick_input<'t>(tensors: &'t [IoTensor], name: &str) -> Result<&'t IoTensor, String> {
    let inputs: Vec<&IoTensor> = tensors.iter().filter(|t| t.mode == IoMode::Input).collect();
    let input = match inputs.iter().find(|t| t.name == name) {
        Some(t) => *t,
        None if inputs.len() == 1 => inputs[0],
        None => {
            let names: Vec<&str> = inputs.iter().map(|t| t.name.as_str()).collect();
            return Err(format!(
                "no input {name:?} in the engine (inputs: {names:?})"
            ));
        }
    };
    if input.dtype != FLOAT32 {
        return Err(format!(
            "input {:?} has TensorRT data type {} (only float32 is bound)",
            input.name, input.dtype
        ));
    }
    Ok(input)
}

impl Outputs for TensorRtEngine {
    fn output(&self, name: &str) -> Option<TensorView<'_>> {
        self.outputs.output(name)
    }
}

impl Engine for TensorRtEngine {
    fn info(&self) -> &EngineInfo {
        &self.info
    }

    fn run(&mut self, input: &[f32]) -> Result<(), EngineError> {
        check_input_len(&self.info, input)?;
        self.stream
            .memcpy_htod(input, &mut self.input)
            .map_err(|e| EngineError::Run(format!("copy to the GPU: {e}")))?;
        self.run_bound()
    }

    fn device_input(&mut self) -> Option<DeviceInput<'_>> {
        Some(DeviceInput {
            lane: &self.lane,
            buffer: &mut self.input,
        })
    }

    fn run_bound(&mut self) -> Result<(), EngineError> {
        let run_error = |e: String| EngineError::Run(e);
        // TensorRT enqueues in the calling thread's current context.
        self.lane
            .context()
            .bind_to_thread()
            .map_err(|e| run_error(format!("CUDA context: {e}")))?;
        self.context
            .enqueue(self.stream.cu_stream().cast())
            .map_err(run_error)?;
        for (index, (shape, buffer)) in self.device_outputs.iter().enumerate() {
            self.host.resize(buffer.len(), 0.0);
            self.stream
                .memcpy_dtoh(buffer, &mut self.host)
                .map_err(|e| run_error(format!("copy from the GPU: {e}")))?;
            self.stream
                .synchronize()
                .map_err(|e| run_error(format!("stream: {e}")))?;
            self.outputs
                .store(index, shape.iter().copied(), self.host.iter().copied());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(name: &str, mode: IoMode, dtype: i32) -> IoTensor {
        IoTensor {
            name: name.into(),
            mode,
            dtype,
            shape: vec![1, 3, -1, -1],
        }
    }

    #[test]
    fn the_input_is_found_by_name_or_as_the_only_one() {
        let tensors = [
            tensor("images", IoMode::Input, FLOAT32),
            tensor("detections", IoMode::Output, FLOAT32),
        ];
        assert_eq!(pick_input(&tensors, "images").unwrap().name, "images");
        assert_eq!(pick_input(&tensors, "data").unwrap().name, "images");
        let two = [
            tensor("a", IoMode::Input, FLOAT32),
            tensor("b", IoMode::Input, FLOAT32),
        ];
        let e = pick_input(&two, "images").unwrap_err();
        assert!(e.contains("inputs: [\"a\", \"b\"]"), "{e}");
        let half = [tensor("images", IoMode::Input, 1)];
        assert!(
            pick_input(&half, "images")
                .unwrap_err()
                .contains("data type 1")
        );
    }
}
