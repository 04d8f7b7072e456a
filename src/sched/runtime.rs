//! The threads that move frames: worker lanes that run stages, and a
//! watchdog on its own thread. Lanes plug in through [`Work`]; CUDA stream
//! lanes will implement the same interface.
//!
//! There is no dispatcher thread: the [`Scheduler`] sits under one lock
//! that the submitting thread takes to place an arriving frame (straight
//! into an idle lane's slot when there is one) and that a lane takes when
//! its stage returns, to record the result and pick its own next frame.
//! A frame therefore crosses at most one thread boundary before its stage
//! starts, and none when a lane is already busy. The lock is held only for
//! a decision (well under a microsecond); never across stage work, I/O or
//! a wait.
//!
//! Frames travel as pooled byte buffers (the serialized message), so the
//! steady state allocates nothing. Every time read goes through the
//! [`Clock`] given at start: the monotonic clock for realtime, a simulated
//! one for lockstep replay, where the caller also drives the watchdog
//! ([`Runtime::tick_watchdog`]) at simulated instants.

use super::config::SchedulerConfig;
use super::core::{Drop, Frame, Scheduler, SensorCounters, Timing, Verdict};
use super::sensors::SensorSet;
use super::stats::{LatencyStats, Rejects, StatusRecord};
use super::watchdog::{Health, Heartbeats, Transition, Watchdog};
use crate::clock::Clock;
use crate::ingest::FrameFacts;
pub use crate::stage::{Job, RunContext, Sensor, StageError, Work};
use crossbeam_channel::{Receiver, Sender, bounded, unbounded};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

/// What became of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Published,
    /// Published with its late flag.
    PublishedLate,
    Dropped(Drop),
    /// The stage failed on it (bad input or a stage error).
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Published => "published",
            Outcome::PublishedLate => "published_late",
            Outcome::Dropped(d) => d.as_str(),
            Outcome::Failed => "failed",
        }
    }
}

/// What the runtime reports, in the order it happened. `O` is the lanes'
/// [`Work::Output`].
#[derive(Debug)]
pub enum Event<O> {
    Frame {
        timing: Timing,
        job: Job,
        outcome: Outcome,
        /// When the result was ready (pipeline clock), if the stage ran.
        finished: Option<i64>,
        /// How long the stage ran, if it did.
        run_ns: Option<i64>,
        facts: FrameFacts,
        error: Option<StageError>,
        /// The stage's result, when it is to be published (`Published` or
        /// `PublishedLate`, and the stage handed one on). Hand it back with
        /// [`Runtime::recycle_output`].
        output: Option<O>,
    },
    Status(StatusRecord),
}

/// What a lane hands back when its stage returns.
struct Done<O> {
    frame: Frame<Job>,
    run_ns: i64,
    finished: i64,
    /// The facts, and whether the stage handed a result on in `output`.
    result: Result<(FrameFacts, bool), StageError>,
    output: O,
}

/// Hands published outputs back to the lanes ([`Runtime::recycler`]).
#[derive(Debug, Clone)]
pub struct Recycler<O>(Sender<O>);

impl<O> Recycler<O> {
    pub fn recycle(&self, output: O) {
        let _ = self.0.try_send(output);
    }
}

/// Counters and latencies, written once per event by the thread that
/// decided it and read by the watchdog at status time.
#[derive(Debug, Clone)]
pub struct Shared {
    /// The sensors, by index: what every per-sensor list below is indexed by.
    pub sensors: Arc<SensorSet>,
    pub stats: LatencyStats,
    pub counters: Vec<SensorCounters>,
    /// Failed frames by reason, per sensor.
    pub rejects: Vec<Rejects>,
    pub transitions: Vec<Transition>,
    /// Times time jumped backwards (bag loops, sim-time resets): each
    /// started a new run (queues emptied, watchdog reset).
    pub time_jumps: u64,
}

impl Shared {
    fn new(sensors: Arc<SensorSet>) -> Self {
        let n = sensors.len();
        Shared {
            sensors,
            stats: LatencyStats::new(n),
            counters: vec![SensorCounters::default(); n],
            rejects: vec![Rejects::default(); n],
            transitions: Vec::new(),
            time_jumps: 0,
        }
    }

