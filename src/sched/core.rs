//! The scheduling decisions, as a plain state machine: frames in (with the
//! time they arrived), the next frame to start out, verdicts on finished
//! results. No threads, no clock reads: every call is given `now`, so the
//! same decisions replay deterministically on a simulated clock and the
//! runtime ([`super::runtime`]) only moves frames between threads.
//!
//! Earliest deadline first over per-sensor mailboxes: a mailbox keeps at most
//! `mailbox_depth` unstarted frames and a newer frame replaces the oldest
//! (`superseded`); a frame already past its deadline is never started
//! (`stale`); a frame whose predicted finish (now + a high quantile of the
//! stage's recent run times) is past its deadline is dropped before it wastes
//! compute (`infeasible`). A stage with variants (a camera's model ladder)
//! gets the variant for each frame as it starts ([`super::variant`]), from
//! the frame's slack and the lanes' time the other sensors' load leaves it
//! (their median run times over their arrival periods). The `fifo` policy
//! is the baseline: bounded queues served in arrival order, no deadline
//! enforced. Never allocates after construction.

use super::config::{DeadlineFrom, LatePolicy, Policy, SchedulerConfig};
use super::estimate::RunTimeEstimate;
use super::sensors::SensorSet;
use super::variant::{Budget, MAX_VARIANTS, VariantSelector};
use std::collections::VecDeque;

pub use crate::stage::Sensor;

/// Why a frame was not started (or its result not published).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Drop {
    /// A newer frame of the same sensor replaced it before it started.
    Superseded,
    /// Past its deadline on arrival or while waiting.
    Stale,
    /// Predicted to finish after its deadline.
    Infeasible,
    /// Finished after its deadline (late policy `drop`).
    Late,
}

impl Drop {
    pub fn as_str(self) -> &'static str {
        match self {
            Drop::Superseded => "superseded",
            Drop::Stale => "stale",
            Drop::Infeasible => "infeasible",
            Drop::Late => "late",
        }
    }
}

/// A frame's timing, as the scheduler tracks it (ns on the pipeline clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Arrival order over all sensors.
    pub seq: u64,
    /// Arrival order within the sensor, from 0.
    pub index: u64,
    pub sensor: Sensor,
    pub stamp: i64,
    pub arrival: i64,
    pub deadline: i64,
    /// The variant of the sensor's stage to run ([`super::variant`]; 0 for
    /// a stage with one), chosen when the frame starts.
    pub variant: u8,
    /// How long the run may take (ns), set when the frame starts: the slack
    /// to its deadline, less the lanes' time the other sensors' load needs
    /// meanwhile. What the variant was chosen to fit.
    pub budget_ns: i64,
}

/// A frame waiting for (or handed to) a lane, with its payload.
#[derive(Debug)]
pub struct Frame<J> {
    pub timing: Timing,
    pub job: J,
}

/// What to do with a finished result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// On time: publish.
    Publish,
    /// Late, published with its late flag (policy `publish_flagged`, or the
    /// fifo baseline, which enforces nothing).
    PublishLate,
    /// Late, not published.
    DropLate,
}

/// Per-sensor counts since start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct SensorCounters {
    pub received: u64,
    pub started: u64,
    /// Results published on time.
    pub published: u64,
    pub superseded: u64,
    pub stale: u64,
    pub infeasible: u64,
    /// Results ready after their deadline (dropped or flagged).
    pub late: u64,
    /// Frames the stage failed on (bad input or stage error).
    pub errors: u64,
    /// Frames started per variant of the stage ([`super::variant`]).
    pub variant_started: [u64; MAX_VARIANTS],
    /// The variant the last started frame was given.
    pub variant: u8,
    /// Deadline misses in a row (stale, infeasible, late or error); reset by
    /// an on-time result.
    pub consecutive_misses: u32,
}

impl SensorCounters {
    pub fn count(&mut self, drop: Drop) {
        match drop {
            Drop::Superseded => self.superseded += 1,
            Drop::Stale => self.stale += 1,
            Drop::Infeasible => self.infeasible += 1,
            Drop::Late => self.late += 1,
        }
        if drop != Drop::Superseded {
            self.consecutive_misses = self.consecutive_misses.saturating_add(1);
        }
    }

