//! `lookout synth`: synthetic driving scenes as rosbag2 MCAP, with ground truth.
//!
//! Owns the scene (road, grades, curbs, buildings, moving actors; the kind
//! chosen by [`SceneKind`]: the original town, or the harder street with
//! parked rows, a junction, pedestrian groups and scenery), the camera
//! renderer and the lidar ray caster (its model chosen by [`LidarSpec`]: the
//! default, or the [`LidarSpec::hdl64`] / [`LidarSpec::hdl32`] presets), and
//! writes camera images, camera info, lidar scans and ground-truth obstacles
//! (in the lidar frame, one array per scan; actors only, never scenery)
//! plus the calibration YAML. The default town and lidar never change: their
//! bags stay byte-identical. Same seed and options: byte-identical
//! output on any machine (seeded ChaCha streams per scan and column, rayon
//! work split so results never depend on thread timing, single-threaded
//! compression).

mod camera;
mod lidar;
pub mod rig;
mod scene;

pub use camera::CameraSpec;
pub use lidar::{
    LidarModel, LidarSpec, POINT_STEP as LIDAR_POINT_STEP, point_fields as lidar_point_fields,
};
pub use scene::{ActorState, Route, Scene, SceneKind};

use crate::bag::{BagError, BagWriter, Compression, WriterOptions};
use crate::calibration::{Calibration, CameraCalibration, Extrinsics};
use crate::cdr::CdrWriter;
use crate::msg::{
    CameraInfo, CompressedImage, Detection2D, Detection2DArray, Encode, Header, Image, Obstacle,
    ObstacleArray, ObstacleSource, OwnedHeader, PointCloud2, Time,
};
use nalgebra::Vector3;
use scene::{Part, V3};
use std::path::{Path, PathBuf};
use thiserror::Error;

pub const CAMERA_TOPIC: &str = "/camera/image_raw";
pub const COMPRESSED_TOPIC: &str = "/camera/image_raw/compressed";
pub const CAMERA_INFO_TOPIC: &str = "/camera/camera_info";
pub const LIDAR_TOPIC: &str = "/lidar/points";
pub const TRUTH_TOPIC: &str = "/ground_truth/obstacles";
/// The ego's pose as a vehicle's odometry publishes it: `odom` → the
/// output frame, on `/tf` at every scan of the (first) lidar.
pub const TF_TOPIC: &str = "/tf";
pub const ODOM_FRAME: &str = "odom";
/// 2D ground truth per camera frame: the visible extent of each actor.
pub const CAMERA_TRUTH_TOPIC: &str = "/ground_truth/detections";

