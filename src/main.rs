//! The `lookout` command line.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use lookout::bag::{Bag, Compression, WriterOptions};
use lookout::camera::engine::cache::Precision;
use lookout::camera::engine::{Backend, EngineOptions};
use lookout::clock::MonotonicClock;
use lookout::config::LookoutConfig;
use lookout::eval::EvalConfig;
use lookout::progress::Progress;
use lookout::replay::{ReplayOptions, evaluate_lidar, replay};
use lookout::synth::{CameraFormat, LidarModel, SceneKind, SynthOptions, synthesize_with_progress};
use std::path::{Path, PathBuf};

/// See Cargo.toml: resident memory stays flat over long runs.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Bytes allocated and not yet freed, by jemalloc's statistics.
fn heap_in_use() -> Option<u64> {
    tikv_jemalloc_ctl::epoch::advance().ok()?;
    tikv_jemalloc_ctl::stats::allocated::read()
        .ok()
        .map(|bytes| bytes as u64)
}

#[derive(Parser)]
#[command(
    name = "lookout",
    version,
    about = "Real-time perception node: camera + lidar obstacles with per-frame deadlines"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Write a Chrome/Perfetto trace of the run here (open it in
    /// ui.perfetto.dev or chrome://tracing): one slice per stage run on its
    /// lane's track, drops as instant events. `LOOKOUT_TRACE` filters it
    /// (default `lookout=debug`); `RUST_LOG` filters the log lines.
    #[arg(long, global = true)]
    trace_out: Option<PathBuf>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum BenchStage {
    /// The lidar obstacle stage at 30k, 60k, 120k and 240k points per scan.
    Lidar,
    /// Camera preprocessing (1920x1080 rgb8 to 416 and 640), inference and
    /// decoding with the shipped NanoDet-m.
    Camera,
    /// Scheduler overhead per frame: the decisions alone, and a round trip
    /// through the runtime's threads with no stage work.
    Scheduler,
}

#[derive(Subcommand)]
enum Command {
    /// Run as a ROS 2 node (feature `ros2`): subscribes to image, camera_info
    /// and points, publishes ~/obstacles, ~/markers, ~/status and
    /// /diagnostics. Parameters: `--ros-args --params-file FILE -p NAME:=VALUE`
    /// (launch/lookout.params.yaml lists them all).
    Node {
        /// ROS arguments (`--ros-args ...`), read by ROS itself.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ros_args: Vec<String>,
    },
    /// Synthesize a scene bag if absent, replay it, print the summary.
    Demo {
        /// Scene bag to use (created when missing).
        #[arg(long, default_value = "target/demo/scene.mcap")]
        bag: PathBuf,
        /// Scene length when the bag has to be created.
        #[arg(long, default_value_t = 20.0)]
        seconds: f64,
    },
    /// Write a synthetic driving scene (camera, lidar, ground truth) as rosbag2 MCAP.
    Synth {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 20.0)]
        seconds: f64,
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// The world: the original town, or the harder street (parked rows,
        /// a junction, pedestrian groups, poles, trees, hedges).
        #[arg(long, value_enum, default_value_t = SceneKind::Town)]
        scene: SceneKind,
        /// The lidar model.
        #[arg(long, value_enum, default_value_t = LidarModel::Default)]
        lidar: LidarModel,
        /// How camera frames are stored.
        #[arg(long, value_enum, default_value_t = CameraFormat::Raw)]
        camera_format: CameraFormat,
        #[arg(long, value_enum, default_value_t = Compression::Zstd)]
        compression: Compression,
    },
    /// Convert a public dataset (KITTI, nuScenes) into a rosbag2 MCAP bag
    /// with ground truth, and its calibration beside it.
    Import {
        #[command(subcommand)]
        dataset: ImportDataset,
    },
    /// Replay a rosbag2 MCAP file (or rosbag2 directory) through the pipeline.
    Replay {
        bag: PathBuf,
        /// Write the outputs to this MCAP file.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Only these topics (repeatable).
        #[arg(long = "topic")]
        topics: Vec<String>,
        /// Pipeline configuration (YAML; see config/lookout.yaml).
        #[arg(long)]
        config: Option<PathBuf>,
        #[command(flatten)]
        scheduled: ScheduleArgs,
    },
    /// Score the lidar obstacles of a bag against its ground truth; with
    /// --camera-model also the camera detector (AP against the 2D truth),
    /// and with --calibration too the fused obstacles the camera sees.
    Eval {
        bag: PathBuf,
        /// Topic of the ground truth (lookout_msgs/msg/ObstacleArray).
        #[arg(long, default_value = "/ground_truth/obstacles")]
        truth: String,
        /// Topic of the 2D ground truth (lookout_msgs/msg/Detection2DArray).
        #[arg(long, default_value = "/ground_truth/detections")]
        truth_2d: String,
        /// Pipeline configuration (YAML; see config/lookout.yaml).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Also write the report(s) as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Score this camera detector too.
        #[arg(long)]
        camera_model: Option<PathBuf>,
        /// Fuse through this calibration and score the fused obstacles
        /// within --fused-range of the sensor that the camera sees (at
        /// least 30% seen in the nearest camera frame's 2D truth).
        #[arg(long)]
        calibration: Option<PathBuf>,
        #[arg(long, default_value_t = 40.0)]
        fused_range: f64,
        #[command(flatten)]
        engine: EngineArgs,
    },
    /// List the topics of a bag.
    Info { bag: PathBuf },
    /// Run the camera detector on JPEG/PNG files and print the detections.
    Detect {
        #[arg(required = true)]
        images: Vec<PathBuf>,
        /// Model spec file.
        #[arg(long, default_value = "models/nanodet-m-416.yaml")]
        model: PathBuf,
        /// Write each image with its detections drawn into this folder.
        #[arg(long)]
        draw: Option<PathBuf>,
        #[command(flatten)]
        engine: EngineArgs,
    },
    /// TensorRT engines: build one into the engine cache (with trtexec),
    /// or check which one a model would load.
    Engine {
        #[command(subcommand)]
        action: EngineAction,
    },
    /// Check the GPU path on this machine's GPU (`cuda` builds): CPU vs GPU
    /// preprocessing, pinned vs pageable copies, per-lane GPU time, stream
    /// priority under contention; prints a table, fails on disagreement.
    GpuCheck {
        /// GPU ordinal.
        #[arg(long, default_value_t = 0)]
        gpu: usize,
        /// Frames per timing run.
        #[arg(long, default_value_t = 200)]
        frames: usize,
        /// Also compare the whole camera stage (this model, tract) with GPU
        /// and with CPU preprocessing.
        #[arg(long)]
        model: Option<PathBuf>,
    },
    /// Time a pipeline stage on synthetic scans (run under `taskset -c 0`
    /// to measure one core).
    Bench {
        #[arg(value_enum)]
        stage: BenchStage,
        /// Timed runs per size.
        #[arg(long, default_value_t = 200)]
        runs: usize,
        /// Pipeline configuration (YAML; see config/lookout.yaml).
        #[arg(long)]
        config: Option<PathBuf>,
        /// The onnxruntime shared library, to time that engine too (camera
        /// only; default: ORT_DYLIB_PATH).
        #[arg(long)]
        onnxruntime_library: Option<PathBuf>,
        /// Lidar only: time the scans of this bag (e.g. an imported KITTI
        /// frame) instead of synthetic ones.
        #[arg(long)]
        bag: Option<PathBuf>,
    },
}

