//! Detection accuracy of 3D obstacles against ground truth.
//!
//! Owns: matching detections to truth scan by scan ([`Evaluator`]), the
//! accuracy figures that come out of it ([`EvalReport`], [`Metrics`]) and
//! their two renderings, a fixed-width table ([`EvalReport::table`]) and JSON
//! ([`EvalReport::to_json`]). Pure functions of the obstacles handed in:
//! never touches files or the clock; the caller reads the truth and writes
//! the report.
//!
//! # Rules
//!
//! Detections and truth of one scan are in the same frame, the sensor's; the
//! *range* of an obstacle is the BEV (x, y) distance of its box centre from
//! the origin.
//!
//! - **Counted truth**: truth within `max_range` (range <= `max_range`) with
//!   at least `min_truth_points` lidar points.
//! - **Don't-care truth**: truth within `max_range` with fewer points, and
//!   truth beyond `max_range`. It is never a missed truth, and a detection
//!   matched to it counts neither as a true nor as a false positive (it is
//!   tallied in `dont_care_matches`). Beyond-range truth takes part in
//!   matching only as don't care, so an accurate detection just inside the
//!   range of an object just outside it is not a false positive; otherwise
//!   it is ignored.
//! - **Matching**, per scan, class-agnostic, one-to-one, on the BEV distance
//!   of the box centres, which must be <= `match_distance`. First all
//!   detections against counted truth, then the leftover detections against
//!   don't-care truth. Each pass is greedy: all candidate pairs in ascending
//!   distance (ties by detection, then truth index), a pair taken when
//!   neither side is taken yet. Not the optimal assignment, but it only
//!   differs from it when several objects crowd within `match_distance`.
//! - **Detections** beyond `max_range` are ignored unless matched to counted
//!   truth (then a true positive); they still take part in matching, so one
//!   can take a truth from a farther detection within range. An unmatched
//!   detection within range is a false positive.
//! - **recall** = matched counted truth / counted truth; **precision** =
//!   matched detections / (matched detections + false positives), with
//!   don't-care matches in neither. An empty denominator gives NaN, written
//!   `null` in JSON and `-` in the table.
//! - **Errors** of each detection matched to counted truth: centre error in
//!   BEV (and in 3D); yaw error, the absolute heading difference modulo pi
//!   (a box's heading is ambiguous by 180 degrees from one lidar scan), in
//!   degrees in [0, 90]; size error, the largest absolute difference of
//!   length, width and height, in metres. Non-finite errors are left out.
//! - **Per class**: truth-side figures (truth, true positives, recall,
//!   errors) by the truth's class; detection-side figures (detections, false
//!   positives, don't-care matches, precision) by the detection's class.
//!   Since matching is class-agnostic, a car detected as a truck is a true
//!   positive of `car` on the truth side and a matched detection of `truck`
//!   on the detection side. `vehicle` aggregates `car` and `truck`.
//! - **Per range band** `[min, max)`: a matched pair (true positive or
//!   don't-care match) by the truth's range, a false positive by the
//!   detection's range, a missed truth by its own range. An obstacle in no
//!   band is only in the other figures.
//! - **Percentiles**: nearest rank on the sorted values, the value at rank
//!   ceil(p/100 x n) (1-based); the median is p50, the lower middle value
//!   when n is even. No values give NaN.
//! - An obstacle whose centre is not finite matches nothing and counts
//!   nowhere.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize, Serializer};

use crate::obstacle::{Obstacle, ObstacleClass};

/// What counts, and what a match is (the `eval` section of the pipeline
/// configuration).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct EvalConfig {
    /// Largest BEV centre distance of a matched pair, metres.
    pub match_distance: f64,
    /// Only obstacles within this BEV range of the sensor origin count, metres.
    pub max_range: f64,
    /// Truth with fewer lidar points is "don't care".
    pub min_truth_points: u32,
    /// Range bands `[min, max)` in metres for the per-band figures.
    pub range_bands: Vec<(f64, f64)>,
    /// Only obstacles whose centre bearing from the sensor (degrees,
    /// counter-clockwise from +x) lies in `[min, max]` count, as for
    /// `max_range`: e.g. the camera's field of view, where KITTI annotates.
    /// None: all bearings.
    pub azimuth_deg: Option<[f64; 2]>,
}

impl Default for EvalConfig {
    fn default() -> Self {
        EvalConfig {
            match_distance: 1.0,
            max_range: 50.0,
            min_truth_points: 15,
            range_bands: vec![(0.0, 20.0), (20.0, 40.0), (40.0, 60.0)],
            azimuth_deg: None,
        }
    }
}

impl EvalConfig {
    pub fn validate(&self) -> Result<(), crate::validate::ConfigError> {
        let eval = crate::validate::Section("eval");
        let err = |field, problem: String| eval.err(field, problem);
        for (field, value) in [
            ("match_distance", self.match_distance),
            ("max_range", self.max_range),
        ] {
            eval.positive(field, value)?;
        }
        if let Some([min, max]) = self.azimuth_deg {
            eval.interval("azimuth_deg", [min, max], false)?;
        }
        if let Some(&(min, max)) = self
            .range_bands
            .iter()
            .find(|&&(a, b)| !a.is_finite() || !b.is_finite() || a >= b)
        {
            return Err(err(
                "range_bands",
                format!("[{min}, {max}) is not an interval"),
            ));
        }
        Ok(())
    }
}

/// Errors of one detection matched to counted truth.
#[derive(Debug, Clone, Copy, PartialEq)]
struct PairErrors {
    /// The detection's class (the truth's is in its record).
    detected: ObstacleClass,
    center_bev: f64,
    center_3d: f64,
    yaw_deg: f64,
    size: f64,
}