    /// Frames started per variant, up to the last that ran; empty while
    /// only variant 0 has (a stage with one variant, or a ladder not yet
    /// stepped down).
    pub fn ran_variants(&self) -> &[u64] {
        let ran = self
            .variant_started
            .iter()
            .rposition(|&n| n > 0)
            .map_or(0, |i| i + 1);
        if ran <= 1 {
            &[]
        } else {
            &self.variant_started[..ran]
        }
    }

    /// Frames that missed their deadline.
    pub fn misses(&self) -> u64 {
        self.stale + self.infeasible + self.late + self.errors
    }
}

struct Mailbox<J> {
    /// Infeasible drops in a row: after `probe_after`, the next frame is
    /// started anyway, so an estimate inflated by one slow run (a stall)
    /// is refreshed instead of refusing the sensor forever.
    infeasible_in_a_row: u32,
    frames: VecDeque<Frame<J>>,
    depth: usize,
    budget_ns: i64,
    from: DeadlineFrom,
}

pub struct Scheduler<J> {
    policy: Policy,
    late: LatePolicy,
    probe_after: u32,
    /// One of each per sensor of the set, by index.
    mailboxes: Vec<Mailbox<J>>,
    estimates: Vec<RunTimeEstimate>,
    /// Per sensor: the median of its stage's recent run times (its load).
    medians: Vec<RunTimeEstimate>,
    /// Per sensor: its stage's variant choice, and how often it sends frames.
    variants: Vec<VariantSelector>,
    periods: Vec<ArrivalPeriod>,
    /// Lanes, times the share of their time the load may take.
    capacity: f64,
    counters: Vec<SensorCounters>,
    next_seq: u64,
}

/// A sensor's arrival period: a moving average of the intervals between its
/// frames (gaps over [`ArrivalPeriod::GAP_NS`] are a pause, not a period).
#[derive(Debug, Clone, Copy, Default)]
struct ArrivalPeriod {
    last: Option<i64>,
    period_ns: Option<f64>,
}

impl ArrivalPeriod {
    const GAP_NS: i64 = 1_000_000_000;
    /// The weight of the newest interval.
    const ALPHA: f64 = 0.25;

    fn arrived(&mut self, now: i64) {
        if let Some(last) = self.last {
            let interval = now - last;
            if interval > 0 && interval <= Self::GAP_NS {
                let interval = interval as f64;
                self.period_ns = Some(match self.period_ns {
                    Some(p) => p + Self::ALPHA * (interval - p),
                    None => interval,
                });
            }
        }
        self.last = Some(now);
    }
}

impl<J> Scheduler<J> {
    /// `config` must be valid ([`SchedulerConfig::validate`]); one mailbox
    /// per sensor of `sensors`, allocated now.
    pub fn new(config: &SchedulerConfig, sensors: &SensorSet) -> Self {
        let mailbox = |sensor: &super::config::SensorConfig| {
            let depth = match config.policy {
                Policy::Edf => sensor.mailbox_depth,
                Policy::Fifo => config.fifo_depth,
            };
            Mailbox {
                infeasible_in_a_row: 0,
                frames: VecDeque::with_capacity(depth),
                depth,
                budget_ns: sensor.budget_ns(),
                from: sensor.deadline_from,
            }
        };
        let estimate = || RunTimeEstimate::new(config.estimate_window, config.admission_quantile);
        let selector = |s: Sensor| {
            VariantSelector::new(
                sensors.get(s).variants,
                config.estimate_window,
                config.admission_quantile,
            )
        };
        let variants: Vec<VariantSelector> = sensors.all().map(selector).collect();
        let utilization = variants
            .iter()
            .find_map(|v| v.policy().map(|p| p.utilization))
            .unwrap_or(1.0);
        Scheduler {
            policy: config.policy,
            late: config.late_results,
            probe_after: config.admission_probe_after,
            mailboxes: sensors
                .all()
                .map(|s| mailbox(&sensors.get(s).config))
                .collect(),
            estimates: sensors.all().map(|_| estimate()).collect(),
            medians: sensors
                .all()
                .map(|_| RunTimeEstimate::new(config.estimate_window, 0.5))
                .collect(),
            variants,
            periods: vec![ArrivalPeriod::default(); sensors.len()],
            capacity: config.workers as f64 * utilization,
            counters: vec![SensorCounters::default(); sensors.len()],
            next_seq: 0,
        }
    }

