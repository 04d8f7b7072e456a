//! Accuracy of 2D detections against 2D ground truth, per class: average
//! precision at an IoU threshold (PASCAL VOC 2010+ rules, all-point
//! interpolation).
//!
//! Pure functions of the boxes handed in: never reads files, never runs a
//! detector. The caller pairs each camera frame's detections with its
//! truth (`lookout_msgs/Detection2DArray`).
//!
//! # Rules
//! - **Counted truth**: seen share `visible >= min_visible` and box height
//!   `>= min_height` pixels. Other truth is *don't care*: a detection on it
//!   is neither a true nor a false positive.
//! - **Matching**, per frame and class, detections by descending score: a
//!   detection takes the unmatched counted truth of its class with the
//!   highest IoU if that IoU reaches `iou`; else, if it overlaps don't-care
//!   truth of its class by `iou`, it is ignored; else it is a false
//!   positive (a second detection of a matched object is one, as in VOC).
//! - **AP**: the area under the precision–recall curve over all detections
//!   of the class sorted by score (across frames), precision made monotone
//!   from the right. No counted truth gives NaN.

use crate::eval::{fixed, nan_as_null};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImageEvalConfig {
    pub iou: f32,
    pub min_visible: f32,
    pub min_height: f32,
}

impl Default for ImageEvalConfig {
    fn default() -> Self {
        ImageEvalConfig {
            iou: 0.5,
            min_visible: 0.3,
            min_height: 20.0,
        }
    }
}

/// One box: class label, score (1 for truth), `[x0, y0, x1, y1]` pixels,
/// and for truth its seen share.
#[derive(Debug, Clone, PartialEq)]
pub struct LabeledBox {
    pub label: String,
    pub score: f32,
    pub bbox: [f32; 4],
    pub visible: f32,
}

pub fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = w * h;
    let area = |r: &[f32; 4]| (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0);
    let union = area(a) + area(b) - inter;
    if union > 0.0 { inter / union } else { 0.0 }
}

#[derive(Debug, Clone, Default)]
struct ClassRecords {
    truth: u64,
    /// (score, true positive) of every counted detection.
    detections: Vec<(f32, bool)>,
    ignored: u64,
}

/// Accumulates frames; [`ImageEvaluator::report`] summarizes them.
#[derive(Debug, Clone)]
pub struct ImageEvaluator {
    config: ImageEvalConfig,
    frames: u64,
    classes: BTreeMap<String, ClassRecords>,
}

impl ImageEvaluator {
    /// `classes`: the labels to report (others are skipped).
    pub fn new(config: ImageEvalConfig, classes: &[&str]) -> Self {
        ImageEvaluator {
            config,
            frames: 0,
            classes: classes
                .iter()
                .map(|c| (c.to_string(), ClassRecords::default()))
                .collect(),
        }
    }

    fn counted(&self, t: &LabeledBox) -> bool {
        t.visible >= self.config.min_visible && t.bbox[3] - t.bbox[1] >= self.config.min_height
    }

    pub fn add_frame(&mut self, detections: &[LabeledBox], truth: &[LabeledBox]) {
        self.frames += 1;
        let labels: Vec<String> = self.classes.keys().cloned().collect();
        for label in labels {
            let of_class = |b: &&LabeledBox| b.label == label;
            let truths: Vec<&LabeledBox> = truth.iter().filter(of_class).collect();
            let counted: Vec<bool> = truths.iter().map(|t| self.counted(t)).collect();
            let mut matched = vec![false; truths.len()];
            let mut dets: Vec<&LabeledBox> = detections.iter().filter(of_class).collect();
            dets.sort_by(|a, b| b.score.total_cmp(&a.score));
            let threshold = self.config.iou;
            let records = self.classes.get_mut(&label).expect("a known class");
            records.truth += counted.iter().filter(|&&c| c).count() as u64;
            for d in dets {
                let best = truths
                    .iter()
                    .enumerate()
                    .filter(|&(j, _)| counted[j] && !matched[j])
                    .map(|(j, t)| (iou(&d.bbox, &t.bbox), j))
                    .max_by(|a, b| a.0.total_cmp(&b.0));
                match best {
                    Some((overlap, j)) if overlap >= threshold => {
                        matched[j] = true;
                        records.detections.push((d.score, true));
                    }
                    _ => {
                        let on_other = truths
                            .iter()
                            .enumerate()
                            .any(|(j, t)| !counted[j] && iou(&d.bbox, &t.bbox) >= threshold);
                        if on_other {
                            records.ignored += 1;
                        } else {
                            records.detections.push((d.score, false));
                        }
                    }
                }
            }
        }
    }

