//! The output chain: what happens to a lane's result after the lanes, in
//! one place and one thread, for every output in the order the runtime
//! reports them. Today: stamp each obstacle's end-to-end latency, encode
//! the `ObstacleArray`, hand it to the sink (the node's publisher or the
//! replay's output bag) and record the moment it was handed over, which is
//! what decides lateness. Tracking ([`crate::track`]) runs here first,
//! because this is the one place that sees every output in order;
//! prediction and other output formats belong here too.
//!
//! Owns [`ObstacleBatch`] (a lane's typed, recycled output) and
//! [`OutputChain`]. Never runs a stage, never blocks except inside the
//! sink it is given, and allocates nothing per frame after warm-up (the
//! encode buffer and the batches are reused).

use crate::cdr::{CdrWriter, DecodeError};
use crate::clock::Clock;
use crate::msg::autoware::{DetectedObjectsRef, ShapeKind, TrackedObjectsRef};
use crate::msg::foxglove::{ColorBy, ImageAnnotationsRef, SceneUpdateRef};
use crate::msg::odometry::Odometry;
use crate::msg::tf::TfMessage;
use crate::msg::vision::{Detection2DArrayRef, Detection3DArrayRef};
use crate::msg::{Encode, Header, MessageType, ObstacleArrayRef, Time};
use crate::obstacle::{Detection2d, Obstacle};
use crate::track::ego::EgoPoses;
use crate::track::{Tracker, TrackingConfig};
use serde::{Deserialize, Serialize};

/// Where an ego-pose message comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EgoSource {
    /// `tf2_msgs/TFMessage` on `/tf`.
    Tf,
    /// `nav_msgs/Odometry` on `tracking.odometry_topic`.
    Odometry,
}

/// What the header stamp of an output says.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum StampMode {
    /// The scan's stamp: the obstacles as the sensors saw them.
    #[default]
    Sensor,
    /// The moment of publication: every tracked obstacle predicted to it
    /// by its track's filter (the rest moved with the ego's motion only).
    /// The sensor stamps stay in each obstacle (`lidar_stamp`,
    /// `camera_stamp`). Needs tracking.
    Publish,
}

/// A message format the obstacles are published in.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum OutputFormat {
    /// `lookout_msgs/ObstacleArray` (every field Lookout has: sources,
    /// stamps, latency, the late and degraded flags).
    Lookout,
    /// `vision_msgs/Detection3DArray`, as most ROS 2 detectors publish.
    VisionMsgs,
    /// `autoware_perception_msgs/DetectedObjects`, and `TrackedObjects`
    /// when tracking is on, as Autoware Universe reads them.
    Autoware,
    /// `foxglove_msgs/SceneUpdate`, which Foxglove's 3D panel draws.
    Foxglove,
}

impl OutputFormat {
    pub const ALL: [OutputFormat; 4] = [
        OutputFormat::Lookout,
        OutputFormat::VisionMsgs,
        OutputFormat::Autoware,
        OutputFormat::Foxglove,
    ];
}

/// One message the chain publishes per output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum OutputMessage {
    /// `lookout_msgs/ObstacleArray`.
    Obstacles,
    /// `vision_msgs/Detection3DArray`.
    Detections3d,
    /// `autoware_perception_msgs/DetectedObjects`.
    Objects,
    /// `autoware_perception_msgs/TrackedObjects`.
    TrackedObjects,
    /// `foxglove_msgs/SceneUpdate`.
    Scene,
    /// `vision_msgs/Detection2DArray` of a camera frame.
    Detections2d,
    /// `foxglove_msgs/ImageAnnotations` of a camera frame.
    ImageAnnotations,
}

impl OutputMessage {
    pub const ALL: [OutputMessage; 7] = [
        OutputMessage::Obstacles,
        OutputMessage::Detections3d,
        OutputMessage::Objects,
        OutputMessage::TrackedObjects,
        OutputMessage::Scene,
        OutputMessage::Detections2d,
        OutputMessage::ImageAnnotations,
    ];

    /// The format it belongs to.
    pub fn format(self) -> OutputFormat {
        match self {
            OutputMessage::Obstacles => OutputFormat::Lookout,
            OutputMessage::Detections3d | OutputMessage::Detections2d => OutputFormat::VisionMsgs,
            OutputMessage::Objects | OutputMessage::TrackedObjects => OutputFormat::Autoware,
            OutputMessage::Scene | OutputMessage::ImageAnnotations => OutputFormat::Foxglove,
        }
    }

    /// A camera frame's message (its detections), not an output's.
    pub fn is_camera(self) -> bool {
        matches!(
            self,
            OutputMessage::Detections2d | OutputMessage::ImageAnnotations
        )
    }

