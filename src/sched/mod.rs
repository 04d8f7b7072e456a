//! Deadlines: every frame gets one from its header stamp (or arrival), a
//! scheduler decides what runs and drops what can no longer make it, and a
//! watchdog says so the moment deadlines are missed or a stage stalls.
//!
//! - [`config`]: budgets, queue policies, lanes, watchdog thresholds.
//! - [`core`]: the decisions (mailboxes, EDF, admission, late policy) as a
//!   pure state machine driven with explicit times.
//! - [`estimate`]: run-time quantiles for admission.
//! - [`watchdog`]: heartbeats and the health state machine.
//! - [`sensors`]: the sensors served, by index: names, budgets, faults.
//! - [`variant`]: the per-frame choice among a stage's variants (a model
//!   ladder) by the frame's budget, with hysteresis.
//! - [`stats`]: latency histograms and the status record.
//! - [`runtime`]: the lanes and watchdog threads and the shared lock that
//!   move frames; lockstep and realtime replay drive it.

pub mod config;
pub mod core;
pub mod estimate;
pub mod faults;
pub mod runtime;
pub mod sensors;
pub mod stats;
pub mod variant;
pub mod watchdog;

pub use crate::stage::StageError;
pub use config::{DeadlineFrom, LatePolicy, Policy, SchedulerConfig, SensorConfig, WatchdogConfig};
pub use core::{Drop, Frame, Scheduler, Sensor, SensorCounters, Timing, Verdict};
pub use sensors::{ScheduledSensor, SensorSet};
pub use variant::{AdaptivePolicy, Variants};
pub use watchdog::{Cause, Health, Heartbeats, Transition, Watchdog};
