//! The end-of-run report of a scheduled replay: per-sensor totals, the
//! honest late count (outputs timed at their hand-off), health changes,
//! memory after each pass, accuracy, and the per-frame records the latency
//! plots draw. Plain data and its table.
//!
//! Owns the report types. Never runs anything: the scheduled replay
//! ([`crate::replay::scheduled`]) fills them, [`super::write_report`]
//! draws them.

use crate::sched::stats::{LatencySummary, Rejects, StatusRecord};
use serde::Serialize;

/// What happened to one frame, on the replay's time axis.
#[derive(Debug, Clone, Serialize)]
pub struct FrameRecord {
    pub sensor: String,
    /// Arrival order within the sensor.
    pub frame: u64,
    /// Header stamp, seconds since the first arrival (pipeline clock).
    pub t_s: f64,
    /// `published`, `published_late`, a drop reason or `failed`.
    pub outcome: &'static str,
    /// Stage run time, when the stage ran.
    pub run_ms: Option<f64>,
    /// Header stamp to result, when the stage ran.
    pub end_to_end_ms: Option<f64>,
    /// The variant the stage ran (a model ladder's rung, 0 = the most
    /// accurate) and the run time it was chosen to fit, when it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget_ms: Option<f64>,
    /// A published lidar frame: the lidars whose scans it merged.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lidars: Vec<String>,
}

/// One lidar's part in the merged scans (a rig with several lidars).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MergeReport {
    pub lidar: String,
    /// Scans it sent.
    pub scans: u64,
    /// Merged scans it was part of.
    pub merged: u64,
    /// Merged scans that went without it (late or silent past the window).
    pub missing: u64,
}

/// One sensor's totals.
#[derive(Debug, Clone, Serialize)]
pub struct SensorReport {
    pub sensor: String,
    pub budget_ms: f64,
    pub received: u64,
    pub published: u64,
    pub published_late: u64,
    pub superseded: u64,
    pub stale: u64,
    pub infeasible: u64,
    pub late_dropped: u64,
    pub errors: u64,
    /// `errors` by reason, and the latest message.
    pub rejects: Rejects,
    /// Stage run time.
    pub stage: LatencySummary,
    /// Header stamp to result, of published results.
    pub end_to_end: LatencySummary,
    /// Header stamp to the moment the output chain handed the result to
    /// the publisher or the bag (after encoding), of outputs handed over.
    pub handoff: LatencySummary,
    /// A stage with variants (a camera's model ladder): frames started on
    /// each, most accurate first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<VariantReport>,
}

/// Frames a sensor's stage ran on one variant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VariantReport {
    pub name: String,
    pub started: u64,
}

/// What the output formats after the first cost per output.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct FormatsReport {
    /// Encoding them.
    pub encode: LatencySummary,
    /// Encoding and handing them to the sink (the bag writer, the
    /// publishers).
    pub total: LatencySummary,
}

/// The end-of-replay report (also written as JSON).
#[derive(Debug, Clone, Serialize)]
pub struct ScheduledReport {
    pub mode: String,
    pub policy: String,
    pub workers: usize,
    /// Wall time of the run.
    pub wall_s: f64,
    pub sensors: Vec<SensorReport>,
    /// Outputs handed to the publisher or written to the bag after their
    /// deadline, timed at the hand-off (after encoding): every one of them
    /// went out with its late flag.
    pub published_after_deadline: u64,
    /// Share of lane time spent on results that were published.
    pub useful_lane_share: f64,
    /// Results published per second of wall time.
    pub published_per_s: f64,
    pub health_changes: Vec<String>,
    /// Several lidars: what became of each one's scans in the merge.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub merge: Vec<MergeReport>,
    /// Tracking in the output chain (absent when it is off).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracking: Option<crate::track::TrackerCounters>,
    /// The formats after the first (`output.formats`), per output; none
    /// with one format; 0 in lockstep, whose clock does not move while the
    /// chain runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub formats: Option<FormatsReport>,
    pub statuses: Vec<StatusRecord>,
    /// Times time went back (bag loops): each started a new run.
    pub time_jumps: u64,
    /// Resident memory after each pass over the bag (`--loop`).
    pub resident_bytes: Vec<u64>,
    /// Live heap after each pass, less the runtime's frame buffer pool,
    /// when [`crate::replay::Observe::heap_probe`] is given.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub heap_bytes: Vec<u64>,
    /// The published obstacles by scan stamp, when [`crate::replay::Observe::obstacles`]
    /// asks for them; not in the JSON report.
    #[serde(skip)]
    pub obstacles: std::collections::BTreeMap<i64, Vec<crate::obstacle::Obstacle>>,
    /// The moment each of `obstacles` was published (header time: the
    /// bag's time in a replay), by scan stamp; not in the JSON report.
    #[serde(skip)]
    pub published: std::collections::BTreeMap<i64, i64>,
    /// The published lidar obstacles scored against the bag's ground truth
    /// ([`crate::replay::Observe::truth_topic`]), when it has any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<crate::eval::EvalReport>,
    /// Bird's-eye-view pictures written ([`crate::replay::Observe::bev`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bev_pictures: Option<u64>,
    /// One record per frame ([`crate::replay::Observe::frames`]); not in the JSON report.
    #[serde(skip)]
    pub frames: Vec<FrameRecord>,
    /// The pipeline clock at the first arrival (the zero of `t_s`), ns.
    #[serde(skip)]
    pub clock_origin_ns: i64,
}

