//! The GPU, when there is one. [`probe`] finds out at run time whether the
//! CUDA driver, NVRTC and a device are there (the `cuda` feature loads the
//! libraries dynamically, so Lookout builds and starts without CUDA), and
//! [`select`] turns the configured [`Device`] into what the camera lanes
//! use, saying in one log line why the CPU runs when it must.
//!
//! With the `cuda` feature it also holds the device edge of a camera lane:
//! [`lane`] (context, prioritized stream, kernels compiled by NVRTC). It
//! knows nothing of cameras: the GPU twin of the CPU preprocessing is
//! `crate::camera::preprocess::gpu`, and the GPU check that exercises
//! both is `crate::camera::gpu_check`. This module tree, those two files
//! and the TensorRT binding are Lookout's FFI modules: every `unsafe` block
//! of the CUDA path is in them, each with its `// SAFETY:`.
//!
//! [`probe`] and [`select`] run at start only and never block a frame.

#[cfg(feature = "cuda")]
mod driver;
#[cfg(feature = "cuda")]
pub mod lane;

/// The CUDA C source of Lookout's kernels (preprocessing, and the load
/// generator of the GPU check), compiled at start by NVRTC.
pub const KERNELS_CU: &str = include_str!("preprocess.cu");

use serde::{Deserialize, Serialize};

/// Where camera preprocessing and inference should run.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    Serialize,
    Deserialize,
    clap::ValueEnum,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Device {
    /// The GPU when one is usable, else the CPU (one log line says why).
    #[default]
    Auto,
    /// The CPU, even with a GPU present.
    Cpu,
    /// The GPU; without one the CPU still runs, with a warning.
    Cuda,
}

/// How camera lanes use the GPU: the `gpu` section of a camera's engine
/// options (and the node's `node.gpu_*` parameters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct GpuOptions {
    /// Where preprocessing (and, with a GPU engine, inference) runs.
    pub device: Device,
    /// GPU ordinal.
    pub ordinal: usize,
    /// CUDA stream priority of the lane: lower numbers run first. Clamped to
    /// the device's range (on most GPUs -5..0, or -2..0); 0 is the default
    /// priority, so a camera whose deadline matters most gets the lowest.
    pub stream_priority: i32,
    /// Capture the per-frame copy and preprocessing kernel as a CUDA graph
    /// (recaptured when the frame size changes) and launch it in one call.
    pub cuda_graph: bool,
}

impl Default for GpuOptions {
    fn default() -> Self {
        GpuOptions {
            device: Device::Auto,
            ordinal: 0,
            stream_priority: 0,
            cuda_graph: false,
        }
    }
}

/// What went wrong on the GPU path: at start (the lane cannot be set up)
/// or for one frame (the frame fails, the lane goes on).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GpuError {
    #[error("no usable GPU: {0}")]
    Unavailable(String),
    #[error("CUDA {call}: {detail}")]
    Driver { call: &'static str, detail: String },
    #[error("NVRTC could not compile the preprocessing kernel: {0}")]
    Compile(String),
}

/// What the probe found on a usable GPU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuInfo {
    pub ordinal: usize,
    pub name: String,
    /// `(major, minor)`, e.g. `(9, 0)`.
    pub compute_capability: (i32, i32),
    /// Stream priorities `(least, greatest)`; lower numbers run first.
    pub stream_priorities: (i32, i32),
    pub memory_bytes: usize,
}

impl GpuInfo {
    /// `"9.0"`: the form engine caches are keyed by.
    pub fn compute_capability_label(&self) -> String {
        format!(
            "{}.{}",
            self.compute_capability.0, self.compute_capability.1
        )
    }
}

/// The outcome of a probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    Gpu(GpuInfo),
    /// No usable GPU, and why.
    Cpu {
        reason: String,
    },
}

/// Whether GPU `ordinal` is usable.
pub fn probe(ordinal: usize) -> Availability {
    imp::probe(ordinal)
}

