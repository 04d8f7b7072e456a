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
use crate::frames::Obstacle;
use crate::fusion::FusionConfig;
use crate::ingest::Ingest;
use crate::ingest::{InputKind, header_stamp};
use crate::lidar::LidarConfig;
use crate::msg::{MessageType, ObstacleArrayRef, PipelineStatus, Time};
use crate::pipeline::{LaneSetup, PipelineWork, build_lanes};
use serde::Serialize;
use std::collections::BTreeMap;
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
    /// What to record for the report and the bird's-eye view (off: the
    /// replay keeps nothing per frame).
    pub observe: Observe,
}

/// Per-frame recording for `--report` and `--bev`; all off by default.
#[derive(Debug, Clone, Default)]
pub struct Observe {
    /// Keep one [`FrameRecord`] per frame (latency plots).
    pub frames: bool,
    /// Score the published lidar obstacles against the ground truth on this
    /// topic (lookout_msgs/msg/ObstacleArray, paired by header stamp), when
    /// the bag has it.
    pub truth_topic: Option<String>,
    /// Write one bird's-eye-view PNG per published lidar frame here.
    pub bev: Option<PathBuf>,
    /// Reads the bytes the allocator has handed out and not got back (the
    /// binary's allocator knows; the library does not): sampled after each
    /// pass of a loop next to resident memory.
    pub heap_probe: Option<fn() -> Option<u64>>,
    /// Advanced once per message read.
    pub progress: crate::progress::Progress,
}

impl Observe {
    fn any(&self) -> bool {
        self.frames || self.truth_topic.is_some() || self.bev.is_some()
    }
}

/// What happened to one frame, on the replay's time axis.
#[derive(Debug, Clone, Serialize)]
pub struct FrameRecord {
    pub sensor: &'static str,
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
    /// Live heap after each pass, less the runtime's frame buffer pool,
    /// when [`Observe::heap_probe`] is given.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub heap_bytes: Vec<u64>,
    /// The published lidar obstacles scored against the bag's ground truth
    /// ([`Observe::truth_topic`]), when it has any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<crate::eval::EvalReport>,
    /// Bird's-eye-view pictures written ([`Observe::bev`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bev_pictures: Option<u64>,
    /// One record per frame ([`Observe::frames`]); not in the JSON report.
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
    observer: Option<Observer>,
}

/// What [`Observe`] asks to keep, gathered on the replay's own thread (never
/// on a lane).
struct Observer {
    keep_frames: bool,
    frames: Vec<FrameRecord>,
    /// The pipeline clock at the first arrival.
    origin: Option<i64>,
    truth_topic: Option<String>,
    /// Ground truth and published lidar obstacles by header stamp.
    truth: BTreeMap<i64, Vec<Obstacle>>,
    detections: BTreeMap<i64, Vec<Obstacle>>,
    bev: Option<crate::report::bev::BevWriter>,
    /// Decodes the points of a published scan for the bird's-eye view.
    ingest: Ingest,
}

impl Observer {
    fn new(observe: &Observe) -> Result<Option<Self>, ScheduledReplayError> {
        if !observe.any() {
            return Ok(None);
        }
        let bev = match &observe.bev {
            Some(dir) => Some(
                crate::report::bev::BevWriter::start(dir)
                    .map_err(|e| ScheduledReplayError::Setup(e.to_string()))?,
            ),
            None => None,
        };
        Ok(Some(Observer {
            keep_frames: observe.frames,
            frames: Vec::new(),
            origin: None,
            truth_topic: observe.truth_topic.clone(),
            truth: BTreeMap::new(),
            detections: BTreeMap::new(),
            bev,
            ingest: Ingest::new(),
        }))
    }

    /// A message the pipeline does not take: ground truth is kept.
    fn other_message(&mut self, topic: &str, data: &[u8]) {
        if self.truth_topic.as_deref() != Some(topic) {
            return;
        }
        // Truth that does not decode is left out of the scores (the
        // `eval` command reports it); it is not the pipeline's input.
        if let Ok(array) = crate::msg::ObstacleArray::decode(data) {
            let stamp = array.header.stamp.as_nanos();
            let obstacles: Vec<Obstacle> = array.obstacles.iter().map(Obstacle::from_msg).collect();
            if let Some(bev) = &self.bev {
                bev.truth(stamp, obstacles.clone());
            }
            self.truth.insert(stamp, obstacles);
        }
    }