    /// How many sensors it serves.
    pub fn sensors(&self) -> usize {
        self.mailboxes.len()
    }

    pub fn counters(&self, sensor: Sensor) -> &SensorCounters {
        &self.counters[sensor.index()]
    }

    /// The admission estimate of a sensor's stage run time (ns).
    pub fn estimate_ns(&self, sensor: Sensor) -> i64 {
        self.estimates[sensor.index()].estimate_ns()
    }

    /// Frames waiting, all sensors.
    pub fn pending(&self) -> usize {
        self.mailboxes.iter().map(|m| m.frames.len()).sum()
    }

    /// The deadline a frame of `sensor` stamped `stamp` arriving at `now` gets.
    pub fn deadline(&self, sensor: Sensor, stamp: i64, now: i64) -> i64 {
        let mailbox = &self.mailboxes[sensor.index()];
        let start = match mailbox.from {
            DeadlineFrom::Stamp => stamp,
            DeadlineFrom::Arrival => now,
        };
        start.saturating_add(mailbox.budget_ns)
    }

    /// A frame arrives at `now`. Frames dropped on the way (the frame itself
    /// when stale, or the one it supersedes) go to `dropped`, so the caller
    /// can recycle their buffers and report them.
    pub fn offer(
        &mut self,
        sensor: Sensor,
        stamp: i64,
        now: i64,
        job: J,
        dropped: &mut impl FnMut(Frame<J>, Drop),
    ) -> Timing {
        let timing = Timing {
            seq: self.next_seq,
            index: self.counters[sensor.index()].received,
            sensor,
            stamp,
            arrival: now,
            deadline: self.deadline(sensor, stamp, now),
            variant: 0,
            budget_ns: 0,
        };
        self.next_seq += 1;
        let i = sensor.index();
        self.periods[i].arrived(now);
        self.counters[i].received += 1;
        let frame = Frame { timing, job };
        if self.policy == Policy::Edf && now > timing.deadline {
            self.counters[i].count(Drop::Stale);
            dropped(frame, Drop::Stale);
            return timing;
        }
        let mailbox = &mut self.mailboxes[i];
        if mailbox.frames.len() == mailbox.depth
            && let Some(old) = mailbox.frames.pop_front()
        {
            self.counters[i].count(Drop::Superseded);
            dropped(old, Drop::Superseded);
        }
        mailbox.frames.push_back(frame);
        timing
    }

    /// A frame of `sensor` arrived merged into another sensor's frame (a
    /// lidar's scan in a merged scan): counted as received; its fate is
    /// the frame's.
    pub fn joined(&mut self, sensor: Sensor) {
        self.counters[sensor.index()].received += 1;
    }

    /// The frame to start now, if any: earliest deadline first (ties: the
    /// earlier arrival), or arrival order for the fifo baseline. Stale and
    /// infeasible frames met on the way go to `dropped`.
    pub fn next(&mut self, now: i64, dropped: &mut impl FnMut(Frame<J>, Drop)) -> Option<Frame<J>> {
        loop {
            let i = self.pick()?;
            let mut frame = self.mailboxes[i].frames.pop_front()?;
            if self.policy == Policy::Edf {
                let admission = self.admission_ns(i);
                let mailbox = &mut self.mailboxes[i];
                let verdict = if now > frame.timing.deadline {
                    Some(Drop::Stale)
                } else if now.saturating_add(admission) > frame.timing.deadline
                    && mailbox.infeasible_in_a_row < self.probe_after
                {
                    mailbox.infeasible_in_a_row += 1;
                    Some(Drop::Infeasible)
                } else {
                    mailbox.infeasible_in_a_row = 0;
                    None
                };
                if let Some(drop) = verdict {
                    self.counters[i].count(drop);
                    dropped(frame, drop);
                    continue;
                }
            }
            let budget = self.budget(i, now, frame.timing.deadline);
            let variant = self.variants[i].choose(budget);
            frame.timing.budget_ns = budget.slack_ns.min(budget.share_ns);
            frame.timing.variant = variant as u8;
            let counters = &mut self.counters[i];
            counters.started += 1;
            counters.variant_started[variant] += 1;
            counters.variant = variant as u8;
            return Some(frame);
        }
    }

