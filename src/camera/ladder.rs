//! A camera lane's detector as a ladder of variants (the model, then the
//! faster rungs its spec lists under `ladder:`, most accurate first), and
//! the `camera` config section that says whether the rung is chosen per
//! frame or fixed.
//!
//! Owns the loaded rungs (each its own engine and buffers: switching rungs
//! between frames costs nothing) and the resolution of the config against
//! the spec. Never chooses a rung: the scheduler does, per frame, from the
//! frame's budget ([`crate::sched::variant`]), and the lane runs the rung
//! it is told.

use super::engine::EngineOptions;
use super::spec::ModelSpec;
use super::{CameraError, CameraStage, Detection2d};
use crate::frames::CameraFrame;
use crate::sched::variant::{AdaptivePolicy, MAX_VARIANTS, Variants};
use crate::validate::{ConfigError, Section};
use serde::{Deserialize, Serialize};

/// The camera detector's rung choice (the `camera` section).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct CameraConfig {
    /// `true` (`on`): each frame runs the most accurate rung whose
    /// predicted run time fits its budget (its slack to the deadline, less
    /// the lanes' time the other sensors' load needs), with hysteresis;
    /// without a ladder, the model alone. `false` (`off`): always `variant`.
    #[serde(deserialize_with = "on_off")]
    pub adaptive: bool,
    /// With `adaptive: off`: the rung to run, by its spec's `name` (empty:
    /// the model itself).
    pub variant: String,
    /// Frames in a row the next more accurate rung must fit before the
    /// choice steps up to it (stepping down is immediate).
    pub up_after: u32,
    /// Stepping up needs the rung's estimate times (1 + this) to fit.
    pub up_margin: f64,
    /// The share of the lanes' time (0..1] the sensors' load may take: a
    /// frame's budget leaves the other sensors' measured load within it.
    pub utilization: f64,
    /// After this many frames on a cheaper rung, one frame runs on the rung
    /// above to measure it again (its estimate may date from a cold start
    /// or a busier moment).
    pub probe_after: u32,
}

impl Default for CameraConfig {
    fn default() -> Self {
        let policy = AdaptivePolicy::default();
        CameraConfig {
            adaptive: true,
            variant: String::new(),
            up_after: policy.up_after,
            up_margin: policy.up_margin,
            utilization: policy.utilization,
            probe_after: policy.probe_after,
        }
    }
}

const CAMERA: Section = Section("camera");

/// A switch: `true`/`false`, or `on`/`off` (YAML 1.1 booleans, as ROS
/// params files read them; a YAML 1.2 file reads them as strings).
fn on_off<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Switch {
        Bool(bool),
        Word(String),
    }
    match Switch::deserialize(d)? {
        Switch::Bool(b) => Ok(b),
        Switch::Word(w) => match w.as_str() {
            "on" | "true" => Ok(true),
            "off" | "false" => Ok(false),
            other => Err(serde::de::Error::custom(format!(
                "expected on or off, not `{other}`"
            ))),
        },
    }
}

impl CameraConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=10_000).contains(&self.up_after) {
            return Err(CAMERA.err(
                "up_after",
                format!("must be 1..=10000, not {}", self.up_after),
            ));
        }
        if !(1..=100_000).contains(&self.probe_after) {
            return Err(CAMERA.err(
                "probe_after",
                format!("must be 1..=100000, not {}", self.probe_after),
            ));
        }
        if !(self.up_margin >= 0.0 && self.up_margin <= 10.0) {
            return Err(CAMERA.err(
                "up_margin",
                format!("must be in [0, 10], not {}", self.up_margin),
            ));
        }
        if !(self.utilization > 0.0 && self.utilization <= 1.0) {
            return Err(CAMERA.err(
                "utilization",
                format!("must be in (0, 1], not {}", self.utilization),
            ));
        }
        Ok(())
    }

    fn policy(&self) -> AdaptivePolicy {
        AdaptivePolicy {
            up_after: self.up_after,
            up_margin: self.up_margin,
            utilization: self.utilization,
            probe_after: self.probe_after,
        }
    }

    /// The rungs of `spec` to load and how the scheduler picks among them:
    /// every rung when adaptive, else the one `variant` names (as variant
    /// 0). Errors name the field.
    pub fn resolve(&self, spec: &ModelSpec) -> Result<(Vec<ModelSpec>, Variants), String> {
        let mut rungs = spec.rungs().map_err(|e| e.to_string())?;
        if rungs.len() > MAX_VARIANTS {
            return Err(format!(
                "{}: ladder: at most {} rungs with the model, not {}",
                spec.origin.display(),
                MAX_VARIANTS,
                rungs.len()
            ));
        }
        if self.adaptive && rungs.len() > 1 {
            let count = rungs.len() as u8;
            let policy = self.policy();
            return Ok((rungs, Variants::Adaptive { count, policy }));
        }
        let name = if self.variant.is_empty() {
            &spec.name
        } else {
            &self.variant
        };
        let Some(at) = rungs.iter().position(|r| &r.name == name) else {
            let names: Vec<&str> = rungs.iter().map(|r| r.name.as_str()).collect();
            return Err(format!(
                "camera.variant: `{name}` is not a rung of {} ({})",
                spec.origin.display(),
                names.join(", ")
            ));
        };
        Ok((vec![rungs.swap_remove(at)], Variants::Fixed(0)))
    }
}

