//! Latency accounting and the status record the watchdog emits: per-stage
//! run time and end-to-end latency percentiles, the scheduler's counters and
//! the health. Histograms have fixed bounds, so recording never allocates.

use super::core::{Sensor, SensorCounters};
use super::sensors::SensorSet;
use super::watchdog::{Cause, Health};
use crate::msg::{OwnedHeader, PipelineStatus, Time};
use crate::stage::StageError;
use hdrhistogram::Histogram;
use serde::Serialize;
use serde::ser::SerializeMap;

/// Percentiles of one latency, milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct LatencySummary {
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl LatencySummary {
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return LatencySummary::default();
        }
        let q = |q: f64| h.value_at_quantile(q) as f64 / 1e6;
        LatencySummary {
            count: h.len(),
            p50_ms: q(0.5),
            p90_ms: q(0.9),
            p99_ms: q(0.99),
            p999_ms: q(0.999),
            max_ms: h.max() as f64 / 1e6,
        }
    }
}

/// A latency histogram (ns) as the runtime keeps them.
pub fn histogram() -> Histogram<u64> {
    // 1 ns .. 10 min at 3 significant figures: fixed size, no resizing.
    Histogram::new_with_bounds(1, 600_000_000_000, 3).expect("valid histogram bounds")
}

/// Run-time and end-to-end histograms per sensor.
#[derive(Debug, Clone)]
pub struct LatencyStats {
    /// Per sensor, by index.
    run_ns: Vec<Histogram<u64>>,
    end_to_end_ns: Vec<Histogram<u64>>,
}

impl LatencyStats {
    /// Histograms for `sensors` sensors, allocated now.
    pub fn new(sensors: usize) -> Self {
        LatencyStats {
            run_ns: (0..sensors).map(|_| histogram()).collect(),
            end_to_end_ns: (0..sensors).map(|_| histogram()).collect(),
        }
    }

    pub fn record_run(&mut self, sensor: Sensor, run_ns: i64) {
        self.run_ns[sensor.index()].saturating_record(run_ns.max(1) as u64);
    }

    /// Of a published result: ready time minus header stamp.
    pub fn record_end_to_end(&mut self, sensor: Sensor, latency_ns: i64) {
        self.end_to_end_ns[sensor.index()].saturating_record(latency_ns.max(1) as u64);
    }

    pub fn run(&self, sensor: Sensor) -> LatencySummary {
        LatencySummary::of(&self.run_ns[sensor.index()])
    }

    pub fn end_to_end(&self, sensor: Sensor) -> LatencySummary {
        LatencySummary::of(&self.end_to_end_ns[sensor.index()])
    }
}

/// How many reasons one sensor's counters keep apart: every
/// [`crate::cdr::RejectReason`] and the stage's own failures fit, with room.
const REJECT_SLOTS: usize = 16;

/// Frames a stage failed on, counted by reason key (`truncated`,
/// `unsupported_encoding`, `stage_error`...), plus the latest message.
/// Fixed slots: counting never allocates; only the latest message's buffer
/// is reused.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Rejects {
    counts: [(&'static str, u64); REJECT_SLOTS],
    /// The latest failure's message, empty before the first.
    pub last: String,
}

impl Rejects {
    pub fn record(&mut self, error: &StageError) {
        let slot = self
            .counts
            .iter()
            .position(|(key, _)| *key == error.reason)
            .or_else(|| self.counts.iter().position(|(key, _)| key.is_empty()))
            // Past the slots (never with the keys the crate defines), the
            // last slot counts the rest.
            .unwrap_or(REJECT_SLOTS - 1);
        let (key, count) = &mut self.counts[slot];
        if key.is_empty() {
            *key = error.reason;
        }
        *count += 1;
        self.last.clear();
        self.last.push_str(&error.message);
    }

    /// `(reason, count)` for every reason seen, in first-seen order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        self.counts
            .iter()
            .copied()
            .take_while(|(key, _)| !key.is_empty())
    }

    pub fn total(&self) -> u64 {
        self.iter().map(|(_, n)| n).sum()
    }
}

impl Serialize for Rejects {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        for (key, count) in self.iter() {
            map.serialize_entry(key, &count)?;
        }
        map.end()
    }
}

/// One sensor's part of a status record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SensorStatus {
    pub sensor: String,
    /// The stage's run time.
    pub stage: LatencySummary,
    /// Header stamp to result ready, published results only.
    pub end_to_end: LatencySummary,
    #[serde(flatten)]
    pub counters: SensorCounters,
    /// `counters.errors` by reason, and the latest message.
    pub rejects: Rejects,
}

