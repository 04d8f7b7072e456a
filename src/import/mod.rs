//! `lookout import`: public driving datasets (KITTI, nuScenes) as rosbag2
//! MCAP bags with ground truth, in the layout `lookout synth` writes, so
//! `replay` and `eval` run on real sensor data unchanged.
//!
//! This module owns what the importers share: the error type (every variant
//! names the file, and the line, field or token where one applies), the
//! bag [`Output`] (topics added on first use, logged when each message
//! would arrive: a sweep once complete, an image shortly after exposure), reading
//! files, image sizes from headers, points inside a truth box, and the
//! calibration file beside the bag. [`kitti`] and [`nuscenes`] own their
//! dataset's layout and coordinate conventions.
//!
//! Never decodes images (only their headers), never runs a pipeline stage,
//! never panics on any input: bad input is an [`ImportError`].

pub mod kitti;
pub mod nuscenes;

use crate::bag::{BagError, BagWriter, TopicId, WriterOptions};
use crate::calibration::Calibration;
use crate::msg::{
    CameraInfo, CompressedImage, Detection2DArray, Encode, Header, ObstacleArray, PointCloud2,
    PointField,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// 2D ground truth per camera frame (same stamp as the image).
pub use crate::synth::CAMERA_TRUTH_TOPIC;
/// Ground truth in the lidar frame, one array per scan (same stamp).
pub use crate::synth::TRUTH_TOPIC;

#[derive(Debug, Error)]
pub enum ImportError {
    #[error("{path}: not found")]
    Missing { path: PathBuf },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {field}: {detail}")]
    Line {
        path: PathBuf,
        /// 1-based.
        line: usize,
        field: String,
        detail: String,
    },
    #[error("{path}: no {key} entry")]
    MissingKey { path: PathBuf, key: String },
    #[error("{path}: {len} bytes is not a multiple of the {stride}-byte point")]
    Truncated {
        path: PathBuf,
        len: usize,
        stride: usize,
    },
    #[error("{path}: {stamps} timestamps for {files} files in {dir}")]
    CountMismatch {
        path: PathBuf,
        stamps: usize,
        files: usize,
        dir: PathBuf,
    },
    #[error("{path}: invalid JSON: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path}: {field} {token:?} points to no record in {table}")]
    Dangling {
        path: PathBuf,
        field: String,
        token: String,
        table: String,
    },
    #[error("{path}: {detail}")]
    Invalid { path: PathBuf, detail: String },
    #[error("{path}: unreadable image header: {detail}")]
    Image { path: PathBuf, detail: String },
    #[error(transparent)]
    Bag(#[from] BagError),
}

pub type Result<T> = std::result::Result<T, ImportError>;

/// What an import wrote.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportSummary {
    pub scans: u64,
    pub points: u64,
    pub images: u64,
    pub truth_obstacles: u64,
    pub calibration_path: Option<PathBuf>,
    /// The rig file written beside the bag, for an import of several
    /// sensors.
    pub rig_path: Option<PathBuf>,
}

impl ImportSummary {
    /// One line for the command line.
    pub fn line(&self, out: &Path) -> String {
        let calibration = self
            .calibration_path
            .as_ref()
            .map_or("none".to_owned(), |p| p.display().to_string());
        let rig = self
            .rig_path
            .as_ref()
            .map_or(String::new(), |p| format!(", rig {}", p.display()));
        format!(
            "wrote {}: {} lidar scans ({} points), {} camera images, {} ground-truth obstacles, calibration {calibration}{rig}",
            out.display(),
            self.scans,
            self.points,
            self.images,
            self.truth_obstacles
        )
    }
}

/// The whole file; a missing file is [`ImportError::Missing`].
pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| io_error(path, source))
}

fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| io_error(path, source))
}

fn io_error(path: &Path, source: std::io::Error) -> ImportError {
    if source.kind() == std::io::ErrorKind::NotFound {
        ImportError::Missing {
            path: path.to_path_buf(),
        }
    } else {
        ImportError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

fn require_dir(path: &Path) -> Result<()> {
    if path.is_dir() {
        Ok(())
    } else {
        Err(ImportError::Missing {
            path: path.to_path_buf(),
        })
    }
}

/// The files of `dir` ending in `suffix`, sorted by name.
fn list_files(dir: &Path, suffix: &str) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|source| io_error(dir, source))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(|source| io_error(dir, source))?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.ends_with(suffix) && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// (width, height) from a PNG or JPEG header.
fn image_size(path: &Path, bytes: &[u8]) -> Result<(u32, u32)> {
    let error = |detail: String| ImportError::Image {
        path: path.to_path_buf(),
        detail,
    };
    image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| error(e.to_string()))?
        .into_dimensions()
        .map_err(|e| error(e.to_string()))
}