    /// The ROS type name (`pkg/msg/Type`).
    pub fn type_name(self) -> &'static str {
        match self {
            OutputMessage::Obstacles => <ObstacleArrayRef as MessageType>::TYPE_NAME,
            OutputMessage::Detections3d => <Detection3DArrayRef as MessageType>::TYPE_NAME,
            OutputMessage::Objects => <DetectedObjectsRef as MessageType>::TYPE_NAME,
            OutputMessage::TrackedObjects => <TrackedObjectsRef as MessageType>::TYPE_NAME,
            OutputMessage::Scene => <SceneUpdateRef as MessageType>::TYPE_NAME,
            OutputMessage::Detections2d => <Detection2DArrayRef as MessageType>::TYPE_NAME,
            OutputMessage::ImageAnnotations => <ImageAnnotationsRef as MessageType>::TYPE_NAME,
        }
    }
}

/// The topics of the other formats. A name without a leading `/` is
/// relative: under the node's namespace (`~/name`) live, under `/lookout/`
/// in a replay's output bag; an absolute one is used as it is in both
/// (e.g. Autoware's `/perception/object_recognition/detection/objects`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct OutputTopics {
    /// `vision_msgs/Detection3DArray`.
    pub detections_3d: String,
    /// `autoware_perception_msgs/DetectedObjects`.
    pub objects: String,
    /// `autoware_perception_msgs/TrackedObjects`.
    pub tracked_objects: String,
    /// `foxglove_msgs/SceneUpdate`.
    pub scene: String,
    /// `vision_msgs/Detection2DArray`, each camera frame's detections.
    pub detections_2d: String,
    /// `foxglove_msgs/ImageAnnotations`, each camera frame's detections.
    pub image_annotations: String,
}

impl Default for OutputTopics {
    fn default() -> Self {
        OutputTopics {
            detections_3d: "detections_3d".into(),
            objects: "objects".into(),
            tracked_objects: "tracked_objects".into(),
            scene: "scene".into(),
            detections_2d: "detections_2d".into(),
            image_annotations: "image_annotations".into(),
        }
    }
}

impl OutputTopics {
    /// The topic of `message`: `relative_prefix` + the name, unless it is
    /// absolute. `lookout_topic` is the ObstacleArray's own.
    pub fn topic(
        &self,
        message: OutputMessage,
        relative_prefix: &str,
        lookout_topic: &str,
    ) -> String {
        let name = match message {
            OutputMessage::Obstacles => return lookout_topic.to_owned(),
            OutputMessage::Detections3d => &self.detections_3d,
            OutputMessage::Objects => &self.objects,
            OutputMessage::TrackedObjects => &self.tracked_objects,
            OutputMessage::Scene => &self.scene,
            OutputMessage::Detections2d => &self.detections_2d,
            OutputMessage::ImageAnnotations => &self.image_annotations,
        };
        if name.starts_with('/') {
            name.clone()
        } else {
            format!("{relative_prefix}{name}")
        }
    }
}

/// Where one message of the chain goes: its topic, and for a camera
/// frame's messages the camera (sensor index) whose frames it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub message: OutputMessage,
    pub camera: Option<usize>,
    pub topic: String,
}

/// `name` as a ROS topic name token: letters, digits and underscores,
/// not starting with a digit (a rig's sensor names may hold anything else).
fn topic_token(name: &str) -> String {
    let mut token: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if !token.starts_with(|c: char| c.is_ascii_alphabetic()) {
        token.insert(0, 'c');
    }
    token
}

/// The route of `message` for an output of `sensor`.
pub fn route_of(routes: &[Route], message: OutputMessage, sensor: usize) -> Option<usize> {
    routes
        .iter()
        .position(|r| r.message == message && r.camera.is_none_or(|c| c == sensor))
}

/// The `output` section of the configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct OutputConfig {
    /// `sensor` (default: what was seen, when) or `publish` (where it is
    /// when the message goes out: latency compensated).
    pub stamp: StampMode,
    /// With `stamp: publish`, predict this many milliseconds past the
    /// moment of publication, and stamp the message with that moment: the
    /// message's expected age when it is used. 0 (default): the moment of
    /// publication itself. A consumer that reads the latest message at
    /// moments unrelated to its arrival finds it on average half an output
    /// period old (50 ms at 10 Hz). At most 500 ms (the ego's pose is
    /// extrapolated no further).
    pub horizon_ms: f64,
    /// The formats each output is published in, each on its own topic:
    /// `lookout` (default), `vision_msgs`, `autoware`, `foxglove`. The
    /// first (in that order) is handed over first and decides lateness.
    pub formats: Vec<OutputFormat>,
    /// The other formats' topics.
    pub topics: OutputTopics,
    /// `Shape.type` of Autoware's objects: `bounding_box` (default) or
    /// `polygon` (the footprint).
    pub autoware_shape: ShapeKind,
    /// What Foxglove's boxes are coloured by: `class` (default) or
    /// `latency` (end to end: green at 100 ms, red at 300 ms).
    pub foxglove_color: ColorBy,
}

