//! Transport-independent frame types the pipeline stages consume and produce.
//!
//! Owns: the checked, typed views of sensor data ([`CameraFrame`],
//! [`LidarScan`], [`CameraIntrinsics`]); the obstacles the stages produce
//! are [`crate::obstacle`]'s.
//! Camera pixels are borrowed from the message buffer. Lidar points are
//! converted once into struct-of-arrays buffers that are reused scan after
//! scan (the one copy the lidar stage needs for cache-friendly, vectorizable
//! loops); after warm-up, filling them never allocates.
//! Never touches the transport: these types know nothing of CDR, MCAP or ROS.

use crate::cdr::DecodeError;
use crate::msg::{CameraInfo, CompressedImage, Image, PointCloud2, PointFieldType};

/// Nanoseconds since the epoch of the stamping clock (ROS time).
pub type Stamp = i64;

/// Pixel encodings the camera stage accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PixelEncoding {
    Rgb8,
    Bgr8,
    Rgba8,
    Bgra8,
    Mono8,
    /// 16-bit grey; `big_endian` from the message's `is_bigendian`.
    Mono16 {
        big_endian: bool,
    },
}

pub const SUPPORTED_ENCODINGS: &str = "rgb8, bgr8, rgba8, bgra8, mono8, mono16";

impl PixelEncoding {
    pub fn parse(encoding: &str, is_bigendian: bool) -> Option<Self> {
        Some(match encoding {
            "rgb8" => PixelEncoding::Rgb8,
            "bgr8" => PixelEncoding::Bgr8,
            "rgba8" => PixelEncoding::Rgba8,
            "bgra8" => PixelEncoding::Bgra8,
            "mono8" | "8UC1" => PixelEncoding::Mono8,
            "mono16" | "16UC1" => PixelEncoding::Mono16 {
                big_endian: is_bigendian,
            },
            _ => return None,
        })
    }

    pub fn bytes_per_pixel(self) -> usize {
        match self {
            PixelEncoding::Rgb8 | PixelEncoding::Bgr8 => 3,
            PixelEncoding::Rgba8 | PixelEncoding::Bgra8 => 4,
            PixelEncoding::Mono8 => 1,
            PixelEncoding::Mono16 { .. } => 2,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            PixelEncoding::Rgb8 => "rgb8",
            PixelEncoding::Bgr8 => "bgr8",
            PixelEncoding::Rgba8 => "rgba8",
            PixelEncoding::Bgra8 => "bgra8",
            PixelEncoding::Mono8 => "mono8",
            PixelEncoding::Mono16 { .. } => "mono16",
        }
    }
}

/// One camera image, pixels borrowed from wherever they were decoded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CameraFrame<'a> {
    pub stamp: Stamp,
    pub frame_id: &'a str,
    pub width: u32,
    pub height: u32,
    pub encoding: PixelEncoding,
    /// Bytes per row (at least `width * bytes_per_pixel`).
    pub step: u32,
    pub pixels: &'a [u8],
}

impl<'a> CameraFrame<'a> {
    /// A tightly packed rgb8 frame (e.g. a decoded JPEG/PNG file).
    pub fn rgb8(frame_id: &'a str, width: u32, height: u32, pixels: &'a [u8]) -> Self {
        CameraFrame {
            stamp: 0,
            frame_id,
            width,
            height,
            encoding: PixelEncoding::Rgb8,
            step: width.saturating_mul(3),
            pixels,
        }
    }