/// One counted truth obstacle, after matching.
#[derive(Debug, Clone, Copy, PartialEq)]
struct TruthRecord {
    class: ObstacleClass,
    range: f64,
    /// `Some` when a detection matched it.
    matched: Option<PairErrors>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DetectionOutcome {
    TruePositive,
    FalsePositive,
    DontCare,
}

/// One detection that is not ignored, after matching.
#[derive(Debug, Clone, Copy, PartialEq)]
struct DetectionRecord {
    class: ObstacleClass,
    score: f32,
    /// The range that places it in a band: the truth's for a matched
    /// detection, its own for a false positive.
    band_range: f64,
    outcome: DetectionOutcome,
}

/// Accumulates scans; [`Evaluator::report`] summarizes them at any point.
#[derive(Debug, Clone)]
pub struct Evaluator {
    config: EvalConfig,
    frames: u64,
    truth: Vec<TruthRecord>,
    detections: Vec<DetectionRecord>,
}

impl Evaluator {
    pub fn new(config: EvalConfig) -> Self {
        Evaluator {
            config,
            frames: 0,
            truth: Vec::new(),
            detections: Vec::new(),
        }
    }

    pub fn config(&self) -> &EvalConfig {
        &self.config
    }

    /// One scan: detections and truth in the same (sensor) frame.
    pub fn add_frame(&mut self, detections: &[Obstacle], truth: &[Obstacle]) {
        self.add_frame_within(detections, truth, |_| true);
    }

    /// One scan, counting only obstacles for which `scope` holds (e.g. in
    /// the camera's view) besides the range: truth outside it is don't
    /// care, detections outside it are ignored unless they match counted
    /// truth, exactly as for `max_range`.
    pub fn add_frame_within(
        &mut self,
        detections: &[Obstacle],
        truth: &[Obstacle],
        scope: impl Fn(&Obstacle) -> bool,
    ) {
        self.add_frame_scoped(detections, truth, &scope, &scope);
    }

    /// [`Evaluator::add_frame_within`] with separate scopes: truth outside
    /// `truth_scope` is don't care (e.g. hidden from the camera), detections
    /// outside `detection_scope` are ignored unless they match counted
    /// truth.
    pub fn add_frame_scoped(
        &mut self,
        detections: &[Obstacle],
        truth: &[Obstacle],
        detection_scope: &dyn Fn(&Obstacle) -> bool,
        truth_scope: &dyn Fn(&Obstacle) -> bool,
    ) {
        self.frames += 1;
        let cfg = &self.config;
        let in_view = |o: &Obstacle| {
            cfg.azimuth_deg.is_none_or(|[min, max]| {
                let bearing = o.bbox.center[1].atan2(o.bbox.center[0]).to_degrees();
                min <= bearing && bearing <= max
            })
        };
        let in_range =
            |o: &Obstacle| bev_range(o) <= cfg.max_range && in_view(o) && detection_scope(o);
        let (mut counted, mut dont_care) = (Vec::new(), Vec::new());
        for (j, t) in truth.iter().enumerate() {
            let counts = bev_range(t) <= cfg.max_range && in_view(t) && truth_scope(t);
            // Truth of a class Lookout does not publish (barriers, cones,
            // KITTI's Misc) is labelled unknown: never missed, never a
            // false positive when detected.
            let known = t.class != ObstacleClass::Unknown;
            if counts && known && t.point_count >= cfg.min_truth_points {
                counted.push(j);
            } else if bev_range(t).is_finite() {
                dont_care.push(j);
            }
        }

        // For each detection, the truth it matched, if any.
        let mut matched_to: Vec<Option<usize>> = vec![None; detections.len()];
        let all: Vec<usize> = (0..detections.len()).collect();
        for (i, j) in greedy_match(detections, &all, truth, &counted, cfg.match_distance) {
            matched_to[i] = Some(j);
        }
        let leftover: Vec<usize> = all
            .into_iter()
            .filter(|&i| matched_to[i].is_none())
            .collect();
        let mut dont_care_of: Vec<Option<usize>> = vec![None; detections.len()];
        for (i, j) in greedy_match(detections, &leftover, truth, &dont_care, cfg.match_distance) {
            dont_care_of[i] = Some(j);
        }

        let mut truth_errors: Vec<Option<PairErrors>> = vec![None; truth.len()];
        for (i, d) in detections.iter().enumerate() {
            let (outcome, band_range) = if let Some(j) = matched_to[i] {
                truth_errors[j] = Some(pair_errors(d, &truth[j]));
                (DetectionOutcome::TruePositive, bev_range(&truth[j]))
            } else if !in_range(d) {
                continue;
            } else if let Some(j) = dont_care_of[i] {
                (DetectionOutcome::DontCare, bev_range(&truth[j]))
            } else {
                (DetectionOutcome::FalsePositive, bev_range(d))
            };
            self.detections.push(DetectionRecord {
                class: d.class,
                score: d.score,
                band_range,
                outcome,
            });
        }
        for &j in &counted {
            self.truth.push(TruthRecord {
                class: truth[j].class,
                range: bev_range(&truth[j]),
                matched: truth_errors[j],
            });
        }
    }

    /// The figures over all scans added so far.
    pub fn report(&self) -> EvalReport {
        let mut all = self.summarize(|_| true);
        all.average_precision = self.ranked_ap(|_| true);
        let per_class = ObstacleClass::ALL
            .into_iter()
            .map(|c| (c.label().to_owned(), self.summarize(|k| k == c)))
            .collect();
        let vehicle = self.summarize(is_vehicle);
        let labelled_only = |d: &DetectionRecord| d.class != ObstacleClass::Unknown;
        let mut labelled = Metrics::of(
            self.truth.iter(),
            self.detections.iter().filter(|d| labelled_only(d)),
        );
        labelled.average_precision = self.ranked_ap(labelled_only);
        let confusion = self.confusion();
        let per_band = self
            .config
            .range_bands
            .iter()
            .map(|&(min, max)| {
                let in_band = |r: f64| min <= r && r < max;
                let truth = self.truth.iter().filter(|t| in_band(t.range));
                let detections = self.detections.iter().filter(|d| in_band(d.band_range));
                BandMetrics {
                    label: band_label(min, max),
                    min,
                    max,
                    metrics: Metrics::of(truth, detections),
                }
            })
            .collect();
        EvalReport {
            frames: self.frames,
            config: self.config.clone(),
            overall: all,
            per_class,
            vehicle,
            labelled,
            per_band,
            confusion,
        }
    }

