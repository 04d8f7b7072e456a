//! Scheduler and watchdog parameters: per-sensor deadline budgets and queue
//! policies, lanes, late-result policy, watchdog periods and thresholds.
//! Queue policy and timeouts are configuration, never buried in code.

use crate::validate::{ConfigError, Section};
use serde::{Deserialize, Serialize};

/// Which scheduler decides what runs.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    Serialize,
    Deserialize,
    clap::ValueEnum,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// Earliest deadline first, latest-only mailboxes, admission control.
    #[default]
    Edf,
    /// The baseline: a bounded FIFO queue per input (depth `fifo_depth`,
    /// oldest dropped when full, like a default ROS 2 subscription), served
    /// in arrival order, no deadlines enforced.
    Fifo,
}

/// What happens to a result that is ready after its frame's deadline.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum LatePolicy {
    /// Not published (counted as `late`).
    #[default]
    Drop,
    /// Published with its `late` flag set (and counted).
    PublishFlagged,
}

/// Where a frame's deadline is counted from.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineFrom {
    /// The header stamp (when the sensor measured): end-to-end deadlines.
    #[default]
    Stamp,
    /// When Lookout received the frame (for sensors with unreliable stamps).
    Arrival,
}

/// Per sensor: deadline and queue policy. A sensor section given in a file
/// must state its budget; the other keys default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SensorConfig {
    /// Deadline = start + budget (milliseconds).
    pub budget_ms: f64,
    #[serde(default)]
    pub deadline_from: DeadlineFrom,
    /// Frames waiting at most; a newer frame replaces the oldest unstarted
    /// one when full (`superseded`). 1 = latest-only.
    #[serde(default = "latest_only")]
    pub mailbox_depth: usize,
    /// Silence after the first frame longer than this is reported.
    #[serde(default = "default_silence_ms")]
    pub silence_timeout_ms: f64,
}

fn latest_only() -> usize {
    1
}

fn default_silence_ms() -> f64 {
    500.0
}

impl SensorConfig {
    fn camera() -> Self {
        SensorConfig {
            budget_ms: 250.0,
            deadline_from: DeadlineFrom::Stamp,
            mailbox_depth: latest_only(),
            silence_timeout_ms: default_silence_ms(),
        }
    }

    fn lidar() -> Self {
        SensorConfig {
            budget_ms: 200.0,
            deadline_from: DeadlineFrom::Stamp,
            mailbox_depth: latest_only(),
            silence_timeout_ms: default_silence_ms(),
        }
    }

    pub fn budget_ns(&self) -> i64 {
        (self.budget_ms * 1e6) as i64
    }

    /// Errors name the field alone (`budget_ms`): the caller says where
    /// the section sits ([`ConfigError::within`]).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let field = |name: &str, problem: String| ConfigError::new(name, problem);
        for (name, value) in [
            ("budget_ms", self.budget_ms),
            ("silence_timeout_ms", self.silence_timeout_ms),
        ] {
            if !(value.is_finite() && value > 0.0) {
                return Err(field(
                    name,
                    format!("must be positive and finite, got {value}"),
                ));
            }
        }
        if !(1..=1000).contains(&self.mailbox_depth) {
            return Err(field(
                "mailbox_depth",
                format!("must be 1..=1000, not {}", self.mailbox_depth),
            ));
        }
        Ok(())
    }
}

/// The watchdog: heartbeats, stalls, silence, misses, health hysteresis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct WatchdogConfig {
    /// How often the watchdog looks (milliseconds).
    pub period_ms: f64,
    /// A status record is emitted this often, and on every health change.
    pub status_period_ms: f64,
    /// A stage running past its frame's deadline for this long is ERROR
    /// (WARN before).
    pub stall_error_ms: f64,
    /// This many deadline misses in a row is ERROR (one is WARN).
    pub error_after_misses: u32,
    /// Health steps down one level (ERROR -> WARN -> OK) only after its
    /// causes have been clear for this long.
    pub recover_after_ms: f64,
}

impl Default for WatchdogConfig {
    fn default() -> Self {
        WatchdogConfig {
            period_ms: 10.0,
            status_period_ms: 1000.0,
            stall_error_ms: 250.0,
            error_after_misses: 5,
            recover_after_ms: 500.0,
        }
    }
}