    pub fn report(&self) -> ImageEvalReport {
        let per_class: BTreeMap<String, ClassAp> = self
            .classes
            .iter()
            .map(|(label, r)| (label.clone(), ClassAp::of(r)))
            .collect();
        let mean = |labels: &[&str]| {
            let aps: Vec<f64> = labels
                .iter()
                .filter_map(|l| per_class.get(*l))
                .map(|c| c.ap)
                .filter(|ap| ap.is_finite())
                .collect();
            if aps.is_empty() {
                f64::NAN
            } else {
                aps.iter().sum::<f64>() / aps.len() as f64
            }
        };
        let all: Vec<&str> = per_class.keys().map(String::as_str).collect();
        ImageEvalReport {
            frames: self.frames,
            config: self.config.clone(),
            map: mean(&all),
            map_car_pedestrian: mean(&["car", "pedestrian"]),
            per_class,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassAp {
    pub truth: u64,
    /// Counted detections (true and false positives; ignored ones left out).
    pub detections: u64,
    pub true_positives: u64,
    /// Detections on don't-care truth.
    pub ignored: u64,
    /// Recall with every detection kept (at the model's score threshold).
    #[serde(serialize_with = "nan_as_null")]
    pub recall: f64,
    #[serde(serialize_with = "nan_as_null")]
    pub precision: f64,
    #[serde(serialize_with = "nan_as_null")]
    pub ap: f64,
}

impl ClassAp {
    fn of(r: &ClassRecords) -> ClassAp {
        let mut dets = r.detections.clone();
        dets.sort_by(|a, b| b.0.total_cmp(&a.0));
        let tp_total = dets.iter().filter(|d| d.1).count() as u64;
        let ratio = |a: u64, b: u64| {
            if b == 0 {
                f64::NAN
            } else {
                a as f64 / b as f64
            }
        };
        // Precision-recall points, then all-point interpolation.
        let mut points = Vec::with_capacity(dets.len());
        let (mut tp, mut fp) = (0u64, 0u64);
        for (_, hit) in &dets {
            if *hit {
                tp += 1;
            } else {
                fp += 1;
            }
            points.push((ratio(tp, r.truth), ratio(tp, tp + fp)));
        }
        let ap = if r.truth == 0 {
            f64::NAN
        } else {
            let mut ap = 0.0;
            let mut best_precision = 0.0f64;
            let mut next_recall = None::<f64>;
            for &(recall, precision) in points.iter().rev() {
                if let Some(next) = next_recall {
                    ap += (next - recall) * best_precision;
                }
                best_precision = best_precision.max(precision);
                next_recall = Some(recall);
            }
            if let Some(first) = next_recall {
                ap += first * best_precision;
            }
            ap
        };
        ClassAp {
            truth: r.truth,
            detections: dets.len() as u64,
            true_positives: tp_total,
            ignored: r.ignored,
            recall: ratio(tp_total, r.truth),
            precision: ratio(tp_total, dets.len() as u64),
            ap,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImageEvalReport {
    pub frames: u64,
    pub config: ImageEvalConfig,
    /// Mean AP over the classes with truth.
    #[serde(serialize_with = "nan_as_null")]
    pub map: f64,
    /// Mean AP of car and pedestrian.
    #[serde(serialize_with = "nan_as_null")]
    pub map_car_pedestrian: f64,
    pub per_class: BTreeMap<String, ClassAp>,
}

impl ImageEvalReport {
    pub fn table(&self) -> String {
        let c = &self.config;
        let mut out = format!(
            "{} camera frames; AP at IoU >= {}, truth counted when seen >= {:.0}% and >= {} px tall\n",
            self.frames,
            c.iou,
            c.min_visible * 100.0,
            c.min_height
        );
        let _ = writeln!(
            out,
            "{:<12} {:>7} {:>7} {:>7} {:>7} {:>7} {:>9} {:>7}",
            "class", "truth", "det", "TP", "ignored", "recall", "precision", "AP@0.5"
        );
        for (label, m) in &self.per_class {
            let _ = writeln!(
                out,
                "{:<12} {:>7} {:>7} {:>7} {:>7} {:>7} {:>9} {:>7}",
                label,
                m.truth,
                m.detections,
                m.true_positives,
                m.ignored,
                fixed(m.recall, 3),
                fixed(m.precision, 3),
                fixed(m.ap, 3)
            );
        }
        let _ = writeln!(
            out,
            "mAP@0.5 {} (car + pedestrian {})",
            fixed(self.map, 3),
            fixed(self.map_car_pedestrian, 3)
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(label: &str, score: f32, bbox: [f32; 4], visible: f32) -> LabeledBox {
        LabeledBox {
            label: label.into(),
            score,
            bbox,
            visible,
        }
    }

    #[test]
    fn iou_of_known_boxes() {
        assert_eq!(iou(&[0.0, 0.0, 10.0, 10.0], &[0.0, 0.0, 10.0, 10.0]), 1.0);
        assert_eq!(iou(&[0.0, 0.0, 10.0, 10.0], &[10.0, 0.0, 20.0, 10.0]), 0.0);
        assert!((iou(&[0.0, 0.0, 10.0, 10.0], &[5.0, 0.0, 15.0, 10.0]) - 1.0 / 3.0).abs() < 1e-6);
    }

    #[test]
    fn perfect_detections_score_ap_one_and_misses_lower_it() {
        let truth = [
            b("car", 1.0, [0.0, 0.0, 50.0, 40.0], 1.0),
            b("car", 1.0, [100.0, 0.0, 150.0, 40.0], 1.0),
        ];
        let mut e = ImageEvaluator::new(ImageEvalConfig::default(), &["car", "pedestrian"]);
        e.add_frame(
            &[
                b("car", 0.9, [1.0, 0.0, 50.0, 40.0], f32::NAN),
                b("car", 0.8, [100.0, 1.0, 150.0, 40.0], f32::NAN),
            ],
            &truth,
        );
        let r = e.report();
        assert_eq!(r.per_class["car"].ap, 1.0);
        assert!(r.per_class["pedestrian"].ap.is_nan());
        assert_eq!(r.map, 1.0);

        // One hit, a confident false positive, one miss: recall 0.5; the
        // PR curve is (r 0, p 0) then (r 0.5, p 0.5): AP = 0.5 * 0.5.
        let mut e = ImageEvaluator::new(ImageEvalConfig::default(), &["car"]);
        e.add_frame(
            &[
                b("car", 0.95, [300.0, 0.0, 350.0, 40.0], f32::NAN),
                b("car", 0.9, [0.0, 0.0, 50.0, 40.0], f32::NAN),
            ],
            &truth,
        );
        let car = &e.report().per_class["car"];
        assert_eq!((car.true_positives, car.detections), (1, 2));
        assert!((car.ap - 0.25).abs() < 1e-9, "{car:?}");
    }

    #[test]
    fn hidden_or_tiny_truth_is_dont_care() {
        let truth = [
            b("pedestrian", 1.0, [0.0, 0.0, 10.0, 40.0], 0.1),
            b("pedestrian", 1.0, [50.0, 0.0, 55.0, 8.0], 1.0),
        ];
        let mut e = ImageEvaluator::new(ImageEvalConfig::default(), &["pedestrian"]);
        e.add_frame(
            &[b("pedestrian", 0.9, [0.0, 0.0, 10.0, 40.0], f32::NAN)],
            &truth,
        );
        let p = &e.report().per_class["pedestrian"];
        assert_eq!((p.truth, p.detections, p.ignored), (0, 0, 1));
        assert!(p.ap.is_nan());
    }

    #[test]
    fn a_duplicate_detection_is_a_false_positive() {
        let truth = [b("car", 1.0, [0.0, 0.0, 50.0, 40.0], 1.0)];
        let mut e = ImageEvaluator::new(ImageEvalConfig::default(), &["car"]);
        e.add_frame(
            &[
                b("car", 0.9, [0.0, 0.0, 50.0, 40.0], f32::NAN),
                b("car", 0.5, [1.0, 1.0, 50.0, 40.0], f32::NAN),
            ],
            &truth,
        );
        let car = &e.report().per_class["car"];
        assert_eq!((car.detections, car.true_positives, car.ignored), (2, 1, 0));
        // Full recall is reached before the duplicate: AP stays 1.
        assert_eq!(car.ap, 1.0);
        assert_eq!(car.precision, 0.5);
    }
}
