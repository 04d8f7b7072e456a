//! The camera preprocessing on a lane's GPU: frame bytes into page-locked
//! staging, one async copy to the device, the NVRTC kernel from
//! `preprocess.cu` writing the network's input tensor (into the engine's own
//! device input when the engine runs on the GPU, else into a tensor of ours
//! that is copied back to page-locked memory), all on the lane's stream.
//!
//! The kernel resamples with the CPU [`Preprocessor`]'s own tap tables
//! (built on the host once per frame size and uploaded), in the same order
//! of operations and without fused multiply-adds, so it matches the CPU
//! path. `camera::preprocess` also holds the kernel written in Rust
//! (`kernel_reference`), which the CPU tests hold to the CPU path, so the
//! tables and offsets handed to the kernel are checked without a GPU.
//!
//! Allocation: every device and page-locked buffer is allocated in
//! [`GpuPreprocessor::new`] for the spec's input size and a frame of up to
//! `frame_bytes`; a larger frame grows the staging buffers once (warm-up,
//! logged). Per frame: no allocation, one host memcpy into staging, and the
//! stream is synchronized only where the host needs a result.

use super::{Plan, Preprocessor, Tap};
use crate::camera::ImageTransform;
use crate::camera::spec::{InputSpec, Layout};
use crate::frames::CameraFrame;
use crate::gpu::GpuError;
use crate::gpu::lane::{GpuLane, PREPROCESS_KERNEL, driver_error};
use cudarc::driver::sys::{CUevent_flags, CUgraphInstantiate_flags, CUstreamCaptureMode};
use cudarc::driver::{
    CudaContext, CudaEvent, CudaFunction, CudaGraph, CudaSlice, CudaStream, DevicePtr,
    LaunchConfig, PinnedHostSlice, PushKernelArg,
};
use std::sync::Arc;

/// Default staging size: a 1920x1080 four-byte frame.
pub const DEFAULT_FRAME_BYTES: usize = 1920 * 1080 * 4;

/// GPU time of the last frame's stages, from CUDA events, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct GpuTimes {
    /// Host-to-device copy of the frame (`None` when a CUDA graph ran the
    /// copy and the kernel as one).
    pub upload_ms: Option<f32>,
    /// The preprocessing kernel (with the copy, under a CUDA graph).
    pub preprocess_ms: f32,
    /// Inference and the copy back of the outputs or of the tensor.
    pub rest_ms: f32,
}

/// The events of one frame, in stream order.
struct Events {
    start: CudaEvent,
    uploaded: CudaEvent,
    preprocessed: CudaEvent,
    finished: CudaEvent,
}

/// What a captured graph was captured for: any change recaptures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct GraphKey {
    bytes: usize,
    tables: u64,
    output: u64,
    bytes_per_pixel: u32,
    byte_offsets: [u32; 3],
    step: u64,
}

/// A captured graph, movable to the lane's worker thread.
struct LaneGraph(CudaGraph);

// SAFETY: CUDA graph handles may be used from any thread, but not from two
// at once (CUDA's graph thread-safety rules). A `LaneGraph` is owned by one
// `GpuPreprocessor` and used only through `&mut self`, so by one thread at a
// time; cudarc binds the context to the calling thread before each launch.
unsafe impl Send for LaneGraph {}

/// The GPU twin of [`Preprocessor`] for one lane.
pub struct GpuPreprocessor {
    tables: Preprocessor,
    context: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    kernel: CudaFunction,
    staging: PinnedHostSlice<u8>,
    source: CudaSlice<u8>,
    x_s0: CudaSlice<u32>,
    x_s1: CudaSlice<u32>,
    x_w: CudaSlice<f32>,
    y_s0: CudaSlice<u32>,
    y_s1: CudaSlice<u32>,
    y_w: CudaSlice<f32>,
    /// Host side of a table upload (sized for the larger tensor side).
    table_u32: Vec<u32>,
    table_f32: Vec<f32>,
    /// Bumped on every table upload (part of a graph's key).
    tables_generation: u64,
    /// The device tables are not those of the host's current frame size (a
    /// failed upload): upload them on the next frame even if its size is
    /// unchanged.
    tables_stale: bool,
    /// Our own tensor (`None` only while `enqueue` is using it).
    tensor: Option<CudaSlice<f32>>,
    host_tensor: PinnedHostSlice<f32>,
    events: Events,
    cuda_graph: bool,
    graph: Option<(GraphKey, LaneGraph)>,
    /// Whether the last frame ran under a graph.
    last_graph: bool,
}

