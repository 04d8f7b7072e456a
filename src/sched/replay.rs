//! Replaying a bag through the deadline runtime, in one of two modes:
//!
//! - `lockstep`: a simulated clock set to each message's log time, the
//!   caller waiting for each frame to finish before the next; the watchdog
//!   evaluated at every period of simulated time. Outputs depend only on the
//!   bag and the configuration: byte-identical across runs and worker counts.
//! - `realtime`: the monotonic clock, messages fed at their recorded pace
//!   times `rate`; frames the pipeline cannot serve in time are dropped the
//!   way they would be on a vehicle.
//!
//! Owns the feeding, the time mapping between bag time and the pipeline
//! clock, and the end-of-run report. Writes obstacles to the output bag.

use super::config::SchedulerConfig;
use super::core::Sensor;
use super::faults::FaultConfig;
use super::runtime::{Event, Job, Outcome, OutputTopic, Runtime, TIME_JUMP_NS};
use super::stats::{LatencySummary, Rejects, StatusRecord};
use super::watchdog::Transition;
use crate::bag::{Bag, BagError, BagWriter, TopicId, WriterOptions};
use crate::calibration::Calibration;
use crate::camera::engine::EngineOptions;
use crate::camera::spec::ModelSpec;
use crate::clock::{Clock, MonotonicClock, SimulatedClock};
use crate::fusion::FusionConfig;
use crate::ingest::{InputKind, header_stamp};
use crate::lidar::LidarConfig;
use crate::msg::{MessageType, ObstacleArrayRef, PipelineStatus, Time};
use crate::pipeline::{LaneSetup, PipelineWork, build_lanes};
use serde::Serialize;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    Lockstep,
    /// Wall-clock pacing at `rate` times the recorded speed.
    Realtime {
        rate: f64,
    },
}