/// Scene start: 2023-11-14T22:13:20Z, fixed so bags are reproducible.
pub const START_NS: i64 = 1_700_000_000_000_000_000;
/// Delay from a frame's stamp to its arrival (log time): the lidar publishes
/// once its sweep is complete.
const CAMERA_LATENCY_NS: i64 = 12_000_000;
const LIDAR_LATENCY_NS: i64 = 105_000_000;
/// Ground truth lists actors up to this far from the lidar.
const TRUTH_RANGE: f64 = 120.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum CameraFormat {
    /// sensor_msgs/Image, rgb8.
    #[default]
    Raw,
    /// sensor_msgs/CompressedImage, JPEG (quality 90).
    Jpeg,
    /// sensor_msgs/CompressedImage, PNG.
    Png,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SynthOptions {
    pub seconds: f64,
    /// Which world: the town (default) or the street.
    pub scene: SceneKind,
    pub seed: u64,
    pub camera: CameraSpec,
    pub lidar: LidarSpec,
    pub camera_format: CameraFormat,
    pub compression: Compression,
}

impl Default for SynthOptions {
    fn default() -> Self {
        SynthOptions {
            seconds: 20.0,
            scene: SceneKind::Town,
            seed: 7,
            camera: CameraSpec::default(),
            lidar: LidarSpec::default(),
            camera_format: CameraFormat::Raw,
            compression: Compression::Zstd,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct SynthSummary {
    pub camera_frames: u64,
    pub lidar_scans: u64,
    pub lidar_points: u64,
    pub truth_obstacles: u64,
    pub calibration_path: PathBuf,
}

#[derive(Debug, Error)]
pub enum SynthError {
    #[error(transparent)]
    Bag(#[from] BagError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid synth options: {0}")]
    Options(String),
    #[error("image encoding failed: {0}")]
    Encode(String),
}

/// The calibration matching `options` (the file `synth` writes beside the bag).
pub fn calibration(options: &SynthOptions) -> Calibration {
    let c = &options.camera;
    let optical_from_ego = camera::ego_from_optical().transpose();
    let offset = Vector3::from(c.mount) - Vector3::from(options.lidar.mount);
    Calibration {
        camera: CameraCalibration::pinhole(
            &c.frame_id,
            "synthetic_front",
            (c.width, c.height),
            (c.fx, c.fy),
            (c.cx, c.cy),
        ),
        lidar_to_camera: tidy(Extrinsics::from_rotation(
            &options.lidar.frame_id,
            &c.frame_id,
            &optical_from_ego,
            -(optical_from_ego * offset),
        )),
    }
}

/// Rounds away floating-point dust (`-0.3999999999999999`, `-0.0`) so the
/// calibration file reads as designed.
fn tidy(mut e: Extrinsics) -> Extrinsics {
    let round = |v: f64| (v * 1e9).round() / 1e9 + 0.0;
    e.translation = e.translation.map(round);
    e.rotation_xyzw = e.rotation_xyzw.map(round);
    e
}

/// Where `synth` writes the calibration for a bag at `bag`.
pub fn calibration_path(bag: &Path) -> PathBuf {
    bag.with_extension("calibration.yaml")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    Lidar(u64),
    Camera(u64),
}

/// A lidar besides the main one: its own topic, frame, mount (the ego
/// frame; the vehicle's axes) and rate; the main lidar's model. Rendered by
/// [`rig::synthesize_from_rig`], 30 ms after the lidar before it.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtraLidar {
    pub topic: String,
    pub frame_id: String,
    pub mount: [f64; 3],
    pub rate_hz: f64,
}

impl ExtraLidar {
    /// A front-bumper lidar at 10 Hz, 3.7 m ahead of the vehicle's origin
    /// and 0.6 m up.
    pub fn front() -> Self {
        ExtraLidar {
            topic: "/lidar_front/points".into(),
            frame_id: "lidar_front".into(),
            mount: [3.7, 0.0, 0.6],
            rate_hz: 10.0,
        }
    }
}

/// Where `synth` writes the rig file for a bag with extra lidars.
pub fn rig_path(bag: &Path) -> PathBuf {
    bag.with_extension("rig.yaml")
}

/// The rig of a scene with `extra` lidars: the camera and the main lidar
/// as in [`calibration`], the main lidar's frame as base, each extra lidar
/// at its mount relative to the main one.
pub fn lidars_rig(options: &SynthOptions, extra: &[ExtraLidar]) -> crate::rig::Rig {
    use crate::rig::{LidarMerge, Pose, Rig, RigSensor, SensorKind, Topics};
    let calibration = calibration(options);
    let to_base = calibration.lidar_to_camera.inverse();
    let lidar = |name: &str, topic: &str, frame_id: &str, mount: [f64; 3], rate_hz: f64| {
        let offset = Vector3::from(mount) - Vector3::from(options.lidar.mount);
        RigSensor {
            name: name.to_owned(),
            kind: SensorKind::Lidar,
            topics: Topics {
                points: Some(topic.to_owned()),
                ..Topics::default()
            },
            frame_id: frame_id.to_owned(),
            extrinsics: Some(Pose {
                translation: offset.map(|v| (v * 1e9).round() / 1e9 + 0.0).into(),
                rotation_xyzw: [0.0, 0.0, 0.0, 1.0],
            }),
            intrinsics: None,
            rate_hz,
            schedule: None,
            faults: None,
        }
    };
    let camera_topic = match options.camera_format {
        CameraFormat::Raw => CAMERA_TOPIC,
        _ => COMPRESSED_TOPIC,
    };
    let mut sensors = vec![
        RigSensor {
            name: "camera".into(),
            kind: SensorKind::Camera,
            topics: Topics {
                image: Some(camera_topic.into()),
                camera_info: Some(CAMERA_INFO_TOPIC.into()),
                points: None,
            },
            frame_id: options.camera.frame_id.clone(),
            extrinsics: Some(Pose {
                translation: to_base.translation.map(|v| (v * 1e9).round() / 1e9 + 0.0),
                rotation_xyzw: to_base.rotation_xyzw.map(|v| (v * 1e9).round() / 1e9 + 0.0),
            }),
            intrinsics: Some(calibration.camera.clone()),
            rate_hz: options.camera.rate_hz,
            schedule: None,
            faults: None,
        },
        lidar(
            "lidar",
            LIDAR_TOPIC,
            &options.lidar.frame_id,
            options.lidar.mount,
            options.lidar.rate_hz,
        ),
    ];
    for (i, e) in extra.iter().enumerate() {
        let name = if sensors.iter().any(|s| s.name == e.frame_id) {
            format!("lidar_{}", i + 2)
        } else {
            e.frame_id.clone()
        };
        sensors.push(lidar(&name, &e.topic, &e.frame_id, e.mount, e.rate_hz));
    }
    Rig::new(
        options.lidar.frame_id.clone(),
        LidarMerge::default(),
        sensors,
    )
}

fn validate(options: &SynthOptions) -> Result<(), SynthError> {
    let c = &options.camera;
    let l = &options.lidar;
    let problems = [
        (
            !(options.seconds > 0.0 && options.seconds <= 3600.0),
            "seconds must be in (0, 3600]",
        ),
        (
            c.width == 0 || c.height == 0,
            "camera size must be positive",
        ),
        (
            !(c.rate_hz > 0.0 && l.rate_hz > 0.0),
            "sensor rates must be positive",
        ),
        (
            l.beams == 0 || l.azimuth_steps == 0,
            "lidar needs beams and azimuth steps",
        ),
        (
            !l.elevations_deg.is_empty() && l.elevations_deg.len() != l.beams,
            "lidar elevations must list one angle per beam",
        ),
        (
            !(0.0..=1.0).contains(&l.dropout),
            "dropout must be a probability",
        ),
    ];
    match problems.iter().find(|(bad, _)| *bad) {
        Some((_, message)) => Err(SynthError::Options((*message).to_owned())),
        None => Ok(()),
    }
}

/// Writes a scene to `out` (MCAP) and its calibration beside it.
pub fn synthesize(out: &Path, options: &SynthOptions) -> Result<SynthSummary, SynthError> {
    synthesize_with_progress(out, options, false)
}

/// [`synthesize`], with a progress bar of the sensor frames written when
/// `show_progress` (drawn only on a terminal).
pub fn synthesize_with_progress(
    out: &Path,
    options: &SynthOptions,
    show_progress: bool,
) -> Result<SynthSummary, SynthError> {
    synthesize_rig(out, options, &[], show_progress)
}

/// [`synthesize_with_progress`] with `extra` lidars besides the main one,
/// each on its own topic: the rig of [`lidars_rig`] rendered
/// ([`rig::synthesize_from_rig`]), its file beside the bag ([`rig_path`]).
pub fn synthesize_rig(
    out: &Path,
    options: &SynthOptions,
    extra: &[ExtraLidar],
    show_progress: bool,
) -> Result<SynthSummary, SynthError> {
    if extra.is_empty() {
        return synthesize_one(out, options, show_progress);
    }
    rig::synthesize_from_rig(out, options, &lidars_rig(options, extra), show_progress)
}

/// One camera, one lidar: the calibration file beside the bag.
fn synthesize_one(
    out: &Path,
    options: &SynthOptions,
    show_progress: bool,
) -> Result<SynthSummary, SynthError> {
    validate(options)?;
    let scene = Scene::generate(options.scene, options.seed);
    let camera = camera::Camera::new(options.camera.clone());
    let lidar = lidar::Lidar::new(options.lidar.clone());
    let calibration = calibration(options);

    let mut writer = BagWriter::create(
        out,
        WriterOptions {
            compression: options.compression,
            ..WriterOptions::default()
        },
    )?;
    let image_topic = match options.camera_format {
        CameraFormat::Raw => writer.add_topic(CAMERA_TOPIC, "sensor_msgs/msg/Image")?,
        _ => writer.add_topic(COMPRESSED_TOPIC, "sensor_msgs/msg/CompressedImage")?,
    };
    let info_topic = writer.add_topic(CAMERA_INFO_TOPIC, "sensor_msgs/msg/CameraInfo")?;
    let lidar_topic = writer.add_topic(LIDAR_TOPIC, "sensor_msgs/msg/PointCloud2")?;
    let truth_topic = writer.add_topic(TRUTH_TOPIC, "lookout_msgs/msg/ObstacleArray")?;
    let tf_topic = writer.add_topic(TF_TOPIC, "tf2_msgs/msg/TFMessage")?;
    let camera_truth_topic =
        writer.add_topic(CAMERA_TRUTH_TOPIC, "lookout_msgs/msg/Detection2DArray")?;

    let mut events = Vec::new();
    let camera_period = 1.0 / options.camera.rate_hz;
    let lidar_period = 1.0 / options.lidar.rate_hz;
    let mut k = 0;
    while options.camera.phase + k as f64 * camera_period < options.seconds {
        let t = options.camera.phase + k as f64 * camera_period;
        events.push((to_ns(t) + CAMERA_LATENCY_NS, Event::Camera(k)));
        k += 1;
    }
    let mut k = 0;
    while (k as f64) * lidar_period < options.seconds {
        events.push((
            to_ns(k as f64 * lidar_period) + LIDAR_LATENCY_NS,
            Event::Lidar(k),
        ));
        k += 1;
    }
    events.sort();
    let progress = if show_progress {
        crate::progress::Progress::bar("synth", events.len() as u64, "frames")
    } else {
        crate::progress::Progress::hidden()
    };

    let mut summary = SynthSummary::default();
    let shot = CameraShot {
        camera: &camera,
        calibration: &calibration.camera,
        frame_id: &options.camera.frame_id,
        topics: [image_topic, camera_truth_topic, info_topic],
        format: options.camera_format,
        mount: V3::from(options.camera.mount),
        ego_from_optical: camera::ego_from_optical(),
    };
    let mut frame = FrameBuffers::default();
    let mut sweep = Sweep::default();
    for (log_offset, event) in events {
        progress.inc();
        let log_time = (START_NS + log_offset) as u64;
        match event {
            Event::Camera(k) => {
                let t = options.camera.phase + k as f64 * camera_period;
                shot.write(&scene, t, log_time, &mut frame, &mut writer)?;
                summary.camera_frames += 1;
            }
            Event::Lidar(k) => {
                sweep.cast(&scene, &lidar, options, k);
                let cloud = sweep.cloud(options)?;
                let header = cloud.header;
                // Before the scan, so the pose is there when its output is.
                let pose = ego_transform(header, &sweep.origin, &sweep.world_from_lidar);
                writer.write(tf_topic, log_time, &pose)?;
                writer.write(lidar_topic, log_time, &cloud)?;
                let truth = ground_truth(&scene, &sweep, header);
                summary.truth_obstacles += truth.obstacles.len() as u64;
                writer.write(truth_topic, log_time, &truth)?;
                summary.lidar_scans += 1;
                summary.lidar_points += sweep.count as u64;
            }
        }
    }
    writer.finish()?;
    progress.finish();
    let calibration_path = calibration_path(out);
    std::fs::write(&calibration_path, calibration.to_yaml()).map_err(|source| SynthError::Io {
        path: calibration_path.clone(),
        source,
    })?;
    summary.calibration_path = calibration_path;
    Ok(summary)
}

/// One lidar sweep: the scene at the scan stamp and what the lidar saw.
#[derive(Default)]
struct Sweep {
    stamp: Time,
    states: Vec<ActorState>,
    parts: Vec<Part>,
    points: Vec<u8>,
    hits: Vec<lidar::ActorHits>,
    origin: V3,
    world_from_lidar: nalgebra::Matrix3<f64>,
    count: usize,
}

impl Sweep {
    /// Casts scan `k` of the scene.
    fn cast(&mut self, scene: &Scene, lidar: &lidar::Lidar, options: &SynthOptions, k: u64) {
        let t = k as f64 / options.lidar.rate_hz;
        let mount = V3::from(options.lidar.mount);
        self.cast_at(
            scene,
            lidar,
            options.seed,
            (t, k),
            mount,
            &nalgebra::Matrix3::identity(),
        );
    }

    /// Casts scan `k` at scene time `t` of a lidar at `mount` (ego frame)
    /// turned by `ego_from_lidar`.
    fn cast_at(
        &mut self,
        scene: &Scene,
        lidar: &lidar::Lidar,
        seed: u64,
        (t, k): (f64, u64),
        mount: V3,
        ego_from_lidar: &nalgebra::Matrix3<f64>,
    ) {
        self.stamp = Time::from_nanos(START_NS + to_ns(t));
        scene.actor_states(t, &mut self.states);
        scene.parts(&self.states, &mut self.parts);
        let ego = scene.ego(t);
        self.world_from_lidar = ego.rotation() * ego_from_lidar;
        self.origin = ego.position + ego.rotation() * mount;
        self.hits.clear();
        let seed = seed.wrapping_mul(0xD1B5_4A32_D192_ED03) ^ k;
        self.count = lidar.scan(
            &scene.terrain,
            &self.parts,
            &self.origin,
            &self.world_from_lidar,
            seed,
            &mut self.points,
            &mut self.hits,
        );
    }

    /// The sweep as a PointCloud2 (x, y, z, intensity, ring, time).
    fn cloud<'a>(&'a self, options: &'a SynthOptions) -> Result<PointCloud2<'a>, SynthError> {
        self.cloud_of(&options.lidar.frame_id)
    }

    /// The sweep as a PointCloud2 in frame `frame_id`.
    fn cloud_of<'a>(&'a self, frame_id: &'a str) -> Result<PointCloud2<'a>, SynthError> {
        let n = self.count as u32;
        PointCloud2::new(
            Header {
                stamp: self.stamp,
                frame_id,
            },
            1,
            n,
            &lidar::point_fields(),
            false,
            lidar::POINT_STEP,
            lidar::POINT_STEP * n,
            &self.points,
            true,
        )
        .map_err(|e| SynthError::Options(e.to_string()))
    }
}

/// The first `count` lidar scans of a scene, serialized as PointCloud2
/// (no bag, no camera): fixtures for benchmarks.
pub fn lidar_scans(options: &SynthOptions, count: usize) -> Result<Vec<Vec<u8>>, SynthError> {
    validate(options)?;
    let scene = Scene::generate(options.scene, options.seed);
    let lidar = lidar::Lidar::new(options.lidar.clone());
    let mut sweep = Sweep::default();
    let mut out = Vec::with_capacity(count);
    for k in 0..count as u64 {
        sweep.cast(&scene, &lidar, options, k);
        out.push(sweep.cloud(options)?.to_cdr());
    }
    Ok(out)
}

fn to_ns(seconds: f64) -> i64 {
    (seconds * 1e9).round() as i64
}

/// One camera as the scene is written: where it sits on the vehicle (its
/// mount in the ego frame, its optical axes there), its topics (image, 2D
/// truth, CameraInfo) and how images are stored.
pub(super) struct CameraShot<'a> {
    pub camera: &'a camera::Camera,
    pub calibration: &'a CameraCalibration,
    pub frame_id: &'a str,
    pub topics: [crate::bag::TopicId; 3],
    pub format: CameraFormat,
    pub mount: V3,
    pub ego_from_optical: nalgebra::Matrix3<f64>,
}

/// The buffers every camera frame reuses.
#[derive(Default)]
pub(super) struct FrameBuffers {
    states: Vec<ActorState>,
    parts: Vec<Part>,
    pixels: Vec<u8>,
    actors: Vec<u32>,
    encoded: Vec<u8>,
    cdr: CdrWriter,
}

impl CameraShot<'_> {
    /// Renders the scene at time `t` and writes the image, its 2D truth
    /// and the CameraInfo at `log_time`.
    pub(super) fn write(
        &self,
        scene: &Scene,
        t: f64,
        log_time: u64,
        b: &mut FrameBuffers,
        writer: &mut BagWriter,
    ) -> Result<(), SynthError> {
        let c = self.calibration;
        let size = (c.image_width, c.image_height);
        let pixels = size.0 as usize * size.1 as usize;
        b.pixels.resize(pixels * 3, 0);
        b.actors.resize(pixels, 0);
        let stamp = Time::from_nanos(START_NS + to_ns(t));
        scene.actor_states(t, &mut b.states);
        scene.parts(&b.states, &mut b.parts);
        let ego = scene.ego(t);
        let origin = ego.position + ego.rotation() * self.mount;
        let world_from_optical = ego.rotation() * self.ego_from_optical;
        self.camera.render(
            &scene.terrain,
            &b.parts,
            &origin,
            &world_from_optical,
            &mut b.pixels,
            &mut b.actors,
        );
        let header = Header {
            stamp,
            frame_id: self.frame_id,
        };
        write_image(
            self.format,
            size,
            header,
            &b.pixels,
            &mut b.encoded,
            &mut b.cdr,
        )?;
        writer.write_raw(self.topics[0], log_time, b.cdr.as_bytes())?;
        let states = &b.states;
        let seen = self
            .camera
            .seen_actors(&b.actors, &origin, &world_from_optical, |index| {
                let state = states.iter().find(|s| s.index == index);
                state.map_or([origin; 8], box_corners)
            });
        let truth_2d = Detection2DArray {
            header: OwnedHeader::from(header),
            detections: seen
                .iter()
                .map(|a| Detection2D {
                    label: scene.actors[a.index].class.label().to_owned(),
                    score: 1.0,
                    bbox: a.visible_box,
                    visible: a.visible_share(),
                    id: scene.actors[a.index].id,
                })
                .collect(),
        };
        writer.write(self.topics[1], log_time, &truth_2d)?;
        let info = CameraInfo::new(
            header,
            c.image_width,
            c.image_height,
            &c.distortion_model,
            &c.distortion_coefficients.data,
            c.k(),
            c.r(),
            c.p(),
        )
        .map_err(|e| SynthError::Options(e.to_string()))?;
        writer.write(self.topics[2], log_time, &info)?;
        Ok(())
    }
}

/// An image of `(w, h)` pixels as `format` stores it, into `cdr`.
fn write_image(
    format: CameraFormat,
    (w, h): (u32, u32),
    header: Header<'_>,
    pixels: &[u8],
    encoded: &mut Vec<u8>,
    cdr: &mut CdrWriter,
) -> Result<(), SynthError> {
    match format {
        CameraFormat::Raw => {
            Image {
                header,
                height: h,
                width: w,
                encoding: "rgb8",
                is_bigendian: 0,
                step: w * 3,
                data: pixels,
            }
            .encode_into(cdr);
            return Ok(());
        }
        CameraFormat::Jpeg => {
            encoded.clear();
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut *encoded, 90)
                .encode(pixels, w, h, image::ExtendedColorType::Rgb8)
                .map_err(|e| SynthError::Encode(e.to_string()))?;
        }
        CameraFormat::Png => {
            encoded.clear();
            image::ImageEncoder::write_image(
                image::codecs::png::PngEncoder::new(&mut *encoded),
                pixels,
                w,
                h,
                image::ExtendedColorType::Rgb8,
            )
            .map_err(|e| SynthError::Encode(e.to_string()))?;
        }
    }
    let format = if format == CameraFormat::Jpeg {
        "rgb8; jpeg compressed rgb8"
    } else {
        "rgb8; png compressed rgb8"
    };
    CompressedImage {
        header,
        format,
        data: encoded,
    }
    .encode_into(cdr);
    Ok(())
}

/// Ground truth in the lidar frame at the scan stamp.
/// The pose of `header.frame_id` (at `origin`, turned by `rotation`) in
/// the odometry frame, at `header.stamp`, as one `/tf` message.
pub(crate) fn ego_transform<'a>(
    header: Header<'a>,
    origin: &V3,
    rotation: &nalgebra::Matrix3<f64>,
) -> crate::msg::tf::TfMessage<'a> {
    let q = nalgebra::UnitQuaternion::from_matrix(rotation);
    crate::msg::tf::TfMessage {
        transforms: vec![crate::msg::tf::TransformStamped {
            header: Header {
                stamp: header.stamp,
                frame_id: ODOM_FRAME,
            },
            child_frame_id: header.frame_id,
            translation: [origin.x, origin.y, origin.z],
            rotation_xyzw: [q.i, q.j, q.k, q.w],
        }],
    }
}

