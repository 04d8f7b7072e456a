//! `lookout eval`: the lidar stage, the camera detector and the fused
//! pipeline scored against a bag's truth, printed and written as JSON.

use crate::bag::{Bag, WriterOptions};
use crate::camera::engine::EngineOptions;
use crate::clock::MonotonicClock;
use crate::config::LookoutConfig;
use crate::eval::EvalConfig;
use crate::progress::Progress;
use crate::replay::evaluate_lidar;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

pub struct EvalArgs {
    pub truth: String,
    pub truth_2d: String,
    pub camera_model: Option<PathBuf>,
    pub calibration: Option<PathBuf>,
    pub rig: Option<PathBuf>,
    pub fused_range: f64,
    pub engine: EngineOptions,
}

pub fn run_eval(
    bag_path: &Path,
    args: &EvalArgs,
    config: &LookoutConfig,
    json: Option<&Path>,
) -> Result<()> {
    let truth = args.truth.as_str();
    let bag = Bag::open(bag_path).with_context(|| format!("opening {}", bag_path.display()))?;
    let evaluation = evaluate_lidar(
        &bag,
        &config.lidar,
        truth,
        config.eval.clone(),
        &MonotonicClock::new(),
        &Progress::messages("eval lidar", &bag, 1),
    )?;
    print!("{}", evaluation.report.table());
    let stage = &evaluation.stage;
    println!(
        "{} scans scored ({} without truth, {} truth records without a scan); lidar stage p50 {:.2} ms, p99 {:.2} ms",
        evaluation.scored_scans,
        evaluation.unpaired_scans,
        evaluation.unpaired_truth,
        stage.time_ns.value_at_quantile(0.5) as f64 / 1e6,
        stage.time_ns.value_at_quantile(0.99) as f64 / 1e6,
    );
    if let Some(error) = &evaluation.first_truth_error {
        eprintln!(
            "warning: {} truth records on {truth} did not decode (first: {error})",
            evaluation.undecodable_truth
        );
    }
    if evaluation.scored_scans == 0 {
        bail!("no scan had a truth record on {truth} with the same stamp");
    }
    let mut reports = serde_json::json!({ "lidar": evaluation.report });
    if let Some(rig) = &args.rig {
        let rig_report = evaluate_rig_cli(&bag, args, rig, config)?;
        reports["rig"] = serde_json::to_value(&rig_report)?;
    }
    if let Some(model) = args.camera_model.as_ref().filter(|_| args.rig.is_none()) {
        use crate::camera::spec::ModelSpec;
        let spec = ModelSpec::load(model)?;
        let mut camera = crate::camera::CameraStage::load(spec.clone(), &args.engine)?;
        let (camera_report, frames) = crate::replay::evaluate_camera(
            &bag,
            &mut camera,
            &args.truth_2d,
            Default::default(),
            &Progress::messages("eval camera", &bag, 1),
        )?;
        println!("\ncamera detector {}:", spec.name);
        print!("{}", camera_report.table());
        if frames == 0 {
            bail!(
                "no camera frame had 2D truth on {} with the same stamp",
                args.truth_2d
            );
        }
        reports["camera"] = serde_json::to_value(&camera_report)?;
        if let Some(calibration) = &args.calibration {
            let (fused, scans) = evaluate_fused_cli(&bag, spec, args, calibration, config)?;
            println!(
                "\nfused obstacles the camera sees (>= 30%) within {} m ({scans} scans):",
                args.fused_range
            );
            print!("{}", fused.table());
            reports["fused"] = serde_json::to_value(&fused)?;
        }
    } else if args.calibration.is_some() {
        bail!("--calibration needs --camera-model");
    }
    if let Some(path) = json {
        std::fs::write(path, serde_json::to_string_pretty(&reports)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// The rig's replay scored all around and per camera, printed.
fn evaluate_rig_cli(
    bag: &Bag,
    args: &EvalArgs,
    rig: &Path,
    config: &LookoutConfig,
) -> Result<crate::replay::RigEvaluation> {
    use crate::replay::{Mode, ScheduledReplayOptions};
    let rig = crate::rig::Rig::load(rig)?;
    let camera = match &args.camera_model {
        Some(model) => Some((
            crate::camera::spec::ModelSpec::load(model)?,
            args.engine.clone(),
        )),
        None => None,
    };
    let options = ScheduledReplayOptions {
        mode: Mode::Lockstep,
        scheduler: config.scheduler.clone(),
        lidar: config.lidar.clone(),
        camera,
        fusion: None,
        rig: Some((rig, config.fusion.clone())),
        faults: config.faults.clone(),
        tracking: config.tracking.clone(),
        loops: 1,
        observe: crate::replay::Observe {
            progress: Progress::messages("eval rig", bag, 1),
            ..Default::default()
        },
        out: None,
        writer: WriterOptions::default(),
    };
    let min_visible = crate::eval::image::ImageEvalConfig::default().min_visible;
    let evaluation = crate::replay::evaluate_rig(
        bag,
        &options,
        crate::replay::RigTruth {
            obstacles: &args.truth,
            min_visible,
            camera_range: args.fused_range,
        },
        config.eval.clone(),
    )
    .map_err(|e| anyhow::anyhow!(e))?;
    println!(
        "
the rig's published obstacles, all around ({} scans):",
        evaluation.scans
    );
    print!("{}", evaluation.all.table());
    let eval = EvalConfig {
        max_range: args.fused_range,
        ..config.eval.clone()
    };
    let _ = eval;
    for (camera, report) in &evaluation.cameras {
        println!(
            "
{camera}: the fused obstacles it sees (>= {:.0}% seen):",
            100.0 * min_visible
        );
        print!("{}", report.table());
    }
    Ok(evaluation)
}

pub fn evaluate_fused_cli(
    bag: &Bag,
    spec: crate::camera::spec::ModelSpec,
    args: &EvalArgs,
    calibration: &Path,
    config: &LookoutConfig,
) -> Result<(crate::eval::EvalReport, u64)> {
    use crate::replay::{Mode, ScheduledReplayOptions};
    let options = ScheduledReplayOptions {
        mode: Mode::Lockstep,
        scheduler: config.scheduler.clone(),
        lidar: config.lidar.clone(),
        camera: Some((spec, args.engine.clone())),
        fusion: Some((
            config.fusion.clone(),
            crate::calibration::Calibration::load(calibration)
                .with_context(|| format!("loading {}", calibration.display()))?,
        )),
        faults: config.faults.clone(),
        tracking: config.tracking.clone(),
        rig: None,
        loops: 1,
        observe: crate::replay::Observe {
            progress: Progress::messages("eval fused", bag, 1),
            ..Default::default()
        },
        out: None,
        writer: WriterOptions::default(),
    };
    let eval = EvalConfig {
        max_range: args.fused_range,
        ..config.eval.clone()
    };
    let truth = crate::replay::FusedTruth {
        obstacles: &args.truth,
        camera: &args.truth_2d,
        min_visible: crate::eval::image::ImageEvalConfig::default().min_visible,
    };
    crate::replay::evaluate_fused(bag, &options, truth, eval).map_err(|e| anyhow::anyhow!(e))
}
