//! The camera stage: a decoded frame in, 2D detections out, with a real
//! pretrained detector described by a model spec file ([`spec`]).
//!
//! A lane holds the detector as a [`ladder`] of variants (the model and
//! its faster rungs); the scheduler picks the rung per frame.
//!
//! Frame -> fused preprocessing into the input tensor ([`preprocess`]) ->
//! inference (an engine) -> output decoding and NMS ([`decode`], [`nms`]) ->
//! boxes in original image pixels. Buffers are reused frame after frame;
//! preprocessing and decoding never allocate after warm-up.
//!
//! With the `cuda` feature and a usable GPU (engine options `gpu.device`),
//! preprocessing runs on the lane's GPU stream instead
//! ([`preprocess::gpu`]): straight into a GPU engine's bound input
//! (TensorRT), or copied back to page-locked memory for a CPU engine. A GPU
//! that cannot be set up leaves the CPU path in place, with one warning.

pub mod decode;
pub mod draw;
pub mod engine;
#[cfg(feature = "cuda")]
pub mod gpu_check;
pub mod ladder;
pub mod nms;
pub mod preprocess;
pub mod spec;

/// One 2D detection in original image pixels (a value type of
/// [`crate::obstacle`], where the message encoders can see it).
pub use crate::obstacle::Detection2d;

/// How input-tensor pixel coordinates map back to image pixels:
/// `image = (tensor - pad) / scale`, per axis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ImageTransform {
    pub scale_x: f32,
    pub scale_y: f32,
    pub pad_x: f32,
    pub pad_y: f32,
    /// Original image size, for clipping.
    pub image_width: f32,
    pub image_height: f32,
}

impl ImageTransform {
    pub fn identity(width: f32, height: f32) -> Self {
        ImageTransform {
            scale_x: 1.0,
            scale_y: 1.0,
            pad_x: 0.0,
            pad_y: 0.0,
            image_width: width,
            image_height: height,
        }
    }

    /// A box in tensor pixels mapped to image pixels, clipped to the image.
    pub fn to_image(&self, [x0, y0, x1, y1]: [f32; 4]) -> [f32; 4] {
        let fx = |x: f32| ((x - self.pad_x) / self.scale_x).clamp(0.0, self.image_width);
        let fy = |y: f32| ((y - self.pad_y) / self.scale_y).clamp(0.0, self.image_height);
        [fx(x0), fy(y0), fx(x1), fy(y1)]
    }
}

/// A named output tensor of an engine, borrowed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TensorView<'a> {
    pub shape: &'a [usize],
    pub data: &'a [f32],
}

/// Looks up an engine's outputs by name.
pub trait Outputs {
    fn output(&self, name: &str) -> Option<TensorView<'_>>;
}

use crate::frames::CameraFrame;
use decode::{DecodeTensorError, Decoder};
use engine::{Engine, EngineError, EngineOptions};
use preprocess::Preprocessor;
use spec::ModelSpec;

