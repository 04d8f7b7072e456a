//! What a stage is, for the scheduler and the lanes that run it: the input
//! sensors, the job (one serialized message), the run context (stamp,
//! deadline, clock), the stage error, and the [`Work`] trait a lane's stages
//! implement, with the typed output they hand on.
//!
//! Owns these types only. Never depends on a concrete stage (camera, lidar,
//! fusion) nor on the scheduler: both sides depend on this module.

use crate::cdr::DecodeError;
use crate::clock::Clock;
use crate::ingest::{FrameFacts, InputKind};

/// The inputs that get a deadline and a stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Sensor {
    Camera = 0,
    Lidar = 1,
}

impl Sensor {
    pub const ALL: [Sensor; 2] = [Sensor::Camera, Sensor::Lidar];

    pub fn name(self) -> &'static str {
        match self {
            Sensor::Camera => "camera",
            Sensor::Lidar => "lidar",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// One input message waiting for its stage.
#[derive(Debug)]
pub struct Job {
    pub kind: InputKind,
    /// The serialized message (pooled buffer).
    pub bytes: Vec<u8>,
    /// Where the message sat in its bag (or 0 live).
    pub log_time: u64,
}

/// Why a stage failed on a frame: `reason` is a short stable key to count by
/// (a [`crate::cdr::RejectReason`] for input the decoders rejected,
/// [`StageError::STAGE`] for a stage's own failure); `message` says what
/// exactly, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct StageError {
    pub reason: &'static str,
    pub message: String,
}

impl StageError {
    /// The key of a stage's own failure (an engine error, an injected fault).
    pub const STAGE: &'static str = "stage_error";
    /// The key of a frame no lane could take.
    pub const NO_LANE: &'static str = "no_lane";

    pub fn stage(message: impl Into<String>) -> Self {
        StageError {
            reason: Self::STAGE,
            message: message.into(),
        }
    }
}

impl From<DecodeError> for StageError {
    fn from(e: DecodeError) -> Self {
        StageError {
            reason: e.reason().as_str(),
            message: e.to_string(),
        }
    }
}

/// What a stage knows about the frame it runs besides the message: its
/// header stamp and deadline, and the pipeline's clock (a stage that may
/// wait, like fusion for its camera frame, waits on it and never past the
/// deadline).
pub struct RunContext<'a> {
    pub stamp: i64,
    pub deadline: i64,
    pub clock: &'a dyn Clock,
}

/// A lane's stage work. `run` computes; `output` hands the last result on
/// to the output chain once the runtime has decided to publish it.
pub trait Work: Send + 'static {
    /// One frame's result as the output chain receives it. Values are
    /// recycled (the chain hands them back, [`crate::sched::runtime::Runtime::recycle_output`]),
    /// so filling one allocates nothing after warm-up.
    type Output: Default + Send + 'static;

    fn run(
        &mut self,
        sensor: Sensor,
        job: &Job,
        context: &RunContext<'_>,
    ) -> Result<FrameFacts, StageError>;

    /// Moves the last result of `sensor` into `out` (a recycled value);
    /// `false` when the stage hands nothing on. `finished` is when its run
    /// ended, on the pipeline clock; `degraded`: the watchdog says ERROR.
    fn output(
        &mut self,
        sensor: Sensor,
        finished: i64,
        degraded: bool,
        out: &mut Self::Output,
    ) -> bool;
}
