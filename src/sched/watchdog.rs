//! The watchdog's judgement: from heartbeats (what each lane is running and
//! until when it may, when each sensor last delivered, misses in a row) to a
//! health state OK / WARN / ERROR with hysteresis. Pure: every call is given
//! `now`, so the runtime runs it on its own thread every period on the
//! monotonic clock, and lockstep replay runs it at simulated instants.
//!
//! Raises at once; steps down one level only after the causes have stayed
//! below the current level for `recover_after`. Never blocks; heartbeats are
//! atomics written by lanes and the submitting thread, read here.

use super::config::{SchedulerConfig, WatchdogConfig};
use super::core::Sensor;
use super::sensors::SensorSet;
use std::sync::atomic::{AtomicI64, AtomicU8, AtomicU32, Ordering};

/// Pipeline health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Health {
    #[default]
    Ok = 0,
    Warn = 1,
    Error = 2,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Ok => "OK",
            Health::Warn => "WARN",
            Health::Error => "ERROR",
        }
    }

    fn lower(self) -> Health {
        match self {
            Health::Error => Health::Warn,
            _ => Health::Ok,
        }
    }
}

/// What the watchdog saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    Clear,
    /// A lane is still running a frame whose deadline passed `overrun_ns` ago.
    Stall {
        sensor: Sensor,
        overrun_ns: i64,
    },
    /// No frame from the sensor for `silent_ns` (after a first one).
    Silence {
        sensor: Sensor,
        silent_ns: i64,
    },
    /// Deadline misses in a row.
    Misses {
        sensor: Sensor,
        count: u32,
    },
}

impl Cause {
    /// In words, the sensor named as `sensors` names it.
    pub fn describe(&self, sensors: &SensorSet) -> String {
        match *self {
            Cause::Clear => "all deadlines met".to_owned(),
            Cause::Stall { sensor, overrun_ns } => format!(
                "{} stage stalled: {:.0} ms past its frame's deadline",
                sensors.name(sensor),
                overrun_ns as f64 / 1e6
            ),
            Cause::Silence { sensor, silent_ns } => format!(
                "{} silent for {:.0} ms",
                sensors.name(sensor),
                silent_ns as f64 / 1e6
            ),
            Cause::Misses { sensor, count } => {
                format!("{} missed {count} deadlines in a row", sensors.name(sensor))
            }
        }
    }
}

/// One lane's heartbeat: the deadline of the frame it runs (`IDLE` when
/// none) and that frame's sensor.
#[derive(Debug)]
struct LaneBeat {
    deadline: AtomicI64,
    sensor: AtomicU8,
}

const IDLE: i64 = i64::MAX;
const NEVER: i64 = i64::MIN;

/// Shared, lock-free liveness facts.
#[derive(Debug)]
pub struct Heartbeats {
    lanes: Vec<LaneBeat>,
    /// Per sensor, by index.
    last_arrival: Vec<AtomicI64>,
    consecutive_misses: Vec<AtomicU32>,
}

impl Heartbeats {
    pub fn new(lanes: usize, sensors: usize) -> Self {
        Heartbeats {
            lanes: (0..lanes)
                .map(|_| LaneBeat {
                    deadline: AtomicI64::new(IDLE),
                    sensor: AtomicU8::new(0),
                })
                .collect(),
            last_arrival: (0..sensors).map(|_| AtomicI64::new(NEVER)).collect(),
            consecutive_misses: (0..sensors).map(|_| AtomicU32::new(0)).collect(),
        }
    }

    /// A lane starts a frame that must be done by `deadline`.
    pub fn lane_started(&self, lane: usize, sensor: Sensor, deadline: i64) {
        self.lanes[lane]
            .sensor
            .store(sensor.index() as u8, Ordering::Relaxed);
        self.lanes[lane].deadline.store(deadline, Ordering::Release);
    }

    pub fn lane_idle(&self, lane: usize) {
        self.lanes[lane].deadline.store(IDLE, Ordering::Release);
    }

    pub fn arrived(&self, sensor: Sensor, now: i64) {
        self.last_arrival[sensor.index()].store(now, Ordering::Release);
    }

    pub fn set_misses(&self, sensor: Sensor, in_a_row: u32) {
        self.consecutive_misses[sensor.index()].store(in_a_row, Ordering::Release);
    }

