//! Lookout: a real-time perception node for autonomous vehicles.
//!
//! The replay path (no ROS, no GPU) is the embedded default: read a rosbag2
//! MCAP file, decode and validate every frame, run the pipeline, write the
//! outputs to another MCAP file. See `README.md` for the module map.

pub mod bag;
pub mod calibration;
pub mod camera;
pub mod cdr;
pub mod cli;
pub mod clock;
pub mod config;
pub mod docs;
pub mod eval;
pub mod frames;
pub mod fusion;
pub mod gpu;
pub mod import;
pub mod ingest;
pub mod lidar;
pub mod merge;
pub mod msg;
pub mod node;
pub mod obstacle;
pub mod output;
pub mod pipeline;
pub mod progress;
pub mod replay;
pub mod report;
pub mod rig;
pub mod sched;
pub mod stage;
pub mod synth;
pub mod trace;
pub mod track;
pub mod validate;
