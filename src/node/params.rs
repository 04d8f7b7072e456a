//! Every configuration knob as a ROS parameter, and back.
//!
//! The node's settings are the pipeline's config file ([`LookoutConfig`]:
//! `lidar.*`, `scheduler.*`, `faults.*`) plus the node's own section
//! ([`NodeConfig`]: `node.*`). Each leaf of that tree is one parameter named
//! by its dotted path (`scheduler.camera.budget_ms`), so a params file
//! mirrors the config file and nothing is listed twice. Overrides are
//! checked against the default's type, then the whole settings are
//! validated; every error names the parameter.
//!
//! Independent of r2r, so it is tested without ROS.

use crate::camera::engine::Backend;
use crate::config::LookoutConfig;
use serde::{Deserialize, Serialize};
use serde_yaml::{Mapping, Value};

/// A ROS parameter value (the types ROS parameters can hold).
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    Bool(bool),
    Integer(i64),
    Double(f64),
    String(String),
    BoolArray(Vec<bool>),
    IntegerArray(Vec<i64>),
    DoubleArray(Vec<f64>),
    StringArray(Vec<String>),
}

/// How a subscription treats a slow reader.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Reliability {
    /// Sensor-data QoS: newest samples, none resent.
    #[default]
    BestEffort,
    Reliable,
}

/// The camera topic's message type.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ImageTransport {
    /// `sensor_msgs/Image`.
    #[default]
    Raw,
    /// `sensor_msgs/CompressedImage` (JPEG or PNG).
    Compressed,
}

/// The node's own settings (`node.*` parameters).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct NodeConfig {
    /// Input topics, relative to the node's namespace (remappable).
    pub image_topic: String,
    pub image_transport: ImageTransport,
    pub camera_info_topic: String,
    pub points_topic: String,
    /// A rig file (`rig/*.yaml`): every camera and lidar with its topics,
    /// extrinsics, intrinsics and budgets; the topic parameters above and
    /// `fusion.calibration` are then not used. Empty: one camera and one
    /// lidar on those topics.
    pub rig: String,
    /// Subscription QoS: sensor data (best effort) by default.
    pub reliability: Reliability,
    pub queue_depth: i64,
    /// A model spec file (`models/*.yaml`); empty runs lidar only.
    pub model: String,
    pub engine: Backend,
    pub engine_threads: i64,
    /// onnxruntime: execution providers to use when the loaded library has
    /// them, comma-separated in order of preference (`cuda`, `tensorrt`);
    /// empty: the CPU provider only.
    pub onnxruntime_providers: String,
    /// Where camera preprocessing runs, the GPU, its stream priority, CUDA
    /// graphs (`cuda` builds).
    pub gpu: crate::gpu::GpuOptions,
    /// The TensorRT engine: cache, precision, build on start (`tensorrt`
    /// builds).
    pub tensorrt: crate::camera::engine::TensorRtOptions,
    /// The frame the status overlay in `~/markers` is attached to.
    pub base_frame: String,
    /// 0: normal scheduling. 1..=97: the node's threads run SCHED_FIFO,
    /// the spin thread at this priority, lanes one above, the publisher two
    /// above, so sensor drivers and other processes cannot preempt a frame
    /// on its way (needs root, CAP_SYS_NICE or an `rtprio` limit; without,
    /// a warning and normal scheduling).
    pub realtime_priority: i64,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            image_topic: "image".into(),
            image_transport: ImageTransport::Raw,
            camera_info_topic: "camera_info".into(),
            points_topic: "points".into(),
            rig: String::new(),
            reliability: Reliability::BestEffort,
            queue_depth: 5,
            model: String::new(),
            engine: Backend::Auto,
            engine_threads: 1,
            onnxruntime_providers: String::new(),
            gpu: crate::gpu::GpuOptions::default(),
            tensorrt: crate::camera::engine::TensorRtOptions::default(),
            base_frame: "base_link".into(),
            realtime_priority: 0,
        }
    }
}

impl NodeConfig {
    fn validate(&self) -> Result<(), ParamError> {
        let invalid = |name: &str, problem: &str| {
            Err(ParamError::Invalid {
                name: format!("node.{name}"),
                problem: problem.to_owned(),
            })
        };
        for (name, topic) in [
            ("image_topic", &self.image_topic),
            ("camera_info_topic", &self.camera_info_topic),
            ("points_topic", &self.points_topic),
            ("base_frame", &self.base_frame),
        ] {
            if topic.trim().is_empty() {
                return invalid(name, "must not be empty");
            }
        }
        if !(1..=1000).contains(&self.queue_depth) {
            return invalid("queue_depth", "must be in 1..=1000");
        }
        if !(1..=64).contains(&self.engine_threads) {
            return invalid("engine_threads", "must be in 1..=64");
        }
        if let Err(problem) = self.ort_providers() {
            return invalid("onnxruntime_providers", &problem);
        }
        if !(-100..=100).contains(&self.gpu.stream_priority) {
            return invalid("gpu.stream_priority", "must be in -100..=100");
        }
        if self.tensorrt.cache_dir.as_os_str().is_empty() {
            return invalid("tensorrt.cache_dir", "must not be empty");
        }
        if !(0..=97).contains(&self.realtime_priority) {
            return invalid(
                "realtime_priority",
                "must be in 0..=97 (0: normal scheduling; lanes and publisher run 1 and 2 above)",
            );
        }
        Ok(())
    }
}

