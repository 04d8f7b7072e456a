//! KITTI (object detection set and raw drives) as a Lookout bag.
//!
//! Owns the KITTI file layouts, the calibration text files and the label
//! format, and the conversion from KITTI's rectified camera frame to the
//! lidar frame (`velodyne`: x forward, y left, z up).
//!
//! - **Object layout** (`velodyne/`, `label_2/`, `calib/`, `image_2/`): one
//!   scan per frame id, stamped [`START_NS`] + index x 100 ms. The frames of
//!   the object set come from unrelated drives, so those stamps are only an
//!   order, not a recording: no motion links one frame to the next. Truth
//!   (3D and 2D) comes from `label_2/` when that folder exists.
//! - **Raw drive** (`velodyne_points/`, `image_02/`, `calib_*.txt` in the
//!   drive folder or its parent): scans and images at their recorded UTC
//!   stamps; raw drives carry no truth.
//!
//! The calibration file beside the bag is that of the first frame (object
//! frames may differ: each image's CameraInfo carries its own P2). Never
//! decodes an image (only its header), never panics on any input.

use super::{
    CameraImage, ImportError, ImportSummary, Output, Result, check_stride, image_size, list_files,
    points_in_box, read_file, read_text, require_dir, wrap_pi, write_calibration, xyz_points,
};
use crate::calibration::{Calibration, Extrinsics};
use crate::msg::{
    Detection2D, Detection2DArray, Header, ObstacleArray, OwnedHeader, PointField, PointFieldType,
    Time,
};
use crate::synth::{CAMERA_INFO_TOPIC, COMPRESSED_TOPIC, LIDAR_TOPIC};
use nalgebra::{Matrix3, Matrix3x4, Matrix4, Vector3, Vector4};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub const LIDAR_FRAME: &str = "velodyne";
pub const CAMERA_FRAME: &str = "camera_2";
/// Stamp of the first object-layout frame (the synthetic scenes' start).
pub const START_NS: i64 = crate::synth::START_NS;
/// Spacing of object-layout frames (the HDL-64E's 10 Hz).
pub const FRAME_PERIOD_NS: i64 = 100_000_000;
/// float32 x, y, z, reflectance.
const POINT_STEP: usize = 16;

/// The `.bin` layout as PointCloud2 fields: the file bytes are the data.
fn point_fields() -> [PointField<'static>; 4] {
    let f = |name, offset| PointField {
        name,
        offset,
        datatype: PointFieldType::F32,
        count: 1,
    };
    [f("x", 0), f("y", 4), f("z", 8), f("intensity", 12)]
}

/// Imports `dir` (object layout or raw drive, detected from its folders)
/// into the bag `out`. `frames` picks object-layout frame ids (default: all
/// of `velodyne/`).
pub fn import(dir: &Path, frames: Option<&[String]>, out: &Path) -> Result<ImportSummary> {
    require_dir(dir)?;
    if dir.join("velodyne").is_dir() {
        import_object(dir, frames, out)
    } else if dir.join("velodyne_points").is_dir() {
        if frames.is_some() {
            return Err(ImportError::Invalid {
                path: dir.to_path_buf(),
                detail: "--frames applies to the object layout only (this is a raw drive)".into(),
            });
        }
        import_raw(dir, out)
    } else {
        Err(ImportError::Invalid {
            path: dir.to_path_buf(),
            detail: "neither velodyne/ (KITTI object layout) nor velodyne_points/ (raw drive)"
                .into(),
        })
    }
}

// ---------------------------------------------------------------- calib ---

/// Numbers each known calibration key carries; other keys are ignored.
const CALIB_KEYS: &[(&str, usize)] = &[
    ("P0", 12),
    ("P1", 12),
    ("P2", 12),
    ("P3", 12),
    ("R0_rect", 9),
    ("R_rect", 9),
    ("Tr_velo_to_cam", 12),
    ("Tr_velo_cam", 12),
    ("Tr_imu_to_velo", 12),
    ("Tr_imu_velo", 12),
    ("R", 9),
    ("T", 3),
    ("R_rect_00", 9),
    ("P_rect_02", 12),
    ("S_rect_02", 2),
];

