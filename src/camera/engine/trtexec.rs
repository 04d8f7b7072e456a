//! Building TensorRT engines with `trtexec`, which ships with every
//! TensorRT install: `lookout engine build` and `build_engine_on_start`
//! both come here, before any lane starts (never on the hot path). The
//! engine lands in the [cache](super::cache) with its sidecar.
//!
//! Needs no TensorRT at compile time: trtexec is found on PATH (or given),
//! and its banner says which TensorRT it is.

use super::cache::{CacheError, EngineCache, EngineKey, OnMismatch, Precision, Target};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What to build.
#[derive(Debug, Clone)]
pub struct BuildRequest {
    /// The model's ONNX file and the name engines are filed under.
    pub onnx: PathBuf,
    pub model: String,
    pub input_shape: Vec<usize>,
    pub precision: Precision,
    /// INT8 only: a TensorRT calibration cache (trtexec `--calib`).
    pub calibration_cache: Option<PathBuf>,
    /// The cache directory, or an explicit engine path.
    pub cache_dir: PathBuf,
    pub engine: Option<PathBuf>,
    pub trtexec: PathBuf,
    /// The GPU to build for.
    pub device: usize,
}

/// `[TensorRT v100300]` (10.x: major·10000 + minor·100 + patch) or
/// `[TensorRT v8601]` (8.x: major·1000 + minor·100 + patch) in trtexec's
/// banner, as `"10.3.0"`.
pub fn parse_version(banner: &str) -> Option<String> {
    let start = banner.find("[TensorRT v")? + "[TensorRT v".len();
    let digits: String = banner[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let n: u32 = digits.parse().ok()?;
    let (major, minor, patch) = if n >= 100_000 {
        (n / 10_000, (n / 100) % 100, n % 100)
    } else {
        (n / 1_000, (n / 100) % 10, n % 100)
    };
    Some(format!("{major}.{minor}.{patch}"))
}

/// The TensorRT version of `trtexec` (from the banner of `trtexec --help`).
pub fn trtexec_version(trtexec: &Path) -> Result<String, String> {
    let output = Command::new(trtexec).arg("--help").output().map_err(|e| {
        format!(
            "running {}: {e} (is TensorRT installed?)",
            trtexec.display()
        )
    })?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    parse_version(&text).ok_or_else(|| {
        format!(
            "{} printed no `[TensorRT vNNNN]` banner: is it TensorRT's trtexec?",
            trtexec.display()
        )
    })
}

/// The compute capability of GPU `device`, e.g. `"9.0"`: from the driver
/// with the `cuda` feature, else from `nvidia-smi`.
pub fn compute_capability(device: usize) -> Result<String, String> {
    if let crate::gpu::Availability::Gpu(gpu) = crate::gpu::probe(device) {
        return Ok(gpu.compute_capability_label());
    }
    let output = Command::new("nvidia-smi")
        .args([
            "--query-gpu=compute_cap",
            "--format=csv,noheader",
            &format!("--id={device}"),
        ])
        .output()
        .map_err(|e| format!("no usable GPU, and nvidia-smi did not run: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    let cap = text.trim();
    if output.status.success() && cap.split('.').all(|p| p.parse::<u32>().is_ok()) {
        Ok(cap.to_owned())
    } else {
        Err(format!(
            "nvidia-smi gave no compute capability for GPU {device}: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// The trtexec command line that builds `engine` from `onnx`.
pub fn arguments(
    onnx: &Path,
    engine: &Path,
    precision: Precision,
    calibration_cache: Option<&Path>,
    device: usize,
) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec![
        flag("--onnx=", onnx),
        flag("--saveEngine=", engine),
        format!("--device={device}").into(),
        "--skipInference".into(),
    ];
    match precision {
        Precision::Fp32 => {}
        Precision::Fp16 => args.push("--fp16".into()),
        Precision::Int8 => {
            // FP16 too: layers INT8 cannot run fall back to it, not FP32.
            args.push("--int8".into());
            args.push("--fp16".into());
            if let Some(cache) = calibration_cache {
                args.push(flag("--calib=", cache));
            }
        }
    }
    args
}

fn flag(name: &str, path: &Path) -> OsString {
    let mut s = OsString::from(name);
    s.push(path.as_os_str());
    s
}

/// Builds (or finds already built) the engine `request` describes; its
/// path. INT8 without a calibration cache is refused: TensorRT would
/// quantize with made-up scales.
pub fn build(request: &BuildRequest) -> Result<PathBuf, String> {
    check_calibration(request)?;
    let target = Target {
        tensorrt_version: trtexec_version(&request.trtexec)?,
        compute_capability: compute_capability(request.device)?,
    };
    let key = EngineKey::for_model(
        &request.onnx,
        &request.input_shape,
        &target,
        request.precision,
    )
    .map_err(|e| e.to_string())?;
    let cache = EngineCache::new(&request.cache_dir, OnMismatch::BuildOnStart);
    cache
        .resolve(&request.model, &key, request.engine.as_deref(), |engine| {
            run(request, engine)
        })
        .map_err(|e: CacheError| e.to_string())
}

fn check_calibration(request: &BuildRequest) -> Result<(), String> {
    if request.precision == Precision::Int8 && request.calibration_cache.is_none() {
        return Err(
            "int8 needs a TensorRT calibration cache (--calib FILE); without one the \
             engine's scales would be made up"
                .to_owned(),
        );
    }
    Ok(())
}

/// Runs trtexec for `request`, writing the engine to `engine`; what built
/// it, for the sidecar. The caller keys and records it (see [`build`]).
pub fn run(request: &BuildRequest, engine: &Path) -> Result<String, String> {
    check_calibration(request)?;
    let args = arguments(
        &request.onnx,
        engine,
        request.precision,
        request.calibration_cache.as_deref(),
        request.device,
    );
    tracing::info!(
        "building {} with {} {:?}",
        engine.display(),
        request.trtexec.display(),
        args
    );
    let output = Command::new(&request.trtexec)
        .args(&args)
        .output()
        .map_err(|e| format!("running {}: {e}", request.trtexec.display()))?;
    if !output.status.success() || !engine.is_file() {
        let log = String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = log.lines().rev().take(15).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(format!(
            "trtexec exited with {}:\n{}",
            output.status,
            tail.join("\n")
        ));
    }
    Ok(format!(
        "lookout {} via trtexec {}",
        env!("CARGO_PKG_VERSION"),
        args.iter()
            .skip(2)
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_from_the_banner_of_both_numbering_schemes() {
        let banner = "&&&& RUNNING TensorRT.trtexec [TensorRT v100300] # trtexec --help";
        assert_eq!(parse_version(banner).as_deref(), Some("10.3.0"));
        assert_eq!(
            parse_version("[TensorRT v101201] # trtexec").as_deref(),
            Some("10.12.1")
        );
        assert_eq!(
            parse_version("&&&& RUNNING TensorRT.trtexec [TensorRT v8601]").as_deref(),
            Some("8.6.1")
        );
        assert_eq!(parse_version("trtexec: command not found"), None);
    }

    #[test]
    fn the_command_line_carries_precision_and_calibration() {
        let args = |p, c: Option<&Path>| {
            arguments(Path::new("m.onnx"), Path::new("m.engine"), p, c, 1)
                .into_iter()
                .map(|a| a.into_string().unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            args(Precision::Fp32, None),
            [
                "--onnx=m.onnx",
                "--saveEngine=m.engine",
                "--device=1",
                "--skipInference"
            ]
        );
        assert!(args(Precision::Fp16, None).contains(&"--fp16".to_owned()));
        let int8 = args(Precision::Int8, Some(Path::new("calib.cache")));
        assert!(
            int8.contains(&"--int8".to_owned()) && int8.contains(&"--calib=calib.cache".to_owned())
        );
    }

    #[test]
    fn int8_without_calibration_is_refused_before_anything_runs() {
        let request = BuildRequest {
            onnx: PathBuf::from("m.onnx"),
            model: "m".into(),
            input_shape: vec![1, 3, 416, 416],
            precision: Precision::Int8,
            calibration_cache: None,
            cache_dir: PathBuf::from("engines"),
            engine: None,
            trtexec: PathBuf::from("/nonexistent/trtexec"),
            device: 0,
        };
        let e = build(&request).unwrap_err();
        assert!(e.contains("calibration cache"), "{e}");
    }

    #[test]
    fn a_missing_trtexec_is_a_clear_error() {
        let e = trtexec_version(Path::new("/nonexistent/trtexec")).unwrap_err();
        assert!(e.contains("is TensorRT installed?"), "{e}");
    }
}
