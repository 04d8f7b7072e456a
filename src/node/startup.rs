//! What the node waits for before it builds its lanes: a rig that leaves
//! sensors' extrinsics to `/tf_static` or cameras' intrinsics to their
//! `CameraInfo` is completed from the first such messages, as replay
//! completes it from a bag. The wait is bounded; a rig still incomplete
//! then is an error naming what never came.
//!
//! Owns the startup subscriptions only (dropped once the rig is complete);
//! never runs a stage.

use crate::msg::CameraInfo;
use crate::msg::tf::TfMessage;
use crate::rig::{Rig, TF_STATIC_TOPIC};
use futures::{FutureExt, StreamExt};
use r2r::QosProfile;
use std::time::{Duration, Instant};

/// How long the node waits for `/tf_static` and the cameras' `CameraInfo`.
pub const STARTUP_WAIT: Duration = Duration::from_secs(15);

/// `rig` completed from the live topics, or why it could not be.
pub fn complete(node: &mut r2r::Node, rig: &mut Rig, qos: &QosProfile) -> Result<(), String> {
    let mut tf = match rig.needs_tf_static() {
        // /tf_static is latched: transient local, reliable.
        true => Some(
            node.subscribe_raw(
                TF_STATIC_TOPIC,
                "tf2_msgs/msg/TFMessage",
                QosProfile::default()
                    .keep_last(100)
                    .reliable()
                    .transient_local(),
            )
            .map_err(|e| format!("{TF_STATIC_TOPIC}: {e}"))?,
        ),
        false => None,
    };
    let mut infos = Vec::new();
    for (camera, topic) in rig.awaiting_camera_info() {
        let stream = node
            .subscribe_raw(topic, "sensor_msgs/msg/CameraInfo", qos.clone())
            .map_err(|e| format!("{topic}: {e}"))?;
        infos.push((camera, topic.to_owned(), stream));
    }
    let mut transforms: Vec<Vec<u8>> = Vec::new();
    let started = Instant::now();
    while tf.is_some() || !infos.is_empty() {
        if started.elapsed() > STARTUP_WAIT {
            let mut missing: Vec<String> = infos.iter().map(|(_, t, _)| t.clone()).collect();
            if tf.is_some() {
                missing.push(format!("{TF_STATIC_TOPIC} (a chain for every sensor)"));
            }
            return Err(format!(
                "after {} s, nothing usable on {}",
                STARTUP_WAIT.as_secs(),
                missing.join(", ")
            ));
        }
        node.spin_once(Duration::from_millis(20));
        if let Some(stream) = tf.as_mut() {
            while let Some(Some(bytes)) = stream.next().now_or_never() {
                transforms.push(bytes);
            }
            if try_tf(rig, &transforms).is_ok() {
                tf = None;
            }
        }
        let mut k = 0;
        while k < infos.len() {
            let (camera, topic, stream) = &mut infos[k];
            let mut done = false;
            if let Some(Some(bytes)) = stream.next().now_or_never() {
                let info = CameraInfo::decode(&bytes).map_err(|e| format!("{topic}: {e}"))?;
                rig.set_intrinsics(*camera, &info)
                    .map_err(|e| format!("{e} ({topic})"))?;
                done = true;
            }
            if done {
                tracing::info!("intrinsics of {} from {topic}", rig.get(*camera).name);
                drop(infos.remove(k));
            } else {
                k += 1;
            }
        }
    }
    Ok(())
}

/// Fills the rig's missing extrinsics from every `/tf_static` message so
/// far, when they chain every sensor to the base frame.
fn try_tf(rig: &mut Rig, messages: &[Vec<u8>]) -> Result<(), String> {
    let mut transforms = Vec::new();
    for data in messages {
        let message = TfMessage::decode(data).map_err(|e| e.to_string())?;
        transforms.extend(message.transforms);
    }
    let mut candidate = rig.clone();
    candidate
        .resolve_tf_static(&transforms)
        .map_err(|e| e.to_string())?;
    *rig = candidate;
    tracing::info!(
        "extrinsics from {TF_STATIC_TOPIC}: {} transforms",
        transforms.len()
    );
    Ok(())
}