impl Default for OutputConfig {
    fn default() -> Self {
        OutputConfig {
            stamp: StampMode::Sensor,
            horizon_ms: 0.0,
            formats: vec![OutputFormat::Lookout],
            topics: OutputTopics::default(),
            autoware_shape: ShapeKind::BoundingBox,
            foxglove_color: ColorBy::Class,
        }
    }
}

impl OutputConfig {
    /// The messages each output is published as, in hand-over order
    /// (`TrackedObjects` only when `tracking` is on).
    pub fn messages(&self, tracking: bool) -> Vec<OutputMessage> {
        OutputMessage::ALL
            .into_iter()
            .filter(|m| !m.is_camera() && self.formats.contains(&m.format()))
            .filter(|&m| tracking || m != OutputMessage::TrackedObjects)
            .collect()
    }

    /// Every message the chain publishes and its topic (`prefix`: where
    /// relative names go; `lookout_topic`: the ObstacleArray's). The 2D
    /// messages go out for each of `cameras` (sensor index, name: the
    /// rig's, when there is a detector), on a topic of their own when there
    /// are several (`<topic>/<camera>`), so each image has its annotations.
    pub fn routes(
        &self,
        tracking: bool,
        cameras: &[(usize, &str)],
        prefix: &str,
        lookout_topic: &str,
    ) -> Vec<Route> {
        let mut routes: Vec<Route> = self
            .messages(tracking)
            .into_iter()
            .map(|message| Route {
                message,
                camera: None,
                topic: self.topics.topic(message, prefix, lookout_topic),
            })
            .collect();
        for message in self.camera_messages() {
            let topic = self.topics.topic(message, prefix, lookout_topic);
            for &(sensor, name) in cameras {
                routes.push(Route {
                    message,
                    camera: Some(sensor),
                    topic: if cameras.len() > 1 {
                        format!("{topic}/{}", topic_token(name))
                    } else {
                        topic.clone()
                    },
                });
            }
        }
        routes
    }

    /// The messages each camera frame's detections are published as (with
    /// a detector): vision_msgs and Foxglove have 2D forms.
    pub fn camera_messages(&self) -> Vec<OutputMessage> {
        OutputMessage::ALL
            .into_iter()
            .filter(|m| m.is_camera() && self.formats.contains(&m.format()))
            .collect()
    }

    pub fn validate(&self) -> Result<(), crate::validate::ConfigError> {
        if self.formats.is_empty() {
            return Err(crate::validate::ConfigError::new(
                "formats",
                "lists no format: nothing would be published".to_owned(),
            ));
        }
        for (name, topic) in [
            ("topics.detections_3d", &self.topics.detections_3d),
            ("topics.objects", &self.topics.objects),
            ("topics.tracked_objects", &self.topics.tracked_objects),
            ("topics.scene", &self.topics.scene),
            ("topics.detections_2d", &self.topics.detections_2d),
            ("topics.image_annotations", &self.topics.image_annotations),
        ] {
            if topic.trim_start_matches('/').is_empty() || topic.contains(char::is_whitespace) {
                return Err(crate::validate::ConfigError::new(
                    name,
                    format!("{topic:?} is not a topic name"),
                ));
            }
        }
        if !(0.0..=500.0).contains(&self.horizon_ms) {
            return Err(crate::validate::ConfigError::new(
                "horizon_ms",
                format!("{} is not within 0..=500 ms", self.horizon_ms),
            ));
        }
        Ok(())
    }

    /// The horizon in nanoseconds.
    pub fn horizon_ns(&self) -> i64 {
        (self.horizon_ms * 1e6).round() as i64
    }
}

/// What an [`ObstacleBatch`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BatchKind {
    /// A lidar scan's obstacles.
    #[default]
    Scan,
    /// A camera frame's detections (only when the 2D output formats ask
    /// for them).
    Camera,
}

