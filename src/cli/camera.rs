//! `lookout detect`, `lookout engine build` and `lookout gpu-check`: the
//! camera detector on images, TensorRT engines, and the GPU path checked
//! against the CPU.

use super::args::*;
use crate::camera::engine::EngineOptions;
use crate::clock::MonotonicClock;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

#[cfg(feature = "cuda")]
pub fn gpu_check(ordinal: usize, frames: usize, model: Option<&Path>) -> Result<()> {
    use crate::camera::gpu_check as check;
    let options = crate::gpu::GpuOptions {
        device: crate::gpu::Device::Cuda,
        ordinal,
        ..crate::gpu::GpuOptions::default()
    };
    let report = check::run(&options, frames)?;
    print!("{}", check::render(&report));
    if let Some(model) = model {
        let spec = crate::camera::spec::ModelSpec::load(model)?;
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
pub fn gpu_check(_: usize, _: usize, _: Option<&Path>) -> Result<()> {
    bail!("this lookout is built without the GPU path: rebuild with `--features cuda`")
}

pub fn engine_build(action: EngineAction) -> Result<()> {
    use crate::camera::spec::ModelSpec;
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
    let request = crate::camera::engine::trtexec::BuildRequest {
        onnx: spec.onnx_path(),
        model: spec.name.clone(),
        input_shape: crate::camera::engine::input_shape(&spec),
        precision,
        calibration_cache: calib,
        cache_dir,
        engine: out,
        trtexec,
        device,
    };
    let engine = crate::camera::engine::trtexec::build(&request).map_err(anyhow::Error::msg)?;
    let sidecar = crate::camera::engine::cache::Sidecar::read(&engine)?;
    println!(
        "{} ({} bytes): TensorRT {}, compute capability {}, {}, input {:?}\nsidecar {}",
        engine.display(),
        sidecar.engine_bytes,
        sidecar.key.tensorrt_version,
        sidecar.key.compute_capability,
        sidecar.key.precision.as_str(),
        sidecar.key.input_shape,
        crate::camera::engine::cache::Sidecar::path_for(&engine).display()
    );
    Ok(())
}

pub fn detect(
    images: &[PathBuf],
    model: &Path,
    draw: Option<&Path>,
    engine: &EngineOptions,
) -> Result<()> {
    use crate::camera::{CameraStage, draw::draw_boxes, spec::ModelSpec};
    use crate::clock::Clock;
    use crate::frames::CameraFrame;
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
