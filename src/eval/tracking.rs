//! Tracking metrics: CLEAR MOT (MOTA, ID switches), the identity scores
//! (IDF1) and the velocity error of tracked obstacles, against truth that
//! carries object ids and ground velocities.
//!
//! The per-frame matching follows py-motmetrics' `MOTAccumulator.update`
//! step by step, so that the two give the same figures on the same input
//! (a test checks it): pairs matched in the previous frame are kept while
//! their distance stays within the threshold; the rest are paired by a
//! minimum-cost assignment that first maximizes the number of pairs; a
//! pair whose truth was last matched to another hypothesis is a switch.
//! IDF1 comes from the global assignment of truth ids to hypothesis ids
//! that maximizes the frames they are matched in (IDTP), as in Ristani et
//! al. (2016) and motmetrics' `id_global_assignment`.
//!
//! Owns [`MotAccumulator`] (the metric on frames of ids and distances),
//! [`MotFrame`] (one frame of it, what is handed to other tools), and
//! [`TrackingEvaluator`] (obstacles against truth, per class group).
//! Pure functions of what is handed in: never reads a bag or the clock.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::metrics::{finite_sorted, percentile};
use crate::obstacle::{Obstacle, ObstacleClass};
use crate::track::assign::Assigner;

/// One frame of the MOT problem: the truth ids, the hypothesis ids and
/// their distances (row-major, truth × hypothesis; NaN: may not pair).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MotFrame {
    pub stamp: i64,
    pub truth: Vec<u32>,
    pub hypotheses: Vec<u32>,
    #[serde(serialize_with = "nans_as_null")]
    pub distances: Vec<f64>,
}

impl MotFrame {
    fn distance(&self, t: usize, h: usize) -> f64 {
        self.distances[t * self.hypotheses.len() + h]
    }
}

fn nans_as_null<S: serde::Serializer>(v: &[f64], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = s.serialize_seq(Some(v.len()))?;
    for x in v {
        seq.serialize_element(&x.is_finite().then_some(*x))?;
    }
    seq.end()
}

/// CLEAR MOT and identity figures over the frames added.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct MotSummary {
    pub frames: u64,
    /// Truth object-frames.
    pub objects: u64,
    /// Hypothesis object-frames.
    pub predictions: u64,
    /// Truth object-frames matched (switches included).
    pub matches: u64,
    pub misses: u64,
    pub false_positives: u64,
    pub switches: u64,
    /// 1 − (misses + false positives + switches) / objects.
    pub mota: f64,
    /// Mean distance of the matched pairs, metres.
    pub motp: f64,
    /// Object-frames matched under the best one-to-one id assignment.
    pub idtp: u64,
    /// 2 IDTP / (objects + predictions).
    pub idf1: f64,
    /// Switches per 100 matched object-frames.
    pub switches_per_100: f64,
}

/// The CLEAR MOT state carried from frame to frame, and the counts.
#[derive(Debug, Default, Clone)]
pub struct MotAccumulator {
    /// Truth id → the hypothesis it was last matched to (kept while the
    /// truth is unseen, as motmetrics does).
    last: BTreeMap<u32, u32>,
    assigner: Assigner,
    summary: MotSummary,
    distance_sum: f64,
    /// Frames each truth id / hypothesis id / pair within reach appears in.
    truth_frames: BTreeMap<u32, u64>,
    hypothesis_frames: BTreeMap<u32, u64>,
    pair_frames: BTreeMap<(u32, u32), u64>,
}

