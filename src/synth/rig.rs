//! A whole rig synthesized: every camera and lidar of a rig file rendered
//! from one scene, each on its topics, with the 3D truth in the rig's base
//! frame and each camera's 2D truth on a topic of its own
//! ([`camera_truth_topic`]).
//!
//! The base frame sits where the synthetic vehicle's roof lidar sits (the
//! options' lidar mount), with the vehicle's axes; each sensor is placed by
//! its extrinsics from there. Cameras take their size and pinhole from the
//! rig's intrinsics and fire with the first lidar ([`CAMERA_STAGGER_S`]);
//! lidars are the options' lidar model at the rig's rate, each 30 ms after
//! the one before it.
//! Owns the rendering of a rig; the single-camera scene stays
//! [`super::synthesize`]'s.

use super::camera::{Camera, CameraSpec};
use super::lidar::{Lidar, LidarSpec};
use super::scene::{Scene, V3};
use super::{
    CAMERA_LATENCY_NS, CameraFormat, CameraShot, FrameBuffers, LIDAR_LATENCY_NS, START_NS, Sweep,
    SynthError, SynthOptions, SynthSummary, TRUTH_TOPIC, ground_truth_in, to_ns, validate,
};
use crate::bag::{BagWriter, TopicId, WriterOptions};
use crate::calibration::CameraCalibration;
use crate::msg::{Header, Time};
use crate::rig::{Rig, RigSensor, SensorKind};
use nalgebra::Matrix3;
use std::path::Path;

/// Each further lidar scans this much after the one before it (s).
const LIDAR_STAGGER_S: f64 = 0.03;
/// Camera `c` of a rig fires this much after the first lidar's scan
/// instant, times `c + 1` (s): a ring of cameras triggered by the roof
/// lidar, as on nuScenes' and Waymo's vehicles, so that the scan and the
/// images see the same moment (the synthetic sweep is instantaneous). An
/// unsynchronized camera 40-80 ms off the scan sees close objects beside a
/// moving vehicle a metre away from where the scan put them.
const CAMERA_STAGGER_S: f64 = 0.002;

/// The 2D truth topic of the camera named `name`.
pub fn camera_truth_topic(name: &str) -> String {
    format!("/ground_truth/{name}/detections")
}

struct RigCamera<'r> {
    sensor: &'r RigSensor,
    calibration: &'r CameraCalibration,
    camera: Camera,
    /// Mount in the ego frame and the optical frame's axes in it.
    mount: V3,
    ego_from_optical: Matrix3<f64>,
    phase: f64,
    /// Image, 2D truth, CameraInfo.
    topics: [TopicId; 3],
}

struct RigLidar<'r> {
    sensor: &'r RigSensor,
    phase: f64,
    lidar: Lidar,
    mount: V3,
    ego_from_lidar: Matrix3<f64>,
    topic: TopicId,
    seed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    Lidar(usize, u64),
    Camera(usize, u64),
}

/// Where a sensor sits in the ego frame, and its axes there.
fn placement(options: &SynthOptions, sensor: &RigSensor) -> (V3, Matrix3<f64>) {
    let pose = sensor
        .extrinsics
        .as_ref()
        .unwrap_or(&crate::rig::Pose::IDENTITY);
    let extrinsics = crate::calibration::Extrinsics {
        parent_frame: String::new(),
        child_frame: String::new(),
        translation: pose.translation,
        rotation_xyzw: pose.rotation_xyzw,
    };
    let base = V3::from(options.lidar.mount);
    (
        base + extrinsics.translation(),
        extrinsics.rotation_matrix(),
    )
}

fn camera_spec(sensor: &RigSensor, c: &CameraCalibration) -> CameraSpec {
    let k = c.k();
    CameraSpec {
        frame_id: sensor.frame_id.clone(),
        width: c.image_width,
        height: c.image_height,
        fx: k[0],
        fy: k[4],
        cx: k[2],
        cy: k[5],
        rate_hz: sensor.rate_hz,
        ..CameraSpec::default()
    }
}

