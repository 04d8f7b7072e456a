//! The camera stage: a decoded frame in, 2D detections out, with a real
//! pretrained detector described by a model spec file ([`spec`]).
//!
//! Frame -> fused preprocessing into the input tensor ([`preprocess`]) ->
//! inference (an engine) -> output decoding and NMS ([`decode`], [`nms`]) ->
//! boxes in original image pixels. Buffers are reused frame after frame;
//! preprocessing and decoding never allocate after warm-up.

pub mod decode;
pub mod draw;
pub mod engine;
pub mod eval;
pub mod nms;
pub mod preprocess;
pub mod spec;

/// One 2D detection in original image pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection2d {
    /// Index into the spec's class list.
    pub class: u16,
    pub score: f32,
    /// `[x0, y0, x1, y1]`, image pixels, x0 <= x1, y0 <= y1.
    pub bbox: [f32; 4],
}

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
}

/// The whole camera stage for one model: preprocessing, engine, decoding.
pub struct CameraStage {
    spec: ModelSpec,
    preprocessor: Preprocessor,
    engine: Box<dyn Engine>,
    decoder: Decoder,
    input: Vec<f32>,
}

impl CameraStage {
    /// With the default engine (tract, one thread).
    pub fn new(spec: ModelSpec) -> Result<Self, CameraError> {
        Self::load(spec, &EngineOptions::default())
    }

    /// With the engine `options` choose.
    pub fn load(spec: ModelSpec, options: &EngineOptions) -> Result<Self, CameraError> {
        let engine = engine::load(&spec, options)?;
        Ok(Self::with_engine(spec, engine))
    }

    pub fn with_engine(spec: ModelSpec, engine: Box<dyn Engine>) -> Self {
        let preprocessor = Preprocessor::new(&spec.input);
        CameraStage {
            input: vec![0.0; preprocessor.tensor_len()],
            decoder: Decoder::new(&spec),
            preprocessor,
            engine,
            spec,
        }
    }

    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    pub fn engine(&self) -> &dyn Engine {
        self.engine.as_ref()
    }

    /// The input tensor of the last frame (what the engine was given).
    pub fn input_tensor(&self) -> &[f32] {
        &self.input
    }

    /// Detects objects in one frame; `out` is cleared first.
    pub fn process(
        &mut self,
        frame: &CameraFrame<'_>,
        out: &mut Vec<Detection2d>,
    ) -> Result<(), CameraError> {
        let transform = self.preprocessor.run(frame, &mut self.input);
        self.engine.run(&self.input)?;
        self.decoder.decode(self.engine.as_ref(), &transform, out)?;
        Ok(())
    }
}
