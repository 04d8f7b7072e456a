//! The `lookout` command line.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use lookout::bag::{Bag, Compression, WriterOptions};
use lookout::clock::MonotonicClock;
use lookout::replay::{ReplayOptions, replay};
use lookout::synth::{CameraFormat, SynthOptions, synthesize};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Parser)]
#[command(
    name = "lookout",
    version,
    about = "Real-time perception node: camera + lidar obstacles with per-frame deadlines"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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
        /// How camera frames are stored.
        #[arg(long, value_enum, default_value_t = CameraFormat::Raw)]
        camera_format: CameraFormat,
        #[arg(long, value_enum, default_value_t = Compression::Zstd)]
        compression: Compression,
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
    },
    /// List the topics of a bag.
    Info { bag: PathBuf },
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    if let Err(error) = run(Cli::parse()) {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Demo { bag, seconds } => demo(&bag, seconds),
        Command::Synth {
            out,
            seconds,
            seed,
            camera_format,
            compression,
        } => {
            let options = SynthOptions {
                seconds,
                seed,
                camera_format,
                compression,
                ..SynthOptions::default()
            };
            run_synth(&out, &options)
        }
        Command::Replay { bag, out, topics } => run_replay(&bag, out, topics),
        Command::Info { bag } => info(&bag),
    }
}

fn run_synth(out: &Path, options: &SynthOptions) -> Result<()> {
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let started = Instant::now();
    let summary = synthesize(out, options).context("synthesizing the scene")?;
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
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn run_replay(bag_path: &Path, out: Option<PathBuf>, topics: Vec<String>) -> Result<()> {
    let bag = Bag::open(bag_path).with_context(|| format!("opening {}", bag_path.display()))?;
    let options = ReplayOptions {
        out: out.clone(),
        topics: (!topics.is_empty()).then_some(topics),
        writer: WriterOptions::default(),
    };
    let started = Instant::now();
    let report = replay(&bag, &options, &MonotonicClock::new())?;
    print!("{}", report.table());
    println!(
        "replayed {} messages in {:.2} s{}",
        report.read.messages,
        started.elapsed().as_secs_f64(),
        out.map(|o| format!(", outputs in {}", o.display()))
            .unwrap_or_default()
    );
    if let Some(error) = report.bag_error {
        bail!("the bag is damaged; the messages before the damage were replayed: {error}");
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
    run_replay(bag, Some(out), Vec::new())
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
