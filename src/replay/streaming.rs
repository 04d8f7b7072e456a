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
use crate::eval::metrics::{finite_sorted, greedy_match, percentile};
use crate::eval::tracking::{TrackingEvalConfig, TrackingEvaluator, TrackingReport};
use crate::eval::{EvalConfig, Evaluator, Metrics};
use crate::obstacle::Obstacle;
use crate::output::StampMode;
use crate::report::run::ScheduledReport;
use serde::Serialize;
use std::borrow::Cow;
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
    /// Each output against the truth at the moment its header stamp names
    /// (the scan's stamp; with `publish`, the moment it was predicted to,
    /// the truth interpolated between records): how right it is about the
    /// moment it claims.
    pub offline: Metrics,
    /// At each truth instant, the latest output published by then.
    pub streaming: Metrics,
    /// The same for truth moving at least `fast_mps` relative to the ego.
    pub offline_fast: Metrics,
    pub streaming_fast: Metrics,
    /// Truth instants scored in streaming (from the first output on).
    pub instants: u64,
    /// `output.horizon_ms` of the replay.
    pub horizon_ms: f64,
    /// The fast truth's centre error at the moment of use, paired by
    /// identity rather than by distance: each obstacle of the output in
    /// use against where the truth object it matched (at the moment its
    /// header stamp names) is at the instant, however far that is (median, p90, metres;
    /// the streaming match's gate would hide the largest errors).
    pub fast_error_at_use_median: f64,
    pub fast_error_at_use_p90: f64,
    pub fast_error_at_use_samples: u64,
    /// Camera frames received and published on time, all cameras.
    pub camera_frames: u64,
    pub camera_published: u64,
    /// Camera frames started on each rung of the model ladder, all cameras
    /// (empty unless the rung is chosen per frame).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub camera_variants: Vec<crate::report::run::VariantReport>,
}

/// Camera frames received and published on time, and started per rung.
fn camera_counts(
    options: &ScheduledReplayOptions,
    replay: &ScheduledReport,
) -> (u64, u64, Vec<crate::report::run::VariantReport>) {
    let (rig, _) = options.sensors();
    let cameras: Vec<&str> = rig
        .of_kind(crate::rig::SensorKind::Camera)
        .map(|s| rig.get(s).name.as_str())
        .collect();
    let mut counts: (u64, u64, Vec<crate::report::run::VariantReport>) = (0, 0, Vec::new());
    for s in replay
        .sensors
        .iter()
        .filter(|s| cameras.contains(&s.sensor.as_str()))
    {
        counts.0 += s.received;
        counts.1 += s.published;
        for (i, v) in s.variants.iter().enumerate() {
            match counts.2.get_mut(i) {
                Some(total) => total.started += v.started,
                None => counts.2.push(v.clone()),
            }
        }
    }
    counts
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
    // What each output's header stamp says it describes: the scan's stamp,
    // or (publish) the moment it was predicted to.
    let horizon = options.output.horizon_ns();
    let described = |scan: i64| match options.output.stamp {
        StampMode::Sensor => scan,
        StampMode::Publish => replay.published.get(&scan).map_or(scan, |p| p + horizon),
    };
    let (mut offline, mut offline_fast) = evaluators(config);
    for (&scan, found) in &replay.obstacles {
        if let Some(expected) = truth_at(&truth, described(scan)) {
            offline.add_frame(found, &expected);
            offline_fast.add_frame_scoped(found, &expected, &|_| false, &is_fast(scan));
        }
    }
    // The outputs in the order they were published.
    let mut by_publication: Vec<(i64, i64)> =
        replay.published.iter().map(|(&s, &p)| (p, s)).collect();
    by_publication.sort_unstable();
    let (mut streaming, mut streaming_fast) = evaluators(config);
    let mut errors_at_use = Vec::new();
    let mut instants = 0;
    for (&instant, expected) in &truth {
        let latest = by_publication.partition_point(|&(p, _)| p <= instant);
        let Some(&(_, scan)) = latest.checked_sub(1).and_then(|i| by_publication.get(i)) else {
            continue;
        };
        let found = &replay.obstacles[&scan];
        streaming.add_frame(found, expected);
        streaming_fast.add_frame_scoped(found, expected, &|_| false, &is_fast(instant));
        if let Some(seen) = truth_at(&truth, described(scan)) {
            let fast = is_fast(instant);
            let counted = |t: &Obstacle| fast(t) && counts(&config.eval, t);
            errors_at_use.extend(errors_by_identity(
                found,
                &seen,
                expected,
                &config.eval,
                counted,
            ));
        }
        instants += 1;
    }
    if instants == 0 {
        return Err(format!(
            "no truth on {truth_topic} came after an output was published"
        ));
    }
    let (camera_frames, camera_published, camera_variants) = camera_counts(&options, &replay);
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
        horizon_ms: options.output.horizon_ms,
        fast_error_at_use_samples: errors_at_use.len() as u64,
        fast_error_at_use_median: percentile(&finite_sorted(errors_at_use.clone()), 50),
        fast_error_at_use_p90: percentile(&finite_sorted(errors_at_use), 90),
        camera_frames,
        camera_published,
        camera_variants,
    })
}