    /// Checks encoding and geometry of a decoded `sensor_msgs/Image`.
    pub fn from_image(image: &Image<'a>) -> Result<Self, DecodeError> {
        let encoding =
            PixelEncoding::parse(image.encoding, image.is_bigendian != 0).ok_or_else(|| {
                DecodeError::Unsupported {
                    field: "Image.encoding",
                    what: "encoding",
                    found: image.encoding.to_owned(),
                    supported: SUPPORTED_ENCODINGS,
                }
            })?;
        if image.width == 0 || image.height == 0 {
            return Err(DecodeError::invalid(
                "Image.width",
                format!("empty image {}x{}", image.width, image.height),
            ));
        }
        let min_step = image.width as u64 * encoding.bytes_per_pixel() as u64;
        if (image.step as u64) < min_step {
            return Err(DecodeError::inconsistent(
                "Image.step",
                format!(
                    "step {} < width {} x {} bytes per {} pixel",
                    image.step,
                    image.width,
                    encoding.bytes_per_pixel(),
                    encoding.name()
                ),
            ));
        }
        Ok(CameraFrame {
            stamp: image.header.stamp.as_nanos(),
            frame_id: image.header.frame_id,
            width: image.width,
            height: image.height,
            encoding,
            step: image.step,
            pixels: image.data,
        })
    }

    /// Row `y` without its padding.
    pub fn row(&self, y: u32) -> &'a [u8] {
        let start = y as usize * self.step as usize;
        &self.pixels[start..start + self.width as usize * self.encoding.bytes_per_pixel()]
    }
}

/// Decodes `sensor_msgs/CompressedImage` (JPEG, PNG) to rgb8 or mono8.
///
/// The decoded pixels live in this decoder until the next call. JPEG/PNG
/// decoding allocates inside the `image` crate; raw `Image` topics are the
/// allocation-free path.
#[derive(Debug, Default)]
pub struct CompressedDecoder {
    pixels: Vec<u8>,
}

impl CompressedDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn decode<'s>(
        &'s mut self,
        message: &CompressedImage<'s>,
    ) -> Result<CameraFrame<'s>, DecodeError> {
        let format = compressed_format(message.format, message.data)?;
        let decoded = image::load_from_memory_with_format(message.data, format).map_err(|e| {
            DecodeError::CompressedDecode {
                field: "CompressedImage.data",
                detail: e.to_string(),
            }
        })?;
        let (width, height) = (decoded.width(), decoded.height());
        let (encoding, pixels) = match decoded {
            image::DynamicImage::ImageLuma8(grey) => (PixelEncoding::Mono8, grey.into_raw()),
            other => (PixelEncoding::Rgb8, other.into_rgb8().into_raw()),
        };
        self.pixels = pixels;
        Ok(CameraFrame {
            stamp: message.header.stamp.as_nanos(),
            frame_id: message.header.frame_id,
            width,
            height,
            encoding,
            step: width * encoding.bytes_per_pixel() as u32,
            pixels: &self.pixels,
        })
    }
}

/// The image format named by `CompressedImage.format` (`jpeg`, `png`, or the
/// image_transport form `bgr8; jpeg compressed bgr8`), else sniffed from the data.
fn compressed_format(format: &str, data: &[u8]) -> Result<image::ImageFormat, DecodeError> {
    let lower = format.to_ascii_lowercase();
    if lower.contains("compresseddepth") {
        return Err(unsupported_format(format));
    }
    if lower.contains("jpeg") || lower.contains("jpg") {
        return Ok(image::ImageFormat::Jpeg);
    }
    if lower.contains("png") {
        return Ok(image::ImageFormat::Png);
    }
    match image::guess_format(data) {
        Ok(f @ (image::ImageFormat::Jpeg | image::ImageFormat::Png)) => Ok(f),
        _ => Err(unsupported_format(format)),
    }
}

fn unsupported_format(format: &str) -> DecodeError {
    DecodeError::Unsupported {
        field: "CompressedImage.format",
        what: "format",
        found: format.to_owned(),
        supported: "jpeg, png",
    }
}

/// Pinhole intrinsics, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraIntrinsics {
    pub frame_id: String,
    pub width: u32,
    pub height: u32,
    pub fx: f64,
    pub fy: f64,
    pub cx: f64,
    pub cy: f64,
    pub distortion_model: String,
    pub distortion: Vec<f64>,
}