/// A calibration text file: `key: numbers` per line.
struct CalibFile {
    path: PathBuf,
    values: HashMap<String, Vec<f64>>,
}

impl CalibFile {
    fn load(path: &Path) -> Result<Self> {
        let text = read_text(path)?;
        let mut values = HashMap::new();
        for (index, line) in text.lines().enumerate() {
            if let Some((key, numbers)) = calib_line(path, index + 1, line)? {
                values.insert(key, numbers);
            }
        }
        Ok(CalibFile {
            path: path.to_path_buf(),
            values,
        })
    }

    /// The numbers of the first of `keys` present (aliases of one entry).
    fn get(&self, keys: &[&str]) -> Result<&[f64]> {
        keys.iter()
            .find_map(|k| self.values.get(*k))
            .map(Vec::as_slice)
            .ok_or_else(|| ImportError::MissingKey {
                path: self.path.clone(),
                key: keys[0].to_owned(),
            })
    }
}

/// One line: `None` for a blank line or an unknown key.
fn calib_line(path: &Path, line: usize, text: &str) -> Result<Option<(String, Vec<f64>)>> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let error = |field: &str, detail: String| ImportError::Line {
        path: path.to_path_buf(),
        line,
        field: field.to_owned(),
        detail,
    };
    let Some((key, rest)) = text.split_once(':') else {
        return Err(error("line", "expected `key: numbers`".into()));
    };
    let Some(&(key, expected)) = CALIB_KEYS.iter().find(|(k, _)| *k == key.trim()) else {
        return Ok(None);
    };
    let numbers = parse_numbers(rest.split_whitespace(), |i| format!("{key}[{i}]"))
        .map_err(|(field, detail)| error(&field, detail))?;
    if numbers.len() != expected {
        let detail = format!("{} numbers, expected {expected}", numbers.len());
        return Err(error(key, detail));
    }
    Ok(Some((key.to_owned(), numbers)))
}

/// Parses finite numbers; on failure (field name, detail).
fn parse_numbers<'a>(
    tokens: impl Iterator<Item = &'a str>,
    field: impl Fn(usize) -> String,
) -> std::result::Result<Vec<f64>, (String, String)> {
    tokens
        .enumerate()
        .map(|(i, token)| match token.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => Err((field(i), format!("{token:?} is not a number"))),
        })
        .collect()
}

/// What the import needs of a KITTI calibration.
#[derive(Debug, Clone, PartialEq)]
pub struct KittiCalib {
    /// Camera 2's rectified projection, row-major 3x4.
    pub p2: [f64; 12],
    /// Rectifying rotation of camera 0.
    pub r0: Matrix3<f64>,
    /// Lidar -> camera 0 (unrectified), rigid, 4x4.
    pub velo_to_cam: Matrix4<f64>,
}

fn homogeneous(rotation: &[f64], translation: [f64; 3]) -> Matrix4<f64> {
    let mut m = Matrix4::identity();
    for r in 0..3 {
        for c in 0..3 {
            m[(r, c)] = rotation[r * 3 + c];
        }
        m[(r, 3)] = translation[r];
    }
    m
}

fn rigid_3x4(v: &[f64]) -> Matrix4<f64> {
    let rotation = [v[0], v[1], v[2], v[4], v[5], v[6], v[8], v[9], v[10]];
    homogeneous(&rotation, [v[3], v[7], v[11]])
}

fn p12(v: &[f64]) -> [f64; 12] {
    let mut p = [0.0; 12];
    p.copy_from_slice(v);
    p
}

impl KittiCalib {
    /// An object-layout `calib/<id>.txt`.
    pub fn object(path: &Path) -> Result<Self> {
        let file = CalibFile::load(path)?;
        Ok(KittiCalib {
            p2: p12(file.get(&["P2"])?),
            r0: Matrix3::from_row_slice(file.get(&["R0_rect", "R_rect"])?),
            velo_to_cam: rigid_3x4(file.get(&["Tr_velo_to_cam", "Tr_velo_cam"])?),
        })
    }

