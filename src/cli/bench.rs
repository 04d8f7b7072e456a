//! `lookout bench`: the hand-timed benchmarks of the lidar stage, the
//! camera stage and the scheduler (the criterion benchmarks are in
//! `benches/`). Timed with the monotonic clock, percentiles over runs.

use crate::bag::Bag;
use crate::camera::engine::{Backend, EngineOptions};
use crate::clock::MonotonicClock;
use crate::config::LookoutConfig;
use crate::synth::SynthOptions;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

/// Times the lidar stage per scan at four scan sizes (azimuth resolution
/// scaled, 64 beams), on 10 distinct scans of a synthetic scene each.
pub fn bench_lidar(runs: usize, config: &LookoutConfig, bag: Option<&Path>) -> Result<()> {
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
        let clouds = crate::synth::lidar_scans(&options, 10)?;
        let mut scans = Vec::new();
        for cloud in &clouds {
            let mut scan = crate::frames::LidarScan::new();
            scan.fill_from(&crate::msg::PointCloud2::decode(cloud)?)?;
            scans.push(scan);
        }
        time_lidar(&target.to_string(), &scans, runs, config)?;
    }
    Ok(())
}

/// Every PointCloud2 of a bag, decoded.
pub fn bag_scans(path: &Path) -> Result<Vec<crate::frames::LidarScan>> {
    let bag = Bag::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut scans = Vec::new();
    let mut failed = None;
    bag.read_messages(None, |m| {
        if m.type_name == "sensor_msgs/msg/PointCloud2" {
            let mut scan = crate::frames::LidarScan::new();
            let decoded = crate::msg::PointCloud2::decode(m.data)
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
pub fn time_lidar(
    label: &str,
    scans: &[crate::frames::LidarScan],
    runs: usize,
    config: &LookoutConfig,
) -> Result<()> {
    use crate::clock::Clock;
    let clock = MonotonicClock::new();
    let mut stage = crate::lidar::LidarStage::new(config.lidar.clone())?;
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

/// p50/p99/max in milliseconds of `runs` calls of `f`, after 3 warm-up calls.
pub fn time_ms(runs: usize, mut f: impl FnMut()) -> (f64, f64, f64) {
    use crate::clock::Clock;
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
pub fn percentiles(mut times: Vec<i64>, unit: f64) -> (f64, f64, f64) {
    times.sort_unstable();
    let at = |q: f64| {
        times[((q * times.len() as f64).ceil() as usize).clamp(1, times.len()) - 1] as f64 / unit
    };
    (at(0.5), at(0.99), at(1.0))
}

/// p50/p99/max in microseconds of per-frame scheduler overhead, for the
/// default rig (a camera and a lidar) and for a rig of 8 sensors (six
/// cameras, two lidars): every other sensor's mailbox holds a frame when
/// one arrives, so the earliest-deadline pick looks at all of them.
pub fn bench_scheduler(runs: usize, config: &LookoutConfig) -> Result<()> {
    println!(
        "{:<66} {:>8} {:>8} {:>8}",
        "per frame", "p50 us", "p99 us", "max us"
    );
    for rig in [crate::rig::Rig::from_calibration(None), eight_sensor_rig()] {
        bench_scheduler_rig(runs, config, rig)?;
    }
    Ok(())
}

/// Six cameras and two lidars (the scheduler looks at names and budgets
/// only; the lanes reject the empty messages at once).
fn eight_sensor_rig() -> crate::rig::Rig {
    use crate::rig::{LidarMerge, Pose, Rig, RigSensor, SensorKind, Topics};
    let sensor = |i: usize, kind: SensorKind| RigSensor {
        name: format!("{}{i}", kind.as_str()),
        kind,
        topics: Topics::default(),
        frame_id: format!("s{i}"),
        extrinsics: Some(Pose::IDENTITY),
        intrinsics: None,
        rate_hz: 10.0,
        schedule: None,
        faults: None,
    };
    let sensors = (0..8)
        .map(|i| {
            sensor(
                i,
                if i < 6 {
                    SensorKind::Camera
                } else {
                    SensorKind::Lidar
                },
            )
        })
        .collect();
    Rig::new("base".into(), LidarMerge::default(), sensors)
}

fn bench_scheduler_rig(runs: usize, config: &LookoutConfig, rig: crate::rig::Rig) -> Result<()> {
    use crate::clock::Clock;
    use crate::ingest::InputKind;
    use crate::lidar::LidarStage;
    use crate::pipeline::PipelineWork;
    use crate::sched::runtime::{Event, Job, Runtime};
    use crate::sched::{Scheduler, Sensor};
    use std::sync::Arc;
    let clock = Arc::new(MonotonicClock::new());
    let frames = runs.max(1) * 1000;
    let n = rig.sensors.len();
    let report = |name: &str, times: Vec<i64>| {
        let (p50, p99, max) = percentiles(times, 1e3);
        let name = format!("{n} sensors: {name}");
        println!("{name:<66} {p50:>8.2} {p99:>8.2} {max:>8.2}");
    };
    // Decisions: a frame offered while every other sensor's frame waits,
    // the earliest deadline picked with admission, the result judged.
    let sensors = rig.sensor_set(&config.scheduler, &config.faults);
    let mut scheduler: Scheduler<u64> = Scheduler::new(&config.scheduler, &sensors);
    let mut ignore = |_, _| {};
    let mut times = Vec::with_capacity(frames);
    let all: Vec<Sensor> = sensors.all().collect();
    for k in 0..frames as i64 {
        let now = k * 1_000_000;
        let arriving = all[k as usize % n];
        for &other in all.iter().filter(|&&s| s != arriving) {
            scheduler.offer(other, now, now, 0, &mut ignore);
        }
        let started = clock.now_ns();
        scheduler.offer(arriving, now - 50_000_000, now, 1, &mut ignore);
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
    let lane = PipelineWork::new(Arc::new(rig), LidarStage::new(config.lidar.clone())?, None);
    let mut runtime = Runtime::start(&config.scheduler, sensors, clock.clone(), vec![lane], false);
    let count = runs.max(1) * 1000;
    let (mut to_dispatch, mut to_lane, mut round_trip) = (
        Vec::with_capacity(count),
        Vec::with_capacity(count),
        Vec::with_capacity(count),
    );
    for k in 0..count {
        let job = Job::single(InputKind::PointCloud2, runtime.buffer(), 0);
        let started = clock.now_ns();
        runtime.submit(all[k % n], started, job);
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
pub fn bench_camera(
    runs: usize,
    onnxruntime_library: Option<PathBuf>,
    model: Option<PathBuf>,
) -> Result<()> {
    use crate::camera::engine;
    use crate::camera::preprocess::Preprocessor;
    use crate::camera::spec::{ColorOrder, Layout, ModelSpec, ResizeMode};
    use crate::camera::{ImageTransform, decode::Decoder};
    use crate::frames::CameraFrame;
    let (w, h) = (1920u32, 1080u32);
    let pixels: Vec<u8> = (0..w * h * 3)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let frame = CameraFrame::rgb8("camera", w, h, &pixels);
    let model = model.unwrap_or_else(|| PathBuf::from("models/nanodet-m-416.yaml"));
    let spec = ModelSpec::load(&model)?;
    println!(
        "{:<62} {:>9} {:>9} {:>9}",
        "step", "p50 ms", "p99 ms", "max ms"
    );
    let report = |name: &str, (p50, p99, max): (f64, f64, f64)| {
        println!("{name:<62} {p50:>9.2} {p99:>9.2} {max:>9.2}");
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
    // The top rung's last engine and its input's transform, for decoding.
    let mut top: Option<(Box<dyn engine::Engine>, ImageTransform)> = None;
    // Every rung of the model's ladder on each engine, and the default
    // (`auto`: what a run without --engine gets here) on the top rung,
    // side by side in one run.
    for (rung, variant) in spec.rungs()?.iter().enumerate() {
        let mut pre = Preprocessor::new(&variant.input);
        let mut input = vec![0.0; pre.tensor_len()];
        let transform = pre.run(&frame, &mut input);
        let backends: &[Backend] = if rung == 0 {
            &[Backend::Tract, Backend::Onnxruntime, Backend::Auto]
        } else {
            &[Backend::Tract, Backend::Onnxruntime]
        };
        for &backend in backends {
            for threads in [1, 2] {
                let options = EngineOptions {
                    backend,
                    threads,
                    onnxruntime_library: onnxruntime_library.clone(),
                    ..EngineOptions::default()
                };
                let mut engine = match engine::load(variant, &options) {
                    Ok(engine) => engine,
                    Err(error) => {
                        println!("{} on {backend:?} skipped: {error}", variant.name);
                        break;
                    }
                };
                let chosen = engine.info().backend;
                let name = format!(
                    "inference {}, {}, {threads} thread{}",
                    variant.name,
                    match backend {
                        Backend::Auto => format!("default (auto: {chosen})"),
                        _ => chosen.to_owned(),
                    },
                    if threads == 1 { "" } else { "s" }
                );
                report(
                    &name,
                    time_ms(runs.min(30), || {
                        engine.run(&input).expect("inference");
                    }),
                );
                if rung == 0 {
                    top = Some((engine, transform));
                }
            }
        }
    }
    let (engine, transform) = top.context("no engine loaded")?;
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