/// One lidar scan's obstacles (or one camera frame's detections), as a
/// lane hands them on. Recycled: a lane fills one the chain has handed
/// back, so the vectors keep their capacity.
#[derive(Debug, Clone, Default)]
pub struct ObstacleBatch {
    pub kind: BatchKind,
    /// The scan's header stamp (header time, ns) and frame.
    pub stamp: i64,
    pub frame_id: String,
    pub obstacles: Vec<Obstacle>,
    /// The watchdog said ERROR when the result was ready.
    pub degraded: bool,
    /// Header time less pipeline-clock time for this scan: 0 live and in
    /// lockstep replay, the bag-to-wall offset in realtime replay.
    pub header_offset: i64,
    /// The scan's points (x, y), kept only when the lanes are asked to
    /// (the bird's-eye view draws them); empty otherwise.
    pub points_x: Vec<f32>,
    pub points_y: Vec<f32>,
    /// The lidars whose scans made this output, a bit per sensor index.
    pub lidars: u64,
    /// Set by the chain: the moment of publication, header time (what the
    /// header says with `output.stamp: publish`).
    pub published: i64,
    /// The sensor (index) whose frame this output is: the camera of a
    /// camera frame's detections, the lidar that triggered a scan's.
    pub sensor: usize,
    /// A camera frame's detections (kind `Camera`), image pixels, and the
    /// detector's class names by index.
    pub detections: Vec<Detection2d>,
    pub class_names: Option<std::sync::Arc<[String]>>,
}

/// When an output was handed over, on the pipeline clock, and whether that
/// was after its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handoff {
    pub at: i64,
    /// Handed over after the deadline, or published late by the scheduler's
    /// late policy; the message says so in its `late` flag.
    pub late: bool,
    /// `at` is past the deadline (the honest count of late outputs; `late`
    /// also includes results the stage already finished late).
    pub after_deadline: bool,
    /// Time spent encoding and handing over the formats after the first,
    /// on the clock (0 with one format, and in lockstep).
    pub formats_ns: i64,
    /// Of that, encoding alone (what converting costs; the rest is the
    /// sink's).
    pub formats_encode_ns: i64,
}

/// Tracks, encodes and hands over outputs; holds the tracker and the
/// reused encode buffer.
#[derive(Debug, Default)]
pub struct OutputChain {
    writer: Option<CdrWriter>,
    /// The messages each output is published as, in hand-over order.
    messages: Vec<OutputMessage>,
    /// The messages each camera frame's detections are published as.
    camera_messages: Vec<OutputMessage>,
    /// The encode buffer of the messages after the first.
    extra: CdrWriter,
    shape: ShapeKind,
    color: ColorBy,
    tracker: Option<Tracker>,
    /// The ego's poses (from `/tf`), for the tracker's fixed frame.
    ego: Option<EgoPoses>,
    stamp: StampMode,
    /// `output.horizon_ms`, nanoseconds.
    horizon: i64,
    /// Header time per pipeline-clock time: the replay's rate (1 live).
    time_scale: f64,
}

impl OutputChain {
    /// A chain without tracking: each output's ids are its own.
    pub fn new() -> Self {
        OutputChain {
            writer: Some(CdrWriter::new()),
            messages: vec![OutputMessage::Obstacles],
            camera_messages: Vec::new(),
            extra: CdrWriter::new(),
            shape: ShapeKind::BoundingBox,
            color: ColorBy::Class,
            tracker: None,
            ego: None,
            stamp: StampMode::Sensor,
            horizon: 0,
            time_scale: 1.0,
        }
    }

    /// A chain that tracks obstacles across outputs when `tracking` is
    /// enabled; the output frame's pose in the tracking's fixed frame, when
    /// [`OutputChain::observe_ego`] is given it, is the ego's. With
    /// `output.stamp: publish` (and tracking) the obstacles are predicted
    /// to the moment of publication.
    pub fn with_tracking(tracking: &TrackingConfig, output: &OutputConfig) -> Self {
        OutputChain {
            writer: Some(CdrWriter::new()),
            // (`output.formats` is never empty once validated; an empty
            // list would hand over the ObstacleArray alone, see `emit`.)
            messages: output.messages(tracking.enabled),
            camera_messages: output.camera_messages(),
            extra: CdrWriter::new(),
            shape: output.autoware_shape,
            color: output.foxglove_color,
            tracker: tracking.enabled.then(|| Tracker::new(tracking.clone())),
            ego: tracking
                .enabled
                .then(|| EgoPoses::new(&tracking.fixed_frame)),
            stamp: output.stamp,
            horizon: output.horizon_ns(),
            time_scale: 1.0,
        }
    }

    /// Header time runs `rate` times as fast as the pipeline clock (a
    /// replay paced at `rate`): the moment of publication in header time
    /// is scaled alike.
    pub fn set_time_scale(&mut self, rate: f64) {
        self.time_scale = rate;
    }

