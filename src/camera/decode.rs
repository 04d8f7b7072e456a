//! Output decoding: an engine's raw output tensors in, [`Detection2d`]s in
//! original image pixels out.
//!
//! Owns the per-architecture decoders named by [`DecoderSpec`] (NanoDet GFL
//! heads, YOLOv8, YOLOX), the validation of output shapes against the model
//! spec, score thresholding, the mapping of boxes from input-tensor pixels to
//! image pixels through an [`ImageTransform`], and the final NMS ([`super::nms`])
//! and `max_detections` cap. The [`Decoder`] keeps its candidate buffers from
//! frame to frame: after the first frames (warm-up, once the buffers have grown
//! to the largest candidate count) [`Decoder::decode`] never allocates.
//!
//! Robustness: wrong shapes are reported as [`DecodeTensorError`] naming the
//! tensor, never a panic. A NaN score is never above the threshold; a box with
//! a NaN or infinite coordinate, or with no area left after mapping and
//! clipping to the image (e.g. entirely inside letterbox padding), is dropped.

use super::nms::{NmsScratch, nms};
use super::spec::{DecoderSpec, ModelSpec};
use super::{Detection2d, ImageTransform, Outputs, TensorView};

/// An output tensor that is not what the model spec says.
#[derive(Debug, thiserror::Error)]
pub enum DecodeTensorError {
    #[error("output {name:?} is missing")]
    MissingOutput { name: String },
    #[error("output {name:?}: expected {expected}, found {found:?}")]
    BadShape {
        name: String,
        expected: String,
        found: Vec<usize>,
    },
}

/// One detection grid: `width x height` cells of `stride` input pixels.
#[derive(Debug, Clone, Copy)]
struct Grid {
    stride: f32,
    width: usize,
    height: usize,
}

impl Grid {
    fn new(stride: u32, input_width: u32, input_height: u32) -> Self {
        // A zero stride (only possible in a spec that skipped validation)
        // gives an empty grid, so the tensors fail the shape check.
        Grid {
            stride: stride as f32,
            width: input_width.checked_div(stride).unwrap_or(0) as usize,
            height: input_height.checked_div(stride).unwrap_or(0) as usize,
        }
    }

    fn cells(&self) -> usize {
        self.width * self.height
    }
}

#[derive(Debug, Clone)]
struct NanodetLevel {
    grid: Grid,
    scores: String,
    boxes: String,
}

#[derive(Debug, Clone)]
enum Kind {
    Nanodet {
        levels: Vec<NanodetLevel>,
        /// `reg_max + 1`.
        bins: usize,
    },
    Yolov8 {
        output: String,
    },
    Yolox {
        output: String,
        levels: Vec<Grid>,
        anchors: usize,
    },
}

/// Turns raw outputs into thresholded, NMSed, capped detections in image
/// pixels. Keep one per model; its buffers are reused frame after frame.
#[derive(Debug, Clone)]
pub struct Decoder {
    kind: Kind,
    classes: usize,
    score_threshold: f32,
    nms_iou: f32,
    class_agnostic: bool,
    max_detections: usize,
    /// Thresholded candidates in image pixels, then the NMS survivors.
    candidates: Vec<Detection2d>,
    nms: NmsScratch,
    /// YOLOv8: best (score, class) per anchor.
    best: Vec<(f32, usize)>,
}

/// Largest class count whose indices fit [`Detection2d::class`].
const MAX_CLASSES: usize = u16::MAX as usize + 1;

impl Decoder {
    pub fn new(spec: &ModelSpec) -> Self {
        let (w, h) = (spec.input.width, spec.input.height);
        let kind = match &spec.decoder {
            DecoderSpec::Nanodet {
                strides,
                reg_max,
                scores,
                boxes,
            } => Kind::Nanodet {
                levels: strides
                    .iter()
                    .zip(scores)
                    .zip(boxes)
                    .map(|((&s, scores), boxes)| NanodetLevel {
                        grid: Grid::new(s, w, h),
                        scores: scores.clone(),
                        boxes: boxes.clone(),
                    })
                    .collect(),
                bins: *reg_max as usize + 1,
            },
            DecoderSpec::Yolov8 { output } => Kind::Yolov8 {
                output: output.clone(),
            },
            DecoderSpec::Yolox { output, strides } => {
                let levels: Vec<Grid> = strides.iter().map(|&s| Grid::new(s, w, h)).collect();
                Kind::Yolox {
                    output: output.clone(),
                    anchors: levels.iter().map(Grid::cells).sum(),
                    levels,
                }
            }
        };
        Decoder {
            kind,
            classes: spec.classes.len(),
            score_threshold: spec.score_threshold,
            nms_iou: spec.nms_iou,
            class_agnostic: spec.class_agnostic_nms,
            max_detections: spec.max_detections,
            candidates: Vec::new(),
            nms: NmsScratch::new(),
            best: Vec::new(),
        }
    }

