//! nuScenes (table layout of the devkit: `DATAROOT/<version>/*.json` and
//! the files under `DATAROOT/samples/`) as a Lookout bag.
//!
//! Owns the tables this import reads (scene, sample, sample_data,
//! calibrated_sensor, sensor, ego_pose, sample_annotation, instance,
//! category, attribute), the `.pcd.bin` point layout, the pose chain
//! between sensor, ego and global frames, and the category mapping.
//!
//! Writes the keyframes of each scene (or of one, `--scene`) in sample
//! order: LIDAR_TOP on `/lidar_top/points` in its native frame (x right,
//! y forward, z up), each of the six cameras as JPEG on
//! `/<channel>/image_raw/compressed` with `/<channel>/camera_info` (a
//! camera a sample lacks is skipped), every message at its own
//! `sample_data` stamp; the truth of each sample in the LIDAR_TOP frame at
//! the scan's stamp; CAM_FRONT's calibration beside the bag, and the rig
//! of LIDAR_TOP and every camera of the first sample (`<bag>.rig.yaml`,
//! base frame LIDAR_TOP; `lookout replay --rig`). Never
//! reads sweeps (non-keyframes), radar, maps or 2D truth (nuScenes has
//! none); never decodes an image, never panics on any input.

use super::{
    CameraImage, ImportError, ImportSummary, Output, Result, check_stride, image_size,
    points_in_box, read_file, require_dir, write_calibration, xyz_points,
};
use crate::calibration::{Calibration, Extrinsics};
use crate::msg::{Header, ObstacleArray, OwnedHeader, Time};
use nalgebra::{Isometry3, Matrix3, Point3, Quaternion, Translation3, UnitQuaternion, Vector3};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub const LIDAR_CHANNEL: &str = "LIDAR_TOP";
pub const LIDAR_TOPIC: &str = "/lidar_top/points";
pub const CAMERA_CHANNELS: [&str; 6] = [
    "CAM_FRONT",
    "CAM_FRONT_LEFT",
    "CAM_FRONT_RIGHT",
    "CAM_BACK",
    "CAM_BACK_LEFT",
    "CAM_BACK_RIGHT",
];
/// The camera whose calibration goes beside the bag.
pub const CALIBRATED_CAMERA: &str = "CAM_FRONT";
/// float32 x, y, z, intensity, ring.
const PCD_STRIDE: usize = 20;
/// float32 x, y, z, intensity + uint16 ring.
const POINT_STEP: usize = 18;

/// The topic of a camera channel's images, e.g. `/cam_front/image_raw/compressed`.
pub fn image_topic(channel: &str) -> String {
    format!("/{}/image_raw/compressed", channel.to_ascii_lowercase())
}

/// The topic of a camera channel's CameraInfo.
pub fn info_topic(channel: &str) -> String {
    format!("/{}/camera_info", channel.to_ascii_lowercase())
}

// --------------------------------------------------------------- tables ---

#[derive(Debug, Deserialize)]
struct Scene {
    token: String,
    name: String,
    first_sample_token: String,
}

#[derive(Debug, Deserialize)]
struct Sample {
    token: String,
    next: String,
}

#[derive(Debug, Deserialize)]
struct SampleData {
    token: String,
    sample_token: String,
    ego_pose_token: String,
    calibrated_sensor_token: String,
    filename: String,
    timestamp: i64,
    is_key_frame: bool,
}

#[derive(Debug, Deserialize)]
struct CalibratedSensor {
    token: String,
    sensor_token: String,
    translation: [f64; 3],
    rotation: [f64; 4],
    #[serde(default)]
    camera_intrinsic: Vec<Vec<f64>>,
}

#[derive(Debug, Deserialize)]
struct Sensor {
    token: String,
    channel: String,
}

#[derive(Debug, Deserialize)]
struct EgoPose {
    token: String,
    translation: [f64; 3],
    rotation: [f64; 4],
}

#[derive(Debug, Deserialize)]
struct SampleAnnotation {
    token: String,
    sample_token: String,
    instance_token: String,
    #[serde(default)]
    attribute_tokens: Vec<String>,
    translation: [f64; 3],
    size: [f64; 3],
    rotation: [f64; 4],
    num_lidar_pts: i64,
}

