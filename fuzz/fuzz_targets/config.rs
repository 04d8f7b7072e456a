//! Any text as each configuration file Lookout reads: the pipeline config,
//! a calibration file and a model spec. Every input must load or give an
//! error naming what is wrong, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lookout::calibration::Calibration;
use lookout::camera::spec::ModelSpec;
use lookout::config::LookoutConfig;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = LookoutConfig::from_yaml(text, "fuzz.yaml");
    let _ = Calibration::from_yaml(text, "fuzz.yaml");
    let _ = ModelSpec::from_yaml(text, Path::new("models/fuzz.yaml"));
});