/// Renders every sensor of `rig` for `options.seconds` of `options.scene`
/// into `out`, and writes the rig beside it ([`super::rig_path`]).
pub fn synthesize_from_rig(
    out: &Path,
    options: &SynthOptions,
    rig: &Rig,
    show_progress: bool,
) -> Result<SynthSummary, SynthError> {
    validate(options)?;
    rig.validate()
        .map_err(|e| SynthError::Options(format!("rig: {e}")))?;
    if let Some(i) = rig.sensors.iter().position(|s| s.extrinsics.is_none()) {
        return Err(SynthError::Options(format!(
            "rig: sensors[{i}].extrinsics: synth places every sensor by its extrinsics"
        )));
    }
    let scene = Scene::generate(options.scene, options.seed);
    let mut writer = BagWriter::create(
        out,
        WriterOptions {
            compression: options.compression,
            ..WriterOptions::default()
        },
    )?;
    let image_type = match options.camera_format {
        CameraFormat::Raw => "sensor_msgs/msg/Image",
        _ => "sensor_msgs/msg/CompressedImage",
    };
    let mut cameras = Vec::new();
    let mut lidars = Vec::new();
    for sensor in &rig.sensors {
        let (mount, axes) = placement(options, sensor);
        match (sensor.kind, &sensor.intrinsics) {
            (SensorKind::Camera, Some(calibration)) => {
                let image =
                    writer.add_topic(sensor.data_topic().unwrap_or_default(), image_type)?;
                let info = writer.add_topic(
                    sensor
                        .topics
                        .camera_info
                        .as_deref()
                        .unwrap_or("/camera_info"),
                    "sensor_msgs/msg/CameraInfo",
                )?;
                let truth = writer.add_topic(
                    &camera_truth_topic(&sensor.name),
                    "lookout_msgs/msg/Detection2DArray",
                )?;
                cameras.push(RigCamera {
                    sensor,
                    calibration,
                    camera: Camera::new(camera_spec(sensor, calibration)),
                    mount,
                    ego_from_optical: axes,
                    phase: (cameras.len() + 1) as f64 * CAMERA_STAGGER_S,
                    topics: [image, truth, info],
                });
            }
            (SensorKind::Camera, None) => {}
            (SensorKind::Lidar, _) => {
                let spec = LidarSpec {
                    frame_id: sensor.frame_id.clone(),
                    rate_hz: sensor.rate_hz,
                    ..options.lidar.clone()
                };
                lidars.push(RigLidar {
                    sensor,
                    phase: lidars.len() as f64 * LIDAR_STAGGER_S,
                    lidar: Lidar::new(spec),
                    mount,
                    ego_from_lidar: axes,
                    topic: writer.add_topic(
                        sensor.data_topic().unwrap_or_default(),
                        "sensor_msgs/msg/PointCloud2",
                    )?,
                    seed: options.seed ^ ((lidars.len() as u64) << 40),
                });
            }
        }
    }
    let truth_topic = writer.add_topic(TRUTH_TOPIC, "lookout_msgs/msg/ObstacleArray")?;
    let tf_topic = writer.add_topic(super::TF_TOPIC, "tf2_msgs/msg/TFMessage")?;
    write_tf_static(&mut writer, rig)?;
    let events = schedule(options, &cameras, &lidars);
    let progress = if show_progress {
        crate::progress::Progress::bar("synth", events.len() as u64, "frames")
    } else {
        crate::progress::Progress::hidden()
    };
    let mut summary = SynthSummary::default();
    let (mut frame, mut sweep) = (FrameBuffers::default(), Sweep::default());
    for (log_offset, event) in events {
        progress.inc();
        let log_time = (START_NS + log_offset) as u64;
        match event {
            Event::Camera(c, k) => {
                let camera = &cameras[c];
                let t = camera.phase + k as f64 / camera.sensor.rate_hz;
                let shot = CameraShot {
                    camera: &camera.camera,
                    calibration: camera.calibration,
                    frame_id: &camera.sensor.frame_id,
                    topics: camera.topics,
                    format: options.camera_format,
                    mount: camera.mount,
                    ego_from_optical: camera.ego_from_optical,
                };
                shot.write(&scene, t, log_time, &mut frame, &mut writer)?;
                summary.camera_frames += 1;
            }
            Event::Lidar(l, k) => {
                let lidar = &lidars[l];
                let t = lidar.phase + k as f64 / lidar.sensor.rate_hz;
                sweep.cast_at(
                    &scene,
                    &lidar.lidar,
                    lidar.seed,
                    (t, k),
                    lidar.mount,
                    &lidar.ego_from_lidar,
                );
                let cloud = sweep.cloud_of(&lidar.sensor.frame_id)?;
                // The first lidar's scans carry the base frame's pose (on
                // /tf, before the scan) and the truth in the base frame,
                // with its returns as the evidence.
                let ego = scene.ego(t);
                let base = ego.position + ego.rotation() * V3::from(options.lidar.mount);
                let header = Header {
                    stamp: sweep.stamp,
                    frame_id: &rig.base_frame,
                };
                if l == 0 {
                    let pose = super::ego_transform(header, &base, &ego.rotation());
                    writer.write(tf_topic, log_time, &pose)?;
                }
                writer.write(lidar.topic, log_time, &cloud)?;
                summary.lidar_scans += 1;
                summary.lidar_points += sweep.count as u64;
                if l == 0 {
                    let truth = ground_truth_in(&scene, &sweep, &base, &ego.rotation(), header);
                    summary.truth_obstacles += truth.obstacles.len() as u64;
                    writer.write(truth_topic, log_time, &truth)?;
                }
            }
        }
    }
    writer.finish()?;
    progress.finish();
    let path = super::rig_path(out);
    std::fs::write(&path, rig.to_yaml()).map_err(|source| SynthError::Io {
        path: path.clone(),
        source,
    })?;
    summary.calibration_path = path;
    Ok(summary)
}

