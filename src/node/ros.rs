//! The r2r side of the node: subscriptions, publishers, parameters, time.
//!
//! Threads: the caller's thread spins the node and submits each received
//! message to the deadline runtime (decode and stages run on the lanes);
//! one output thread publishes results and status as the runtime reports
//! them. Messages stay serialized CDR end to end: r2r hands over the bytes
//! it received, the lanes decode them in place, results are published with
//! `publish_raw`.

use super::overhead::Overhead;
use super::params::{ImageTransport, NodeSettings, ParamError, ParamValue, Reliability};
use super::present::{InputRejects, Presenter};
use crate::camera::engine::EngineOptions;
use crate::clock::{Clock, MonotonicClock, SystemClock};
use crate::ingest::InputKind;
use crate::msg::Time;
use crate::output::{BatchKind, EgoSource, ObstacleBatch, OutputChain, Route, route_of};
use crate::pipeline::{build_lanes, sensor_set};
use crate::sched::runtime::{Event, Outcome, Recycler, Runtime};
use futures::StreamExt;
use futures::executor::{LocalPool, LocalSpawner};
use futures::task::LocalSpawnExt;
use r2r::{ParameterValue, QosProfile};
use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Why the node could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Parameter(#[from] ParamError),
    #[error("ROS: {0}")]
    Ros(#[from] r2r::Error),
    #[error("model '{path}': {detail}")]
    Model { path: String, detail: String },
    #[error("lidar configuration: {0}")]
    Lidar(#[from] crate::validate::ConfigError),
    #[error("node.rig: {0}")]
    Rig(#[from] crate::rig::RigError),
    #[error("node.rig {rig}: {detail}")]
    Incomplete { rig: String, detail: String },
}

const NODE_NAME: &str = "lookout";
/// The ROS package (package.xml) whose share directory holds `models/`.
const PACKAGE: &str = "lookout";

/// ROS time for `use_sim_time`: `/clock`, interpolated with the monotonic
/// clock between its updates. `/clock` moves in steps (often 10 ms or
/// coarser), and stage run times and admission estimates need real
/// resolution; deadlines need the simulated epoch. Never goes backwards
/// while `/clock` does not.
struct RosClock {
    ros: Arc<Mutex<r2r::Clock>>,
    steady: MonotonicClock,
    /// (last `/clock` reading, steady time it was first seen, last returned)
    state: Mutex<(i64, i64, i64)>,
}

impl RosClock {
    fn new(ros: Arc<Mutex<r2r::Clock>>) -> Self {
        RosClock {
            ros,
            steady: MonotonicClock::new(),
            state: Mutex::new((i64::MIN, 0, i64::MIN)),
        }
    }
}

impl Clock for RosClock {
    fn now_ns(&self) -> i64 {
        let ros_ns = {
            let mut clock = self.ros.lock().unwrap_or_else(|e| e.into_inner());
            clock.get_now().map(|d| d.as_nanos() as i64).unwrap_or(0)
        };
        let steady = self.steady.now_ns();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (last_ros, seen_at, last_returned) = &mut *state;
        if ros_ns != *last_ros {
            *last_ros = ros_ns;
            *seen_at = steady;
            // /clock went back (a bag restarted): follow it.
            if ros_ns < *last_returned {
                *last_returned = ros_ns;
            }
        }
        let now = (*last_ros + (steady - *seen_at)).max(*last_returned);
        *last_returned = now;
        now
    }

    fn sleep_ns(&self, ns: i64) {
        self.steady.sleep_ns(ns)
    }
}

fn from_ros(value: &ParameterValue) -> Option<ParamValue> {
    Some(match value {
        ParameterValue::Bool(b) => ParamValue::Bool(*b),
        ParameterValue::Integer(i) => ParamValue::Integer(*i),
        ParameterValue::Double(x) => ParamValue::Double(*x),
        ParameterValue::String(s) => ParamValue::String(s.clone()),
        ParameterValue::BoolArray(v) => ParamValue::BoolArray(v.clone()),
        ParameterValue::IntegerArray(v) => ParamValue::IntegerArray(v.clone()),
        ParameterValue::DoubleArray(v) => ParamValue::DoubleArray(v.clone()),
        ParameterValue::StringArray(v) => ParamValue::StringArray(v.clone()),
        ParameterValue::ByteArray(_) | ParameterValue::NotSet => return None,
    })
}

fn to_ros(value: &ParamValue) -> ParameterValue {
    match value {
        ParamValue::Bool(b) => ParameterValue::Bool(*b),
        ParamValue::Integer(i) => ParameterValue::Integer(*i),
        ParamValue::Double(x) => ParameterValue::Double(*x),
        ParamValue::String(s) => ParameterValue::String(s.clone()),
        ParamValue::BoolArray(v) => ParameterValue::BoolArray(v.clone()),
        ParamValue::IntegerArray(v) => ParameterValue::IntegerArray(v.clone()),
        ParamValue::DoubleArray(v) => ParameterValue::DoubleArray(v.clone()),
        ParamValue::StringArray(v) => ParameterValue::StringArray(v.clone()),
    }
}

/// Parameters r2r or ROS itself owns, not Lookout.
fn is_ros_parameter(name: &str) -> bool {
    matches!(name, "use_sim_time" | "qos_overrides") || name.starts_with("qos_overrides.")
}

/// Reads the overrides given on the command line / params file, validates
/// them, and declares every parameter with its effective value.
fn settings(node: &mut r2r::Node) -> Result<NodeSettings, NodeError> {
    let overrides: Vec<(String, ParamValue)> = {
        let params = node.params.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::new();
        for (name, p) in params.iter() {
            if is_ros_parameter(name) {
                continue;
            }
            let value = from_ros(&p.value).ok_or_else(|| ParamError::WrongType {
                name: name.clone(),
                expected: "a value",
                got: "an unsupported type",
            })?;
            out.push((name.clone(), value));
        }
        out
    };
    let settings = NodeSettings::from_parameters(&overrides)?;
    let mut params = node.params.lock().unwrap_or_else(|e| e.into_inner());
    for (name, value) in settings.parameters() {
        params.insert(name, r2r::Parameter::new(to_ros(&value)));
    }
    Ok(settings)
}

fn qos(settings: &NodeSettings) -> QosProfile {
    let depth = settings.node.queue_depth as usize;
    match settings.node.reliability {
        Reliability::BestEffort => QosProfile::sensor_data().keep_last(depth),
        Reliability::Reliable => QosProfile::default().keep_last(depth),
    }
}

/// The detector, the rig and fusion, as the parameters say.
fn camera_side(settings: &NodeSettings) -> Result<crate::pipeline::CameraSide, NodeError> {
    let config = &settings.pipeline;
    let share =
        |path: &str| in_package_share(Path::new(path), std::env::var_os("AMENT_PREFIX_PATH"));
    let model = (!settings.node.model.is_empty()).then(|| share(&settings.node.model));
    if let Some(model) = &model {
        tracing::info!("camera model {}", model.display());
    }
    let options = EngineOptions {
        backend: settings.node.engine,
        threads: settings.node.engine_threads as usize,
        onnxruntime_library: None,
        onnxruntime_providers: settings
            .node
            .ort_providers()
            .expect("validated with the parameters"),
        tensorrt: settings.node.tensorrt.clone(),
        gpu: settings.node.gpu,
    };
    let calibration = config.fusion.calibration.as_str();
    let model_error = |detail: String| NodeError::Model {
        path: settings.node.model.clone(),
        detail,
    };
    if !settings.node.rig.is_empty() {
        let rig = share(&settings.node.rig);
        return crate::pipeline::CameraSide::load(
            model.as_deref(),
            options,
            &config.fusion,
            None,
            Some(&rig),
        )
        .map_err(|e| match e {
            crate::pipeline::SetupError::Rig(e) => NodeError::Rig(e),
            e => model_error(e.to_string()),
        });
    }
    super::camera_side(
        model.as_deref(),
        options,
        &config.fusion,
        calibration,
        &share(calibration),
    )
    .map_err(|e| model_error(e.to_string()))
}

/// A relative path that does not exist from the working directory is looked
/// up in the package's installed share directory (`<prefix>/share/lookout`
/// for each prefix of `AMENT_PREFIX_PATH`), where colcon puts `models/`: so
/// `node.model: models/nanodet-m-416.yaml` works from any directory.
fn in_package_share(path: &Path, prefixes: Option<std::ffi::OsString>) -> std::path::PathBuf {
    if path.is_absolute() || path.exists() {
        return path.to_path_buf();
    }
    prefixes
        .iter()
        .flat_map(std::env::split_paths)
        .map(|prefix| prefix.join("share").join(PACKAGE).join(path))
        .find(|candidate| candidate.exists())
        .unwrap_or_else(|| path.to_path_buf())
}

/// What the node itself rejected before the pipeline. Locked only when a
/// camera_info arrives and at status time (a few times a second).
#[derive(Default)]
struct NodeCounters {
    camera_info: Arc<Mutex<InputRejects>>,
}

/// `node.realtime_priority` as three SCHED_FIFO levels: the spin thread at
/// the base, lanes one above (a frame in flight is not held up while the
/// next message is taken), the publisher two above (short, and every result
/// waits for it). Threads inherit the level of the thread that starts them,
/// so [`RealtimeLevels::enter`] is called before each start.
struct RealtimeLevels {
    base: i64,
}

impl RealtimeLevels {
    const LANES: i64 = 1;
    const PUBLISHER: i64 = 2;

    /// Tries the base level on the calling thread; a refusal (no privilege)
    /// is a warning and normal scheduling from then on: the node still runs.
    fn new(base: i64) -> Self {
        if base == 0 {
            return RealtimeLevels { base };
        }
        match set_fifo_priority(base) {
            Ok(()) => {
                tracing::info!(
                    "SCHED_FIFO: spin thread {base}, lanes {}, publisher {}",
                    base + Self::LANES,
                    base + Self::PUBLISHER
                );
                RealtimeLevels { base }
            }
            Err(e) => {
                tracing::warn!(
                    "node.realtime_priority {base} not applied ({e}; needs root, CAP_SYS_NICE or an rtprio limit): normal scheduling"
                );
                RealtimeLevels { base: 0 }
            }
        }
    }

    /// Moves the calling thread `boost` levels above the base.
    fn enter(&self, boost: i64) {
        if self.base > 0
            && let Err(e) = set_fifo_priority(self.base + boost)
        {
            tracing::warn!("SCHED_FIFO {}: {e}", self.base + boost);
        }
    }
}

fn set_fifo_priority(priority: i64) -> Result<(), String> {
    use thread_priority::{
        RealtimeThreadSchedulePolicy, ThreadPriority, ThreadPriorityValue, ThreadSchedulePolicy,
        set_thread_priority_and_policy, thread_native_id,
    };
    let value = u8::try_from(priority)
        .ok()
        .and_then(|p| ThreadPriorityValue::try_from(p).ok())
        .ok_or_else(|| format!("{priority} is out of range"))?;
    set_thread_priority_and_policy(
        thread_native_id(),
        ThreadPriority::Crossplatform(value),
        ThreadSchedulePolicy::Realtime(RealtimeThreadSchedulePolicy::Fifo),
    )
    .map_err(|e| format!("{e:?}"))
}

/// Runs the node until SIGINT / SIGTERM. Returns the overhead summary.
pub fn run() -> Result<Overhead, NodeError> {
    let context = r2r::Context::create()?;
    let mut node = r2r::Node::create(context, NODE_NAME, "")?;
    let settings = settings(&mut node)?;
    // Diagnostics are named after the node: `lookout: pipeline` at the root,
    // `front/lookout: pipeline` in a namespace, so two nodes never collide.
    let node_name = node
        .fully_qualified_name()
        .map(|name| name.trim_start_matches('/').to_owned())
        .unwrap_or_else(|_| NODE_NAME.to_owned());
    let (parameter_handler, _changes) = node.make_parameter_handler()?;
    let use_sim_time = matches!(
        node.params
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get("use_sim_time")
            .map(|p| &p.value),
        Some(ParameterValue::Bool(true))
    );
    let clock: Arc<dyn Clock> = if use_sim_time {
        Arc::new(RosClock::new(node.get_ros_clock()))
    } else {
        Arc::new(SystemClock)
    };

    let realtime = RealtimeLevels::new(settings.node.realtime_priority);
    let qos = qos(&settings);
    let image_type = match settings.node.image_transport {
        ImageTransport::Raw => ("sensor_msgs/msg/Image", InputKind::Image),
        ImageTransport::Compressed => (
            "sensor_msgs/msg/CompressedImage",
            InputKind::CompressedImage,
        ),
    };
    let reliable = QosProfile::default().keep_last(10);
    let markers_pub = node.create_publisher_untyped(
        "~/markers",
        "visualization_msgs/msg/MarkerArray",
        reliable.clone(),
    )?;
    let status_pub = node.create_publisher_untyped(
        "~/status",
        "lookout_msgs/msg/PipelineStatus",
        reliable.clone(),
    )?;
    let diagnostics_pub = node.create_publisher_untyped(
        "/diagnostics",
        "diagnostic_msgs/msg/DiagnosticArray",
        reliable.clone(),
    )?;

    let mut side = camera_side(&settings)?;
    super::startup::complete(&mut node, &mut side.rig, &qos).map_err(|detail| {
        NodeError::Incomplete {
            rig: settings.node.rig.clone(),
            detail,
        }
    })?;
    // The obstacles, in each format of `output.formats` (and with a
    // detector, each camera frame's detections in the 2D ones, per camera).
    let routes = side.output_routes(
        &settings.pipeline.output,
        settings.pipeline.tracking.enabled,
        "~/",
        "~/obstacles",
    );
    let mut outputs = Vec::with_capacity(routes.len());
    for route in &routes {
        outputs.push(node.create_publisher_untyped(
            &route.topic,
            route.message.type_name(),
            reliable.clone(),
        )?);
    }
    let config = &settings.pipeline;
    let setup = side.lane_setup(
        config.scheduler.workers,
        &config.lidar,
        &config.camera,
        false,
        !config.output.camera_messages().is_empty(),
    );
    let lanes = build_lanes(&setup).map_err(|detail| NodeError::Model {
        path: settings.node.model.clone(),
        detail,
    })?;
    let sensors = sensor_set(&side.rig, &config.scheduler, &config.faults, &lanes);
    let names: Vec<String> = sensors.all().map(|s| sensors.name(s).to_owned()).collect();
    realtime.enter(RealtimeLevels::LANES);
    let runtime = Runtime::start(&config.scheduler, sensors, clock.clone(), lanes, false);
    let events = runtime.events().clone();
    let recycler = runtime.recycler();
    let runtime = Rc::new(RefCell::new(runtime));
    let counters = Arc::new(NodeCounters::default());
    let receipt_clock = MonotonicClock::new();

    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        if let Err(e) = ctrlc::set_handler(move || stop.store(true, Ordering::Release)) {
            tracing::warn!("no signal handler ({e}); stop the node with SIGKILL");
        }
    }

    realtime.enter(RealtimeLevels::PUBLISHER);
    let (ego_tx, ego_rx) = crossbeam_channel::bounded(EGO_QUEUE);
    let output = {
        let presenter = Presenter::new(&settings.node.base_frame);
        let chain =
            OutputChain::with_tracking(&settings.pipeline.tracking, &settings.pipeline.output);
        let clock = clock.clone();
        let receipt_clock = receipt_clock.clone();
        let node_name = node_name.clone();
        let counters = counters.clone();
        std::thread::Builder::new()
            .name("lookout-publish".into())
            .spawn(move || {
                publish_loop(
                    &names,
                    events,
                    ego_rx,
                    chain,
                    recycler,
                    presenter,
                    Publishers {
                        routes,
                        outputs,
                        markers: markers_pub,
                        status: status_pub,
                        diagnostics: diagnostics_pub,
                    },
                    &*clock,
                    &receipt_clock,
                    &node_name,
                    &counters,
                )
            })
            .expect("spawning the publish thread")
    };

    realtime.enter(0);
    let mut pool = LocalPool::new();
    let spawner = pool.spawner();
    let _ = spawner.spawn_local(parameter_handler);
    let inputs = super::inputs::inputs(
        &side.rig,
        image_type,
        [
            &settings.node.image_topic,
            &settings.node.points_topic,
            &settings.node.camera_info_topic,
        ],
    );
    let shared = super::inputs::Inputs::new(runtime.clone(), &side.rig, clock.clone());
    super::inputs::subscribe(
        &mut node,
        &Rc::new(side.rig.clone()),
        &inputs,
        &qos,
        &shared,
        &receipt_clock,
        &counters.camera_info,
        &spawner,
    )?;
    if config.tracking.enabled {
        subscribe_ego(&mut node, &config.tracking, &ego_tx, &spawner);
    }
    drop(ego_tx);
    let topics: Vec<&str> = inputs.iter().map(|i| i.topic.as_str()).collect();
    tracing::info!(
        "{node_name}: {} sensors on {} ({:?} images); model {}",
        side.rig.sensors.len(),
        topics.join(", "),
        settings.node.image_transport,
        if settings.node.model.is_empty() {
            "none (lidar only)"
        } else {
            &settings.node.model
        }
    );
    while !stop.load(Ordering::Acquire) {
        node.spin_once(Duration::from_millis(5));
        pool.run_until_stalled();
        shared.tick();
    }
    drop(shared);
    drop(pool);
    let runtime = Rc::try_unwrap(runtime)
        .ok()
        .expect("the subscription tasks are gone")
        .into_inner();
    runtime.finish();
    Ok(output.join().unwrap_or_default())
}

struct Publishers {
    /// The obstacles: a publisher per route of the output chain.
    routes: Vec<Route>,
    outputs: Vec<r2r::PublisherUntyped>,
    markers: r2r::PublisherUntyped,
    status: r2r::PublisherUntyped,
    diagnostics: r2r::PublisherUntyped,
}

/// Ego-pose messages waiting for the publish thread; beyond this the
/// oldest are the ones that matter least, and new ones are dropped.
const EGO_QUEUE: usize = 256;

/// Subscribes to the ego's pose for tracking: `/tf`, and the odometry
/// topic when one is configured. Each message goes, still serialized, to
/// the publish thread (where the output chain and its tracker live); a
/// full queue drops it. A subscription that cannot be made (`tf2_msgs`
/// missing from this build's bindings) is logged, not fatal: the report
/// then says the velocities are relative to the ego.
fn subscribe_ego(
    node: &mut r2r::Node,
    tracking: &crate::track::TrackingConfig,
    queue: &crossbeam_channel::Sender<(EgoSource, Vec<u8>)>,
    spawner: &LocalSpawner,
) {
    let qos = QosProfile::sensor_data().keep_last(100);
    let mut sources = vec![("/tf", "tf2_msgs/msg/TFMessage", EgoSource::Tf)];
    if !tracking.odometry_topic.is_empty() {
        let topic = tracking.odometry_topic.as_str();
        sources.push((topic, "nav_msgs/msg/Odometry", EgoSource::Odometry));
    }
    for (topic, type_name, source) in sources {
        let mut stream = match node.subscribe_raw(topic, type_name, qos.clone()) {
            Ok(stream) => stream,
            Err(e) => {
                tracing::warn!("no ego pose from {topic} ({type_name}): {e}");
                continue;
            }
        };
        let queue = queue.clone();
        let _ = spawner.spawn_local(async move {
            while let Some(bytes) = stream.next().await {
                let _ = queue.try_send((source, bytes));
            }
        });
    }
}

#[allow(clippy::too_many_arguments)]
fn publish_loop(
    names: &[String],
    events: crossbeam_channel::Receiver<Event<ObstacleBatch>>,
    ego: crossbeam_channel::Receiver<(EgoSource, Vec<u8>)>,
    mut chain: OutputChain,
    recycler: Recycler<ObstacleBatch>,
    mut presenter: Presenter,
    publishers: Publishers,
    clock: &dyn Clock,
    receipt_clock: &MonotonicClock,
    node_name: &str,
    counters: &NodeCounters,
) -> Overhead {
    let mut overhead = Overhead::new();
    // Bad ego-pose messages are counted in the tracker; logged once.
    let mut ego_warned = false;
    for event in events.iter() {
        match event {
            Event::Frame {
                job,
                output,
                run_ns,
                error,
                timing,
                outcome,
                ..
            } => {
                if let Some(error) = error {
                    // Counted by reason in the runtime's status.
                    tracing::warn!(
                        "{} frame failed ({}): {error}",
                        names.get(timing.sensor.index()).map_or("?", String::as_str),
                        error.reason
                    );
                }
                let Some(mut batch) = output else {
                    continue;
                };
                for (source, bytes) in ego.try_iter() {
                    if let Err(e) = chain.observe_ego(source, &bytes)
                        && !std::mem::replace(&mut ego_warned, true)
                    {
                        tracing::warn!("ego pose ({source:?}): {e}");
                    }
                }
                let flagged_late = outcome == Outcome::PublishedLate;
                let sensor = batch.sensor;
                let published = chain.emit(
                    &mut batch,
                    timing.deadline,
                    flagged_late,
                    clock,
                    |message, bytes, _| match route_of(&publishers.routes, message, sensor) {
                        Some(i) => publishers.outputs[i].publish_raw(bytes),
                        None => Ok(()),
                    },
                );
                match published {
                    // Late obstacle outputs (a camera frame's detections
                    // are not obstacles).
                    Ok(handoff) if batch.kind == BatchKind::Scan => {
                        overhead.late += u64::from(handoff.after_deadline)
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!("publishing obstacles: {e}"),
                }
                // A camera frame's detections (2D formats) are published
                // and that is all: no markers, not in the obstacle overhead.
                if batch.kind == BatchKind::Scan {
                    let returned = receipt_clock.now_ns();
                    overhead.record(returned - job.log_time as i64 - run_ns.unwrap_or(0));
                    let markers = presenter.markers(batch.stamp, &batch.frame_id, &batch.obstacles);
                    if let Err(e) = publishers.markers.publish_raw(markers) {
                        tracing::warn!("publishing markers: {e}");
                    }
                }
                recycler.recycle(batch);
            }
            Event::Status(record) => {
                let stamp = Time::from_nanos(clock.now_ns());
                let camera_info = counters
                    .camera_info
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone();
                let (status, diagnostics) =
                    presenter.status(&record, &camera_info, stamp, node_name);
                if let Err(e) = publishers.status.publish_raw(&status) {
                    tracing::warn!("publishing status: {e}");
                }
                if let Err(e) = publishers.diagnostics.publish_raw(&diagnostics) {
                    tracing::warn!("publishing diagnostics: {e}");
                }
            }
        }
    }
    overhead
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_fall_back_to_the_package_share_directory() {
        let dir = tempfile::tempdir().unwrap();
        let installed = dir.path().join("install/share/lookout/models");
        std::fs::create_dir_all(&installed).unwrap();
        std::fs::write(installed.join("m.yaml"), "").unwrap();
        let prefixes =
            std::env::join_paths([dir.path().join("elsewhere"), dir.path().join("install")])
                .unwrap();
        let relative = Path::new("models/m.yaml");
        assert_eq!(
            in_package_share(relative, Some(prefixes.clone())),
            installed.join("m.yaml")
        );
        // Not installed anywhere: unchanged, so the error names what was given.
        let missing = Path::new("models/none.yaml");
        assert_eq!(in_package_share(missing, Some(prefixes)), missing);
        assert_eq!(in_package_share(relative, None), relative);
        // Existing and absolute paths are used as they are.
        let absolute = installed.join("m.yaml");
        assert_eq!(in_package_share(&absolute, None), absolute);
    }
}