impl GpuPreprocessor {
    /// Allocates everything for `spec`'s input and frames of up to
    /// `frame_bytes` bytes, on `lane`'s stream.
    pub fn new(
        lane: &GpuLane,
        spec: &InputSpec,
        frame_bytes: usize,
        cuda_graph: bool,
    ) -> Result<Self, GpuError> {
        let tables = Preprocessor::new(spec);
        let (width, height) = (spec.width as usize, spec.height as usize);
        let context = lane.context().clone();
        let stream = lane.stream().clone();
        let alloc_u32 = |n: usize| {
            stream
                .alloc_zeros::<u32>(n.max(1))
                .map_err(driver_error("cuMemAlloc"))
        };
        let alloc_f32 = |n: usize| {
            stream
                .alloc_zeros::<f32>(n.max(1))
                .map_err(driver_error("cuMemAlloc"))
        };
        let event = || {
            context
                .new_event(Some(CUevent_flags::CU_EVENT_DEFAULT))
                .map_err(driver_error("cuEventCreate"))
        };
        let tensor_len = tables.tensor_len();
        Ok(GpuPreprocessor {
            staging: pinned::<u8>(&context, frame_bytes.max(1))?,
            source: stream
                .alloc_zeros::<u8>(frame_bytes.max(1))
                .map_err(driver_error("cuMemAlloc"))?,
            x_s0: alloc_u32(width)?,
            x_s1: alloc_u32(width)?,
            x_w: alloc_f32(width)?,
            y_s0: alloc_u32(height)?,
            y_s1: alloc_u32(height)?,
            y_w: alloc_f32(height)?,
            table_u32: vec![0; width.max(height)],
            table_f32: vec![0.0; width.max(height)],
            tables_generation: 0,
            tables_stale: true,
            tensor: Some(alloc_f32(tensor_len)?),
            host_tensor: pinned::<f32>(&context, tensor_len.max(1))?,
            events: Events {
                start: event()?,
                uploaded: event()?,
                preprocessed: event()?,
                finished: event()?,
            },
            kernel: lane.function(PREPROCESS_KERNEL)?,
            tables,
            context,
            stream,
            cuda_graph,
            graph: None,
            last_graph: false,
        })
    }

    /// Values of the input tensor.
    pub fn tensor_len(&self) -> usize {
        self.tables.tensor_len()
    }

    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    /// Enqueues the frame's copy and preprocessing into `output` (the
    /// engine's device input; `None`: this preprocessor's own tensor, for
    /// [`download`](Self::download)). Returns how tensor pixels map back to
    /// the image, or `None` when the frame's geometry does not hold
    /// together (the caller then preprocesses it on the CPU, into padding).
    pub fn enqueue(
        &mut self,
        frame: &CameraFrame<'_>,
        output: Option<&mut CudaSlice<f32>>,
    ) -> Result<Option<ImageTransform>, GpuError> {
        let Some(plan) = self.tables.plan(frame) else {
            return Ok(None);
        };
        let plan = OwnedPlan::from(&plan);
        let bytes = frame_span(frame);
        if plan.rebuilt || self.tables_stale {
            self.tables_stale = true;
            self.upload_tables()?;
            self.tables_stale = false;
        }
        if bytes > self.staging.len() {
            self.grow(bytes)?;
        }
        {
            let staging = self
                .staging
                .as_mut_slice()
                .map_err(driver_error("cuEventSynchronize"))?;
            staging[..bytes].copy_from_slice(&frame.pixels[..bytes]);
        }
        let step = u64::from(frame.step);
        match output {
            Some(output) => self.enqueue_into(&plan, bytes, step, output)?,
            None => {
                let mut own = self
                    .tensor
                    .take()
                    .expect("the own tensor is back after use");
                let enqueued = self.enqueue_into(&plan, bytes, step, &mut own);
                self.tensor = Some(own);
                enqueued?;
            }
        }
        Ok(Some(plan.transform))
    }

