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
//! Owns the feeding and the time mapping between bag time and the pipeline
//! clock; the outputs go through the [`OutputChain`] into the output bag,
//! whose log time is the moment of hand-off. The report is
//! [`super::report`]'s, the per-frame bookkeeping [`super::observer`]'s.
//! Never decodes an output again.

use super::observer::{Observe, Observer};
use super::tally::{RunFacts, Tally, report};
use super::{OBSTACLES_TOPIC, OUTPUT_TOPIC_PREFIX, STATUS_TOPIC};
use crate::bag::{Bag, BagError, BagWriter, TopicId, WriterOptions};
use crate::calibration::Calibration;
use crate::camera::engine::EngineOptions;
use crate::camera::ladder::CameraConfig;
use crate::camera::spec::ModelSpec;
use crate::clock::{Clock, MonotonicClock, SimulatedClock};
use crate::fusion::FusionConfig;
use crate::ingest::{InputKind, header_stamp};
use crate::lidar::LidarConfig;
use crate::merge::{MergeWindow, MergedFrame};
use crate::msg::{MessageType, PipelineStatus, Time};
use crate::output::{BatchKind, ObstacleBatch, OutputChain, OutputMessage, Route, route_of};
use crate::pipeline::{LaneSetup, PipelineWork, build_lanes, output_routes, sensor_set};
use crate::report::run::ScheduledReport;
use crate::rig::{Rig, SensorKind};
use crate::sched::SchedulerConfig;
use crate::sched::SensorSet;
use crate::sched::faults::FaultConfig;
use crate::sched::runtime::{Event, Job, Outcome, Runtime, Sensor, TIME_JUMP_NS};
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
    /// Which of the detector's rungs run, and how one is chosen per frame.
    pub ladder: CameraConfig,
    /// Fusion and its calibration (used with a camera detector).
    pub fusion: Option<(FusionConfig, Calibration)>,
    /// The sensors, routed by topic, and how fusion runs through their
    /// cameras (with a camera detector; `fusion` is then not used). `None`:
    /// the calibration's rig (one camera, one lidar, routed by type).
    pub rig: Option<(Rig, FusionConfig)>,
    pub faults: FaultConfig,
    /// Tracking in the output chain (ids and velocities of the outputs).
    pub tracking: crate::track::TrackingConfig,
    /// What the outputs' header stamp says (`output.stamp`).
    pub output: crate::output::OutputConfig,
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