impl NodeConfig {
    /// `onnxruntime_providers`, parsed.
    pub fn ort_providers(&self) -> Result<Vec<crate::camera::engine::OrtProvider>, String> {
        use clap::ValueEnum;
        self.onnxruntime_providers
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(|name| {
                crate::camera::engine::OrtProvider::from_str(name, true)
                    .map_err(|_| format!("unknown execution provider {name:?} (cuda, tensorrt)"))
            })
            .collect()
    }
}

/// Everything the node runs with.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeSettings {
    pub node: NodeConfig,
    #[serde(flatten)]
    pub pipeline: LookoutConfig,
}

/// A parameter the node cannot start with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParamError {
    #[error("parameter '{0}' is not a Lookout parameter")]
    Unknown(String),
    #[error("parameter '{name}' must be {expected}, got {got}")]
    WrongType {
        name: String,
        expected: &'static str,
        got: &'static str,
    },
    #[error("parameter '{name}': {problem}")]
    Invalid { name: String, problem: String },
}

impl NodeSettings {
    /// Every parameter with its value, in the order of the config file.
    pub fn parameters(&self) -> Vec<(String, ParamValue)> {
        let mut tree = serde_yaml::to_value(self).expect("settings serialize to YAML");
        // Scoring against ground truth is offline only (`lookout eval`):
        // the node has no such parameters.
        if let Value::Mapping(map) = &mut tree {
            map.remove("eval");
        }
        let mut out = Vec::new();
        flatten("", &tree, &mut out);
        out
    }

    /// The defaults with `overrides` applied, validated.
    pub fn from_parameters(overrides: &[(String, ParamValue)]) -> Result<Self, ParamError> {
        let defaults = serde_yaml::to_value(NodeSettings::default()).expect("defaults serialize");
        let mut tree = defaults.clone();
        for (name, value) in overrides {
            // Each override alone on the defaults first, so a bad value is
            // reported under its own name.
            let mut alone = defaults.clone();
            set(&mut alone, name, value)?;
            Self::parse(alone, Some(name))?;
            set(&mut tree, name, value)?;
        }
        Self::parse(tree, None)
    }

    fn parse(tree: Value, name: Option<&str>) -> Result<Self, ParamError> {
        let settings: NodeSettings =
            serde_yaml::from_value(tree).map_err(|e| ParamError::Invalid {
                name: name.unwrap_or("(several)").to_owned(),
                problem: e.to_string(),
            })?;
        settings.node.validate()?;
        settings
            .pipeline
            .validate()
            .map_err(|e| ParamError::Invalid {
                name: e.path,
                problem: e.problem,
            })?;
        Ok(settings)
    }
}

/// A ROS params file (`--params-file`) holding every parameter with the
/// value in `settings`, for any node name (`/**`).
pub fn params_file(settings: &NodeSettings) -> String {
    let mut tree = Mapping::new();
    for (name, value) in settings.parameters() {
        let mut node = &mut tree;
        let mut parts: Vec<&str> = name.split('.').collect();
        let leaf = parts.pop().unwrap_or_default();
        for part in parts {
            node = node
                .entry(Value::from(part))
                .or_insert_with(|| Value::Mapping(Mapping::new()))
                .as_mapping_mut()
                .expect("sections are mappings");
        }
        node.insert(Value::from(leaf), to_yaml(&value));
    }
    let mut params = Mapping::new();
    params.insert("ros__parameters".into(), Value::Mapping(tree));
    let mut root = Mapping::new();
    root.insert("/**".into(), Value::Mapping(params));
    let body = serde_yaml::to_string(&Value::Mapping(root)).expect("YAML");
    format!(
        "# Every parameter of `lookout node` with its default (generated from the\n\
         # config structs; tests check it is current: LOOKOUT_BLESS=1 cargo test\n\
         # params_file rewrites it). The meaning of each is documented in\n\
         # config/lookout.yaml (lidar.*, scheduler.*, faults.*) and in\n\
         # src/node/params.rs (node.*).\n\
         # Use: lookout node --ros-args --params-file launch/lookout.params.yaml\n{body}"
    )
}