/// The rig's extrinsics as the vehicle publishes them: one `/tf_static`
/// message before anything else, each sensor's frame a child of the base
/// frame.
fn write_tf_static(writer: &mut BagWriter, rig: &Rig) -> Result<(), SynthError> {
    use crate::msg::tf::{TfMessage, TransformStamped};
    let topic = writer.add_topic(crate::rig::TF_STATIC_TOPIC, "tf2_msgs/msg/TFMessage")?;
    let transforms = rig
        .sensors
        .iter()
        .filter(|s| s.frame_id != rig.base_frame)
        .filter_map(|s| {
            let pose = s.extrinsics.as_ref()?;
            Some(TransformStamped {
                header: Header {
                    stamp: Time::from_nanos(START_NS),
                    frame_id: &rig.base_frame,
                },
                child_frame_id: &s.frame_id,
                translation: pose.translation,
                rotation_xyzw: pose.rotation_xyzw,
            })
        })
        .collect();
    writer.write(topic, START_NS as u64, &TfMessage { transforms })?;
    Ok(())
}

/// Every frame of every sensor, by arrival (log time offset).
fn schedule(
    options: &SynthOptions,
    cameras: &[RigCamera<'_>],
    lidars: &[RigLidar<'_>],
) -> Vec<(i64, Event)> {
    let mut events = Vec::new();
    for (c, camera) in cameras.iter().enumerate() {
        let period = 1.0 / camera.sensor.rate_hz;
        let mut k = 0;
        while camera.phase + k as f64 * period < options.seconds {
            let t = camera.phase + k as f64 * period;
            events.push((to_ns(t) + CAMERA_LATENCY_NS, Event::Camera(c, k)));
            k += 1;
        }
    }
    for (l, lidar) in lidars.iter().enumerate() {
        let period = 1.0 / lidar.sensor.rate_hz;
        let mut k = 0;
        while lidar.phase + (k as f64) * period < options.seconds {
            let t = lidar.phase + k as f64 * period;
            events.push((to_ns(t) + LIDAR_LATENCY_NS, Event::Lidar(l, k)));
            k += 1;
        }
    }
    events.sort();
    events
}