    /// A raw drive's `calib_velo_to_cam.txt` and `calib_cam_to_cam.txt`,
    /// in `dir` or its parent (the date folder).
    pub fn raw(dir: &Path) -> Result<Self> {
        let velo = CalibFile::load(&find_calib(dir, "calib_velo_to_cam.txt"))?;
        let cam = CalibFile::load(&find_calib(dir, "calib_cam_to_cam.txt"))?;
        let t = velo.get(&["T"])?;
        Ok(KittiCalib {
            p2: p12(cam.get(&["P_rect_02"])?),
            r0: Matrix3::from_row_slice(cam.get(&["R_rect_00"])?),
            velo_to_cam: homogeneous(velo.get(&["R"])?, [t[0], t[1], t[2]]),
        })
    }

    fn p2_matrix(&self) -> Matrix3x4<f64> {
        Matrix3x4::from_row_slice(&self.p2)
    }

    /// K = P2[:, :3], row-major.
    pub fn k(&self) -> [f64; 9] {
        let p = &self.p2;
        [p[0], p[1], p[2], p[4], p[5], p[6], p[8], p[9], p[10]]
    }

    /// Lidar -> rectified camera 0: R0_rect · Tr_velo_to_cam.
    pub fn velo_to_rect(&self) -> Matrix4<f64> {
        let mut r0 = Matrix4::identity();
        r0.fixed_view_mut::<3, 3>(0, 0).copy_from(&self.r0);
        r0 * self.velo_to_cam
    }

    /// Rectified camera 0 -> lidar.
    fn rect_to_velo(&self, path: &Path) -> Result<Matrix4<f64>> {
        self.velo_to_rect()
            .try_inverse()
            .ok_or_else(|| ImportError::Invalid {
                path: path.to_path_buf(),
                detail: "R0_rect · Tr_velo_to_cam is not invertible".into(),
            })
    }

    /// Lidar -> camera 2: `[I | t2] · R0_rect · Tr_velo_to_cam` with
    /// `t2 = K⁻¹ · P2[:, 3]` (camera 2's offset from the rectified camera 0),
    /// so that `K (R p + t)` is `P2 · R0_rect · Tr_velo_to_cam · p`.
    pub fn lidar_to_camera(&self, path: &Path) -> Result<Extrinsics> {
        let k = Matrix3::from_row_slice(&self.k());
        let p = self.p2_matrix();
        let t2 = k
            .try_inverse()
            .map(|k_inv| k_inv * p.column(3))
            .ok_or_else(|| ImportError::Invalid {
                path: path.to_path_buf(),
                detail: "P2's K is not invertible".into(),
            })?;
        let m = self.velo_to_rect();
        let rotation: Matrix3<f64> = m.fixed_view::<3, 3>(0, 0).into_owned();
        let translation: Vector3<f64> = m.fixed_view::<3, 1>(0, 3).into_owned() + t2;
        Ok(Extrinsics::from_rotation(
            LIDAR_FRAME,
            CAMERA_FRAME,
            &rotation,
            translation,
        ))
    }

    /// The calibration file for camera 2 of `size` (width, height).
    pub fn calibration(&self, path: &Path, size: (u32, u32)) -> Result<Calibration> {
        Ok(super::pinhole_calibration(
            CAMERA_FRAME,
            "kitti_camera_2",
            size,
            self.k(),
            self.lidar_to_camera(path)?,
        ))
    }
}

fn find_calib(dir: &Path, name: &str) -> PathBuf {
    let here = dir.join(name);
    match dir.parent() {
        Some(parent) if !here.exists() && parent.join(name).exists() => parent.join(name),
        _ => here,
    }
}

// --------------------------------------------------------------- labels ---

const LABEL_FIELDS: [&str; 15] = [
    "type",
    "truncated",
    "occluded",
    "alpha",
    "x1",
    "y1",
    "x2",
    "y2",
    "h",
    "w",
    "l",
    "x",
    "y",
    "z",
    "ry",
];