    fn frame(
        &mut self,
        timing: &super::core::Timing,
        outcome: Outcome,
        run_ns: Option<i64>,
        finished: Option<i64>,
        input: &Job,
        output: Option<&(OutputTopic, Vec<u8>)>,
    ) {
        let origin = *self.origin.get_or_insert(timing.arrival);
        if self.keep_frames {
            self.frames.push(FrameRecord {
                sensor: timing.sensor.name(),
                frame: timing.index,
                t_s: (timing.stamp - origin) as f64 / 1e9,
                outcome: outcome.as_str(),
                run_ms: run_ns.map(|ns| ns as f64 / 1e6),
                end_to_end_ms: finished.map(|f| (f - timing.stamp) as f64 / 1e6),
            });
        }
        let Some((OutputTopic::Obstacles, bytes)) = output else {
            return;
        };
        if timing.sensor != Sensor::Lidar {
            return;
        }
        let Ok(array) = crate::msg::ObstacleArray::decode(bytes) else {
            return;
        };
        let stamp = array.header.stamp.as_nanos();
        let obstacles: Vec<Obstacle> = array.obstacles.iter().map(Obstacle::from_msg).collect();
        if let Some(bev) = &self.bev
            && self
                .ingest
                .ingest(InputKind::PointCloud2, &input.bytes)
                .is_ok()
        {
            let scan = self.ingest.scan();
            bev.scan(stamp, &scan.x, &scan.y, obstacles.clone());
        }
        if self.truth_topic.is_some() {
            self.detections.insert(stamp, obstacles);
        }
    }

    /// Scores the published obstacles of every scan that has truth.
    fn accuracy(&self) -> Option<crate::eval::EvalReport> {
        let mut evaluator = crate::eval::Evaluator::new(crate::eval::EvalConfig::default());
        let mut scored = 0;
        for (stamp, found) in &self.detections {
            if let Some(expected) = self.truth.get(stamp) {
                evaluator.add_frame(found, expected);
                scored += 1;
            }
        }
        (scored > 0).then(|| evaluator.report())
    }
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
        observer: Observer::new(&options.observe)?,
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
    let mut read = Ok(Default::default());
    let mut resident = Vec::new();
    let mut heap = Vec::new();
    for _ in 0..options.loops.max(1) {
        let mut visit = |message: crate::bag::BagMessage<'_>| {
            if write_error.is_some() {
                return ControlFlow::Break(());
            }
            options.observe.progress.inc();
            let routed = InputKind::from_type_name(message.type_name)
                .and_then(|kind| Some((kind, PipelineWork::sensor_of(kind)?)));
            let Some((kind, sensor)) = routed else {
                if let Some(observer) = tally.observer.as_mut() {
                    observer.other_message(message.topic, message.data);
                }
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
            if let Some(observer) = tally.observer.as_mut() {
                observer.origin.get_or_insert(m.clock_start);
            }
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
        read = bag.read_messages(None, &mut visit);
        if options.loops > 1 {
            // Memory is sampled with the pipeline idle and its events
            // handled: what stays is what the process keeps between
            // passes, not the frames in flight at the moment the pass ends.
            runtime.wait_idle();
            let events: Vec<Event> = runtime.events().try_iter().collect();
            if let Some(m) = map {
                for event in events {
                    account(&mut writer, &mut tally, m, event, &mut |b| {
                        runtime.recycle(b)
                    })?;
                }
            }
            resident.push(resident_bytes());
            // The pool holds up to 64 frame buffers of whatever sizes
            // came back last: bounded, but a different amount at each
            // sample, so it is left out of the heap figure.
            if let Some(bytes) = options.observe.heap_probe.and_then(|probe| probe()) {
                heap.push(bytes.saturating_sub(runtime.pooled_bytes()));
            }
        }
        if read.is_err() || write_error.is_some() {
            break;
        }
    }
    options.observe.progress.finish();
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
    let observer = tally.observer.take();
    let mut report = report(options, shared, tally, wall_s);
    report.resident_bytes = resident;
    report.heap_bytes = heap;
    if let Some(observer) = observer {
        report.accuracy = observer.accuracy();
        report.clock_origin_ns = observer.origin.unwrap_or(0);
        report.frames = observer.frames;
        if let Some(bev) = observer.bev {
            let written = bev
                .finish()
                .map_err(|e| ScheduledReplayError::Setup(format!("bird's-eye view: {e}")))?;
            report.bev_pictures = Some(written);
        }
    }
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
            if let Some(observer) = tally.observer.as_mut() {
                observer.frame(&timing, outcome, run_ns, finished, &job, output.as_ref());
            }
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
        heap_bytes: Vec::new(),
        accuracy: None,
        bev_pictures: None,
        frames: Vec::new(),
        clock_origin_ns: 0,
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
