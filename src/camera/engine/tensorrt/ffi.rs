//! FFI module: the C ABI of `shim.cpp` and owning handles over it. Every
//! `unsafe` of the TensorRT backend is here; the handles free their objects
//! on drop, in the order TensorRT requires (context, engine, runtime: the
//! owner keeps that order by field order).

use std::ffi::{CStr, CString, c_char, c_void};

unsafe extern "C" {
    fn lk_trt_version() -> i32;
    fn lk_trt_last_error(buf: *mut c_char, len: usize) -> usize;
    fn lk_trt_runtime_create() -> *mut c_void;
    fn lk_trt_runtime_destroy(runtime: *mut c_void);
    fn lk_trt_engine_deserialize(
        runtime: *mut c_void,
        data: *const c_void,
        size: usize,
    ) -> *mut c_void;
    fn lk_trt_engine_destroy(engine: *mut c_void);
    fn lk_trt_engine_io_count(engine: *mut c_void) -> i32;
    fn lk_trt_engine_io_name(engine: *mut c_void, index: i32) -> *const c_char;
    fn lk_trt_engine_io_info(
        engine: *mut c_void,
        name: *const c_char,
        mode: *mut i32,
        dtype: *mut i32,
        nb_dims: *mut i32,
        dims: *mut i64,
    ) -> i32;
    fn lk_trt_context_create(engine: *mut c_void) -> *mut c_void;
    fn lk_trt_context_destroy(context: *mut c_void);
    fn lk_trt_context_set_profile(context: *mut c_void, profile: i32, stream: *mut c_void) -> i32;
    fn lk_trt_context_set_input_shape(
        context: *mut c_void,
        name: *const c_char,
        nb_dims: i32,
        dims: *const i64,
    ) -> i32;
    fn lk_trt_context_tensor_shape(
        context: *mut c_void,
        name: *const c_char,
        nb_dims: *mut i32,
        dims: *mut i64,
    ) -> i32;
    fn lk_trt_context_set_tensor_address(
        context: *mut c_void,
        name: *const c_char,
        address: *mut c_void,
    ) -> i32;
    fn lk_trt_context_enqueue_v3(context: *mut c_void, stream: *mut c_void) -> i32;
}

/// The linked TensorRT's version, `(major, minor, patch)`.
pub fn version() -> (u32, u32, u32) {
    // SAFETY: getInferLibVersion takes nothing and only returns a number.
    let v = unsafe { lk_trt_version() }.max(0) as u32;
    (v / 10000, (v / 100) % 100, v % 100)
}

/// The message TensorRT last logged at error level on this thread.
pub fn last_error() -> String {
    let mut buf = vec![0u8; 1024];
    // SAFETY: the buffer is valid for `buf.len()` bytes; the shim writes
    // at most len - 1 bytes and a NUL.
    unsafe { lk_trt_last_error(buf.as_mut_ptr().cast(), buf.len()) };
    CStr::from_bytes_until_nul(&buf)
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn c_name(name: &str) -> Result<CString, String> {
    CString::new(name).map_err(|_| format!("tensor name {name:?} contains NUL"))
}

fn check(ok: i32, what: &str) -> Result<(), String> {
    if ok == 1 {
        Ok(())
    } else {
        Err(format!("{what}: {}", last_error()))
    }
}

pub struct Runtime(*mut c_void);

// SAFETY: a TensorRT runtime may be used from any thread, one at a time;
// `Runtime` is only reached through `&mut` or moved whole.
unsafe impl Send for Runtime {}

impl Runtime {
    pub fn new() -> Result<Self, String> {
        // SAFETY: creates a runtime with the shim's logger; NULL on failure.
        let runtime = unsafe { lk_trt_runtime_create() };
        if runtime.is_null() {
            return Err(format!("createInferRuntime failed: {}", last_error()));
        }
        Ok(Runtime(runtime))
    }

    /// Deserializes an engine from `plan` (copied by TensorRT).
    pub fn deserialize(&self, plan: &[u8]) -> Result<Engine, String> {
        // SAFETY: `self.0` is a live runtime; `plan` is valid for its length
        // during the call.
        let engine = unsafe { lk_trt_engine_deserialize(self.0, plan.as_ptr().cast(), plan.len()) };
        if engine.is_null() {
            return Err(format!("deserializeCudaEngine failed: {}", last_error()));
        }
        Ok(Engine(engine))
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // SAFETY: the runtime was created by the shim and is freed once.
        unsafe { lk_trt_runtime_destroy(self.0) }
    }
}

/// A tensor's direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoMode {
    Input,
    Output,
}

/// One I/O tensor of an engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IoTensor {
    pub name: String,
    pub mode: IoMode,
    /// `nvinfer1::DataType`: 0 is float32 (the only one Lookout binds).
    pub dtype: i32,
    /// `-1` for a dimension the optimization profile decides.
    pub shape: Vec<i64>,
}

pub struct Engine(*mut c_void);

// SAFETY: a deserialized engine is immutable and may be used from any
// thread; it is reached only through its owner.
unsafe impl Send for Engine {}