    /// Matched pairs counted by truth class, then detected class.
    fn confusion(&self) -> BTreeMap<String, BTreeMap<String, u64>> {
        let mut confusion = BTreeMap::<String, BTreeMap<String, u64>>::new();
        for t in &self.truth {
            if let Some(e) = t.matched {
                *confusion
                    .entry(t.class.label().to_owned())
                    .or_default()
                    .entry(e.detected.label().to_owned())
                    .or_default() += 1;
            }
        }
        confusion
    }

    /// AP of the detections `keep` selects against all counted truth.
    fn ranked_ap(&self, keep: impl Fn(&DetectionRecord) -> bool) -> f64 {
        let ranked = self
            .detections
            .iter()
            .filter(|d| keep(d))
            .map(|d| (d.score, d.outcome))
            .collect();
        average_precision(ranked, self.truth.len() as u64)
    }

    fn summarize(&self, class: impl Fn(ObstacleClass) -> bool) -> Metrics {
        Metrics::of(
            self.truth.iter().filter(|t| class(t.class)),
            self.detections.iter().filter(|d| class(d.class)),
        )
    }
}

/// Accuracy figures of one group of obstacles (all, a class, a range band).
/// NaN (no values, or an empty denominator) serializes as `null`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metrics {
    /// Counted truth.
    pub truth: u64,
    /// Counted detections: matched to counted truth, or false positives.
    pub detections: u64,
    /// Counted truth matched by a detection.
    pub true_positives: u64,
    /// Counted truth no detection matched.
    pub false_negatives: u64,
    /// Unmatched detections within range.
    pub false_positives: u64,
    /// Detections matched to don't-care truth (in neither count above).
    pub dont_care_matches: u64,
    #[serde(serialize_with = "nan_as_null")]
    pub recall: f64,
    #[serde(serialize_with = "nan_as_null")]
    pub precision: f64,
    /// Area under the precision-recall curve of the detections ranked by
    /// score (all-point interpolation), each keeping its match outcome:
    /// what a threshold on the score can trade. Only for `overall` and
    /// `labelled` (matching is class-agnostic, so a class's detections
    /// and its truth are different sets); NaN elsewhere.
    #[serde(serialize_with = "nan_as_null")]
    pub average_precision: f64,
    /// Share of matched counted truth whose detection has the truth's class.
    #[serde(serialize_with = "nan_as_null")]
    pub class_accuracy: f64,
    /// BEV centre distance of matched pairs, metres.
    #[serde(serialize_with = "nan_as_null")]
    pub center_error_median: f64,
    #[serde(serialize_with = "nan_as_null")]
    pub center_error_p90: f64,
    /// 3D centre distance of matched pairs, metres.
    #[serde(serialize_with = "nan_as_null")]
    pub center_error_3d_median: f64,
    #[serde(serialize_with = "nan_as_null")]
    pub center_error_3d_p90: f64,
    /// Heading difference modulo 180 degrees, in [0, 90] degrees.
    #[serde(serialize_with = "nan_as_null")]
    pub yaw_error_median_deg: f64,
    #[serde(serialize_with = "nan_as_null")]
    pub yaw_error_p90_deg: f64,
    /// Largest absolute difference of length, width, height, metres.
    #[serde(serialize_with = "nan_as_null")]
    pub size_error_median: f64,
    #[serde(serialize_with = "nan_as_null")]
    pub size_error_p90: f64,
}

impl Metrics {
    fn of<'a>(
        truth: impl Iterator<Item = &'a TruthRecord>,
        detections: impl Iterator<Item = &'a DetectionRecord>,
    ) -> Metrics {
        let (mut n_truth, mut tp, mut class_correct) = (0u64, 0u64, 0u64);
        let (mut center, mut center_3d, mut yaw, mut size) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for t in truth {
            n_truth += 1;
            if let Some(e) = t.matched {
                tp += 1;
                class_correct += u64::from(e.detected == t.class);
                center.push(e.center_bev);
                center_3d.push(e.center_3d);
                yaw.push(e.yaw_deg);
                size.push(e.size);
            }
        }
        let (mut matched, mut fp, mut dont_care) = (0u64, 0u64, 0u64);
        for d in detections {
            match d.outcome {
                DetectionOutcome::TruePositive => matched += 1,
                DetectionOutcome::FalsePositive => fp += 1,
                DetectionOutcome::DontCare => dont_care += 1,
            }
        }
        let [center, center_3d, yaw, size] = [center, center_3d, yaw, size].map(finite_sorted);
        Metrics {
            truth: n_truth,
            detections: matched + fp,
            true_positives: tp,
            false_negatives: n_truth - tp,
            false_positives: fp,
            dont_care_matches: dont_care,
            recall: ratio(tp, n_truth),
            precision: ratio(matched, matched + fp),
            average_precision: f64::NAN,
            class_accuracy: ratio(class_correct, tp),
            center_error_median: percentile(&center, 50),
            center_error_p90: percentile(&center, 90),
            center_error_3d_median: percentile(&center_3d, 50),
            center_error_3d_p90: percentile(&center_3d, 90),
            yaw_error_median_deg: percentile(&yaw, 50),
            yaw_error_p90_deg: percentile(&yaw, 90),
            size_error_median: percentile(&size, 50),
            size_error_p90: percentile(&size, 90),
        }
    }
}

/// The figures of one range band.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BandMetrics {
    /// `"0-20 m"`.
    pub label: String,
    /// Metres, inclusive.
    pub min: f64,
    /// Metres, exclusive.
    pub max: f64,
    pub metrics: Metrics,
}

