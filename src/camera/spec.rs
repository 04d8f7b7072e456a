//! Model spec files (`models/<name>.yaml`): everything about a detector that
//! is data, not code: its input tensor and preprocessing, its output decoder,
//! its classes and thresholds. Validated at load with errors naming the key.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {detail}")]
    Parse { path: PathBuf, detail: String },
    #[error("{path}: {field}: {problem}")]
    Invalid {
        path: PathBuf,
        field: &'static str,
        problem: String,
    },
}

/// Memory layout of the input tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// `[1, 3, H, W]`.
    Nchw,
    /// `[1, H, W, 3]`.
    Nhwc,
}

/// Channel order the network expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColorOrder {
    Rgb,
    Bgr,
}

/// How the frame is fitted into the input size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResizeMode {
    /// Scale x and y independently to fill the input.
    Stretch,
    /// Keep the aspect ratio, centre, pad the rest with `pad_value`.
    Letterbox,
}

/// The input tensor and how a frame becomes it:
/// `value = (pixel - mean[c]) / std[c]` per channel, in `color` order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    pub name: String,
    pub layout: Layout,
    pub width: u32,
    pub height: u32,
    pub color: ColorOrder,
    /// Per channel, in `color` order, in pixel units (0..255).
    pub mean: [f32; 3],
    pub std: [f32; 3],
    pub resize: ResizeMode,
    /// Pixel value (0..255, before normalization) of letterbox padding.
    #[serde(default = "default_pad")]
    pub pad_value: f32,
}

fn default_pad() -> f32 {
    114.0
}

/// Output decoders.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum DecoderSpec {
    /// NanoDet GFL heads: per stride, sigmoid class scores `[1, N, C]` and
    /// box distributions `[1, N, 4 * (reg_max + 1)]` (left, top, right, bottom).
    Nanodet {
        strides: Vec<u32>,
        reg_max: u32,
        /// Output names of the score tensors, one per stride.
        scores: Vec<String>,
        /// Output names of the box tensors, one per stride.
        boxes: Vec<String>,
    },
    /// YOLOv8 export: `[1, 4 + C, N]`, rows cx, cy, w, h then class scores.
    Yolov8 { output: String },
    /// YOLOX export: `[1, N, 5 + C]`: grid-relative x, y, log w, log h,
    /// objectness, class scores, over the grids of `strides`.
    Yolox { output: String, strides: Vec<u32> },
}

/// A detector: its ONNX file, input, decoder, classes and thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    pub name: String,
    /// The ONNX file, relative to the spec file.
    pub onnx: PathBuf,
    pub input: InputSpec,
    pub decoder: DecoderSpec,
    pub classes: Vec<String>,
    pub score_threshold: f32,
    pub nms_iou: f32,
    #[serde(default)]
    pub class_agnostic_nms: bool,
    pub max_detections: usize,
    /// Class names reported as obstacles (the rest are ignored downstream).
    pub obstacle_classes: Vec<String>,
    /// The faster variants of this model, most accurate first: spec files
    /// (relative to this one) of models with the same classes, e.g. the
    /// INT8 NanoDet under the fp32 one. `lookout bench camera --model`
    /// times every rung ([`ModelSpec::rungs`]).
    #[serde(default)]
    pub ladder: Vec<PathBuf>,
    /// Where the spec was loaded from (set by `load`).
    #[serde(skip)]
    pub origin: PathBuf,
}