impl ScheduledReport {
    pub fn table(&self) -> String {
        let mut out = format!(
            "mode {}, scheduler {}, {} workers, {:.1} s wall, {:.1} results/s, {:.0}% of lane time on published results\n",
            self.mode,
            self.policy,
            self.workers,
            self.wall_s,
            self.published_per_s,
            100.0 * self.useful_lane_share
        );
        let w = self
            .sensors
            .iter()
            .map(|s| s.sensor.len())
            .max()
            .unwrap_or(0)
            .max(7);
        out.push_str(&format!(
            "{:<w$} {:>8} {:>9} {:>6} {:>10} {:>6} {:>10} {:>5} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9}\n",
            "sensor",
            "received",
            "published",
            "late",
            "superseded",
            "stale",
            "infeasible",
            "late-",
            "errors",
            "run p50",
            "run p99",
            "e2e p50",
            "e2e p99",
            "e2e max"
        ));
        for s in &self.sensors {
            out.push_str(&format!(
                "{:<w$} {:>8} {:>9} {:>6} {:>10} {:>6} {:>10} {:>5} {:>6} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1}\n",
                s.sensor,
                s.received,
                s.published,
                s.published_late,
                s.superseded,
                s.stale,
                s.infeasible,
                s.late_dropped,
                s.errors,
                s.stage.p50_ms,
                s.stage.p99_ms,
                s.end_to_end.p50_ms,
                s.end_to_end.p99_ms,
                s.end_to_end.max_ms,
            ));
        }
        out.push_str("(ms; late: published with the late flag; late-: dropped late)\n");
        let handed: Vec<String> = self
            .sensors
            .iter()
            .filter(|s| s.handoff.count > 0)
            .map(|s| {
                format!(
                    "{} p50 {:.1} p99 {:.1} max {:.1}",
                    s.sensor, s.handoff.p50_ms, s.handoff.p99_ms, s.handoff.max_ms
                )
            })
            .collect();
        if !handed.is_empty() {
            out.push_str(&format!(
                "outputs handed over after their deadline: {} (stamp to hand-off, after encoding, ms: {})\n",
                self.published_after_deadline,
                handed.join("; ")
            ));
        }
        if let Some(f) = &self.formats {
            out.push_str(&format!(
                "other output formats per output, ms: encoding p50 {:.3} p99 {:.3} max {:.3}; with the hand-over p50 {:.3} p99 {:.3} max {:.3}\n",
                f.encode.p50_ms, f.encode.p99_ms, f.encode.max_ms, f.total.p50_ms, f.total.p99_ms, f.total.max_ms
            ));
        }
        for s in self.sensors.iter().filter(|s| !s.variants.is_empty()) {
            let runs: Vec<String> = s
                .variants
                .iter()
                .map(|v| format!("{} {}", v.name, v.started))
                .collect();
            out.push_str(&format!(
                "{} frames by variant: {}\n",
                s.sensor,
                runs.join(", ")
            ));
        }
        for s in self.sensors.iter().filter(|s| s.rejects.total() > 0) {
            let reasons: Vec<String> = s
                .rejects
                .iter()
                .map(|(reason, n)| format!("{reason} {n}"))
                .collect();
            out.push_str(&format!(
                "{} errors by reason: {}; latest: {}\n",
                s.sensor,
                reasons.join(", "),
                s.rejects.last
            ));
        }
        if !self.merge.is_empty() {
            let lidars: Vec<String> = self
                .merge
                .iter()
                .map(|m| {
                    format!(
                        "{} {} scans, in {} merged, missing from {}",
                        m.lidar, m.scans, m.merged, m.missing
                    )
                })
                .collect();
            out.push_str(&format!("lidar merge: {}\n", lidars.join("; ")));
        }
        if let Some(t) = &self.tracking {
            let mut ego = if t.without_ego == 0 {
                "over the ground (ego pose from /tf or odometry)".to_owned()
            } else {
                format!(
                    "relative to the ego in {} of {} outputs (no ego pose on /tf or odometry)",
                    t.without_ego, t.steps
                )
            };
            if t.ego_rejected > 0 {
                ego.push_str(&format!(
                    "; {} ego-pose messages did not decode",
                    t.ego_rejected
                ));
            }
            out.push_str(&format!(
                "tracking: {} tracks born, {} dropped, {} outputs out of order, {} untracked obstacles; velocities {ego}\n",
                t.tracks_born, t.tracks_dropped, t.out_of_order, t.untracked
            ));
        }
        for change in &self.health_changes {
            out.push_str(&format!("health {change}\n"));
        }
        if self.time_jumps > 0 {
            out.push_str(&format!(
                "time went back {} time(s) (bag loops): each started a new run\n",
                self.time_jumps
            ));
        }
        for (what, samples, decimals) in [
            ("resident memory", &self.resident_bytes, 1),
            ("heap in use less the buffer pool", &self.heap_bytes, 3),
        ] {
            if let (Some(first), Some(last)) = (samples.first(), samples.last())
                && samples.len() > 1
            {
                out.push_str(&format!(
                    "{what} after pass 1: {:.decimals$} MiB, after pass {}: {:.decimals$} MiB ({:+.3} MiB)\n",
                    *first as f64 / 1048576.0,
                    samples.len(),
                    *last as f64 / 1048576.0,
                    (*last as f64 - *first as f64) / 1048576.0
                ));
            }
            if let Some(trend) = trend_after_warm_up(samples) {
                out.push_str(&format!(
                    "{what}: trend over passes {}-{} (least squares, after {WARM_UP_PASSES} passes of warm-up): {:+.3} MiB\n",
                    WARM_UP_PASSES + 1,
                    samples.len(),
                    trend / 1048576.0
                ));
            }
        }
        out
    }
}

