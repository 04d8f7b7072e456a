//! The GPU check behind `lookout gpu-check`, `scripts/gpu-check.sh` and the
//! `#[ignore]`d GPU tests: measurements that need a real GPU.
//!
//! - agreement: GPU preprocessing against the CPU path, every encoding,
//!   both layouts and resize modes, direct launches and CUDA graphs;
//! - host-to-device bandwidth from page-locked and from pageable memory;
//! - per-lane GPU time of each stage (CUDA events), next to the CPU
//!   preprocessing of the same frames;
//! - what a lane's stream priority buys while another stream saturates the
//!   GPU (frame latency at the greatest and at the least priority).
//!
//! A diagnostic tool, run by hand or by the script: it allocates freely and
//! is never on a frame's path.

use crate::camera::preprocess::Preprocessor;
use crate::camera::preprocess::gpu::GpuPreprocessor;
use crate::camera::spec::{ColorOrder, InputSpec, Layout, ResizeMode};
use crate::clock::{Clock, MonotonicClock};
use crate::frames::{CameraFrame, PixelEncoding};
use crate::gpu::lane::{GpuLane, SPIN_KERNEL, driver_error};
use crate::gpu::{Availability, GpuError, GpuInfo, GpuOptions};
use cudarc::driver::sys::{CUdevice_attribute, CUevent_flags};
use cudarc::driver::{LaunchConfig, PushKernelArg};

/// The largest difference the GPU path may show against the CPU path, per
/// tensor element (normalized units): the bound.
pub const AGREEMENT_BOUND: f32 = 1.0 / 255.0;

/// Median, 99th percentile and mean of a sample, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Summary {
    pub median: f64,
    pub p99: f64,
    pub mean: f64,
}

impl Summary {
    pub fn of(mut values: Vec<f64>) -> Summary {
        if values.is_empty() {
            return Summary::default();
        }
        values.sort_by(f64::total_cmp);
        let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
        Summary {
            median: at(0.5),
            p99: at(0.99),
            mean: values.iter().sum::<f64>() / values.len() as f64,
        }
    }
}

/// CPU and GPU preprocessing compared.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Agreement {
    /// Frame/spec combinations compared (each directly and as a graph).
    pub cases: usize,
    /// Largest difference of a tensor element, normalized units.
    pub max_abs_diff: f32,
    /// Elements that differ at all.
    pub differing: usize,
    pub elements: usize,
}

/// Host-to-device copy speed, GB/s.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Bandwidth {
    pub bytes: usize,
    pub pinned_gbps: f64,
    pub pageable_gbps: f64,
}

/// One lane's per-stage times over a run of frames, ms.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LaneTiming {
    pub frame: String,
    pub priority: i32,
    pub frames: usize,
    pub upload: Summary,
    pub preprocess: Summary,
    pub download: Summary,
    /// The CPU path on the same frames, for comparison.
    pub cpu_preprocess: Summary,
}

/// A lane's frame latency (enqueue to tensor on the host), ms, while
/// another stream keeps every SM busy.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Contention {
    pub idle: Summary,
    pub greatest_priority: Summary,
    pub least_priority: Summary,
    /// The two priorities, e.g. (-5, 0).
    pub priorities: (i32, i32),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub gpu: GpuInfo,
    pub agreement: Agreement,
    pub bandwidth: Bandwidth,
    pub lanes: Vec<LaneTiming>,
    pub contention: Contention,
}

fn spec(
    width: u32,
    height: u32,
    color: ColorOrder,
    layout: Layout,
    resize: ResizeMode,
) -> InputSpec {
    InputSpec {
        name: "input".into(),
        layout,
        width,
        height,
        color,
        mean: [103.53, 116.28, 123.675],
        std: [57.375, 57.12, 58.395],
        resize,
        pad_value: 114.0,
    }
}

/// A frame with smooth gradients, edges and noise, and `extra` bytes of
/// padding per row.
pub struct TestFrame {
    pub width: u32,
    pub height: u32,
    pub encoding: PixelEncoding,
    pub step: u32,
    pub pixels: Vec<u8>,
}