    /// Forget arrivals and misses (time jumped backwards: a new run).
    pub fn reset(&self) {
        for (arrival, misses) in self.last_arrival.iter().zip(&self.consecutive_misses) {
            arrival.store(NEVER, Ordering::Release);
            misses.store(0, Ordering::Release);
        }
    }
}

/// A health change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub at: i64,
    pub from: Health,
    pub to: Health,
    pub cause: Cause,
}

pub struct Watchdog {
    config: WatchdogConfig,
    /// Per sensor, by index.
    silence_ns: Vec<i64>,
    health: Health,
    cause: Cause,
    /// Since when the causes have been below the current level.
    calm_since: Option<i64>,
}

fn ms(v: f64) -> i64 {
    (v * 1e6) as i64
}

impl Watchdog {
    pub fn new(config: &SchedulerConfig, sensors: &SensorSet) -> Self {
        Watchdog {
            config: config.watchdog.clone(),
            silence_ns: sensors
                .all()
                .map(|s| ms(sensors.get(s).config.silence_timeout_ms))
                .collect(),
            health: Health::Ok,
            cause: Cause::Clear,
            calm_since: None,
        }
    }

    pub fn health(&self) -> Health {
        self.health
    }

    /// The cause of the current health (the last one that raised it).
    pub fn cause(&self) -> Cause {
        self.cause
    }

    pub fn period_ns(&self) -> i64 {
        ms(self.config.period_ms)
    }

    pub fn status_period_ns(&self) -> i64 {
        ms(self.config.status_period_ms)
    }

    /// The worst thing the heartbeats show at `now`.
    pub fn assess(&self, now: i64, beats: &Heartbeats) -> (Health, Cause) {
        let mut worst = (Health::Ok, Cause::Clear);
        let mut consider = |level: Health, cause: Cause| {
            if level > worst.0 {
                worst = (level, cause);
            }
        };
        for lane in &beats.lanes {
            let deadline = lane.deadline.load(Ordering::Acquire);
            if deadline != IDLE && now > deadline {
                let overrun_ns = now - deadline;
                let index = lane.sensor.load(Ordering::Relaxed) as usize;
                let sensor = Sensor::new(index).unwrap_or(Sensor::CAMERA);
                let level = if overrun_ns >= ms(self.config.stall_error_ms) {
                    Health::Error
                } else {
                    Health::Warn
                };
                consider(level, Cause::Stall { sensor, overrun_ns });
            }
        }
        for (i, sensor) in Sensor::all(self.silence_ns.len()).enumerate() {
            let misses = beats.consecutive_misses[i].load(Ordering::Acquire);
            if misses >= self.config.error_after_misses {
                consider(
                    Health::Error,
                    Cause::Misses {
                        sensor,
                        count: misses,
                    },
                );
            } else if misses > 0 {
                consider(
                    Health::Warn,
                    Cause::Misses {
                        sensor,
                        count: misses,
                    },
                );
            }
            let last = beats.last_arrival[i].load(Ordering::Acquire);
            if last != NEVER && now - last > self.silence_ns[i] {
                consider(
                    Health::Warn,
                    Cause::Silence {
                        sensor,
                        silent_ns: now - last,
                    },
                );
            }
        }
        worst
    }

    /// Time jumped backwards: a new run starts healthy (what the old run
    /// did says nothing about it, and its times would hold recovery off).
    /// The change, when health was not OK.
    pub fn restart(&mut self, now: i64) -> Option<Transition> {
        let from = self.health;
        self.health = Health::Ok;
        self.cause = Cause::Clear;
        self.calm_since = None;
        (from != Health::Ok).then_some(Transition {
            at: now,
            from,
            to: Health::Ok,
            cause: Cause::Clear,
        })
    }