/// One `label_2` line (camera rectified frame: x right, y down, z forward).
#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    pub kind: String,
    /// x1, y1, x2, y2 in pixels.
    pub bbox: [f32; 4],
    /// h, w, l in metres.
    pub hwl: [f64; 3],
    /// Bottom centre of the box.
    pub location: [f64; 3],
    pub ry: f64,
}

/// Every line of a label file.
pub fn parse_labels(path: &Path) -> Result<Vec<Label>> {
    let text = read_text(path)?;
    let mut labels = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if !line.trim().is_empty() {
            labels.push(parse_label(path, index + 1, line)?);
        }
    }
    Ok(labels)
}

fn parse_label(path: &Path, line: usize, text: &str) -> Result<Label> {
    let error = |field: &str, detail: String| ImportError::Line {
        path: path.to_path_buf(),
        line,
        field: field.to_owned(),
        detail,
    };
    let tokens: Vec<&str> = text.split_whitespace().collect();
    if tokens.len() < LABEL_FIELDS.len() {
        let detail = format!("{} fields, expected 15", tokens.len());
        return Err(error(LABEL_FIELDS[tokens.len()], detail));
    }
    let v = parse_numbers(tokens[1..15].iter().copied(), |i| {
        LABEL_FIELDS[i + 1].to_owned()
    })
    .map_err(|(field, detail)| error(&field, detail))?;
    Ok(Label {
        kind: tokens[0].to_owned(),
        bbox: [v[3] as f32, v[4] as f32, v[5] as f32, v[6] as f32],
        hwl: [v[7], v[8], v[9]],
        location: [v[10], v[11], v[12]],
        ry: v[13],
    })
}

/// Lookout's class of a KITTI type; `None` for DontCare (no truth).
/// Misc and unlisted types are `unknown`: don't-care truth.
pub fn class_of(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "Car" | "Van" => "car",
        "Truck" | "Tram" => "truck",
        "Pedestrian" | "Person_sitting" => "pedestrian",
        "Cyclist" => "cyclist",
        "DontCare" => return None,
        _ => "unknown",
    })
}

/// A label's box in the lidar frame: (centre, [l, w, h], yaw).
pub fn label_box(label: &Label, rect_to_velo: &Matrix4<f64>) -> ([f64; 3], [f64; 3], f64) {
    let [h, w, l] = label.hwl;
    let [x, y, z] = label.location;
    let centre = rect_to_velo * Vector4::new(x, y - h / 2.0, z, 1.0);
    let yaw = wrap_pi(-label.ry - std::f64::consts::FRAC_PI_2);
    ([centre.x, centre.y, centre.z], [l, w, h], yaw)
}

/// 3D truth (lidar frame) of the labels with a class, ids 1.. in label order.
fn truth_3d(
    labels: &[Label],
    rect_to_velo: &Matrix4<f64>,
    points: &[[f32; 3]],
    header: Header<'_>,
) -> ObstacleArray {
    let obstacles = truth_labels(labels)
        .map(|(id, label, class)| {
            let bbox = label_box(label, rect_to_velo);
            let (center, size, yaw) = bbox;
            let evidence = points_in_box(points, center, size, yaw);
            super::truth_obstacle(id, class, bbox, evidence, header.stamp)
        })
        .collect();
    ObstacleArray {
        header: OwnedHeader::from(header),
        obstacles,
        degraded: false,
        late: false,
    }
}

/// 2D truth (image boxes) with the same ids as the 3D truth.
fn truth_2d(labels: &[Label], header: Header<'_>) -> Detection2DArray {
    Detection2DArray {
        header: OwnedHeader::from(header),
        detections: truth_labels(labels)
            .map(|(id, label, class)| Detection2D {
                label: class.to_owned(),
                score: 1.0,
                bbox: label.bbox,
                visible: 1.0,
                id,
            })
            .collect(),
    }
}