impl TestFrame {
    pub fn new(width: u32, height: u32, encoding: PixelEncoding, extra: u32, seed: u64) -> Self {
        let bpp = encoding.bytes_per_pixel() as u32;
        let step = width * bpp + extra;
        let mut state = seed | 1;
        let mut pixels = vec![0u8; (step * height) as usize];
        for y in 0..height {
            for x in 0..width {
                for b in 0..bpp {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    let smooth = (x * 255 / width.max(1) + y * 97 / height.max(1) + b * 53) as u8;
                    let edge = if (x / 16 + y / 16) % 2 == 0 { 40 } else { 0 };
                    let noise = (state >> 58) as u8;
                    pixels[(y * step + x * bpp + b) as usize] =
                        smooth.wrapping_add(edge).wrapping_add(noise);
                }
            }
        }
        TestFrame {
            width,
            height,
            encoding,
            step,
            pixels,
        }
    }

    pub fn frame(&self) -> CameraFrame<'_> {
        CameraFrame {
            stamp: 0,
            frame_id: "check",
            width: self.width,
            height: self.height,
            encoding: self.encoding,
            step: self.step,
            pixels: &self.pixels,
        }
    }
}

fn usable(options: &GpuOptions) -> Result<GpuInfo, GpuError> {
    match crate::gpu::probe(options.ordinal) {
        Availability::Gpu(gpu) => Ok(gpu),
        Availability::Cpu { reason } => Err(GpuError::Unavailable(reason)),
    }
}

/// GPU preprocessing against the CPU path over every encoding, layout,
/// resize mode and a few frame sizes (with row padding), each run directly
/// and as a CUDA graph (captured, then replayed).
pub fn preprocessing_agreement(options: &GpuOptions) -> Result<Agreement, GpuError> {
    let lane = GpuLane::new(options)?;
    let specs = [
        spec(416, 416, ColorOrder::Bgr, Layout::Nchw, ResizeMode::Stretch),
        spec(
            800,
            448,
            ColorOrder::Rgb,
            Layout::Nchw,
            ResizeMode::Letterbox,
        ),
        spec(
            320,
            320,
            ColorOrder::Rgb,
            Layout::Nhwc,
            ResizeMode::Letterbox,
        ),
    ];
    let frames = [
        TestFrame::new(1920, 1080, PixelEncoding::Rgb8, 0, 1),
        TestFrame::new(1280, 720, PixelEncoding::Bgra8, 64, 2),
        TestFrame::new(640, 480, PixelEncoding::Bgr8, 3, 3),
        TestFrame::new(640, 480, PixelEncoding::Rgba8, 0, 4),
        TestFrame::new(752, 480, PixelEncoding::Mono8, 16, 5),
        TestFrame::new(640, 512, PixelEncoding::Mono16 { big_endian: false }, 0, 6),
        TestFrame::new(640, 512, PixelEncoding::Mono16 { big_endian: true }, 2, 7),
        TestFrame::new(37, 23, PixelEncoding::Rgb8, 5, 8),
    ];
    let mut agreement = Agreement::default();
    for spec in &specs {
        let mut cpu = Preprocessor::new(spec);
        let mut want = vec![0.0; cpu.tensor_len()];
        for cuda_graph in [false, true] {
            let mut gpu = GpuPreprocessor::new(&lane, spec, 1 << 20, cuda_graph)?;
            for frame in &frames {
                let frame = frame.frame();
                let transform = cpu.run(&frame, &mut want);
                // Twice: under a graph, the first captures and the second
                // replays.
                for _ in 0..2 {
                    let got_transform = gpu.enqueue(&frame, None)?;
                    if got_transform != Some(transform) {
                        return Err(GpuError::Driver {
                            call: "check",
                            detail: format!("transform {got_transform:?} != {transform:?}"),
                        });
                    }
                    let got = gpu.download()?;
                    agreement.cases += 1;
                    agreement.elements += got.len();
                    for (g, w) in got.iter().zip(&want) {
                        let d = (g - w).abs();
                        if d > 0.0 || d.is_nan() {
                            agreement.differing += 1;
                            agreement.max_abs_diff = agreement.max_abs_diff.max(if d.is_nan() {
                                f32::INFINITY
                            } else {
                                d
                            });
                        }
                    }
                }
            }
        }
    }
    Ok(agreement)
}

