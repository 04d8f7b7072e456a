//! The command tree of `lookout`: every command, its arguments and their
//! help text (clap). Parsing only: `src/main.rs` dispatches each command
//! to its driver in the sibling modules.

use crate::bag::Compression;
use crate::camera::engine::cache::Precision;
use crate::camera::engine::{Backend, EngineOptions};
use crate::synth::{CameraFormat, LidarModel, SceneKind};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "lookout",
    version,
    about = "Real-time perception node: camera + lidar obstacles with per-frame deadlines"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Write a Chrome/Perfetto trace of the run here (open it in
    /// ui.perfetto.dev or chrome://tracing): one slice per stage run on its
    /// lane's track, drops as instant events. `LOOKOUT_TRACE` filters it
    /// (default `lookout=debug`); `RUST_LOG` filters the log lines.
    #[arg(long, global = true)]
    pub trace_out: Option<PathBuf>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum BenchStage {
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
pub enum Command {
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
        /// Add a second lidar on the front bumper (32 beams, its own topic
        /// /lidar_front/points, 30 ms after the roof lidar) and write the
        /// rig file beside the bag (`<out>.rig.yaml`, for `replay --rig`).
        #[arg(long)]
        front_lidar: bool,
        /// Render every camera and lidar of this rig file (see
        /// rig/surround.yaml) on its own topics, the truth in the rig's base
        /// frame and each camera's 2D truth on /ground_truth/<name>/detections;
        /// the rig is copied beside the bag.
        #[arg(long, conflicts_with = "front_lidar")]
        rig: Option<PathBuf>,
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
        /// Also replay the bag through this rig (lockstep: its lidars
        /// merged; with --camera-model every camera detected and fused) and
        /// score the published obstacles all around and, per camera, the
        /// fused ones it sees against its 2D truth
        /// (/ground_truth/<camera>/detections).
        #[arg(long, conflicts_with = "calibration")]
        rig: Option<PathBuf>,
        #[arg(long, default_value_t = 40.0)]
        fused_range: f64,
        /// Also replay in lockstep with tracking and score the published
        /// ids and velocities against the truth's: MOTA, IDF1, ID switches
        /// and velocity error per class group.
        #[arg(long)]
        tracking: bool,
        /// Also replay in realtime at each of --rates, with `output.stamp`
        /// sensor and publish, and score each streaming: at every truth
        /// instant, the latest output published by then against the truth
        /// at that instant.
        #[arg(long)]
        streaming: bool,
        /// Replay paces for --streaming, times the recorded speed.
        #[arg(long, value_delimiter = ',', default_value = "1,2,3")]
        rates: Vec<f64>,
        /// Prediction horizons (ms past publication, `output.horizon_ms`)
        /// of the --streaming replays with `output.stamp: publish`: one
        /// replay per rate and horizon.
        #[arg(long, value_delimiter = ',', default_value = "0,50")]
        horizons: Vec<f64>,
        /// With --tracking: write each class group's MOT frames (truth ids,
        /// output ids, distances) as JSON here, for other tools.
        #[arg(long, requires = "tracking")]
        mot_frames: Option<PathBuf>,
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
        /// only; default: ORT_DYLIB_PATH, a virtual environment's
        /// `onnxruntime` wheel, the system's).
        #[arg(long)]
        onnxruntime_library: Option<PathBuf>,
        /// Lidar only: time the scans of this bag (e.g. an imported KITTI
        /// frame) instead of synthetic ones.
        #[arg(long)]
        bag: Option<PathBuf>,
        /// Camera only: the model spec to time, with every rung of its
        /// `ladder` (default: models/nanodet-m-416.yaml).
        #[arg(long)]
        model: Option<PathBuf>,
    },
}

/// Replay through the deadline scheduler (without `--mode`: decode, validate
/// and run the lidar stage on every message, no deadlines).
#[derive(clap::Args)]
pub struct ScheduleArgs {
    /// lockstep: simulated clock, every frame in order, deterministic
    /// outputs; realtime: wall-clock pacing at --rate, real drops.
    #[arg(long, value_enum)]
    pub mode: Option<ReplayMode>,
    /// Pacing for realtime mode, times the recorded speed (given without
    /// --mode, it means realtime).
    #[arg(long, default_value_t = 1.0)]
    pub rate: f64,
    /// Replay the bag N times in a row, as a bag loop (time goes back at
    /// each start: a new run); resident memory is reported per pass. Given
    /// without --mode, it means realtime.
    #[arg(long = "loop", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub loops: u32,
    /// Overrides the config's scheduler.policy.
    #[arg(long, value_enum)]
    pub scheduler: Option<crate::sched::Policy>,
    /// Overrides the config's scheduler.workers.
    #[arg(long)]
    pub workers: Option<usize>,
    /// Run this camera detector on the camera frames.
    #[arg(long)]
    pub camera_model: Option<PathBuf>,
    /// Fuse lidar obstacles with the camera detections through this
    /// calibration (overrides the config's fusion.calibration; needs
    /// --camera-model).
    #[arg(long)]
    pub calibration: Option<PathBuf>,
    /// The vehicle's sensors as a rig file (rig/*.yaml): any number of
    /// cameras and lidars, routed by topic; lidars merged into one scan,
    /// fusion through every camera with --camera-model. Instead of
    /// --calibration.
    #[arg(long, conflicts_with = "calibration")]
    pub rig: Option<PathBuf>,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Write the end-of-run report (KPIs, counts, status records) as JSON.
    #[arg(long)]
    pub report_json: Option<PathBuf>,
    /// Write a report folder: summary.md, summary.json (KPIs, counts,
    /// accuracy against --truth when the bag has it) and plots (PNG, SVG)
    /// of stage run times, end-to-end latency with drops, health. Given
    /// without --mode, it means realtime.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Write one bird's-eye-view PNG per published lidar frame here:
    /// points, obstacles by class and source, ground truth outlines. Given
    /// without --mode, it means realtime.
    #[arg(long)]
    pub bev: Option<PathBuf>,
    /// Ground truth for --report and --bev (lookout_msgs/msg/ObstacleArray).
    #[arg(long, default_value = crate::synth::TRUTH_TOPIC)]
    pub truth: String,
    /// Then replay again with the FIFO baseline and print both reports.
    #[arg(long)]
    pub compare_fifo: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum ReplayMode {
    Lockstep,
    Realtime,
}

#[derive(Subcommand)]
pub enum ImportDataset {
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
pub enum EngineAction {
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
pub struct EngineArgs {
    #[arg(long, value_enum, default_value_t = Backend::Auto)]
    pub engine: Backend,
    /// Threads for one inference.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// The onnxruntime shared library (default: ORT_DYLIB_PATH, then the
    /// `onnxruntime` PyPI wheel in the active virtual environment or a
    /// `.venv*` folder here, then the system's).
    #[arg(long)]
    pub onnxruntime_library: Option<PathBuf>,
    /// onnxruntime: an execution provider to use when the library has it
    /// (repeat in order of preference; the CPU provider always follows).
    #[arg(long = "ort-provider", value_enum)]
    pub ort_providers: Vec<crate::camera::engine::OrtProvider>,
    /// Where preprocessing runs (`cuda` feature): auto = the GPU when one
    /// is usable.
    #[arg(long, value_enum, default_value_t = crate::gpu::Device::Auto)]
    pub device: crate::gpu::Device,
    /// GPU ordinal.
    #[arg(long, default_value_t = 0)]
    pub gpu: usize,
    /// CUDA stream priority of the camera lanes (lower runs first).
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub stream_priority: i32,
    /// Capture each frame's GPU copy and preprocessing as a CUDA graph.
    #[arg(long)]
    pub cuda_graph: bool,
    /// TensorRT: the engine cache directory.
    #[arg(long, default_value = "engines")]
    pub engine_cache: PathBuf,
    /// TensorRT: the precision of the engine to load (or build).
    #[arg(long, value_enum, default_value_t = Precision::Fp16)]
    pub precision: Precision,
    /// TensorRT: build a missing or mismatched engine at start (minutes)
    /// instead of refusing to start.
    #[arg(long)]
    pub build_engine_on_start: bool,
}

impl EngineArgs {
    pub fn options(&self) -> EngineOptions {
        use crate::camera::engine::TensorRtOptions;
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
            gpu: crate::gpu::GpuOptions {
                device: self.device,
                ordinal: self.gpu,
                stream_priority: self.stream_priority,
                cuda_graph: self.cuda_graph,
            },
        }
    }
}