#[derive(Debug, Deserialize)]
struct Instance {
    token: String,
    category_token: String,
}

#[derive(Debug, Deserialize)]
struct Named {
    token: String,
    name: String,
}

trait Record {
    fn token(&self) -> &str;
}

macro_rules! record {
    ($($t:ty),*) => {$(
        impl Record for $t {
            fn token(&self) -> &str {
                &self.token
            }
        }
    )*};
}
record!(
    Scene,
    Sample,
    SampleData,
    CalibratedSensor,
    Sensor,
    EgoPose,
    SampleAnnotation,
    Instance,
    Named
);

/// One table: its rows in file order and an index by token.
struct Table<T> {
    path: PathBuf,
    rows: Vec<T>,
    index: HashMap<String, usize>,
}

impl<T: Record + DeserializeOwned> Table<T> {
    fn load(version_dir: &Path, name: &str) -> Result<Self> {
        let path = version_dir.join(format!("{name}.json"));
        let bytes = read_file(&path)?;
        let rows: Vec<T> = serde_json::from_slice(&bytes).map_err(|source| ImportError::Json {
            path: path.clone(),
            source,
        })?;
        let index = rows
            .iter()
            .enumerate()
            .map(|(i, r)| (r.token().to_owned(), i))
            .collect();
        Ok(Table { path, rows, index })
    }

    /// The record `token`, referred to by `field` of a record in `from`.
    fn get(&self, token: &str, from: &Path, field: &str) -> Result<&T> {
        self.index
            .get(token)
            .map(|&i| &self.rows[i])
            .ok_or_else(|| ImportError::Dangling {
                path: from.to_path_buf(),
                field: field.to_owned(),
                token: token.to_owned(),
                table: file_name(&self.path),
            })
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map_or(String::new(), |n| n.to_string_lossy().into_owned())
}

/// The tables of one version.
struct Database {
    scene: Table<Scene>,
    sample: Table<Sample>,
    sample_data: Table<SampleData>,
    calibrated_sensor: Table<CalibratedSensor>,
    sensor: Table<Sensor>,
    ego_pose: Table<EgoPose>,
    sample_annotation: Table<SampleAnnotation>,
    instance: Table<Instance>,
    category: Table<Named>,
    attribute: Table<Named>,
}

impl Database {
    fn load(version_dir: &Path) -> Result<Self> {
        require_dir(version_dir)?;
        Ok(Database {
            scene: Table::load(version_dir, "scene")?,
            sample: Table::load(version_dir, "sample")?,
            sample_data: Table::load(version_dir, "sample_data")?,
            calibrated_sensor: Table::load(version_dir, "calibrated_sensor")?,
            sensor: Table::load(version_dir, "sensor")?,
            ego_pose: Table::load(version_dir, "ego_pose")?,
            sample_annotation: Table::load(version_dir, "sample_annotation")?,
            instance: Table::load(version_dir, "instance")?,
            category: Table::load(version_dir, "category")?,
            attribute: Table::load(version_dir, "attribute")?,
        })
    }

    /// The scenes to import: `name`, or all in file order.
    fn scenes(&self, name: Option<&str>) -> Result<Vec<&Scene>> {
        let scenes: Vec<&Scene> = self
            .scene
            .rows
            .iter()
            .filter(|s| name.is_none_or(|n| s.name == n))
            .collect();
        if scenes.is_empty() {
            return Err(ImportError::Invalid {
                path: self.scene.path.clone(),
                detail: match name {
                    Some(n) => format!("no scene named {n:?}"),
                    None => "no scenes".into(),
                },
            });
        }
        Ok(scenes)
    }

