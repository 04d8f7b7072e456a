//! The vehicle's sensor rig as data: the base frame and every camera and
//! lidar, each with its name, kind, topics, frame, extrinsics to the base
//! frame, intrinsics (cameras), rate, deadline budget and injected faults.
//! A [`Sensor`] anywhere in the pipeline is an index into [`Rig::sensors`].
//!
//! The rig file (`rig/*.yaml`, documented in `docs/configuration.md`) is
//! checked as a whole, and an error names the full path of what is wrong
//! (`sensors[3].extrinsics.rotation_xyzw`). Without a rig file the rig is
//! the one the single calibration file describes (one camera and one
//! lidar, the lidar's frame as base, routed by message type as always),
//! so everything that worked before a rig existed works unchanged.
//!
//! Owns the rig's format, its checks, routing a topic to its sensor, and
//! the scheduler's sensor set built from it. Never reads a bag or a topic,
//! never runs a stage.

use crate::calibration::{Calibration, CameraCalibration, Extrinsics};
use crate::ingest::InputKind;
use crate::sched::config::{SchedulerConfig, SensorConfig};
use crate::sched::faults::{FaultConfig, StageFaults};
use crate::sched::sensors::{ScheduledSensor, SensorSet};
use crate::stage::Sensor;
use crate::validate::ConfigError;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// What a sensor is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SensorKind {
    /// `sensor_msgs/Image` (or `CompressedImage`) and `CameraInfo`.
    Camera,
    /// `sensor_msgs/PointCloud2`.
    Lidar,
}

impl SensorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SensorKind::Camera => "camera",
            SensorKind::Lidar => "lidar",
        }
    }

    /// Whether a message of `kind` is this kind of sensor's data.
    pub fn carries(self, kind: InputKind) -> bool {
        match self {
            SensorKind::Camera => matches!(kind, InputKind::Image | InputKind::CompressedImage),
            SensorKind::Lidar => kind == InputKind::PointCloud2,
        }
    }
}

/// The topics a sensor publishes on. A camera has `image` (and may have
/// `camera_info`), a lidar `points`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Topics {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub camera_info: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub points: Option<String>,
}

/// Where a sensor sits on the vehicle: the transform taking its points into
/// the base frame, `p_base = R * p_sensor + t`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Pose {
    /// Metres.
    pub translation: [f64; 3],
    /// Unit quaternion `[x, y, z, w]`.
    pub rotation_xyzw: [f64; 4],
}

impl Pose {
    pub const IDENTITY: Pose = Pose {
        translation: [0.0; 3],
        rotation_xyzw: [0.0, 0.0, 0.0, 1.0],
    };
}

/// One sensor of the rig.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RigSensor {
    /// Unique; names the sensor in the status, diagnostics and reports.
    pub name: String,
    pub kind: SensorKind,
    pub topics: Topics,
    /// The `header.frame_id` its messages carry.
    pub frame_id: String,
    /// Sensor to base frame; may be left out with `extrinsics_from:
    /// tf_static`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extrinsics: Option<Pose>,
    /// A camera's intrinsics, in the ROS `camera_calibration` layout; left
    /// out, they come from the first message on its `camera_info` topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<serde_json::Value>")]
    pub intrinsics: Option<CameraCalibration>,
    /// Nominal frames per second (for the report and the silence check).
    pub rate_hz: f64,
    /// Deadline and queue policy; default: the scheduler section's
    /// `camera` or `lidar`, by kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<SensorConfig>,
    /// Injected faults; default: the fault section's `camera` or `lidar`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub faults: Option<StageFaults>,
}

/// How the scans of several lidars become one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct LidarMerge {
    /// Scans whose stamps lie within this window of the first one are
    /// merged; a lidar not heard from by then is left out (ms).
    pub window_ms: f64,
}

impl Default for LidarMerge {
    fn default() -> Self {
        LidarMerge { window_ms: 50.0 }
    }
}