/// Everything [`Evaluator::report`] knows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalReport {
    pub frames: u64,
    /// The configuration the figures were computed with.
    pub config: EvalConfig,
    pub overall: Metrics,
    /// Every class, by label, empty ones included.
    pub per_class: BTreeMap<String, Metrics>,
    /// Car and truck together.
    pub vehicle: Metrics,
    /// All counted truth against the detections labelled with a road-user
    /// class (not `unknown`): how far a label can be trusted.
    pub labelled: Metrics,
    /// In the order of `config.range_bands`.
    pub per_band: Vec<BandMetrics>,
    /// Matched pairs: truth class → detected class → count (what class
    /// accuracy is made of).
    pub confusion: BTreeMap<String, BTreeMap<String, u64>>,
}

impl EvalReport {
    /// A fixed-width table: overall, each class, vehicle, each range band.
    pub fn table(&self) -> String {
        let c = &self.config;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} frames; match <= {} m BEV centre distance, range <= {} m, \
             don't care below {} lidar points",
            self.frames, c.match_distance, c.max_range, c.min_truth_points
        );
        let header = format!(
            "{:<12} {:>7} {:>7} {:>7} {:>7} {:>9} {:>6} {:>9} {:>8} {:>8} {:>8} {:>8}",
            "group",
            "truth",
            "det",
            "TP",
            "recall",
            "precision",
            "AP",
            "class acc",
            "ctr med",
            "ctr p90",
            "yaw med",
            "yaw p90"
        );
        let units = format!(
            "{:<12} {:>7} {:>7} {:>7} {:>7} {:>9} {:>6} {:>9} {:>8} {:>8} {:>8} {:>8}",
            "", "", "", "", "", "", "", "", "[m]", "[m]", "[deg]", "[deg]"
        );
        let rule = "-".repeat(header.len());
        let _ = writeln!(out, "{header}\n{units}\n{rule}");
        row(&mut out, "overall", &self.overall);
        let _ = writeln!(out, "{rule}");
        for class in ObstacleClass::ALL {
            if let Some(m) = self.per_class.get(class.label()) {
                row(&mut out, class.label(), m);
            }
        }
        row(&mut out, "vehicle", &self.vehicle);
        row(&mut out, "labelled", &self.labelled);
        if !self.per_band.is_empty() {
            let _ = writeln!(out, "{rule}");
        }
        for band in &self.per_band {
            row(&mut out, &band.label, &band.metrics);
        }
        self.confusion_table(&mut out);
        out
    }

    /// Rows: truth class; columns: the class the matched detection had.
    fn confusion_table(&self, out: &mut String) {
        if self.confusion.is_empty() {
            return;
        }
        let _ = write!(
            out,
            "class confusion of matched pairs (rows truth, columns detected):\n{:<12}",
            ""
        );
        for class in ObstacleClass::ALL {
            let _ = write!(out, " {:>10}", class.label());
        }
        let _ = writeln!(out);
        for truth in ObstacleClass::ALL {
            let Some(detected) = self.confusion.get(truth.label()) else {
                continue;
            };
            let _ = write!(out, "{:<12}", truth.label());
            for class in ObstacleClass::ALL {
                let n = detected.get(class.label()).copied().unwrap_or(0);
                let _ = write!(out, " {n:>10}");
            }
            let _ = writeln!(out);
        }
    }

    /// Pretty-printed JSON; NaN figures are `null`.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self)
            .expect("a report has string keys and no non-finite floats: it always serializes")
    }
}

fn row(out: &mut String, name: &str, m: &Metrics) {
    let _ = writeln!(
        out,
        "{:<12} {:>7} {:>7} {:>7} {:>7} {:>9} {:>6} {:>9} {:>8} {:>8} {:>8} {:>8}",
        name,
        m.truth,
        m.detections,
        m.true_positives,
        fixed(m.recall, 3),
        fixed(m.precision, 3),
        fixed(m.average_precision, 2),
        fixed(m.class_accuracy, 3),
        fixed(m.center_error_median, 2),
        fixed(m.center_error_p90, 2),
        fixed(m.yaw_error_median_deg, 1),
        fixed(m.yaw_error_p90_deg, 1),
    );
}

/// `-` for NaN (or infinity), else `decimals` places.
/// `value` with `decimals` digits; `-` when not finite (shared by the camera eval).
pub(crate) fn fixed(value: f64, decimals: usize) -> String {
    if value.is_finite() {
        format!("{value:.decimals$}")
    } else {
        "-".to_owned()
    }
}

/// Serializes non-finite figures as `null` (shared by the camera eval).
pub(crate) fn nan_as_null<S: Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
    if value.is_finite() {
        serializer.serialize_f64(*value)
    } else {
        serializer.serialize_none()
    }
}

fn band_label(min: f64, max: f64) -> String {
    format!("{min}-{max} m")
}

fn is_vehicle(class: ObstacleClass) -> bool {
    matches!(class, ObstacleClass::Car | ObstacleClass::Truck)
}

/// BEV distance of the box centre from the sensor origin.
fn bev_range(o: &Obstacle) -> f64 {
    o.bbox.center[0].hypot(o.bbox.center[1])
}

fn bev_distance(a: &Obstacle, b: &Obstacle) -> f64 {
    (a.bbox.center[0] - b.bbox.center[0]).hypot(a.bbox.center[1] - b.bbox.center[1])
}

/// Greedy one-to-one matching of `detections[dets]` to `truth[truths]`:
/// pairs within `max_distance` in ascending distance (ties by detection,
/// then truth index), each taken when both sides are free. Returns
/// (detection, truth) indices into the full slices.
pub(crate) fn greedy_match(
    detections: &[Obstacle],
    dets: &[usize],
    truth: &[Obstacle],
    truths: &[usize],
    max_distance: f64,
) -> Vec<(usize, usize)> {
    let mut pairs = Vec::new();
    for &i in dets {
        for &j in truths {
            let d = bev_distance(&detections[i], &truth[j]);
            // NaN compares false: a non-finite centre matches nothing.
            if d <= max_distance {
                pairs.push((d, i, j));
            }
        }
    }
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let mut det_taken = vec![false; detections.len()];
    let mut truth_taken = vec![false; truth.len()];
    let mut matches = Vec::new();
    for (_, i, j) in pairs {
        if !det_taken[i] && !truth_taken[j] {
            det_taken[i] = true;
            truth_taken[j] = true;
            matches.push((i, j));
        }
    }
    matches
}