/// (id, label, class) of each label that is truth.
fn truth_labels(labels: &[Label]) -> impl Iterator<Item = (u32, &Label, &'static str)> {
    labels
        .iter()
        .filter_map(|l| class_of(&l.kind).map(|c| (l, c)))
        .zip(1u32..)
        .map(|((label, class), id)| (id, label, class))
}

// --------------------------------------------------------------- frames ---

/// The truth of one frame: its labels and where they came from.
struct FrameTruth<'a> {
    labels: &'a [Label],
    rect_to_velo: Matrix4<f64>,
}

/// One scan (and its truth when labelled).
fn write_scan(
    out: &mut Output,
    path: &Path,
    stamp: Time,
    truth: Option<&FrameTruth<'_>>,
) -> Result<()> {
    let bytes = read_file(path)?;
    check_stride(path, &bytes, POINT_STEP)?;
    let header = Header {
        stamp,
        frame_id: LIDAR_FRAME,
    };
    out.cloud(
        LIDAR_TOPIC,
        header,
        &point_fields(),
        POINT_STEP as u32,
        &bytes,
    )?;
    if let Some(truth) = truth {
        let points = xyz_points(&bytes, POINT_STEP);
        out.truth(&truth_3d(
            truth.labels,
            &truth.rect_to_velo,
            &points,
            header,
        ))?;
    }
    Ok(())
}

/// One camera-2 image with its CameraInfo (and 2D truth when labelled);
/// returns the image size.
fn write_image(
    out: &mut Output,
    path: &Path,
    stamp: Time,
    calib: &KittiCalib,
    labels: Option<&[Label]>,
) -> Result<(u32, u32)> {
    let bytes = read_file(path)?;
    let size = image_size(path, &bytes)?;
    let header = Header {
        stamp,
        frame_id: CAMERA_FRAME,
    };
    let image = CameraImage {
        topic: COMPRESSED_TOPIC,
        info_topic: CAMERA_INFO_TOPIC,
        format: "png",
        data: &bytes,
        size,
        k: calib.k(),
        p: calib.p2,
    };
    out.image(header, &image)?;
    if let Some(labels) = labels {
        out.truth_2d(&truth_2d(labels, header))?;
    }
    Ok(size)
}

/// Frame ids of the object layout: `frames`, else every `velodyne/*.bin`.
fn object_frame_ids(dir: &Path, frames: Option<&[String]>) -> Result<Vec<String>> {
    if let Some(frames) = frames {
        return Ok(frames.to_vec());
    }
    let bins = list_files(&dir.join("velodyne"), ".bin")?;
    Ok(bins
        .iter()
        .filter_map(|p| p.file_stem().and_then(|s| s.to_str()).map(str::to_owned))
        .collect())
}

fn import_object(dir: &Path, frames: Option<&[String]>, out_path: &Path) -> Result<ImportSummary> {
    let ids = object_frame_ids(dir, frames)?;
    if ids.is_empty() {
        return Err(ImportError::Invalid {
            path: dir.join("velodyne"),
            detail: "no .bin frames".into(),
        });
    }
    let labelled = dir.join("label_2").is_dir();
    let mut out = Output::create(out_path, FRAME_PERIOD_NS)?;
    let mut first_calibration = None;
    for (index, id) in ids.iter().enumerate() {
        let stamp = Time::from_nanos(START_NS + index as i64 * FRAME_PERIOD_NS);
        let calib_path = dir.join("calib").join(format!("{id}.txt"));
        let calib = KittiCalib::object(&calib_path)?;
        let labels = match labelled {
            true => Some(parse_labels(
                &dir.join("label_2").join(format!("{id}.txt")),
            )?),
            false => None,
        };
        let truth = match &labels {
            Some(labels) => Some(FrameTruth {
                labels,
                rect_to_velo: calib.rect_to_velo(&calib_path)?,
            }),
            None => None,
        };
        let scan = dir.join("velodyne").join(format!("{id}.bin"));
        write_scan(&mut out, &scan, stamp, truth.as_ref())?;
        let image = dir.join("image_2").join(format!("{id}.png"));
        let size = write_image(&mut out, &image, stamp, &calib, labels.as_deref())?;
        if first_calibration.is_none() {
            first_calibration = Some(calib.calibration(&calib_path, size)?);
        }
    }
    let mut summary = out.finish()?;
    if let Some(calibration) = first_calibration {
        summary.calibration_path = Some(write_calibration(out_path, &calibration)?);
    }
    Ok(summary)
}

