//! The drivers of the `lookout` command line, one module per group of
//! commands; the command tree is [`args`]. `src/main.rs` parses and
//! dispatches; everything a command does is here, above the pipeline,
//! replay and evaluation modules it drives.
//!
//! Never used by the library's other modules: nothing below depends on it.

pub mod args;
pub mod bench;
pub mod camera;
pub mod data;
pub mod eval;
pub mod replay;

use crate::config::LookoutConfig;
use anyhow::{Context, Result};
use std::path::Path;

pub fn create_parent(out: &Path) -> Result<()> {
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    Ok(())
}

pub fn load_config(path: Option<&Path>) -> Result<LookoutConfig> {
    Ok(match path {
        Some(path) => LookoutConfig::load(path)?,
        None => LookoutConfig::default(),
    })
}
