//! The GPU, when there is one. [`probe`] finds out at run time whether the
//! CUDA driver, NVRTC and a device are there (the `cuda` feature loads the
//! libraries dynamically, so Lookout builds and starts without CUDA), and
//! [`select`] turns the configured [`Device`] into what the camera lanes
//! use, saying in one log line why the CPU runs when it must.
//!
//! Owns no per-frame work and never blocks on the GPU: lanes do that.

#[cfg(feature = "cuda")]
mod driver;

use serde::{Deserialize, Serialize};

/// Where camera preprocessing and inference should run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
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