// ------------------------------------------------------------ raw drive ---

/// `YYYY-MM-DD hh:mm:ss.fffffffff` (UTC) as UNIX nanoseconds.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    let (date, time) = text.trim().split_once(' ')?;
    let mut ymd = date.split('-').map(|s| s.parse::<i64>().ok());
    let (year, month, day) = (ymd.next()??, ymd.next()??, ymd.next()??);
    let (hms, fraction) = time.split_once('.').unwrap_or((time, "0"));
    let mut hms = hms.split(':').map(|s| s.parse::<i64>().ok());
    let (hour, minute, second) = (hms.next()??, hms.next()??, hms.next()??);
    let valid = (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && (0..24).contains(&hour)
        && (0..60).contains(&minute)
        && (0..=60).contains(&second)
        && ymd.next().is_none()
        && hms.next().is_none()
        && (1..=9).contains(&fraction.len())
        && fraction.bytes().all(|b| b.is_ascii_digit());
    if !valid {
        return None;
    }
    let nanos: i64 = format!("{fraction:0<9}").parse().ok()?;
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    seconds.checked_mul(1_000_000_000)?.checked_add(nanos)
}

/// Days from 1970-01-01 to a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The stamps of a raw-drive `timestamps.txt`, one per non-blank line.
fn parse_timestamps(path: &Path) -> Result<Vec<i64>> {
    let text = read_text(path)?;
    let mut stamps = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        stamps.push(parse_timestamp(line).ok_or_else(|| ImportError::Line {
            path: path.to_path_buf(),
            line: index + 1,
            field: "timestamp".into(),
            detail: format!("{:?} is not `YYYY-MM-DD hh:mm:ss.fffffffff`", line.trim()),
        })?);
    }
    Ok(stamps)
}

/// A raw-drive sensor folder: its data files paired with their stamps.
fn raw_sensor(dir: &Path, sensor: &str, suffix: &str) -> Result<Vec<(i64, PathBuf)>> {
    let data = dir.join(sensor).join("data");
    require_dir(&data)?;
    let files = list_files(&data, suffix)?;
    let stamps_path = dir.join(sensor).join("timestamps.txt");
    let stamps = parse_timestamps(&stamps_path)?;
    if stamps.len() != files.len() {
        return Err(ImportError::CountMismatch {
            path: stamps_path,
            stamps: stamps.len(),
            files: files.len(),
            dir: data,
        });
    }
    Ok(stamps.into_iter().zip(files).collect())
}