    fn enqueue_into(
        &mut self,
        plan: &OwnedPlan,
        bytes: usize,
        step: u64,
        output: &mut CudaSlice<f32>,
    ) -> Result<(), GpuError> {
        if output.len() != self.tables.tensor_len() {
            return Err(GpuError::Driver {
                call: "preprocess",
                detail: format!(
                    "the engine's device input has {} values, the tensor {}",
                    output.len(),
                    self.tables.tensor_len()
                ),
            });
        }
        let key = GraphKey {
            bytes,
            tables: self.tables_generation,
            output: output.device_ptr(&self.stream).0,
            bytes_per_pixel: plan.bytes_per_pixel,
            byte_offsets: plan.byte_offsets,
            step,
        };
        let stream = self.stream.clone();
        self.events
            .start
            .record(&stream)
            .map_err(driver_error("cuEventRecord"))?;
        self.last_graph = self.cuda_graph && self.run_graph(key, plan, output)?;
        if !self.last_graph {
            let staging = self
                .staging
                .as_slice()
                .map_err(driver_error("cuEventSynchronize"))?;
            copy_frame(&self.stream, &staging[..bytes], &mut self.source)?;
            self.events
                .uploaded
                .record(&stream)
                .map_err(driver_error("cuEventRecord"))?;
            self.launch(plan, step, output)?;
        }
        self.events
            .preprocessed
            .record(&stream)
            .map_err(driver_error("cuEventRecord"))
    }

    /// Copies this preprocessor's tensor (filled by `enqueue(_, None)`)
    /// back to page-locked memory and waits for it.
    pub fn download(&mut self) -> Result<&[f32], GpuError> {
        {
            let host = self
                .host_tensor
                .as_mut_slice()
                .map_err(driver_error("cuEventSynchronize"))?;
            let tensor = self
                .tensor
                .as_ref()
                .expect("the own tensor is back after use");
            self.stream
                .memcpy_dtoh(tensor, host)
                .map_err(driver_error("cuMemcpyDtoHAsync"))?;
        }
        self.finish()?;
        self.host_tensor
            .as_slice()
            .map_err(driver_error("cuEventSynchronize"))
    }

    /// Marks the end of the frame's GPU work (after inference) and waits for
    /// it: [`times`](Self::times) is then readable.
    pub fn finish(&mut self) -> Result<(), GpuError> {
        self.events
            .finished
            .record(&self.stream)
            .map_err(driver_error("cuEventRecord"))?;
        self.stream
            .synchronize()
            .map_err(driver_error("cuStreamSynchronize"))
    }

    /// GPU time of the last frame's stages (after [`finish`](Self::finish)
    /// or [`download`](Self::download)).
    pub fn times(&self) -> Result<GpuTimes, GpuError> {
        let e = &self.events;
        let elapsed = |a: &CudaEvent, b: &CudaEvent| {
            a.elapsed_ms(b).map_err(driver_error("cuEventElapsedTime"))
        };
        Ok(if self.last_graph {
            GpuTimes {
                upload_ms: None,
                preprocess_ms: elapsed(&e.start, &e.preprocessed)?,
                rest_ms: elapsed(&e.preprocessed, &e.finished)?,
            }
        } else {
            GpuTimes {
                upload_ms: Some(elapsed(&e.start, &e.uploaded)?),
                preprocess_ms: elapsed(&e.uploaded, &e.preprocessed)?,
                rest_ms: elapsed(&e.preprocessed, &e.finished)?,
            }
        })
    }

    /// Whether the last frame ran as a CUDA graph.
    pub fn last_ran_as_graph(&self) -> bool {
        self.last_graph
    }

    /// Runs the captured graph for `key`, capturing it first when the key
    /// changed. `false`: capture is not possible here (logged once), so the
    /// caller enqueues directly from now on.
    fn run_graph(
        &mut self,
        key: GraphKey,
        plan: &OwnedPlan,
        output: &mut CudaSlice<f32>,
    ) -> Result<bool, GpuError> {
        if self.graph.as_ref().map(|(k, _)| *k) != Some(key) {
            self.graph = None;
            match self.capture(key, plan, output) {
                Ok(graph) => self.graph = Some((key, LaneGraph(graph))),
                Err(e) => {
                    tracing::warn!("CUDA graph capture failed ({e}): launching directly");
                    self.cuda_graph = false;
                    return Ok(false);
                }
            }
        }
        let (_, graph) = self.graph.as_ref().expect("captured above");
        graph.0.launch().map_err(driver_error("cuGraphLaunch"))?;
        Ok(true)
    }