/// Checks that a point file holds whole points of `stride` bytes.
fn check_stride(path: &Path, bytes: &[u8], stride: usize) -> Result<()> {
    if bytes.len().is_multiple_of(stride) {
        Ok(())
    } else {
        Err(ImportError::Truncated {
            path: path.to_path_buf(),
            len: bytes.len(),
            stride,
        })
    }
}

/// x, y, z of each point of a little-endian float32 point file.
fn xyz_points(bytes: &[u8], stride: usize) -> Vec<[f32; 3]> {
    let f = |b: &[u8], i: usize| f32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    bytes
        .chunks_exact(stride)
        .map(|p| [f(p, 0), f(p, 4), f(p, 8)])
        .collect()
}

/// How many `points` lie inside the oriented box (`size` = length, width,
/// height along the box's x, y, z; `yaw` about z), and the range of the
/// nearest of them (NaN when none).
pub fn points_in_box(
    points: &[[f32; 3]],
    center: [f64; 3],
    size: [f64; 3],
    yaw: f64,
) -> (u32, f32) {
    let (sin, cos) = yaw.sin_cos();
    let half = size.map(|s| s / 2.0);
    let (mut count, mut nearest) = (0u32, f32::INFINITY);
    for p in points {
        let d = [0, 1, 2].map(|k| p[k] as f64 - center[k]);
        let along = d[0] * cos + d[1] * sin;
        let across = -d[0] * sin + d[1] * cos;
        if along.abs() <= half[0] && across.abs() <= half[1] && d[2].abs() <= half[2] {
            count += 1;
            nearest = nearest.min((p[0] * p[0] + p[1] * p[1] + p[2] * p[2]).sqrt());
        }
    }
    (count, if count > 0 { nearest } else { f32::NAN })
}

/// `a` wrapped to (-pi, pi].
pub fn wrap_pi(a: f64) -> f64 {
    use std::f64::consts::{PI, TAU};
    let w = a.rem_euclid(TAU);
    if w > PI { w - TAU } else { w }
}