    /// A health change in words, the sensor named.
    pub fn describe(&self, transition: &Transition) -> String {
        transition.cause.describe(&self.sensors)
    }
}

/// The clock going back this far, or a header stamp this far behind its
/// sensor's previous one, starts a new run (a sim-time reset, a bag loop);
/// smaller steps back are clock jitter or reordering, handled per frame.
pub const TIME_JUMP_NS: i64 = 1_000_000_000;

struct Watch {
    watchdog: Watchdog,
    last_status: Option<i64>,
}

/// The scheduler and the lanes' state: what the submitter and the lanes
/// decide under one lock, held only for a decision (well under a
/// microsecond), never across stage work, I/O or a wait.
struct Core {
    scheduler: Scheduler<Job>,
    /// Each lane's slot (one frame) and whether it is running one.
    lanes: Vec<(Sender<Frame<Job>>, bool)>,
    /// The clock at the last arrival, and each sensor's last stamp: where
    /// a jump backwards shows.
    last_now: i64,
    last_stamp: Vec<i64>,
}

impl Core {
    fn quiet(&self) -> bool {
        self.scheduler.pending() == 0 && self.lanes.iter().all(|(_, busy)| !busy)
    }
}

/// What the submitter and the lanes share.
struct Hub<O> {
    core: Mutex<Core>,
    /// Signalled whenever the core goes quiet (nothing queued or running).
    quiet: Condvar,
    events: Sender<Event<O>>,
    /// Recycled outputs: the chain hands them back, lanes take them.
    outputs: (Sender<O>, Receiver<O>),
    clock: Arc<dyn Clock>,
    sensors: Arc<SensorSet>,
    shared: Arc<Mutex<Shared>>,
    beats: Arc<Heartbeats>,
    /// Locked after `core`, never the other way round.
    watch: Arc<Mutex<Watch>>,
}

/// The running pipeline; `O` is its lanes' [`Work::Output`].
pub struct Runtime<O> {
    hub: Arc<Hub<O>>,
    events: Receiver<Event<O>>,
    pool: (Sender<Vec<u8>>, Receiver<Vec<u8>>),
    /// The watchdog's state and the shared handles it reads.
    ticker: Ticker,
    stop_watchdog: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking thread cannot leave these half-updated in a way that
    // matters more than losing the counters: keep going.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl<O: Default + Send + 'static> Runtime<O> {
    /// Starts one lane per element of `lanes`, serving `sensors` (a
    /// [`Sensor`] submitted is an index into it). `lockstep`: the caller
    /// waits for idle after each frame ([`Runtime::wait_idle`]) and drives
    /// the watchdog itself; otherwise the watchdog runs on its own thread.
    pub fn start<W: Work<Output = O>>(
        config: &SchedulerConfig,
        sensors: SensorSet,
        clock: Arc<dyn Clock>,
        lanes: Vec<W>,
        lockstep: bool,
    ) -> Self {
        let (event_tx, events) = unbounded();
        let pool = bounded(64);
        let sensors = Arc::new(sensors);
        let shared = Arc::new(Mutex::new(Shared::new(sensors.clone())));
        let beats = Arc::new(Heartbeats::new(lanes.len(), sensors.len()));
        let health = Arc::new(AtomicU8::new(Health::Ok as u8));
        let watch = Arc::new(Mutex::new(Watch {
            watchdog: Watchdog::new(config, &sensors),
            last_status: None,
        }));
        let mut slots = Vec::new();
        let mut inboxes = Vec::new();
        for _ in 0..lanes.len() {
            let (tx, rx) = bounded::<Frame<Job>>(1);
            slots.push((tx, false));
            inboxes.push(rx);
        }
        let hub = Arc::new(Hub {
            core: Mutex::new(Core {
                scheduler: Scheduler::new(config, &sensors),
                lanes: slots,
                last_now: i64::MIN,
                last_stamp: vec![i64::MIN; sensors.len()],
            }),
            quiet: Condvar::new(),
            events: event_tx.clone(),
            outputs: bounded(64),
            clock: clock.clone(),
            sensors: sensors.clone(),
            shared: shared.clone(),
            beats: beats.clone(),
            watch: watch.clone(),
        });
        let mut threads = Vec::new();
        for (index, (work, inbox)) in lanes.into_iter().zip(inboxes).enumerate() {
            let lane = Lane {
                index,
                work,
                inbox,
                hub: hub.clone(),
                sensors: sensors.clone(),
                health: health.clone(),
            };
            threads.push(
                std::thread::Builder::new()
                    .name(format!("lookout-lane-{index}"))
                    .spawn(move || lane.run())
                    .expect("spawning a lane thread"),
            );
        }
        let runtime = Runtime {
            hub,
            events,
            pool,
            ticker: Ticker {
                watch,
                shared,
                beats,
                health,
                clock,
            },
            stop_watchdog: Arc::new(AtomicBool::new(false)),
            threads,
        };
        if lockstep {
            runtime
        } else {
            runtime.spawn_watchdog(event_tx)
        }
    }