impl ModelSpec {
    pub fn load(path: &Path) -> Result<Self, SpecError> {
        let text = std::fs::read_to_string(path).map_err(|source| SpecError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_yaml(&text, path)
    }

    pub fn from_yaml(text: &str, origin: &Path) -> Result<Self, SpecError> {
        let mut spec: ModelSpec = serde_yaml::from_str(text).map_err(|e| SpecError::Parse {
            path: origin.to_path_buf(),
            detail: e.to_string(),
        })?;
        spec.origin = origin.to_path_buf();
        spec.validate()?;
        Ok(spec)
    }

    /// The ONNX file's path, resolved against the spec's folder.
    pub fn onnx_path(&self) -> PathBuf {
        self.beside(&self.onnx)
    }

    /// `path` resolved against the spec's folder.
    fn beside(&self, path: &Path) -> PathBuf {
        match self.origin.parent() {
            Some(dir) if path.is_relative() => dir.join(path),
            _ => path.to_path_buf(),
        }
    }

    /// This model, then the variants of its `ladder`, most accurate first.
    /// A rung must have this model's classes and no ladder of its own.
    pub fn rungs(&self) -> Result<Vec<ModelSpec>, SpecError> {
        let mut rungs = vec![self.clone()];
        for path in &self.ladder {
            let rung = ModelSpec::load(&self.beside(path))?;
            let problem = if rung.classes != self.classes {
                "has other classes than this model"
            } else if !rung.ladder.is_empty() {
                "has a ladder of its own"
            } else {
                rungs.push(rung);
                continue;
            };
            return Err(SpecError::Invalid {
                path: self.origin.clone(),
                field: "ladder",
                problem: format!("{} {problem}", path.display()),
            });
        }
        Ok(rungs)
    }

    /// Index of a class name.
    pub fn class_index(&self, name: &str) -> Option<usize> {
        self.classes.iter().position(|c| c == name)
    }

    pub fn validate(&self) -> Result<(), SpecError> {
        let invalid = |field: &'static str, problem: String| SpecError::Invalid {
            path: self.origin.clone(),
            field,
            problem,
        };
        let i = &self.input;
        if i.width == 0 || i.height == 0 || i.width > 4096 || i.height > 4096 {
            return Err(invalid(
                "input.width",
                format!("input size {}x{} must be in 1..=4096", i.width, i.height),
            ));
        }
        if i.std.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(invalid(
                "input.std",
                format!("{:?} must be positive", i.std),
            ));
        }
        if i.mean.iter().any(|m| !m.is_finite()) || !i.pad_value.is_finite() {
            return Err(invalid("input.mean", "must be finite".into()));
        }
        if self.classes.is_empty() {
            return Err(invalid("classes", "no class names".into()));
        }
        if !(0.0..=1.0).contains(&self.score_threshold) {
            return Err(invalid(
                "score_threshold",
                format!("{} is not in [0, 1]", self.score_threshold),
            ));
        }
        if !(0.0..=1.0).contains(&self.nms_iou) {
            return Err(invalid(
                "nms_iou",
                format!("{} is not in [0, 1]", self.nms_iou),
            ));
        }
        if self.max_detections == 0 {
            return Err(invalid("max_detections", "must be at least 1".into()));
        }
        if let Some(unknown) = self
            .obstacle_classes
            .iter()
            .find(|c| self.class_index(c).is_none())
        {
            return Err(invalid(
                "obstacle_classes",
                format!("{unknown:?} is not one of the classes"),
            ));
        }
        match &self.decoder {
            DecoderSpec::Nanodet {
                strides,
                scores,
                boxes,
                ..
            } => {
                if strides.is_empty()
                    || strides.len() != scores.len()
                    || strides.len() != boxes.len()
                {
                    return Err(invalid(
                        "decoder.strides",
                        "strides, scores and boxes must be non-empty and of equal length".into(),
                    ));
                }
                check_strides(strides, i).map_err(|p| invalid("decoder.strides", p))?;
            }
            DecoderSpec::Yolox { strides, .. } => {
                if strides.is_empty() {
                    return Err(invalid("decoder.strides", "no strides".into()));
                }
                check_strides(strides, i).map_err(|p| invalid("decoder.strides", p))?;
            }
            DecoderSpec::Yolov8 { .. } => {}
        }
        Ok(())
    }
}

fn check_strides(strides: &[u32], input: &InputSpec) -> Result<(), String> {
    for &s in strides {
        if s == 0 || !input.width.is_multiple_of(s) || !input.height.is_multiple_of(s) {
            return Err(format!(
                "stride {s} does not divide the input size {}x{}",
                input.width, input.height
            ));
        }
    }
    Ok(())
}

/// The shipped NanoDet spec, for tests.
#[cfg(test)]
pub(crate) fn shipped_nanodet() -> ModelSpec {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/nanodet-m-416.yaml");
    ModelSpec::load(&path).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> ModelSpec {
        shipped_nanodet()
    }

    #[test]
    fn the_shipped_nanodet_spec_loads() {
        let spec = shipped();
        assert_eq!(spec.classes.len(), 80);
        assert_eq!(spec.classes[0], "person");
        assert!(spec.onnx_path().exists(), "{:?}", spec.onnx_path());
        assert_eq!(spec.input.color, ColorOrder::Bgr);
    }

    /// The shipped NanoDet's ladder: fp32, then INT8; a rung with other
    /// classes is refused, naming the field and the rung.
    #[test]
    fn the_ladder_lists_the_rungs_most_accurate_first() {
        let rungs = shipped().rungs().unwrap();
        let names: Vec<&str> = rungs.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["nanodet-m-416", "nanodet-m-416-int8"]);
        assert!(rungs[1].onnx_path().exists());
        let dir = tempfile::tempdir().unwrap();
        let text = std::fs::read_to_string(shipped().origin).unwrap();
        let other = text
            .replace("  - person\n", "  - rider\n")
            .replace("[person, ", "[rider, ");
        let other = other.replace("\nladder:", "\n# no ladder:");
        std::fs::write(dir.path().join("other.yaml"), other).unwrap();
        let top = text.replace("ladder: [nanodet-m-416-int8.yaml]", "ladder: [other.yaml]");
        let top = ModelSpec::from_yaml(&top, &dir.path().join("top.yaml")).unwrap();
        let error = top.rungs().unwrap_err().to_string();
        assert!(
            error.contains("ladder: other.yaml has other classes"),
            "{error}"
        );
    }

    #[test]
    fn invalid_specs_name_the_key() {
        let text = std::fs::read_to_string(shipped().origin).unwrap();
        let bad = text.replace("score_threshold: 0.35", "score_threshold: 1.5");
        let err = ModelSpec::from_yaml(&bad, Path::new("x.yaml")).unwrap_err();
        assert!(err.to_string().contains("score_threshold"), "{err}");
        let bad = text.replace("strides: [8, 16, 32]", "strides: [8, 16, 30]");
        let err = ModelSpec::from_yaml(&bad, Path::new("x.yaml")).unwrap_err();
        assert!(err.to_string().contains("decoder.strides"), "{err}");
        let bad = text.replace("layout: nchw", "layout: chw");
        let err = ModelSpec::from_yaml(&bad, Path::new("x.yaml")).unwrap_err();
        assert!(err.to_string().contains("chw"), "{err}");
    }
}
