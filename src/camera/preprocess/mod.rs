//! Fused preprocessing: one pass from a [`CameraFrame`] to the network's
//! `f32` input tensor.
//!
//! Owns: the bilinear resize (OpenCV `INTER_LINEAR` semantics: half-pixel
//! centres, `src = (dst + 0.5) * scale - 0.5`, clamped at the borders), the
//! stretch or letterbox fit (aspect kept, centred, padded with the spec's
//! `pad_value`), the channel reorder to the network's color order, the
//! per-channel normalization `(pixel - mean[c]) / std[c]` and the NCHW or
//! NHWC layout, for every [`PixelEncoding`] and any row `step` padding. It
//! returns the [`ImageTransform`] that maps tensor pixels back to the image.
//!
//! How: per frame size, tables of the two source columns and the weight of
//! every output column, and the same for rows. Each source row the output
//! needs is resampled horizontally once, into one of two cached planar row
//! buffers (consecutive output rows that share source rows reuse them; rows
//! whose vertical weight is 0 skip the second one); then a vertical blend,
//! normalization and store writes each output row straight into the caller's
//! tensor, and constant fills write the padding. Plain `f32` loops over
//! slices, written so LLVM vectorizes the vertical pass; the horizontal pass
//! is a scalar gather (one 32-bit load per source pixel, bytes to floats by
//! a 256-entry table, which beats int-to-float conversion by about 25% on
//! baseline x86-64). No `unsafe`. Mono16 maps to 0..255 as `value >> 8`
//! (its high byte); alpha is ignored.
//!
//! Allocation: all buffers are sized for the spec's input size in
//! [`Preprocessor::new`]; [`Preprocessor::run`] never allocates, not even
//! when the frame size changes (the tables are then rebuilt in place).
//!
//! Why hand-written: no crate does resize + normalize + layout fused into a
//! caller's `f32` tensor without intermediate images. `fast_image_resize`
//! (considered) is fast but produces `u8` (or whole `f32`) images in its own
//! pixel layouts, which would cost a full intermediate image, a second pass
//! to normalize and transpose, and a padded copy for letterbox. OpenCV's
//! `blobFromImage` is the same multi-pass pipeline behind a C++ dependency.

#[cfg(feature = "cuda")]
pub mod gpu;

use super::ImageTransform;
use super::spec::{ColorOrder, InputSpec, Layout, ResizeMode};
use crate::frames::{CameraFrame, PixelEncoding};

/// One output column (or row): the two source columns (rows) it blends and
/// the weight of the second, `value = s0 + w * (s1 - s0)`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Tap {
    pub(crate) s0: u32,
    pub(crate) s1: u32,
    pub(crate) w: f32,
}

/// Where the resized image lies in the tensor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Placement {
    /// Resized image size in tensor pixels.
    pub(crate) width: usize,
    pub(crate) height: usize,
    /// Tensor pixels of padding left of and above the image.
    pub(crate) pad_x: usize,
    pub(crate) pad_y: usize,
}

/// Everything another implementation of this preprocessing (the GPU
/// kernel) needs for one frame: the same tables, so both resample alike.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(not(feature = "cuda"), allow(dead_code))]
pub(crate) struct Plan<'a> {
    /// Whether the tables were rebuilt for this frame (its size changed).
    pub(crate) rebuilt: bool,
    pub(crate) placement: Placement,
    pub(crate) x_taps: &'a [Tap],
    pub(crate) y_taps: &'a [Tap],
    /// Per network channel, the byte within a source pixel it reads.
    pub(crate) byte_offsets: [u32; 3],
    pub(crate) bytes_per_pixel: u32,
    pub(crate) gain: [f32; 3],
    pub(crate) bias: [f32; 3],
    pub(crate) pad: [f32; 3],
    pub(crate) layout: Layout,
    /// Tensor width and height.
    pub(crate) width: usize,
    pub(crate) height: usize,
    pub(crate) transform: ImageTransform,
}

/// Sentinel for an empty row-cache slot (no source row has this index:
/// indices are below the frame height, itself at most `u32::MAX`).
const EMPTY: u32 = u32::MAX;

/// Turns camera frames into the input tensor of one [`InputSpec`].
///
/// Holds the per-frame-size resampling tables and two horizontal-pass row
/// buffers; reuse one `Preprocessor` frame after frame.
#[derive(Debug, Clone)]
pub struct Preprocessor {
    width: usize,
    height: usize,
    layout: Layout,
    color: ColorOrder,
    resize: ResizeMode,
    /// `1 / std[c]` and `-mean[c] / std[c]`: `value = pixel * gain + bias`.
    gain: [f32; 3],
    bias: [f32; 3],
    /// `(pad_value - mean[c]) / std[c]`, exactly.
    pad: [f32; 3],
    /// The frame size the tables below were built for.
    frame_size: Option<(u32, u32)>,
    placement: Placement,
    transform: ImageTransform,
    /// Per resized column / row.
    x_taps: Vec<Tap>,
    y_taps: Vec<Tap>,
    /// Two horizontally resampled source rows, planar (up to 3 planes of
    /// `placement.width`), in the frame's byte order, and which source row
    /// each holds.
    rows: [Vec<f32>; 2],
    row_ids: [u32; 2],
}

impl Preprocessor {
    /// Allocates every buffer `run` will need for `spec`'s input size.
    pub fn new(spec: &InputSpec) -> Self {
        let (width, height) = (spec.width as usize, spec.height as usize);
        let gain = spec.std.map(|s| 1.0 / s);
        let bias = [0, 1, 2].map(|c| -spec.mean[c] / spec.std[c]);
        let pad = [0, 1, 2].map(|c| (spec.pad_value - spec.mean[c]) / spec.std[c]);
        Preprocessor {
            width,
            height,
            layout: spec.layout,
            color: spec.color,
            resize: spec.resize,
            gain,
            bias,
            pad,
            frame_size: None,
            placement: Placement::default(),
            transform: ImageTransform::identity(0.0, 0.0),
            x_taps: Vec::with_capacity(width),
            y_taps: Vec::with_capacity(height),
            rows: [vec![0.0; 3 * width], vec![0.0; 3 * width]],
            row_ids: [EMPTY; 2],
        }
    }