fn pair_errors(detection: &Obstacle, truth: &Obstacle) -> PairErrors {
    let (d, t) = (&detection.bbox, &truth.bbox);
    let dz = d.center[2] - t.center[2];
    let center_bev = bev_distance(detection, truth);
    let size = (0..3)
        .map(|k| (d.size[k] - t.size[k]).abs())
        .fold(0.0, f64::max);
    PairErrors {
        detected: detection.class,
        center_bev,
        center_3d: center_bev.hypot(dz),
        yaw_deg: yaw_error(d.yaw, t.yaw).to_degrees(),
        size: if d.size.iter().chain(&t.size).all(|s| s.is_finite()) {
            size
        } else {
            f64::NAN
        },
    }
}

/// Absolute heading difference modulo pi, radians in [0, pi/2].
fn yaw_error(a: f64, b: f64) -> f64 {
    use std::f64::consts::{FRAC_PI_2, PI};
    // In [0, pi] (pi itself by rounding); NaN stays NaN (`min` would drop it).
    let d = (a - b).rem_euclid(PI);
    if d > FRAC_PI_2 { PI - d } else { d }
}

/// All-point interpolated AP of detections `(score, outcome)` against
/// `truth` counted objects; don't-care matches are skipped.
fn average_precision(mut ranked: Vec<(f32, DetectionOutcome)>, truth: u64) -> f64 {
    if truth == 0 {
        return f64::NAN;
    }
    ranked.retain(|&(_, o)| o != DetectionOutcome::DontCare);
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
    // (recall, precision) after each detection, best first.
    let (mut tp, mut fp) = (0u64, 0u64);
    let mut curve = Vec::with_capacity(ranked.len());
    for (_, outcome) in ranked {
        if outcome == DetectionOutcome::TruePositive {
            tp += 1;
        } else {
            fp += 1;
        }
        curve.push((tp as f64 / truth as f64, tp as f64 / (tp + fp) as f64));
    }
    // Precision made monotone from the right, summed over recall steps.
    let mut best = 0.0f64;
    for point in curve.iter_mut().rev() {
        best = best.max(point.1);
        point.1 = best;
    }
    let (mut ap, mut last_recall) = (0.0, 0.0);
    for (recall, precision) in curve {
        ap += (recall - last_recall) * precision;
        last_recall = recall;
    }
    ap
}

fn ratio(numerator: u64, denominator: u64) -> f64 {
    if denominator == 0 {
        f64::NAN
    } else {
        numerator as f64 / denominator as f64
    }
}

pub(crate) fn finite_sorted(mut values: Vec<f64>) -> Vec<f64> {
    values.retain(|v| v.is_finite());
    values.sort_by(f64::total_cmp);
    values
}