impl MotAccumulator {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one frame; returns its matched (truth index, hypothesis index)
    /// pairs.
    pub fn update(&mut self, frame: &MotFrame) -> Vec<(usize, usize)> {
        let (nt, nh) = (frame.truth.len(), frame.hypotheses.len());
        assert_eq!(
            frame.distances.len(),
            nt * nh,
            "distances are truth × hypotheses"
        );
        let s = &mut self.summary;
        s.frames += 1;
        s.objects += nt as u64;
        s.predictions += nh as u64;
        for &t in &frame.truth {
            *self.truth_frames.entry(t).or_default() += 1;
        }
        for &h in &frame.hypotheses {
            *self.hypothesis_frames.entry(h).or_default() += 1;
        }
        for (t, &tid) in frame.truth.iter().enumerate() {
            for (h, &hid) in frame.hypotheses.iter().enumerate() {
                if frame.distance(t, h).is_finite() {
                    *self.pair_frames.entry((tid, hid)).or_default() += 1;
                }
            }
        }
        let (mut truth_used, mut hyp_used) = (vec![false; nt], vec![false; nh]);
        let mut pairs = Vec::new();
        // 1. Pairs of the last match that are still within reach.
        for (t, tid) in frame.truth.iter().enumerate() {
            let Some(&previous) = self.last.get(tid) else {
                continue;
            };
            let found = (0..nh).find(|&h| !hyp_used[h] && frame.hypotheses[h] == previous);
            if let Some(h) = found.filter(|&h| frame.distance(t, h).is_finite()) {
                truth_used[t] = true;
                hyp_used[h] = true;
                pairs.push((t, h));
            }
        }
        // 2. The rest by an assignment with the most pairs, then the least
        //    total distance.
        let rows = self.assigner.solve(nt, nh, f64::INFINITY, |t, h| {
            if truth_used[t] || hyp_used[h] {
                f64::INFINITY
            } else {
                frame.distance(t, h)
            }
        });
        let assigned: Vec<(usize, usize)> = rows
            .iter()
            .enumerate()
            .filter_map(|(t, h)| h.map(|h| (t, h)))
            .collect();
        for (t, h) in assigned {
            let (tid, hid) = (frame.truth[t], frame.hypotheses[h]);
            if self.last.get(&tid).is_some_and(|&previous| previous != hid) {
                self.summary.switches += 1;
            }
            truth_used[t] = true;
            hyp_used[h] = true;
            pairs.push((t, h));
        }
        for &(t, h) in &pairs {
            self.last.insert(frame.truth[t], frame.hypotheses[h]);
            self.distance_sum += frame.distance(t, h);
        }
        let s = &mut self.summary;
        s.matches += pairs.len() as u64;
        s.misses += truth_used.iter().filter(|&&u| !u).count() as u64;
        s.false_positives += hyp_used.iter().filter(|&&u| !u).count() as u64;
        pairs
    }

    /// The figures so far (IDF1 solved over all frames).
    pub fn summary(&mut self) -> MotSummary {
        let mut s = self.summary;
        let objects = s.objects as f64;
        s.mota = 1.0 - (s.misses + s.false_positives + s.switches) as f64 / objects;
        s.motp = self.distance_sum / s.matches as f64;
        s.idtp = self.identity_true_positives();
        s.idf1 = 2.0 * s.idtp as f64 / (s.objects + s.predictions) as f64;
        s.switches_per_100 = 100.0 * s.switches as f64 / s.matches as f64;
        s
    }

    /// The largest number of object-frames a one-to-one assignment of
    /// truth ids to hypothesis ids matches (a maximum-weight matching,
    /// solved as motmetrics does: truth and hypotheses each padded with a
    /// dummy of their own, the cost being the frames left unmatched).
    fn identity_true_positives(&mut self) -> u64 {
        let truth: Vec<(u32, u64)> = self.truth_frames.iter().map(|(&k, &v)| (k, v)).collect();
        let hyps: Vec<(u32, u64)> = self
            .hypothesis_frames
            .iter()
            .map(|(&k, &v)| (k, v))
            .collect();
        let (no, nh) = (truth.len(), hyps.len());
        let n = no + nh;
        let pair_frames = &self.pair_frames;
        let cost = |r: usize, c: usize| -> f64 {
            match (r < no, c < nh) {
                // Truth r with hypothesis c: the frames either is unmatched.
                (true, true) => {
                    let tp = pair_frames.get(&(truth[r].0, hyps[c].0)).copied();
                    (truth[r].1 + hyps[c].1 - 2 * tp.unwrap_or(0)) as f64
                }
                // Truth r with its own dummy: all its frames missed.
                (true, false) if c - nh == r => truth[r].1 as f64,
                (true, false) => f64::INFINITY,
                // A dummy truth with hypothesis c: all its frames false.
                (false, true) if r - no == c => hyps[c].1 as f64,
                (false, true) => f64::INFINITY,
                (false, false) => 0.0,
            }
        };
        let rows = self.assigner.solve(n, n, f64::INFINITY, cost).to_vec();
        rows.iter()
            .enumerate()
            .filter(|&(r, _)| r < no)
            .filter_map(|(r, c)| c.filter(|&c| c < nh).map(|c| (r, c)))
            .map(|(r, c)| {
                pair_frames
                    .get(&(truth[r].0, hyps[c].0))
                    .copied()
                    .unwrap_or(0)
            })
            .sum()
    }
}

/// Which obstacles are tracked against which truth, and how far a match
/// may be.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrackingEvalConfig {
    /// Largest BEV centre distance of a matched pair, metres (nuScenes'
    /// tracking benchmark uses 2 m).
    pub max_distance: f64,
    /// Truth and hypotheses beyond this BEV range do not count, metres.
    pub max_range: f64,
    /// Truth with fewer lidar points is "don't care": hypotheses on it are
    /// left out rather than called false.
    pub min_truth_points: u32,
    /// Velocity errors are taken once the truth has been matched to the
    /// same hypothesis for this long, s.
    pub min_tracked_s: f64,
}