/// What the lanes run on for `device`, logging the choice once: the GPU
/// when asked for (or `auto`) and usable, else the CPU with the reason.
pub fn select(device: Device, ordinal: usize) -> Availability {
    if device == Device::Cpu {
        tracing::info!("camera lanes on the CPU (device: cpu)");
        return Availability::Cpu {
            reason: "device: cpu".to_owned(),
        };
    }
    let found = probe(ordinal);
    match (&found, device) {
        (Availability::Gpu(gpu), _) => tracing::info!(
            "camera lanes on GPU {} ({}, compute capability {}, stream priorities {}..{})",
            gpu.ordinal,
            gpu.name,
            gpu.compute_capability_label(),
            gpu.stream_priorities.0,
            gpu.stream_priorities.1
        ),
        (Availability::Cpu { reason }, Device::Cuda) => {
            tracing::warn!("device: cuda, but no usable GPU ({reason}): camera lanes on the CPU")
        }
        (Availability::Cpu { reason }, _) => {
            tracing::info!("camera lanes on the CPU: no usable GPU ({reason})")
        }
    }
    found
}

#[cfg(feature = "cuda")]
mod imp {
    use super::{Availability, GpuInfo, driver};

    pub fn probe(ordinal: usize) -> Availability {
        let cpu = |reason: String| Availability::Cpu { reason };
        if !driver::driver_present() {
            return cpu("the NVIDIA driver (libcuda.so) is not installed".to_owned());
        }
        if !driver::nvrtc_present() {
            return cpu("NVRTC (libnvrtc.so) is not installed: the CUDA toolkit runtime is needed to compile the preprocessing kernel".to_owned());
        }
        match info(ordinal) {
            Ok(info) => Availability::Gpu(info),
            Err(e) => cpu(format!("GPU {ordinal}: {e}")),
        }
    }

    fn info(ordinal: usize) -> Result<GpuInfo, cudarc::driver::DriverError> {
        let count = cudarc::driver::CudaContext::device_count()?;
        if ordinal as i32 >= count {
            return Err(cudarc::driver::DriverError(
                cudarc::driver::sys::CUresult::CUDA_ERROR_INVALID_DEVICE,
            ));
        }
        let context = cudarc::driver::CudaContext::new(ordinal)?;
        context.bind_to_thread()?;
        let stream_priorities = cudarc::driver::result::stream::get_priority_range()?;
        let (_, memory_bytes) = cudarc::driver::result::mem_get_info()?;
        Ok(GpuInfo {
            ordinal,
            name: context.name()?,
            compute_capability: context.compute_capability()?,
            stream_priorities,
            memory_bytes,
        })
    }
}

#[cfg(not(feature = "cuda"))]
mod imp {
    use super::Availability;

    pub fn probe(_ordinal: usize) -> Availability {
        Availability::Cpu {
            reason: "built without the `cuda` feature".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The CPU fallback: this test runs where CI runs, with no NVIDIA
    /// driver (or with a build that has no `cuda` feature). Where a GPU is
    /// usable, it checks the probe's facts instead.
    #[test]
    fn without_a_usable_gpu_the_cpu_runs_and_the_reason_is_given() {
        match select(Device::Cuda, 0) {
            Availability::Cpu { reason } => {
                let expected = if cfg!(feature = "cuda") {
                    ["libcuda.so", "libnvrtc.so", "GPU 0"]
                        .iter()
                        .any(|r| reason.contains(r))
                } else {
                    reason == "built without the `cuda` feature"
                };
                assert!(expected, "{reason}");
            }
            Availability::Gpu(gpu) => {
                assert!(gpu.compute_capability.0 >= 3, "{gpu:?}");
                assert!(gpu.stream_priorities.1 <= gpu.stream_priorities.0);
                assert!(gpu.memory_bytes > 0);
            }
        }
        assert_eq!(
            select(Device::Cpu, 0),
            Availability::Cpu {
                reason: "device: cpu".to_owned()
            }
        );
    }

    #[test]
    fn a_missing_device_ordinal_is_the_cpu_not_a_panic() {
        assert!(matches!(probe(4096), Availability::Cpu { .. }));
    }

    #[test]
    fn devices_parse_from_config_names() {
        let d: Device = serde_yaml::from_str("cuda").unwrap();
        assert_eq!(d, Device::Cuda);
        assert!(serde_yaml::from_str::<Device>("tpu").is_err());
    }
}