    fn spawn_watchdog(mut self, events: Sender<Event<O>>) -> Self {
        let ticker = self.ticker.clone();
        let stop = self.stop_watchdog.clone();
        self.threads.push(
            std::thread::Builder::new()
                .name("lookout-watchdog".into())
                .spawn(move || {
                    let period = lock(&ticker.watch).watchdog.period_ns();
                    let mut next = ticker.clock.now_ns() + period;
                    while !stop.load(Ordering::Acquire) {
                        ticker.clock.sleep_ns(next - ticker.clock.now_ns());
                        next += period;
                        if let Some(status) = ticker.tick(ticker.clock.now_ns()) {
                            let _ = events.send(Event::Status(status));
                        }
                    }
                })
                .expect("spawning the watchdog"),
        );
        self
    }

    /// An empty buffer for the next message (recycled when possible).
    pub fn buffer(&self) -> Vec<u8> {
        self.pool.1.try_recv().unwrap_or_default()
    }

    /// Bytes held by the pooled buffers (their capacity): how much of the
    /// heap is the pool's at this instant. Meant for an idle runtime (a
    /// memory sample between passes of a loop); never on the hot path.
    pub fn pooled_bytes(&self) -> u64 {
        let buffers: Vec<Vec<u8>> = self.pool.1.try_iter().collect();
        let bytes = buffers.iter().map(|b| b.capacity() as u64).sum();
        for buffer in buffers {
            let _ = self.pool.0.try_send(buffer);
        }
        bytes
    }

    /// Hands a frame's buffer back.
    pub fn recycle(&self, mut buffer: Vec<u8>) {
        buffer.clear();
        let _ = self.pool.0.try_send(buffer);
    }

    /// Hands a published output back, for a lane to fill again.
    pub fn recycle_output(&self, output: O) {
        let _ = self.hub.outputs.0.try_send(output);
    }

    /// A handle that hands outputs back from another thread (the node's
    /// publisher).
    pub fn recycler(&self) -> Recycler<O> {
        Recycler(self.hub.outputs.0.clone())
    }

    /// A frame of `sensor` stamped `stamp` (pipeline clock) arrives now.
    /// Decided here, in the caller's thread: when it returns, the frame is
    /// dropped, queued, or already in an idle lane's hands.
    pub fn submit(&mut self, sensor: Sensor, stamp: i64, job: Job) {
        self.hub.arrive(sensor, stamp, job, 0);
    }

    /// As [`Runtime::submit`], for a frame that carries other sensors'
    /// messages too (`joined`, a bit per sensor index: the scans merged
    /// into one): each counts as received and as heard from now.
    pub fn submit_merged(&mut self, sensor: Sensor, stamp: i64, job: Job, joined: u64) {
        self.hub.arrive(sensor, stamp, job, joined);
    }

