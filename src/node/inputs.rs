//! The node's inputs: one subscription per topic of the rig, each message
//! submitted to the runtime as a frame of its sensor, in the spin thread
//! (nothing but the header stamp is read there). With several lidars their
//! scans go through the merge window ([`crate::merge`]), which the spin
//! loop also closes on time ([`Inputs::tick`]). `camera_info` messages are
//! decoded, checked against the rig's intrinsics and counted.
//!
//! Owns the subscription tasks and the merge window; never runs a stage.

use super::present::InputRejects;
use crate::clock::{Clock, MonotonicClock};
use crate::ingest::{InputKind, header_stamp};
use crate::merge::{MergeWindow, MergedFrame};
use crate::msg::CameraInfo;
use crate::output::ObstacleBatch;
use crate::rig::{Rig, SensorKind};
use crate::sched::runtime::{Job, Runtime};
use crate::sched::{Sensor, StageError};
use futures::StreamExt;
use futures::executor::LocalSpawner;
use futures::task::LocalSpawnExt;
use r2r::QosProfile;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

/// One topic the node takes.
pub struct Input {
    pub topic: String,
    pub type_name: &'static str,
    pub role: Role,
}

/// What a topic's messages are to the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Frames of this sensor.
    Frames(Sensor, InputKind),
    /// The camera's `CameraInfo`, checked against the rig's intrinsics.
    CameraInfo(Sensor),
}