    /// Decodes raw outputs into detections in image pixels (via `transform`),
    /// thresholded (score strictly above `score_threshold`), NMSed (IoU
    /// strictly above `nms_iou` suppresses, per class unless
    /// `class_agnostic_nms`) and capped at `max_detections`, best first.
    ///
    /// `out` is cleared first; on error it stays empty. A transform with a
    /// negative or NaN image size yields no detections.
    pub fn decode(
        &mut self,
        outputs: &dyn Outputs,
        transform: &ImageTransform,
        out: &mut Vec<Detection2d>,
    ) -> Result<(), DecodeTensorError> {
        out.clear();
        self.candidates.clear();
        let c = self.classes;
        if c > MAX_CLASSES {
            return Err(DecodeTensorError::BadShape {
                name: self.first_output().to_owned(),
                expected: format!("at most {MAX_CLASSES} classes"),
                found: vec![c],
            });
        }
        // `ImageTransform::to_image` clamps to [0, size], which needs size >= 0.
        if !(transform.image_width >= 0.0 && transform.image_height >= 0.0) {
            return Ok(());
        }
        let mut sink = Sink {
            candidates: &mut self.candidates,
            transform,
            threshold: self.score_threshold,
        };
        match &self.kind {
            Kind::Nanodet { levels, bins } => {
                for level in levels {
                    decode_nanodet_level(outputs, level, *bins, c, &mut sink)?;
                }
            }
            Kind::Yolov8 { output } => {
                decode_yolov8(outputs, output, c, &mut self.best, &mut sink)?
            }
            Kind::Yolox {
                output,
                levels,
                anchors,
            } => decode_yolox(outputs, output, levels, *anchors, c, &mut sink)?,
        }
        nms(
            &mut self.candidates,
            &mut self.nms,
            self.nms_iou,
            self.class_agnostic,
            self.max_detections,
        );
        out.extend_from_slice(&self.candidates);
        Ok(())
    }

    fn first_output(&self) -> &str {
        match &self.kind {
            Kind::Nanodet { levels, .. } => levels.first().map_or("", |l| l.scores.as_str()),
            Kind::Yolov8 { output } | Kind::Yolox { output, .. } => output.as_str(),
        }
    }
}

/// Where decoders put candidates: thresholds, maps, and drops bad boxes.
struct Sink<'a> {
    candidates: &'a mut Vec<Detection2d>,
    transform: &'a ImageTransform,
    threshold: f32,
}

impl Sink<'_> {
    fn passes(&self, score: f32) -> bool {
        score > self.threshold
    }

    /// `bbox` in input-tensor pixels; `class < MAX_CLASSES`.
    fn push(&mut self, class: usize, score: f32, bbox: [f32; 4]) {
        if !bbox.iter().all(|v| v.is_finite()) {
            return;
        }
        let bbox = self.transform.to_image(bbox);
        // Also false for NaN (a NaN scale or pad).
        if !(bbox[2] > bbox[0] && bbox[3] > bbox[1]) {
            return;
        }
        self.candidates.push(Detection2d {
            class: class as u16,
            score,
            bbox,
        });
    }
}

/// Looks up `name` and checks it is exactly `expected` with matching data.
fn tensor<'a>(
    outputs: &'a dyn Outputs,
    name: &str,
    expected: [usize; 3],
) -> Result<TensorView<'a>, DecodeTensorError> {
    let view = outputs
        .output(name)
        .ok_or_else(|| DecodeTensorError::MissingOutput {
            name: name.to_owned(),
        })?;
    if view.shape != expected {
        return Err(DecodeTensorError::BadShape {
            name: name.to_owned(),
            expected: format!("shape {expected:?}"),
            found: view.shape.to_vec(),
        });
    }
    let len = expected.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    if len != Some(view.data.len()) {
        return Err(DecodeTensorError::BadShape {
            name: name.to_owned(),
            expected: match len {
                Some(len) => format!("{len} values for shape {expected:?}"),
                None => format!("a shape {expected:?} that fits in memory"),
            },
            found: vec![view.data.len()],
        });
    }
    Ok(view)
}

/// Expected value of a GFL side distribution: `sum_k k softmax(logits)_k`,
/// in bins. Computed without a buffer; NaN in, NaN out.
fn expected_bin(logits: &[f32]) -> f32 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let (mut sum, mut weighted) = (0.0f32, 0.0f32);
    for (k, &x) in logits.iter().enumerate() {
        let p = (x - max).exp();
        sum += p;
        weighted += k as f32 * p;
    }
    weighted / sum
}