/// Writes `calibration` beside the bag (where `synth` puts it).
fn write_calibration(out: &Path, calibration: &Calibration) -> Result<PathBuf> {
    calibration.validate().map_err(|e| ImportError::Invalid {
        path: out.to_path_buf(),
        detail: format!("calibration: {e}"),
    })?;
    let path = crate::synth::calibration_path(out);
    std::fs::write(&path, calibration.to_yaml()).map_err(|source| ImportError::Io {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

/// Writes `rig` beside the bag (`<bag>.rig.yaml`), checked first.
fn write_rig(out: &Path, rig: &crate::rig::Rig) -> Result<PathBuf> {
    rig.validate().map_err(|e| ImportError::Invalid {
        path: out.to_path_buf(),
        detail: format!("rig: {e}"),
    })?;
    let path = crate::synth::rig_path(out);
    std::fs::write(&path, rig.to_yaml()).map_err(|source| ImportError::Io {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

/// A camera image as it goes into the bag.
struct CameraImage<'a> {
    topic: &'a str,
    info_topic: &'a str,
    /// `png` or `jpeg`.
    format: &'a str,
    data: &'a [u8],
    size: (u32, u32),
    k: [f64; 9],
    p: [f64; 12],
}

/// A pinhole camera of intrinsics `k` (row-major 3x3) and `size` (width,
/// height) with its lidar -> camera transform: the file beside the bag.
pub(crate) fn pinhole_calibration(
    frame_id: &str,
    camera_name: &str,
    size: (u32, u32),
    k: [f64; 9],
    lidar_to_camera: crate::calibration::Extrinsics,
) -> Calibration {
    Calibration {
        camera: crate::calibration::CameraCalibration::pinhole(
            frame_id,
            camera_name,
            size,
            (k[0], k[4]),
            (k[2], k[5]),
        ),
        lidar_to_camera,
    }
}

/// One ground-truth obstacle of a scan stamped `stamp`: `bbox` is (centre,
/// [l, w, h], yaw) in the lidar frame, `evidence` (lidar points in it,
/// nearest range).
pub(crate) fn truth_obstacle(
    id: u32,
    label: &str,
    (center, size, yaw): ([f64; 3], [f64; 3], f64),
    (point_count, nearest_distance): (u32, f32),
    stamp: crate::msg::Time,
) -> crate::msg::Obstacle {
    crate::msg::Obstacle {
        id,
        label: label.to_owned(),
        score: 1.0,
        source: crate::msg::ObstacleSource::GroundTruth,
        center,
        size,
        yaw,
        velocity: [0.0; 3],
        point_count,
        nearest_distance,
        lidar_stamp: stamp,
        camera_stamp: crate::msg::Time::default(),
        latency: f32::NAN,
        ..crate::msg::Obstacle::default()
    }
}

/// When an image arrives after its stamp (exposure, readout, transfer).
const CAMERA_ARRIVAL_NS: i64 = 10_000_000;

/// The bag being written: topics added on first use, every message logged
/// when it would arrive on a vehicle: a scan (stamped at its start) one
/// sweep after its stamp, an image [`CAMERA_ARRIVAL_NS`] after; truth with
/// the message it describes. Lockstep replay then sees the image first, as
/// fusion does on the road.
struct Output {
    path: PathBuf,
    writer: BagWriter,
    /// The sweep period: how long after its stamp a scan arrives.
    lidar_arrival_ns: i64,
    topics: BTreeMap<String, TopicId>,
    summary: ImportSummary,
}

impl Output {
    fn create(path: &Path, sweep_period_ns: i64) -> Result<Self> {
        Ok(Output {
            path: path.to_path_buf(),
            writer: BagWriter::create(path, WriterOptions::default())?,
            lidar_arrival_ns: sweep_period_ns,
            topics: BTreeMap::new(),
            summary: ImportSummary::default(),
        })
    }

    fn topic(&mut self, topic: &str, type_name: &str) -> Result<TopicId> {
        if let Some(id) = self.topics.get(topic) {
            return Ok(*id);
        }
        let id = self.writer.add_topic(topic, type_name)?;
        self.topics.insert(topic.to_owned(), id);
        Ok(id)
    }

    fn write<M: Encode>(
        &mut self,
        topic: &str,
        stamp: Header<'_>,
        arrival_ns: i64,
        message: &M,
    ) -> Result<()> {
        let id = self.topic(topic, M::TYPE_NAME)?;
        let log_time = stamp.stamp.as_nanos().saturating_add(arrival_ns).max(0) as u64;
        Ok(self.writer.write(id, log_time, message)?)
    }

    fn invalid(&self, detail: impl std::fmt::Display) -> ImportError {
        ImportError::Invalid {
            path: self.path.clone(),
            detail: detail.to_string(),
        }
    }

    /// One scan: `data` holds `data.len() / step` points of `fields`.
    fn cloud(
        &mut self,
        topic: &str,
        header: Header<'_>,
        fields: &[PointField<'_>],
        step: u32,
        data: &[u8],
    ) -> Result<()> {
        let n = (data.len() / step as usize) as u32;
        let cloud = PointCloud2::new(header, 1, n, fields, false, step, step * n, data, true)
            .map_err(|e| self.invalid(e))?;
        self.write(topic, header, self.lidar_arrival_ns, &cloud)?;
        self.summary.scans += 1;
        self.summary.points += n as u64;
        Ok(())
    }

    /// One image with its CameraInfo (no distortion, R identity).
    fn image(&mut self, header: Header<'_>, image: &CameraImage<'_>) -> Result<()> {
        let compressed = CompressedImage {
            header,
            format: image.format,
            data: image.data,
        };
        self.write(image.topic, header, CAMERA_ARRIVAL_NS, &compressed)?;
        let identity = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0];
        let (width, height) = image.size;
        let info = CameraInfo::new(
            header,
            width,
            height,
            "plumb_bob",
            &[0.0; 5],
            image.k,
            identity,
            image.p,
        )
        .map_err(|e| self.invalid(e))?;
        self.write(image.info_topic, header, CAMERA_ARRIVAL_NS, &info)?;
        self.summary.images += 1;
        Ok(())
    }

    fn truth(&mut self, truth: &ObstacleArray) -> Result<()> {
        let arrival = self.lidar_arrival_ns;
        self.write(TRUTH_TOPIC, truth.header.borrowed(), arrival, truth)?;
        self.summary.truth_obstacles += truth.obstacles.len() as u64;
        Ok(())
    }

    fn truth_2d(&mut self, truth: &Detection2DArray) -> Result<()> {
        self.write(
            CAMERA_TRUTH_TOPIC,
            truth.header.borrowed(),
            CAMERA_ARRIVAL_NS,
            truth,
        )
    }

    fn finish(self) -> Result<ImportSummary> {
        self.writer.finish()?;
        Ok(self.summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_in_a_turned_box() {
        // A 4 x 2 x 2 box at (10, 0, 0) turned 90 degrees: 4 m along y.
        let points = [[10.0, 1.5, 0.0], [11.5, 0.0, 0.0], [10.0, -1.9, 0.9]];
        let (count, nearest) = points_in_box(
            &points,
            [10.0, 0.0, 0.0],
            [4.0, 2.0, 2.0],
            std::f64::consts::FRAC_PI_2,
        );
        assert_eq!(count, 2);
        assert!((nearest - (100.0f32 + 2.25).sqrt()).abs() < 1e-4);
        let (none, nan) = points_in_box(&points, [50.0, 0.0, 0.0], [1.0; 3], 0.0);
        assert_eq!(none, 0);
        assert!(nan.is_nan());
    }

    #[test]
    fn wraps_to_minus_pi_exclusive() {
        use std::f64::consts::PI;
        assert!((wrap_pi(-PI) - PI).abs() < 1e-12);
        assert!((wrap_pi(3.0 * PI / 2.0) + PI / 2.0).abs() < 1e-12);
    }
}