#[derive(Debug, Clone)]
pub struct ScheduledReplayOptions {
    pub mode: Mode,
    pub scheduler: SchedulerConfig,
    pub lidar: LidarConfig,
    /// The camera detector; `None` decodes camera frames only.
    pub camera: Option<(ModelSpec, EngineOptions)>,
    /// Fusion and its calibration (used with a camera detector).
    pub fusion: Option<(FusionConfig, Calibration)>,
    pub faults: FaultConfig,
    pub out: Option<PathBuf>,
    pub writer: WriterOptions,
    /// Replay the bag this many times in a row (at least once): a bag loop,
    /// where time goes back at each start (a new run for the scheduler and
    /// the watchdog). Resident memory is sampled after each pass.
    pub loops: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum ScheduledReplayError {
    #[error(transparent)]
    Bag(#[from] BagError),
    #[error("setting up the pipeline: {0}")]
    Setup(String),
}

/// One sensor's totals.
#[derive(Debug, Clone, Serialize)]
pub struct SensorReport {
    pub sensor: &'static str,
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
    /// Published on-time results whose result was ready after the deadline:
    /// must be 0 (a check on the scheduler, not a tuning number).
    pub published_after_deadline: u64,
    /// Share of lane time spent on results that were published.
    pub useful_lane_share: f64,
    /// Results published per second of wall time.
    pub published_per_s: f64,
    pub health_changes: Vec<String>,
    pub statuses: Vec<StatusRecord>,
    /// Times time went back (bag loops): each started a new run.
    pub time_jumps: u64,
    /// Resident memory after each pass over the bag (`--loop`).
    pub resident_bytes: Vec<u64>,
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
        out.push_str(&format!(
            "{:<7} {:>8} {:>9} {:>6} {:>10} {:>6} {:>10} {:>5} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9}\n",
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
                "{:<7} {:>8} {:>9} {:>6} {:>10} {:>6} {:>10} {:>5} {:>6} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1}\n",
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
        for change in &self.health_changes {
            out.push_str(&format!("health {change}\n"));
        }
        if self.time_jumps > 0 {
            out.push_str(&format!(
                "time went back {} time(s) (bag loops): each started a new run\n",
                self.time_jumps
            ));
        }
        if let (Some(first), Some(last)) = (self.resident_bytes.first(), self.resident_bytes.last())
            && self.resident_bytes.len() > 1
        {
            out.push_str(&format!(
                "resident memory after pass 1: {:.1} MiB, after pass {}: {:.1} MiB ({:+.3} MiB)\n",
                *first as f64 / 1048576.0,
                self.resident_bytes.len(),
                *last as f64 / 1048576.0,
                (*last as f64 - *first as f64) / 1048576.0
            ));
        }
        out
    }
}

/// Topic on which scheduled replay writes the watchdog's status records.
pub const STATUS_TOPIC: &str = "/lookout/status";

/// The output bag: obstacles and status records.
struct OutputBag {
    writer: BagWriter,
    obstacles: TopicId,
    status: TopicId,
}

impl OutputBag {
    fn create(path: &std::path::Path, options: WriterOptions) -> Result<Self, BagError> {
        let mut writer = BagWriter::create(path, options)?;
        let obstacles = writer.add_topic(
            crate::replay::OBSTACLES_TOPIC,
            <ObstacleArrayRef as MessageType>::TYPE_NAME,
        )?;
        let status = writer.add_topic(STATUS_TOPIC, PipelineStatus::TYPE_NAME)?;
        Ok(OutputBag {
            writer,
            obstacles,
            status,
        })
    }
}

/// Maps bag time to the pipeline clock and back.
#[derive(Debug, Clone, Copy)]
struct TimeMap {
    bag_start: i64,
    clock_start: i64,
    rate: f64,
}

impl TimeMap {
    fn to_clock(self, bag_ns: i64) -> i64 {
        self.clock_start + ((bag_ns - self.bag_start) as f64 / self.rate) as i64
    }

    fn to_bag(self, clock_ns: i64) -> u64 {
        (self.bag_start + ((clock_ns - self.clock_start) as f64 * self.rate) as i64).max(0) as u64
    }
}

struct Tally {
    published_after_deadline: u64,
    useful_run_ns: i64,
    late_published: [u64; 2],
    statuses: Vec<StatusRecord>,
}

pub fn replay_scheduled(
    bag: &Bag,
    options: &ScheduledReplayOptions,
) -> Result<ScheduledReport, ScheduledReplayError> {
    options
        .scheduler
        .validate()
        .map_err(|e| ScheduledReplayError::Setup(e.to_string()))?;
    let lanes = build_lanes(&LaneSetup {
        workers: options.scheduler.workers,
        lidar: &options.lidar,
        camera: options.camera.as_ref().map(|(spec, engine)| (spec, engine)),
        fusion: options
            .fusion
            .as_ref()
            .map(|(config, calibration)| (config, calibration)),
    })
    .map_err(ScheduledReplayError::Setup)?;
    let wall = MonotonicClock::new();
    let simulated = SimulatedClock::new(0);
    let (clock, lockstep, rate): (Arc<dyn Clock>, bool, f64) = match options.mode {
        Mode::Lockstep => (Arc::new(simulated.clone()), true, 1.0),
        Mode::Realtime { rate } => (Arc::new(wall.clone()), false, rate),
    };
    let mut runtime = Runtime::start(
        &options.scheduler,
        options.faults.clone(),
        clock.clone(),
        lanes,
        lockstep,
    );
    let mut writer = match &options.out {
        Some(path) => Some(OutputBag::create(path, options.writer)?),
        None => None,
    };
    let mut tally = Tally {
        published_after_deadline: 0,
        useful_run_ns: 0,
        late_published: [0; 2],
        statuses: Vec::new(),
    };
    let mut map: Option<TimeMap> = None;
    let mut next_tick: Option<i64> = None;
    let period = {
        let p = (options.scheduler.watchdog.period_ms * 1e6) as i64;
        p.max(1)
    };
    let mut write_error: Option<BagError> = None;
    let started_wall = wall.now_ns();
    let mut last_log: Option<i64> = None;
    let mut visit = |message: crate::bag::BagMessage<'_>| {
        if write_error.is_some() {
            return ControlFlow::Break(());
        }
        let Some(kind) = InputKind::from_type_name(message.type_name) else {
            return ControlFlow::Continue(());
        };
        let Some(sensor) = PipelineWork::sensor_of(kind) else {
            return ControlFlow::Continue(());
        };
        let log_time = message.log_time as i64;
        // Bag time jumped back (the next pass of a loop, or a bag recorded
        // across a sim-time reset): a new run, mapped onto the clock from
        // where it is now, which keeps going forward.
        if let (Some(last), Some(m)) = (last_log, map.as_mut())
            && log_time < last.saturating_sub(TIME_JUMP_NS)
        {
            m.bag_start = log_time;
            m.clock_start = if lockstep {
                simulated.now_ns()
            } else {
                clock.now_ns()
            };
            runtime.time_jumped_back();
        }
        last_log = Some(log_time);
        let m = *map.get_or_insert_with(|| TimeMap {
            bag_start: log_time,
            clock_start: if lockstep { log_time } else { clock.now_ns() },
            rate,
        });
        let since_start_s = (log_time - m.bag_start) as f64 / 1e9;
        if options.faults.dropped_out(sensor, since_start_s) {
            return ControlFlow::Continue(());
        }
        let arrival = m.to_clock(log_time);
        if lockstep {
            let now = arrival.max(simulated.now_ns());
            let tick = next_tick.get_or_insert(now);
            while *tick <= now {
                if let Some(status) = runtime.tick_watchdog(*tick)
                    && let Err(e) =
                        account(&mut writer, &mut tally, m, Event::Status(status), &mut drop)
                {
                    write_error = Some(e);
                    return ControlFlow::Break(());
                }
                *tick += period;
            }
            simulated.set_ns(now);
        } else {
            clock.sleep_ns(arrival - clock.now_ns());
        }
        // A frame whose header does not decode cannot be given a deadline:
        // it goes through with its arrival as stamp and fails in the stage,
        // where it is counted.
        let stamp = header_stamp(message.data)
            .map(|s| m.to_clock(s))
            .unwrap_or(arrival);
        let mut bytes = runtime.buffer();
        bytes.extend_from_slice(message.data);
        runtime.submit(
            sensor,
            stamp,
            Job {
                kind,
                bytes,
                log_time: message.log_time,
            },
        );
        if lockstep {
            runtime.wait_idle();
        }
        let events: Vec<Event> = runtime.events().try_iter().collect();
        for event in events {
            if let Err(e) = account(&mut writer, &mut tally, m, event, &mut |b| {
                runtime.recycle(b)
            }) {
                write_error = Some(e);
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    };
    let mut read = Ok(Default::default());
    let mut resident = Vec::new();
    for _ in 0..options.loops.max(1) {
        read = bag.read_messages(None, &mut visit);
        resident.push(resident_bytes());
        if read.is_err() {
            break;
        }
    }
    // Frames still queued or running are finished before the run ends.
    let (shared, rest) = runtime.finish();
    let wall_s = (wall.now_ns() - started_wall) as f64 / 1e9;
    if let Some(m) = map {
        for event in rest {
            // The runtime is finished: buffers are not recycled any more.
            account(&mut writer, &mut tally, m, event, &mut drop)?;
        }
    }
    if let Some(e) = write_error {
        return Err(e.into());
    }
    if let Some(out) = writer {
        out.writer.finish()?;
    }
    read?;
    let mut report = report(options, shared, tally, wall_s);
    report.resident_bytes = resident;
    Ok(report)
}

/// This process's resident memory (`VmRSS`), bytes; 0 where `/proc` does
/// not say.
pub fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Handles one event: tallies it, writes its output, hands its buffers to
/// `recycle`.
fn account(
    writer: &mut Option<OutputBag>,
    tally: &mut Tally,
    map: TimeMap,
    event: Event,
    recycle: &mut impl FnMut(Vec<u8>),
) -> Result<(), BagError> {
    match event {
        Event::Status(status) => {
            if let Some(out) = writer.as_mut() {
                let at = map.to_bag(status.at_ns);
                let message = status.to_msg(Time::from_nanos(at as i64));
                out.writer.write(out.status, at, &message)?;
            }
            tally.statuses.push(status);
            Ok(())
        }
        Event::Frame {
            timing,
            job,
            outcome,
            finished,
            run_ns,
            output,
            ..
        } => {
            let i = timing.sensor.index();
            if let Some(finished) = finished {
                match outcome {
                    Outcome::Published => {
                        if finished > timing.deadline {
                            tally.published_after_deadline += 1;
                        }
                        tally.useful_run_ns += run_ns.unwrap_or(0);
                    }
                    Outcome::PublishedLate => tally.late_published[i] += 1,
                    _ => {}
                }
            }
            recycle(job.bytes);
            if let Some((topic, bytes)) = output {
                if let (OutputTopic::Obstacles, Some(out), Some(finished)) =
                    (topic, writer.as_mut(), finished)
                {
                    out.writer
                        .write_raw(out.obstacles, map.to_bag(finished), &bytes)?;
                }
                recycle(bytes);
            }
            Ok(())
        }
    }
}

fn report(
    options: &ScheduledReplayOptions,
    shared: super::runtime::Shared,
    tally: Tally,
    wall_s: f64,
) -> ScheduledReport {
    let counters = &shared.counters;
    let config = &options.scheduler;
    let sensors: Vec<SensorReport> = Sensor::ALL
        .iter()
        .map(|&sensor| {
            let c = &counters[sensor.index()];
            let late_published = tally.late_published[sensor.index()];
            SensorReport {
                sensor: sensor.name(),
                budget_ms: match sensor {
                    Sensor::Camera => config.camera.budget_ms,
                    Sensor::Lidar => config.lidar.budget_ms,
                },
                received: c.received,
                published: c.published,
                published_late: late_published,
                superseded: c.superseded,
                stale: c.stale,
                infeasible: c.infeasible,
                late_dropped: c.late - late_published,
                errors: c.errors,
                rejects: shared.rejects[sensor.index()].clone(),
                stage: shared.stats.run(sensor),
                end_to_end: shared.stats.end_to_end(sensor),
            }
        })
        .collect();
    let published: u64 = sensors.iter().map(|s| s.published).sum();
    let useful_ns = tally.useful_run_ns as f64;
    let lane_ns = config.workers as f64 * wall_s * 1e9;
    ScheduledReport {
        mode: match options.mode {
            Mode::Lockstep => "lockstep".to_owned(),
            Mode::Realtime { rate } => format!("realtime x{rate}"),
        },
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
        health_changes: shared.transitions.iter().map(describe).collect(),
        statuses: tally.statuses,
        time_jumps: shared.time_jumps,
        resident_bytes: Vec::new(),
    }
}

fn describe(t: &Transition) -> String {
    format!(
        "{} -> {} at {:.3} s: {}",
        t.from.as_str(),
        t.to.as_str(),
        t.at as f64 / 1e9,
        t.cause
    )
}