/// Host-to-device copies of `bytes`, `repeats` times, from page-locked and
/// from pageable memory, timed with CUDA events.
pub fn h2d_bandwidth(
    options: &GpuOptions,
    bytes: usize,
    repeats: usize,
) -> Result<Bandwidth, GpuError> {
    let lane = GpuLane::new(options)?;
    let (context, stream) = (lane.context(), lane.stream());
    // SAFETY: page-locked memory starts uninitialized; it is filled before
    // any copy reads it.
    let mut pinned =
        unsafe { context.alloc_pinned::<u8>(bytes) }.map_err(driver_error("cuMemHostAlloc"))?;
    pinned
        .as_mut_slice()
        .map_err(driver_error("cuEventSynchronize"))?
        .fill(7);
    let pageable = vec![7u8; bytes];
    let mut device = stream
        .alloc_zeros::<u8>(bytes)
        .map_err(driver_error("cuMemAlloc"))?;
    let event = || {
        context
            .new_event(Some(CUevent_flags::CU_EVENT_DEFAULT))
            .map_err(driver_error("cuEventCreate"))
    };
    let (start, end) = (event()?, event()?);
    let mut time = |from_pinned: bool| -> Result<f64, GpuError> {
        let host: &[u8] = if from_pinned {
            pinned
                .as_slice()
                .map_err(driver_error("cuEventSynchronize"))?
        } else {
            &pageable
        };
        // One copy to warm up, then the timed ones.
        stream
            .memcpy_htod(host, &mut device)
            .map_err(driver_error("cuMemcpyHtoDAsync"))?;
        start
            .record(stream)
            .map_err(driver_error("cuEventRecord"))?;
        for _ in 0..repeats {
            stream
                .memcpy_htod(host, &mut device)
                .map_err(driver_error("cuMemcpyHtoDAsync"))?;
        }
        end.record(stream).map_err(driver_error("cuEventRecord"))?;
        end.synchronize()
            .map_err(driver_error("cuEventSynchronize"))?;
        let ms = start
            .elapsed_ms(&end)
            .map_err(driver_error("cuEventElapsedTime"))?;
        Ok((bytes * repeats) as f64 / (f64::from(ms) * 1e-3) / 1e9)
    };
    let pinned_gbps = time(true)?;
    let pageable_gbps = time(false)?;
    Ok(Bandwidth {
        bytes,
        pinned_gbps,
        pageable_gbps,
    })
}

/// `frames` frames through one lane per `(frame, priority)`: GPU time of
/// each stage from the lane's events, and the CPU path on the same frames.
pub fn lane_timing(options: &GpuOptions, frames: usize) -> Result<Vec<LaneTiming>, GpuError> {
    let gpu = usable(options)?;
    let (least, greatest) = gpu.stream_priorities;
    let spec = spec(416, 416, ColorOrder::Bgr, Layout::Nchw, ResizeMode::Stretch);
    let cases = [
        (
            "1920x1080 rgb8",
            TestFrame::new(1920, 1080, PixelEncoding::Rgb8, 0, 11),
            greatest,
        ),
        (
            "1280x720 bgra8",
            TestFrame::new(1280, 720, PixelEncoding::Bgra8, 0, 12),
            least,
        ),
    ];
    let clock = MonotonicClock::new();
    let mut out = Vec::new();
    for (name, frame, priority) in cases {
        let lane = GpuLane::new(&GpuOptions {
            stream_priority: priority,
            ..*options
        })?;
        let mut gpu = GpuPreprocessor::new(&lane, &spec, frame.pixels.len(), options.cuda_graph)?;
        let mut cpu = Preprocessor::new(&spec);
        let mut tensor = vec![0.0; cpu.tensor_len()];
        let frame = frame.frame();
        let (mut upload, mut preprocess, mut download, mut cpu_ms) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for i in 0..frames + 5 {
            gpu.enqueue(&frame, None)?;
            gpu.download()?;
            let t0 = clock.now_ns();
            cpu.run(&frame, &mut tensor);
            let t1 = clock.now_ns();
            if i < 5 {
                continue; // warm-up
            }
            let times = gpu.times()?;
            upload.push(f64::from(times.upload_ms.unwrap_or(0.0)));
            preprocess.push(f64::from(times.preprocess_ms));
            download.push(f64::from(times.rest_ms));
            cpu_ms.push((t1 - t0) as f64 * 1e-6);
        }
        out.push(LaneTiming {
            frame: name.to_owned(),
            priority: lane.priority(),
            frames,
            upload: Summary::of(upload),
            preprocess: Summary::of(preprocess),
            download: Summary::of(download),
            cpu_preprocess: Summary::of(cpu_ms),
        });
    }
    Ok(out)
}