impl ScheduledReplayOptions {
    /// The rig and the fusion configuration the lanes run with.
    pub fn sensors(&self) -> (Rig, Option<FusionConfig>) {
        match &self.rig {
            Some((rig, fusion)) => (rig.clone(), self.camera.as_ref().map(|_| fusion.clone())),
            None => (
                Rig::from_calibration(self.fusion.as_ref().map(|(_, c)| c)),
                self.fusion.as_ref().map(|(config, _)| config.clone()),
            ),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ScheduledReplayError {
    #[error(transparent)]
    Bag(#[from] BagError),
    #[error("setting up the pipeline: {0}")]
    Setup(String),
}

/// The output bag: the obstacles in each output format, and status
/// records.
struct OutputBag {
    writer: BagWriter,
    /// Where each message the chain publishes goes, and its topic there.
    routes: Vec<Route>,
    topics: Vec<TopicId>,
    status: TopicId,
}

impl OutputBag {
    fn create(
        path: &std::path::Path,
        options: WriterOptions,
        routes: Vec<Route>,
    ) -> Result<Self, BagError> {
        let mut writer = BagWriter::create(path, options)?;
        let mut topics = Vec::with_capacity(routes.len());
        for route in &routes {
            topics.push(writer.add_topic(&route.topic, route.message.type_name())?);
        }
        let status = writer.add_topic(STATUS_TOPIC, PipelineStatus::TYPE_NAME)?;
        Ok(OutputBag {
            writer,
            routes,
            topics,
            status,
        })
    }

    fn topic(&self, message: OutputMessage, sensor: usize) -> Option<TopicId> {
        route_of(&self.routes, message, sensor).map(|i| self.topics[i])
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

/// Replays `bag` through the deadline runtime as `options` say; see the
/// module documentation for the two modes.
pub fn replay_scheduled(
    bag: &Bag,
    options: &ScheduledReplayOptions,
) -> Result<ScheduledReport, ScheduledReplayError> {
    let resolved;
    let options = match &options.rig {
        Some((rig, fusion)) if rig.needs_tf_static() || !rig.awaiting_camera_info().is_empty() => {
            let mut with_extrinsics = options.clone();
            let rig = resolve_rig(bag, rig).map_err(ScheduledReplayError::Setup)?;
            with_extrinsics.rig = Some((rig, fusion.clone()));
            resolved = with_extrinsics;
            &resolved
        }
        _ => options,
    };
    let mut replayer = Replayer::start(options)?;
    let mut read = Ok(Default::default());
    for _ in 0..options.loops.max(1) {
        read = bag.read_messages(None, |message| replayer.message(message));
        replayer.end_of_pass()?;
        if options.loops > 1 {
            replayer.sample_memory()?;
        }
        if read.is_err() || replayer.write_error.is_some() {
            break;
        }
    }
    options.observe.progress.finish();
    let report = replayer.finish()?;
    read?;
    Ok(report)
}

/// `rig` completed from the bag: the extrinsics it leaves to `/tf_static`
/// ([`resolve_tf_static`]) and the intrinsics it leaves to each camera's
/// first `CameraInfo`. The error names the topic or the sensor.
pub fn resolve_rig(bag: &Bag, rig: &Rig) -> Result<Rig, String> {
    let mut rig = if rig.needs_tf_static() {
        resolve_tf_static(bag, rig)?
    } else {
        rig.clone()
    };
    let awaiting: Vec<(Sensor, String)> = rig
        .awaiting_camera_info()
        .into_iter()
        .map(|(camera, topic)| (camera, topic.to_owned()))
        .collect();
    for (camera, topic) in awaiting {
        let mut first: Option<Vec<u8>> = None;
        bag.read_messages(Some(std::slice::from_ref(&topic)), |m| {
            first = Some(m.data.to_vec());
            ControlFlow::Break(())
        })
        .map_err(|e| format!("reading {topic}: {e}"))?;
        let data = first.ok_or_else(|| {
            format!(
                "rig: sensors[{}] ({}) takes its intrinsics from {topic}, which the bag does not have",
                camera.index(),
                rig.get(camera).name
            )
        })?;
        let info = crate::msg::CameraInfo::decode(&data).map_err(|e| format!("{topic}: {e}"))?;
        rig.set_intrinsics(camera, &info)
            .map_err(|e| format!("rig: {e} ({topic})"))?;
    }
    Ok(rig)
}

/// `rig` with the extrinsics it leaves to `/tf_static` taken from the
/// bag's (every `tf2_msgs/TFMessage` on it, the last transform of a frame
/// winning). The error names the bag's problem or the sensor without a
/// chain to the base frame.
pub fn resolve_tf_static(bag: &Bag, rig: &Rig) -> Result<Rig, String> {
    use crate::msg::tf::TfMessage;
    use crate::rig::TF_STATIC_TOPIC;
    let mut messages: Vec<Vec<u8>> = Vec::new();
    bag.read_messages(Some(&[TF_STATIC_TOPIC.to_owned()]), |m| {
        messages.push(m.data.to_vec());
        ControlFlow::Continue(())
    })
    .map_err(|e| format!("reading {TF_STATIC_TOPIC}: {e}"))?;
    let mut transforms = Vec::new();
    for (i, data) in messages.iter().enumerate() {
        let message =
            TfMessage::decode(data).map_err(|e| format!("{TF_STATIC_TOPIC} message {i}: {e}"))?;
        transforms.extend(message.transforms);
    }
    let mut rig = rig.clone();
    rig.resolve_tf_static(&transforms)
        .map_err(|e| format!("rig: {e}"))?;
    Ok(rig)
}

/// Everything after the lanes, on the replay's thread: the output chain,
/// the output bag, the tally and the observer.
struct Outputs {
    /// The sensors' names, by index.
    names: Vec<String>,
    chain: OutputChain,
    clock: Arc<dyn Clock>,
    writer: Option<OutputBag>,
    tally: Tally,
    observer: Option<Observer>,
}

/// A scheduled replay in progress.
struct Replayer<'a> {
    options: &'a ScheduledReplayOptions,
    rig: Rig,
    sensors: SensorSet,
    /// Several lidars: their scans merged before they are submitted.
    merge: Option<MergeWindow>,
    /// The camera detector's rungs, most accurate first.
    variant_names: Vec<String>,
    /// Merged frames closed and not yet submitted (reused).
    closed: Vec<MergedFrame>,
    runtime: Runtime<ObstacleBatch>,
    outputs: Outputs,
    wall: MonotonicClock,
    simulated: SimulatedClock,
    clock: Arc<dyn Clock>,
    lockstep: bool,
    rate: f64,
    map: Option<TimeMap>,
    next_tick: Option<i64>,
    period: i64,
    last_log: Option<i64>,
    started_wall: i64,
    write_error: Option<BagError>,
    resident: Vec<u64>,
    heap: Vec<u64>,
}

impl<'a> Replayer<'a> {
    fn start(options: &'a ScheduledReplayOptions) -> Result<Self, ScheduledReplayError> {
        options
            .scheduler
            .validate()
            .map_err(|e| ScheduledReplayError::Setup(e.to_string()))?;
        let (rig, fusion) = options.sensors();
        let lanes = build_lanes(&LaneSetup {
            workers: options.scheduler.workers,
            lidar: &options.lidar,
            rig: &rig,
            camera: options.camera.as_ref().map(|(spec, engine)| (spec, engine)),
            ladder: &options.ladder,
            fusion: fusion.as_ref(),
            keep_points: options.observe.bev.is_some(),
            detections_out: !options.output.camera_messages().is_empty(),
        })
        .map_err(ScheduledReplayError::Setup)?;
        let sensors = sensor_set(&rig, &options.scheduler, &options.faults, &lanes);
        let variant_names = lanes
            .first()
            .map(PipelineWork::camera_variant_names)
            .unwrap_or_default();
        let names = sensors.all().map(|s| sensors.name(s).to_owned()).collect();
        let tally = Tally::new(sensors.len());
        let lidars: Vec<Sensor> = rig.of_kind(SensorKind::Lidar).collect();
        let merge = (lidars.len() > 1).then(|| MergeWindow::new(lidars, rig.merge_window_ns()));
        let wall = MonotonicClock::new();
        let simulated = SimulatedClock::new(0);
        let (clock, lockstep, rate): (Arc<dyn Clock>, bool, f64) = match options.mode {
            Mode::Lockstep => (Arc::new(simulated.clone()), true, 1.0),
            Mode::Realtime { rate } => (Arc::new(wall.clone()), false, rate),
        };
        let runtime = Runtime::start(
            &options.scheduler,
            sensors.clone(),
            clock.clone(),
            lanes,
            lockstep,
        );
        let mut chain = OutputChain::with_tracking(&options.tracking, &options.output);
        chain.set_time_scale(rate);
        let routes = output_routes(
            &rig,
            options.camera.is_some(),
            &options.output,
            options.tracking.enabled,
            OUTPUT_TOPIC_PREFIX,
            OBSTACLES_TOPIC,
        );
        let writer = match &options.out {
            Some(path) => Some(OutputBag::create(path, options.writer, routes)?),
            None => None,
        };
        let observer = Observer::new(&options.observe).map_err(ScheduledReplayError::Setup)?;
        let started_wall = wall.now_ns();
        Ok(Replayer {
            options,
            rig,
            sensors,
            merge,
            variant_names,
            closed: Vec::new(),
            runtime,
            outputs: Outputs {
                names,
                chain,
                clock: clock.clone(),
                writer,
                tally,
                observer,
            },
            wall,
            simulated,
            clock,
            lockstep,
            rate,
            map: None,
            next_tick: None,
            period: ((options.scheduler.watchdog.period_ms * 1e6) as i64).max(1),
            last_log: None,
            started_wall,
            write_error: None,
            resident: Vec::new(),
            heap: Vec::new(),
        })
    }

    /// Whether `topic` carries the ego's pose: `/tf`, or the configured
    /// odometry topic.
    fn ego_source(&self, topic: &str) -> Option<crate::output::EgoSource> {
        use crate::output::EgoSource;
        let odometry = &self.options.tracking.odometry_topic;
        if topic == crate::synth::TF_TOPIC {
            Some(EgoSource::Tf)
        } else if !odometry.is_empty() && topic == odometry {
            Some(EgoSource::Odometry)
        } else {
            None
        }
    }

    /// One message of the bag: fed to the runtime at its log time (the
    /// pipeline's inputs), kept by the observer (truth), or passed over.
    fn message(&mut self, message: crate::bag::BagMessage<'_>) -> ControlFlow<()> {
        if self.write_error.is_some() {
            return ControlFlow::Break(());
        }
        self.options.observe.progress.inc();
        if let Some(source) = self.ego_source(message.topic) {
            // A bad one is counted in the tracking report.
            let _ = self.outputs.chain.observe_ego(source, message.data);
        }
        let routed = InputKind::from_type_name(message.type_name)
            .and_then(|kind| Some((kind, self.rig.route(message.topic, kind)?)));
        let Some((kind, sensor)) = routed else {
            if let Some(observer) = self.outputs.observer.as_mut() {
                observer.other_message(message.topic, message.data);
            }
            return ControlFlow::Continue(());
        };
        let m = self.time_map(message.log_time as i64);
        let since_start_s = (message.log_time as i64 - m.bag_start) as f64 / 1e9;
        if self.sensors.dropped_out(sensor, since_start_s) {
            return ControlFlow::Continue(());
        }
        let arrival = m.to_clock(message.log_time as i64);
        if let Err(e) = self.advance_to(arrival, m) {
            self.write_error = Some(e);
            return ControlFlow::Break(());
        }
        // A frame whose header does not decode cannot be given a deadline:
        // it goes through with its arrival as stamp and fails in the stage,
        // where it is counted.
        let stamp = header_stamp(message.data)
            .map(|s| m.to_clock(s))
            .unwrap_or(arrival);
        let mut bytes = self.runtime.buffer();
        bytes.extend_from_slice(message.data);
        match self.merge.as_mut().filter(|w| w.merges(sensor)) {
            Some(window) => {
                let (runtime, closed) = (&self.runtime, &mut self.closed);
                let now = self.clock.now_ns();
                window.offer(
                    sensor,
                    stamp,
                    now,
                    (bytes, message.log_time),
                    &mut |frame| closed.push(frame),
                    &mut |buffer| runtime.recycle(buffer),
                );
                if let Err(e) = self.submit_closed(None) {
                    self.write_error = Some(e);
                    return ControlFlow::Break(());
                }
            }
            None => {
                let job = Job::single(kind, bytes, message.log_time);
                self.runtime.submit(sensor, stamp, job);
                if self.lockstep {
                    self.runtime.wait_idle();
                }
            }
        }
        if let Err(e) = self.drain(m) {
            self.write_error = Some(e);
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }

    /// Moves the pipeline clock to `at` (lockstep: sets it, running the
    /// watchdog on the way; realtime: waits, handling events), closing
    /// the merge window's open set at the instant its window ends when that
    /// comes first.
    fn advance_to(&mut self, at: i64, m: TimeMap) -> Result<(), BagError> {
        while let Some(close) = self.merge.as_ref().and_then(MergeWindow::closes_at) {
            if close > at {
                break;
            }
            self.move_clock(close, m)?;
            if let Some(window) = self.merge.as_mut() {
                let (runtime, closed) = (&self.runtime, &mut self.closed);
                window.flush(&mut |frame| closed.push(frame), &mut |b| runtime.recycle(b));
            }
            self.submit_closed(Some(m))?;
        }
        self.move_clock(at, m)
    }

    fn move_clock(&mut self, at: i64, m: TimeMap) -> Result<(), BagError> {
        if self.lockstep {
            let now = at.max(self.simulated.now_ns());
            self.tick_until(now, m)?;
            self.simulated.set_ns(now);
            Ok(())
        } else {
            self.wait_until(at, m)
        }
    }

    /// Submits the merged frames the window closed; in lockstep, hands
    /// their outputs on at once (at this instant of the simulated clock).
    fn submit_closed(&mut self, m: Option<TimeMap>) -> Result<(), BagError> {
        for frame in self.closed.drain(..) {
            self.runtime
                .submit_merged(frame.sensor, frame.stamp, frame.job, frame.joined);
            if self.lockstep {
                self.runtime.wait_idle();
            }
        }
        match m {
            Some(m) if self.lockstep => self.drain(m),
            _ => Ok(()),
        }
    }

    /// The end of a pass: the merge window's open set goes as it is.
    fn end_of_pass(&mut self) -> Result<(), BagError> {
        if let Some(window) = self.merge.as_mut() {
            let (runtime, closed) = (&self.runtime, &mut self.closed);
            window.flush(&mut |frame| closed.push(frame), &mut |b| runtime.recycle(b));
        }
        self.submit_closed(None)?;
        match self.map {
            Some(m) => self.drain(m),
            None => Ok(()),
        }
    }

    /// The time map for a message logged at `log_time`. Bag time jumping
    /// back (the next pass of a loop, or a bag recorded across a sim-time
    /// reset) starts a new run, mapped onto the clock from where it is now,
    /// which keeps going forward.
    fn time_map(&mut self, log_time: i64) -> TimeMap {
        let now = if self.lockstep {
            self.simulated.now_ns()
        } else {
            self.clock.now_ns()
        };
        if let (Some(last), Some(m)) = (self.last_log, self.map.as_mut())
            && log_time < last.saturating_sub(TIME_JUMP_NS)
        {
            m.bag_start = log_time;
            m.clock_start = now;
            self.runtime.time_jumped_back();
        }
        self.last_log = Some(log_time);
        let lockstep = self.lockstep;
        let m = *self.map.get_or_insert(TimeMap {
            bag_start: log_time,
            clock_start: if lockstep { log_time } else { now },
            rate: self.rate,
        });
        if let Some(observer) = self.outputs.observer.as_mut() {
            observer.origin.get_or_insert(m.clock_start);
        }
        m
    }

    /// Lockstep: runs the watchdog at every period of simulated time up to
    /// `now`.
    fn tick_until(&mut self, now: i64, m: TimeMap) -> Result<(), BagError> {
        let tick = self.next_tick.get_or_insert(now);
        while *tick <= now {
            if let Some(status) = self.runtime.tick_watchdog(*tick) {
                self.outputs.account(m, Event::Status(status), None)?;
            }
            *tick += self.period;
        }
        Ok(())
    }

    /// Realtime: waits for the pipeline clock to reach `at`, handing each
    /// output on the moment the runtime reports it (as the node's publisher
    /// does), so the hand-off time measures the pipeline, not the pace of
    /// the bag. The wait is on the event channel with a timeout: realtime
    /// runs on the monotonic clock, whose time the timeout counts.
    fn wait_until(&mut self, at: i64, m: TimeMap) -> Result<(), BagError> {
        loop {
            let wait = at - self.clock.now_ns();
            if wait <= 0 {
                return Ok(());
            }
            let timeout = std::time::Duration::from_nanos(wait as u64);
            match self.runtime.events().recv_timeout(timeout) {
                Ok(event) => self.outputs.account(m, event, Some(&self.runtime))?,
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => return Ok(()),
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                    self.clock.sleep_ns(at - self.clock.now_ns());
                    return Ok(());
                }
            }
        }
    }

    /// Accounts every event the runtime has reported so far.
    fn drain(&mut self, m: TimeMap) -> Result<(), BagError> {
        let events: Vec<Event<ObstacleBatch>> = self.runtime.events().try_iter().collect();
        for event in events {
            self.outputs.account(m, event, Some(&self.runtime))?;
        }
        Ok(())
    }

    /// After a pass of a loop: memory sampled with the pipeline idle and
    /// its events handled, so what stays is what the process keeps between
    /// passes, not the frames in flight at the moment the pass ends.
    fn sample_memory(&mut self) -> Result<(), BagError> {
        self.runtime.wait_idle();
        if let Some(m) = self.map {
            self.drain(m)?;
        }
        self.resident.push(resident_bytes());
        // The pool holds up to 64 frame buffers of whatever sizes came
        // back last: bounded, but a different amount at each sample, so it
        // is left out of the heap figure.
        if let Some(bytes) = self.options.observe.heap_probe.and_then(|probe| probe()) {
            self.heap
                .push(bytes.saturating_sub(self.runtime.pooled_bytes()));
        }
        Ok(())
    }

    /// Frames still queued or running are finished, the bag closed, the
    /// report made.
    fn finish(self) -> Result<ScheduledReport, ScheduledReplayError> {
        let Replayer {
            options,
            runtime,
            mut outputs,
            wall,
            started_wall,
            map,
            write_error,
            resident,
            heap,
            variant_names,
            merge,
            ..
        } = self;
        let (shared, rest) = runtime.finish();
        let wall_s = (wall.now_ns() - started_wall) as f64 / 1e9;
        if let Some(m) = map {
            for event in rest {
                // The runtime is finished: nothing is recycled any more.
                outputs.account(m, event, None)?;
            }
        }
        if let Some(e) = write_error {
            return Err(e.into());
        }
        if let Some(out) = outputs.writer {
            out.writer.finish()?;
        }
        let mode = match options.mode {
            Mode::Lockstep => "lockstep".to_owned(),
            Mode::Realtime { rate } => format!("realtime x{rate}"),
        };
        let run = RunFacts {
            mode,
            scheduler: &options.scheduler,
            wall_s,
            variant_names: &variant_names,
        };
        let tracking = outputs.chain.tracker_counters();
        let mut report = report(run, shared, outputs.tally);
        report.tracking = tracking;
        if let Some(window) = &merge {
            report.merge = window
                .counters()
                .map(|(lidar, c)| crate::report::run::MergeReport {
                    lidar: outputs.names[lidar.index()].clone(),
                    scans: c.scans,
                    merged: c.merged,
                    missing: c.missing,
                })
                .collect();
        }
        report.resident_bytes = resident;
        report.heap_bytes = heap;
        if let Some(observer) = outputs.observer {
            report.accuracy = observer.accuracy();
            report.clock_origin_ns = observer.origin.unwrap_or(0);
            report.frames = observer.frames;
            report.obstacles = observer.detections;
            report.published = observer.published;
            if let Some(bev) = observer.bev {
                let written = bev
                    .finish()
                    .map_err(|e| ScheduledReplayError::Setup(format!("bird's-eye view: {e}")))?;
                report.bev_pictures = Some(written);
            }
        }
        Ok(report)
    }
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

impl Outputs {
    fn status(
        &mut self,
        map: TimeMap,
        status: crate::sched::stats::StatusRecord,
    ) -> Result<(), BagError> {
        if let Some(out) = self.writer.as_mut() {
            let at = map.to_bag(status.at_ns);
            let message = status.to_msg(Time::from_nanos(at as i64));
            out.writer.write(out.status, at, &message)?;
        }
        self.tally.statuses.push(status);
        Ok(())
    }

    /// Handles one event: tallies it, runs its output through the chain
    /// into the bag (logged at the moment of hand-off), and hands its
    /// buffers back to `runtime` when it still runs.
    fn account(
        &mut self,
        map: TimeMap,
        event: Event<ObstacleBatch>,
        runtime: Option<&Runtime<ObstacleBatch>>,
    ) -> Result<(), BagError> {
        let (timing, job, outcome, finished, run_ns, mut output) = match event {
            Event::Status(status) => return self.status(map, status),
            Event::Frame {
                timing,
                job,
                outcome,
                finished,
                run_ns,
                output,
                ..
            } => (timing, job, outcome, finished, run_ns, output),
        };
        let i = timing.sensor.index();
        let flagged_late = outcome == Outcome::PublishedLate;
        if flagged_late {
            self.tally.late_by_scheduler[i] += 1;
        }
        let mut late = flagged_late;
        if let Some(batch) = output.as_mut() {
            let writer = &mut self.writer;
            let sensor = batch.sensor;
            let handoff = self.chain.emit(
                batch,
                timing.deadline,
                flagged_late,
                &*self.clock,
                |message, bytes, at| match writer.as_mut() {
                    Some(out) => match out.topic(message, sensor) {
                        Some(topic) => out.writer.write_raw(topic, map.to_bag(at), bytes),
                        None => Ok(()),
                    },
                    None => Ok(()),
                },
            )?;
            // The formats' cost is the scans' (a camera frame's is not
            // timed).
            if self.chain.messages().len() > 1 && batch.kind == BatchKind::Scan {
                self.tally
                    .formats
                    .saturating_record(handoff.formats_ns.max(1) as u64);
                self.tally
                    .formats_encode
                    .saturating_record(handoff.formats_encode_ns.max(1) as u64);
            }
            late = handoff.late;
            self.tally.published_after_deadline += u64::from(handoff.after_deadline);
            self.tally.handoff[i].saturating_record((handoff.at - timing.stamp).max(1) as u64);
        }
        if late {
            self.tally.late_published[i] += 1;
        } else if outcome == Outcome::Published && finished.is_some() {
            self.tally.useful_run_ns += run_ns.unwrap_or(0);
        }
        if let Some(observer) = self.observer.as_mut() {
            observer.frame(
                &self.names,
                &timing,
                outcome,
                run_ns,
                finished,
                // The observer looks at scans; a camera frame's detections
                // are only published.
                output.as_ref().filter(|b| b.kind == BatchKind::Scan),
            );
        }
        if let Some(runtime) = runtime {
            runtime.recycle(job.bytes);
            if let Some(batch) = output {
                runtime.recycle_output(batch);
            }
        }
        Ok(())
    }
}
