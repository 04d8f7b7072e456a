//! Replays scored over time, against the bag's truth:
//!
//! - tracking: the published ids and velocities against the truth's object
//!   ids and velocities ([`crate::eval::tracking`]), on a lockstep replay;
//! - streaming accuracy (Li, Wang and Ramanan, "Towards Streaming
//!   Perception", ECCV 2020): at every truth instant, the latest output
//!   *published* at or before it, scored against the truth *at that
//!   instant*, on a realtime replay at a given rate, so that what the
//!   pipeline's latency costs is in the score.
//!
//! Drivers: they run [`super::replay_scheduled`] and hand what it kept to
//! the metrics. Never touch a stage.

use super::score::obstacle_arrays;
use super::{Mode, ScheduledReplayOptions, replay_scheduled};
use crate::bag::Bag;
use crate::eval::metrics::{finite_sorted, percentile};
use crate::eval::tracking::{TrackingEvalConfig, TrackingEvaluator, TrackingReport};
use crate::eval::{EvalConfig, Evaluator, Metrics};
use crate::obstacle::Obstacle;
use crate::output::StampMode;
use crate::report::run::ScheduledReport;
use serde::Serialize;
use std::collections::BTreeMap;

/// A tracking evaluation: the figures, the evaluator (its MOT frames, for
/// other tools) and the replay's report.
pub struct TrackingEvaluation {
    pub report: TrackingReport,
    pub evaluator: TrackingEvaluator,
    pub replay: ScheduledReport,
}

/// Replays `bag` as `options` say (lockstep is what makes it repeatable)
/// and scores every output that has truth of the same stamp (on
/// `truth_topic`) for tracking.
pub fn evaluate_tracking(
    bag: &Bag,
    options: &ScheduledReplayOptions,
    truth_topic: &str,
    config: TrackingEvalConfig,
) -> Result<TrackingEvaluation, String> {
    let truth = obstacle_arrays(bag, truth_topic).map_err(|e| e.to_string())?;
    let mut options = options.clone();
    options.observe.obstacles = true;
    options.output.stamp = StampMode::Sensor;
    let replay = replay_scheduled(bag, &options).map_err(|e| e.to_string())?;
    let mut evaluator = TrackingEvaluator::new(config);
    for (stamp, found) in &replay.obstacles {
        if let Some(expected) = truth.get(stamp) {
            evaluator.add_frame(*stamp, found, expected);
        }
    }
    if evaluator.frames().values().all(|f| f.is_empty()) {
        return Err(format!(
            "no output had a truth record on {truth_topic} with the same stamp"
        ));
    }
    Ok(TrackingEvaluation {
        report: evaluator.report(),
        evaluator,
        replay,
    })
}

/// What streaming scores count.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamingConfig {
    pub eval: EvalConfig,
    /// Truth moving at least this fast relative to the ego (m/s) is the
    /// "fast" subset, whose centre error latency shows most.
    pub fast_mps: f64,
}

impl Default for StreamingConfig {
    fn default() -> Self {
        StreamingConfig {
            // Two metres, as nuScenes' centre-distance matching: a stale
            // output still matches, and its centre error shows the cost.
            eval: EvalConfig {
                match_distance: 2.0,
                ..EvalConfig::default()
            },
            fast_mps: 10.0,
        }
    }
}

/// One replay's offline and streaming scores.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamingScore {
    /// The replay's pace, times the recorded speed (0: lockstep).
    pub rate: f64,
    pub stamp: StampMode,
    /// Outputs published, and those published after their deadline.
    pub outputs: u64,
    pub late: u64,
    /// From the scan's stamp to the moment of publication, header time
    /// (at `rate`, the bag's seconds: what a vehicle this slow would see).
    pub publish_latency_p50_ms: f64,
    pub publish_latency_p99_ms: f64,
    /// Each output against the truth at its own scan stamp.
    pub offline: Metrics,
    /// At each truth instant, the latest output published by then.
    pub streaming: Metrics,
    /// The same for truth moving at least `fast_mps` relative to the ego.
    pub offline_fast: Metrics,
    pub streaming_fast: Metrics,
    /// Truth instants scored in streaming (from the first output on).
    pub instants: u64,
}