impl Engine {
    /// Every named I/O tensor.
    pub fn tensors(&self) -> Result<Vec<IoTensor>, String> {
        // SAFETY: `self.0` is a live engine.
        let count = unsafe { lk_trt_engine_io_count(self.0) };
        let mut tensors = Vec::new();
        for index in 0..count {
            // SAFETY: index < count; the name is owned by the engine and
            // copied before the engine can go.
            let name = unsafe { lk_trt_engine_io_name(self.0, index) };
            if name.is_null() {
                return Err(format!("I/O tensor {index} has no name"));
            }
            // SAFETY: a NUL-terminated string owned by the live engine.
            let name = unsafe { CStr::from_ptr(name) };
            let (mut mode, mut dtype, mut rank) = (0i32, 0i32, 0i32);
            let mut dims = [0i64; 8];
            // SAFETY: all out-pointers are valid; dims holds MAX_DIMS (8).
            let ok = unsafe {
                lk_trt_engine_io_info(
                    self.0,
                    name.as_ptr(),
                    &mut mode,
                    &mut dtype,
                    &mut rank,
                    dims.as_mut_ptr(),
                )
            };
            let name = name.to_string_lossy().into_owned();
            check(ok, &format!("tensor {name:?}"))?;
            let mode = match mode {
                1 => IoMode::Input,
                2 => IoMode::Output,
                other => return Err(format!("tensor {name:?} has I/O mode {other}")),
            };
            tensors.push(IoTensor {
                name,
                mode,
                dtype,
                shape: dims[..rank.clamp(0, 8) as usize].to_vec(),
            });
        }
        Ok(tensors)
    }

    pub fn context(&self) -> Result<Context, String> {
        // SAFETY: `self.0` is a live engine; NULL on failure.
        let context = unsafe { lk_trt_context_create(self.0) };
        if context.is_null() {
            return Err(format!("createExecutionContext failed: {}", last_error()));
        }
        Ok(Context(context))
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // SAFETY: created by the shim, freed once, after its contexts
        // (the owner drops the context first).
        unsafe { lk_trt_engine_destroy(self.0) }
    }
}

pub struct Context(*mut c_void);

// SAFETY: an execution context is used by one thread at a time: it is
// reached only through `&mut` of its owner.
unsafe impl Send for Context {}

impl Context {
    pub fn set_profile(&mut self, profile: i32, stream: *mut c_void) -> Result<(), String> {
        // SAFETY: live context; `stream` is a CUstream of the same CUDA
        // context, alive for the call.
        check(
            unsafe { lk_trt_context_set_profile(self.0, profile, stream) },
            "setOptimizationProfileAsync",
        )
    }

    pub fn set_input_shape(&mut self, name: &str, shape: &[i64]) -> Result<(), String> {
        let c = c_name(name)?;
        // SAFETY: live context, NUL-terminated name, `shape` valid for its
        // length (checked against MAX_DIMS by the shim).
        check(
            unsafe {
                lk_trt_context_set_input_shape(
                    self.0,
                    c.as_ptr(),
                    shape.len() as i32,
                    shape.as_ptr(),
                )
            },
            &format!("setInputShape({name:?})"),
        )
    }

    /// The shape of tensor `name` as this context resolves it.
    pub fn tensor_shape(&self, name: &str) -> Result<Vec<i64>, String> {
        let c = c_name(name)?;
        let mut rank = 0i32;
        let mut dims = [0i64; 8];
        // SAFETY: live context, NUL-terminated name, out-pointers valid;
        // dims holds MAX_DIMS (8).
        let ok = unsafe {
            lk_trt_context_tensor_shape(self.0, c.as_ptr(), &mut rank, dims.as_mut_ptr())
        };
        check(ok, &format!("getTensorShape({name:?})"))?;
        Ok(dims[..rank.clamp(0, 8) as usize].to_vec())
    }

    /// Binds tensor `name` to device memory at `address`.
    ///
    /// # Safety
    /// `address` must point to device memory of at least the tensor's size
    /// that stays allocated as long as this context enqueues with it.
    pub unsafe fn set_tensor_address(&mut self, name: &str, address: u64) -> Result<(), String> {
        let c = c_name(name)?;
        // SAFETY: the caller guarantees the address; the name is NUL-terminated.
        check(
            unsafe {
                lk_trt_context_set_tensor_address(self.0, c.as_ptr(), address as *mut c_void)
            },
            &format!("setTensorAddress({name:?})"),
        )
    }

    /// Enqueues inference on `stream`.
    pub fn enqueue(&mut self, stream: *mut c_void) -> Result<(), String> {
        // SAFETY: live context whose tensors were all bound (by the owner,
        // to buffers it keeps); `stream` belongs to the engine's CUDA context.
        check(
            unsafe { lk_trt_context_enqueue_v3(self.0, stream) },
            "enqueueV3",
        )
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        // SAFETY: created by the shim, freed once, before its engine.
        unsafe { lk_trt_context_destroy(self.0) }
    }
}
