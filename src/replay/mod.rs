//! Replaying a bag: the drivers that read a rosbag2 MCAP file, feed its
//! sensor messages to the pipeline and write what comes out to another.
//!
//! - [`check`]: the unscheduled check (`lookout replay` without `--mode`):
//!   every frame decoded and validated, the lidar stage on every scan, a
//!   per-topic summary.
//! - [`scheduled`]: the deadline runtime fed at the bag's pace (lockstep or
//!   realtime), outputs through the output chain into the output bag.
//! - [`observer`], [`tally`]: what a scheduled replay keeps and counts (the
//!   report itself is [`crate::report::run`]'s).
//! - [`score`]: replays that score the lidar stage, the camera detector and
//!   the fused pipeline against the bag's truth.
//! - [`streaming`]: replays scored over time: tracking (MOTA, IDF1,
//!   velocity) and streaming accuracy (the latest output at each instant).
//!
//! Drivers: they sit above the stages, the scheduler and the metrics, and
//! nothing below depends on them.

pub mod check;
pub mod observer;
pub mod scheduled;
pub mod score;
pub mod streaming;
pub mod tally;

pub use crate::report::run::{
    FrameRecord, ScheduledReport, SensorReport, WARM_UP_PASSES, trend_after_warm_up,
};
pub use check::{
    ReplayOptions, ReplayReport, STAMP_WENT_BACKWARDS, StageReport, TopicReport, replay,
};
pub use observer::Observe;
pub use scheduled::{
    Mode, ScheduledReplayError, ScheduledReplayOptions, replay_scheduled, resident_bytes,
    resolve_rig, resolve_tf_static,
};
pub use score::{
    FusedTruth, LidarEvaluation, RigEvaluation, RigTruth, evaluate_camera, evaluate_fused,
    evaluate_lidar, evaluate_rig,
};
pub use streaming::{
    StreamingConfig, StreamingScore, TrackingEvaluation, evaluate_streaming, evaluate_tracking,
};

/// Topic on which replay writes one `lookout_msgs/FrameReport` per input
/// message (the unscheduled check).
pub const FRAME_REPORT_TOPIC: &str = "/lookout/frame_reports";
/// Topic on which replay writes the obstacles of each lidar scan.
pub const OBSTACLES_TOPIC: &str = "/lookout/obstacles";
/// Where a replay writes the other output formats whose topic names are
/// relative (`output.topics`): `/lookout/detections_3d`, ...
pub const OUTPUT_TOPIC_PREFIX: &str = "/lookout/";
/// Topic on which scheduled replay writes the watchdog's status records.
pub const STATUS_TOPIC: &str = "/lookout/status";
