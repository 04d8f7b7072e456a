//! `lookout replay` (the unscheduled check, or the deadline runtime in
//! lockstep or realtime) and `lookout demo`.

use super::args::*;
use super::data::run_synth;
use super::eval::{EvalArgs, run_eval};
use crate::bag::{Bag, WriterOptions};
use crate::camera::engine::EngineOptions;
use crate::clock::MonotonicClock;
use crate::config::LookoutConfig;
use crate::progress::Progress;
use crate::replay::{ReplayOptions, replay};
use crate::synth::SynthOptions;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

pub fn run_replay(
    bag_path: &Path,
    out: Option<PathBuf>,
    topics: Vec<String>,
    config: &LookoutConfig,
) -> Result<()> {
    let bag = Bag::open(bag_path).with_context(|| format!("opening {}", bag_path.display()))?;
    let options = ReplayOptions {
        out: out.clone(),
        topics: (!topics.is_empty()).then_some(topics),
        writer: WriterOptions::default(),
        lidar: Some(config.lidar.clone()),
        progress: Progress::messages("replay", &bag, 1),
    };
    let wall = MonotonicClock::new();
    let report = replay(&bag, &options, &MonotonicClock::new())?;
    print!("{}", report.table());
    println!(
        "replayed {} messages in {:.2} s{}",
        report.read.messages,
        crate::clock::Clock::now_ns(&wall) as f64 / 1e9,
        out.map(|o| format!(", outputs in {}", o.display()))
            .unwrap_or_default()
    );
    if let Some(error) = report.bag_error {
        bail!("the bag is damaged; the messages before the damage were replayed: {error}");
    }
    Ok(())
}

pub fn run_scheduled_replay(
    bag_path: &Path,
    out: Option<PathBuf>,
    config: &LookoutConfig,
    mode: ReplayMode,
    args: &ScheduleArgs,
    heap_probe: Option<fn() -> Option<u64>>,
) -> Result<()> {
    use crate::pipeline::{CameraSide, SetupError};
    use crate::replay::{Mode, ScheduledReplayOptions, replay_scheduled};
    let bag = Bag::open(bag_path).with_context(|| format!("opening {}", bag_path.display()))?;
    let mut scheduler = config.scheduler.clone();
    if let Some(policy) = args.scheduler {
        scheduler.policy = policy;
    }
    if let Some(workers) = args.workers {
        scheduler.workers = workers;
    }
    if !(args.rate.is_finite() && args.rate > 0.0) {
        bail!("--rate must be a positive number, not {}", args.rate);
    }
    let model = args.camera_model.as_deref();
    let calibration_path = args.calibration.clone().or_else(|| {
        (!config.fusion.calibration.is_empty()).then(|| config.fusion.calibration.clone().into())
    });
    // A calibration named only in the config file does not ask for fusion
    // by itself: without a camera model it is not read.
    let calibration = calibration_path
        .as_deref()
        .filter(|_| (model.is_some() || args.calibration.is_some()) && args.rig.is_none());
    let side = CameraSide::load(
        model,
        args.engine.options(),
        &config.fusion,
        calibration,
        args.rig.as_deref(),
    )
    .map_err(|e| match e {
        SetupError::NoModel { .. } => {
            anyhow::anyhow!("fusion needs a camera detector: add --camera-model")
        }
        e => e.into(),
    })?;
    let options = ScheduledReplayOptions {
        mode: match mode {
            ReplayMode::Lockstep => Mode::Lockstep,
            ReplayMode::Realtime => Mode::Realtime { rate: args.rate },
        },
        scheduler,
        lidar: config.lidar.clone(),
        fusion: side.calibration_fusion(),
        rig: side.rig_fusion(&config.fusion),
        camera: side.camera,
        ladder: config.camera.clone(),
        faults: config.faults.clone(),
        tracking: config.tracking.clone(),
        output: config.output.clone(),
        out: out.clone(),
        writer: WriterOptions::default(),
        loops: args.loops,
        observe: crate::replay::Observe {
            frames: args.report.is_some(),
            obstacles: false,
            truth_topic: (args.report.is_some() || args.bev.is_some()).then(|| args.truth.clone()),
            bev: args.bev.clone(),
            heap_probe,
            progress: Progress::messages("replay", &bag, u64::from(args.loops)),
        },
    };
    let report = replay_scheduled(&bag, &options)?;
    print!("{}", report.table());
    if let Some(accuracy) = &report.accuracy {
        println!(
            "\naccuracy of the published lidar obstacles against {}:",
            args.truth
        );
        print!("{}", accuracy.table());
    }
    if let Some(path) = &args.report_json {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(dir) = &args.report {
        let files = crate::report::write_report(dir, &report)?;
        println!("report: {} files in {}", files.len(), dir.display());
    }
    if let (Some(dir), Some(pictures)) = (&args.bev, report.bev_pictures) {
        println!("bird's-eye view: {pictures} pictures in {}", dir.display());
    }
    if args.compare_fifo {
        let mut baseline = options.clone();
        baseline.scheduler.policy = crate::sched::Policy::Fifo;
        baseline.out = None;
        baseline.observe = crate::replay::Observe::default();
        println!();
        print!("{}", replay_scheduled(&bag, &baseline)?.table());
    }
    if let Some(out) = out {
        println!("outputs in {}", out.display());
    }
    Ok(())
}

pub fn demo(bag: &Path, seconds: f64) -> Result<()> {
    if !bag.exists() {
        println!(
            "synthesizing a {seconds} s demo scene at {} ...",
            bag.display()
        );
        run_synth(
            bag,
            &SynthOptions {
                seconds,
                ..SynthOptions::default()
            },
            &[],
            None,
        )?;
    }
    let out = bag.with_extension("out.mcap");
    run_replay(bag, Some(out), Vec::new(), &LookoutConfig::default())?;
    // The whole pipeline on the synthetic detector: camera AP, and classed
    // 3D obstacles (fused through the scene's calibration) against truth.
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join(DEMO_MODEL);
    let calibration = crate::synth::calibration_path(bag);
    println!("\nfusion with the synthetic-scene detector ({DEMO_MODEL}):");
    run_eval(
        bag,
        &EvalArgs {
            rig: None,
            truth: crate::synth::TRUTH_TOPIC.to_owned(),
            truth_2d: crate::synth::CAMERA_TRUTH_TOPIC.to_owned(),
            camera_model: Some(model),
            calibration: Some(calibration),
            fused_range: 40.0,
            tracking: false,
            streaming: None,
            horizons: Vec::new(),
            mot_frames: None,
            engine: EngineOptions::default(),
        },
        &LookoutConfig::default(),
        None,
    )
}

/// The detector trained on synthetic scenes (models/train/).
pub const DEMO_MODEL: &str = "models/synthetic-det.yaml";