#[derive(Debug, thiserror::Error)]
pub enum CameraError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Decode(#[from] DecodeTensorError),
    #[error("GPU preprocessing: {0}")]
    Gpu(#[from] crate::gpu::GpuError),
}

/// The whole camera stage for one model: preprocessing, engine, decoding.
pub struct CameraStage {
    spec: ModelSpec,
    preprocessor: Preprocessor,
    engine: Box<dyn Engine>,
    decoder: Decoder,
    input: Vec<f32>,
    #[cfg(feature = "cuda")]
    gpu: Option<GpuPath>,
}

/// Preprocessing on the GPU, and what it feeds.
#[cfg(feature = "cuda")]
struct GpuPath {
    preprocessor: preprocess::gpu::GpuPreprocessor,
    /// The engine's input is bound on the device (TensorRT): the kernel
    /// writes it in place and nothing comes back to the host before
    /// inference.
    engine_on_device: bool,
    /// The lane of a host-input engine (a GPU engine owns its lane). After
    /// the preprocessor, so dropped after it.
    _lane: Option<crate::gpu::lane::GpuLane>,
}

#[cfg(feature = "cuda")]
impl GpuPath {
    /// The GPU path for `engine`, or `None` (with the reason logged) when
    /// `options` keep preprocessing on the CPU or the GPU cannot be used.
    fn new(
        spec: &ModelSpec,
        engine: &mut dyn Engine,
        options: &crate::gpu::GpuOptions,
    ) -> Option<Self> {
        use preprocess::gpu::{DEFAULT_FRAME_BYTES, GpuPreprocessor};
        let built = if let Some(input) = engine.device_input() {
            GpuPreprocessor::new(
                input.lane,
                &spec.input,
                DEFAULT_FRAME_BYTES,
                options.cuda_graph,
            )
            .map(|preprocessor| GpuPath {
                preprocessor,
                engine_on_device: true,
                _lane: None,
            })
        } else {
            if let crate::gpu::Availability::Cpu { .. } =
                crate::gpu::select(options.device, options.ordinal)
            {
                return None;
            }
            crate::gpu::lane::GpuLane::new(options).and_then(|lane| {
                let preprocessor = GpuPreprocessor::new(
                    &lane,
                    &spec.input,
                    DEFAULT_FRAME_BYTES,
                    options.cuda_graph,
                )?;
                Ok(GpuPath {
                    preprocessor,
                    engine_on_device: false,
                    _lane: Some(lane),
                })
            })
        };
        match built {
            Ok(path) => Some(path),
            Err(e) => {
                tracing::warn!("GPU preprocessing unavailable ({e}): preprocessing on the CPU");
                None
            }
        }
    }
}

impl CameraStage {
    /// With the default engine (tract, one thread).
    pub fn new(spec: ModelSpec) -> Result<Self, CameraError> {
        Self::load(spec, &EngineOptions::default())
    }

    /// With the engine `options` choose.
    pub fn load(spec: ModelSpec, options: &EngineOptions) -> Result<Self, CameraError> {
        #[cfg_attr(not(feature = "cuda"), allow(unused_mut))]
        let mut engine = engine::load(&spec, options)?;
        #[cfg(feature = "cuda")]
        let gpu = GpuPath::new(&spec, engine.as_mut(), &options.gpu);
        #[cfg_attr(not(feature = "cuda"), allow(unused_mut))]
        let mut stage = Self::with_engine(spec, engine);
        #[cfg(feature = "cuda")]
        {
            stage.gpu = gpu;
        }
        Ok(stage)
    }

    /// With `engine`, preprocessing on the CPU.
    pub fn with_engine(spec: ModelSpec, engine: Box<dyn Engine>) -> Self {
        let preprocessor = Preprocessor::new(&spec.input);
        CameraStage {
            input: vec![0.0; preprocessor.tensor_len()],
            decoder: Decoder::new(&spec),
            preprocessor,
            engine,
            spec,
            #[cfg(feature = "cuda")]
            gpu: None,
        }
    }

    /// Whether preprocessing runs on the GPU.
    pub fn preprocesses_on_gpu(&self) -> bool {
        #[cfg(feature = "cuda")]
        {
            self.gpu.is_some()
        }
        #[cfg(not(feature = "cuda"))]
        {
            false
        }
    }

    /// GPU time of the last frame's stages, when preprocessing runs there.
    #[cfg(feature = "cuda")]
    pub fn gpu_times(&self) -> Option<preprocess::gpu::GpuTimes> {
        self.gpu
            .as_ref()
            .and_then(|gpu| gpu.preprocessor.times().ok())
    }

    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    pub fn engine(&self) -> &dyn Engine {
        self.engine.as_ref()
    }

    /// The input tensor of the last frame preprocessed on the CPU (what
    /// the engine was given; GPU preprocessing keeps it on the GPU).
    pub fn input_tensor(&self) -> &[f32] {
        &self.input
    }

    /// Runs the engine once on the (blank) input tensor, so that the first
    /// frame does not pay for the engine's lazy setup (arena allocation,
    /// kernel selection) and its run time is a fair estimate of the next.
    pub fn warm_up(&mut self) -> Result<(), CameraError> {
        self.engine.run(&self.input)?;
        Ok(())
    }

    /// Detects objects in one frame; `out` is cleared first.
    pub fn process(
        &mut self,
        frame: &CameraFrame<'_>,
        out: &mut Vec<Detection2d>,
    ) -> Result<(), CameraError> {
        #[cfg(feature = "cuda")]
        if self.gpu.is_some() && self.process_on_gpu(frame, out)? {
            return Ok(());
        }
        let transform = self.preprocessor.run(frame, &mut self.input);
        self.engine.run(&self.input)?;
        self.decoder.decode(self.engine.as_ref(), &transform, out)?;
        Ok(())
    }

    /// The GPU path; `false` when the frame must go the CPU way (its
    /// geometry does not hold together: the CPU path turns it into padding).
    #[cfg(feature = "cuda")]
    fn process_on_gpu(
        &mut self,
        frame: &CameraFrame<'_>,
        out: &mut Vec<Detection2d>,
    ) -> Result<bool, CameraError> {
        let gpu = self.gpu.as_mut().expect("called with a GPU path");
        let transform = match self.engine.device_input() {
            Some(input) if gpu.engine_on_device => {
                gpu.preprocessor.enqueue(frame, Some(input.buffer))?
            }
            _ => gpu.preprocessor.enqueue(frame, None)?,
        };
        let Some(transform) = transform else {
            return Ok(false);
        };
        if gpu.engine_on_device {
            self.engine.run_bound()?;
            gpu.preprocessor.finish()?;
        } else {
            let tensor = gpu.preprocessor.download()?;
            self.engine.run(tensor)?;
        }
        self.decoder.decode(self.engine.as_ref(), &transform, out)?;
        Ok(true)
    }
}