    /// The run time admission checks: the stage's recent runs, or with
    /// variants the cheapest variant's (the frame can always run that).
    fn admission_ns(&self, i: usize) -> i64 {
        if self.variants[i].is_adaptive() {
            self.variants[i].cheapest_ns().unwrap_or(0)
        } else {
            self.estimates[i].estimate_ns()
        }
    }

    /// What a frame of sensor `i` starting at `now` may spend: its slack
    /// to `deadline`, and the lanes' time one period of the sensor leaves
    /// after the other sensors' load (their median run times over their
    /// arrival periods), so that a costlier variant does not starve the
    /// frames queued behind it. Before the sensor has a period, the slack.
    pub fn budget(&self, i: usize, now: i64, deadline: i64) -> Budget {
        let slack_ns = deadline.saturating_sub(now);
        let Some(period) = self.periods[i].period_ns else {
            return Budget::flat(slack_ns);
        };
        let others: f64 = (0..self.medians.len())
            .filter(|&j| j != i)
            .filter_map(|j| {
                let p = self.periods[j].period_ns?;
                Some(self.medians[j].estimate_ns() as f64 / p)
            })
            .sum();
        let share_ns = ((self.capacity - others).max(0.0) * period) as i64;
        Budget { slack_ns, share_ns }
    }

    fn pick(&self) -> Option<usize> {
        let key = |m: &Mailbox<J>| {
            m.frames.front().map(|f| match self.policy {
                Policy::Edf => (f.timing.deadline, f.timing.seq),
                Policy::Fifo => (f.timing.arrival, f.timing.seq),
            })
        };
        (0..self.mailboxes.len())
            .filter_map(|i| key(&self.mailboxes[i]).map(|k| (k, i)))
            .min()
            .map(|(_, i)| i)
    }

    /// A started frame's stage finished at `now` after running `run_ns`
    /// (`ok`: false when the stage failed on it).
    pub fn finished(&mut self, timing: &Timing, run_ns: i64, now: i64, ok: bool) -> Verdict {
        let i = timing.sensor.index();
        self.estimates[i].record(run_ns);
        self.medians[i].record(run_ns);
        self.variants[i].record(timing.variant as usize, run_ns);
        let counters = &mut self.counters[i];
        if !ok {
            counters.errors += 1;
            counters.consecutive_misses = counters.consecutive_misses.saturating_add(1);
            return Verdict::DropLate;
        }
        if now <= timing.deadline {
            counters.published += 1;
            counters.consecutive_misses = 0;
            return Verdict::Publish;
        }
        counters.count(Drop::Late);
        match (self.policy, self.late) {
            (Policy::Fifo, _) | (Policy::Edf, LatePolicy::PublishFlagged) => Verdict::PublishLate,
            (Policy::Edf, LatePolicy::Drop) => Verdict::DropLate,
        }
    }

    /// Time jumped backwards (a bag loop, a sim-time reset): a new run.
    /// Every queued frame belongs to the old one and goes to `dropped` as
    /// superseded; misses in a row start from zero. Run-time estimates are
    /// kept (the stages did not change).
    pub fn restart(&mut self, dropped: &mut impl FnMut(Frame<J>, Drop)) {
        for (mailbox, counters) in self.mailboxes.iter_mut().zip(&mut self.counters) {
            while let Some(frame) = mailbox.frames.pop_front() {
                counters.count(Drop::Superseded);
                dropped(frame, Drop::Superseded);
            }
            mailbox.infeasible_in_a_row = 0;
            counters.consecutive_misses = 0;
        }
    }