    /// The samples of `scene`, following `first_sample_token` and `next`.
    fn samples(&self, scene: &Scene) -> Result<Vec<&Sample>> {
        let mut samples = Vec::new();
        let mut token = scene.first_sample_token.as_str();
        let mut from = (&self.scene.path, "first_sample_token");
        while !token.is_empty() {
            if samples.len() > self.sample.rows.len() {
                return Err(ImportError::Invalid {
                    path: self.sample.path.clone(),
                    detail: format!("the samples of scene {:?} form a cycle", scene.name),
                });
            }
            let sample = self.sample.get(token, from.0, from.1)?;
            samples.push(sample);
            token = &sample.next;
            from = (&self.sample.path, "next");
        }
        Ok(samples)
    }

    fn channel(&self, data: &SampleData) -> Result<&str> {
        let calibrated = self.calibrated(data)?;
        let sensor = self.sensor.get(
            &calibrated.sensor_token,
            &self.calibrated_sensor.path,
            "sensor_token",
        )?;
        Ok(&sensor.channel)
    }

    fn calibrated(&self, data: &SampleData) -> Result<&CalibratedSensor> {
        self.calibrated_sensor.get(
            &data.calibrated_sensor_token,
            &self.sample_data.path,
            "calibrated_sensor_token",
        )
    }

    /// Sensor -> global at the sample_data's time.
    fn sensor_to_global(&self, data: &SampleData) -> Result<Isometry3<f64>> {
        let sensor = self.calibrated(data)?;
        let ego = self.ego_pose.get(
            &data.ego_pose_token,
            &self.sample_data.path,
            "ego_pose_token",
        )?;
        Ok(pose(ego.translation, ego.rotation) * pose(sensor.translation, sensor.rotation))
    }