    /// Takes the ego's pose from a serialized message of an ego source
    /// (`/tf` or the odometry topic); one that does not decode is counted
    /// (`ego_rejected`) and its error returned.
    pub fn observe_ego(&mut self, source: EgoSource, bytes: &[u8]) -> Result<(), DecodeError> {
        let Some(ego) = self.ego.as_mut() else {
            return Ok(());
        };
        let decoded = match source {
            EgoSource::Tf => TfMessage::decode(bytes).map(|m| ego.observe(&m)),
            EgoSource::Odometry => Odometry::decode(bytes).map(|m| ego.observe_odometry(&m)),
        };
        if decoded.is_err()
            && let Some(tracker) = self.tracker.as_mut()
        {
            tracker.count_ego_rejected();
        }
        decoded
    }

    /// The tracker's counters, when the chain tracks.
    pub fn tracker_counters(&self) -> Option<crate::track::TrackerCounters> {
        self.tracker.as_ref().map(Tracker::counters)
    }

    /// The messages each output is published as, in hand-over order.
    pub fn messages(&self) -> &[OutputMessage] {
        &self.messages
    }

    /// The messages each camera frame's detections are published as (the
    /// lanes hand them on only when this is not empty).
    pub fn camera_messages(&self) -> &[OutputMessage] {
        &self.camera_messages
    }

    /// Tracks the obstacles of `batch` (ids, velocities; over the ground
    /// when the ego's pose at the batch's stamp is known, else relative to
    /// the ego), stamps every obstacle with its end-to-end latency at
    /// `clock`'s present, encodes the first of the chain's messages
    /// (flagged late when `flagged_late`: the scheduler published a late
    /// result), reads the clock again and hands the bytes to `sink` with
    /// that moment, the hand-off. A hand-off after `deadline` sets the
    /// message's late flag before it goes. Then each other format is
    /// encoded and handed over the same way. A sink error does not keep
    /// the other formats back; the first is returned as is.
    pub fn emit<E>(
        &mut self,
        batch: &mut ObstacleBatch,
        deadline: i64,
        flagged_late: bool,
        clock: &dyn Clock,
        mut sink: impl FnMut(OutputMessage, &[u8], i64) -> Result<(), E>,
    ) -> Result<Handoff, E> {
        if batch.kind == BatchKind::Camera {
            return self.emit_detections(batch, deadline, flagged_late, clock, sink);
        }
        let ego = self
            .ego
            .as_ref()
            .and_then(|e| e.at(batch.stamp, &batch.frame_id));
        if let Some(tracker) = self.tracker.as_mut() {
            tracker.step(batch.stamp, ego, &mut batch.obstacles);
        }
        let encoding = clock.now_ns();
        // Obstacle stamps are header time; so is `encoding` after this.
        let now_header = encoding + batch.header_offset;
        let scan_on_clock = batch.stamp - batch.header_offset;
        batch.published =
            batch.stamp + ((encoding - scan_on_clock) as f64 * self.time_scale) as i64;
        let header_stamp = match (self.stamp, self.tracker.as_ref()) {
            (StampMode::Publish, Some(tracker)) => {
                let to = batch.published + self.horizon;
                let ego_then = self
                    .ego
                    .as_ref()
                    .and_then(|e| e.predicted(to, &batch.frame_id));
                tracker.predict_to(batch.stamp, to, ego, ego_then, &mut batch.obstacles);
                to
            }
            _ => batch.stamp,
        };
        for obstacle in &mut batch.obstacles {
            obstacle.latency = end_to_end_latency(obstacle, now_header);
        }
        let header = Header {
            stamp: Time::from_nanos(header_stamp),
            frame_id: &batch.frame_id,
        };
        let first = self
            .messages
            .first()
            .copied()
            .unwrap_or(OutputMessage::Obstacles);
        let mut writer = self.writer.take().unwrap_or_default();
        let style = Style {
            shape: self.shape,
            color: self.color,
        };
        encode(first, header, batch, flagged_late, style, &mut writer);
        let mut bytes = writer.into_bytes();
        let at = clock.now_ns();
        let after_deadline = at > deadline;
        if after_deadline && first == OutputMessage::Obstacles {
            ObstacleArrayRef::mark_late(&mut bytes);
        }
        let mut failed = sink(first, &bytes, at).err();
        self.writer = Some(CdrWriter::from_buffer(bytes));
        let (mut formats_ns, mut formats_encode_ns) = (0, 0);
        if self.messages.len() > 1 {
            let start = clock.now_ns();
            let late = flagged_late || after_deadline;
            for &message in &self.messages[1..] {
                let encoding = clock.now_ns();
                encode(message, header, batch, late, style, &mut self.extra);
                let encoded = clock.now_ns();
                formats_encode_ns += encoded - encoding;
                if let Err(e) = sink(message, self.extra.as_bytes(), encoded) {
                    failed.get_or_insert(e);
                }
            }
            formats_ns = clock.now_ns() - start;
        }
        if let Some(e) = failed {
            return Err(e);
        }
        Ok(Handoff {
            at,
            late: flagged_late || after_deadline,
            after_deadline,
            formats_ns,
            formats_encode_ns,
        })
    }
}