/// Where the sensors' extrinsics come from.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ExtrinsicsFrom {
    /// Every sensor's `extrinsics` in the rig file.
    #[default]
    Rig,
    /// The bag's `/tf_static` (`tf2_msgs/TFMessage`) for every sensor the
    /// file gives none: the chain from its `frame_id` to `base_frame`.
    TfStatic,
}

/// The topic static transforms come on.
pub const TF_STATIC_TOPIC: &str = "/tf_static";

/// The whole rig.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rig {
    /// The frame obstacles are published in.
    pub base_frame: String,
    #[serde(default, skip_serializing_if = "is_default")]
    pub extrinsics_from: ExtrinsicsFrom,
    #[serde(default)]
    pub lidar_merge: LidarMerge,
    pub sensors: Vec<RigSensor>,
    /// Set by [`Rig::from_calibration`]: messages are routed by type, not
    /// topic, as before rigs existed.
    #[serde(skip)]
    #[schemars(skip)]
    by_type: bool,
    /// The calibration file the rig was made from: its camera projects
    /// through it exactly as before rigs existed.
    #[serde(skip)]
    #[schemars(skip)]
    calibration: Option<Calibration>,
}

/// Why a rig file could not be used, naming the file and the field.
#[derive(Debug, thiserror::Error)]
pub enum RigError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: invalid YAML: {detail}")]
    Yaml { path: String, detail: String },
    #[error("{path}: {source}")]
    Invalid {
        path: String,
        #[source]
        source: ConfigError,
    },
}

impl Rig {
    /// The rig of the single calibration file: its camera (sensor 0) and
    /// the lidar (sensor 1) in whose frame obstacles are published. Routed
    /// by message type.
    pub fn from_calibration(calibration: Option<&Calibration>) -> Rig {
        let (base, camera_frame, to_base, intrinsics) = match calibration {
            Some(c) => (
                c.lidar_to_camera.parent_frame.clone(),
                c.lidar_to_camera.child_frame.clone(),
                pose_of(&c.lidar_to_camera.inverse()),
                Some(c.camera.clone()),
            ),
            None => (String::new(), String::new(), Pose::IDENTITY, None),
        };
        Rig {
            base_frame: base.clone(),
            lidar_merge: LidarMerge::default(),
            sensors: vec![
                RigSensor {
                    name: "camera".into(),
                    kind: SensorKind::Camera,
                    topics: Topics::default(),
                    frame_id: camera_frame,
                    extrinsics: Some(to_base),
                    intrinsics,
                    rate_hz: 10.0,
                    schedule: None,
                    faults: None,
                },
                RigSensor {
                    name: "lidar".into(),
                    kind: SensorKind::Lidar,
                    topics: Topics::default(),
                    frame_id: base,
                    extrinsics: Some(Pose::IDENTITY),
                    intrinsics: None,
                    rate_hz: 10.0,
                    schedule: None,
                    faults: None,
                },
            ],
            extrinsics_from: ExtrinsicsFrom::Rig,
            by_type: true,
            calibration: calibration.cloned(),
        }
    }

    /// A rig of `sensors` with `base_frame` as base, routed by topic (not
    /// checked: [`Rig::validate`]).
    pub fn new(base_frame: String, lidar_merge: LidarMerge, sensors: Vec<RigSensor>) -> Rig {
        Rig {
            base_frame,
            extrinsics_from: ExtrinsicsFrom::Rig,
            lidar_merge,
            sensors,
            by_type: false,
            calibration: None,
        }
    }

    pub fn load(path: &Path) -> Result<Rig, RigError> {
        let text = std::fs::read_to_string(path).map_err(|source| RigError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Rig::from_yaml(&text, &path.display().to_string())
    }

    /// Parses and checks; `origin` names the text in errors.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Rig, RigError> {
        let rig: Rig = serde_yaml::from_str(text).map_err(|e| RigError::Yaml {
            path: origin.to_owned(),
            detail: e.to_string(),
        })?;
        rig.validate().map_err(|source| RigError::Invalid {
            path: origin.to_owned(),
            source,
        })?;
        Ok(rig)
    }