    /// Number of `f32` values of the input tensor: `3 * width * height`.
    pub fn tensor_len(&self) -> usize {
        3 * self.width * self.height
    }

    /// Fills `out` (len == tensor_len) and returns how tensor pixels map back
    /// to image pixels.
    ///
    /// The transform works on pixel-edge coordinates (pixel `i` spans
    /// `i..i + 1`): `scale` is resized size / frame size per axis (for
    /// letterbox the two can differ slightly, the resized size being
    /// rounded), `pad` the padding left and above.
    ///
    /// A frame whose geometry does not hold together (zero size, `step`
    /// shorter than a row, fewer bytes than its rows need: all rejected by
    /// [`CameraFrame::from_image`]) yields a tensor of padding and an
    /// identity transform rather than a panic.
    ///
    /// # Panics
    /// If `out.len() != self.tensor_len()`.
    pub fn run(&mut self, frame: &CameraFrame<'_>, out: &mut [f32]) -> ImageTransform {
        assert_eq!(
            out.len(),
            self.tensor_len(),
            "preprocess: output buffer has {} values, the input tensor {}",
            out.len(),
            self.tensor_len()
        );
        if self.tensor_len() == 0 {
            return ImageTransform::identity(frame.width as f32, frame.height as f32);
        }
        if !geometry_holds(frame) {
            self.fill_all(out);
            return ImageTransform::identity(frame.width as f32, frame.height as f32);
        }
        if self.frame_size != Some((frame.width, frame.height)) {
            self.rebuild(frame.width, frame.height);
        }
        self.fill_padding(out);

        let planes = planes(frame.encoding, self.color);
        let Preprocessor {
            width,
            height,
            layout,
            gain,
            bias,
            placement,
            x_taps,
            y_taps,
            rows,
            row_ids,
            ..
        } = self;
        let (tw, th, p) = (*width, *height, *placement);
        let nw = p.width;
        let step = frame.step as usize;
        let encoding = frame.encoding;
        let mut resample = |y: u32, dst: &mut [f32]| {
            let start = y as usize * step;
            // The row and whatever follows it (row padding, the next rows):
            // the taps stay within the row, but 4-byte loads may look past.
            let src = &frame.pixels[start..];
            horizontal(encoding, src, x_taps, &mut dst[..3 * nw]);
        };
        *row_ids = [EMPTY; 2];
        for (dy, tap) in y_taps.iter().enumerate() {
            let second = if tap.w == 0.0 { tap.s0 } else { tap.s1 };
            let (a, b) = fetch_rows(rows, row_ids, tap.s0, second, &mut resample);
            let (a, b) = (&rows[a][..3 * nw], &rows[b][..3 * nw]);
            let tops = planes.map(|k| &a[k * nw..(k + 1) * nw]);
            let bottoms = planes.map(|k| &b[k * nw..(k + 1) * nw]);
            let ty = p.pad_y + dy;
            match layout {
                Layout::Nchw => {
                    for c in 0..3 {
                        let start = (c * th + ty) * tw + p.pad_x;
                        let dst = &mut out[start..start + nw];
                        blend(dst, tops[c], bottoms[c], tap.w, gain[c], bias[c]);
                    }
                }
                Layout::Nhwc => {
                    let start = (ty * tw + p.pad_x) * 3;
                    let dst = &mut out[start..start + 3 * nw];
                    blend_interleaved(dst, tops, bottoms, tap.w, *gain, *bias);
                }
            }
        }
        self.transform
    }