    /// Time jumped backwards (a bag loop or a sim-time reset the caller
    /// saw): start a new run now. The runtime notices a clock going back,
    /// or a stamp more than [`TIME_JUMP_NS`] behind its sensor's last, by
    /// itself (by more than [`TIME_JUMP_NS`]); replay, which keeps its clock
    /// monotonic, says so here.
    pub fn time_jumped_back(&self) {
        let mut core = lock(&self.hub.core);
        let now = self.hub.clock.now_ns();
        self.hub.restart(&mut core, now);
    }

    /// Waits until every submitted frame is finished or dropped.
    pub fn wait_idle(&self) {
        let mut core = lock(&self.hub.core);
        while !core.quiet() {
            core = self.hub.quiet.wait(core).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Lockstep: runs the watchdog at `now`; a status record when one is due.
    pub fn tick_watchdog(&self, now: i64) -> Option<StatusRecord> {
        self.ticker.tick(now)
    }

    pub fn events(&self) -> &Receiver<Event<O>> {
        &self.events
    }

    pub fn health(&self) -> Health {
        lock(&self.ticker.watch).watchdog.health()
    }

    /// Processes what is queued, stops every thread, returns the totals and
    /// any events not yet taken.
    pub fn finish(mut self) -> (Shared, Vec<Event<O>>) {
        self.wait_idle();
        // Closing the slots ends the lanes.
        lock(&self.hub.core).lanes.clear();
        self.stop_watchdog.store(true, Ordering::Release);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
        let rest = self.events.try_iter().collect();
        (lock(&self.ticker.shared).clone(), rest)
    }
}

#[derive(Clone)]
struct Ticker {
    watch: Arc<Mutex<Watch>>,
    shared: Arc<Mutex<Shared>>,
    beats: Arc<Heartbeats>,
    health: Arc<AtomicU8>,
    clock: Arc<dyn Clock>,
}

impl Ticker {
    fn tick(&self, now: i64) -> Option<StatusRecord> {
        let mut watch = lock(&self.watch);
        let transition = watch.watchdog.evaluate(now, &self.beats);
        let period = watch.watchdog.status_period_ns();
        let due = watch.last_status.is_none_or(|last| now - last >= period);
        if transition.is_none() && !due {
            return None;
        }
        watch.last_status = Some(now);
        self.health
            .store(watch.watchdog.health() as u8, Ordering::Release);
        let mut shared = lock(&self.shared);
        if let Some(t) = transition {
            tracing::warn!(
                "health {} -> {}: {}",
                t.from.as_str(),
                t.to.as_str(),
                shared.describe(&t)
            );
            shared.transitions.push(t);
        }
        Some(StatusRecord::new(
            now,
            watch.watchdog.health(),
            watch.watchdog.cause(),
            &shared.sensors,
            &shared.stats,
            &shared.counters,
            &shared.rejects,
        ))
    }
}

struct Lane<W: Work> {
    index: usize,
    work: W,
    inbox: Receiver<Frame<Job>>,
    hub: Arc<Hub<W::Output>>,
    sensors: Arc<SensorSet>,
    health: Arc<AtomicU8>,
}

impl<W: Work> Lane<W> {
    /// Waits for a frame only when nothing is queued: after each frame the
    /// lane takes the next earliest-deadline one itself, with no handoff.
    fn run(mut self) {
        while let Ok(mut frame) = self.inbox.recv() {
            loop {
                let done = self.execute(frame);
                match self.hub.complete(self.index, done) {
                    Some(next) => frame = next,
                    None => break,
                }
            }
        }
    }

    fn execute(&mut self, frame: Frame<Job>) -> Done<W::Output> {
        let sensor = frame.timing.sensor;
        // One span per stage run (a Chrome trace's slice on this lane's
        // track with `--trace-out`). Debug level: off by default, so the
        // hot path pays nothing unless tracing asks for it.
        let _span = stage_span(&frame.timing, &self.sensors).entered();
        let clock = &self.hub.clock;
        let started = clock.now_ns();
        let result = if self.sensors.fails(sensor, frame.timing.index) {
            Err(StageError::stage("injected stage error"))
        } else {
            let context = RunContext {
                stamp: frame.timing.stamp,
                deadline: frame.timing.deadline,
                clock: &**clock,
                variant: frame.timing.variant as usize,
            };
            self.work.run(sensor, &frame.job, &context)
        };
        clock.sleep_ns(self.sensors.delay_ns(sensor, frame.timing.index));
        let finished = clock.now_ns();
        let mut output = self.hub.outputs.1.try_recv().unwrap_or_default();
        let result = result.map(|facts| {
            let degraded = self.health.load(Ordering::Acquire) == Health::Error as u8;
            let handed_on = self.work.output(sensor, finished, degraded, &mut output);
            (facts, handed_on)
        });
        Done {
            frame,
            run_ns: finished - started,
            finished,
            result,
            output,
        }
    }
}

impl<O: Send + 'static> Hub<O> {
    fn arrive(&self, sensor: Sensor, stamp: i64, job: Job, joined: u64) {
        let mut core = lock(&self.core);
        let now = self.clock.now_ns();
        let i = sensor.index();
        // Small steps back are not a new run: the node's ROS clock
        // interpolates between `/clock` updates and steps back a little
        // when one lands behind its estimate.
        if now < core.last_now.saturating_sub(TIME_JUMP_NS)
            || stamp < core.last_stamp[i].saturating_sub(TIME_JUMP_NS)
        {
            self.restart(&mut core, now);
        }
        core.last_now = now;
        core.last_stamp[i] = stamp;
        self.beats.arrived(sensor, now);
        for other in Sensor::all(core.scheduler.sensors()).filter(|s| joined >> s.index() & 1 == 1)
        {
            self.beats.arrived(other, now);
            core.scheduler.joined(other);
        }
        let (events, sensors) = (&self.events, &*self.sensors);
        core.scheduler
            .offer(sensor, stamp, now, job, &mut |frame, drop| {
                report_drop(events, sensors, frame, drop)
            });
        self.dispatch(&mut core, now);
        self.settle(&core);
    }

    /// A new run: queued frames dropped as superseded, heartbeats and the
    /// watchdog reset, the jump counted. Frames already running finish and
    /// are accounted as usual.
    fn restart(&self, core: &mut Core, now: i64) {
        let (events, sensors) = (&self.events, &*self.sensors);
        core.scheduler
            .restart(&mut |frame, drop| report_drop(events, sensors, frame, drop));
        core.last_stamp.fill(i64::MIN);
        self.beats.reset();
        let transition = {
            let mut watch = lock(&self.watch);
            watch.last_status = None;
            watch.watchdog.restart(now)
        };
        let mut shared = lock(&self.shared);
        shared.time_jumps += 1;
        shared.transitions.extend(transition);
        tracing::warn!(
            "time jumped backwards (bag loop or sim-time reset): a new run at {now} ns; queues emptied, watchdog reset"
        );
    }

    /// Records lane `lane`'s result; the lane's next frame, if one waits.
    fn complete(&self, lane: usize, done: Done<O>) -> Option<Frame<Job>> {
        let mut core = lock(&self.core);
        core.lanes[lane].1 = false;
        self.beats.lane_idle(lane);
        self.record(&mut core.scheduler, done);
        let now = self.clock.now_ns();
        let (events, sensors) = (&self.events, &*self.sensors);
        let next = core.scheduler.next(now, &mut |frame, drop| {
            report_drop(events, sensors, frame, drop)
        });
        if let Some(frame) = &next {
            core.lanes[lane].1 = true;
            self.beats
                .lane_started(lane, frame.timing.sensor, frame.timing.deadline);
        }
        self.settle(&core);
        next
    }

    fn record(&self, scheduler: &mut Scheduler<Job>, done: Done<O>) {
        let Done {
            frame,
            run_ns,
            finished,
            result,
            output,
        } = done;
        let timing = frame.timing;
        let verdict = scheduler.finished(&timing, run_ns, finished, result.is_ok());
        {
            let mut shared = lock(&self.shared);
            shared.stats.record_run(timing.sensor, run_ns);
            if let Err(error) = &result {
                shared.rejects[timing.sensor.index()].record(error);
            }
            if verdict != Verdict::DropLate {
                shared
                    .stats
                    .record_end_to_end(timing.sensor, finished - timing.stamp);
            }
        }
        let (outcome, facts, error, handed_on) = match result {
            Err(error) => (Outcome::Failed, FrameFacts::default(), Some(error), false),
            Ok((facts, handed_on)) => {
                let outcome = match verdict {
                    Verdict::Publish => Outcome::Published,
                    Verdict::PublishLate => Outcome::PublishedLate,
                    Verdict::DropLate => Outcome::Dropped(Drop::Late),
                };
                (
                    outcome,
                    facts,
                    None,
                    handed_on && verdict != Verdict::DropLate,
                )
            }
        };
        let output = if handed_on {
            Some(output)
        } else {
            // Not published: straight back to the pool.
            let _ = self.outputs.0.try_send(output);
            None
        };
        if !matches!(outcome, Outcome::Published | Outcome::PublishedLate) {
            trace_unpublished(&timing, &self.sensors, outcome);
        }
        let _ = self.events.send(Event::Frame {
            timing,
            job: frame.job,
            outcome,
            finished: Some(finished),
            run_ns: Some(run_ns),
            facts,
            error,
            output,
        });
    }

    /// Hands the earliest-deadline frames to idle lanes.
    fn dispatch(&self, core: &mut Core, now: i64) {
        while let Some(lane) = core.lanes.iter().position(|(_, busy)| !busy) {
            let (events, sensors) = (&self.events, &*self.sensors);
            let Some(frame) = core.scheduler.next(now, &mut |frame, drop| {
                report_drop(events, sensors, frame, drop)
            }) else {
                break;
            };
            self.beats
                .lane_started(lane, frame.timing.sensor, frame.timing.deadline);
            let (slot, busy) = &mut core.lanes[lane];
            // An idle lane has taken its last frame, so its slot is empty;
            // a send fails only when the lane thread is gone.
            match slot.try_send(frame) {
                Ok(()) => *busy = true,
                Err(e) => {
                    self.beats.lane_idle(lane);
                    let error = StageError {
                        reason: StageError::NO_LANE,
                        message: format!("lane {lane} has stopped"),
                    };
                    report_failed(events, sensors, e.into_inner(), error);
                    break;
                }
            }
        }
    }

    /// Publishes the counters for the watchdog and wakes waiters on quiet.
    fn settle(&self, core: &Core) {
        {
            let mut shared = lock(&self.shared);
            for sensor in Sensor::all(core.scheduler.sensors()) {
                let counters = *core.scheduler.counters(sensor);
                self.beats.set_misses(sensor, counters.consecutive_misses);
                shared.counters[sensor.index()] = counters;
            }
        }
        if core.quiet() {
            self.quiet.notify_all();
        }
    }
}

/// The span a stage run is recorded in (a `stage` slice in a Chrome
/// trace), carrying the sensor's name, the frame, its stamp and deadline
/// (pipeline clock, ns).
fn stage_span(timing: &Timing, sensors: &SensorSet) -> tracing::Span {
    tracing::debug_span!(
        target: "lookout::stage",
        "stage",
        sensor = sensors.name(timing.sensor),
        frame = timing.index,
        seq = timing.seq,
        stamp_ns = timing.stamp,
        deadline_ns = timing.deadline,
        variant = timing.variant,
        budget_ns = timing.budget_ns
    )
}

/// A frame that ended without a result: an instant event (a drop marker in
/// a Chrome trace) on the thread that decided it.
fn trace_unpublished(timing: &Timing, sensors: &SensorSet, outcome: Outcome) {
    tracing::debug!(
        target: "lookout::drop",
        sensor = sensors.name(timing.sensor),
        frame = timing.index,
        seq = timing.seq,
        stamp_ns = timing.stamp,
        deadline_ns = timing.deadline,
        outcome = outcome.as_str(),
        "frame not published"
    );
}

fn report_drop<O>(events: &Sender<Event<O>>, sensors: &SensorSet, frame: Frame<Job>, drop: Drop) {
    report_unrun(events, sensors, frame, Outcome::Dropped(drop), None);
}

fn report_failed<O>(
    events: &Sender<Event<O>>,
    sensors: &SensorSet,
    frame: Frame<Job>,
    error: StageError,
) {
    report_unrun(events, sensors, frame, Outcome::Failed, Some(error));
}

/// A frame that never ran.
fn report_unrun<O>(
    events: &Sender<Event<O>>,
    sensors: &SensorSet,
    frame: Frame<Job>,
    outcome: Outcome,
    error: Option<StageError>,
) {
    trace_unpublished(&frame.timing, sensors, outcome);
    let _ = events.send(Event::Frame {
        timing: frame.timing,
        job: frame.job,
        outcome,
        finished: None,
        run_ns: None,
        facts: FrameFacts::default(),
        error,
        output: None,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SimulatedClock;
    use crate::ingest::InputKind;

    const MS: i64 = 1_000_000;

    /// Fails every frame while `failing` says so.
    struct Flaky(Arc<AtomicBool>);

    impl Work for Flaky {
        type Output = ();

        fn run(
            &mut self,
            _: Sensor,
            _: &Job,
            _: &RunContext<'_>,
        ) -> Result<FrameFacts, StageError> {
            if self.0.load(Ordering::Acquire) {
                Err(StageError::stage("injected"))
            } else {
                Ok(FrameFacts::default())
            }
        }

        fn output(&mut self, _: Sensor, _: i64, _: bool, _: &mut ()) -> bool {
            false
        }
    }

    fn job() -> Job {
        Job::single(InputKind::PointCloud2, Vec::new(), 0)
    }

    /// A sim-time reset (the clock itself goes back): the runtime notices
    /// on the next arrival, starts a new run (the ERROR of the old one is
    /// cleared at once, the jump counted) and takes the new run's frames.
    #[test]
    fn a_clock_going_back_starts_a_new_run() {
        let clock = SimulatedClock::new(100_000 * MS);
        let failing = Arc::new(AtomicBool::new(true));
        let mut runtime = Runtime::start(
            &SchedulerConfig::default(),
            SensorSet::default_rig(&SchedulerConfig::default(), &Default::default()),
            Arc::new(clock.clone()),
            vec![Flaky(failing.clone())],
            true,
        );
        for i in 0..8 {
            let now = 100_000 * MS + i * 100 * MS;
            clock.set_ns(now);
            runtime.submit(Sensor::LIDAR, now - 10 * MS, job());
            runtime.wait_idle();
            runtime.tick_watchdog(now);
        }
        assert_eq!(runtime.health(), Health::Error);
        failing.store(false, Ordering::Release);
        // Back to 5 s: a new run.
        clock.set_ns(5_000 * MS);
        runtime.submit(Sensor::LIDAR, 4_990 * MS, job());
        runtime.wait_idle();
        runtime.tick_watchdog(5_000 * MS);
        assert_eq!(runtime.health(), Health::Ok);
        let (shared, _) = runtime.finish();
        assert_eq!(shared.time_jumps, 1);
        let lidar = &shared.counters[Sensor::LIDAR.index()];
        assert_eq!(lidar.received, 9);
        assert_eq!(lidar.published, 1, "{lidar:?}");
        assert_eq!(lidar.consecutive_misses, 0);
    }

    /// A bag loop seen in the stamps alone (more than a second back) is a
    /// new run too; a small step back of the stamps or of the clock (the
    /// node's interpolated ROS clock does that) is not.
    #[test]
    fn a_stamp_a_second_back_starts_a_new_run_a_small_step_does_not() {
        let clock = SimulatedClock::new(10_000 * MS);
        let mut runtime = Runtime::start(
            &SchedulerConfig::default(),
            SensorSet::default_rig(&SchedulerConfig::default(), &Default::default()),
            Arc::new(clock.clone()),
            vec![Flaky(Arc::new(AtomicBool::new(false)))],
            true,
        );
        for (now, stamp) in [(10_000, 9_990), (9_990, 9_900), (9_995, 8_000)] {
            clock.set_ns(now * MS);
            runtime.submit(Sensor::LIDAR, stamp * MS, job());
            runtime.wait_idle();
        }
        let (shared, _) = runtime.finish();
        assert_eq!(shared.time_jumps, 1);
    }
}