impl CameraIntrinsics {
    pub fn from_camera_info(info: &CameraInfo<'_>) -> Result<Self, DecodeError> {
        Self::check(info)?;
        let [fx, _, cx, _, fy, cy, _, _, _] = info.k;
        Ok(CameraIntrinsics {
            frame_id: info.header.frame_id.to_owned(),
            width: info.width,
            height: info.height,
            fx,
            fy,
            cx,
            cy,
            distortion_model: info.distortion_model.to_owned(),
            distortion: info.d().to_vec(),
        })
    }

    /// Validates a CameraInfo without building anything (no allocation).
    pub fn check(info: &CameraInfo<'_>) -> Result<(), DecodeError> {
        let [fx, _, cx, _, fy, cy, _, _, _] = info.k;
        if !(fx.is_finite() && fy.is_finite() && fx > 0.0 && fy > 0.0) {
            return Err(DecodeError::invalid(
                "CameraInfo.k",
                format!("focal lengths must be positive and finite, got fx={fx} fy={fy}"),
            ));
        }
        if !(cx.is_finite() && cy.is_finite()) {
            return Err(DecodeError::invalid(
                "CameraInfo.k",
                "principal point is not finite",
            ));
        }
        if info.width == 0 || info.height == 0 {
            return Err(DecodeError::invalid(
                "CameraInfo.width",
                format!("image size {}x{} is empty", info.width, info.height),
            ));
        }
        if info.d().iter().any(|c| !c.is_finite()) {
            return Err(DecodeError::invalid(
                "CameraInfo.d",
                "distortion coefficient is not finite",
            ));
        }
        Ok(())
    }
}

/// How to read one numeric point field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FieldReader {
    offset: usize,
    datatype: PointFieldType,
}

impl FieldReader {
    #[inline]
    fn read(self, point: &[u8], big_endian: bool) -> f64 {
        let b = &point[self.offset..self.offset + self.datatype.size()];
        macro_rules! num {
            ($t:ty) => {{
                let mut raw = [0u8; std::mem::size_of::<$t>()];
                raw.copy_from_slice(b);
                (if big_endian {
                    <$t>::from_be_bytes(raw)
                } else {
                    <$t>::from_le_bytes(raw)
                }) as f64
            }};
        }
        match self.datatype {
            PointFieldType::I8 => b[0] as i8 as f64,
            PointFieldType::U8 => b[0] as f64,
            PointFieldType::I16 => num!(i16),
            PointFieldType::U16 => num!(u16),
            PointFieldType::I32 => num!(i32),
            PointFieldType::U32 => num!(u32),
            PointFieldType::F32 => num!(f32),
            PointFieldType::F64 => num!(f64),
        }
    }
}

/// Per-point time conventions of common drivers.
#[derive(Debug, Clone, Copy, PartialEq)]
enum TimeField {
    /// Seconds relative to the header stamp (Velodyne `time`).
    RelativeSeconds(FieldReader),
    /// Integer nanoseconds relative to the header stamp (Ouster `t`, Livox `offset_time`).
    RelativeNanos(FieldReader),
    /// Absolute seconds (Hesai `timestamp`).
    AbsoluteSeconds(FieldReader),
}

/// Where x/y/z/intensity/ring/time sit in a cloud's points.
#[derive(Debug, Clone, Copy, PartialEq)]
struct PointLayout {
    x: FieldReader,
    y: FieldReader,
    z: FieldReader,
    xyz_f32_le: bool,
    intensity: Option<FieldReader>,
    ring: Option<FieldReader>,
    time: Option<TimeField>,
}

fn find_field(cloud: &PointCloud2<'_>, names: &[&str]) -> Option<FieldReader> {
    names.iter().find_map(|name| {
        cloud
            .field(name)
            .filter(|f| f.count >= 1)
            .map(|f| FieldReader {
                offset: f.offset as usize,
                datatype: f.datatype,
            })
    })
}

