//! The sensors the scheduler serves, by index: each one's name (for the
//! status, the diagnostics and the reports), its deadline and queue policy,
//! and the faults injected into it. A [`Sensor`] is an index into this set.
//!
//! Owns the set and its checks. Never knows what kind a sensor is (camera,
//! lidar): the rig (`crate::rig`) builds the set, the scheduler only counts.

use super::config::{SchedulerConfig, SensorConfig};
use super::faults::{FaultConfig, StageFaults};
use super::variant::Variants;
use crate::stage::Sensor;
use crate::validate::ConfigError;

/// One scheduled sensor.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduledSensor {
    pub name: String,
    pub config: SensorConfig,
    pub faults: StageFaults,
    /// Its stage's variants and how one is chosen per frame (one, fixed,
    /// unless the stage has a ladder).
    pub variants: Variants,
}

/// Every sensor of a pipeline, in rig order, and the seed of the injected
/// jitter.
#[derive(Debug, Clone, PartialEq)]
pub struct SensorSet {
    sensors: Vec<ScheduledSensor>,
    seed: u64,
}

impl SensorSet {
    /// At least one sensor, at most [`Sensor::MAX`], names unique and not
    /// empty, each configuration valid. Errors name `sensors[i]`.
    pub fn new(sensors: Vec<ScheduledSensor>, seed: u64) -> Result<Self, ConfigError> {
        if sensors.is_empty() || sensors.len() > Sensor::MAX {
            return Err(ConfigError::new(
                "sensors",
                format!("1 to {} sensors, not {}", Sensor::MAX, sensors.len()),
            ));
        }
        for (i, sensor) in sensors.iter().enumerate() {
            let at = format!("sensors[{i}]");
            if sensor.name.is_empty() {
                return Err(ConfigError::new(format!("{at}.name"), "must not be empty"));
            }
            if sensors[..i].iter().any(|s| s.name == sensor.name) {
                return Err(ConfigError::new(
                    format!("{at}.name"),
                    format!("`{}` names another sensor too", sensor.name),
                ));
            }
            sensor.config.validate().map_err(|e| e.within(&at))?;
        }
        Ok(SensorSet { sensors, seed })
    }

    /// The default rig's set: the camera (index 0) and the lidar (index 1)
    /// of the scheduler section, with the fault section's faults.
    pub fn default_rig(config: &SchedulerConfig, faults: &FaultConfig) -> Self {
        let sensor = |name: &str, config: &SensorConfig, faults: &StageFaults| ScheduledSensor {
            name: name.to_owned(),
            config: config.clone(),
            faults: faults.clone(),
            variants: Variants::default(),
        };
        SensorSet {
            sensors: vec![
                sensor("camera", &config.camera, &faults.camera),
                sensor("lidar", &config.lidar, &faults.lidar),
            ],
            seed: faults.seed,
        }
    }

    pub fn len(&self) -> usize {
        self.sensors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sensors.is_empty()
    }

    /// Every sensor, in rig order.
    pub fn all(&self) -> impl Iterator<Item = Sensor> + use<> {
        Sensor::all(self.sensors.len())
    }

    pub fn get(&self, sensor: Sensor) -> &ScheduledSensor {
        &self.sensors[sensor.index()]
    }

    /// How `sensor`'s stage picks its variant per frame.
    pub fn set_variants(&mut self, sensor: Sensor, variants: Variants) {
        self.sensors[sensor.index()].variants = variants;
    }

    pub fn name(&self, sensor: Sensor) -> &str {
        &self.sensors[sensor.index()].name
    }

    /// The sensor named `name`.
    pub fn find(&self, name: &str) -> Option<Sensor> {
        let i = self.sensors.iter().position(|s| s.name == name)?;
        Sensor::new(i)
    }

    /// Extra run time (ns) injected into frame `frame` of `sensor`.
    pub fn delay_ns(&self, sensor: Sensor, frame: u64) -> i64 {
        self.get(sensor)
            .faults
            .delay_ns(self.seed, sensor.index(), frame)
    }

    /// Whether frame `frame` of `sensor` fails with an injected error.
    pub fn fails(&self, sensor: Sensor, frame: u64) -> bool {
        self.get(sensor).faults.fails(frame)
    }

    /// Whether `sensor` is silent `seconds` after the first input.
    pub fn dropped_out(&self, sensor: Sensor, seconds: f64) -> bool {
        self.get(sensor).faults.dropped_out(seconds)
    }

    /// Whether any fault is injected.
    pub fn has_faults(&self) -> bool {
        self.sensors
            .iter()
            .any(|s| s.faults != StageFaults::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sensor(name: &str) -> ScheduledSensor {
        ScheduledSensor {
            name: name.into(),
            config: SchedulerConfig::default().lidar,
            faults: StageFaults::default(),
            variants: Variants::default(),
        }
    }

    #[test]
    fn the_default_rig_is_camera_then_lidar() {
        let set = SensorSet::default_rig(&SchedulerConfig::default(), &FaultConfig::default());
        assert_eq!(set.name(Sensor::CAMERA), "camera");
        assert_eq!(set.name(Sensor::LIDAR), "lidar");
        assert_eq!(set.find("lidar"), Some(Sensor::LIDAR));
        assert_eq!(set.all().count(), 2);
    }

    #[test]
    fn names_are_unique_and_configs_checked_by_path() {
        let e = SensorSet::new(vec![sensor("front"), sensor("front")], 0).unwrap_err();
        assert_eq!(e.path, "sensors[1].name");
        let mut bad = sensor("rear");
        bad.config.mailbox_depth = 0;
        let e = SensorSet::new(vec![sensor("front"), bad], 0).unwrap_err();
        assert_eq!(e.path, "sensors[1].mailbox_depth");
        assert!(SensorSet::new(Vec::new(), 0).is_err());
    }
}