fn decode_nanodet_level(
    outputs: &dyn Outputs,
    level: &NanodetLevel,
    bins: usize,
    classes: usize,
    sink: &mut Sink<'_>,
) -> Result<(), DecodeTensorError> {
    let grid = level.grid;
    let n = grid.cells();
    let scores = tensor(outputs, &level.scores, [1, n, classes])?;
    let boxes = tensor(outputs, &level.boxes, [1, n, 4 * bins])?;
    if classes == 0 {
        return Ok(());
    }
    let s = grid.stride;
    let cells = scores
        .data
        .chunks_exact(classes)
        .zip(boxes.data.chunks_exact(4 * bins));
    for (i, (cell_scores, dist)) in cells.enumerate() {
        // The box distribution only for cells that can produce a detection.
        if !cell_scores.iter().any(|&p| sink.passes(p)) {
            continue;
        }
        let (row, col) = (i / grid.width, i % grid.width);
        let cx = (col as f32 + 0.5) * s;
        let cy = (row as f32 + 0.5) * s;
        let side = |k: usize| expected_bin(&dist[k * bins..(k + 1) * bins]) * s;
        let bbox = [cx - side(0), cy - side(1), cx + side(2), cy + side(3)];
        // Multi-label: every class above the threshold is a candidate.
        for (class, &score) in cell_scores.iter().enumerate() {
            if sink.passes(score) {
                sink.push(class, score, bbox);
            }
        }
    }
    Ok(())
}

fn decode_yolov8(
    outputs: &dyn Outputs,
    name: &str,
    classes: usize,
    best: &mut Vec<(f32, usize)>,
    sink: &mut Sink<'_>,
) -> Result<(), DecodeTensorError> {
    let rows = 4 + classes;
    let view = outputs
        .output(name)
        .ok_or_else(|| DecodeTensorError::MissingOutput {
            name: name.to_owned(),
        })?;
    let n = match view.shape {
        [1, r, n] if *r == rows => *n,
        _ => {
            return Err(DecodeTensorError::BadShape {
                name: name.to_owned(),
                expected: format!("shape [1, {rows}, N] (4 + {classes} classes)"),
                found: view.shape.to_vec(),
            });
        }
    };
    let d = tensor(outputs, name, [1, rows, n])?.data;
    // Channel-major: find each anchor's best class row by row, so the scan
    // walks memory in order.
    best.clear();
    best.resize(n, (f32::NEG_INFINITY, 0));
    for class in 0..classes {
        let row = &d[(4 + class) * n..(5 + class) * n];
        for (b, &p) in best.iter_mut().zip(row) {
            if p > b.0 {
                *b = (p, class);
            }
        }
    }
    for (j, &(score, class)) in best.iter().enumerate() {
        if sink.passes(score) {
            let (cx, cy, w, h) = (d[j], d[n + j], d[2 * n + j], d[3 * n + j]);
            let bbox = [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0];
            sink.push(class, score, bbox);
        }
    }
    Ok(())
}