    /// Looks at the heartbeats at `now`; returns the health change, if any.
    pub fn evaluate(&mut self, now: i64, beats: &Heartbeats) -> Option<Transition> {
        let (level, cause) = self.assess(now, beats);
        let from = self.health;
        if level >= self.health {
            self.calm_since = None;
            if level > self.health || cause != Cause::Clear {
                self.cause = cause;
            }
            if level == self.health {
                return None;
            }
            self.health = level;
        } else {
            let calm_since = *self.calm_since.get_or_insert(now);
            if now - calm_since < ms(self.config.recover_after_ms) {
                return None;
            }
            self.health = self.health.lower();
            self.cause = if self.health > level {
                self.cause
            } else {
                cause
            };
            self.calm_since = Some(now);
        }
        Some(Transition {
            at: now,
            from,
            to: self.health,
            cause: self.cause,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: i64 = 1_000_000;

    fn watchdog() -> (Watchdog, Heartbeats) {
        let mut config = SchedulerConfig::default();
        config.camera.silence_timeout_ms = 200.0;
        config.watchdog.recover_after_ms = 100.0;
        config.watchdog.stall_error_ms = 250.0;
        config.watchdog.error_after_misses = 3;
        let sensors = SensorSet::default_rig(&config, &Default::default());
        (Watchdog::new(&config, &sensors), Heartbeats::new(2, 2))
    }

    /// Runs the watchdog every 10 ms from `from` to `to`; returns transitions.
    fn run(w: &mut Watchdog, beats: &Heartbeats, from: i64, to: i64) -> Vec<Transition> {
        (from / (10 * MS)..=to / (10 * MS))
            .filter_map(|k| w.evaluate(k * 10 * MS, beats))
            .collect()
    }

    #[test]
    fn a_stall_is_reported_within_one_period_of_the_deadline_then_clears() {
        let (mut w, beats) = watchdog();
        // The camera lane starts at 0 a frame due at 95 ms, and stalls.
        beats.lane_started(1, Sensor::CAMERA, 95 * MS);
        let t = run(&mut w, &beats, 0, 400 * MS);
        assert_eq!(t[0].to, Health::Warn);
        assert!(t[0].at > 95 * MS && t[0].at <= 95 * MS + 10 * MS, "{t:?}");
        assert!(matches!(
            t[0].cause,
            Cause::Stall {
                sensor: Sensor::CAMERA,
                ..
            }
        ));
        // 250 ms past the deadline: ERROR.
        assert_eq!(t[1].to, Health::Error);
        assert!(t[1].at >= 345 * MS && t[1].at <= 355 * MS, "{t:?}");
        // Stall clears at 500 ms: down to WARN after 100 ms calm, OK after 100 more.
        beats.lane_idle(1);
        let t = run(&mut w, &beats, 500 * MS, 800 * MS);
        assert_eq!(
            t.iter().map(|t| (t.to, t.at / MS)).collect::<Vec<_>>(),
            vec![(Health::Warn, 600), (Health::Ok, 700)]
        );
    }

    #[test]
    fn silence_is_reported_after_its_timeout_only_after_a_first_frame() {
        let (mut w, beats) = watchdog();
        assert!(run(&mut w, &beats, 0, 1000 * MS).is_empty());
        beats.arrived(Sensor::CAMERA, 1000 * MS);
        let t = run(&mut w, &beats, 1000 * MS, 1300 * MS);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].to, Health::Warn);
        assert_eq!(t[0].at, 1210 * MS);
        assert!(matches!(
            t[0].cause,
            Cause::Silence {
                sensor: Sensor::CAMERA,
                ..
            }
        ));
        beats.arrived(Sensor::CAMERA, 1300 * MS);
        let t = run(&mut w, &beats, 1300 * MS, 1500 * MS);
        assert_eq!(t[0].to, Health::Ok);
        assert_eq!(t[0].at, 1400 * MS);
    }

    #[test]
    fn misses_in_a_row_escalate_to_error_and_recover_with_hysteresis() {
        let (mut w, beats) = watchdog();
        beats.set_misses(Sensor::LIDAR, 1);
        assert_eq!(w.evaluate(0, &beats).unwrap().to, Health::Warn);
        beats.set_misses(Sensor::LIDAR, 3);
        let t = w.evaluate(10 * MS, &beats).unwrap();
        assert_eq!(t.to, Health::Error);
        assert_eq!(
            t.cause,
            Cause::Misses {
                sensor: Sensor::LIDAR,
                count: 3
            }
        );
        beats.set_misses(Sensor::LIDAR, 0);
        // A relapse within the calm period restarts it.
        assert!(run(&mut w, &beats, 20 * MS, 90 * MS).is_empty());
        beats.set_misses(Sensor::LIDAR, 4);
        assert!(w.evaluate(100 * MS, &beats).is_none());
        beats.set_misses(Sensor::LIDAR, 0);
        let t = run(&mut w, &beats, 110 * MS, 400 * MS);
        assert_eq!(
            t.iter().map(|t| (t.to, t.at / MS)).collect::<Vec<_>>(),
            vec![(Health::Warn, 210), (Health::Ok, 310)]
        );
    }
}
