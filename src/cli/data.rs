//! `lookout synth`, `lookout import` and `lookout info`: making and
//! inspecting bags.

use super::args::*;
use super::*;
use crate::bag::Bag;
use crate::clock::MonotonicClock;
use crate::synth::SynthOptions;
use anyhow::{Context, Result};
use std::path::Path;

/// Writes a scene: one camera and one lidar, with `extra` lidars, or every
/// sensor of the rig file at `rig`.
pub fn run_synth(
    out: &Path,
    options: &SynthOptions,
    extra: &[crate::synth::ExtraLidar],
    rig: Option<&Path>,
) -> Result<()> {
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let wall = MonotonicClock::new();
    let summary = match rig {
        Some(path) => {
            let rig = crate::rig::Rig::load(path)?;
            crate::synth::rig::synthesize_from_rig(out, options, &rig, true)
        }
        None => crate::synth::synthesize_rig(out, options, extra, true),
    }
    .context("synthesizing the scene")?;
    println!(
        "wrote {} ({} s, seed {}): {} camera frames, {} lidar scans ({:.0} points/scan), {} ground-truth obstacles, calibration {} [{:.1} s]",
        out.display(),
        options.seconds,
        options.seed,
        summary.camera_frames,
        summary.lidar_scans,
        summary.lidar_points as f64 / summary.lidar_scans.max(1) as f64,
        summary.truth_obstacles,
        summary.calibration_path.display(),
        crate::clock::Clock::now_ns(&wall) as f64 / 1e9
    );
    if !extra.is_empty() || rig.is_some() {
        println!("rig {}", crate::synth::rig_path(out).display());
    }
    Ok(())
}

pub fn run_import(dataset: ImportDataset) -> Result<()> {
    let (out, summary) = match dataset {
        ImportDataset::Kitti { dir, out, frames } => {
            create_parent(&out)?;
            let summary = crate::import::kitti::import(&dir, frames.as_deref(), &out)
                .context("importing KITTI")?;
            (out, summary)
        }
        ImportDataset::Nuscenes {
            dataroot,
            version,
            scene,
            out,
        } => {
            create_parent(&out)?;
            let summary =
                crate::import::nuscenes::import(&dataroot, &version, scene.as_deref(), &out)
                    .context("importing nuScenes")?;
            (out, summary)
        }
    };
    println!("{}", summary.line(&out));
    Ok(())
}

pub fn info(bag_path: &Path) -> Result<()> {
    let bag = Bag::open(bag_path).with_context(|| format!("opening {}", bag_path.display()))?;
    for file in bag.files() {
        println!("file: {}", file.display());
    }
    for topic in bag.topics()? {
        println!(
            "{:<32} {:<36} {:>8} msgs  ({})",
            topic.topic, topic.type_name, topic.message_count, topic.encoding
        );
    }
    Ok(())
}