    /// Category name and attribute names of an annotation.
    fn annotation_names(&self, a: &SampleAnnotation) -> Result<(&str, Vec<&str>)> {
        let from = &self.sample_annotation.path;
        let instance = self
            .instance
            .get(&a.instance_token, from, "instance_token")?;
        let category = self.category.get(
            &instance.category_token,
            &self.instance.path,
            "category_token",
        )?;
        let attributes = a
            .attribute_tokens
            .iter()
            .map(|t| {
                Ok(self
                    .attribute
                    .get(t, from, "attribute_tokens")?
                    .name
                    .as_str())
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((&category.name, attributes))
    }
}

/// A pose from a translation and a `[w, x, y, z]` quaternion.
fn pose(translation: [f64; 3], rotation: [f64; 4]) -> Isometry3<f64> {
    let [w, x, y, z] = rotation;
    Isometry3::from_parts(
        Translation3::from(Vector3::from(translation)),
        UnitQuaternion::from_quaternion(Quaternion::new(w, x, y, z)),
    )
}

/// Lookout's class of a nuScenes category; bicycles and motorcycles count
/// as cyclists only with a rider. Everything else is `unknown`: don't-care.
pub fn class_of(category: &str, attributes: &[&str]) -> &'static str {
    let rider = attributes.contains(&"cycle.with_rider");
    match category {
        "vehicle.car" => "car",
        "vehicle.truck" | "vehicle.trailer" | "vehicle.construction" => "truck",
        c if c.starts_with("vehicle.bus.") || c.starts_with("vehicle.emergency.") => "truck",
        c if c.starts_with("human.pedestrian.") => "pedestrian",
        "vehicle.bicycle" | "vehicle.motorcycle" if rider => "cyclist",
        _ => "unknown",
    }
}

// -------------------------------------------------------------- import ---

/// Imports the keyframes of `scene` (default: every scene) of
/// `dataroot/<version>` into the bag `out`.
pub fn import(
    dataroot: &Path,
    version: &str,
    scene: Option<&str>,
    out_path: &Path,
) -> Result<ImportSummary> {
    require_dir(dataroot)?;
    let db = Database::load(&dataroot.join(version))?;
    let scenes = db.scenes(scene)?;
    let keyframes = keyframes_by_sample(&db);
    let annotations = annotations_by_sample(&db);
    // LIDAR_TOP sweeps at 20 Hz.
    let mut out = Output::create(out_path, 50_000_000)?;
    let mut calibrations: Vec<(&str, Calibration)> = Vec::new();
    for scene in scenes {
        for sample in db.samples(scene)? {
            let frames = keyframes.get(sample.token.as_str()).map_or(&[][..], |v| v);
            let writer = SampleWriter {
                db: &db,
                dataroot,
                annotations: annotations
                    .get(sample.token.as_str())
                    .map_or(&[][..], |v| v),
            };
            let found = writer.write(&mut out, sample, frames)?;
            if calibrations.is_empty() {
                calibrations = found;
            }
        }
    }
    let mut summary = out.finish()?;
    if let Some((_, calibration)) = calibrations.iter().find(|(c, _)| *c == CALIBRATED_CAMERA) {
        summary.calibration_path = Some(write_calibration(out_path, calibration)?);
    }
    if !calibrations.is_empty() {
        summary.rig_path = Some(super::write_rig(out_path, &rig(&calibrations))?);
    }
    Ok(summary)
}

/// LIDAR_TOP (the base frame) and the cameras of `calibrations` (channel,
/// lidar -> camera), as a rig: topics as this import writes them, nominal
/// rates (cameras 12 Hz, the lidar 20 Hz).
fn rig(calibrations: &[(&str, Calibration)]) -> crate::rig::Rig {
    use crate::rig::{LidarMerge, Pose, Rig, RigSensor, SensorKind, Topics};
    let mut sensors: Vec<RigSensor> = calibrations
        .iter()
        .map(|(channel, calibration)| {
            let to_base = calibration.lidar_to_camera.inverse();
            RigSensor {
                name: channel.to_ascii_lowercase(),
                kind: SensorKind::Camera,
                topics: Topics {
                    image: Some(image_topic(channel)),
                    camera_info: Some(info_topic(channel)),
                    points: None,
                },
                frame_id: (*channel).to_owned(),
                extrinsics: Some(Pose {
                    translation: to_base.translation,
                    rotation_xyzw: to_base.rotation_xyzw,
                }),
                intrinsics: Some(calibration.camera.clone()),
                rate_hz: 12.0,
                schedule: None,
                faults: None,
            }
        })
        .collect();
    sensors.push(RigSensor {
        name: LIDAR_CHANNEL.to_ascii_lowercase(),
        kind: SensorKind::Lidar,
        topics: Topics {
            points: Some(LIDAR_TOPIC.to_owned()),
            ..Topics::default()
        },
        frame_id: LIDAR_CHANNEL.to_owned(),
        extrinsics: Some(Pose::IDENTITY),
        intrinsics: None,
        rate_hz: 20.0,
        schedule: None,
        faults: None,
    });
    Rig::new(LIDAR_CHANNEL.to_owned(), LidarMerge::default(), sensors)
}

fn keyframes_by_sample(db: &Database) -> HashMap<&str, Vec<&SampleData>> {
    let mut map: HashMap<&str, Vec<&SampleData>> = HashMap::new();
    for data in db.sample_data.rows.iter().filter(|d| d.is_key_frame) {
        map.entry(&data.sample_token).or_default().push(data);
    }
    map
}

fn annotations_by_sample(db: &Database) -> HashMap<&str, Vec<&SampleAnnotation>> {
    let mut map: HashMap<&str, Vec<&SampleAnnotation>> = HashMap::new();
    for a in &db.sample_annotation.rows {
        map.entry(&a.sample_token).or_default().push(a);
    }
    map
}

/// Writes one sample's keyframes and truth.
struct SampleWriter<'a> {
    db: &'a Database,
    dataroot: &'a Path,
    annotations: &'a [&'a SampleAnnotation],
}