fn flatten(prefix: &str, value: &Value, out: &mut Vec<(String, ParamValue)>) {
    match value {
        Value::Mapping(map) => {
            for (key, value) in map {
                let key = key.as_str().unwrap_or_default();
                let name = if prefix.is_empty() {
                    key.to_owned()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&name, value, out);
            }
        }
        // No default (an optional knob, off): not declared, but settable.
        Value::Null => {}
        other => {
            if let Some(value) = to_param(other) {
                out.push((prefix.to_owned(), value));
            }
        }
    }
}

fn to_param(value: &Value) -> Option<ParamValue> {
    Some(match value {
        Value::Bool(b) => ParamValue::Bool(*b),
        Value::Number(n) if n.is_f64() => ParamValue::Double(n.as_f64()?),
        Value::Number(n) => ParamValue::Integer(n.as_i64()?),
        Value::String(s) => ParamValue::String(s.clone()),
        Value::Sequence(items) => {
            if items.iter().all(|v| v.is_f64()) {
                ParamValue::DoubleArray(items.iter().filter_map(Value::as_f64).collect())
            } else if items.iter().all(|v| v.is_i64()) {
                ParamValue::IntegerArray(items.iter().filter_map(Value::as_i64).collect())
            } else if items.iter().all(Value::is_bool) {
                ParamValue::BoolArray(items.iter().filter_map(Value::as_bool).collect())
            } else {
                ParamValue::StringArray(
                    items
                        .iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect(),
                )
            }
        }
        _ => return None,
    })
}

fn type_name(value: &ParamValue) -> &'static str {
    match value {
        ParamValue::Bool(_) => "a bool",
        ParamValue::Integer(_) => "an integer",
        ParamValue::Double(_) => "a double",
        ParamValue::String(_) => "a string",
        ParamValue::BoolArray(_) => "a bool array",
        ParamValue::IntegerArray(_) => "an integer array",
        ParamValue::DoubleArray(_) => "a double array",
        ParamValue::StringArray(_) => "a string array",
    }
}

/// `value` as the YAML the default at that place has (integers are
/// accepted where doubles are expected, as rclcpp does not, because params
/// files are written by people).
fn convert(name: &str, default: &Value, value: &ParamValue) -> Result<Value, ParamError> {
    let wrong = |expected| ParamError::WrongType {
        name: name.to_owned(),
        expected,
        got: type_name(value),
    };
    let expected = match to_param(default) {
        Some(d) => d,
        // No default to compare with: take the value as it comes.
        None => return Ok(to_yaml(value)),
    };
    Ok(match (&expected, value) {
        (ParamValue::Bool(_), ParamValue::Bool(b)) => Value::Bool(*b),
        (ParamValue::Integer(_), ParamValue::Integer(i)) => Value::from(*i),
        (ParamValue::Double(_), ParamValue::Double(x)) => Value::from(*x),
        (ParamValue::Double(_), ParamValue::Integer(i)) => Value::from(*i as f64),
        (ParamValue::String(_), ParamValue::String(s)) => Value::String(s.clone()),
        (ParamValue::DoubleArray(_), ParamValue::DoubleArray(_))
        | (ParamValue::IntegerArray(_), ParamValue::IntegerArray(_))
        | (ParamValue::BoolArray(_), ParamValue::BoolArray(_))
        | (ParamValue::StringArray(_), ParamValue::StringArray(_)) => to_yaml(value),
        (ParamValue::DoubleArray(_), ParamValue::IntegerArray(v)) => {
            Value::Sequence(v.iter().map(|i| Value::from(*i as f64)).collect())
        }
        _ => return Err(wrong(type_name(&expected))),
    })
}

fn to_yaml(value: &ParamValue) -> Value {
    match value {
        ParamValue::Bool(b) => Value::Bool(*b),
        ParamValue::Integer(i) => Value::from(*i),
        ParamValue::Double(x) => Value::from(*x),
        ParamValue::String(s) => Value::String(s.clone()),
        ParamValue::BoolArray(v) => Value::Sequence(v.iter().map(|b| Value::Bool(*b)).collect()),
        ParamValue::IntegerArray(v) => Value::Sequence(v.iter().map(|i| Value::from(*i)).collect()),
        ParamValue::DoubleArray(v) => Value::Sequence(v.iter().map(|x| Value::from(*x)).collect()),
        ParamValue::StringArray(v) => {
            Value::Sequence(v.iter().map(|s| Value::String(s.clone())).collect())
        }
    }
}