    pub fn to_yaml(&self) -> String {
        serde_yaml::to_string(self).expect("a rig serializes")
    }

    /// Every check, errors named by their path in the file.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.base_frame.is_empty() {
            return Err(ConfigError::new("base_frame", "must not be empty"));
        }
        let w = self.lidar_merge.window_ms;
        if !(w.is_finite() && w > 0.0) {
            return Err(ConfigError::new(
                "lidar_merge.window_ms",
                format!("must be positive and finite, got {w}"),
            ));
        }
        if self.sensors.is_empty() || self.sensors.len() > Sensor::MAX {
            return Err(ConfigError::new(
                "sensors",
                format!("1 to {} sensors, not {}", Sensor::MAX, self.sensors.len()),
            ));
        }
        for (i, sensor) in self.sensors.iter().enumerate() {
            let at = format!("sensors[{i}]");
            sensor.validate().map_err(|e| e.within(&at))?;
            if sensor.extrinsics.is_none() && self.extrinsics_from == ExtrinsicsFrom::Rig {
                return Err(ConfigError::new(
                    format!("{at}.extrinsics"),
                    "missing (or set extrinsics_from: tf_static to take it from /tf_static)",
                ));
            }
            if let Some(j) = self.sensors[..i].iter().position(|s| s.name == sensor.name) {
                return Err(ConfigError::new(
                    format!("{at}.name"),
                    format!("`{}` is already the name of sensors[{j}]", sensor.name),
                ));
            }
            for topic in sensor.topic_list() {
                let clash = self.sensors[..i]
                    .iter()
                    .position(|s| s.topic_list().any(|t| t == topic));
                if let Some(j) = clash {
                    return Err(ConfigError::new(
                        format!("{at}.topics"),
                        format!("`{topic}` is already a topic of sensors[{j}]"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Every sensor, in order.
    pub fn all(&self) -> impl Iterator<Item = (Sensor, &RigSensor)> {
        Sensor::all(self.sensors.len()).zip(&self.sensors)
    }

    pub fn get(&self, sensor: Sensor) -> &RigSensor {
        &self.sensors[sensor.index()]
    }

    pub fn kind(&self, sensor: Sensor) -> SensorKind {
        self.get(sensor).kind
    }

    /// The sensors of `kind`, in order.
    pub fn of_kind(&self, kind: SensorKind) -> impl Iterator<Item = Sensor> + '_ {
        self.all()
            .filter(move |(_, s)| s.kind == kind)
            .map(|(k, _)| k)
    }

    /// The sensor a message of `kind` on `topic` feeds, if any: by topic,
    /// or by type alone in the calibration file's rig.
    pub fn route(&self, topic: &str, kind: InputKind) -> Option<Sensor> {
        self.all()
            .find(|(_, s)| {
                s.kind.carries(kind) && (self.by_type || s.data_topic().is_some_and(|t| t == topic))
            })
            .map(|(k, _)| k)
    }

    /// The sensor whose `camera_info` topic is `topic`.
    pub fn camera_info_of(&self, topic: &str) -> Option<Sensor> {
        self.all()
            .find(|(_, s)| s.topics.camera_info.as_deref() == Some(topic))
            .map(|(k, _)| k)
    }

    /// Whether messages are routed by type (the calibration file's rig).
    pub fn routes_by_type(&self) -> bool {
        self.by_type
    }

    /// Sensor to base frame, as an [`Extrinsics`] (identity for a sensor
    /// whose extrinsics are still to come from `/tf_static`).
    pub fn to_base(&self, sensor: Sensor) -> Extrinsics {
        let s = self.get(sensor);
        let pose = s.extrinsics.as_ref().unwrap_or(&Pose::IDENTITY);
        Extrinsics {
            parent_frame: s.frame_id.clone(),
            child_frame: self.base_frame.clone(),
            translation: pose.translation,
            rotation_xyzw: pose.rotation_xyzw,
        }
    }

    /// The cameras whose intrinsics are to come from their `CameraInfo`,
    /// with its topic.
    pub fn awaiting_camera_info(&self) -> Vec<(Sensor, &str)> {
        self.all()
            .filter(|(_, s)| s.kind == SensorKind::Camera && s.intrinsics.is_none())
            .filter_map(|(k, s)| Some((k, s.topics.camera_info.as_deref()?)))
            .collect()
    }

    /// Takes camera `camera`'s intrinsics from its `CameraInfo`; an
    /// unusable one (a singular K, an unknown distortion model) is an
    /// error naming the sensor.
    pub fn set_intrinsics(
        &mut self,
        camera: Sensor,
        info: &crate::msg::CameraInfo<'_>,
    ) -> Result<(), ConfigError> {
        let at = format!("sensors[{}].intrinsics", camera.index());
        let s = &mut self.sensors[camera.index()];
        let mut intrinsics = CameraCalibration::pinhole(
            &s.frame_id,
            &s.name,
            (info.width, info.height),
            (info.k[0], info.k[4]),
            (info.k[2], info.k[5]),
        );
        intrinsics.camera_matrix.data = info.k.to_vec();
        intrinsics.distortion_model = info.distortion_model.to_owned();
        intrinsics.distortion_coefficients.cols = info.d().len();
        intrinsics.distortion_coefficients.data = info.d().to_vec();
        intrinsics.rectification_matrix.data = info.r.to_vec();
        intrinsics.projection_matrix.data = info.p.to_vec();
        check_intrinsics(&intrinsics, &s.frame_id)
            .map_err(|e| ConfigError::new(at, format!("from CameraInfo: {e}")))?;
        s.intrinsics = Some(intrinsics);
        Ok(())
    }

    /// Whether some sensor's extrinsics are to come from `/tf_static`.
    pub fn needs_tf_static(&self) -> bool {
        self.extrinsics_from == ExtrinsicsFrom::TfStatic
            && self.sensors.iter().any(|s| s.extrinsics.is_none())
    }

    /// Fills the extrinsics the rig leaves out from `transforms` (as on
    /// `/tf_static`: each the pose of a child frame in its parent): the
    /// chain from each sensor's frame and from the base frame up to a
    /// common root. A sensor with no chain to the base frame is an error
    /// naming it.
    pub fn resolve_tf_static(
        &mut self,
        transforms: &[crate::msg::tf::TransformStamped<'_>],
    ) -> Result<(), ConfigError> {
        use nalgebra::{Isometry3, Quaternion, Translation3, UnitQuaternion};
        let parent_of = |frame: &str| {
            transforms
                .iter()
                .rev()
                .find(|t| t.child_frame_id == frame)
                .map(|t| {
                    let [x, y, z, w] = t.rotation_xyzw;
                    let rotation = UnitQuaternion::from_quaternion(Quaternion::new(w, x, y, z));
                    let [tx, ty, tz] = t.translation;
                    (
                        t.header.frame_id,
                        Isometry3::from_parts(Translation3::new(tx, ty, tz), rotation),
                    )
                })
        };
        // A frame's pose in the root of its tree, and that root.
        let to_root = |frame: &str| {
            let mut pose = Isometry3::<f64>::identity();
            let mut at = frame.to_owned();
            for _ in 0..64 {
                match parent_of(&at) {
                    Some((parent, step)) => {
                        pose = step * pose;
                        at = parent.to_owned();
                    }
                    None => break,
                }
            }
            (at, pose)
        };
        let (base_root, root_from_base) = to_root(&self.base_frame);
        for (i, sensor) in self.sensors.iter_mut().enumerate() {
            if sensor.extrinsics.is_some() {
                continue;
            }
            let (root, root_from_sensor) = to_root(&sensor.frame_id);
            if root != base_root {
                return Err(ConfigError::new(
                    format!("sensors[{i}].frame_id"),
                    format!(
                        "no {TF_STATIC_TOPIC} chain from `{}` to the base frame `{}` ({} transforms)",
                        sensor.frame_id,
                        self.base_frame,
                        transforms.len()
                    ),
                ));
            }
            let base_from_sensor = root_from_base.inverse() * root_from_sensor;
            let q = base_from_sensor.rotation.quaternion();
            let t = base_from_sensor.translation.vector;
            sensor.extrinsics = Some(Pose {
                translation: [t.x, t.y, t.z],
                rotation_xyzw: [q.i, q.j, q.k, q.w],
            });
        }
        Ok(())
    }

    /// A camera's calibration for points in the base frame: its intrinsics
    /// and the base-to-camera transform. `None` for a lidar or a camera
    /// without intrinsics.
    pub fn camera_calibration(&self, camera: Sensor) -> Option<Calibration> {
        let s = self.get(camera);
        let intrinsics = s
            .intrinsics
            .clone()
            .filter(|_| s.kind == SensorKind::Camera)?;
        if let Some(calibration) = &self.calibration {
            return Some(calibration.clone());
        }
        let mut base_to_camera = self.to_base(camera).inverse();
        base_to_camera.parent_frame = self.base_frame.clone();
        base_to_camera.child_frame = s.frame_id.clone();
        Some(Calibration {
            camera: intrinsics,
            lidar_to_camera: base_to_camera,
        })
    }

    /// The scheduler's sensor set: each sensor's budget (its own, or the
    /// scheduler section's for its kind) and faults (its own, or the fault
    /// section's for its kind).
    pub fn sensor_set(&self, scheduler: &SchedulerConfig, faults: &FaultConfig) -> SensorSet {
        let sensors = self
            .sensors
            .iter()
            .map(|s| {
                let (config, stage_faults) = match s.kind {
                    SensorKind::Camera => (&scheduler.camera, &faults.camera),
                    SensorKind::Lidar => (&scheduler.lidar, &faults.lidar),
                };
                ScheduledSensor {
                    name: s.name.clone(),
                    config: s.schedule.clone().unwrap_or_else(|| config.clone()),
                    faults: s.faults.clone().unwrap_or_else(|| stage_faults.clone()),
                    variants: Default::default(),
                }
            })
            .collect();
        SensorSet::new(sensors, faults.seed).expect("a validated rig makes a valid sensor set")
    }

    /// Where a camera's live `CameraInfo` (image `size`, `k` row-major,
    /// distortion `d`) disagrees with the rig's intrinsics, in words that
    /// name the rig's field; `None` when it agrees (to a part in 10^6, the
    /// precision YAML round trips keep) or the sensor has no intrinsics.
    pub fn camera_info_disagreement(
        &self,
        camera: Sensor,
        size: (u32, u32),
        k: &[f64; 9],
        d: &[f64],
    ) -> Option<String> {
        let s = self.get(camera);
        let intrinsics = s.intrinsics.as_ref()?;
        let at = format!("sensors[{}].intrinsics", camera.index());
        let rig_size = (intrinsics.image_width, intrinsics.image_height);
        if size != rig_size {
            return Some(format!(
                "{}: image {}x{}, the rig's {at} says {}x{}",
                s.name, size.0, size.1, rig_size.0, rig_size.1
            ));
        }
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1.0);
        let rig_k = intrinsics.k();
        if let Some(i) = (0..9).find(|&i| !close(k[i], rig_k[i])) {
            return Some(format!(
                "{}: K[{i}] {} where the rig's {at}.camera_matrix has {}",
                s.name, k[i], rig_k[i]
            ));
        }
        let rig_d = &intrinsics.distortion_coefficients.data;
        let n = d.len().max(rig_d.len());
        let at_d = |v: &[f64], i: usize| v.get(i).copied().unwrap_or(0.0);
        if let Some(i) = (0..n).find(|&i| !close(at_d(d, i), at_d(rig_d, i))) {
            return Some(format!(
                "{}: D[{i}] {} where the rig's {at}.distortion_coefficients has {}",
                s.name,
                at_d(d, i),
                at_d(rig_d, i)
            ));
        }
        None
    }

    /// The merge window, ns.
    pub fn merge_window_ns(&self) -> i64 {
        (self.lidar_merge.window_ms * 1e6) as i64
    }
}

impl RigSensor {
    /// The topic its frames come on.
    pub fn data_topic(&self) -> Option<&str> {
        match self.kind {
            SensorKind::Camera => self.topics.image.as_deref(),
            SensorKind::Lidar => self.topics.points.as_deref(),
        }
    }

    fn topic_list(&self) -> impl Iterator<Item = &str> {
        [
            &self.topics.image,
            &self.topics.camera_info,
            &self.topics.points,
        ]
        .into_iter()
        .filter_map(|t| t.as_deref())
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let err = |field: &str, problem: String| ConfigError::new(field, problem);
        if self.name.is_empty() || self.name.contains(char::is_whitespace) {
            return Err(err(
                "name",
                format!("`{}` is not a name (no spaces)", self.name),
            ));
        }
        if self.frame_id.is_empty() {
            return Err(err("frame_id", "must not be empty".into()));
        }
        let t = &self.topics;
        type Fields<'a> = &'a [(&'a str, &'a Option<String>)];
        let (needed, wrong): (Fields<'_>, Fields<'_>) = match self.kind {
            SensorKind::Camera => (&[("image", &t.image)], &[("points", &t.points)]),
            SensorKind::Lidar => (
                &[("points", &t.points)],
                &[("image", &t.image), ("camera_info", &t.camera_info)],
            ),
        };
        for (field, topic) in needed {
            match topic.as_deref() {
                Some(name) if name.starts_with('/') => {}
                Some(name) => {
                    return Err(err(
                        &format!("topics.{field}"),
                        format!("`{name}` is not an absolute topic name"),
                    ));
                }
                None => {
                    return Err(err(
                        &format!("topics.{field}"),
                        format!("a {} needs one", self.kind.as_str()),
                    ));
                }
            }
        }
        for (field, topic) in wrong {
            if topic.is_some() {
                return Err(err(
                    &format!("topics.{field}"),
                    format!("a {} has none", self.kind.as_str()),
                ));
            }
        }
        if let Some(pose) = &self.extrinsics {
            validate_pose(pose).map_err(|e| e.within("extrinsics"))?;
        }
        match (self.kind, &self.intrinsics) {
            (SensorKind::Camera, None) if self.topics.camera_info.is_none() => {
                return Err(err(
                    "intrinsics",
                    "missing, and no topics.camera_info to take them from".into(),
                ));
            }
            (SensorKind::Camera, None) => {}
            (SensorKind::Lidar, Some(_)) => {
                return Err(err("intrinsics", "a lidar has none".into()));
            }
            (SensorKind::Camera, Some(intrinsics)) => {
                check_intrinsics(intrinsics, &self.frame_id)
                    .map_err(|e| err("intrinsics", e.to_string()))?;
            }
            (SensorKind::Lidar, None) => {}
        }
        if !(self.rate_hz.is_finite() && self.rate_hz > 0.0) {
            return Err(err(
                "rate_hz",
                format!("must be positive and finite, got {}", self.rate_hz),
            ));
        }
        if let Some(schedule) = &self.schedule {
            schedule.validate().map_err(|e| e.within("schedule"))?;
        }
        Ok(())
    }
}

/// The calibration file's checks of a camera's intrinsics (the camera in
/// frame `frame_id`).
fn check_intrinsics(
    intrinsics: &CameraCalibration,
    frame_id: &str,
) -> Result<(), crate::calibration::CalibrationError> {
    Calibration {
        camera: intrinsics.clone(),
        lidar_to_camera: Extrinsics {
            parent_frame: "base".into(),
            child_frame: frame_id.to_owned(),
            translation: [0.0; 3],
            rotation_xyzw: [0.0, 0.0, 0.0, 1.0],
        },
    }
    .validate()
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

fn validate_pose(pose: &Pose) -> Result<(), ConfigError> {
    if pose.translation.iter().any(|v| !v.is_finite()) {
        return Err(ConfigError::new("translation", "must be finite"));
    }
    let q = pose.rotation_xyzw;
    let norm = q.iter().map(|v| v * v).sum::<f64>().sqrt();
    if !norm.is_finite() || (norm - 1.0).abs() > 1e-3 {
        return Err(ConfigError::new(
            "rotation_xyzw",
            format!("must be a unit quaternion [x, y, z, w], its norm is {norm:.4}"),
        ));
    }
    Ok(())
}

fn pose_of(e: &Extrinsics) -> Pose {
    Pose {
        translation: e.translation,
        rotation_xyzw: e.rotation_xyzw,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RIG: &str = r#"
base_frame: base_link
lidar_merge: {window_ms: 40}
sensors:
  - name: cam_front
    kind: camera
    topics: {image: /cam_front/image, camera_info: /cam_front/camera_info}
    frame_id: cam_front
    extrinsics: {translation: [1.5, 0, 1.6], rotation_xyzw: [-0.5, 0.5, -0.5, 0.5]}
    intrinsics:
      frame_id: cam_front
      camera_name: cam_front
      image_width: 640
      image_height: 480
      camera_matrix: {rows: 3, cols: 3, data: [500, 0, 320, 0, 500, 240, 0, 0, 1]}
      distortion_model: plumb_bob
      distortion_coefficients: {rows: 1, cols: 5, data: [0, 0, 0, 0, 0]}
      rectification_matrix: {rows: 3, cols: 3, data: [1, 0, 0, 0, 1, 0, 0, 0, 1]}
      projection_matrix: {rows: 3, cols: 4, data: [500, 0, 320, 0, 0, 500, 240, 0, 0, 0, 1, 0]}
    rate_hz: 10
  - name: lidar_top
    kind: lidar
    topics: {points: /lidar_top/points}
    frame_id: lidar_top
    extrinsics: {translation: [0, 0, 1.8], rotation_xyzw: [0, 0, 0, 1]}
    rate_hz: 10
    schedule: {budget_ms: 150}
  - name: lidar_front
    kind: lidar
    topics: {points: /lidar_front/points}
    frame_id: lidar_front
    extrinsics: {translation: [3.6, 0, 0.5], rotation_xyzw: [0, 0, 0, 1]}
    rate_hz: 20
"#;

    fn error_of(text: &str) -> ConfigError {
        match Rig::from_yaml(text, "rig.yaml") {
            Err(RigError::Invalid { source, .. }) => source,
            other => panic!("expected an invalid rig, got {other:?}"),
        }
    }

    #[test]
    fn a_rig_file_routes_by_topic_and_schedules_each_sensor() {
        let rig = Rig::from_yaml(RIG, "rig.yaml").unwrap();
        let front = Sensor::new(2).unwrap();
        assert_eq!(
            rig.route("/lidar_front/points", InputKind::PointCloud2),
            Some(front)
        );
        assert_eq!(rig.route("/lidar_front/points", InputKind::Image), None);
        assert_eq!(rig.route("/elsewhere", InputKind::PointCloud2), None);
        assert_eq!(rig.camera_info_of("/cam_front/camera_info"), Sensor::new(0));
        let set = rig.sensor_set(&SchedulerConfig::default(), &FaultConfig::default());
        assert_eq!(set.name(front), "lidar_front");
        assert_eq!(set.get(Sensor::new(1).unwrap()).config.budget_ms, 150.0);
        assert_eq!(
            set.get(front).config.budget_ms,
            SchedulerConfig::default().lidar.budget_ms
        );
        assert_eq!(Rig::from_yaml(&rig.to_yaml(), "again").unwrap(), rig);
    }

    #[test]
    fn a_camera_projects_base_frame_points_through_its_extrinsics() {
        let rig = Rig::from_yaml(RIG, "rig.yaml").unwrap();
        let calibration = rig.camera_calibration(Sensor::CAMERA).unwrap();
        // A point 10 m ahead of the camera, at its height: on its axis.
        let p = calibration.lidar_to_camera.apply([11.5, 0.0, 1.6]);
        assert!(
            p[0].abs() < 1e-9 && p[1].abs() < 1e-9 && (p[2] - 10.0).abs() < 1e-9,
            "{p:?}"
        );
        assert!(rig.camera_calibration(Sensor::LIDAR).is_none());
    }

    #[test]
    fn errors_name_the_full_path() {
        let cases = [
            (
                "rotation_xyzw: [-0.5, 0.5, -0.5, 0.5]",
                "rotation_xyzw: [0, 0, 0, 2]",
                "sensors[0].extrinsics.rotation_xyzw",
            ),
            (
                "topics: {points: /lidar_front/points}",
                "topics: {points: /lidar_top/points}",
                "sensors[2].topics",
            ),
            ("name: lidar_front", "name: lidar_top", "sensors[2].name"),
            ("rate_hz: 20", "rate_hz: 0", "sensors[2].rate_hz"),
            (
                "schedule: {budget_ms: 150}",
                "schedule: {budget_ms: -1}",
                "sensors[1].schedule.budget_ms",
            ),
            (
                "topics: {points: /lidar_top/points}",
                "topics: {image: /x}",
                "sensors[1].topics.points",
            ),
            ("window_ms: 40", "window_ms: 0", "lidar_merge.window_ms"),
        ];
        for (from, to, path) in cases {
            assert!(RIG.contains(from), "{from}");
            let e = error_of(&RIG.replacen(from, to, 1));
            assert_eq!(e.path, path, "{e}");
        }
        let no_intrinsics = RIG.replace("    intrinsics:\n", "    ignored:\n");
        assert!(matches!(
            Rig::from_yaml(&no_intrinsics, "rig.yaml"),
            Err(RigError::Yaml { .. })
        ));
    }

    #[test]
    fn a_camera_info_that_disagrees_with_the_rig_is_named_by_field() {
        let rig = Rig::from_yaml(RIG, "rig.yaml").unwrap();
        let k = [500.0, 0.0, 320.0, 0.0, 500.0, 240.0, 0.0, 0.0, 1.0];
        let camera = Sensor::CAMERA;
        assert_eq!(
            rig.camera_info_disagreement(camera, (640, 480), &k, &[0.0; 5]),
            None
        );
        let size = rig.camera_info_disagreement(camera, (1280, 720), &k, &[0.0; 5]);
        assert!(size.unwrap().contains("image 1280x720"));
        let mut focal = k;
        focal[0] = 510.0;
        let e = rig
            .camera_info_disagreement(camera, (640, 480), &focal, &[])
            .unwrap();
        assert!(
            e.contains("K[0] 510") && e.contains("sensors[0].intrinsics"),
            "{e}"
        );
        let e = rig
            .camera_info_disagreement(camera, (640, 480), &k, &[-0.1, 0.0, 0.0, 0.0, 0.0])
            .unwrap();
        assert!(e.contains("D[0] -0.1"), "{e}");
        // Trailing zeros and rounding in the last digits are agreement.
        assert_eq!(
            rig.camera_info_disagreement(camera, (640, 480), &k, &[0.0; 8]),
            None
        );
    }

    #[test]
    fn the_calibration_rig_is_camera_then_lidar_routed_by_type() {
        let rig = Rig::from_calibration(None);
        assert_eq!(rig.route("/any", InputKind::Image), Some(Sensor::CAMERA));
        assert_eq!(
            rig.route("/other", InputKind::PointCloud2),
            Some(Sensor::LIDAR)
        );
        let set = rig.sensor_set(&SchedulerConfig::default(), &FaultConfig::default());
        assert_eq!(
            set,
            SensorSet::default_rig(&SchedulerConfig::default(), &FaultConfig::default())
        );
    }
}
