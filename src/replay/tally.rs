//! What a scheduled replay counts while it runs, and the report made of it
//! at the end ([`crate::report::run::ScheduledReport`]).

use crate::report::run::{FormatsReport, ScheduledReport, SensorReport, VariantReport};
use crate::sched::runtime::Shared;
use crate::sched::stats::{LatencySummary, StatusRecord, histogram};
use crate::sched::watchdog::Transition;
use hdrhistogram::Histogram;

/// What the driver counted while the run went on.
pub(super) struct Tally {
    /// Outputs handed to the publisher or the bag after their deadline
    /// (the output chain's hand-off), of any outcome.
    pub published_after_deadline: u64,
    pub useful_run_ns: i64,
    /// Per sensor: results published with the late flag (by the late
    /// policy, or handed over after the deadline).
    pub late_published: Vec<u64>,
    /// Per sensor: of those, the ones the scheduler already judged late
    /// (its late counter also holds the late results it dropped).
    pub late_by_scheduler: Vec<u64>,
    /// Per sensor: stamp to hand-off, of outputs handed over (ns).
    pub handoff: Vec<Histogram<u64>>,
    /// Per output: encoding and handing over the formats after the first
    /// (ns; empty with one format).
    pub formats: Histogram<u64>,
    /// Of that, encoding alone.
    pub formats_encode: Histogram<u64>,
    pub statuses: Vec<StatusRecord>,
}

impl Tally {
    /// For `sensors` sensors.
    pub fn new(sensors: usize) -> Self {
        Tally {
            published_after_deadline: 0,
            useful_run_ns: 0,
            late_published: vec![0; sensors],
            late_by_scheduler: vec![0; sensors],
            handoff: (0..sensors).map(|_| histogram()).collect(),
            formats: histogram(),
            formats_encode: histogram(),
            statuses: Vec::new(),
        }
    }
}

/// How the run was set up, for the report's header.
pub(super) struct RunFacts<'a> {
    pub mode: String,
    pub scheduler: &'a crate::sched::SchedulerConfig,
    pub wall_s: f64,
    /// The camera detector's rungs, most accurate first (a ladder of more
    /// than one is reported per camera).
    pub variant_names: &'a [String],
}

pub(super) fn report(run: RunFacts<'_>, shared: Shared, tally: Tally) -> ScheduledReport {
    let counters = &shared.counters;
    let config = run.scheduler;
    let wall_s = run.wall_s;
    let set = &shared.sensors;
    let sensors: Vec<SensorReport> = set
        .all()
        .map(|sensor| {
            let c = &counters[sensor.index()];
            let late_published = tally.late_published[sensor.index()];
            let late_by_scheduler = tally.late_by_scheduler[sensor.index()];
            SensorReport {
                sensor: set.name(sensor).to_owned(),
                budget_ms: set.get(sensor).config.budget_ms,
                received: c.received,
                published: c.published,
                published_late: late_published,
                superseded: c.superseded,
                stale: c.stale,
                infeasible: c.infeasible,
                late_dropped: c.late.saturating_sub(late_by_scheduler),
                errors: c.errors,
                rejects: shared.rejects[sensor.index()].clone(),
                stage: shared.stats.run(sensor),
                end_to_end: shared.stats.end_to_end(sensor),
                handoff: LatencySummary::of(&tally.handoff[sensor.index()]),
                variants: variant_report(set.get(sensor).variants, run.variant_names, c),
            }
        })
        .collect();
    let published: u64 = sensors.iter().map(|s| s.published).sum();
    let useful_ns = tally.useful_run_ns as f64;
    let lane_ns = config.workers as f64 * wall_s * 1e9;
    ScheduledReport {
        mode: run.mode,
        policy: format!("{:?}", config.policy).to_lowercase(),
        workers: config.workers,
        wall_s,
        sensors,
        published_after_deadline: tally.published_after_deadline,
        useful_lane_share: if lane_ns > 0.0 {
            (useful_ns / lane_ns).min(1.0)
        } else {
            0.0
        },
        published_per_s: if wall_s > 0.0 {
            published as f64 / wall_s
        } else {
            0.0
        },
        health_changes: shared
            .transitions
            .iter()
            .map(|t| describe(t, &shared))
            .collect(),
        merge: Vec::new(),
        tracking: None,
        formats: (!tally.formats.is_empty()).then(|| FormatsReport {
            encode: LatencySummary::of(&tally.formats_encode),
            total: LatencySummary::of(&tally.formats),
        }),
        statuses: tally.statuses,
        time_jumps: shared.time_jumps,
        resident_bytes: Vec::new(),
        heap_bytes: Vec::new(),
        obstacles: Default::default(),
        published: Default::default(),
        accuracy: None,
        bev_pictures: None,
        frames: Vec::new(),
        clock_origin_ns: 0,
    }
}

fn describe(t: &Transition, shared: &Shared) -> String {
    format!(
        "{} -> {} at {:.3} s: {}",
        t.from.as_str(),
        t.to.as_str(),
        t.at as f64 / 1e9,
        shared.describe(t)
    )
}

/// Frames started per rung, for a sensor whose stage chose among several.
fn variant_report(
    variants: crate::sched::Variants,
    names: &[String],
    counters: &crate::sched::SensorCounters,
) -> Vec<VariantReport> {
    if !matches!(variants, crate::sched::Variants::Adaptive { .. }) {
        return Vec::new();
    }
    names
        .iter()
        .zip(counters.variant_started)
        .map(|(name, started)| VariantReport {
            name: name.clone(),
            started,
        })
        .collect()
}