impl PointLayout {
    fn of(cloud: &PointCloud2<'_>) -> Result<Self, DecodeError> {
        let coordinate = |name: &'static str| -> Result<FieldReader, DecodeError> {
            let field = find_field(cloud, &[name]).ok_or_else(|| {
                DecodeError::invalid("PointCloud2.fields", format!("no {name:?} field"))
            })?;
            if field.datatype.is_integer() {
                return Err(DecodeError::Unsupported {
                    field: "PointCloud2.fields.datatype",
                    what: "coordinate type",
                    found: format!("{:?} for {name:?}", field.datatype),
                    supported: "FLOAT32, FLOAT64",
                });
            }
            Ok(field)
        };
        let (x, y, z) = (coordinate("x")?, coordinate("y")?, coordinate("z")?);
        let ring = find_field(cloud, &["ring", "channel", "laser_id"]);
        if let Some(ring) = ring
            && !ring.datatype.is_integer()
        {
            return Err(DecodeError::Unsupported {
                field: "PointCloud2.fields.datatype",
                what: "ring type",
                found: format!("{:?}", ring.datatype),
                supported: "an integer type",
            });
        }
        let time = if let Some(t) = find_field(cloud, &["time", "time_offset"]) {
            Some(if t.datatype.is_integer() {
                TimeField::RelativeNanos(t)
            } else {
                TimeField::RelativeSeconds(t)
            })
        } else if let Some(t) = find_field(cloud, &["t", "offset_time"]) {
            Some(if t.datatype.is_integer() {
                TimeField::RelativeNanos(t)
            } else {
                TimeField::RelativeSeconds(t)
            })
        } else {
            find_field(cloud, &["timestamp"]).map(|t| {
                if t.datatype.is_integer() {
                    TimeField::RelativeNanos(t)
                } else {
                    TimeField::AbsoluteSeconds(t)
                }
            })
        };
        let f32_at =
            |f: FieldReader, offset| f.datatype == PointFieldType::F32 && f.offset == offset;
        Ok(PointLayout {
            xyz_f32_le: !cloud.is_bigendian
                && f32_at(x, x.offset)
                && f32_at(y, x.offset + 4)
                && f32_at(z, x.offset + 8),
            x,
            y,
            z,
            intensity: find_field(cloud, &["intensity", "i", "reflectivity"]),
            ring,
            time,
        })
    }
}

/// Byte offsets of [`LidarScan::fill_fast`]'s layout: little-endian f32
/// x/y/z at `xyz`, +4, +8; f32 intensity, u16 ring, f32 seconds-relative time.
/// Reading these directly gives exactly what [`FieldReader::read`] would.
#[derive(Debug, Clone, Copy, PartialEq)]
struct FastLayout {
    xyz: usize,
    intensity: Option<usize>,
    ring: Option<usize>,
    time: Option<usize>,
}

impl FastLayout {
    fn of(layout: &PointLayout) -> Option<Self> {
        // `xyz_f32_le` implies a little-endian cloud.
        if !layout.xyz_f32_le {
            return None;
        }
        let f32_offset = |f: FieldReader| (f.datatype == PointFieldType::F32).then_some(f.offset);
        let intensity = match layout.intensity {
            None => None,
            Some(f) => Some(f32_offset(f)?),
        };
        let ring = match layout.ring {
            None => None,
            Some(f) if f.datatype == PointFieldType::U16 => Some(f.offset),
            Some(_) => return None,
        };
        let time = match layout.time {
            None => None,
            Some(TimeField::RelativeSeconds(f)) => Some(f32_offset(f)?),
            Some(_) => return None,
        };
        Some(FastLayout {
            xyz: layout.x.offset,
            intensity,
            ring,
            time,
        })
    }
}

#[inline(always)]
fn le_f32(point: &[u8], offset: usize) -> f32 {
    // One range check and one 4-byte load (byte-wise indexing costs four).
    let mut raw = [0u8; 4];
    raw.copy_from_slice(&point[offset..offset + 4]);
    f32::from_le_bytes(raw)
}

