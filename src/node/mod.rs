//! `lookout node`: the pipeline as a ROS 2 node.
//!
//! - [`params`]: every config knob as a ROS parameter, validated.
//! - [`present`]: RViz markers, the latency overlay and `/diagnostics`.
//! - [`overhead`]: the node's own cost per result.
//! - `ros` (feature `ros2`): the r2r subscriptions, publishers and time.
//!
//! Only `ros` touches r2r, so the rest is built and tested without ROS.

pub mod overhead;
pub mod params;
pub mod present;
#[cfg(feature = "ros2")]
mod ros;

#[cfg(feature = "ros2")]
pub use ros::{NodeError, run};