fn import_raw(dir: &Path, out_path: &Path) -> Result<ImportSummary> {
    let calib = KittiCalib::raw(dir)?;
    let scans = raw_sensor(dir, "velodyne_points", ".bin")?;
    let images = raw_sensor(dir, "image_02", ".png")?;
    // Both sensors merged in stamp order (images first on a tie).
    let mut events: Vec<(i64, bool, &Path)> = scans
        .iter()
        .map(|(t, p)| (*t, true, p.as_path()))
        .chain(images.iter().map(|(t, p)| (*t, false, p.as_path())))
        .collect();
    events.sort();
    let mut out = Output::create(out_path, FRAME_PERIOD_NS)?;
    let mut size = None;
    for (stamp, is_scan, path) in events {
        let stamp = Time::from_nanos(stamp);
        if is_scan {
            write_scan(&mut out, path, stamp, None)?;
        } else {
            size = Some(write_image(&mut out, path, stamp, &calib, None)?);
        }
    }
    let mut summary = out.finish()?;
    if let Some(size) = size {
        let calibration = calib.calibration(&dir.join("calib_cam_to_cam.txt"), size)?;
        summary.calibration_path = Some(write_calibration(out_path, &calibration)?);
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The calibration of KITTI object frame 000134.
    fn calib_000134() -> KittiCalib {
        let text = "P2: 7.070493e+02 0 6.040814e+02 4.575831e+01 0 7.070493e+02 1.805066e+02 -3.454157e-01 0 0 1 4.981016e-03\n\
            R0_rect: 9.999128e-01 1.009263e-02 -8.511932e-03 -1.012729e-02 9.999406e-01 -4.037671e-03 8.470675e-03 4.123522e-03 9.999556e-01\n\
            Tr_velo_to_cam: 6.927964e-03 -9.999722e-01 -2.757829e-03 -2.457729e-02 -1.162982e-03 2.749836e-03 -9.999955e-01 -6.127237e-02 9.999753e-01 6.931141e-03 -1.143899e-03 -3.321029e-01\n";
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("calib.txt");
        std::fs::write(&path, text).unwrap();
        KittiCalib::object(&path).unwrap()
    }

    #[test]
    fn calibration_reproduces_the_p2_projection() {
        let calib = calib_000134();
        let calibration = calib.calibration(Path::new("test"), (1242, 375)).unwrap();
        calibration.validate().unwrap();
        let k = Matrix3::from_row_slice(&calibration.camera.k());
        let projection = calib.p2_matrix() * calib.velo_to_rect();
        for p in [
            [5.0, 0.0, -1.0],
            [12.0, 3.0, 0.5],
            [30.0, -8.0, -1.5],
            [60.0, 10.0, 2.0],
        ] {
            let expected = projection * Vector4::new(p[0], p[1], p[2], 1.0);
            let expected = [expected.x / expected.z, expected.y / expected.z];
            let camera = Vector3::from(calibration.lidar_to_camera.apply(p));
            let got = k * camera;
            let got = [got.x / got.z, got.y / got.z];
            for axis in 0..2 {
                assert!(
                    (got[axis] - expected[axis]).abs() < 0.05,
                    "{p:?}: {got:?} vs {expected:?}"
                );
            }
        }
    }

    #[test]
    fn parses_raw_drive_timestamps() {
        // 2011-09-26 is day 15243 of the UNIX epoch.
        assert_eq!(
            parse_timestamp("2011-09-26 13:02:25.964389445"),
            Some((15243 * 86_400 + 13 * 3600 + 2 * 60 + 25) * 1_000_000_000 + 964_389_445)
        );
        assert_eq!(parse_timestamp("1970-01-01 00:00:00.5"), Some(500_000_000));
        for bad in [
            "2011-09-26",
            "2011-13-26 13:02:25.9",
            "2011-09-26 13:02:25.",
            "2011-09-26 13:02:25.1234567890",
            "x-09-26 13:02:25.9",
            "2011-09-26 13:02:25.9x",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn label_box_of_a_car_ahead() {
        // A car 10 m ahead on the camera axis, facing along the camera's x
        // (ry = 0), is a car facing -y (right) in the lidar frame.
        let label = Label {
            kind: "Car".into(),
            bbox: [0.0; 4],
            hwl: [1.5, 1.8, 4.0],
            location: [0.0, 1.65, 10.0],
            ry: 0.0,
        };
        let calib = calib_000134();
        let to_velo = calib.velo_to_rect().try_inverse().unwrap();
        let (center, size, yaw) = label_box(&label, &to_velo);
        // About (10 + 0.33, -0.02, -(0.9 + 0.06)): the lidar sits 0.33 m
        // behind and 0.06 m above camera 0.
        assert!((center[0] - 10.33).abs() < 0.1, "{center:?}");
        assert!(
            center[1].abs() < 0.1 && (center[2] + 0.96).abs() < 0.15,
            "{center:?}"
        );
        assert_eq!(size, [4.0, 1.8, 1.5]);
        assert!((yaw + std::f64::consts::FRAC_PI_2).abs() < 1e-12);
    }
}
