//! A camera lane's CUDA resources, created once at start: a handle on the
//! device's primary context, a non-blocking stream with the lane's priority
//! (clamped to the device's range), and the kernels, compiled from
//! [`KERNELS_CU`](super::KERNELS_CU) by NVRTC.
//!
//! Every buffer of a lane is used on its one stream only, in stream order,
//! and the lane synchronizes that stream before the host reads a result or
//! drops a buffer. So the lane turns off cudarc's per-buffer event tracking
//! (which would add event records and waits to every call and make a stream
//! capture for CUDA graphs fail on events recorded outside it).
//!
//! Never called per frame except through [`super::preprocess`].

use super::{GpuError, GpuOptions, driver};
use cudarc::driver::{CudaContext, CudaFunction, CudaModule, CudaStream};
use cudarc::nvrtc::{CompileOptions, Ptx};
use std::sync::Arc;

/// Names of the kernels in `preprocess.cu`.
pub const PREPROCESS_KERNEL: &str = "lookout_preprocess";
pub const SPIN_KERNEL: &str = "lookout_spin";

pub(crate) fn driver_error(call: &'static str) -> impl Fn(cudarc::driver::DriverError) -> GpuError {
    move |e| GpuError::Driver {
        call,
        detail: e.to_string(),
    }
}

/// Compiles Lookout's kernels to PTX. Needs NVRTC only (no driver, no GPU):
/// CI compiles them this way to check the kernel source.
pub fn compile_kernels() -> Result<Ptx, GpuError> {
    if !driver::nvrtc_present() {
        return Err(GpuError::Unavailable(
            "NVRTC (libnvrtc.so) is not installed".to_owned(),
        ));
    }
    let options = CompileOptions {
        // No fused multiply-adds: the kernel then rounds exactly as the CPU
        // path does, operation for operation.
        fmad: Some(false),
        name: Some("lookout_preprocess.cu".to_owned()),
        ..Default::default()
    };
    cudarc::nvrtc::compile_ptx_with_opts(super::KERNELS_CU, options)
        .map_err(|e| GpuError::Compile(e.to_string()))
}

/// One lane on one GPU.
pub struct GpuLane {
    context: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    module: Arc<CudaModule>,
    priority: i32,
}

impl std::fmt::Debug for GpuLane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuLane")
            .field("ordinal", &self.context.ordinal())
            .field("priority", &self.priority)
            .finish()
    }
}

impl GpuLane {
    /// Sets the lane up on `options.ordinal`, after probing that the driver,
    /// NVRTC and the device are usable (cudarc panics otherwise).
    pub fn new(options: &GpuOptions) -> Result<Self, GpuError> {
        let gpu = match super::probe(options.ordinal) {
            super::Availability::Gpu(gpu) => gpu,
            super::Availability::Cpu { reason } => return Err(GpuError::Unavailable(reason)),
        };
        let context = CudaContext::new(options.ordinal).map_err(driver_error("cuCtxRetain"))?;
        // SAFETY: cudarc's contract for turning tracking off is that we
        // order uses ourselves. This context handle is the lane's own (each
        // `CudaContext::new` is a separate handle on the primary context),
        // every buffer created through it is used on the lane's one stream,
        // and the lane synchronizes that stream before the host reads a
        // result and before any buffer is dropped (see the module doc).
        unsafe { context.disable_event_tracking() };
        // Greatest priority is the numerically lowest.
        let (least, greatest) = gpu.stream_priorities;
        let priority = options.stream_priority.clamp(greatest, least);
        if priority != options.stream_priority {
            tracing::warn!(
                "stream priority {} is outside GPU {}'s range {greatest}..={least}: using {priority}",
                options.stream_priority,
                gpu.ordinal
            );
        }
        let stream = context
            .new_stream_with_priority(priority)
            .map_err(driver_error("cuStreamCreateWithPriority"))?;
        let module = context
            .load_module(compile_kernels()?)
            .map_err(driver_error("cuModuleLoadData"))?;
        Ok(GpuLane {
            context,
            stream,
            module,
            priority,
        })
    }

    pub fn context(&self) -> &Arc<CudaContext> {
        &self.context
    }

    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    /// The priority the stream got (after clamping).
    pub fn priority(&self) -> i32 {
        self.priority
    }

    pub fn function(&self, name: &str) -> Result<CudaFunction, GpuError> {
        self.module
            .load_function(name)
            .map_err(driver_error("cuModuleGetFunction"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernel source compiles wherever NVRTC is installed (CI installs
    /// it from PyPI; no GPU is needed). `LOOKOUT_REQUIRE_NVRTC=1` turns a
    /// missing NVRTC into a failure instead of a skip.
    #[test]
    fn the_kernels_compile_with_nvrtc() {
        match compile_kernels() {
            Ok(ptx) => {
                let text = ptx.to_src();
                for kernel in [PREPROCESS_KERNEL, SPIN_KERNEL] {
                    assert!(
                        text.contains(&format!(".entry {kernel}")),
                        "{kernel} missing"
                    );
                }
            }
            Err(GpuError::Unavailable(reason)) => {
                assert!(
                    std::env::var_os("LOOKOUT_REQUIRE_NVRTC").is_none(),
                    "LOOKOUT_REQUIRE_NVRTC is set, but {reason}"
                );
                eprintln!("skipped: {reason}");
            }
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn without_a_gpu_a_lane_is_refused_with_the_reason() {
        if let super::super::Availability::Cpu { reason } = super::super::probe(0) {
            let err = GpuLane::new(&GpuOptions::default()).unwrap_err();
            assert_eq!(err, GpuError::Unavailable(reason));
        }
    }
}