    fn capture(
        &mut self,
        key: GraphKey,
        plan: &OwnedPlan,
        output: &mut CudaSlice<f32>,
    ) -> Result<CudaGraph, GpuError> {
        // Nothing but stream work between begin and end: the staging slice
        // is taken (an event synchronize) before.
        let staging = self
            .staging
            .as_slice()
            .map_err(driver_error("cuEventSynchronize"))?;
        self.stream
            .begin_capture(CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_THREAD_LOCAL)
            .map_err(driver_error("cuStreamBeginCapture"))?;
        let enqueued = copy_frame(&self.stream, &staging[..key.bytes], &mut self.source)
            .and_then(|()| self.launch(plan, key.step, output));
        let captured = self
            .stream
            .end_capture(CUgraphInstantiate_flags(0))
            .map_err(driver_error("cuStreamEndCapture"));
        enqueued?;
        captured?.ok_or(GpuError::Driver {
            call: "cuStreamEndCapture",
            detail: "nothing was captured".to_owned(),
        })
    }

    fn launch(
        &self,
        plan: &OwnedPlan,
        step: u64,
        output: &mut CudaSlice<f32>,
    ) -> Result<(), GpuError> {
        let p = plan.placement;
        let dims = [
            plan.width as i32,
            plan.height as i32,
            p.pad_x as i32,
            p.pad_y as i32,
            p.width as i32,
            p.height as i32,
        ];
        let nhwc = i32::from(plan.layout == Layout::Nhwc);
        let config = LaunchConfig {
            grid_dim: (
                (plan.width as u32).div_ceil(16),
                (plan.height as u32).div_ceil(16),
                1,
            ),
            block_dim: (16, 16, 1),
            shared_mem_bytes: 0,
        };
        let mut args = self.stream.launch_builder(&self.kernel);
        args.arg(&self.source)
            .arg(&step)
            .arg(&plan.bytes_per_pixel)
            .arg(&plan.byte_offsets[0])
            .arg(&plan.byte_offsets[1])
            .arg(&plan.byte_offsets[2])
            .arg(&self.x_s0)
            .arg(&self.x_s1)
            .arg(&self.x_w)
            .arg(&self.y_s0)
            .arg(&self.y_s1)
            .arg(&self.y_w);
        for d in &dims {
            args.arg(d);
        }
        for v in plan.gain.iter().chain(&plan.bias).chain(&plan.pad) {
            args.arg(v);
        }
        args.arg(&nhwc).arg(output);
        // SAFETY: the arguments match `lookout_preprocess` in preprocess.cu
        // one for one, in order and type (pointers as device buffers,
        // `unsigned long long` as u64, `unsigned int` as u32, `int` as i32,
        // `float` as f32). Every index the kernel forms stays in bounds:
        // threads beyond the tensor return; tap tables hold one entry per
        // placed column/row (uploaded for this frame size, and the tensor is
        // at most their allocated size); source offsets are taps below the
        // frame's width/height times bytes per pixel plus a byte offset
        // below it, on rows below its height times `step`, all within the
        // `frame_span` bytes copied (the plan exists only for frames whose
        // geometry holds); the output holds the tensor's length (checked by
        // the caller).
        unsafe { args.launch(config) }.map_err(driver_error("cuLaunchKernel"))?;
        Ok(())
    }