impl OutputChain {
    /// A camera frame's detections, in each of the chain's camera
    /// messages; the first hand-off decides lateness (nothing is tracked).
    /// A sink error does not keep the other messages back; the first is
    /// returned.
    fn emit_detections<E>(
        &mut self,
        batch: &ObstacleBatch,
        deadline: i64,
        flagged_late: bool,
        clock: &dyn Clock,
        mut sink: impl FnMut(OutputMessage, &[u8], i64) -> Result<(), E>,
    ) -> Result<Handoff, E> {
        let header = Header {
            stamp: Time::from_nanos(batch.stamp),
            frame_id: &batch.frame_id,
        };
        let names = batch.class_names.as_deref().unwrap_or(&[]);
        let mut first = None;
        let mut failed = None;
        for &message in &self.camera_messages {
            let w = &mut self.extra;
            match message {
                OutputMessage::Detections2d => Detection2DArrayRef {
                    header,
                    detections: &batch.detections,
                    class_names: names,
                }
                .encode_into(w),
                _ => ImageAnnotationsRef {
                    stamp: header.stamp,
                    detections: &batch.detections,
                    class_names: names,
                }
                .encode_into(w),
            }
            let at = clock.now_ns();
            first.get_or_insert(at);
            if let Err(e) = sink(message, w.as_bytes(), at) {
                failed.get_or_insert(e);
            }
        }
        if let Some(e) = failed {
            return Err(e);
        }
        let at = first.unwrap_or_else(|| clock.now_ns());
        Ok(Handoff {
            at,
            late: flagged_late || at > deadline,
            after_deadline: at > deadline,
            formats_ns: 0,
            formats_encode_ns: 0,
        })
    }
}

/// How the formats that draw or shape obstacles do it.
#[derive(Debug, Clone, Copy)]
struct Style {
    shape: ShapeKind,
    color: ColorBy,
}

/// Serializes `batch`'s obstacles as `message` into `w`.
fn encode(
    message: OutputMessage,
    header: Header<'_>,
    batch: &ObstacleBatch,
    late: bool,
    style: Style,
    w: &mut CdrWriter,
) {
    let obstacles = &batch.obstacles;
    let shape = style.shape;
    match message {
        OutputMessage::Obstacles => ObstacleArrayRef {
            header,
            obstacles,
            degraded: batch.degraded,
            late,
        }
        .encode_into(w),
        OutputMessage::Detections3d => Detection3DArrayRef { header, obstacles }.encode_into(w),
        OutputMessage::Objects => DetectedObjectsRef {
            header,
            obstacles,
            shape,
        }
        .encode_into(w),
        OutputMessage::TrackedObjects => TrackedObjectsRef {
            header,
            obstacles,
            shape,
        }
        .encode_into(w),
        // Camera frames' messages: `OutputChain::emit_detections`.
        OutputMessage::Detections2d | OutputMessage::ImageAnnotations => w.clear(),
        OutputMessage::Scene => SceneUpdateRef {
            stamp: header.stamp,
            frame_id: header.frame_id,
            obstacles,
            color: style.color,
        }
        .encode_into(w),
    }
}