/// Passes of a loop counted as warm-up by [`trend_after_warm_up`].
pub const WARM_UP_PASSES: usize = 10;

/// How much `samples` (one per pass) grew from the end of warm-up to the
/// last pass along their least-squares line: a per-pass sample moves with
/// whatever buffers happen to be pooled at that instant, the line does not.
/// `None` for fewer than 10 passes after warm-up.
pub fn trend_after_warm_up(samples: &[u64]) -> Option<f64> {
    let after = samples.get(WARM_UP_PASSES..).filter(|s| s.len() >= 10)?;
    let n = after.len() as f64;
    let mean_x = (n - 1.0) / 2.0;
    let mean_y = after.iter().map(|&y| y as f64).sum::<f64>() / n;
    let (mut covariance, mut variance) = (0.0, 0.0);
    for (x, &y) in after.iter().enumerate() {
        let dx = x as f64 - mean_x;
        covariance += dx * (y as f64 - mean_y);
        variance += dx * dx;
    }
    Some(covariance / variance * (n - 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trend_after_warm_up_is_the_growth_along_the_fitted_line() {
        let warm_up = [500u64; WARM_UP_PASSES];
        let flat: Vec<u64> = warm_up
            .iter()
            .copied()
            .chain((0..40).map(|i| 100 + (i % 2) * 10))
            .collect();
        assert!(trend_after_warm_up(&flat).unwrap().abs() < 1.0);
        let growing: Vec<u64> = warm_up
            .iter()
            .copied()
            .chain((0..41).map(|i| 1000 + 3 * i))
            .collect();
        assert!((trend_after_warm_up(&growing).unwrap() - 120.0).abs() < 1e-6);
        assert_eq!(trend_after_warm_up(&growing[..15]), None);
    }
}