/// Replay through the deadline scheduler (without `--mode`: decode, validate
/// and run the lidar stage on every message, no deadlines).
#[derive(clap::Args)]
struct ScheduleArgs {
    /// lockstep: simulated clock, every frame in order, deterministic
    /// outputs; realtime: wall-clock pacing at --rate, real drops.
    #[arg(long, value_enum)]
    mode: Option<ReplayMode>,
    /// Pacing for realtime mode, times the recorded speed (given without
    /// --mode, it means realtime).
    #[arg(long, default_value_t = 1.0)]
    rate: f64,
    /// Replay the bag N times in a row, as a bag loop (time goes back at
    /// each start: a new run); resident memory is reported per pass. Given
    /// without --mode, it means realtime.
    #[arg(long = "loop", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    loops: u32,
    /// Overrides the config's scheduler.policy.
    #[arg(long, value_enum)]
    scheduler: Option<lookout::sched::Policy>,
    /// Overrides the config's scheduler.workers.
    #[arg(long)]
    workers: Option<usize>,
    /// Run this camera detector on the camera frames.
    #[arg(long)]
    camera_model: Option<PathBuf>,
    /// Fuse lidar obstacles with the camera detections through this
    /// calibration (overrides the config's fusion.calibration; needs
    /// --camera-model).
    #[arg(long)]
    calibration: Option<PathBuf>,
    #[command(flatten)]
    engine: EngineArgs,
    /// Write the end-of-run report (KPIs, counts, status records) as JSON.
    #[arg(long)]
    report_json: Option<PathBuf>,
    /// Write a report folder: summary.md, summary.json (KPIs, counts,
    /// accuracy against --truth when the bag has it) and plots (PNG, SVG)
    /// of stage run times, end-to-end latency with drops, health. Given
    /// without --mode, it means realtime.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Write one bird's-eye-view PNG per published lidar frame here:
    /// points, obstacles by class and source, ground truth outlines. Given
    /// without --mode, it means realtime.
    #[arg(long)]
    bev: Option<PathBuf>,
    /// Ground truth for --report and --bev (lookout_msgs/msg/ObstacleArray).
    #[arg(long, default_value = lookout::synth::TRUTH_TOPIC)]
    truth: String,
    /// Then replay again with the FIFO baseline and print both reports.
    #[arg(long)]
    compare_fifo: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ReplayMode {
    Lockstep,
    Realtime,
}

#[derive(Subcommand)]
enum ImportDataset {
    /// A KITTI object-detection folder (velodyne/, label_2/, calib/,
    /// image_2/) or raw drive (velodyne_points/, image_02/, calib files in
    /// it or its parent); the layout is detected.
    Kitti {
        dir: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// Object layout: these frame ids only (default: every
        /// velodyne/*.bin), e.g. 000134,000135.
        #[arg(long, value_delimiter = ',')]
        frames: Option<Vec<String>>,
    },
    /// A nuScenes dataroot (tables in DATAROOT/VERSION/, files in
    /// DATAROOT/samples/): the keyframes of every scene, or of --scene.
    Nuscenes {
        dataroot: PathBuf,
        #[arg(long, default_value = "v1.0-mini")]
        version: String,
        /// Only this scene (e.g. scene-0061).
        #[arg(long)]
        scene: Option<String>,
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum EngineAction {
    /// Build the TensorRT engine of a model for this GPU and TensorRT (via
    /// trtexec) into the cache, with its sidecar; reuses a matching one.
    Build {
        /// Model spec file.
        #[arg(long)]
        model: PathBuf,
        #[arg(long, value_enum, default_value_t = Precision::Fp16)]
        precision: Precision,
        /// INT8: a TensorRT calibration cache.
        #[arg(long)]
        calib: Option<PathBuf>,
        #[arg(long, default_value = "engines")]
        cache_dir: PathBuf,
        /// Write the engine here instead of the cache's file name.
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long, default_value = "trtexec")]
        trtexec: PathBuf,
        /// GPU ordinal.
        #[arg(long, default_value_t = 0)]
        device: usize,
    },
}

/// Which inference engine runs the camera model.
#[derive(clap::Args)]
struct EngineArgs {
    #[arg(long, value_enum, default_value_t = Backend::Tract)]
    engine: Backend,
    /// Threads for one inference.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// The onnxruntime shared library (default: ORT_DYLIB_PATH), e.g. the
    /// one inside the `onnxruntime` PyPI wheel.
    #[arg(long)]
    onnxruntime_library: Option<PathBuf>,
    /// onnxruntime: an execution provider to use when the library has it
    /// (repeat in order of preference; the CPU provider always follows).
    #[arg(long = "ort-provider", value_enum)]
    ort_providers: Vec<lookout::camera::engine::OrtProvider>,
    /// Where preprocessing runs (`cuda` feature): auto = the GPU when one
    /// is usable.
    #[arg(long, value_enum, default_value_t = lookout::gpu::Device::Auto)]
    device: lookout::gpu::Device,
    /// GPU ordinal.
    #[arg(long, default_value_t = 0)]
    gpu: usize,
    /// CUDA stream priority of the camera lanes (lower runs first).
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    stream_priority: i32,
    /// Capture each frame's GPU copy and preprocessing as a CUDA graph.
    #[arg(long)]
    cuda_graph: bool,
    /// TensorRT: the engine cache directory.
    #[arg(long, default_value = "engines")]
    engine_cache: PathBuf,
    /// TensorRT: the precision of the engine to load (or build).
    #[arg(long, value_enum, default_value_t = Precision::Fp16)]
    precision: Precision,
    /// TensorRT: build a missing or mismatched engine at start (minutes)
    /// instead of refusing to start.
    #[arg(long)]
    build_engine_on_start: bool,
}

impl EngineArgs {
    fn options(&self) -> EngineOptions {
        use lookout::camera::engine::TensorRtOptions;
        EngineOptions {
            backend: self.engine,
            threads: self.threads,
            onnxruntime_library: self.onnxruntime_library.clone(),
            onnxruntime_providers: self.ort_providers.clone(),
            tensorrt: TensorRtOptions {
                cache_dir: self.engine_cache.clone(),
                precision: self.precision,
                build_engine_on_start: self.build_engine_on_start,
                ..TensorRtOptions::default()
            },
            gpu: lookout::gpu::GpuOptions {
                device: self.device,
                ordinal: self.gpu,
                stream_priority: self.stream_priority,
                cuda_graph: self.cuda_graph,
            },
        }
    }
}

fn main() {
    let cli = Cli::parse();
    let guard = match lookout::trace::init(cli.trace_out.as_deref()) {
        Ok(guard) => guard,
        Err(error) => {
            eprintln!("error: --trace-out: {error}");
            std::process::exit(1);
        }
    };
    let result = run(cli);
    // Flushes and closes the trace before exiting.
    drop(guard);
    if let Err(error) = result {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}

#[cfg(feature = "ros2")]
fn run_node() -> Result<()> {
    let overhead = lookout::node::run()?;
    println!("{overhead}");
    Ok(())
}

#[cfg(not(feature = "ros2"))]
fn run_node() -> Result<()> {
    anyhow::bail!("this lookout was built without the ros2 feature (cargo build --features ros2)")
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Demo { bag, seconds } => demo(&bag, seconds),
        Command::Node { .. } => run_node(),
        Command::Synth {
            out,
            seconds,
            seed,
            scene,
            lidar,
            camera_format,
            compression,
        } => {
            let options = SynthOptions {
                seconds,
                seed,
                scene,
                lidar: lidar.spec(),
                camera_format,
                compression,
                ..SynthOptions::default()
            };
            run_synth(&out, &options)
        }
        Command::Import { dataset } => run_import(dataset),
        Command::Replay {
            bag,
            out,
            topics,
            config,
            scheduled,
        } => {
            let config = load_config(config.as_deref())?;
            let mode = scheduled.mode.or((scheduled.loops > 1
                || scheduled.rate != 1.0
                || scheduled.report.is_some()
                || scheduled.bev.is_some())
            .then_some(ReplayMode::Realtime));
            match mode {
                Some(mode) => run_scheduled_replay(&bag, out, &config, mode, &scheduled),
                None => run_replay(&bag, out, topics, &config),
            }
        }
        Command::Eval {
            bag,
            truth,
            truth_2d,
            config,
            json,
            camera_model,
            calibration,
            fused_range,
            engine,
        } => run_eval(
            &bag,
            &EvalArgs {
                truth,
                truth_2d,
                camera_model,
                calibration,
                fused_range,
                engine: engine.options(),
            },
            &load_config(config.as_deref())?,
            json.as_deref(),
        ),
        Command::Info { bag } => info(&bag),
        Command::Engine { action } => engine_build(action),
        Command::GpuCheck { gpu, frames, model } => gpu_check(gpu, frames, model.as_deref()),
        Command::Detect {
            images,
            model,
            draw,
            engine,
        } => detect(&images, &model, draw.as_deref(), &engine.options()),
        Command::Bench {
            stage: BenchStage::Lidar,
            runs,
            config,
            bag,
            ..
        } => bench_lidar(runs, &load_config(config.as_deref())?, bag.as_deref()),
        Command::Bench {
            stage: BenchStage::Camera,
            runs,
            onnxruntime_library,
            ..
        } => bench_camera(runs, onnxruntime_library),
        Command::Bench {
            stage: BenchStage::Scheduler,
            runs,
            config,
            ..
        } => bench_scheduler(runs, &load_config(config.as_deref())?),
    }
}

fn run_synth(out: &Path, options: &SynthOptions) -> Result<()> {
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let wall = MonotonicClock::new();
    let summary = synthesize_with_progress(out, options, true).context("synthesizing the scene")?;
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
        lookout::clock::Clock::now_ns(&wall) as f64 / 1e9
    );
    Ok(())
}