    /// The tables for `frame` (rebuilt when its size changed), for a GPU
    /// kernel to run the same resampling; `None` when the frame's geometry
    /// does not hold together (then [`run`](Self::run) gives padding).
    /// Never allocates.
    #[cfg_attr(not(any(feature = "cuda", test)), allow(dead_code))]
    pub(crate) fn plan(&mut self, frame: &CameraFrame<'_>) -> Option<Plan<'_>> {
        if self.tensor_len() == 0 || !geometry_holds(frame) {
            return None;
        }
        let rebuilt = self.frame_size != Some((frame.width, frame.height));
        if rebuilt {
            self.rebuild(frame.width, frame.height);
        }
        let planes = planes(frame.encoding, self.color);
        let byte_offsets = match frame.encoding {
            // 16-bit grey reads its high byte, as the CPU path does.
            PixelEncoding::Mono16 { big_endian: false } => [1; 3],
            _ => planes.map(|p| p as u32),
        };
        Some(Plan {
            rebuilt,
            placement: self.placement,
            x_taps: &self.x_taps,
            y_taps: &self.y_taps,
            byte_offsets,
            bytes_per_pixel: frame.encoding.bytes_per_pixel() as u32,
            gain: self.gain,
            bias: self.bias,
            pad: self.pad,
            layout: self.layout,
            width: self.width,
            height: self.height,
            transform: self.transform,
        })
    }

    /// The tap tables of the current frame size (columns, rows).
    #[cfg_attr(not(feature = "cuda"), allow(dead_code))]
    pub(crate) fn taps(&self) -> (&[Tap], &[Tap]) {
        (&self.x_taps, &self.y_taps)
    }

    /// Placement, transform and tables for a new frame size; reuses the
    /// buffers (their capacity covers the input size), so never allocates.
    fn rebuild(&mut self, frame_width: u32, frame_height: u32) {
        let (w, h) = (frame_width as usize, frame_height as usize);
        let placement = match self.resize {
            ResizeMode::Stretch => Placement {
                width: self.width,
                height: self.height,
                pad_x: 0,
                pad_y: 0,
            },
            ResizeMode::Letterbox => {
                let r = f64::min(self.width as f64 / w as f64, self.height as f64 / h as f64);
                let nw = ((w as f64 * r).round() as usize).clamp(1, self.width);
                let nh = ((h as f64 * r).round() as usize).clamp(1, self.height);
                Placement {
                    width: nw,
                    height: nh,
                    pad_x: (self.width - nw) / 2,
                    pad_y: (self.height - nh) / 2,
                }
            }
        };
        fill_taps(&mut self.x_taps, w, placement.width);
        fill_taps(&mut self.y_taps, h, placement.height);
        self.transform = ImageTransform {
            scale_x: placement.width as f32 / w as f32,
            scale_y: placement.height as f32 / h as f32,
            pad_x: placement.pad_x as f32,
            pad_y: placement.pad_y as f32,
            image_width: w as f32,
            image_height: h as f32,
        };
        self.placement = placement;
        self.frame_size = Some((frame_width, frame_height));
    }

    /// Writes the padding value around the placed image.
    fn fill_padding(&self, out: &mut [f32]) {
        let (tw, th, p) = (self.width, self.height, self.placement);
        if p.width == tw && p.height == th {
            return;
        }
        let (top, bottom) = (p.pad_y * tw, (p.pad_y + p.height) * tw);
        let (left, right) = (p.pad_x, p.pad_x + p.width);
        match self.layout {
            Layout::Nchw => {
                for (plane, &value) in out.chunks_exact_mut(tw * th).zip(&self.pad) {
                    plane[..top].fill(value);
                    plane[bottom..].fill(value);
                    for row in plane[top..bottom].chunks_exact_mut(tw) {
                        row[..left].fill(value);
                        row[right..].fill(value);
                    }
                }
            }
            Layout::Nhwc => {
                let fill = |pixels: &mut [f32]| {
                    for px in pixels.chunks_exact_mut(3) {
                        px.copy_from_slice(&self.pad);
                    }
                };
                fill(&mut out[..3 * top]);
                fill(&mut out[3 * bottom..]);
                for row in out[3 * top..3 * bottom].chunks_exact_mut(3 * tw) {
                    fill(&mut row[..3 * left]);
                    fill(&mut row[3 * right..]);
                }
            }
        }
    }

    fn fill_all(&self, out: &mut [f32]) {
        match self.layout {
            Layout::Nchw => {
                let plane = self.width * self.height;
                for (plane, &value) in out.chunks_exact_mut(plane).zip(&self.pad) {
                    plane.fill(value);
                }
            }
            Layout::Nhwc => {
                for px in out.chunks_exact_mut(3) {
                    px.copy_from_slice(&self.pad);
                }
            }
        }
    }
}

/// The GPU kernel (`src/gpu/preprocess.cu`) written in Rust, line for
/// line: one output pixel at a time from `plan`'s tables. Slow; it exists
/// so the CPU tests check the plan the kernel is given (tables, byte
/// offsets, placement, layout) against [`Preprocessor::run`].
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn kernel_reference(plan: &Plan<'_>, frame: &CameraFrame<'_>, out: &mut [f32]) {
    let (tw, th, p) = (plan.width, plan.height, plan.placement);
    let plane = tw * th;
    let step = frame.step as usize;
    let bpp = plan.bytes_per_pixel as usize;
    for ty in 0..th {
        for tx in 0..tw {
            let inside =
                tx >= p.pad_x && ty >= p.pad_y && tx - p.pad_x < p.width && ty - p.pad_y < p.height;
            let mut v = plan.pad;
            if inside {
                let (xt, yt) = (plan.x_taps[tx - p.pad_x], plan.y_taps[ty - p.pad_y]);
                let (col0, col1) = (xt.s0 as usize * bpp, xt.s1 as usize * bpp);
                let top = yt.s0 as usize * step;
                let bottom = if yt.w == 0.0 {
                    top
                } else {
                    yt.s1 as usize * step
                };
                for (k, value) in v.iter_mut().enumerate() {
                    let o = plan.byte_offsets[k] as usize;
                    let byte = |row: usize, col: usize| f32::from(frame.pixels[row + col + o]);
                    let (p0, q0) = (byte(top, col0), byte(top, col1));
                    let (p1, q1) = (byte(bottom, col0), byte(bottom, col1));
                    let h0 = p0 + xt.w * (q0 - p0);
                    let h1 = p1 + xt.w * (q1 - p1);
                    let blended = if yt.w == 0.0 {
                        h0
                    } else {
                        h0 + yt.w * (h1 - h0)
                    };
                    *value = blended * plan.gain[k] + plan.bias[k];
                }
            }
            let i = ty * tw + tx;
            match plan.layout {
                Layout::Nhwc => out[3 * i..3 * i + 3].copy_from_slice(&v),
                Layout::Nchw => {
                    for (k, value) in v.iter().enumerate() {
                        out[k * plane + i] = *value;
                    }
                }
            }
        }
    }
}

/// Which plane of the horizontal pass (frame byte order) feeds each
/// network channel.
fn planes(encoding: PixelEncoding, color: ColorOrder) -> [usize; 3] {
    match (encoding, color) {
        (PixelEncoding::Mono8 | PixelEncoding::Mono16 { .. }, _) => [0, 0, 0],
        (PixelEncoding::Rgb8 | PixelEncoding::Rgba8, ColorOrder::Rgb)
        | (PixelEncoding::Bgr8 | PixelEncoding::Bgra8, ColorOrder::Bgr) => [0, 1, 2],
        _ => [2, 1, 0],
    }
}

/// Whether every row the frame claims lies in its pixels (checked without
/// overflow): what `CameraFrame::from_image` guarantees.
fn geometry_holds(frame: &CameraFrame<'_>) -> bool {
    let row_bytes = frame.width as u64 * frame.encoding.bytes_per_pixel() as u64;
    let needed = (frame.height as u64).saturating_sub(1) * frame.step as u64 + row_bytes;
    frame.width > 0
        && frame.height > 0
        && frame.step as u64 >= row_bytes
        && frame.pixels.len() as u64 >= needed
        && usize::try_from(needed).is_ok()
}

/// OpenCV `INTER_LINEAR` taps resizing `src` samples to `dst`.
fn fill_taps(taps: &mut Vec<Tap>, src: usize, dst: usize) {
    let scale = src as f64 / dst as f64;
    let last = src - 1;
    taps.clear();
    taps.extend((0..dst).map(|d| {
        let f = (d as f64 + 0.5) * scale - 0.5;
        let floor = f.floor();
        let (s0, w) = if floor < 0.0 {
            (0, 0.0)
        } else if floor as usize >= last {
            (last, 0.0)
        } else {
            (floor as usize, f - floor)
        };
        Tap {
            s0: s0 as u32,
            s1: (s0 + 1).min(last) as u32,
            w: w as f32,
        }
    }));
}

/// Makes the two row slots hold source rows `a` and `b` (resampling the
/// missing ones with `resample`) and returns their slot indices.
fn fetch_rows(
    rows: &mut [Vec<f32>; 2],
    ids: &mut [u32; 2],
    a: u32,
    b: u32,
    mut resample: impl FnMut(u32, &mut [f32]),
) -> (usize, usize) {
    let slot_a = match ids.iter().position(|&id| id == a) {
        Some(slot) => slot,
        None => {
            // Keep the slot that already holds `b`, if any.
            let slot = usize::from(ids[0] == b);
            resample(a, &mut rows[slot]);
            ids[slot] = a;
            slot
        }
    };
    if b == a {
        return (slot_a, slot_a);
    }
    let slot_b = 1 - slot_a;
    if ids[slot_b] != b {
        resample(b, &mut rows[slot_b]);
        ids[slot_b] = b;
    }
    (slot_a, slot_b)
}

/// Horizontal pass of one source row into planar `dst` (3 planes of
/// `taps.len()`; mono fills the first), in the frame's channel order.
fn horizontal(encoding: PixelEncoding, src: &[u8], taps: &[Tap], dst: &mut [f32]) {
    match encoding {
        PixelEncoding::Rgb8 | PixelEncoding::Bgr8 => horizontal3::<3>(src, taps, dst),
        PixelEncoding::Rgba8 | PixelEncoding::Bgra8 => horizontal3::<4>(src, taps, dst),
        PixelEncoding::Mono8 => horizontal1::<1, 0>(src, taps, dst),
        // 16-bit grey to 0..255 is `value >> 8`: the most significant byte.
        PixelEncoding::Mono16 { big_endian: true } => horizontal1::<2, 0>(src, taps, dst),
        PixelEncoding::Mono16 { big_endian: false } => horizontal1::<2, 1>(src, taps, dst),
    }
}

/// Three channels from the first three bytes of `BPP`-byte pixels.
#[inline(always)]
fn horizontal3<const BPP: usize>(src: &[u8], taps: &[Tap], dst: &mut [f32]) {
    let n = taps.len();
    let (d0, rest) = dst.split_at_mut(n);
    let (d1, d2) = rest.split_at_mut(n);
    for (((tap, d0), d1), d2) in taps.iter().zip(d0).zip(d1).zip(d2) {
        let p = pixel4(src, tap.s0 as usize * BPP);
        let q = pixel4(src, tap.s1 as usize * BPP);
        let w = tap.w;
        // Four lanes (the fourth unused) so LLVM blends them as one vector.
        let v: [f32; 4] = std::array::from_fn(|k| p[k] + w * (q[k] - p[k]));
        *d0 = v[0];
        *d1 = v[1];
        *d2 = v[2];
    }
}

/// The four bytes at `i` as floats: one 32-bit load. Only a 3-byte pixel
/// at the very end of the buffer has no fourth byte; it reads 0 there.
#[inline(always)]
fn pixel4(src: &[u8], i: usize) -> [f32; 4] {
    let bytes = match src.get(i..).and_then(|s| s.first_chunk::<4>()) {
        Some(&bytes) => bytes,
        None => {
            let mut bytes = [0; 4];
            bytes[..3].copy_from_slice(&src[i..i + 3]);
            bytes
        }
    };
    bytes.map(|b| U8_TO_F32[usize::from(b)])
}

/// `b as f32` for every byte: one load instead of a conversion.
static U8_TO_F32: [f32; 256] = {
    let mut table = [0.0; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = b as f32;
        b += 1;
    }
    table
};

/// One channel: byte `OFF` of `BPP`-byte pixels.
#[inline(always)]
fn horizontal1<const BPP: usize, const OFF: usize>(src: &[u8], taps: &[Tap], dst: &mut [f32]) {
    for (tap, d) in taps.iter().zip(dst) {
        let p = U8_TO_F32[usize::from(src[tap.s0 as usize * BPP + OFF])];
        let q = U8_TO_F32[usize::from(src[tap.s1 as usize * BPP + OFF])];
        *d = p + tap.w * (q - p);
    }
}

/// Vertical blend of two resampled rows, normalized, into one tensor row.
#[inline(always)]
fn blend(dst: &mut [f32], top: &[f32], bottom: &[f32], w: f32, gain: f32, bias: f32) {
    if w == 0.0 {
        for (d, &t) in dst.iter_mut().zip(top) {
            *d = t * gain + bias;
        }
    } else {
        for ((d, &t), &b) in dst.iter_mut().zip(top).zip(bottom) {
            *d = (t + w * (b - t)) * gain + bias;
        }
    }
}

/// [`blend`] for all three channels into interleaved (NHWC) pixels.
fn blend_interleaved(
    dst: &mut [f32],
    top: [&[f32]; 3],
    bottom: [&[f32]; 3],
    w: f32,
    gain: [f32; 3],
    bias: [f32; 3],
) {
    let n = dst.len() / 3;
    let (t0, t1, t2) = (&top[0][..n], &top[1][..n], &top[2][..n]);
    let (b0, b1, b2) = (&bottom[0][..n], &bottom[1][..n], &bottom[2][..n]);
    for (i, px) in dst.chunks_exact_mut(3).enumerate() {
        let v = [
            t0[i] + w * (b0[i] - t0[i]),
            t1[i] + w * (b1[i] - t1[i]),
            t2[i] + w * (b2[i] - t2[i]),
        ];
        px[0] = v[0] * gain[0] + bias[0];
        px[1] = v[1] * gain[1] + bias[1];
        px[2] = v[2] * gain[2] + bias[2];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ENCODINGS: [PixelEncoding; 7] = [
        PixelEncoding::Rgb8,
        PixelEncoding::Bgr8,
        PixelEncoding::Rgba8,
        PixelEncoding::Bgra8,
        PixelEncoding::Mono8,
        PixelEncoding::Mono16 { big_endian: true },
        PixelEncoding::Mono16 { big_endian: false },
    ];

    /// An owned frame: random pixels, and `extra` bytes of distinct junk
    /// after every row, so reading the row padding shows.
    struct Image {
        width: u32,
        height: u32,
        encoding: PixelEncoding,
        step: u32,
        pixels: Vec<u8>,
    }

    impl Image {
        fn random(width: u32, height: u32, encoding: PixelEncoding, extra: u32, seed: u64) -> Self {
            let step = width * encoding.bytes_per_pixel() as u32 + extra;
            let mut state = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let pixels = (0..step as usize * height as usize)
                .map(|_| {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    (state >> 56) as u8
                })
                .collect();
            Image {
                width,
                height,
                encoding,
                step,
                pixels,
            }
        }

        fn frame(&self) -> CameraFrame<'_> {
            CameraFrame {
                stamp: 0,
                frame_id: "camera",
                width: self.width,
                height: self.height,
                encoding: self.encoding,
                step: self.step,
                pixels: &self.pixels,
            }
        }
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

    /// Colour `rgb` (0 red, 1 green, 2 blue) of image pixel (x, y), 0..255.
    fn sample(frame: &CameraFrame<'_>, x: usize, y: usize, rgb: usize) -> f64 {
        let bpp = frame.encoding.bytes_per_pixel();
        let px = &frame.pixels[y * frame.step as usize + x * bpp..][..bpp];
        f64::from(match frame.encoding {
            PixelEncoding::Rgb8 | PixelEncoding::Rgba8 => px[rgb],
            PixelEncoding::Bgr8 | PixelEncoding::Bgra8 => px[2 - rgb],
            PixelEncoding::Mono8 => px[0],
            PixelEncoding::Mono16 { big_endian } => {
                let v = if big_endian {
                    u16::from_be_bytes([px[0], px[1]])
                } else {
                    u16::from_le_bytes([px[0], px[1]])
                };
                (v >> 8) as u8
            }
        })
    }

    /// Resized size and top-left padding, straight from the definition.
    fn reference_placement(spec: &InputSpec, w: u32, h: u32) -> (usize, usize, usize, usize) {
        let (tw, th) = (spec.width as f64, spec.height as f64);
        match spec.resize {
            ResizeMode::Stretch => (spec.width as usize, spec.height as usize, 0, 0),
            ResizeMode::Letterbox => {
                let r = (tw / w as f64).min(th / h as f64);
                // At least one pixel, for extreme aspect ratios.
                let nw = ((w as f64 * r).round() as usize).max(1);
                let nh = ((h as f64 * r).round() as usize).max(1);
                (
                    nw,
                    nh,
                    (spec.width as usize - nw) / 2,
                    (spec.height as usize - nh) / 2,
                )
            }
        }
    }

    /// OpenCV `INTER_LINEAR` along one axis: the two source indices and the
    /// second one's weight for destination index `d`.
    fn reference_axis(d: usize, src: usize, dst: usize) -> (usize, usize, f64) {
        let f = (d as f64 + 0.5) * (src as f64 / dst as f64) - 0.5;
        let mut s = f.floor() as i64;
        let mut w = f - s as f64;
        if s < 0 {
            s = 0;
            w = 0.0;
        }
        if s >= src as i64 - 1 {
            s = src as i64 - 1;
            w = 0.0;
        }
        let s = s as usize;
        (s, (s + 1).min(src - 1), w)
    }

    /// Index of tensor value (x, y, channel c).
    fn index(spec: &InputSpec, x: usize, y: usize, c: usize) -> usize {
        let (w, h) = (spec.width as usize, spec.height as usize);
        match spec.layout {
            Layout::Nchw => (c * h + y) * w + x,
            Layout::Nhwc => (y * w + x) * 3 + c,
        }
    }

    fn pad_value(spec: &InputSpec, c: usize) -> f32 {
        (spec.pad_value - spec.mean[c]) / spec.std[c]
    }

    /// Per tensor value, f64 bilinear; `None` where the tensor is padding.
    fn reference(spec: &InputSpec, frame: &CameraFrame<'_>) -> Vec<Option<f64>> {
        let (w, h) = (frame.width as usize, frame.height as usize);
        let (nw, nh, pad_x, pad_y) = reference_placement(spec, frame.width, frame.height);
        let mut out = vec![None; 3 * spec.width as usize * spec.height as usize];
        for y in 0..nh {
            let (y0, y1, wy) = reference_axis(y, h, nh);
            for x in 0..nw {
                let (x0, x1, wx) = reference_axis(x, w, nw);
                for c in 0..3 {
                    let rgb = match spec.color {
                        ColorOrder::Rgb => c,
                        ColorOrder::Bgr => 2 - c,
                    };
                    let s = |x, y| sample(frame, x, y, rgb);
                    let top = s(x0, y0) * (1.0 - wx) + s(x1, y0) * wx;
                    let bottom = s(x0, y1) * (1.0 - wx) + s(x1, y1) * wx;
                    let v = top * (1.0 - wy) + bottom * wy;
                    let norm = (v - spec.mean[c] as f64) / spec.std[c] as f64;
                    out[index(spec, pad_x + x, pad_y + y, c)] = Some(norm);
                }
            }
        }
        out
    }

    /// Runs a fresh preprocessor and checks every value against the
    /// reference: within 1e-3 in the image, exactly the pad value outside.
    fn check(spec: &InputSpec, image: &Image) -> (Vec<f32>, ImageTransform) {
        let mut pre = Preprocessor::new(spec);
        let mut out = vec![f32::NAN; pre.tensor_len()];
        let frame = image.frame();
        let transform = pre.run(&frame, &mut out);
        check_against(spec, &frame, &out);
        (out, transform)
    }

    fn check_against(spec: &InputSpec, frame: &CameraFrame<'_>, out: &[f32]) {
        let expected = reference(spec, frame);
        let what = format!(
            "{}x{} {} step {} -> {:?}",
            frame.width,
            frame.height,
            frame.encoding.name(),
            frame.step,
            spec
        );
        assert_eq!(out.len(), expected.len(), "{what}");
        for (i, (&got, want)) in out.iter().zip(&expected).enumerate() {
            let c = match spec.layout {
                Layout::Nchw => i / (spec.width as usize * spec.height as usize),
                Layout::Nhwc => i % 3,
            };
            match want {
                Some(want) => assert!(
                    (got as f64 - want).abs() <= 1e-3,
                    "{what}: value {i}: {got} != {want}"
                ),
                None => assert_eq!(got, pad_value(spec, c), "{what}: padding value {i}"),
            }
        }
    }

    #[test]
    fn every_encoding_and_color_order_matches_the_reference() {
        for (k, encoding) in ENCODINGS.into_iter().enumerate() {
            let image = Image::random(37, 23, encoding, 5, k as u64);
            for color in [ColorOrder::Rgb, ColorOrder::Bgr] {
                for layout in [Layout::Nchw, Layout::Nhwc] {
                    check(&spec(19, 17, color, layout, ResizeMode::Stretch), &image);
                    check(&spec(24, 24, color, layout, ResizeMode::Letterbox), &image);
                }
            }
        }
    }

    /// The GPU kernel's arithmetic (in Rust) on the plan it is handed gives
    /// exactly the CPU path's tensor: same tables, byte offsets, placement,
    /// layout and order of operations (the kernel is compiled without fused
    /// multiply-adds). Covers every encoding, color order, layout, resize
    /// mode, row padding and a frame-size change on one preprocessor.
    #[test]
    fn the_gpu_kernel_plan_reproduces_the_cpu_path_exactly() {
        for (k, encoding) in ENCODINGS.into_iter().enumerate() {
            for color in [ColorOrder::Rgb, ColorOrder::Bgr] {
                for layout in [Layout::Nchw, Layout::Nhwc] {
                    for resize in [ResizeMode::Stretch, ResizeMode::Letterbox] {
                        let spec = spec(40, 24, color, layout, resize);
                        let mut cpu = Preprocessor::new(&spec);
                        let mut gpu = Preprocessor::new(&spec);
                        for (w, h, extra) in [(37, 23, 5), (64, 20, 0), (37, 23, 5)] {
                            let image = Image::random(w, h, encoding, extra, k as u64 + w as u64);
                            let frame = image.frame();
                            let mut want = vec![f32::NAN; cpu.tensor_len()];
                            let transform = cpu.run(&frame, &mut want);
                            let mut got = vec![f32::NAN; gpu.tensor_len()];
                            let plan = gpu.plan(&frame).expect("a readable frame has a plan");
                            assert_eq!(plan.transform, transform);
                            kernel_reference(&plan, &frame, &mut got);
                            let what = format!(
                                "{} {color:?} {layout:?} {resize:?} {w}x{h}",
                                encoding.name()
                            );
                            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                                assert_eq!(
                                    g.to_bits(),
                                    w.to_bits(),
                                    "{what}: value {i}: {g} != {w}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn an_unreadable_frame_has_no_gpu_plan() {
        let spec = spec(8, 8, ColorOrder::Rgb, Layout::Nchw, ResizeMode::Stretch);
        let mut pre = Preprocessor::new(&spec);
        let frame = CameraFrame {
            stamp: 0,
            frame_id: "",
            width: 4,
            height: 4,
            step: 2,
            encoding: PixelEncoding::Rgb8,
            pixels: &[0; 48],
        };
        assert!(pre.plan(&frame).is_none());
    }

    #[test]
    fn odd_sizes_upscaling_and_downscaling_match_the_reference() {
        let cases = [
            // (frame w, h, row padding, tensor w, h)
            (1, 1, 0, 7, 5),
            (1, 9, 3, 8, 8),
            (9, 1, 1, 8, 8),
            (2, 2, 0, 5, 3),
            (3, 2, 7, 31, 17),
            (101, 67, 1, 16, 16),
            (64, 48, 0, 64, 48),
            (17, 29, 2, 33, 20),
            (250, 13, 0, 40, 40),
        ];
        for (n, (w, h, extra, tw, th)) in cases.into_iter().enumerate() {
            for encoding in [
                PixelEncoding::Rgb8,
                PixelEncoding::Bgra8,
                PixelEncoding::Mono8,
            ] {
                let image = Image::random(w, h, encoding, extra, n as u64);
                for resize in [ResizeMode::Stretch, ResizeMode::Letterbox] {
                    for layout in [Layout::Nchw, Layout::Nhwc] {
                        check(&spec(tw, th, ColorOrder::Bgr, layout, resize), &image);
                    }
                }
            }
        }
    }

    #[test]
    fn full_hd_to_the_shipped_and_a_letterbox_spec_matches_the_reference() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/nanodet-m-416.yaml");
        let nanodet = super::super::spec::ModelSpec::load(&path).unwrap().input;
        let image = Image::random(1920, 1080, PixelEncoding::Bgr8, 0, 7);
        let (_, transform) = check(&nanodet, &image);
        assert_eq!(transform.pad_x, 0.0);
        assert_eq!(transform.scale_x, 416.0 / 1920.0);
        assert_eq!(transform.scale_y, 416.0 / 1080.0);
        let image = Image::random(1920, 1080, PixelEncoding::Rgb8, 0, 8);
        let letterbox = spec(
            640,
            640,
            ColorOrder::Rgb,
            Layout::Nchw,
            ResizeMode::Letterbox,
        );
        let (_, transform) = check(&letterbox, &image);
        assert_eq!((transform.pad_x, transform.pad_y), (0.0, 140.0));
        assert_eq!(
            (transform.scale_x, transform.scale_y),
            (1.0 / 3.0, 1.0 / 3.0)
        );
    }

    #[test]
    fn letterbox_padding_is_exactly_the_normalized_pad_value_split_left_top_first() {
        // 100x36 into 64x64: 64x23 (23.04 rounded), 41 rows of padding,
        // 20 above and 21 below.
        let image = Image::random(100, 36, PixelEncoding::Rgb8, 0, 1);
        for layout in [Layout::Nchw, Layout::Nhwc] {
            let spec = spec(64, 64, ColorOrder::Rgb, layout, ResizeMode::Letterbox);
            let (out, transform) = check(&spec, &image);
            assert_eq!((transform.pad_x, transform.pad_y), (0.0, 20.0));
            for c in 0..3 {
                let pad = pad_value(&spec, c);
                for x in 0..64 {
                    assert_eq!(out[index(&spec, x, 19, c)], pad);
                    assert_ne!(out[index(&spec, x, 20, c)], pad);
                    assert_ne!(out[index(&spec, x, 42, c)], pad);
                    assert_eq!(out[index(&spec, x, 43, c)], pad);
                }
            }
        }
        // Tall: 30x100 into 64x64 is 19x64 (19.2), 45 columns: 22 left, 23 right.
        let image = Image::random(30, 100, PixelEncoding::Mono16 { big_endian: false }, 2, 2);
        let spec = spec(64, 64, ColorOrder::Bgr, Layout::Nchw, ResizeMode::Letterbox);
        let (out, transform) = check(&spec, &image);
        assert_eq!((transform.pad_x, transform.pad_y), (22.0, 0.0));
        for c in 0..3 {
            for y in 0..64 {
                assert_eq!(out[index(&spec, 21, y, c)], pad_value(&spec, c));
                assert_eq!(out[index(&spec, 41, y, c)], pad_value(&spec, c));
            }
        }
    }

    #[test]
    fn the_transform_maps_tensor_pixels_back_to_the_image() {
        let (w, h) = (200u32, 100u32);
        let spec = spec(64, 64, ColorOrder::Rgb, Layout::Nchw, ResizeMode::Letterbox);
        // Black, with a white block at x 120..160, y 30..70.
        let mut image = Image::random(w, h, PixelEncoding::Rgb8, 0, 3);
        for y in 0..h as usize {
            for x in 0..w as usize {
                let white = (120..160).contains(&x) && (30..70).contains(&y);
                image.pixels[(y * w as usize + x) * 3..][..3].fill(if white { 255 } else { 0 });
            }
        }
        let (out, t) = check(&spec, &image);
        assert_eq!(
            (t.pad_x, t.pad_y, t.scale_x, t.scale_y),
            (0.0, 16.0, 0.32, 0.32)
        );
        assert_eq!((t.image_width, t.image_height), (200.0, 100.0));

        // The placed image's corners map to the image's corners.
        let corners = t.to_image([t.pad_x, t.pad_y, t.pad_x + 64.0, t.pad_y + 32.0]);
        for (got, want) in corners.iter().zip([0.0, 0.0, 200.0, 100.0]) {
            assert!((got - want).abs() < 1e-3, "{corners:?}");
        }
        // The first and last tensor pixel centres land in the first and last
        // image cells a tensor pixel covers (1 / scale = 3.125 pixels wide).
        let [x0, y0, x1, y1] = t.to_image([t.pad_x + 0.5, t.pad_y + 0.5, 63.5, t.pad_y + 31.5]);
        assert!(
            (x0 - 1.5625).abs() < 1e-4 && (y0 - 1.5625).abs() < 1e-4,
            "{x0} {y0}"
        );
        assert!(
            (x1 - 198.4375).abs() < 1e-4 && (y1 - 98.4375).abs() < 1e-4,
            "{x1} {y1}"
        );
        // Every tensor pixel centre maps to the point it was sampled at
        // (sample position + 0.5, in pixel-edge coordinates).
        for d in 0..32usize {
            let [u, v, _, _] = t.to_image([d as f32 + 0.5, 16.0 + d as f32 + 0.5, 0.0, 0.0]);
            let sampled = (d as f32 + 0.5) / 0.32 - 0.5;
            assert!((u - 0.5 - sampled).abs() < 1e-3 && (v - 0.5 - sampled).abs() < 1e-3);
        }
        // The white block, found in the tensor and mapped back, is where it
        // was, to within a tensor pixel.
        let bright: Vec<(usize, usize)> = (0..64)
            .flat_map(|y| (0..64).map(move |x| (x, y)))
            .filter(|&(x, y)| out[index(&spec, x, y, 0)] > pad_value(&spec, 0) + 1.0)
            .collect();
        let lo = |f: fn(&(usize, usize)) -> usize| bright.iter().map(f).min().unwrap() as f32;
        let hi = |f: fn(&(usize, usize)) -> usize| bright.iter().map(f).max().unwrap() as f32 + 1.0;
        let found = t.to_image([lo(|p| p.0), lo(|p| p.1), hi(|p| p.0), hi(|p| p.1)]);
        for (got, want) in found.iter().zip([120.0, 30.0, 160.0, 70.0]) {
            assert!((got - want).abs() <= 1.0 / 0.32, "{found:?}");
        }
    }

    #[test]
    fn nhwc_holds_the_nchw_values_transposed() {
        for resize in [ResizeMode::Stretch, ResizeMode::Letterbox] {
            let image = Image::random(53, 31, PixelEncoding::Bgra8, 3, 4);
            let (chw, t1) = check(&spec(40, 24, ColorOrder::Rgb, Layout::Nchw, resize), &image);
            let (hwc, t2) = check(&spec(40, 24, ColorOrder::Rgb, Layout::Nhwc, resize), &image);
            assert_eq!(t1, t2);
            for c in 0..3 {
                for y in 0..24 {
                    for x in 0..40 {
                        assert_eq!(chw[(c * 24 + y) * 40 + x], hwc[(y * 40 + x) * 3 + c]);
                    }
                }
            }
        }
    }

    #[test]
    fn mono16_is_scaled_by_its_high_byte_in_either_byte_order() {
        let spec = InputSpec {
            mean: [0.0; 3],
            std: [1.0; 3],
            ..spec(1, 1, ColorOrder::Rgb, Layout::Nchw, ResizeMode::Stretch)
        };
        for (big_endian, pixels) in [(true, [0xAB, 0xCD]), (false, [0xCD, 0xAB])] {
            let frame = CameraFrame {
                stamp: 0,
                frame_id: "",
                width: 1,
                height: 1,
                encoding: PixelEncoding::Mono16 { big_endian },
                step: 2,
                pixels: &pixels,
            };
            let mut out = [0.0; 3];
            Preprocessor::new(&spec).run(&frame, &mut out);
            assert_eq!(out, [171.0; 3]);
        }
    }

    #[test]
    fn runs_never_allocate_even_when_the_frame_size_changes() {
        let spec = spec(64, 48, ColorOrder::Bgr, Layout::Nchw, ResizeMode::Letterbox);
        let mut pre = Preprocessor::new(&spec);
        let mut out = vec![0.0; pre.tensor_len()];
        let a = Image::random(100, 70, PixelEncoding::Rgb8, 4, 5);
        let b = Image::random(33, 90, PixelEncoding::Mono8, 0, 6);
        pre.run(&a.frame(), &mut out);
        let info = allocation_counter::measure(|| {
            pre.run(&a.frame(), &mut out);
        });
        assert_eq!(info.count_total, 0, "second run of the same size: {info:?}");
        let info = allocation_counter::measure(|| {
            pre.run(&b.frame(), &mut out);
            pre.run(&a.frame(), &mut out);
        });
        assert_eq!(info.count_total, 0, "runs across a size change: {info:?}");
    }

    #[test]
    fn a_size_change_rebuilds_the_tables() {
        let spec = spec(32, 32, ColorOrder::Rgb, Layout::Nhwc, ResizeMode::Letterbox);
        let mut pre = Preprocessor::new(&spec);
        let mut out = vec![0.0; pre.tensor_len()];
        for (k, (w, h)) in [(40, 20), (20, 40), (40, 20), (7, 7)]
            .into_iter()
            .enumerate()
        {
            let image = Image::random(w, h, PixelEncoding::Rgba8, 1, k as u64);
            let t = pre.run(&image.frame(), &mut out);
            check_against(&spec, &image.frame(), &out);
            assert_eq!((t.image_width, t.image_height), (w as f32, h as f32));
        }
    }

    #[test]
    fn malformed_frames_give_padding_not_a_panic() {
        let spec = spec(8, 6, ColorOrder::Rgb, Layout::Nchw, ResizeMode::Letterbox);
        let mut pre = Preprocessor::new(&spec);
        let mut out = vec![0.0; pre.tensor_len()];
        let pixels = [7u8; 100];
        let bad = [
            (0, 4, 12, &pixels[..]), // no columns
            (4, 0, 12, &pixels[..]), // no rows
            (4, 4, 11, &pixels[..]), // step shorter than a row
            (4, 9, 12, &pixels[..]), // fewer bytes than the rows
            (u32::MAX, u32::MAX, u32::MAX, &pixels[..]),
        ];
        for (width, height, step, pixels) in bad {
            let frame = CameraFrame {
                stamp: 0,
                frame_id: "",
                width,
                height,
                encoding: PixelEncoding::Rgb8,
                step,
                pixels,
            };
            pre.run(&frame, &mut out);
            for (c, plane) in out.chunks(48).enumerate() {
                assert!(plane.iter().all(|&v| v == pad_value(&spec, c)));
            }
        }
        // The last row needs no step padding after it.
        let frame = CameraFrame {
            stamp: 0,
            frame_id: "",
            width: 4,
            height: 4,
            encoding: PixelEncoding::Rgb8,
            step: 20,
            pixels: &pixels[..3 * 20 + 12],
        };
        pre.run(&frame, &mut out);
        check_against(&spec, &frame, &out);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn any_frame_matches_the_reference(
            width in 1u32..48,
            height in 1u32..48,
            extra in 0u32..9,
            encoding in 0usize..7,
            tensor_width in 1u32..40,
            tensor_height in 1u32..40,
            bgr in any::<bool>(),
            nhwc in any::<bool>(),
            letterbox in any::<bool>(),
            seed in any::<u64>(),
        ) {
            let image = Image::random(width, height, ENCODINGS[encoding], extra, seed);
            let spec = spec(
                tensor_width,
                tensor_height,
                if bgr { ColorOrder::Bgr } else { ColorOrder::Rgb },
                if nhwc { Layout::Nhwc } else { Layout::Nchw },
                if letterbox { ResizeMode::Letterbox } else { ResizeMode::Stretch },
            );
            check(&spec, &image);
        }
    }
}