/// The truth at `stamp`: the record of that stamp, or between two records
/// each object the two share with its centre and heading interpolated
/// (over 100 ms the motion in the ego's frame is close to straight), the
/// others as the earlier record has them. None outside the records.
fn truth_at(truth: &BTreeMap<i64, Vec<Obstacle>>, stamp: i64) -> Option<Cow<'_, [Obstacle]>> {
    if let Some(exact) = truth.get(&stamp) {
        return Some(Cow::Borrowed(exact));
    }
    let (&t0, before) = truth.range(..stamp).next_back()?;
    let (&t1, after) = truth.range(stamp..).next()?;
    let f = (stamp - t0) as f64 / (t1 - t0) as f64;
    let mut objects = before.clone();
    for o in &mut objects {
        let Some(later) = after.iter().find(|a| a.id == o.id) else {
            continue;
        };
        let b = &mut o.bbox;
        for (c, l) in b.center.iter_mut().zip(later.bbox.center) {
            *c += f * (l - *c);
        }
        let turn = (later.bbox.yaw - b.yaw + std::f64::consts::PI)
            .rem_euclid(std::f64::consts::TAU)
            - std::f64::consts::PI;
        b.yaw += f * turn;
    }
    Some(Cow::Owned(objects))
}

/// Truth the scores count: within range, of a published class, seen by
/// enough points.
fn counts(config: &EvalConfig, t: &Obstacle) -> bool {
    t.bbox.center[0].hypot(t.bbox.center[1]) <= config.max_range
        && t.class != crate::obstacle::ObstacleClass::Unknown
        && t.point_count >= config.min_truth_points
}

/// For each obstacle of `found` (one output) that matched truth in `seen`
/// (the truth at the moment the output's stamp names), the BEV distance to the same
/// truth object in `now` (the truth at the moment of use), when `keep`
/// holds for it there.
fn errors_by_identity<'a>(
    found: &'a [Obstacle],
    seen: &'a [Obstacle],
    now: &'a [Obstacle],
    config: &EvalConfig,
    keep: impl Fn(&Obstacle) -> bool + 'a,
) -> impl Iterator<Item = f64> + 'a {
    let all_found: Vec<usize> = (0..found.len()).collect();
    let all_seen: Vec<usize> = (0..seen.len()).collect();
    let pairs = greedy_match(found, &all_found, seen, &all_seen, config.match_distance);
    pairs.into_iter().filter_map(move |(i, j)| {
        let t = now
            .iter()
            .find(|t| t.id == seen[j].id)
            .filter(|t| keep(t))?;
        let (o, t) = (&found[i].bbox.center, &t.bbox.center);
        Some((o[0] - t[0]).hypot(o[1] - t[1]))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::obstacle::{Box3, Footprint, ObstacleClass, ObstacleSource, TrackState};

    fn car(id: u32, x: f64, yaw: f64) -> Obstacle {
        Obstacle {
            id,
            class: ObstacleClass::Car,
            score: 1.0,
            source: ObstacleSource::Lidar,
            bbox: Box3 {
                center: [x, 0.0, 0.0],
                size: [4.5, 1.8, 1.5],
                yaw,
            },
            velocity: [0.0; 3],
            point_count: 100,
            nearest_distance: 0.0,
            lidar_stamp: 0,
            camera_stamp: 0,
            latency: 0.0,
            footprint: Footprint::default(),
            track: TrackState::NONE,
        }
    }

    /// Between two records the shared objects move on a straight line and
    /// turn the short way; an object the later record lacks stays.
    #[test]
    fn truth_between_records_is_interpolated() {
        let pi = std::f64::consts::PI;
        let truth = BTreeMap::from([
            (0, vec![car(1, 10.0, pi - 0.1), car(2, 5.0, 0.0)]),
            (100, vec![car(1, 12.0, -pi + 0.1)]),
        ]);
        let at = truth_at(&truth, 25).unwrap();
        assert!((at[0].bbox.center[0] - 10.5).abs() < 1e-9);
        assert!((at[0].bbox.yaw - (pi - 0.05)).abs() < 1e-9);
        assert_eq!(at[1].bbox.center[0], 5.0);
        assert!(matches!(truth_at(&truth, 100), Some(Cow::Borrowed(_))));
        assert!(truth_at(&truth, 101).is_none() && truth_at(&truth, -1).is_none());
    }

    /// Pairing by identity keeps a stale output's whole error, where the
    /// distance gate would drop the pair.
    #[test]
    fn the_error_at_use_follows_the_object_not_the_gate() {
        let config = EvalConfig {
            match_distance: 2.0,
            ..EvalConfig::default()
        };
        let found = [car(7, 10.1, 0.0)];
        let seen = [car(1, 10.0, 0.0), car(2, 30.0, 0.0)];
        let now = [car(1, 14.0, 0.0), car(2, 30.0, 0.0)];
        let errors: Vec<f64> = errors_by_identity(&found, &seen, &now, &config, |_| true).collect();
        assert_eq!(errors.len(), 1);
        assert!((errors[0] - 3.9).abs() < 1e-9);
        let none: Vec<f64> = errors_by_identity(&found, &seen, &now, &config, |_| false).collect();
        assert!(none.is_empty());
    }
}