    /// Uploads the tap tables of the current frame size (rare: a size
    /// change), synchronously from pageable memory.
    fn upload_tables(&mut self) -> Result<(), GpuError> {
        let (x_taps, y_taps) = self.tables.taps();
        for (taps, s0, s1, w) in [
            (x_taps, &mut self.x_s0, &mut self.x_s1, &mut self.x_w),
            (y_taps, &mut self.y_s0, &mut self.y_s1, &mut self.y_w),
        ] {
            let n = taps.len();
            let mut upload_u32 = |pick: fn(&Tap) -> u32, dst: &mut CudaSlice<u32>| {
                for (slot, tap) in self.table_u32.iter_mut().zip(taps) {
                    *slot = pick(tap);
                }
                self.stream
                    .memcpy_htod(&self.table_u32[..n], &mut dst.slice_mut(..n))
                    .map_err(driver_error("cuMemcpyHtoD"))
            };
            upload_u32(|t| t.s0, s0)?;
            upload_u32(|t| t.s1, s1)?;
            for (slot, tap) in self.table_f32.iter_mut().zip(taps) {
                *slot = tap.w;
            }
            self.stream
                .memcpy_htod(&self.table_f32[..n], &mut w.slice_mut(..n))
                .map_err(driver_error("cuMemcpyHtoD"))?;
        }
        // The host vectors are reused for the next upload: wait for these.
        self.stream
            .synchronize()
            .map_err(driver_error("cuStreamSynchronize"))?;
        self.tables_generation += 1;
        Ok(())
    }

    /// A larger frame than the staging buffers hold: grow them (warm-up).
    fn grow(&mut self, bytes: usize) -> Result<(), GpuError> {
        tracing::info!(
            "GPU preprocessing: frame staging grows from {} to {bytes} bytes",
            self.staging.len()
        );
        self.stream
            .synchronize()
            .map_err(driver_error("cuStreamSynchronize"))?;
        self.graph = None;
        self.staging = pinned::<u8>(&self.context, bytes)?;
        self.source = self
            .stream
            .alloc_zeros::<u8>(bytes)
            .map_err(driver_error("cuMemAlloc"))?;
        Ok(())
    }
}

impl Drop for GpuPreprocessor {
    fn drop(&mut self) {
        // Buffers are untracked (see `lane`): nothing may still use them.
        if let Err(e) = self.stream.synchronize() {
            tracing::warn!("GPU preprocessing: stream synchronize at drop: {e}");
        }
    }
}

/// `staging` (the frame's bytes in page-locked memory) to the start of
/// `source`, on `stream`.
fn copy_frame(
    stream: &Arc<CudaStream>,
    staging: &[u8],
    source: &mut CudaSlice<u8>,
) -> Result<(), GpuError> {
    let mut source = source.slice_mut(..staging.len());
    stream
        .memcpy_htod(staging, &mut source)
        .map_err(driver_error("cuMemcpyHtoDAsync"))
}

/// Page-locked host memory, zeroed.
fn pinned<T: cudarc::driver::DeviceRepr + cudarc::driver::ValidAsZeroBits + Default + Copy>(
    context: &Arc<CudaContext>,
    len: usize,
) -> Result<PinnedHostSlice<T>, GpuError> {
    // SAFETY: `alloc_pinned` is unsafe only because the memory starts
    // uninitialized; it is zeroed below before anything reads it.
    let mut slice =
        unsafe { context.alloc_pinned::<T>(len) }.map_err(driver_error("cuMemHostAlloc"))?;
    slice
        .as_mut_slice()
        .map_err(driver_error("cuEventSynchronize"))?
        .fill(T::default());
    Ok(slice)
}

/// The bytes of `frame` the kernel may read: every row up to the last
/// one's pixels (the last row's padding need not exist).
fn frame_span(frame: &CameraFrame<'_>) -> usize {
    let row = frame.width as usize * frame.encoding.bytes_per_pixel();
    (frame.height as usize).saturating_sub(1) * frame.step as usize + row
}

/// A [`Plan`] without its borrow of the tables.
#[derive(Debug, Clone, Copy)]
struct OwnedPlan {
    rebuilt: bool,
    placement: crate::camera::preprocess::Placement,
    byte_offsets: [u32; 3],
    bytes_per_pixel: u32,
    gain: [f32; 3],
    bias: [f32; 3],
    pad: [f32; 3],
    layout: Layout,
    width: usize,
    height: usize,
    transform: ImageTransform,
}

impl From<&Plan<'_>> for OwnedPlan {
    fn from(p: &Plan<'_>) -> Self {
        OwnedPlan {
            rebuilt: p.rebuilt,
            placement: p.placement,
            byte_offsets: p.byte_offsets,
            bytes_per_pixel: p.bytes_per_pixel,
            gain: p.gain,
            bias: p.bias,
            pad: p.pad,
            layout: p.layout,
            width: p.width,
            height: p.height,
            transform: p.transform,
        }
    }
}