fn decode_yolox(
    outputs: &dyn Outputs,
    name: &str,
    levels: &[Grid],
    anchors: usize,
    classes: usize,
    sink: &mut Sink<'_>,
) -> Result<(), DecodeTensorError> {
    let width = 5 + classes;
    let d = tensor(outputs, name, [1, anchors, width])?.data;
    let mut rows = d.chunks_exact(width);
    for grid in levels {
        let s = grid.stride;
        for gy in 0..grid.height {
            for gx in 0..grid.width {
                // The shape check guarantees one row per anchor.
                let Some(r) = rows.next() else {
                    return Ok(());
                };
                let mut best = (f32::NEG_INFINITY, 0);
                for (class, &p) in r[5..].iter().enumerate() {
                    if p > best.0 {
                        best = (p, class);
                    }
                }
                let score = r[4] * best.0;
                if sink.passes(score) {
                    let x = (r[0] + gx as f32) * s;
                    let y = (r[1] + gy as f32) * s;
                    let w = r[2].exp() * s;
                    let h = r[3].exp() * s;
                    let bbox = [x - w / 2.0, y - h / 2.0, x + w / 2.0, y + h / 2.0];
                    sink.push(best.1, score, bbox);
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::camera::spec::{ColorOrder, InputSpec, Layout, ResizeMode};
    use std::collections::HashMap;
    use std::path::PathBuf;

    /// Named output tensors built by hand.
    #[derive(Default)]
    struct TestOutputs(HashMap<String, (Vec<usize>, Vec<f32>)>);

    impl TestOutputs {
        fn with(mut self, name: &str, shape: &[usize], data: Vec<f32>) -> Self {
            self.0.insert(name.to_owned(), (shape.to_vec(), data));
            self
        }

        fn data(&mut self, name: &str) -> &mut Vec<f32> {
            &mut self.0.get_mut(name).unwrap().1
        }
    }

    impl Outputs for TestOutputs {
        fn output(&self, name: &str) -> Option<TensorView<'_>> {
            self.0
                .get(name)
                .map(|(shape, data)| TensorView { shape, data })
        }
    }

    fn spec(decoder: DecoderSpec, size: u32) -> ModelSpec {
        ModelSpec {
            name: "test".into(),
            onnx: PathBuf::from("test.onnx"),
            input: InputSpec {
                name: "input".into(),
                layout: Layout::Nchw,
                width: size,
                height: size,
                color: ColorOrder::Rgb,
                mean: [0.0; 3],
                std: [1.0; 3],
                resize: ResizeMode::Stretch,
                pad_value: 114.0,
            },
            decoder,
            classes: vec!["a".into(), "b".into(), "c".into()],
            score_threshold: 0.3,
            nms_iou: 0.5,
            class_agnostic_nms: false,
            max_detections: 100,
            obstacle_classes: vec![],
            ladder: vec![],
            origin: PathBuf::new(),
        }
    }

    const C: usize = 3;

    fn yolov8_spec(size: u32) -> ModelSpec {
        spec(
            DecoderSpec::Yolov8 {
                output: "out".into(),
            },
            size,
        )
    }

    /// A YOLOv8 output `[1, 4 + 3, anchors.len()]` from
    /// `(cx, cy, w, h, class, score)` per anchor (other classes 0.01).
    fn yolov8_outputs(anchors: &[(f32, f32, f32, f32, usize, f32)]) -> TestOutputs {
        let n = anchors.len();
        let mut d = vec![0.01; (4 + C) * n];
        for (j, &(cx, cy, w, h, class, score)) in anchors.iter().enumerate() {
            d[j] = cx;
            d[n + j] = cy;
            d[2 * n + j] = w;
            d[3 * n + j] = h;
            d[(4 + class) * n + j] = score;
        }
        TestOutputs::default().with("out", &[1, 4 + C, n], d)
    }

    fn yolox_spec() -> ModelSpec {
        spec(
            DecoderSpec::Yolox {
                output: "out".into(),
                strides: vec![8, 16],
            },
            64,
        )
    }

    /// 64x64 with strides 8 and 16: 64 + 16 anchors.
    const YOLOX_ANCHORS: usize = 80;

    fn yolox_outputs() -> TestOutputs {
        TestOutputs::default().with(
            "out",
            &[1, YOLOX_ANCHORS, 5 + C],
            vec![0.0; YOLOX_ANCHORS * (5 + C)],
        )
    }

    fn set_yolox(o: &mut TestOutputs, anchor: usize, values: [f32; 5 + C]) {
        o.data("out")[anchor * (5 + C)..(anchor + 1) * (5 + C)].copy_from_slice(&values);
    }

    const REG_MAX: u32 = 7;
    const BINS: usize = REG_MAX as usize + 1;

    fn nanodet_spec() -> ModelSpec {
        spec(
            DecoderSpec::Nanodet {
                strides: vec![8, 16],
                reg_max: REG_MAX,
                scores: vec!["s8".into(), "s16".into()],
                boxes: vec!["b8".into(), "b16".into()],
            },
            64,
        )
    }

    /// Zero scores, uniform distributions, on 8x8 and 4x4 grids.
    fn nanodet_outputs() -> TestOutputs {
        TestOutputs::default()
            .with("s8", &[1, 64, C], vec![0.0; 64 * C])
            .with("b8", &[1, 64, 4 * BINS], vec![0.0; 64 * 4 * BINS])
            .with("s16", &[1, 16, C], vec![0.0; 16 * C])
            .with("b16", &[1, 16, 4 * BINS], vec![0.0; 16 * 4 * BINS])
    }

    /// Puts all the mass of each side of `cell` on one bin: (l, t, r, b).
    fn one_hot_sides(o: &mut TestOutputs, boxes: &str, cell: usize, sides: [usize; 4]) {
        let dist = &mut o.data(boxes)[cell * 4 * BINS..(cell + 1) * 4 * BINS];
        for (k, &bin) in sides.iter().enumerate() {
            for (b, v) in dist[k * BINS..(k + 1) * BINS].iter_mut().enumerate() {
                *v = if b == bin { 3.0 } else { f32::NEG_INFINITY };
            }
        }
    }

    fn decode(spec: &ModelSpec, o: &TestOutputs, t: &ImageTransform) -> Vec<Detection2d> {
        let mut out = Vec::new();
        Decoder::new(spec).decode(o, t, &mut out).unwrap();
        out
    }

    fn id64() -> ImageTransform {
        ImageTransform::identity(64.0, 64.0)
    }

    fn det(class: u16, score: f32, bbox: [f32; 4]) -> Detection2d {
        Detection2d { class, score, bbox }
    }

    #[test]
    fn yolov8_box_math() {
        let o = yolov8_outputs(&[
            (10.0, 10.0, 4.0, 4.0, 0, 0.1),
            (20.0, 30.0, 10.0, 8.0, 2, 0.9),
            (50.0, 40.0, 6.0, 12.0, 1, 0.6),
        ]);
        let out = decode(&yolov8_spec(64), &o, &id64());
        assert_eq!(
            out,
            vec![
                det(2, 0.9, [15.0, 26.0, 25.0, 34.0]),
                det(1, 0.6, [47.0, 34.0, 53.0, 46.0]),
            ]
        );
    }

    #[test]
    fn yolov8_keeps_the_best_class_per_anchor() {
        let mut o = yolov8_outputs(&[(20.0, 20.0, 10.0, 10.0, 0, 0.5)]);
        o.data("out")[4 + 2] = 0.8; // class 2 of the only anchor
        let out = decode(&yolov8_spec(64), &o, &id64());
        assert_eq!(out, vec![det(2, 0.8, [15.0, 15.0, 25.0, 25.0])]);
    }

    #[test]
    fn yolox_grid_and_stride_math() {
        let mut o = yolox_outputs();
        // Stride 8, row 3, col 5: anchor 3 * 8 + 5.
        set_yolox(&mut o, 29, [0.5, 0.25, 0.0, 0.0, 0.8, 0.1, 0.5, 0.2]);
        // The second stride's first anchor: stride 16, row 0, col 0.
        set_yolox(&mut o, 64, [0.5, 0.5, 0.0, 0.0, 1.0, 0.0, 0.0, 0.9]);
        // Stride 16, row 2, col 2, with exp sizes.
        set_yolox(
            &mut o,
            64 + 2 * 4 + 2,
            [0.0, 0.0, 1.0, -1.0, 1.0, 0.7, 0.0, 0.0],
        );
        let out = decode(&yolox_spec(), &o, &id64());
        assert_eq!(out.len(), 3, "{out:?}");
        // Score = objectness * best class score, best first.
        assert_eq!(out[0], det(2, 0.9, [0.0, 0.0, 16.0, 16.0]));
        // Centre (32, 32), w = e * 16, h = 16 / e.
        assert_eq!((out[1].class, out[1].score), (0, 0.7));
        let (w, h) = (1f32.exp() * 16.0, (-1f32).exp() * 16.0);
        let expected = [
            32.0 - w / 2.0,
            32.0 - h / 2.0,
            32.0 + w / 2.0,
            32.0 + h / 2.0,
        ];
        for (a, b) in out[1].bbox.iter().zip(expected) {
            assert!((a - b).abs() < 1e-4, "{:?} vs {expected:?}", out[1].bbox);
        }
        // Centre ((5 + 0.5) * 8, (3 + 0.25) * 8) = (44, 26), 8x8.
        assert_eq!(out[2], det(1, 0.4, [40.0, 22.0, 48.0, 30.0]));
    }

    #[test]
    fn nanodet_all_mass_on_one_bin_gives_k_times_stride() {
        let mut o = nanodet_outputs();
        // Stride 16, row 1, col 2: centre (40, 24).
        let cell = 4 + 2;
        o.data("s16")[cell * C + 1] = 0.8;
        one_hot_sides(&mut o, "b16", cell, [1, 1, 0, 2]);
        let out = decode(&nanodet_spec(), &o, &id64());
        assert_eq!(out, vec![det(1, 0.8, [24.0, 8.0, 40.0, 56.0])]);
        // Every bin, including the last (reg_max), on stride 8, row 0, col 0.
        for k in 0..BINS {
            let mut o = nanodet_outputs();
            o.data("s8")[0] = 0.5;
            one_hot_sides(&mut o, "b8", 0, [0, 0, k, k]);
            let out = decode(&nanodet_spec(), &o, &ImageTransform::identity(1e4, 1e4));
            let d = k as f32 * 8.0;
            if k == 0 {
                assert!(out.is_empty(), "zero-area box kept: {out:?}");
            } else {
                assert_eq!(out, vec![det(0, 0.5, [4.0, 4.0, 4.0 + d, 4.0 + d])]);
            }
        }
    }

    #[test]
    fn nanodet_uniform_distribution_gives_half_reg_max() {
        let mut o = nanodet_outputs();
        // Stride 8, row 4, col 3: centre (28, 36); uniform logits (any value).
        let cell = 4 * 8 + 3;
        o.data("s8")[cell * C + 2] = 0.6;
        for v in &mut o.data("b8")[cell * 4 * BINS..(cell + 1) * 4 * BINS] {
            *v = 1.25;
        }
        let out = decode(&nanodet_spec(), &o, &id64());
        let d = REG_MAX as f32 / 2.0 * 8.0; // 28
        assert_eq!(
            out,
            vec![det(2, 0.6, [28.0 - d, 36.0 - d, 28.0 + d, 36.0 + d])]
        );
    }

    #[test]
    fn nanodet_keeps_every_class_above_the_threshold() {
        let mut o = nanodet_outputs();
        let cell = 9; // stride 8, row 1, col 1: centre (12, 12)
        o.data("s8")[cell * C..(cell + 1) * C].copy_from_slice(&[0.7, 0.2, 0.9]);
        one_hot_sides(&mut o, "b8", cell, [1, 1, 1, 1]);
        let out = decode(&nanodet_spec(), &o, &id64());
        let b = [4.0, 4.0, 20.0, 20.0];
        assert_eq!(out, vec![det(2, 0.9, b), det(0, 0.7, b)]);
    }

    #[test]
    fn letterbox_mapping_maps_back_and_clips() {
        // A 1280x960 image letterboxed into 640x640: scale 0.5, pad (0, 80).
        let t = ImageTransform {
            scale_x: 0.5,
            scale_y: 0.5,
            pad_x: 0.0,
            pad_y: 80.0,
            image_width: 1280.0,
            image_height: 960.0,
        };
        let o = yolov8_outputs(&[
            (100.0, 100.0, 40.0, 20.0, 0, 0.9),
            // Past the right edge and into the top padding: clipped.
            (630.0, 65.0, 60.0, 70.0, 1, 0.8),
            // Entirely inside the bottom padding: nothing left, dropped.
            (300.0, 600.0, 40.0, 20.0, 2, 0.7),
        ]);
        let out = decode(&yolov8_spec(640), &o, &t);
        assert_eq!(
            out,
            vec![
                det(0, 0.9, [160.0, 20.0, 240.0, 60.0]),
                det(1, 0.8, [1200.0, 0.0, 1280.0, 40.0]),
            ]
        );
    }

    #[test]
    fn threshold_is_strictly_greater() {
        let mut s = yolov8_spec(64);
        s.score_threshold = 0.5;
        let o = yolov8_outputs(&[
            (10.0, 10.0, 4.0, 4.0, 0, 0.5),
            (30.0, 30.0, 4.0, 4.0, 1, 0.5f32.next_up()),
        ]);
        let out = decode(&s, &o, &id64());
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].class, 1);
        // The same for the YOLOX product and NanoDet scores.
        let mut s = yolox_spec();
        s.score_threshold = 0.5;
        let mut o = yolox_outputs();
        set_yolox(&mut o, 0, [0.5, 0.5, 0.0, 0.0, 1.0, 0.5, 0.0, 0.0]);
        assert!(decode(&s, &o, &id64()).is_empty());
        let mut s = nanodet_spec();
        s.score_threshold = 0.5;
        let mut o = nanodet_outputs();
        o.data("s8")[0] = 0.5;
        assert!(decode(&s, &o, &id64()).is_empty());
    }

    #[test]
    fn nms_merges_overlapping_same_class_candidates() {
        let o = yolov8_outputs(&[
            (20.0, 20.0, 10.0, 10.0, 1, 0.6),
            (21.0, 20.0, 10.0, 10.0, 1, 0.9),
            // Same place, other class: kept (per-class NMS).
            (20.0, 20.0, 10.0, 10.0, 0, 0.5),
        ]);
        let out = decode(&yolov8_spec(64), &o, &id64());
        assert_eq!(
            out,
            vec![
                det(1, 0.9, [16.0, 15.0, 26.0, 25.0]),
                det(0, 0.5, [15.0, 15.0, 25.0, 25.0]),
            ]
        );
        let mut s = yolov8_spec(64);
        s.class_agnostic_nms = true;
        let out = decode(&s, &o, &id64());
        assert_eq!(out, vec![det(1, 0.9, [16.0, 15.0, 26.0, 25.0])]);
    }

    #[test]
    fn max_detections_caps_the_output() {
        let anchors: Vec<_> = (0..6)
            .map(|i| {
                (
                    5.0 + 10.0 * i as f32,
                    10.0,
                    4.0,
                    4.0,
                    0,
                    0.4 + 0.1 * i as f32,
                )
            })
            .collect();
        let o = yolov8_outputs(&anchors);
        let mut s = yolov8_spec(64);
        s.max_detections = 2;
        let out = decode(&s, &o, &id64());
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].bbox[0], 53.0);
        assert_eq!(out[1].bbox[0], 43.0);
    }

    fn decode_err(spec: &ModelSpec, o: &TestOutputs) -> DecodeTensorError {
        let mut out = vec![det(0, 1.0, [0.0; 4])];
        let err = Decoder::new(spec).decode(o, &id64(), &mut out).unwrap_err();
        assert!(out.is_empty());
        err
    }

    #[test]
    fn wrong_shapes_are_bad_shape_naming_the_tensor() {
        // YOLOv8 with 4 class rows for a 3-class spec.
        let o = TestOutputs::default().with("out", &[1, 8, 2], vec![0.0; 16]);
        let err = decode_err(&yolov8_spec(64), &o);
        assert!(
            matches!(&err, DecodeTensorError::BadShape { name, found, .. } if name == "out" && found == &[1, 8, 2]),
            "{err:?}"
        );
        assert!(err.to_string().contains("\"out\""), "{err}");
        // Transposed YOLOv8 export.
        let o = TestOutputs::default().with("out", &[1, 2, 7], vec![0.0; 14]);
        assert!(matches!(
            decode_err(&yolov8_spec(64), &o),
            DecodeTensorError::BadShape { .. }
        ));
        // Data length disagreeing with the shape.
        let o = TestOutputs::default().with("out", &[1, 7, 2], vec![0.0; 13]);
        assert!(matches!(
            decode_err(&yolov8_spec(64), &o),
            DecodeTensorError::BadShape { .. }
        ));
        // YOLOX: anchor count not matching strides and input size; wrong classes.
        let o = TestOutputs::default().with("out", &[1, 79, 8], vec![0.0; 79 * 8]);
        assert!(matches!(
            decode_err(&yolox_spec(), &o),
            DecodeTensorError::BadShape { .. }
        ));
        let o = TestOutputs::default().with("out", &[1, 80, 9], vec![0.0; 80 * 9]);
        assert!(matches!(
            decode_err(&yolox_spec(), &o),
            DecodeTensorError::BadShape { .. }
        ));
        // NanoDet: wrong class count on the second level's scores.
        let o = nanodet_outputs().with("s16", &[1, 16, 4], vec![0.0; 64]);
        let err = decode_err(&nanodet_spec(), &o);
        assert!(
            matches!(&err, DecodeTensorError::BadShape { name, .. } if name == "s16"),
            "{err:?}"
        );
        // NanoDet: wrong reg_max on the first level's boxes.
        let o = nanodet_outputs().with("b8", &[1, 64, 44], vec![0.0; 64 * 44]);
        let err = decode_err(&nanodet_spec(), &o);
        assert!(
            matches!(&err, DecodeTensorError::BadShape { name, .. } if name == "b8"),
            "{err:?}"
        );
    }

    #[test]
    fn missing_output_is_named() {
        let err = decode_err(&yolov8_spec(64), &TestOutputs::default());
        assert!(
            matches!(&err, DecodeTensorError::MissingOutput { name } if name == "out"),
            "{err:?}"
        );
        let mut o = nanodet_outputs();
        o.0.remove("b16");
        let err = decode_err(&nanodet_spec(), &o);
        assert!(
            matches!(&err, DecodeTensorError::MissingOutput { name } if name == "b16"),
            "{err:?}"
        );
    }

    fn assert_finite(out: &[Detection2d]) {
        for d in out {
            assert!(
                d.score.is_finite() && d.bbox.iter().all(|v| v.is_finite()),
                "{d:?}"
            );
            assert!(d.bbox[0] <= d.bbox[2] && d.bbox[1] <= d.bbox[3], "{d:?}");
        }
    }

    #[test]
    fn nan_inputs_never_panic_or_produce_nan_boxes() {
        let nan = f32::NAN;
        // YOLOv8: NaN scores, NaN box with a good score, infinite size.
        let mut o = yolov8_outputs(&[
            (10.0, 10.0, 4.0, 4.0, 0, nan),
            (nan, 10.0, 4.0, 4.0, 1, 0.9),
            (30.0, 30.0, f32::INFINITY, 4.0, 2, 0.9),
            (50.0, 50.0, 4.0, 4.0, 2, 0.8),
        ]);
        let out = decode(&yolov8_spec(64), &o, &id64());
        assert_finite(&out);
        assert_eq!(out, vec![det(2, 0.8, [48.0, 48.0, 52.0, 52.0])]);
        o.data("out").fill(nan);
        assert!(decode(&yolov8_spec(64), &o, &id64()).is_empty());
        // YOLOX: everything NaN, then NaN objectness / offsets / huge log sizes.
        let mut o = yolox_outputs();
        o.data("out").fill(nan);
        assert!(decode(&yolox_spec(), &o, &id64()).is_empty());
        let mut o = yolox_outputs();
        set_yolox(&mut o, 0, [0.5, 0.5, 0.0, 0.0, nan, 0.9, 0.0, 0.0]);
        set_yolox(&mut o, 1, [nan, 0.5, 0.0, 0.0, 1.0, 0.9, 0.0, 0.0]);
        set_yolox(&mut o, 2, [0.5, 0.5, 1e3, 0.0, 1.0, 0.9, 0.0, 0.0]);
        set_yolox(&mut o, 3, [0.5, 0.5, 0.0, 0.0, 1.0, nan, 0.9, nan]);
        let out = decode(&yolox_spec(), &o, &id64());
        assert_finite(&out);
        assert_eq!(out, vec![det(1, 0.9, [24.0, 0.0, 32.0, 8.0])]);
        // NanoDet: NaN scores everywhere but one cell whose distribution has a NaN.
        let mut o = nanodet_outputs();
        o.data("s8").fill(nan);
        o.data("s16")[0] = 0.9;
        o.data("b16")[3] = nan;
        assert!(decode(&nanodet_spec(), &o, &id64()).is_empty());
        // All logits of a side -inf or +inf: no NaN box either.
        let mut o = nanodet_outputs();
        o.data("s16")[0] = 0.9;
        o.data("b16")[..BINS].fill(f32::NEG_INFINITY);
        o.data("b16")[BINS..2 * BINS].fill(f32::INFINITY);
        assert!(decode(&nanodet_spec(), &o, &id64()).is_empty());
        // A NaN or negative-size transform.
        let o = yolov8_outputs(&[(20.0, 20.0, 10.0, 10.0, 1, 0.9)]);
        let mut t = id64();
        t.scale_x = nan;
        assert!(decode(&yolov8_spec(64), &o, &t).is_empty());
        let mut t = id64();
        t.image_width = nan;
        assert!(decode(&yolov8_spec(64), &o, &t).is_empty());
        t.image_width = -1.0;
        assert!(decode(&yolov8_spec(64), &o, &t).is_empty());
    }

    #[test]
    fn the_shipped_nanodet_spec_decodes_its_documented_shapes() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/nanodet-m-416.yaml");
        let spec = ModelSpec::load(&path).unwrap();
        let mut o = TestOutputs::default();
        for (i, g) in [52usize, 26, 13].into_iter().enumerate() {
            o = o
                .with(
                    &format!("Identity_{i}:0").replace("_0:0", ":0"),
                    &[1, g * g, 80],
                    vec![0.0; g * g * 80],
                )
                .with(
                    &format!("Identity_{}:0", i + 3),
                    &[1, g * g, 44],
                    vec![0.0; g * g * 44],
                );
        }
        // Stride 32, row 12, col 12 (the last cell): centre (400, 400).
        o.data("Identity_2:0")[168 * 80 + 2] = 0.9;
        let out = decode(&spec, &o, &ImageTransform::identity(416.0, 416.0));
        // Uniform distributions: 5 bins * 32 = 160 per side, clipped at 416.
        assert_eq!(out, vec![det(2, 0.9, [240.0, 240.0, 416.0, 416.0])]);
    }

    #[test]
    fn a_second_decode_allocates_nothing() {
        let mut yolov8 = yolov8_outputs(&[
            (20.0, 20.0, 10.0, 10.0, 1, 0.6),
            (21.0, 20.0, 10.0, 10.0, 1, 0.9),
            (40.0, 40.0, 10.0, 10.0, 0, 0.5),
        ]);
        yolov8.data("out")[4 * 3..].fill(0.35); // every class of every anchor passes
        let mut yolox = yolox_outputs();
        for a in 0..YOLOX_ANCHORS {
            set_yolox(&mut yolox, a, [0.5, 0.5, 0.0, 0.0, 0.9, 0.5, 0.6, 0.7]);
        }
        let mut nanodet = nanodet_outputs();
        nanodet.data("s8").fill(0.8);
        nanodet.data("s16").fill(0.8);
        let cases = [
            (yolov8_spec(64), yolov8),
            (yolox_spec(), yolox),
            (nanodet_spec(), nanodet),
        ];
        // The counting allocator is live in this test binary.
        let live = allocation_counter::measure(|| {
            std::hint::black_box(Vec::<u8>::with_capacity(8));
        });
        assert_eq!(live.count_total, 1);
        for (spec, o) in &cases {
            let mut decoder = Decoder::new(spec);
            let mut out = Vec::new();
            decoder.decode(o, &id64(), &mut out).unwrap();
            let counted = allocation_counter::measure(|| {
                decoder.decode(o, &id64(), &mut out).unwrap();
            });
            assert!(!out.is_empty());
            assert_eq!(counted.count_total, 0, "{:?}", spec.decoder);
        }
    }
}