/// Replays `bag` as `options` say (realtime at a rate, for latency to
/// count) and scores the outputs offline and streaming against the truth
/// on `truth_topic`.
pub fn evaluate_streaming(
    bag: &Bag,
    options: &ScheduledReplayOptions,
    truth_topic: &str,
    config: &StreamingConfig,
) -> Result<StreamingScore, String> {
    let truth = obstacle_arrays(bag, truth_topic).map_err(|e| e.to_string())?;
    let fast = fast_truth(&truth, config.fast_mps);
    let mut options = options.clone();
    options.observe.obstacles = true;
    let replay = replay_scheduled(bag, &options).map_err(|e| e.to_string())?;
    let fast = &fast;
    let is_fast = |stamp: i64| move |o: &Obstacle| fast.binary_search(&(stamp, o.id)).is_ok();
    let (mut offline, mut offline_fast) = evaluators(config);
    for (stamp, found) in &replay.obstacles {
        if let Some(expected) = truth.get(stamp) {
            offline.add_frame(found, expected);
            offline_fast.add_frame_scoped(found, expected, &|_| false, &is_fast(*stamp));
        }
    }
    // The outputs in the order they were published.
    let mut by_publication: Vec<(i64, i64)> =
        replay.published.iter().map(|(&s, &p)| (p, s)).collect();
    by_publication.sort_unstable();
    let (mut streaming, mut streaming_fast) = evaluators(config);
    let mut instants = 0;
    for (&instant, expected) in &truth {
        let latest = by_publication.partition_point(|&(p, _)| p <= instant);
        let Some(&(_, scan)) = latest.checked_sub(1).and_then(|i| by_publication.get(i)) else {
            continue;
        };
        let found = &replay.obstacles[&scan];
        streaming.add_frame(found, expected);
        streaming_fast.add_frame_scoped(found, expected, &|_| false, &is_fast(instant));
        instants += 1;
    }
    if instants == 0 {
        return Err(format!(
            "no truth on {truth_topic} came after an output was published"
        ));
    }
    let latencies_ms = finite_sorted(
        replay
            .published
            .iter()
            .map(|(s, p)| (p - s) as f64 / 1e6)
            .collect(),
    );
    Ok(StreamingScore {
        rate: match options.mode {
            Mode::Lockstep => 0.0,
            Mode::Realtime { rate } => rate,
        },
        stamp: options.output.stamp,
        outputs: replay.published.len() as u64,
        late: replay.published_after_deadline,
        publish_latency_p50_ms: percentile(&latencies_ms, 50),
        publish_latency_p99_ms: percentile(&latencies_ms, 99),
        offline: offline.report().overall,
        streaming: streaming.report().overall,
        offline_fast: offline_fast.report().overall,
        streaming_fast: streaming_fast.report().overall,
        instants,
    })
}

fn evaluators(config: &StreamingConfig) -> (Evaluator, Evaluator) {
    (
        Evaluator::new(config.eval.clone()),
        Evaluator::new(config.eval.clone()),
    )
}

/// (stamp, id) of truth moving at least `min_mps` relative to the ego: its
/// centre's displacement in the ego's frame to the neighbouring truth
/// record (the next one, or the previous one at the end).
fn fast_truth(truth: &BTreeMap<i64, Vec<Obstacle>>, min_mps: f64) -> Vec<(i64, u32)> {
    let stamps: Vec<i64> = truth.keys().copied().collect();
    let mut fast = Vec::new();
    for (k, &stamp) in stamps.iter().enumerate() {
        let other = stamps
            .get(k + 1)
            .or_else(|| k.checked_sub(1).map(|j| &stamps[j]));
        let Some(&other) = other else {
            continue;
        };
        let dt = (other - stamp).abs() as f64 * 1e-9;
        for o in &truth[&stamp] {
            let Some(p) = truth[&other].iter().find(|p| p.id == o.id) else {
                continue;
            };
            let d =
                (p.bbox.center[0] - o.bbox.center[0]).hypot(p.bbox.center[1] - o.bbox.center[1]);
            if dt > 0.0 && d / dt >= min_mps {
                fast.push((stamp, o.id));
            }
        }
    }
    fast.sort_unstable();
    fast
}