/// A 1920x1080 lane's frame latency while a load stream keeps every SM
/// busy with ~1 ms blocks: with the lane at the greatest and at the least
/// stream priority, and with no load.
pub fn priority_under_contention(
    options: &GpuOptions,
    frames: usize,
) -> Result<Contention, GpuError> {
    let gpu = usable(options)?;
    let (least, greatest) = gpu.stream_priorities;
    let load = GpuLane::new(&GpuOptions {
        stream_priority: least,
        ..*options
    })?;
    let spin = load.function(SPIN_KERNEL)?;
    let sms = load
        .context()
        .attribute(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)
        .map_err(driver_error("cuDeviceGetAttribute"))?;
    let clock_khz = load
        .context()
        .attribute(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_CLOCK_RATE)
        .map_err(driver_error("cuDeviceGetAttribute"))?;
    let cycles = i64::from(clock_khz); // ~1 ms
    let mut sink = load
        .stream()
        .alloc_zeros::<u32>(1)
        .map_err(driver_error("cuMemAlloc"))?;
    let spec = spec(416, 416, ColorOrder::Bgr, Layout::Nchw, ResizeMode::Stretch);
    let frame = TestFrame::new(1920, 1080, PixelEncoding::Rgb8, 0, 21);
    let clock = MonotonicClock::new();
    let mut measure = |priority: i32, loaded: bool| -> Result<Summary, GpuError> {
        let lane = GpuLane::new(&GpuOptions {
            stream_priority: priority,
            ..*options
        })?;
        let mut gpu = GpuPreprocessor::new(&lane, &spec, frame.pixels.len(), false)?;
        let frame = frame.frame();
        let mut latencies = Vec::new();
        for i in 0..frames + 5 {
            if loaded {
                // Two waves of ~1 ms blocks filling every SM, queued ahead
                // of the frame.
                for _ in 0..2 {
                    let config = LaunchConfig {
                        grid_dim: ((sms as u32) * 8, 1, 1),
                        block_dim: (256, 1, 1),
                        shared_mem_bytes: 0,
                    };
                    let mut args = load.stream().launch_builder(&spin);
                    args.arg(&cycles).arg(&mut sink);
                    // SAFETY: `lookout_spin(long long cycles, unsigned int*
                    // sink)`: an i64 and a one-element device buffer, which
                    // the kernel writes at index 0 only.
                    unsafe { args.launch(config) }.map_err(driver_error("cuLaunchKernel"))?;
                }
            }
            let t0 = clock.now_ns();
            gpu.enqueue(&frame, None)?;
            gpu.download()?;
            let t1 = clock.now_ns();
            if i >= 5 {
                latencies.push((t1 - t0) as f64 * 1e-6);
            }
        }
        load.stream()
            .synchronize()
            .map_err(driver_error("cuStreamSynchronize"))?;
        Ok(Summary::of(latencies))
    };
    let idle = measure(greatest, false)?;
    let greatest_priority = measure(greatest, true)?;
    let least_priority = measure(least, true)?;
    Ok(Contention {
        idle,
        greatest_priority,
        least_priority,
        priorities: (greatest, least),
    })
}

/// Every measurement.
pub fn run(options: &GpuOptions, frames: usize) -> Result<Report, GpuError> {
    let gpu = usable(options)?;
    Ok(Report {
        agreement: preprocessing_agreement(options)?,
        bandwidth: h2d_bandwidth(options, 64 << 20, 20)?,
        lanes: lane_timing(options, frames)?,
        contention: priority_under_contention(options, frames)?,
        gpu,
    })
}