impl SampleWriter<'_> {
    /// Writes the sample; returns each of its cameras' calibrations
    /// (channel, lidar -> camera), in channel order.
    fn write(
        &self,
        out: &mut Output,
        sample: &Sample,
        frames: &[&SampleData],
    ) -> Result<Vec<(&'static str, Calibration)>> {
        let mut by_channel = Vec::new();
        for data in frames {
            by_channel.push((self.db.channel(data)?, *data));
        }
        let find = |channel: &str| by_channel.iter().find(|(c, _)| *c == channel);
        let Some(&(_, lidar)) = find(LIDAR_CHANNEL) else {
            return Err(ImportError::Invalid {
                path: self.db.sample_data.path.clone(),
                detail: format!("sample {:?} has no {LIDAR_CHANNEL} keyframe", sample.token),
            });
        };
        let mut cameras: Vec<_> = by_channel
            .iter()
            .filter(|(c, _)| CAMERA_CHANNELS.contains(c))
            .collect();
        cameras.sort_by_key(|(_, d)| d.timestamp);
        let mut calibrations = Vec::new();
        for &&(channel, data) in &cameras {
            let size = self.write_camera(out, channel, data)?;
            if let Some(&known) = CAMERA_CHANNELS.iter().find(|&&c| c == channel) {
                calibrations.push((known, self.calibration(lidar, data, channel, size)?));
            }
        }
        calibrations.sort_by_key(|(c, _)| CAMERA_CHANNELS.iter().position(|k| k == c));
        self.write_lidar(out, lidar)?;
        Ok(calibrations)
    }

    fn path(&self, data: &SampleData) -> PathBuf {
        self.dataroot.join(&data.filename)
    }

    fn write_lidar(&self, out: &mut Output, data: &SampleData) -> Result<()> {
        let path = self.path(data);
        let bytes = read_file(&path)?;
        check_stride(&path, &bytes, PCD_STRIDE)?;
        let header = Header {
            stamp: stamp(data),
            frame_id: LIDAR_CHANNEL,
        };
        let points = to_cloud_data(&bytes);
        out.cloud(
            LIDAR_TOPIC,
            header,
            // x, y, z, intensity, ring: the synthetic lidar's fields
            // without its per-point time.
            &crate::synth::lidar_point_fields()[..5],
            POINT_STEP as u32,
            &points,
        )?;
        let xyz = xyz_points(&bytes, PCD_STRIDE);
        let truth = self.truth(data, &xyz, header)?;
        out.truth(&truth)
    }

    /// Writes one camera image; returns its size.
    fn write_camera(
        &self,
        out: &mut Output,
        channel: &str,
        data: &SampleData,
    ) -> Result<(u32, u32)> {
        let path = self.path(data);
        let bytes = read_file(&path)?;
        let size = image_size(&path, &bytes)?;
        let k = self.intrinsics(data)?;
        let (topic, info) = (image_topic(channel), info_topic(channel));
        let image = CameraImage {
            topic: &topic,
            info_topic: &info,
            format: "jpeg",
            data: &bytes,
            size,
            k,
            p: [
                k[0], k[1], k[2], 0.0, k[3], k[4], k[5], 0.0, k[6], k[7], k[8], 0.0,
            ],
        };
        let header = Header {
            stamp: stamp(data),
            frame_id: channel,
        };
        out.image(header, &image)?;
        Ok(size)
    }

    /// K, row-major, from `calibrated_sensor.camera_intrinsic`.
    fn intrinsics(&self, data: &SampleData) -> Result<[f64; 9]> {
        let sensor = self.db.calibrated(data)?;
        let rows = &sensor.camera_intrinsic;
        if rows.len() != 3 || rows.iter().any(|r| r.len() != 3) {
            return Err(ImportError::Invalid {
                path: self.db.calibrated_sensor.path.clone(),
                detail: format!(
                    "calibrated_sensor {:?}: camera_intrinsic is not 3x3",
                    sensor.token
                ),
            });
        }
        let mut k = [0.0; 9];
        for (i, v) in rows.iter().flatten().enumerate() {
            k[i] = *v;
        }
        Ok(k)
    }

    /// A camera's calibration: lidar -> ego (lidar time) -> global ->
    /// ego (camera time) -> camera.
    fn calibration(
        &self,
        lidar: &SampleData,
        camera: &SampleData,
        channel: &str,
        size: (u32, u32),
    ) -> Result<Calibration> {
        let camera_from_lidar =
            self.db.sensor_to_global(camera)?.inverse() * self.db.sensor_to_global(lidar)?;
        let k = self.intrinsics(camera)?;
        let rotation: Matrix3<f64> = *camera_from_lidar.rotation.to_rotation_matrix().matrix();
        let lidar_to_camera = Extrinsics::from_rotation(
            LIDAR_CHANNEL,
            channel,
            &rotation,
            camera_from_lidar.translation.vector,
        );
        Ok(super::pinhole_calibration(
            channel,
            &format!("nuscenes_{}", channel.to_ascii_lowercase()),
            size,
            k,
            lidar_to_camera,
        ))
    }

    /// The sample's annotations in the lidar frame, ids 1.. in table order.
    fn truth(
        &self,
        lidar: &SampleData,
        points: &[[f32; 3]],
        header: Header<'_>,
    ) -> Result<ObstacleArray> {
        let lidar_from_global = self.db.sensor_to_global(lidar)?.inverse();
        let mut obstacles = Vec::with_capacity(self.annotations.len());
        for (a, id) in self.annotations.iter().zip(1u32..) {
            let (category, attributes) = self.db.annotation_names(a)?;
            let bbox = annotation_box(a, &lidar_from_global);
            let (center, size, yaw) = bbox;
            let (_, nearest_distance) = points_in_box(points, center, size, yaw);
            // The annotated count: points of the whole keyframe sweep.
            let point_count = a.num_lidar_pts.clamp(0, u32::MAX as i64) as u32;
            obstacles.push(super::truth_obstacle(
                id,
                class_of(category, &attributes),
                bbox,
                (point_count, nearest_distance),
                header.stamp,
            ));
        }
        Ok(ObstacleArray {
            header: OwnedHeader::from(header),
            obstacles,
            degraded: false,
            late: false,
        })
    }
}

