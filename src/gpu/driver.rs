//! FFI edge of the CUDA libraries: whether the driver and NVRTC can be
//! loaded at all. cudarc loads them dynamically and panics on the first
//! call when a library is missing, so these probes run before anything
//! else touches cudarc. Never called per frame.

/// `libcuda.so` (the NVIDIA driver) can be loaded.
pub fn driver_present() -> bool {
    // SAFETY: only tries to dlopen the driver library by its usual names
    // and drops the handle; no CUDA function is called and no state kept.
    unsafe { cudarc::driver::sys::is_culib_present() }
}

/// `libnvrtc.so` (the runtime compiler for our kernels) can be loaded.
pub fn nvrtc_present() -> bool {
    // SAFETY: as above, a dlopen probe of the NVRTC library only.
    unsafe { cudarc::nvrtc::sys::is_culib_present() }
}