/// Every topic of `rig`: the calibration file's rig takes the `node.*`
/// topic parameters (`image`, `points`, `camera_info`), a rig file its own.
pub fn inputs(
    rig: &Rig,
    image: (&'static str, InputKind),
    default_topics: [&str; 3],
) -> Vec<Input> {
    if rig.routes_by_type() {
        let [image_topic, points_topic, info_topic] = default_topics;
        return vec![
            Input {
                topic: image_topic.to_owned(),
                type_name: image.0,
                role: Role::Frames(Sensor::CAMERA, image.1),
            },
            Input {
                topic: points_topic.to_owned(),
                type_name: "sensor_msgs/msg/PointCloud2",
                role: Role::Frames(Sensor::LIDAR, InputKind::PointCloud2),
            },
            Input {
                topic: info_topic.to_owned(),
                type_name: "sensor_msgs/msg/CameraInfo",
                role: Role::CameraInfo(Sensor::CAMERA),
            },
        ];
    }
    let mut inputs = Vec::new();
    for (sensor, s) in rig.all() {
        let (type_name, kind) = match s.kind {
            SensorKind::Camera => image,
            SensorKind::Lidar => ("sensor_msgs/msg/PointCloud2", InputKind::PointCloud2),
        };
        if let Some(topic) = s.data_topic() {
            inputs.push(Input {
                topic: topic.to_owned(),
                type_name,
                role: Role::Frames(sensor, kind),
            });
        }
        if let Some(topic) = &s.topics.camera_info {
            inputs.push(Input {
                topic: topic.clone(),
                type_name: "sensor_msgs/msg/CameraInfo",
                role: Role::CameraInfo(sensor),
            });
        }
    }
    inputs
}

/// The reason a `CameraInfo` that disagrees with the rig is counted under.
pub const DISAGREES_WITH_RIG: &str = "disagrees_with_rig";

/// A `CameraInfo` of `camera`: decoded, and compared with the rig.
fn check_camera_info(rig: &Rig, camera: Sensor, bytes: &[u8]) -> Result<(), StageError> {
    let info = CameraInfo::decode(bytes)?;
    match rig.camera_info_disagreement(camera, (info.width, info.height), &info.k, info.d()) {
        None => Ok(()),
        Some(message) => Err(StageError {
            reason: DISAGREES_WITH_RIG,
            message,
        }),
    }
}

/// What the subscription tasks share with the spin loop (one thread).
pub struct Inputs {
    runtime: Rc<RefCell<Runtime<ObstacleBatch>>>,
    merge: RefCell<Option<MergeWindow>>,
    closed: RefCell<Vec<MergedFrame>>,
    clock: Arc<dyn Clock>,
}

impl Inputs {
    /// With several lidars in `rig`, their scans are merged.
    pub fn new(
        runtime: Rc<RefCell<Runtime<ObstacleBatch>>>,
        rig: &Rig,
        clock: Arc<dyn Clock>,
    ) -> Rc<Self> {
        let lidars: Vec<Sensor> = rig.of_kind(SensorKind::Lidar).collect();
        let merge = (lidars.len() > 1).then(|| MergeWindow::new(lidars, rig.merge_window_ns()));
        Rc::new(Inputs {
            runtime,
            merge: RefCell::new(merge),
            closed: RefCell::new(Vec::new()),
            clock,
        })
    }

    /// A frame of `sensor`: straight to the runtime, or into the merge.
    fn submit(&self, sensor: Sensor, kind: InputKind, bytes: Vec<u8>, received: i64) {
        let arrival = self.clock.now_ns();
        // A header that does not decode gets the arrival as stamp; the
        // stage then fails on the message and counts it.
        let stamp = header_stamp(&bytes).unwrap_or(arrival);
        let mut merge = self.merge.borrow_mut();
        match merge.as_mut().filter(|w| w.merges(sensor)) {
            Some(window) => {
                let runtime = self.runtime.borrow();
                let mut closed = self.closed.borrow_mut();
                window.offer(
                    sensor,
                    stamp,
                    arrival,
                    (bytes, received as u64),
                    &mut |frame| closed.push(frame),
                    &mut |buffer| runtime.recycle(buffer),
                );
            }
            None => {
                self.runtime.borrow_mut().submit(
                    sensor,
                    stamp,
                    Job::single(kind, bytes, received as u64),
                );
            }
        }
        drop(merge);
        self.submit_closed();
    }

    /// The spin loop, between spins: closes a merge whose window is over.
    pub fn tick(&self) {
        if let Some(window) = self.merge.borrow_mut().as_mut() {
            let runtime = self.runtime.borrow();
            let mut closed = self.closed.borrow_mut();
            window.expire(
                self.clock.now_ns(),
                &mut |frame| closed.push(frame),
                &mut |buffer| runtime.recycle(buffer),
            );
        }
        self.submit_closed();
    }

    fn submit_closed(&self) {
        let mut runtime = self.runtime.borrow_mut();
        for frame in self.closed.borrow_mut().drain(..) {
            runtime.submit_merged(frame.sensor, frame.stamp, frame.job, frame.joined);
        }
    }
}

/// Subscribes to every input and spawns its task on `spawner`. A
/// `CameraInfo` that does not decode, or disagrees with the rig's
/// intrinsics of its camera, is counted (by reason) with the camera_info
/// rejects the diagnostics report, and logged the first time.
#[allow(clippy::too_many_arguments)]
pub fn subscribe(
    node: &mut r2r::Node,
    rig: &Rc<Rig>,
    inputs: &[Input],
    qos: &QosProfile,
    shared: &Rc<Inputs>,
    receipt_clock: &MonotonicClock,
    camera_info: &Arc<Mutex<InputRejects>>,
    spawner: &LocalSpawner,
) -> Result<(), r2r::Error> {
    for input in inputs {
        let mut stream = node.subscribe_raw(&input.topic, input.type_name, qos.clone())?;
        match input.role {
            Role::Frames(sensor, kind) => {
                let shared = shared.clone();
                let receipt_clock = receipt_clock.clone();
                let _ = spawner.spawn_local(async move {
                    while let Some(bytes) = stream.next().await {
                        let received = receipt_clock.now_ns();
                        shared.submit(sensor, kind, bytes, received);
                    }
                });
            }
            Role::CameraInfo(camera) => {
                let counters = camera_info.clone();
                let (rig, topic) = (rig.clone(), input.topic.clone());
                let _ = spawner.spawn_local(async move {
                    let mut told = false;
                    while let Some(bytes) = stream.next().await {
                        let verdict = check_camera_info(&rig, camera, &bytes);
                        let mut camera_info = counters.lock().unwrap_or_else(|e| e.into_inner());
                        match verdict {
                            Ok(()) => camera_info.accepted_from(camera.index()),
                            Err(error) => {
                                if !told {
                                    tracing::warn!("{topic}: {error}");
                                    told = true;
                                }
                                camera_info.rejected_from(camera.index(), &error);
                            }
                        }
                    }
                });
            }
        }
    }
    Ok(())
}