/// One lidar scan as struct-of-arrays. Non-finite points are dropped (and
/// counted); `ring` and `time` are empty when the cloud has no such field.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LidarScan {
    pub stamp: Stamp,
    pub frame_id: String,
    pub x: Vec<f32>,
    pub y: Vec<f32>,
    pub z: Vec<f32>,
    /// 0 where the cloud has no intensity field.
    pub intensity: Vec<f32>,
    pub ring: Vec<u16>,
    /// Seconds relative to `stamp`.
    pub time: Vec<f32>,
    /// Points dropped because a coordinate was NaN or infinite.
    pub dropped_non_finite: usize,
}

/// A rigid transform in single precision, as applied to every point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RigidF32 {
    /// Row-major 3x3.
    pub rotation: [f32; 9],
    pub translation: [f32; 3],
}

impl RigidF32 {
    pub const IDENTITY: RigidF32 = RigidF32 {
        rotation: [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
        translation: [0.0; 3],
    };
}

impl LidarScan {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.x.len()
    }

    pub fn is_empty(&self) -> bool {
        self.x.is_empty()
    }

    /// Empties this scan (buffers kept) to merge others into, stamped
    /// `stamp` in frame `frame_id`.
    pub fn start_merge(&mut self, stamp: Stamp, frame_id: &str) {
        self.clear();
        self.stamp = stamp;
        self.frame_id.push_str(frame_id);
    }

    /// Appends `other`'s points moved by `pose` (row-major rotation, then
    /// translation: `p' = R p + t`), their times re-based on this scan's
    /// stamp. Allocates only while the buffers grow.
    pub fn append_moved(&mut self, other: &LidarScan, pose: &RigidF32) {
        let (r, t) = (&pose.rotation, &pose.translation);
        self.x.reserve(other.len());
        self.y.reserve(other.len());
        self.z.reserve(other.len());
        for k in 0..other.len() {
            let (x, y, z) = (other.x[k], other.y[k], other.z[k]);
            self.x.push(r[0] * x + r[1] * y + r[2] * z + t[0]);
            self.y.push(r[3] * x + r[4] * y + r[5] * z + t[1]);
            self.z.push(r[6] * x + r[7] * y + r[8] * z + t[2]);
        }
        self.intensity.extend_from_slice(&other.intensity);
        self.ring.extend_from_slice(&other.ring);
        let shift = ((other.stamp - self.stamp) as f64 * 1e-9) as f32;
        self.time.extend(other.time.iter().map(|t| t + shift));
        self.dropped_non_finite += other.dropped_non_finite;
    }

    /// Refills this scan from a decoded cloud, reusing the buffers.
    pub fn fill_from(&mut self, cloud: &PointCloud2<'_>) -> Result<(), DecodeError> {
        let layout = PointLayout::of(cloud)?;
        self.clear();
        self.stamp = cloud.header.stamp.as_nanos();
        self.frame_id.push_str(cloud.header.frame_id);
        self.reserve(cloud.len(), &layout);
        let big_endian = cloud.is_bigendian;
        let stamp_seconds = self.stamp as f64 * 1e-9;
        let fast = FastLayout::of(&layout);
        // Row by row, then point by point: no division per point. `decode`
        // checked data = height x row_step and row_step >= width x point_step,
        // and the x field makes point_step > 0; `max(1)` only spares
        // `chunks_exact` a zero size (then there is no data and no point).
        let (width, point_step) = (cloud.width as usize, cloud.point_step as usize);
        for row in cloud.data.chunks_exact(cloud.row_step.max(1) as usize) {
            let points = &row[..width * point_step];
            let point_step = point_step.max(1);
            match fast {
                Some(fast) => self.fill_fast(points, point_step, fast),
                None => self.fill_general(
                    points.chunks_exact(point_step),
                    &layout,
                    big_endian,
                    stamp_seconds,
                ),
            }
        }
        Ok(())
    }