/// What the watchdog emits: at a fixed rate and on every health change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusRecord {
    /// Pipeline clock, nanoseconds.
    pub at_ns: i64,
    #[serde(serialize_with = "health_name")]
    pub health: Health,
    /// Why (the cause of the current health).
    pub reason: String,
    /// True on ERROR: outputs may be incomplete, a planner should react.
    pub degraded: bool,
    pub sensors: Vec<SensorStatus>,
}

fn health_name<S: serde::Serializer>(h: &Health, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(h.as_str())
}

impl StatusRecord {
    pub fn new(
        at_ns: i64,
        health: Health,
        cause: Cause,
        sensors: &SensorSet,
        stats: &LatencyStats,
        counters: &[SensorCounters],
        rejects: &[Rejects],
    ) -> Self {
        StatusRecord {
            at_ns,
            health,
            reason: cause.describe(sensors),
            degraded: health == Health::Error,
            sensors: sensors
                .all()
                .map(|sensor| SensorStatus {
                    sensor: sensors.name(sensor).to_owned(),
                    stage: stats.run(sensor),
                    end_to_end: stats.end_to_end(sensor),
                    counters: counters[sensor.index()],
                    rejects: rejects[sensor.index()].clone(),
                })
                .collect(),
        }
    }
}

impl LatencySummary {
    /// `[p50, p90, p99, p99.9, max]`, as `SensorStatus` carries them.
    pub fn as_array(&self) -> [f64; 5] {
        [
            self.p50_ms,
            self.p90_ms,
            self.p99_ms,
            self.p999_ms,
            self.max_ms,
        ]
    }
}

impl StatusRecord {
    /// As a `lookout_msgs/PipelineStatus` stamped `stamp`.
    pub fn to_msg(&self, stamp: Time) -> PipelineStatus {
        PipelineStatus {
            header: OwnedHeader {
                stamp,
                frame_id: String::new(),
            },
            health: self.health as u8,
            reason: self.reason.clone(),
            degraded: self.degraded,
            sensors: self
                .sensors
                .iter()
                .map(|s| {
                    let c = &s.counters;
                    crate::msg::SensorStatus {
                        sensor: s.sensor.clone(),
                        stage_ms: s.stage.as_array(),
                        end_to_end_ms: s.end_to_end.as_array(),
                        received: c.received,
                        started: c.started,
                        published: c.published,
                        superseded: c.superseded,
                        stale: c.stale,
                        infeasible: c.infeasible,
                        late: c.late,
                        errors: c.errors,
                        consecutive_misses: c.consecutive_misses,
                        variant: c.variant,
                        variant_started: c.ran_variants().to_vec(),
                    }
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_count_by_reason_and_keep_the_latest_message() {
        let mut rejects = Rejects::default();
        let error = |reason, message: &str| StageError {
            reason,
            message: message.to_owned(),
        };
        rejects.record(&error("truncated", "Image.data: truncated"));
        rejects.record(&error("unsupported_encoding", "Image.encoding: bayer"));
        rejects.record(&error("truncated", "PointCloud2.data: truncated"));
        assert_eq!(
            rejects.iter().collect::<Vec<_>>(),
            [("truncated", 2), ("unsupported_encoding", 1)]
        );
        assert_eq!(rejects.total(), 3);
        assert_eq!(rejects.last, "PointCloud2.data: truncated");
        assert_eq!(
            serde_json::to_string(&rejects).unwrap(),
            r#"{"truncated":2,"unsupported_encoding":1}"#
        );
    }

    #[test]
    fn rejects_past_the_slots_are_still_counted() {
        let mut rejects = Rejects::default();
        let keys: Vec<&'static str> = (0..REJECT_SLOTS + 3)
            .map(|i| &*Box::leak(format!("reason{i}").into_boxed_str()))
            .collect();
        for key in &keys {
            rejects.record(&StageError {
                reason: key,
                message: String::new(),
            });
        }
        assert_eq!(rejects.total(), keys.len() as u64);
    }

    #[test]
    fn summaries_report_milliseconds() {
        let mut stats = LatencyStats::new(2);
        for ms in 1..=100 {
            stats.record_run(Sensor::LIDAR, ms * 1_000_000);
        }
        let s = stats.run(Sensor::LIDAR);
        assert_eq!(s.count, 100);
        assert!((s.p50_ms - 50.0).abs() < 0.1, "{s:?}");
        assert!((s.p99_ms - 99.0).abs() < 0.1, "{s:?}");
        assert!((s.max_ms - 100.0).abs() < 0.1, "{s:?}");
        assert_eq!(stats.run(Sensor::CAMERA), LatencySummary::default());
    }
}