/// Sets the leaf `name` (dotted) of `tree`; it must exist.
fn set(tree: &mut Value, name: &str, value: &ParamValue) -> Result<(), ParamError> {
    let unknown = || ParamError::Unknown(name.to_owned());
    let mut node = tree;
    let mut parts = name.split('.').peekable();
    while let Some(part) = parts.next() {
        let map: &mut Mapping = node.as_mapping_mut().ok_or_else(unknown)?;
        let child = map.get_mut(part).ok_or_else(unknown)?;
        if parts.peek().is_none() {
            if child.is_mapping() {
                return Err(unknown());
            }
            *child = convert(name, child, value)?;
            return Ok(());
        }
        node = child;
    }
    Err(unknown())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(name: &str, value: ParamValue) -> Result<NodeSettings, ParamError> {
        NodeSettings::from_parameters(&[(name.to_owned(), value)])
    }

    #[test]
    fn every_knob_is_a_parameter_named_by_its_path() {
        let params = NodeSettings::default().parameters();
        let names: Vec<&str> = params.iter().map(|(n, _)| n.as_str()).collect();
        for expected in [
            "node.image_topic",
            "node.reliability",
            "node.engine",
            "lidar.max_range",
            "lidar.roi_x",
            "lidar.classes.car_size",
            "scheduler.policy",
            "scheduler.camera.budget_ms",
            "scheduler.watchdog.period_ms",
            "faults.seed",
        ] {
            assert!(
                names.contains(&expected),
                "{expected} missing from {names:?}"
            );
        }
        let lookup = |n: &str| params.iter().find(|(name, _)| name == n).unwrap().1.clone();
        assert_eq!(
            lookup("lidar.roi_x"),
            ParamValue::DoubleArray(vec![-80.0, 80.0])
        );
        assert_eq!(lookup("scheduler.policy"), ParamValue::String("edf".into()));
        assert_eq!(lookup("node.engine"), ParamValue::String("auto".into()));
    }

    #[test]
    fn the_defaults_round_trip_through_parameters() {
        let params = NodeSettings::default().parameters();
        assert_eq!(
            NodeSettings::from_parameters(&params).unwrap(),
            NodeSettings::default()
        );
    }

    #[test]
    fn overrides_take_effect() {
        let s = NodeSettings::from_parameters(&[
            (
                "scheduler.camera.budget_ms".into(),
                ParamValue::Double(120.0),
            ),
            // An integer where a double is expected is fine.
            ("lidar.max_range".into(), ParamValue::Integer(60)),
            (
                "node.points_topic".into(),
                ParamValue::String("velodyne_points".into()),
            ),
            (
                "node.reliability".into(),
                ParamValue::String("reliable".into()),
            ),
        ])
        .unwrap();
        assert_eq!(s.pipeline.scheduler.camera.budget_ms, 120.0);
        assert_eq!(s.pipeline.lidar.max_range, 60.0);
        assert_eq!(s.node.points_topic, "velodyne_points");
        assert_eq!(s.node.reliability, Reliability::Reliable);
    }

    #[test]
    fn the_params_file_is_current_and_loads_back_to_the_defaults() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("launch/lookout.params.yaml");
        let text = params_file(&NodeSettings::default());
        if std::env::var("LOOKOUT_BLESS").as_deref() == Ok("1") {
            std::fs::write(&path, &text).unwrap();
        }
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            text,
            "LOOKOUT_BLESS=1 regenerates it"
        );
        // Parsed as ROS would: nested names joined with dots.
        let root: Value = serde_yaml::from_str(&text).unwrap();
        let mut params = Vec::new();
        flatten("", &root["/**"]["ros__parameters"], &mut params);
        assert_eq!(
            NodeSettings::from_parameters(&params).unwrap(),
            NodeSettings::default()
        );
    }

    #[test]
    fn errors_name_the_parameter() {
        let cases = [
            ("scheduler.camera.budget_ms", ParamValue::Double(-5.0)),
            ("scheduler.policy", ParamValue::String("round_robin".into())),
            ("lidar.max_range", ParamValue::String("far".into())),
            ("node.queue_depth", ParamValue::Integer(0)),
            ("node.engine", ParamValue::String("cuda_magic".into())),
            ("node.realtime_priority", ParamValue::Integer(120)),
        ];
        for (name, value) in cases {
            let error = one(name, value.clone()).unwrap_err().to_string();
            assert!(error.contains(name), "{name} = {value:?}: {error}");
        }
        let error = one("scheduler.camera.budget", ParamValue::Double(1.0)).unwrap_err();
        assert_eq!(error, ParamError::Unknown("scheduler.camera.budget".into()));
        // A section is not a parameter.
        assert!(matches!(
            one("scheduler.camera", ParamValue::Double(1.0)),
            Err(ParamError::Unknown(_))
        ));
    }
}