    /// The common layout: little-endian f32 x/y/z side by side, f32
    /// intensity, u16 ring, f32 relative time (each optional). Converts a
    /// batch of points into stack arrays, then appends them with one copy per
    /// channel: per-point `push`es cost more than the conversion itself.
    fn fill_fast(&mut self, points: &[u8], point_step: usize, layout: FastLayout) {
        const BATCH: usize = 256;
        let (mut x, mut y, mut z) = ([0f32; BATCH], [0f32; BATCH], [0f32; BATCH]);
        let (mut intensity, mut ring, mut time) = ([0f32; BATCH], [0u16; BATCH], [0f32; BATCH]);
        for batch in points.chunks(BATCH * point_step) {
            let mut kept = 0;
            for point in batch.chunks_exact(point_step).take(BATCH) {
                let xyz = &point[layout.xyz..layout.xyz + 12];
                let (px, py, pz) = (le_f32(xyz, 0), le_f32(xyz, 4), le_f32(xyz, 8));
                if !(px.is_finite() && py.is_finite() && pz.is_finite()) {
                    self.dropped_non_finite += 1;
                    continue;
                }
                x[kept] = px;
                y[kept] = py;
                z[kept] = pz;
                let i = layout.intensity.map_or(0.0, |o| le_f32(point, o));
                intensity[kept] = if i.is_finite() { i } else { 0.0 };
                if let Some(o) = layout.ring {
                    let mut raw = [0u8; 2];
                    raw.copy_from_slice(&point[o..o + 2]);
                    ring[kept] = u16::from_le_bytes(raw);
                }
                if let Some(o) = layout.time {
                    let seconds = le_f32(point, o);
                    time[kept] = if seconds.is_finite() { seconds } else { 0.0 };
                }
                kept += 1;
            }
            self.x.extend_from_slice(&x[..kept]);
            self.y.extend_from_slice(&y[..kept]);
            self.z.extend_from_slice(&z[..kept]);
            self.intensity.extend_from_slice(&intensity[..kept]);
            if layout.ring.is_some() {
                self.ring.extend_from_slice(&ring[..kept]);
            }
            if layout.time.is_some() {
                self.time.extend_from_slice(&time[..kept]);
            }
        }
    }

    /// Any other layout, field by field through [`FieldReader`].
    fn fill_general<'p>(
        &mut self,
        points: impl Iterator<Item = &'p [u8]>,
        layout: &PointLayout,
        big_endian: bool,
        stamp_seconds: f64,
    ) {
        for point in points {
            let (x, y, z) = (
                layout.x.read(point, big_endian) as f32,
                layout.y.read(point, big_endian) as f32,
                layout.z.read(point, big_endian) as f32,
            );
            if !(x.is_finite() && y.is_finite() && z.is_finite()) {
                self.dropped_non_finite += 1;
                continue;
            }
            self.x.push(x);
            self.y.push(y);
            self.z.push(z);
            let intensity = layout.intensity.map_or(0.0, |f| f.read(point, big_endian));
            self.intensity.push(if intensity.is_finite() {
                intensity as f32
            } else {
                0.0
            });
            if let Some(ring) = layout.ring {
                self.ring
                    .push(ring.read(point, big_endian).clamp(0.0, u16::MAX as f64) as u16);
            }
            if let Some(time) = layout.time {
                let seconds = match time {
                    TimeField::RelativeSeconds(f) => f.read(point, big_endian),
                    TimeField::RelativeNanos(f) => f.read(point, big_endian) * 1e-9,
                    TimeField::AbsoluteSeconds(f) => f.read(point, big_endian) - stamp_seconds,
                };
                self.time.push(if seconds.is_finite() {
                    seconds as f32
                } else {
                    0.0
                });
            }
        }
    }

    fn clear(&mut self) {
        self.frame_id.clear();
        self.x.clear();
        self.y.clear();
        self.z.clear();
        self.intensity.clear();
        self.ring.clear();
        self.time.clear();
        self.dropped_non_finite = 0;
    }

    fn reserve(&mut self, n: usize, layout: &PointLayout) {
        self.x.reserve(n);
        self.y.reserve(n);
        self.z.reserve(n);
        self.intensity.reserve(n);
        if layout.ring.is_some() {
            self.ring.reserve(n);
        }
        if layout.time.is_some() {
            self.time.reserve(n);
        }
    }
}