/// Seconds from the oldest of the obstacle's source stamps (0: that
/// source did not contribute) to `now` (header time).
fn end_to_end_latency(obstacle: &Obstacle, now: i64) -> f32 {
    let oldest = [obstacle.lidar_stamp, obstacle.camera_stamp]
        .into_iter()
        .filter(|&s| s != 0)
        .min();
    match oldest {
        Some(stamp) => ((now - stamp) as f64 * 1e-9) as f32,
        None => f32::NAN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SimulatedClock;
    use crate::msg::ObstacleArray;
    use crate::obstacle::{Box3, Footprint, ObstacleClass, ObstacleSource, TrackState};

    const MS: i64 = 1_000_000;

    fn batch(stamp: i64) -> ObstacleBatch {
        ObstacleBatch {
            stamp,
            frame_id: "lidar".into(),
            obstacles: vec![Obstacle {
                id: 1,
                class: ObstacleClass::Car,
                score: 0.9,
                source: ObstacleSource::Lidar,
                bbox: Box3::default(),
                velocity: [0.0; 3],
                point_count: 100,
                nearest_distance: 5.0,
                lidar_stamp: stamp,
                camera_stamp: 0,
                latency: f32::NAN,
                footprint: Footprint::default(),
                track: TrackState::NONE,
            }],
            ..ObstacleBatch::default()
        }
    }

    /// The sink sees the moment of hand-off; before the deadline the
    /// message is not late, after it the flag is set in the bytes.
    #[test]
    fn lateness_is_decided_at_the_hand_off() {
        let clock = SimulatedClock::new(1_050 * MS);
        let mut chain = OutputChain::new();
        let mut seen = Vec::new();
        let mut sink = |_: OutputMessage, bytes: &[u8], at: i64| -> Result<(), ()> {
            seen.push((ObstacleArray::decode(bytes).unwrap(), at));
            Ok(())
        };
        let on_time = chain
            .emit(&mut batch(1_000 * MS), 1_100 * MS, false, &clock, &mut sink)
            .unwrap();
        assert_eq!(on_time.at, 1_050 * MS);
        assert!(!on_time.late && !on_time.after_deadline);
        clock.set_ns(1_150 * MS);
        let late = chain
            .emit(&mut batch(1_000 * MS), 1_100 * MS, false, &clock, &mut sink)
            .unwrap();
        assert!(late.late && late.after_deadline);
        assert!(!seen[0].0.late && seen[1].0.late);
        assert!((seen[0].0.obstacles[0].latency - 0.050).abs() < 1e-6);
        assert!((seen[1].0.obstacles[0].latency - 0.150).abs() < 1e-6);
        assert_eq!(seen[1].1, 1_150 * MS);
    }

    /// With `stamp: publish` and a horizon, a tracked car is predicted to
    /// the moment of publication plus the horizon, and the header says
    /// that moment; the sensor stamp stays in the obstacle.
    #[test]
    fn publish_stamp_predicts_past_publication_by_the_horizon() {
        let output = OutputConfig {
            stamp: StampMode::Publish,
            horizon_ms: 50.0,
            ..OutputConfig::default()
        };
        let mut chain = OutputChain::with_tracking(&TrackingConfig::default(), &output);
        let clock = SimulatedClock::new(0);
        let mut last = None;
        for k in 0..10 {
            let stamp = 1_000 * MS + k * 100 * MS;
            let mut b = batch(stamp);
            b.obstacles[0].bbox.center = [10.0 + k as f64, 0.0, 0.0];
            b.obstacles[0].bbox.size = [4.5, 1.8, 1.5];
            clock.set_ns(stamp + 20 * MS);
            chain
                .emit(&mut b, i64::MAX, false, &clock, |_, bytes, _| {
                    last = Some(ObstacleArray::decode(bytes).unwrap());
                    Ok::<(), ()>(())
                })
                .unwrap();
        }
        // 10 m/s; the last scan at 1.9 s, seen at x = 19 m, published
        // 20 ms later and predicted 50 ms further: 0.7 m on.
        let array = last.unwrap();
        assert_eq!(array.header.stamp.as_nanos(), 1_970 * MS);
        let o = &array.obstacles[0];
        assert_eq!(o.lidar_stamp.as_nanos(), 1_900 * MS);
        assert!((o.center[0] - 19.7).abs() < 0.1, "{:?}", o.center);
    }

    #[test]
    fn the_horizon_is_bounded() {
        for bad in [-1.0, 501.0, f64::NAN] {
            let output = OutputConfig {
                horizon_ms: bad,
                ..OutputConfig::default()
            };
            assert_eq!(output.validate().unwrap_err().path, "horizon_ms");
        }
        assert!(OutputConfig::default().validate().is_ok());
    }

    /// With every format on, the sink gets each message in order, the
    /// first at the hand-off that decides lateness; a late output's
    /// lookout_msgs array says so wherever it comes in the order.
    #[test]
    fn every_format_is_handed_over_in_order() {
        let output = OutputConfig {
            // (Listed in any order: the hand-over order is fixed.)
            formats: OutputFormat::ALL.into_iter().rev().collect(),
            ..OutputConfig::default()
        };
        let mut chain = OutputChain::with_tracking(&TrackingConfig::default(), &output);
        let clock = SimulatedClock::new(1_200 * MS);
        let mut seen = Vec::new();
        let handoff = chain
            .emit(
                &mut batch(1_000 * MS),
                1_100 * MS,
                false,
                &clock,
                |m, bytes, at| {
                    if m == OutputMessage::Obstacles {
                        assert!(ObstacleArray::decode(bytes).unwrap().late);
                    }
                    seen.push((m, at));
                    Ok::<(), ()>(())
                },
            )
            .unwrap();
        assert!(handoff.after_deadline);
        assert_eq!(
            seen.iter().map(|s| s.0).collect::<Vec<_>>(),
            OutputMessage::ALL[..5]
        );
        assert_eq!(handoff.at, seen[0].1);
        // Without tracking there are no tracked objects.
        let untracked = TrackingConfig {
            enabled: false,
            ..TrackingConfig::default()
        };
        let chain = OutputChain::with_tracking(&untracked, &output);
        assert!(!chain.messages().contains(&OutputMessage::TrackedObjects));
    }

    /// Each camera's 2D messages get a topic of their own when the rig has
    /// several; one camera keeps the plain topic.
    #[test]
    fn camera_messages_are_routed_per_camera() {
        let output = OutputConfig {
            formats: vec![OutputFormat::Lookout, OutputFormat::Foxglove],
            ..OutputConfig::default()
        };
        let routes = output.routes(
            true,
            &[(0, "front"), (2, "rear")],
            "/lookout/",
            "/lookout/obstacles",
        );
        let topics: Vec<&str> = routes.iter().map(|r| r.topic.as_str()).collect();
        assert_eq!(
            topics,
            [
                "/lookout/obstacles",
                "/lookout/scene",
                "/lookout/image_annotations/front",
                "/lookout/image_annotations/rear"
            ]
        );
        assert_eq!(
            route_of(&routes, OutputMessage::ImageAnnotations, 2),
            Some(3)
        );
        assert_eq!(route_of(&routes, OutputMessage::Scene, 1), Some(1));
        assert_eq!(route_of(&routes, OutputMessage::Detections2d, 0), None);
        let one = output.routes(true, &[(0, "front")], "~/", "~/obstacles");
        assert_eq!(one[2].topic, "~/image_annotations");
        // Sensor names become valid topic names.
        let odd = output.routes(true, &[(0, "cam-front"), (1, "2")], "~/", "~/obstacles");
        assert_eq!(odd[2].topic, "~/image_annotations/cam_front");
        assert_eq!(odd[3].topic, "~/image_annotations/c2");
    }

    /// A format whose hand-over fails does not keep the others back; the
    /// first error is returned.
    #[test]
    fn a_failed_format_does_not_hold_the_others() {
        let output = OutputConfig {
            formats: vec![
                OutputFormat::Lookout,
                OutputFormat::VisionMsgs,
                OutputFormat::Foxglove,
            ],
            ..OutputConfig::default()
        };
        let mut chain = OutputChain::with_tracking(&TrackingConfig::default(), &output);
        let clock = SimulatedClock::new(0);
        let mut seen = Vec::new();
        let result = chain.emit(&mut batch(0), i64::MAX, false, &clock, |m, _, _| {
            seen.push(m);
            match m {
                OutputMessage::Obstacles => Err("bag full"),
                _ => Ok(()),
            }
        });
        assert_eq!(result.unwrap_err(), "bag full");
        assert_eq!(
            seen,
            [
                OutputMessage::Obstacles,
                OutputMessage::Detections3d,
                OutputMessage::Scene
            ]
        );
    }

    #[test]
    fn formats_and_topics_are_checked() {
        let none = OutputConfig {
            formats: vec![],
            ..OutputConfig::default()
        };
        assert_eq!(none.validate().unwrap_err().path, "formats");
        let mut bad = OutputConfig::default();
        bad.topics.objects = "/".into();
        assert_eq!(bad.validate().unwrap_err().path, "topics.objects");
        let topics = OutputTopics::default();
        assert_eq!(
            topics.topic(OutputMessage::Objects, "~/", "~/obstacles"),
            "~/objects"
        );
        let absolute = OutputTopics {
            objects: "/perception/object_recognition/detection/objects".into(),
            ..OutputTopics::default()
        };
        assert_eq!(
            absolute.topic(OutputMessage::Objects, "/lookout/", "/lookout/obstacles"),
            "/perception/object_recognition/detection/objects"
        );
    }

    /// A result the scheduler published late keeps its flag even when the
    /// hand-off itself is in time (it is not counted as after-deadline).
    #[test]
    fn a_late_result_stays_flagged() {
        let clock = SimulatedClock::new(1_000 * MS);
        let handoff = OutputChain::new()
            .emit(
                &mut batch(900 * MS),
                2_000 * MS,
                true,
                &clock,
                |_, bytes, _| {
                    assert!(ObstacleArray::decode(bytes).unwrap().late);
                    Ok::<(), ()>(())
                },
            )
            .unwrap();
        assert!(handoff.late && !handoff.after_deadline);
    }
}