impl Default for TrackingEvalConfig {
    fn default() -> Self {
        TrackingEvalConfig {
            max_distance: 2.0,
            max_range: 50.0,
            min_truth_points: 15,
            min_tracked_s: 1.0,
        }
    }
}

/// The class groups tracking is scored in: a hypothesis counts for a group
/// when its class is in it (`unknown` obstacles count for none).
pub const GROUPS: [(&str, &[ObstacleClass]); 3] = [
    ("vehicle", &[ObstacleClass::Car, ObstacleClass::Truck]),
    ("pedestrian", &[ObstacleClass::Pedestrian]),
    ("cyclist", &[ObstacleClass::Cyclist]),
];

/// The figures of one class group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupTracking {
    pub mot: MotSummary,
    /// |velocity − truth velocity| (BEV, m/s) of pairs tracked for at
    /// least `min_tracked_s`.
    pub velocity_samples: u64,
    pub velocity_error_median: f64,
    pub velocity_error_p90: f64,
}

/// Tracking figures of a run, by class group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrackingReport {
    pub config: TrackingEvalConfig,
    pub groups: BTreeMap<String, GroupTracking>,
}

impl TrackingReport {
    pub fn group(&self, name: &str) -> Option<&GroupTracking> {
        self.groups.get(name)
    }

    /// A fixed-width table, one row per group.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let c = &self.config;
        let _ = writeln!(
            out,
            "tracking: match <= {} m, range <= {} m; velocity error after {} s tracked",
            c.max_distance, c.max_range, c.min_tracked_s
        );
        let _ = writeln!(
            out,
            "{:<11} {:>7} {:>7} {:>6} {:>6} {:>8} {:>6} {:>6} {:>7} {:>9} {:>9}",
            "group",
            "objects",
            "matched",
            "FN",
            "FP",
            "switches",
            "MOTA",
            "IDF1",
            "sw/100",
            "v err med",
            "v err p90"
        );
        for (name, g) in &self.groups {
            let m = &g.mot;
            let _ = writeln!(
                out,
                "{:<11} {:>7} {:>7} {:>6} {:>6} {:>8} {:>6.3} {:>6.3} {:>7.2} {:>9.2} {:>9.2}",
                name,
                m.objects,
                m.matches,
                m.misses,
                m.false_positives,
                m.switches,
                m.mota,
                m.idf1,
                m.switches_per_100,
                g.velocity_error_median,
                g.velocity_error_p90
            );
        }
        out
    }
}

/// One class group's accumulator, its frames and velocity errors.
#[derive(Debug, Default, Clone)]
struct Group {
    accumulator: MotAccumulator,
    frames: Vec<MotFrame>,
    /// Truth id → (hypothesis id, matched to it since).
    since: BTreeMap<u32, (u32, i64)>,
    velocity_errors: Vec<f64>,
}

/// Scores tracked obstacles (ids, velocities) against truth with ids and
/// velocities, frame by frame, in time order.
#[derive(Debug, Clone)]
pub struct TrackingEvaluator {
    config: TrackingEvalConfig,
    groups: Vec<Group>,
}

impl TrackingEvaluator {
    pub fn new(config: TrackingEvalConfig) -> Self {
        TrackingEvaluator {
            config,
            groups: vec![Group::default(); GROUPS.len()],
        }
    }

    /// One output (`stamp`, header time) against the truth at that instant,
    /// both in the output frame.
    pub fn add_frame(&mut self, stamp: i64, outputs: &[Obstacle], truth: &[Obstacle]) {
        for (g, (_, classes)) in GROUPS.iter().enumerate() {
            let frame = self.frame(stamp, classes, outputs, truth);
            let group = &mut self.groups[g];
            let pairs = group.accumulator.update(&frame.0);
            for (t, h) in pairs {
                let (truth, output) = (frame.1[t], frame.2[h]);
                let entry = group.since.entry(truth.id).or_insert((output.id, stamp));
                if entry.0 != output.id {
                    *entry = (output.id, stamp);
                }
                if (stamp - entry.1) as f64 * 1e-9 >= self.config.min_tracked_s {
                    let dv = [
                        output.velocity[0] - truth.velocity[0],
                        output.velocity[1] - truth.velocity[1],
                    ];
                    group.velocity_errors.push(dv[0].hypot(dv[1]));
                }
            }
            group.frames.push(frame.0);
        }
    }