    /// Empties the mailboxes (shutdown, or time jumped backwards).
    pub fn drain(&mut self, mut each: impl FnMut(Frame<J>)) {
        for mailbox in &mut self.mailboxes {
            while let Some(frame) = mailbox.frames.pop_front() {
                each(frame);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: i64 = 1_000_000;

    fn config() -> SchedulerConfig {
        let mut config = SchedulerConfig::default();
        config.camera.budget_ms = 100.0;
        config.lidar.budget_ms = 50.0;
        config
    }

    fn scheduler<J>(config: &SchedulerConfig) -> Scheduler<J> {
        let sensors = SensorSet::default_rig(config, &Default::default());
        Scheduler::new(config, &sensors)
    }

    fn ignore() -> impl FnMut(Frame<u32>, Drop) {
        |_, _| {}
    }

    /// The timing of a frame of `sensor` stamped and arrived at 0.
    fn timing(sensor: Sensor, deadline: i64) -> Timing {
        Timing {
            seq: 0,
            index: 0,
            sensor,
            stamp: 0,
            arrival: 0,
            deadline,
            variant: 0,
            budget_ns: 0,
        }
    }

    #[test]
    fn a_newer_frame_supersedes_an_unstarted_one() {
        let mut s = scheduler(&config());
        let mut drops = Vec::new();
        let mut dropped = |f: Frame<u32>, d| drops.push((f.job, d));
        s.offer(Sensor::CAMERA, 0, 0, 1, &mut dropped);
        s.offer(Sensor::CAMERA, 10 * MS, 10 * MS, 2, &mut dropped);
        assert_eq!(s.next(11 * MS, &mut dropped).unwrap().job, 2);
        assert!(s.next(11 * MS, &mut dropped).is_none());
        assert_eq!(drops, vec![(1, Drop::Superseded)]);
        assert_eq!(s.counters(Sensor::CAMERA).superseded, 1);
        assert_eq!(s.counters(Sensor::CAMERA).consecutive_misses, 0);
    }

    #[test]
    fn deeper_mailboxes_keep_the_newest_frames_in_order() {
        let mut c = config();
        c.camera.mailbox_depth = 2;
        let mut s = scheduler(&c);
        let mut ignore = ignore();
        for k in 0..4 {
            s.offer(Sensor::CAMERA, k * MS, k * MS, k as u32, &mut ignore);
        }
        assert_eq!(s.next(4 * MS, &mut ignore).unwrap().job, 2);
        assert_eq!(s.next(4 * MS, &mut ignore).unwrap().job, 3);
        assert_eq!(s.counters(Sensor::CAMERA).superseded, 2);
    }

    #[test]
    fn a_frame_past_its_deadline_is_never_started() {
        let mut s = scheduler(&config());
        let mut drops = Vec::new();
        let mut dropped = |f: Frame<u32>, d| drops.push((f.job, d));
        // Arrives 120 ms after its stamp: camera budget is 100 ms.
        s.offer(Sensor::CAMERA, 0, 120 * MS, 1, &mut dropped);
        // Arrives in time but waits past its deadline.
        s.offer(Sensor::LIDAR, 100 * MS, 120 * MS, 2, &mut dropped);
        assert!(s.next(151 * MS, &mut dropped).is_none());
        assert_eq!(drops, vec![(1, Drop::Stale), (2, Drop::Stale)]);
    }

    #[test]
    fn earliest_deadline_goes_first() {
        let mut s = scheduler(&config());
        let mut ignore = ignore();
        // Camera stamped at 0 (deadline 100 ms), lidar at 20 (deadline 70 ms).
        s.offer(Sensor::CAMERA, 0, 25 * MS, 1, &mut ignore);
        s.offer(Sensor::LIDAR, 20 * MS, 25 * MS, 2, &mut ignore);
        assert_eq!(s.next(25 * MS, &mut ignore).unwrap().job, 2);
        assert_eq!(s.next(25 * MS, &mut ignore).unwrap().job, 1);
    }

    #[test]
    fn the_fifo_baseline_serves_arrival_order_and_enforces_nothing() {
        let mut c = config();
        c.policy = Policy::Fifo;
        c.fifo_depth = 3;
        let mut s = scheduler(&c);
        let mut ignore = ignore();
        s.offer(Sensor::CAMERA, 0, 500 * MS, 1, &mut ignore); // long past deadline
        s.offer(Sensor::LIDAR, 490 * MS, 500 * MS, 2, &mut ignore);
        for k in 3..6 {
            s.offer(Sensor::CAMERA, 0, 500 * MS, k, &mut ignore);
        }
        let order: Vec<u32> = std::iter::from_fn(|| s.next(600 * MS, &mut ignore))
            .map(|f| f.job)
            .collect();
        assert_eq!(order, vec![2, 3, 4, 5]);
        let timing = timing(Sensor::CAMERA, 100 * MS);
        assert_eq!(
            s.finished(&timing, MS, 900 * MS, true),
            Verdict::PublishLate
        );
    }

    #[test]
    fn admission_drops_what_cannot_finish_in_time() {
        let mut s = scheduler(&config());
        let timing = |deadline| timing(Sensor::CAMERA, deadline);
        // The camera stage has been taking 60 ms.
        for _ in 0..10 {
            s.finished(&timing(i64::MAX), 60 * MS, 0, true);
        }
        let mut drops = Vec::new();
        let mut dropped = |f: Frame<u32>, d| drops.push((f.job, d));
        // 100 ms budget; at 50 ms only 50 ms are left: infeasible.
        s.offer(Sensor::CAMERA, 0, 50 * MS, 1, &mut dropped);
        assert!(s.next(50 * MS, &mut dropped).is_none());
        // At 30 ms, 70 ms left: started.
        s.offer(Sensor::CAMERA, 0, 30 * MS, 2, &mut dropped);
        assert_eq!(s.next(30 * MS, &mut dropped).unwrap().job, 2);
        assert_eq!(drops, vec![(1, Drop::Infeasible)]);
    }

    #[test]
    fn after_probe_after_refusals_a_frame_is_started_to_refresh_the_estimate() {
        let mut c = config();
        c.admission_probe_after = 2;
        let mut s = scheduler(&c);
        let timing = timing(Sensor::CAMERA, i64::MAX);
        // One 500 ms stall: the estimate says the stage takes 500 ms.
        s.finished(&timing, 500 * MS, 0, true);
        let mut ignore = ignore();
        let mut started = Vec::new();
        for k in 0..6 {
            s.offer(Sensor::CAMERA, k * MS, k * MS, k as u32, &mut ignore);
            if let Some(f) = s.next(k * MS, &mut ignore) {
                started.push(f.job);
            }
        }
        assert_eq!(started, vec![2, 5]);
        assert_eq!(s.counters(Sensor::CAMERA).infeasible, 4);
    }

    #[test]
    fn late_results_follow_the_policy_and_misses_count_in_a_row() {
        let timing = timing(Sensor::LIDAR, 50 * MS);
        let mut s: Scheduler<()> = scheduler(&config());
        assert_eq!(s.finished(&timing, MS, 51 * MS, true), Verdict::DropLate);
        assert_eq!(s.finished(&timing, MS, 10 * MS, false), Verdict::DropLate);
        assert_eq!(s.counters(Sensor::LIDAR).consecutive_misses, 2);
        assert_eq!(s.counters(Sensor::LIDAR).misses(), 2);
        assert_eq!(s.finished(&timing, MS, 50 * MS, true), Verdict::Publish);
        assert_eq!(s.counters(Sensor::LIDAR).consecutive_misses, 0);
        let mut c = config();
        c.late_results = LatePolicy::PublishFlagged;
        let mut s: Scheduler<()> = scheduler(&c);
        assert_eq!(s.finished(&timing, MS, 51 * MS, true), Verdict::PublishLate);
        assert_eq!(s.counters(Sensor::LIDAR).late, 1);
    }

    #[test]
    fn arrival_based_deadlines_count_from_arrival() {
        let mut c = config();
        c.lidar.deadline_from = DeadlineFrom::Arrival;
        let s: Scheduler<()> = scheduler(&c);
        assert_eq!(s.deadline(Sensor::LIDAR, 0, 70 * MS), 120 * MS);
        assert_eq!(s.deadline(Sensor::CAMERA, 0, 70 * MS), 100 * MS);
    }
}