/// One lane's loaded rungs, most accurate first.
pub struct CameraLadder {
    rungs: Vec<CameraStage>,
    variants: Variants,
}

impl CameraLadder {
    /// Loads the rungs `config` resolves from `spec`, each on an engine
    /// `engine` chooses, and runs each once (the first frames' run times
    /// then choose the rung, not the engines' setup).
    pub fn load(
        spec: &ModelSpec,
        engine: &EngineOptions,
        config: &CameraConfig,
    ) -> Result<Self, String> {
        let (specs, variants) = config.resolve(spec)?;
        let mut rungs = Vec::with_capacity(specs.len());
        for spec in specs {
            let name = spec.name.clone();
            let loaded = CameraStage::load(spec, engine).and_then(|mut stage| {
                stage.warm_up()?;
                Ok(stage)
            });
            rungs.push(loaded.map_err(|e| format!("camera model {name}: {e}"))?);
        }
        Ok(CameraLadder { rungs, variants })
    }

    /// How the scheduler picks the rung.
    pub fn variants(&self) -> Variants {
        self.variants
    }

    /// The rungs' model names, most accurate first.
    pub fn names(&self) -> Vec<String> {
        self.rungs.iter().map(|r| r.spec().name.clone()).collect()
    }

    /// The most accurate rung (the model the lane was given).
    pub fn top(&self) -> &CameraStage {
        &self.rungs[0]
    }

    /// Detects objects in `frame` with rung `variant` (the cheapest when
    /// there are fewer); `out` is cleared first.
    pub fn process(
        &mut self,
        variant: usize,
        frame: &CameraFrame<'_>,
        out: &mut Vec<Detection2d>,
    ) -> Result<(), CameraError> {
        let last = self.rungs.len() - 1;
        self.rungs[variant.min(last)].process(frame, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adaptive_takes_every_rung_and_off_takes_the_one_named() {
        let spec = super::super::spec::shipped_nanodet();
        let (rungs, variants) = CameraConfig::default().resolve(&spec).unwrap();
        assert_eq!(rungs.len(), 2);
        assert!(matches!(variants, Variants::Adaptive { count: 2, .. }));
        let off = |variant: &str| CameraConfig {
            adaptive: false,
            variant: variant.to_owned(),
            ..CameraConfig::default()
        };
        let (rungs, variants) = off("").resolve(&spec).unwrap();
        assert_eq!(
            (rungs[0].name.as_str(), variants),
            ("nanodet-m-416", Variants::Fixed(0))
        );
        let int8 = &spec.rungs().unwrap()[1].name;
        let (rungs, _) = off(int8).resolve(&spec).unwrap();
        assert_eq!(&rungs[0].name, int8);
        let error = off("yolo").resolve(&spec).unwrap_err();
        assert!(error.contains("camera.variant: `yolo`"), "{error}");
        let error = CameraConfig {
            utilization: 1.5,
            ..CameraConfig::default()
        }
        .validate()
        .unwrap_err();
        assert!(error.to_string().contains("camera.utilization"), "{error}");
        for (text, adaptive) in [
            ("off", false),
            ("on", true),
            ("false", false),
            ("true", true),
        ] {
            let config: CameraConfig = serde_yaml::from_str(&format!("adaptive: {text}")).unwrap();
            assert_eq!(config.adaptive, adaptive, "{text}");
        }
        assert!(serde_yaml::from_str::<CameraConfig>("adaptive: maybe").is_err());
    }
}
