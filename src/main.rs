//! The `lookout` command line: parses it ([`lookout::cli::args`]) and
//! hands each command to its driver in [`lookout::cli`]. Nothing else lives
//! here but the allocator, which only a binary can choose.

use anyhow::Result;
use clap::Parser;
use lookout::cli::args::{BenchStage, Cli, Command, ReplayMode};
use lookout::cli::{bench, camera, data, eval, load_config, replay};
use lookout::synth::SynthOptions;

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
        Command::Demo { bag, seconds } => replay::demo(&bag, seconds),
        Command::Node { .. } => run_node(),
        Command::Synth {
            out,
            seconds,
            seed,
            scene,
            lidar,
            camera_format,
            compression,
            front_lidar,
            rig,
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
            let extra: Vec<lookout::synth::ExtraLidar> = front_lidar
                .then(lookout::synth::ExtraLidar::front)
                .into_iter()
                .collect();
            data::run_synth(&out, &options, &extra, rig.as_deref())
        }
        Command::Import { dataset } => data::run_import(dataset),
        Command::Replay {
            bag,
            out,
            topics,
            config,
            scheduled,
        } => {
            let config = load_config(config.as_deref())?;
            // Output formats other than lookout_msgs come from the output
            // chain, which the unscheduled check does not run: lockstep.
            let formats = config.output.formats != [lookout::output::OutputFormat::Lookout];
            let mode = scheduled
                .mode
                .or((scheduled.loops > 1
                    || scheduled.rate != 1.0
                    || scheduled.report.is_some()
                    || scheduled.bev.is_some())
                .then_some(ReplayMode::Realtime))
                .or(formats.then_some(ReplayMode::Lockstep));
            match mode {
                Some(mode) => replay::run_scheduled_replay(
                    &bag,
                    out,
                    &config,
                    mode,
                    &scheduled,
                    Some(heap_in_use),
                ),
                None => replay::run_replay(&bag, out, topics, &config),
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
            rig,
            fused_range,
            tracking,
            streaming,
            rates,
            horizons,
            mot_frames,
            engine,
        } => eval::run_eval(
            &bag,
            &eval::EvalArgs {
                truth,
                truth_2d,
                camera_model,
                calibration,
                rig,
                fused_range,
                tracking,
                streaming: streaming.then_some(rates),
                horizons,
                mot_frames,
                engine: engine.options(),
            },
            &load_config(config.as_deref())?,
            json.as_deref(),
        ),
        Command::Info { bag } => data::info(&bag),
        Command::Engine { action } => camera::engine_build(action),
        Command::GpuCheck { gpu, frames, model } => {
            camera::gpu_check(gpu, frames, model.as_deref())
        }
        Command::Detect {
            images,
            model,
            draw,
            engine,
        } => camera::detect(&images, &model, draw.as_deref(), &engine.options()),
        Command::Bench {
            stage: BenchStage::Lidar,
            runs,
            config,
            bag,
            ..
        } => bench::bench_lidar(runs, &load_config(config.as_deref())?, bag.as_deref()),
        Command::Bench {
            stage: BenchStage::Camera,
            runs,
            onnxruntime_library,
            model,
            ..
        } => bench::bench_camera(runs, onnxruntime_library, model),
        Command::Bench {
            stage: BenchStage::Scheduler,
            runs,
            config,
            ..
        } => bench::bench_scheduler(runs, &load_config(config.as_deref())?),
    }
}