    /// The MOT frame of one group, with the truth and hypotheses it holds.
    fn frame<'a>(
        &self,
        stamp: i64,
        classes: &[ObstacleClass],
        outputs: &'a [Obstacle],
        truth: &'a [Obstacle],
    ) -> (MotFrame, Vec<&'a Obstacle>, Vec<&'a Obstacle>) {
        let c = &self.config;
        let range = |o: &Obstacle| o.bbox.center[0].hypot(o.bbox.center[1]);
        let near = |a: &Obstacle, b: &Obstacle| distance(a, b) <= c.max_distance;
        let (counted, dont_care): (Vec<&Obstacle>, Vec<&Obstacle>) = truth
            .iter()
            .filter(|t| classes.contains(&t.class))
            .partition(|t| range(t) <= c.max_range && t.point_count >= c.min_truth_points);
        // A hypothesis beyond range or on don't-care truth is left out
        // unless counted truth is within reach of it.
        let hyps: Vec<&Obstacle> = outputs
            .iter()
            .filter(|o| classes.contains(&o.class))
            .filter(|o| {
                counted.iter().any(|t| near(o, t))
                    || (range(o) <= c.max_range && !dont_care.iter().any(|t| near(o, t)))
            })
            .collect();
        let mut distances = Vec::with_capacity(counted.len() * hyps.len());
        for t in &counted {
            for h in &hyps {
                let d = distance(t, h);
                distances.push(if d <= c.max_distance { d } else { f64::NAN });
            }
        }
        let frame = MotFrame {
            stamp,
            truth: counted.iter().map(|t| t.id).collect(),
            hypotheses: hyps.iter().map(|h| h.id).collect(),
            distances,
        };
        (frame, counted, hyps)
    }

    /// Every group's MOT frames so far, for checking against other tools.
    pub fn frames(&self) -> BTreeMap<String, &[MotFrame]> {
        GROUPS
            .iter()
            .zip(&self.groups)
            .map(|((name, _), g)| ((*name).to_owned(), g.frames.as_slice()))
            .collect()
    }

    pub fn report(&mut self) -> TrackingReport {
        let groups = GROUPS
            .iter()
            .zip(self.groups.iter_mut())
            .map(|((name, _), g)| {
                let errors = finite_sorted(g.velocity_errors.clone());
                let group = GroupTracking {
                    mot: g.accumulator.summary(),
                    velocity_samples: errors.len() as u64,
                    velocity_error_median: percentile(&errors, 50),
                    velocity_error_p90: percentile(&errors, 90),
                };
                ((*name).to_owned(), group)
            })
            .collect();
        TrackingReport {
            config: self.config.clone(),
            groups,
        }
    }
}

fn distance(a: &Obstacle, b: &Obstacle) -> f64 {
    (a.bbox.center[0] - b.bbox.center[0]).hypot(a.bbox.center[1] - b.bbox.center[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(truth: &[u32], hyps: &[u32], d: &[f64]) -> MotFrame {
        MotFrame {
            stamp: 0,
            truth: truth.to_vec(),
            hypotheses: hyps.to_vec(),
            distances: d.to_vec(),
        }
    }

    const X: f64 = f64::NAN;

    /// The example the motmetrics run gave (its output, by hand): frames
    /// with a miss, a false positive and a kept pairing.
    #[test]
    fn matches_motmetrics_on_a_small_example() {
        let mut acc = MotAccumulator::new();
        acc.update(&frame(&[1, 2], &[1, 2, 3], &[0.1, X, 0.3, 0.5, 0.2, X]));
        acc.update(&frame(&[1, 2], &[1], &[0.2, 0.4]));
        acc.update(&frame(&[1, 2], &[2, 1], &[0.2, 0.1, 0.1, X]));
        let s = acc.summary();
        assert_eq!((s.objects, s.predictions, s.switches), (6, 6, 0));
        assert!((s.mota - 2.0 / 3.0).abs() < 1e-12, "{s:?}");
        assert!((s.idf1 - 5.0 / 6.0).abs() < 1e-12, "{s:?}");
        assert_eq!(s.idtp, 5);
    }

    /// A truth object handed from one hypothesis to another is one switch;
    /// going back later is another.
    #[test]
    fn switches_are_counted_when_the_pairing_changes() {
        let mut acc = MotAccumulator::new();
        acc.update(&frame(&[7], &[1], &[0.1]));
        acc.update(&frame(&[7], &[2], &[0.1]));
        acc.update(&frame(&[7], &[2], &[0.1]));
        acc.update(&frame(&[7], &[1], &[0.1]));
        let s = acc.summary();
        assert_eq!((s.switches, s.matches, s.misses), (2, 4, 0));
        assert_eq!(s.idtp, 2);
        assert!((s.mota - 0.5).abs() < 1e-12);
    }

    /// The identity assignment maximizes matched frames, even with fewer
    /// pairs than the most there could be.
    #[test]
    fn identity_assignment_is_maximum_weight() {
        let mut acc = MotAccumulator::new();
        for _ in 0..10 {
            acc.update(&frame(&[1], &[10], &[0.1]));
        }
        acc.update(&frame(&[1, 2], &[11, 10], &[0.1, X, X, 0.1]));
        let s = acc.summary();
        // 1↔10 for 10 frames beats 1↔11 + 2↔10 (1 + 1).
        assert_eq!(s.idtp, 10);
    }
}