/// The whole scheduling section of the config file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SchedulerConfig {
    pub policy: Policy,
    /// Worker lanes (threads); every lane can run every stage.
    pub workers: usize,
    pub late_results: LatePolicy,
    /// Admission: a frame is started only if `now + estimate <= deadline`,
    /// the estimate being this quantile of the stage's recent run times.
    pub admission_quantile: f64,
    /// Run times remembered per stage for the estimate.
    pub estimate_window: usize,
    /// After this many admission refusals in a row, a sensor's next frame
    /// is started anyway, to refresh an estimate inflated by a stall.
    pub admission_probe_after: u32,
    /// Queue depth per input with `policy: fifo`.
    pub fifo_depth: usize,
    pub camera: SensorConfig,
    pub lidar: SensorConfig,
    pub watchdog: WatchdogConfig,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            policy: Policy::Edf,
            workers: 2,
            late_results: LatePolicy::Drop,
            admission_quantile: 0.95,
            estimate_window: 64,
            admission_probe_after: 3,
            fifo_depth: 10,
            camera: SensorConfig::camera(),
            lidar: SensorConfig::lidar(),
            watchdog: WatchdogConfig::default(),
        }
    }
}

const SCHEDULER: Section = Section("scheduler");

fn err(field: &str, problem: String) -> ConfigError {
    SCHEDULER.err(field, problem)
}

fn positive(field: &str, value: f64) -> Result<(), ConfigError> {
    SCHEDULER.positive(field, value)
}

impl SchedulerConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=64).contains(&self.workers) {
            return Err(err(
                "workers",
                format!("must be 1..=64, not {}", self.workers),
            ));
        }
        if !(self.admission_quantile > 0.0 && self.admission_quantile <= 1.0) {
            return Err(err(
                "admission_quantile",
                format!("must be in (0, 1], not {}", self.admission_quantile),
            ));
        }
        if !(1..=4096).contains(&self.estimate_window) {
            return Err(err(
                "estimate_window",
                format!("must be 1..=4096, not {}", self.estimate_window),
            ));
        }
        if !(1..=1000).contains(&self.fifo_depth) {
            return Err(err(
                "fifo_depth",
                format!("must be 1..=1000, not {}", self.fifo_depth),
            ));
        }
        for (name, sensor) in [("camera", &self.camera), ("lidar", &self.lidar)] {
            sensor
                .validate()
                .map_err(|e| e.within(&format!("scheduler.{name}")))?;
        }
        let w = &self.watchdog;
        positive("watchdog.period_ms", w.period_ms)?;
        positive("watchdog.status_period_ms", w.status_period_ms)?;
        positive("watchdog.stall_error_ms", w.stall_error_ms)?;
        positive("watchdog.recover_after_ms", w.recover_after_ms)?;
        if w.error_after_misses == 0 {
            return Err(err(
                "watchdog.error_after_misses",
                "must be at least 1".to_owned(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        SchedulerConfig::default().validate().unwrap();
    }

    #[test]
    fn invalid_values_name_their_parameter() {
        let mut config = SchedulerConfig::default();
        config.camera.budget_ms = f64::NAN;
        let e = config.validate().unwrap_err();
        assert_eq!(
            e.to_string().split(':').next(),
            Some("scheduler.camera.budget_ms")
        );
        let config = SchedulerConfig {
            workers: 0,
            ..SchedulerConfig::default()
        };
        assert!(
            config
                .validate()
                .unwrap_err()
                .to_string()
                .starts_with("scheduler.workers")
        );
        let mut config = SchedulerConfig::default();
        config.lidar.mailbox_depth = 0;
        let e = config.validate().unwrap_err().to_string();
        assert!(e.starts_with("scheduler.lidar.mailbox_depth"), "{e}");
        let mut config = SchedulerConfig::default();
        config.watchdog.period_ms = 0.0;
        let e = config.validate().unwrap_err().to_string();
        assert!(e.starts_with("scheduler.watchdog.period_ms"), "{e}");
    }
}