fn run_import(dataset: ImportDataset) -> Result<()> {
    let (out, summary) = match dataset {
        ImportDataset::Kitti { dir, out, frames } => {
            create_parent(&out)?;
            let summary = lookout::import::kitti::import(&dir, frames.as_deref(), &out)
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
                lookout::import::nuscenes::import(&dataroot, &version, scene.as_deref(), &out)
                    .context("importing nuScenes")?;
            (out, summary)
        }
    };
    println!("{}", summary.line(&out));
    Ok(())
}

fn create_parent(out: &Path) -> Result<()> {
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    Ok(())
}

fn load_config(path: Option<&Path>) -> Result<LookoutConfig> {
    Ok(match path {
        Some(path) => LookoutConfig::load(path)?,
        None => LookoutConfig::default(),
    })
}

struct EvalArgs {
    truth: String,
    truth_2d: String,
    camera_model: Option<PathBuf>,
    calibration: Option<PathBuf>,
    fused_range: f64,
    engine: EngineOptions,
}

fn run_eval(
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
    if let Some(model) = &args.camera_model {
        use lookout::camera::spec::ModelSpec;
        let spec = ModelSpec::load(model)?;
        let mut camera = lookout::camera::CameraStage::load(spec.clone(), &args.engine)?;
        let (camera_report, frames) = lookout::replay::evaluate_camera(
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

fn evaluate_fused_cli(
    bag: &Bag,
    spec: lookout::camera::spec::ModelSpec,
    args: &EvalArgs,
    calibration: &Path,
    config: &LookoutConfig,
) -> Result<(lookout::eval::EvalReport, u64)> {
    use lookout::sched::replay::{Mode, ScheduledReplayOptions};
    let out = std::env::temp_dir().join(format!("lookout-eval-{}.mcap", std::process::id()));
    let options = ScheduledReplayOptions {
        mode: Mode::Lockstep,
        scheduler: config.scheduler.clone(),
        lidar: config.lidar.clone(),
        camera: Some((spec, args.engine.clone())),
        fusion: Some((
            config.fusion.clone(),
            lookout::calibration::Calibration::load(calibration)
                .with_context(|| format!("loading {}", calibration.display()))?,
        )),
        faults: config.faults.clone(),
        loops: 1,
        observe: lookout::sched::Observe {
            progress: Progress::messages("eval fused", bag, 1),
            ..Default::default()
        },
        out: Some(out.clone()),
        writer: WriterOptions::default(),
    };
    let eval = EvalConfig {
        max_range: args.fused_range,
        ..config.eval.clone()
    };
    let truth = lookout::replay::FusedTruth {
        obstacles: &args.truth,
        camera: &args.truth_2d,
        min_visible: lookout::camera::eval::ImageEvalConfig::default().min_visible,
    };
    let result = lookout::replay::evaluate_fused(bag, &options, truth, eval);
    let _ = std::fs::remove_file(&out);
    result.map_err(|e| anyhow::anyhow!(e))
}

fn run_replay(
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
        lookout::clock::Clock::now_ns(&wall) as f64 / 1e9,
        out.map(|o| format!(", outputs in {}", o.display()))
            .unwrap_or_default()
    );
    if let Some(error) = report.bag_error {
        bail!("the bag is damaged; the messages before the damage were replayed: {error}");
    }
    Ok(())
}

fn run_scheduled_replay(
    bag_path: &Path,
    out: Option<PathBuf>,
    config: &LookoutConfig,
    mode: ReplayMode,
    args: &ScheduleArgs,
) -> Result<()> {
    use lookout::camera::spec::ModelSpec;
    use lookout::sched::replay::{Mode, ScheduledReplayOptions, replay_scheduled};
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
    let camera = match &args.camera_model {
        Some(path) => Some((ModelSpec::load(path)?, args.engine.options())),
        None => None,
    };
    let calibration_path = args.calibration.clone().or_else(|| {
        (!config.fusion.calibration.is_empty()).then(|| config.fusion.calibration.clone().into())
    });
    let fusion = match (&calibration_path, &camera) {
        (Some(path), Some(_)) => Some((
            config.fusion.clone(),
            lookout::calibration::Calibration::load(path)
                .with_context(|| format!("loading the calibration {}", path.display()))?,
        )),
        (Some(_), None) if args.calibration.is_some() => {
            bail!("fusion needs a camera detector: add --camera-model")
        }
        _ => None,
    };
    let options = ScheduledReplayOptions {
        mode: match mode {
            ReplayMode::Lockstep => Mode::Lockstep,
            ReplayMode::Realtime => Mode::Realtime { rate: args.rate },
        },
        scheduler,
        lidar: config.lidar.clone(),
        camera,
        fusion,
        faults: config.faults.clone(),
        out: out.clone(),
        writer: WriterOptions::default(),
        loops: args.loops,
        observe: lookout::sched::Observe {
            frames: args.report.is_some(),
            truth_topic: (args.report.is_some() || args.bev.is_some()).then(|| args.truth.clone()),
            bev: args.bev.clone(),
            heap_probe: Some(heap_in_use),
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
        let files = lookout::report::write_report(dir, &report)?;
        println!("report: {} files in {}", files.len(), dir.display());
    }
    if let (Some(dir), Some(pictures)) = (&args.bev, report.bev_pictures) {
        println!("bird's-eye view: {pictures} pictures in {}", dir.display());
    }
    if args.compare_fifo {
        let mut baseline = options.clone();
        baseline.scheduler.policy = lookout::sched::Policy::Fifo;
        baseline.out = None;
        baseline.observe = lookout::sched::Observe::default();
        println!();
        print!("{}", replay_scheduled(&bag, &baseline)?.table());
    }
    if let Some(out) = out {
        println!("outputs in {}", out.display());
    }
    Ok(())
}

fn demo(bag: &Path, seconds: f64) -> Result<()> {
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
        )?;
    }
    let out = bag.with_extension("out.mcap");
    run_replay(bag, Some(out), Vec::new(), &LookoutConfig::default())?;
    // The whole pipeline on the synthetic detector: camera AP, and classed
    // 3D obstacles (fused through the scene's calibration) against truth.
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join(DEMO_MODEL);
    let calibration = lookout::synth::calibration_path(bag);
    println!("\nfusion with the synthetic-scene detector ({DEMO_MODEL}):");
    run_eval(
        bag,
        &EvalArgs {
            truth: lookout::synth::TRUTH_TOPIC.to_owned(),
            truth_2d: lookout::synth::CAMERA_TRUTH_TOPIC.to_owned(),
            camera_model: Some(model),
            calibration: Some(calibration),
            fused_range: 40.0,
            engine: EngineOptions {
                backend: lookout::camera::engine::Backend::Tract,
                threads: 1,
                onnxruntime_library: None,
                ..EngineOptions::default()
            },
        },
        &LookoutConfig::default(),
        None,
    )
}

#[cfg(feature = "cuda")]
fn gpu_check(ordinal: usize, frames: usize, model: Option<&Path>) -> Result<()> {
    use lookout::gpu::check;
    let options = lookout::gpu::GpuOptions {
        device: lookout::gpu::Device::Cuda,
        ordinal,
        ..lookout::gpu::GpuOptions::default()
    };
    let report = check::run(&options, frames)?;
    print!("{}", check::render(&report));
    if let Some(model) = model {
        let spec = lookout::camera::spec::ModelSpec::load(model)?;
        let (count, boxes, scores) =
            check::camera_stage_agreement(&spec, &options).map_err(anyhow::Error::msg)?;
        println!(
            "| camera stage ({}) with GPU vs CPU preprocessing | {count} detections, same classes; boxes within {boxes:.2e} px, scores within {scores:.2e} |",
            spec.name
        );
    }
    if report.agreement.max_abs_diff > check::AGREEMENT_BOUND {
        bail!(
            "GPU preprocessing differs from the CPU path by {} (bound {})",
            report.agreement.max_abs_diff,
            check::AGREEMENT_BOUND
        );
    }
    Ok(())
}

#[cfg(not(feature = "cuda"))]
fn gpu_check(_: usize, _: usize, _: Option<&Path>) -> Result<()> {
    bail!("this lookout is built without the GPU path: rebuild with `--features cuda`")
}

/// The detector trained on synthetic scenes (models/train/).
const DEMO_MODEL: &str = "models/synthetic-det.yaml";

fn engine_build(action: EngineAction) -> Result<()> {
    use lookout::camera::spec::ModelSpec;
    let EngineAction::Build {
        model,
        precision,
        calib,
        cache_dir,
        out,
        trtexec,
        device,
    } = action;
    let spec = ModelSpec::load(&model)?;
    let request = lookout::camera::engine::trtexec::BuildRequest {
        onnx: spec.onnx_path(),
        model: spec.name.clone(),
        input_shape: lookout::camera::engine::input_shape(&spec),
        precision,
        calibration_cache: calib,
        cache_dir,
        engine: out,
        trtexec,
        device,
    };
    let engine = lookout::camera::engine::trtexec::build(&request).map_err(anyhow::Error::msg)?;
    let sidecar = lookout::camera::engine::cache::Sidecar::read(&engine)?;
    println!(
        "{} ({} bytes): TensorRT {}, compute capability {}, {}, input {:?}\nsidecar {}",
        engine.display(),
        sidecar.engine_bytes,
        sidecar.key.tensorrt_version,
        sidecar.key.compute_capability,
        sidecar.key.precision.as_str(),
        sidecar.key.input_shape,
        lookout::camera::engine::cache::Sidecar::path_for(&engine).display()
    );
    Ok(())
}

fn info(bag_path: &Path) -> Result<()> {
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

/// Times the lidar stage per scan at four scan sizes (azimuth resolution
/// scaled, 64 beams), on 10 distinct scans of a synthetic scene each.
fn bench_lidar(runs: usize, config: &LookoutConfig, bag: Option<&Path>) -> Result<()> {
    println!(
        "{:>8} {:>10} {:>9} {:>9} {:>9} {:>9} {:>11}",
        "target", "points", "p50 ms", "p90 ms", "p99 ms", "max ms", "ns/point"
    );
    if let Some(path) = bag {
        let scans = bag_scans(path)?;
        return time_lidar("bag", &scans, runs, config);
    }
    for target in [30_000usize, 60_000, 120_000, 240_000] {
        let mut options = SynthOptions::default();
        // The synthetic town returns about 58.5 points per 64-beam column.
        options.lidar.azimuth_steps = (target as f64 / 58.5).round() as usize;
        let clouds = lookout::synth::lidar_scans(&options, 10)?;
        let mut scans = Vec::new();
        for cloud in &clouds {
            let mut scan = lookout::frames::LidarScan::new();
            scan.fill_from(&lookout::msg::PointCloud2::decode(cloud)?)?;
            scans.push(scan);
        }
        time_lidar(&target.to_string(), &scans, runs, config)?;
    }
    Ok(())
}

/// Every PointCloud2 of a bag, decoded.
fn bag_scans(path: &Path) -> Result<Vec<lookout::frames::LidarScan>> {
    let bag = Bag::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut scans = Vec::new();
    let mut failed = None;
    bag.read_messages(None, |m| {
        if m.type_name == "sensor_msgs/msg/PointCloud2" {
            let mut scan = lookout::frames::LidarScan::new();
            let decoded = lookout::msg::PointCloud2::decode(m.data)
                .map_err(anyhow::Error::from)
                .and_then(|c| scan.fill_from(&c).map_err(anyhow::Error::from));
            match decoded {
                Ok(()) => scans.push(scan),
                Err(e) => failed = Some(format!("{} at {}: {e}", m.topic, m.log_time)),
            }
        }
        std::ops::ControlFlow::Continue(())
    })?;
    if let Some(e) = failed {
        bail!("{}: a scan did not decode ({e})", path.display());
    }
    if scans.is_empty() {
        bail!("{}: no PointCloud2 messages", path.display());
    }
    Ok(scans)
}

/// Times the lidar stage over `scans` (round robin) and prints one row.
fn time_lidar(
    label: &str,
    scans: &[lookout::frames::LidarScan],
    runs: usize,
    config: &LookoutConfig,
) -> Result<()> {
    use lookout::clock::Clock;
    let clock = MonotonicClock::new();
    let mut stage = lookout::lidar::LidarStage::new(config.lidar.clone())?;
    let mut out = Vec::new();
    for scan in scans {
        stage.process(scan, &mut out);
    }
    let mut times = Vec::with_capacity(runs);
    for run in 0..runs.max(1) {
        let scan = &scans[run % scans.len()];
        let started = clock.now_ns();
        stage.process(scan, &mut out);
        times.push(clock.now_ns() - started);
    }
    times.sort_unstable();
    let at = |q: f64| {
        times[((q * times.len() as f64).ceil() as usize).clamp(1, times.len()) - 1] as f64 / 1e6
    };
    let points = scans.iter().map(|s| s.len()).sum::<usize>() / scans.len();
    println!(
        "{:>8} {:>10} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>11.1}",
        label,
        points,
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0),
        at(0.5) * 1e6 / points.max(1) as f64
    );
    Ok(())
}

fn detect(
    images: &[PathBuf],
    model: &Path,
    draw: Option<&Path>,
    engine: &EngineOptions,
) -> Result<()> {
    use lookout::camera::{CameraStage, draw::draw_boxes, spec::ModelSpec};
    use lookout::clock::Clock;
    use lookout::frames::CameraFrame;
    let spec = ModelSpec::load(model)?;
    let clock = MonotonicClock::new();
    let loading = clock.now_ns();
    let mut stage = CameraStage::load(spec, engine)?;
    println!(
        "{} on {} ({} threads) loaded in {:.0} ms",
        stage.spec().name,
        stage.engine().info().backend,
        engine.threads,
        (clock.now_ns() - loading) as f64 / 1e6
    );
    if let Some(dir) = draw {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut detections = Vec::new();
    for path in images {
        let mut rgb = image::open(path)
            .with_context(|| format!("reading {}", path.display()))?
            .into_rgb8();
        let (width, height) = rgb.dimensions();
        let frame = CameraFrame::rgb8("image", width, height, rgb.as_raw());
        let started = clock.now_ns();
        stage.process(&frame, &mut detections)?;
        let elapsed = (clock.now_ns() - started) as f64 / 1e6;
        println!(
            "{} ({width}x{height}): {} detections in {elapsed:.1} ms",
            path.display(),
            detections.len()
        );
        for d in &detections {
            let [x0, y0, x1, y1] = d.bbox;
            println!(
                "  {:<14} {:.3}  [{x0:.1}, {y0:.1}, {x1:.1}, {y1:.1}]",
                stage.spec().classes[d.class as usize],
                d.score
            );
        }
        if let Some(dir) = draw {
            draw_boxes(&mut rgb, width, height, &detections, 3);
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("image");
            let out = dir.join(format!("{stem}.detections.png"));
            rgb.save(&out)
                .with_context(|| format!("writing {}", out.display()))?;
            println!("  drawn: {}", out.display());
        }
    }
    Ok(())
}

/// p50/p99/max in milliseconds of `runs` calls of `f`, after 3 warm-up calls.
fn time_ms(runs: usize, mut f: impl FnMut()) -> (f64, f64, f64) {
    use lookout::clock::Clock;
    let clock = MonotonicClock::new();
    for _ in 0..3 {
        f();
    }
    let times: Vec<i64> = (0..runs.max(1))
        .map(|_| {
            let started = clock.now_ns();
            f();
            clock.now_ns() - started
        })
        .collect();
    percentiles(times, 1e6)
}

/// p50/p99/max of `times` (nanoseconds, at least one) divided by `unit`.
fn percentiles(mut times: Vec<i64>, unit: f64) -> (f64, f64, f64) {
    times.sort_unstable();
    let at = |q: f64| {
        times[((q * times.len() as f64).ceil() as usize).clamp(1, times.len()) - 1] as f64 / unit
    };
    (at(0.5), at(0.99), at(1.0))
}

/// p50/p99/max in microseconds of per-frame scheduler overhead.
fn bench_scheduler(runs: usize, config: &LookoutConfig) -> Result<()> {
    use lookout::clock::Clock;
    use lookout::ingest::InputKind;
    use lookout::lidar::LidarStage;
    use lookout::pipeline::PipelineWork;
    use lookout::sched::runtime::{Event, Job, Runtime};
    use lookout::sched::{Scheduler, Sensor};
    use std::sync::Arc;
    let clock = Arc::new(MonotonicClock::new());
    let frames = runs.max(1) * 1000;
    let report = |name: &str, times: Vec<i64>| {
        let (p50, p99, max) = percentiles(times, 1e3);
        println!("{name:<58} {p50:>8.2} {p99:>8.2} {max:>8.2}");
    };
    println!(
        "{:<58} {:>8} {:>8} {:>8}",
        "per frame", "p50 us", "p99 us", "max us"
    );
    // Decisions: a lidar scan offered while a camera frame waits, the
    // earliest deadline picked with admission, the result judged.
    let mut scheduler: Scheduler<u64> = Scheduler::new(&config.scheduler);
    let mut ignore = |_, _| {};
    let mut times = Vec::with_capacity(frames);
    for k in 0..frames as i64 {
        let now = k * 1_000_000;
        scheduler.offer(Sensor::Camera, now, now, 0, &mut ignore);
        let started = clock.now_ns();
        scheduler.offer(Sensor::Lidar, now - 50_000_000, now, 1, &mut ignore);
        let frame = scheduler.next(now, &mut ignore);
        times.push(clock.now_ns() - started);
        if let Some(frame) = frame {
            scheduler.finished(&frame.timing, 1_000_000, now + 1_000_000, true);
        }
        while scheduler.next(now, &mut ignore).is_some() {}
    }
    report("decisions: offer + EDF pick + admission", times);
    // Threads: submit -> idle lane -> event, for a message the lane rejects
    // at once (no stage work). Each frame waits for the last one's event,
    // so the lane is idle (parked) when it arrives, as between sensor frames.
    let lane = PipelineWork::new(LidarStage::new(config.lidar.clone())?, None);
    let mut runtime = Runtime::start(
        &config.scheduler,
        Default::default(),
        clock.clone(),
        vec![lane],
        false,
    );
    let count = runs.max(1) * 1000;
    let (mut to_dispatch, mut to_lane, mut round_trip) = (
        Vec::with_capacity(count),
        Vec::with_capacity(count),
        Vec::with_capacity(count),
    );
    for _ in 0..count {
        let job = Job {
            kind: InputKind::PointCloud2,
            bytes: runtime.buffer(),
            log_time: 0,
        };
        let started = clock.now_ns();
        runtime.submit(Sensor::Lidar, started, job);
        to_dispatch.push(clock.now_ns() - started);
        loop {
            match runtime.events().recv()? {
                Event::Frame {
                    job,
                    finished,
                    run_ns,
                    ..
                } => {
                    round_trip.push(clock.now_ns() - started);
                    // The lane started the frame `run_ns` before it finished.
                    if let (Some(finished), Some(run_ns)) = (finished, run_ns) {
                        to_lane.push(finished - run_ns - started);
                    }
                    runtime.recycle(job.bytes);
                    break;
                }
                Event::Status(_) => {}
            }
        }
    }
    report("enqueue -> dispatch (in an idle lane's slot)", to_dispatch);
    report("enqueue -> lane start (the lane thread wakes)", to_lane);
    report("round trip: enqueue -> lane -> event received", round_trip);
    runtime.finish();
    Ok(())
}

/// Times the camera stage's parts on a synthetic 1920x1080 rgb8 frame:
/// preprocessing and decoding on one thread, inference on every engine this
/// build has at one and two threads.
fn bench_camera(runs: usize, onnxruntime_library: Option<PathBuf>) -> Result<()> {
    use lookout::camera::engine;
    use lookout::camera::preprocess::Preprocessor;
    use lookout::camera::spec::{ColorOrder, Layout, ModelSpec, ResizeMode};
    use lookout::camera::{ImageTransform, decode::Decoder};
    use lookout::frames::CameraFrame;
    let (w, h) = (1920u32, 1080u32);
    let pixels: Vec<u8> = (0..w * h * 3)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let frame = CameraFrame::rgb8("camera", w, h, &pixels);
    let spec = ModelSpec::load(Path::new("models/nanodet-m-416.yaml"))?;
    println!(
        "{:<48} {:>9} {:>9} {:>9}",
        "step", "p50 ms", "p99 ms", "max ms"
    );
    let report = |name: &str, (p50, p99, max): (f64, f64, f64)| {
        println!("{name:<48} {p50:>9.2} {p99:>9.2} {max:>9.2}");
    };
    let mut letterbox = spec.input.clone();
    (letterbox.width, letterbox.height) = (640, 640);
    (letterbox.resize, letterbox.color, letterbox.layout) =
        (ResizeMode::Letterbox, ColorOrder::Rgb, Layout::Nchw);
    for (name, input) in [
        ("preprocess 1920x1080 -> 416 stretch (bgr)", &spec.input),
        ("preprocess 1920x1080 -> 640 letterbox (rgb)", &letterbox),
    ] {
        let mut pre = Preprocessor::new(input);
        let mut tensor = vec![0.0; pre.tensor_len()];
        report(
            name,
            time_ms(runs, || {
                pre.run(&frame, &mut tensor);
            }),
        );
    }
    let mut pre = Preprocessor::new(&spec.input);
    let mut tensor = vec![0.0; pre.tensor_len()];
    let transform: ImageTransform = pre.run(&frame, &mut tensor);
    let onnxruntime_library =
        onnxruntime_library.or_else(|| std::env::var_os("ORT_DYLIB_PATH").map(PathBuf::from));
    let mut last_engine = None;
    for backend in [Backend::Tract, Backend::Onnxruntime] {
        for threads in [1, 2] {
            let options = EngineOptions {
                backend,
                threads,
                onnxruntime_library: onnxruntime_library.clone(),
                ..EngineOptions::default()
            };
            let mut engine = match engine::load(&spec, &options) {
                Ok(engine) => engine,
                Err(error) => {
                    println!("{backend:?} skipped: {error}");
                    break;
                }
            };
            let name = format!(
                "inference nanodet-m 416, {}, {threads} thread{}",
                engine.info().backend,
                if threads == 1 { "" } else { "s" }
            );
            report(
                &name,
                time_ms(runs.min(30), || {
                    engine.run(&tensor).expect("inference");
                }),
            );
            last_engine = Some(engine);
        }
    }
    let engine = last_engine.context("no engine loaded")?;
    let mut decoder = Decoder::new(&spec);
    let mut detections = Vec::new();
    report(
        "decode + nms",
        time_ms(runs, || {
            decoder
                .decode(engine.as_ref(), &transform, &mut detections)
                .expect("decode");
        }),
    );
    Ok(())
}