/// The report as Markdown tables.
pub fn render(report: &Report) -> String {
    use std::fmt::Write;
    let g = &report.gpu;
    let a = &report.agreement;
    let b = &report.bandwidth;
    let c = &report.contention;
    let ms = |s: &Summary| format!("{:.3} / {:.3}", s.median, s.p99);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "GPU {}: {} (compute capability {}, {} MiB, stream priorities {}..{})\n",
        g.ordinal,
        g.name,
        g.compute_capability_label(),
        g.memory_bytes >> 20,
        g.stream_priorities.1,
        g.stream_priorities.0
    );
    let _ = writeln!(out, "| check | result |\n| --- | --- |");
    let _ = writeln!(
        out,
        "| CPU vs GPU preprocessing, max difference per element | {:.3e} ({} of {} elements differ, {} runs; bound 1/255 = {:.3e}) |",
        a.max_abs_diff, a.differing, a.elements, a.cases, AGREEMENT_BOUND
    );
    let _ = writeln!(
        out,
        "| H2D bandwidth, {} MiB: pinned vs pageable | {:.1} GB/s vs {:.1} GB/s |",
        b.bytes >> 20,
        b.pinned_gbps,
        b.pageable_gbps
    );
    for lane in &report.lanes {
        let _ = writeln!(
            out,
            "| lane {} -> 416x416 (priority {}), median / p99 ms | upload {}, kernel {}, download {}; CPU path {} |",
            lane.frame,
            lane.priority,
            ms(&lane.upload),
            ms(&lane.preprocess),
            ms(&lane.download),
            ms(&lane.cpu_preprocess)
        );
    }
    let _ = writeln!(
        out,
        "| frame latency under a saturating load stream, median / p99 ms | idle {}; priority {} {}; priority {} {} |",
        ms(&c.idle),
        c.priorities.0,
        ms(&c.greatest_priority),
        c.priorities.1,
        ms(&c.least_priority)
    );
    out
}

/// The whole camera stage (`spec`'s model, tract) with GPU preprocessing
/// against the same stage on the CPU, on a few frames: detections compared
/// one for one. Returns (detections, largest box-corner difference in
/// pixels, largest score difference); an error when the counts or classes
/// differ.
pub fn camera_stage_agreement(
    spec: &crate::camera::spec::ModelSpec,
    options: &GpuOptions,
) -> Result<(usize, f32, f32), String> {
    use crate::camera::CameraStage;
    use crate::camera::engine::EngineOptions;
    let load = |device| {
        CameraStage::load(
            spec.clone(),
            &EngineOptions {
                gpu: GpuOptions { device, ..*options },
                ..EngineOptions::default()
            },
        )
        .map_err(|e| e.to_string())
    };
    let mut cpu = load(crate::gpu::Device::Cpu)?;
    let mut gpu = load(crate::gpu::Device::Cuda)?;
    if !gpu.preprocesses_on_gpu() {
        return Err("the stage did not set up GPU preprocessing (see the log)".to_owned());
    }
    let (mut count, mut box_diff, mut score_diff) = (0, 0.0f32, 0.0f32);
    let (mut want, mut got) = (Vec::new(), Vec::new());
    for (seed, encoding) in [
        PixelEncoding::Rgb8,
        PixelEncoding::Bgr8,
        PixelEncoding::Mono8,
    ]
    .into_iter()
    .enumerate()
    {
        let frame = TestFrame::new(1280, 720, encoding, 0, 31 + seed as u64);
        cpu.process(&frame.frame(), &mut want)
            .map_err(|e| e.to_string())?;
        gpu.process(&frame.frame(), &mut got)
            .map_err(|e| e.to_string())?;
        if want.len() != got.len() {
            return Err(format!(
                "{} detections on the CPU, {} with GPU preprocessing",
                want.len(),
                got.len()
            ));
        }
        for (w, g) in want.iter().zip(&got) {
            if w.class != g.class {
                return Err(format!(
                    "class {} on the CPU, {} on the GPU",
                    w.class, g.class
                ));
            }
            score_diff = score_diff.max((w.score - g.score).abs());
            for k in 0..4 {
                box_diff = box_diff.max((w.bbox[k] - g.bbox[k]).abs());
            }
        }
        count += want.len();
    }
    Ok((count, box_diff, score_diff))
}
