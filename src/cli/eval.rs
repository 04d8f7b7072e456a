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
    /// Score tracking on a lockstep replay.
    pub tracking: bool,
    /// Score streaming on realtime replays at these rates.
    pub streaming: Option<Vec<f64>>,
    /// The publish replays' `output.horizon_ms`, one replay each.
    pub horizons: Vec<f64>,
    /// Write the tracking's MOT frames here.
    pub mot_frames: Option<PathBuf>,
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
    if args.tracking {
        reports["tracking"] = tracking_cli(bag_path, &bag, args, config)?;
    }
    if let Some(rates) = &args.streaming {
        reports["streaming"] = serde_json::to_value(streaming_cli(&bag, args, config, rates)?)?;
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
        ladder: config.camera.clone(),
        fusion: None,
        rig: Some((rig, config.fusion.clone())),
        faults: config.faults.clone(),
        tracking: config.tracking.clone(),
        output: config.output.clone(),
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
        ladder: config.camera.clone(),
        fusion: Some((
            config.fusion.clone(),
            crate::calibration::Calibration::load(calibration)
                .with_context(|| format!("loading {}", calibration.display()))?,
        )),
        faults: config.faults.clone(),
        tracking: config.tracking.clone(),
        output: config.output.clone(),
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

/// The pipeline `eval` replays for tracking and streaming: the lidar
/// stage, with the camera detector and fusion (through the calibration or
/// the rig) when they are given.
fn pipeline_options(
    bag: &Bag,
    args: &EvalArgs,
    config: &LookoutConfig,
    label: &'static str,
) -> Result<crate::replay::ScheduledReplayOptions> {
    use crate::replay::{Mode, ScheduledReplayOptions};
    let camera = match &args.camera_model {
        Some(model) => Some((
            crate::camera::spec::ModelSpec::load(model)?,
            args.engine.clone(),
        )),
        None => None,
    };
    let fusion = match (&args.calibration, &camera) {
        (Some(calibration), Some(_)) => Some((
            config.fusion.clone(),
            crate::calibration::Calibration::load(calibration)
                .with_context(|| format!("loading {}", calibration.display()))?,
        )),
        _ => None,
    };
    let rig = match &args.rig {
        Some(rig) => Some((crate::rig::Rig::load(rig)?, config.fusion.clone())),
        None => None,
    };
    Ok(ScheduledReplayOptions {
        mode: Mode::Lockstep,
        scheduler: config.scheduler.clone(),
        lidar: config.lidar.clone(),
        camera,
        ladder: config.camera.clone(),
        fusion,
        rig,
        faults: config.faults.clone(),
        tracking: config.tracking.clone(),
        output: config.output.clone(),
        loops: 1,
        observe: crate::replay::Observe {
            progress: Progress::messages(label, bag, 1),
            ..Default::default()
        },
        out: None,
        writer: WriterOptions::default(),
    })
}

/// Tracking scored on a lockstep replay, printed; the MOT frames written
/// when asked.
fn tracking_cli(
    bag_path: &Path,
    bag: &Bag,
    args: &EvalArgs,
    config: &LookoutConfig,
) -> Result<serde_json::Value> {
    let options = pipeline_options(bag, args, config, "eval tracking")?;
    let tracking = crate::eval::tracking::TrackingEvalConfig {
        max_range: config.eval.max_range,
        min_truth_points: config.eval.min_truth_points,
        ..Default::default()
    };
    let evaluation = crate::replay::evaluate_tracking(bag, &options, &args.truth, tracking)
        .map_err(|e| anyhow::anyhow!("{}: {e}", bag_path.display()))?;
    println!();
    print!("{}", evaluation.report.table());
    if let Some(path) = &args.mot_frames {
        std::fs::write(path, serde_json::to_string(&evaluation.evaluator.frames())?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(serde_json::to_value(&evaluation.report)?)
}

/// Streaming scored on realtime replays at each rate, with the sensor
/// stamp and with the publish stamp at each horizon, printed as one table.
fn streaming_cli(
    bag: &Bag,
    args: &EvalArgs,
    config: &LookoutConfig,
    rates: &[f64],
) -> Result<Vec<crate::replay::StreamingScore>> {
    use crate::output::StampMode;
    let streaming = crate::replay::StreamingConfig::default();
    let mut scores = Vec::new();
    for &rate in rates {
        if !(rate > 0.0 && rate.is_finite()) {
            bail!("--rates: {rate} is not a positive number");
        }
        let publish = args.horizons.iter().map(|&h| (StampMode::Publish, h));
        for (stamp, horizon_ms) in std::iter::once((StampMode::Sensor, 0.0)).chain(publish) {
            let mut options = pipeline_options(bag, args, config, "eval streaming")?;
            options.mode = crate::replay::Mode::Realtime { rate };
            options.output = crate::output::OutputConfig {
                stamp,
                horizon_ms,
                ..options.output.clone()
            };
            options
                .output
                .validate()
                .map_err(|e| anyhow::anyhow!("--horizons: {e}"))?;
            let score = crate::replay::evaluate_streaming(bag, &options, &args.truth, &streaming)
                .map_err(|e| anyhow::anyhow!(e))?;
            scores.push(score);
        }
    }
    println!();
    print!("{}", streaming_table(&streaming, &scores));
    Ok(scores)
}

/// One row per replay: offline and streaming recall, precision and centre
/// error, the streaming class accuracy (the camera's part, through fusion:
/// NaN without a detector), and the centre error of the fast truth.
pub fn streaming_table(
    config: &crate::replay::StreamingConfig,
    scores: &[crate::replay::StreamingScore],
) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "streaming: the latest output published at each truth instant, against the truth then \
         (match <= {} m; fast: >= {} m/s relative to the ego; fast use: paired by identity, no gate)",
        config.eval.match_distance, config.fast_mps
    );
    let _ = writeln!(
        out,
        "{:>5} {:<12} {:>7} {:>5} {:>8} | {:>7} {:>7} {:>7} | {:>7} {:>7} {:>7} {:>7} | {:>9} {:>9} {:>9} | {:>9}  rungs",
        "rate",
        "stamp",
        "outputs",
        "late",
        "lat p50",
        "off rec",
        "off prc",
        "off ctr",
        "str rec",
        "str prc",
        "str ctr",
        "str cls",
        "fast off",
        "fast str",
        "fast use",
        "camera",
    );
    for s in scores {
        let stamp = match s.stamp {
            crate::output::StampMode::Sensor => "sensor".to_owned(),
            crate::output::StampMode::Publish => format!("publish+{}", s.horizon_ms),
        };
        let _ = writeln!(
            out,
            "{:>4}x {:<12} {:>7} {:>5} {:>6.0}ms | {:>7.3} {:>7.3} {:>6.2}m | {:>7.3} {:>7.3} {:>6.2}m {:>7.3} | {:>8.2}m {:>8.2}m {:>8.2}m | {:>9}  {}",
            s.rate,
            stamp,
            s.outputs,
            s.late,
            s.publish_latency_p50_ms,
            s.offline.recall,
            s.offline.precision,
            s.offline.center_error_median,
            s.streaming.recall,
            s.streaming.precision,
            s.streaming.center_error_median,
            s.streaming.class_accuracy,
            s.offline_fast.center_error_median,
            s.streaming_fast.center_error_median,
            s.fast_error_at_use_median,
            format!("{}/{}", s.camera_published, s.camera_frames),
            s.camera_variants
                .iter()
                .map(|v| format!("{} {}", v.name, v.started))
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
    out
}