/// An annotation's box in the lidar frame: (centre, [l, w, h], yaw of the
/// box's x axis).
fn annotation_box(
    a: &SampleAnnotation,
    lidar_from_global: &Isometry3<f64>,
) -> ([f64; 3], [f64; 3], f64) {
    let center = lidar_from_global * Point3::from(a.translation);
    let rotation = lidar_from_global.rotation * pose([0.0; 3], a.rotation).rotation;
    let heading = rotation * Vector3::x();
    let [w, l, h] = a.size;
    (center.coords.into(), [l, w, h], heading.y.atan2(heading.x))
}

fn stamp(data: &SampleData) -> Time {
    Time::from_nanos(data.timestamp.saturating_mul(1000))
}

/// `.pcd.bin` points (5 x float32) as x, y, z, intensity float32 + ring
/// uint16 (a ring that is no beam number, e.g. NaN, becomes 0).
fn to_cloud_data(bytes: &[u8]) -> Vec<u8> {
    let mut data = Vec::with_capacity(bytes.len() / PCD_STRIDE * POINT_STEP);
    for point in bytes.chunks_exact(PCD_STRIDE) {
        data.extend_from_slice(&point[..16]);
        let ring = f32::from_le_bytes([point[16], point[17], point[18], point[19]]);
        let ring = if ring.is_finite() {
            ring.round().clamp(0.0, u16::MAX as f32) as u16
        } else {
            0
        };
        data.extend_from_slice(&ring.to_le_bytes());
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_map_with_riders() {
        assert_eq!(class_of("vehicle.car", &[]), "car");
        assert_eq!(class_of("vehicle.bus.rigid", &[]), "truck");
        assert_eq!(class_of("vehicle.emergency.police", &[]), "truck");
        assert_eq!(class_of("human.pedestrian.adult", &[]), "pedestrian");
        assert_eq!(
            class_of("vehicle.bicycle", &["cycle.with_rider"]),
            "cyclist"
        );
        assert_eq!(
            class_of("vehicle.motorcycle", &["cycle.without_rider"]),
            "unknown"
        );
        assert_eq!(class_of("movable_object.barrier", &[]), "unknown");
        assert_eq!(class_of("animal", &[]), "unknown");
    }

    #[test]
    fn ring_becomes_u16() {
        let mut point = Vec::new();
        for v in [1.0f32, 2.0, 3.0, 40.0, 17.0] {
            point.extend_from_slice(&v.to_le_bytes());
        }
        let data = to_cloud_data(&point);
        assert_eq!(data.len(), POINT_STEP);
        assert_eq!(&data[..16], &point[..16]);
        assert_eq!(u16::from_le_bytes([data[16], data[17]]), 17);
    }
}