fn ground_truth(scene: &Scene, sweep: &Sweep, header: Header<'_>) -> ObstacleArray {
    ground_truth_in(scene, sweep, &sweep.origin, &sweep.world_from_lidar, header)
}

/// The truth of `sweep`'s instant in the frame at `origin` turned by
/// `world_from_lidar` (the sweep's own lidar, or the rig's base), with the
/// sweep's returns as evidence.
fn ground_truth_in(
    scene: &Scene,
    sweep: &Sweep,
    origin: &V3,
    world_from_lidar: &nalgebra::Matrix3<f64>,
    header: Header<'_>,
) -> ObstacleArray {
    let (states, hits) = (&sweep.states, &sweep.hits);
    let lidar_from_world = world_from_lidar.transpose();
    let mut obstacles = Vec::new();
    for state in states {
        let center = lidar_from_world * (state.center - origin);
        if center.xy().norm() > TRUTH_RANGE {
            continue;
        }
        let actor = &scene.actors[state.index];
        let heading = world_from_lidar.column(0);
        let yaw = state.yaw - heading.y.atan2(heading.x);
        let velocity = lidar_from_world * state.velocity;
        let evidence = hits.get(state.index);
        obstacles.push(Obstacle {
            id: actor.id,
            label: actor.class.label().to_owned(),
            score: 1.0,
            source: ObstacleSource::GroundTruth,
            center: center.into(),
            size: state.size.into(),
            yaw: wrap_pi(yaw),
            velocity: velocity.into(),
            point_count: evidence.map_or(0, |h| h.points),
            nearest_distance: evidence.map_or(f32::NAN, |h| h.nearest),
            lidar_stamp: header.stamp,
            camera_stamp: Time::default(),
            latency: f32::NAN,
            ..Obstacle::default()
        });
    }
    obstacles.sort_by_key(|o| o.id);
    ObstacleArray {
        header: OwnedHeader::from(header),
        obstacles,
        degraded: false,
        late: false,
    }
}

/// The 8 world corners of an actor's box.
fn box_corners(state: &ActorState) -> [V3; 8] {
    let (sin, cos) = state.yaw.sin_cos();
    std::array::from_fn(|i| {
        let sign = |bit: usize| if i & bit == 0 { -0.5 } else { 0.5 };
        let (l, w, h) = (
            sign(1) * state.size.x,
            sign(2) * state.size.y,
            sign(4) * state.size.z,
        );
        state.center + V3::new(l * cos - w * sin, l * sin + w * cos, h)
    })
}

fn wrap_pi(a: f64) -> f64 {
    let w = a.rem_euclid(std::f64::consts::TAU);
    if w > std::f64::consts::PI {
        w - std::f64::consts::TAU
    } else {
        w
    }
}