/// Nearest rank: the value at 1-based rank ceil(p/100 x n) of `sorted`.
pub(crate) fn percentile(sorted: &[f64], percent: usize) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (percent * sorted.len()).div_ceil(100);
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg;
    use std::f64::consts::PI;

    /// Through the message type, so new `Obstacle` fields take their defaults.
    fn obstacle(class: ObstacleClass, x: f64, y: f64, yaw: f64, points: u32) -> Obstacle {
        Obstacle::from_msg(&msg::Obstacle {
            label: class.label().to_owned(),
            score: 1.0,
            center: [x, y, 0.8],
            size: [4.5, 1.9, 1.6],
            yaw,
            point_count: points,
            ..msg::Obstacle::default()
        })
    }

    fn car(x: f64, y: f64) -> Obstacle {
        obstacle(ObstacleClass::Car, x, y, 0.0, 100)
    }

    fn shifted(o: &Obstacle, dx: f64, dy: f64) -> Obstacle {
        let mut o = o.clone();
        o.bbox.center[0] += dx;
        o.bbox.center[1] += dy;
        o
    }

    fn evaluate(detections: &[Obstacle], truth: &[Obstacle]) -> EvalReport {
        let mut eval = Evaluator::new(EvalConfig::default());
        eval.add_frame(detections, truth);
        eval.report()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn average_precision_ranks_by_score_and_labelled_leaves_unknown_out() {
        // Two cars found, with a high and a low score; a false positive
        // with a middle score; an unknown false positive.
        let truth = vec![car(10.0, 2.0), car(20.0, -4.0)];
        let mut found = [shifted(&truth[0], 0.2, 0.0), shifted(&truth[1], 0.0, 0.3)];
        found[0].score = 0.9;
        found[1].score = 0.2;
        let mut ghost = car(30.0, 8.0);
        ghost.score = 0.5;
        let mut wall = obstacle(ObstacleClass::Unknown, 15.0, 9.0, 0.0, 40);
        wall.score = 0.1;
        let report = evaluate(&[found[0].clone(), found[1].clone(), ghost, wall], &truth);
        // Ranked: TP (r .5, p 1), FP, TP (r 1, p 2/3), FP: AP = .5 + .5 x 2/3.
        assert!(close(
            report.labelled.average_precision,
            0.5 + 0.5 * 2.0 / 3.0
        ));
        assert!(close(report.labelled.precision, 2.0 / 3.0));
        assert!(close(report.overall.precision, 0.5));
        assert!(close(
            report.overall.average_precision,
            0.5 + 0.5 * 2.0 / 3.0
        ));
        assert!(report.to_json().contains("\"average_precision\""));
    }

    #[test]
    fn unknown_truth_is_dont_care_and_bearings_scope_the_count() {
        let mut barrier = obstacle(ObstacleClass::Unknown, 8.0, 1.0, 0.0, 200);
        barrier.id = 9;
        let behind = car(-12.0, 0.5);
        let truth = vec![car(10.0, -2.0), barrier.clone(), behind.clone()];
        let mut eval = Evaluator::new(EvalConfig {
            azimuth_deg: Some([-45.0, 45.0]),
            ..EvalConfig::default()
        });
        // The barrier detected as a car, a ghost behind the field of view.
        let mut as_car = barrier;
        as_car.class = ObstacleClass::Car;
        eval.add_frame(&[car(10.1, -2.0), as_car, car(-20.0, 3.0)], &truth);
        let report = eval.report();
        assert_eq!(report.overall.truth, 1);
        assert_eq!(report.overall.true_positives, 1);
        assert_eq!(report.overall.false_positives, 0);
        assert_eq!(report.overall.dont_care_matches, 1);
        let bad = EvalConfig {
            azimuth_deg: Some([40.0, -40.0]),
            ..EvalConfig::default()
        };
        let err = bad.validate().unwrap_err();
        assert_eq!(err.path, "eval.azimuth_deg");
    }

    #[test]
    fn truth_out_of_its_scope_is_dont_care_and_confusion_counts_pairs() {
        // Truth 2 is hidden (out of the truth scope): its unknown detection
        // is neither a true nor a false positive. Truth 1 is found with the
        // wrong class.
        let mut hidden = obstacle(ObstacleClass::Pedestrian, 12.0, -3.0, 0.0, 40);
        hidden.id = 2;
        let mut walker = obstacle(ObstacleClass::Pedestrian, 9.0, 4.0, 0.0, 40);
        walker.id = 1;
        let truth = vec![car(10.0, 2.0), walker.clone(), hidden.clone()];
        let mut as_cyclist = walker;
        as_cyclist.class = ObstacleClass::Cyclist;
        let mut as_unknown = hidden;
        as_unknown.class = ObstacleClass::Unknown;
        let detections = vec![car(10.2, 2.0), as_cyclist, as_unknown];
        let mut eval = Evaluator::new(EvalConfig::default());
        eval.add_frame_scoped(&detections, &truth, &|_| true, &|o: &Obstacle| o.id != 2);
        let r = eval.report();
        let m = &r.overall;
        assert_eq!((m.truth, m.true_positives, m.false_positives), (2, 2, 0));
        assert_eq!(m.dont_care_matches, 1);
        assert!(close(m.class_accuracy, 0.5));
        assert_eq!(r.confusion["car"]["car"], 1);
        assert_eq!(r.confusion["pedestrian"]["cyclist"], 1);
        assert_eq!(r.confusion.len(), 2);
        let table = r.table();
        assert!(table.contains("class confusion"), "{table}");
    }

    #[test]
    fn perfect_detections_score_one_with_zero_errors() {
        let truth = vec![
            car(10.0, 2.0),
            obstacle(ObstacleClass::Truck, 25.0, -4.0, 0.3, 400),
            obstacle(ObstacleClass::Pedestrian, 8.0, 5.0, -1.0, 30),
            obstacle(ObstacleClass::Cyclist, 42.0, 1.0, 2.0, 20),
        ];
        let mut eval = Evaluator::new(EvalConfig::default());
        for _ in 0..3 {
            eval.add_frame(&truth, &truth);
        }
        let r = eval.report();
        assert_eq!(r.frames, 3);
        let m = &r.overall;
        assert_eq!((m.truth, m.detections, m.true_positives), (12, 12, 12));
        assert_eq!((m.false_negatives, m.false_positives), (0, 0));
        assert_eq!((m.recall, m.precision), (1.0, 1.0));
        for e in [
            m.center_error_median,
            m.center_error_p90,
            m.center_error_3d_p90,
            m.yaw_error_median_deg,
            m.yaw_error_p90_deg,
            m.size_error_p90,
        ] {
            assert_eq!(e, 0.0);
        }
        assert_eq!(r.per_class["truck"].truth, 3);
        assert_eq!(r.vehicle.truth, 6);
    }

    #[test]
    fn half_metre_offset_matches_one_and_a_half_does_not() {
        let truth = [car(10.0, 0.0)];
        let m = evaluate(&[shifted(&truth[0], 0.3, 0.4)], &truth).overall;
        assert_eq!((m.true_positives, m.false_positives), (1, 0));
        assert!(close(m.center_error_median, 0.5));
        assert!(close(m.center_error_p90, 0.5));

        let m = evaluate(&[shifted(&truth[0], 0.0, 1.5)], &truth).overall;
        assert_eq!((m.truth, m.detections, m.true_positives), (1, 1, 0));
        assert_eq!((m.false_negatives, m.false_positives), (1, 1));
        assert_eq!((m.recall, m.precision), (0.0, 0.0));
        assert!(m.center_error_median.is_nan());
    }

    #[test]
    fn match_distance_is_inclusive_and_bev_only() {
        let truth = [car(10.0, 0.0)];
        let mut d = shifted(&truth[0], 1.0, 0.0);
        d.bbox.center[2] += 3.0; // height does not prevent a match
        let m = evaluate(&[d], &truth).overall;
        assert_eq!(m.true_positives, 1);
        assert!(close(m.center_error_median, 1.0));
        assert!(close(m.center_error_3d_median, 10f64.sqrt()));
    }

    #[test]
    fn yaw_error_is_modulo_pi() {
        let truth = [obstacle(ObstacleClass::Car, 10.0, 0.0, 0.0, 100)];
        let det = obstacle(ObstacleClass::Car, 10.0, 0.0, PI + 0.1, 100);
        let m = evaluate(&[det], &truth).overall;
        assert!(close(m.yaw_error_median_deg, 0.1f64.to_degrees()));
        assert!((m.yaw_error_median_deg - 5.73).abs() < 0.01);

        assert!(close(yaw_error(0.0, PI / 2.0).to_degrees(), 90.0));
        assert!(close(yaw_error(-PI / 2.0, PI / 2.0), 0.0));
        assert!(close(yaw_error(-0.1, 0.1), 0.2));
        assert!(close(yaw_error(3.0 * PI - 0.05, 0.05), 0.1));
        for k in 0..1000 {
            let e = yaw_error(k as f64 * 0.0137, -(k as f64) * 0.071);
            assert!((0.0..=PI / 2.0).contains(&e));
        }
    }

    #[test]
    fn dont_care_truth_neither_penalizes_nor_rewards() {
        let sparse = obstacle(ObstacleClass::Pedestrian, 12.0, 3.0, 0.0, 5);
        // Detected: no TP, no FP.
        let m = evaluate(std::slice::from_ref(&sparse), std::slice::from_ref(&sparse)).overall;
        assert_eq!((m.truth, m.detections, m.true_positives), (0, 0, 0));
        assert_eq!((m.false_positives, m.dont_care_matches), (0, 1));
        assert!(m.recall.is_nan() && m.precision.is_nan());
        // Missed: no FN.
        let m = evaluate(&[], std::slice::from_ref(&sparse)).overall;
        assert_eq!((m.truth, m.false_negatives), (0, 0));
        // Next to a counted truth, which is scored as if alone.
        let truth = [car(20.0, 0.0), sparse.clone()];
        let m = evaluate(&truth, &truth).overall;
        assert_eq!((m.truth, m.detections, m.true_positives), (1, 1, 1));
        assert_eq!((m.recall, m.precision, m.dont_care_matches), (1.0, 1.0, 1));
        // Exactly at the threshold the truth counts.
        let at = obstacle(ObstacleClass::Pedestrian, 12.0, 3.0, 0.0, 15);
        assert_eq!(evaluate(&[], &[at]).overall.truth, 1);
    }

    #[test]
    fn counted_truth_is_matched_before_dont_care() {
        let counted = car(10.0, 0.0);
        let sparse = obstacle(ObstacleClass::Car, 10.0, 1.0, 0.0, 3);
        let det = car(10.0, 0.8); // 0.2 from the sparse one, 0.8 from the counted one
        let m = evaluate(&[det], &[sparse, counted]).overall;
        assert_eq!((m.true_positives, m.dont_care_matches), (1, 0));
        assert!(close(m.center_error_median, 0.8));
    }

    #[test]
    fn beyond_range_truth_is_ignored() {
        let far = car(45.0, 30.0); // range 54 m
        let m = evaluate(&[], std::slice::from_ref(&far)).overall;
        assert_eq!((m.truth, m.false_negatives), (0, 0));
        // Detected out there too: ignored as well.
        let m = evaluate(std::slice::from_ref(&far), std::slice::from_ref(&far)).overall;
        assert_eq!(
            (m.detections, m.false_positives, m.true_positives),
            (0, 0, 0)
        );
        assert_eq!(m.dont_care_matches, 0);
        // An unmatched detection beyond range is ignored.
        let m = evaluate(&[car(0.0, 55.0)], &[]).overall;
        assert_eq!((m.detections, m.false_positives), (0, 0));
        // A detection just inside range of a truth just outside: not a FP.
        let m = evaluate(&[car(49.8, 0.0)], &[car(50.3, 0.0)]).overall;
        assert_eq!(
            (m.detections, m.false_positives, m.dont_care_matches),
            (0, 0, 1)
        );
        // A detection just outside range of a counted truth just inside: a TP.
        let m = evaluate(&[car(50.4, 0.0)], &[car(49.8, 0.0)]).overall;
        assert_eq!((m.truth, m.detections, m.true_positives), (1, 1, 1));
        assert_eq!(m.precision, 1.0);
        // Unless a range is unlimited.
        let mut eval = Evaluator::new(EvalConfig {
            max_range: f64::INFINITY,
            ..EvalConfig::default()
        });
        eval.add_frame(&[], &[far]);
        assert_eq!(eval.report().overall.truth, 1);
    }

    #[test]
    fn matching_is_one_to_one() {
        let truth = [car(10.0, 0.0)];
        let near = shifted(&truth[0], 0.2, 0.0);
        let nearer_second = shifted(&truth[0], 0.0, -0.1);
        let m = evaluate(&[near, nearer_second], &truth).overall;
        assert_eq!((m.truth, m.detections, m.true_positives), (1, 2, 1));
        assert_eq!(m.false_positives, 1);
        assert!(close(m.center_error_median, 0.1)); // the nearer one won
        assert_eq!(m.precision, 0.5);

        // Two truths, two detections: each taken once.
        let truth = [car(10.0, 0.0), car(10.0, 1.2)];
        let dets = [car(10.0, 0.5), car(10.0, 0.9)];
        let m = evaluate(&dets, &truth).overall;
        assert_eq!((m.true_positives, m.false_positives), (2, 0));
    }

    #[test]
    fn frames_are_matched_separately() {
        let mut eval = Evaluator::new(EvalConfig::default());
        eval.add_frame(&[], &[car(10.0, 0.0)]);
        eval.add_frame(&[car(10.0, 0.0)], &[]);
        let m = eval.report().overall;
        assert_eq!(
            (m.false_negatives, m.false_positives, m.true_positives),
            (1, 1, 0)
        );
    }

    #[test]
    fn range_bands_use_truth_range_for_pairs_and_detection_range_for_fps() {
        let truth = [car(10.0, 0.0), car(0.0, -30.0), car(19.8, 0.0)];
        let dets = [
            car(10.0, 0.0),  // TP, 0-20
            car(45.0, 0.0),  // FP, 40-60
            car(20.3, 0.0),  // TP of the 19.8 m truth: 0-20, not 20-40
            car(-25.0, 0.0), // FP, 20-40
        ];
        let r = evaluate(&dets, &truth);
        let labels: Vec<&str> = r.per_band.iter().map(|b| b.label.as_str()).collect();
        assert_eq!(labels, ["0-20 m", "20-40 m", "40-60 m"]);
        let [near, mid, far] = [0, 1, 2].map(|k| &r.per_band[k].metrics);
        assert_eq!(
            (near.truth, near.detections, near.true_positives),
            (2, 2, 2)
        );
        assert_eq!((near.recall, near.precision), (1.0, 1.0));
        assert_eq!((mid.truth, mid.detections, mid.true_positives), (1, 1, 0));
        assert_eq!((mid.false_negatives, mid.false_positives), (1, 1));
        assert_eq!((mid.recall, mid.precision), (0.0, 0.0));
        assert_eq!((far.truth, far.detections, far.false_positives), (0, 1, 1));
        assert!(far.recall.is_nan());
        assert_eq!(far.precision, 0.0);
    }

    #[test]
    fn per_class_keys_truth_side_by_truth_and_precision_by_detection() {
        let truth = [
            obstacle(ObstacleClass::Car, 10.0, 0.0, 0.0, 100),
            obstacle(ObstacleClass::Truck, 20.0, 5.0, 1.0, 300),
        ];
        let dets = [
            obstacle(ObstacleClass::Truck, 10.0, 0.0, 0.05, 100), // the car, as a truck
            obstacle(ObstacleClass::Truck, 20.0, 5.0, 1.0 + PI + 0.1, 300),
            obstacle(ObstacleClass::Pedestrian, 5.0, 5.0, 0.0, 20), // FP
        ];
        let r = evaluate(&dets, &truth);
        let car = &r.per_class["car"];
        assert_eq!((car.truth, car.true_positives, car.recall), (1, 1, 1.0));
        assert_eq!(car.detections, 0);
        assert!(car.precision.is_nan());
        let truck = &r.per_class["truck"];
        assert_eq!(
            (truck.truth, truck.detections, truck.precision),
            (1, 2, 1.0)
        );
        let ped = &r.per_class["pedestrian"];
        assert_eq!((ped.truth, ped.detections, ped.false_positives), (0, 1, 1));
        assert_eq!(ped.precision, 0.0);
        let v = &r.vehicle;
        assert_eq!((v.truth, v.true_positives, v.detections), (2, 2, 2));
        // Yaw errors 0.05 and 0.1 rad: nearest-rank median is the lower.
        assert!(close(v.yaw_error_median_deg, 0.05f64.to_degrees()));
        assert!(close(v.yaw_error_p90_deg, 0.1f64.to_degrees()));
        assert_eq!(r.per_class.len(), ObstacleClass::ALL.len());
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(percentile(&v, 50), 5.0);
        assert_eq!(percentile(&v, 90), 9.0);
        assert_eq!(percentile(&v, 100), 10.0);
        assert_eq!(percentile(&v, 0), 1.0);
        assert_eq!(percentile(&[7.0], 90), 7.0);
        assert_eq!(percentile(&[1.0, 2.0, 3.0], 50), 2.0);
        assert!(percentile(&[], 50).is_nan());
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(percentile(&v, 90), 18.0);
    }

    #[test]
    fn non_finite_input_is_ignored_without_panic() {
        let mut bad = car(10.0, 0.0);
        bad.bbox.center[0] = f64::NAN;
        let mut bad_yaw = car(20.0, 0.0);
        bad_yaw.bbox.yaw = f64::NAN;
        let truth = [bad.clone(), car(20.0, 0.0)];
        let m = evaluate(&[bad, bad_yaw], &truth).overall;
        assert_eq!((m.truth, m.detections, m.true_positives), (1, 1, 1));
        assert!(m.yaw_error_median_deg.is_nan());
        assert_eq!(m.center_error_median, 0.0);
    }

    #[test]
    fn json_has_null_for_empty_figures_and_no_nan() {
        let truth = [car(10.0, 0.0)];
        let json = evaluate(&truth, &truth).to_json();
        assert!(!json.contains("NaN"));
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["frames"], 1);
        assert_eq!(v["overall"]["recall"], 1.0);
        assert_eq!(v["overall"]["center_error_median"], 0.0);
        let cyclist = &v["per_class"]["cyclist"];
        assert_eq!(cyclist["truth"], 0);
        for key in [
            "recall",
            "precision",
            "center_error_median",
            "yaw_error_p90_deg",
        ] {
            assert!(cyclist[key].is_null(), "{key}: {}", cyclist[key]);
        }
        assert_eq!(v["per_band"][0]["label"], "0-20 m");
        assert!(v["per_band"][2]["metrics"]["recall"].is_null());
        assert_eq!(v["config"]["match_distance"], 1.0);
        assert_eq!(v["config"]["range_bands"][1][0], 20.0);
        assert_eq!(v["vehicle"]["true_positives"], 1);

        // An evaluator that saw nothing still serializes.
        let empty = Evaluator::new(EvalConfig::default()).report().to_json();
        let v: serde_json::Value = serde_json::from_str(&empty).unwrap();
        assert!(v["overall"]["precision"].is_null());
    }

    #[test]
    fn table_lists_every_group() {
        let truth = [
            car(10.0, 0.0),
            obstacle(ObstacleClass::Truck, 30.0, 0.0, 0.0, 50),
        ];
        let table = evaluate(&truth[..1], &truth).table();
        for name in ObstacleClass::ALL.map(ObstacleClass::label) {
            assert!(table.contains(name), "{name} missing:\n{table}");
        }
        for name in [
            "overall", "vehicle", "0-20 m", "20-40 m", "40-60 m", "recall",
        ] {
            assert!(table.contains(name), "{name} missing:\n{table}");
        }
        assert!(
            table.contains(" - "),
            "empty figures should show -:\n{table}"
        );
        let widths: Vec<usize> = table
            .lines()
            .skip(1)
            .take_while(|l| !l.starts_with("class confusion"))
            .map(|l| l.chars().count())
            .collect();
        assert!(widths.iter().all(|&w| w == widths[0]), "{table}");
    }

    #[test]
    fn config_deserializes_with_defaults() {
        let c: EvalConfig = serde_yaml::from_str("match_distance: 2.0").unwrap();
        assert_eq!(c.match_distance, 2.0);
        assert_eq!(c.range_bands, EvalConfig::default().range_bands);
    }
}
