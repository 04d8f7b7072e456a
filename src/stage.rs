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

/// An input that gets a deadline and a stage: an index into the rig's
/// sensor list (`crate::rig`), which names it and says what kind it is.
/// The scheduler only ever uses the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sensor(u8);

impl Sensor {
    /// The most sensors one pipeline serves.
    pub const MAX: usize = 64;
    /// The default rig's camera (one camera, one lidar: the single
    /// calibration file's rig).
    pub const CAMERA: Sensor = Sensor(0);
    /// The default rig's lidar.
    pub const LIDAR: Sensor = Sensor(1);

    /// The sensor at `index` of the rig; `None` past [`Sensor::MAX`].
    pub const fn new(index: usize) -> Option<Sensor> {
        if index < Self::MAX {
            Some(Sensor(index as u8))
        } else {
            None
        }
    }

    /// The first `n` sensors, in rig order.
    pub fn all(n: usize) -> impl Iterator<Item = Sensor> {
        (0..n.min(Self::MAX)).map(|i| Sensor(i as u8))
    }

    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// One input message waiting for its stage, or several merged into one
/// frame (the scans of several lidars, [`Parts`]).
#[derive(Debug)]
pub struct Job {
    pub kind: InputKind,
    /// The serialized message (pooled buffer); with `parts`, the messages
    /// back to back.
    pub bytes: Vec<u8>,
    /// Where the message sat in its bag (or 0 live).
    pub log_time: u64,
    /// Empty: `bytes` is one message of the frame's sensor.
    pub parts: Parts,
}

impl Job {
    /// One message.
    pub fn single(kind: InputKind, bytes: Vec<u8>, log_time: u64) -> Job {
        Job {
            kind,
            bytes,
            log_time,
            parts: Parts::default(),
        }
    }

    /// Each message the job carries with the sensor it came from; `sensor`
    /// is the frame's own (the one a single message is from).
    pub fn messages(&self, sensor: Sensor) -> impl Iterator<Item = (Sensor, &[u8])> {
        let single = self
            .parts
            .is_empty()
            .then_some((sensor, self.bytes.as_slice()));
        let mut start = 0;
        let parts = (0..self.parts.len as usize).map(move |i| {
            let end = self.parts.ends[i] as usize;
            let part = (Sensor(self.parts.sensors[i]), &self.bytes[start..end]);
            start = end;
            part
        });
        single.into_iter().chain(parts)
    }
}

/// Where each message of a merged job ends in its buffer, and its sensor.
/// Fixed size: building one never allocates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Parts {
    len: u8,
    sensors: [u8; Parts::MAX],
    ends: [u32; Parts::MAX],
}

impl Parts {
    /// The most messages one job merges.
    pub const MAX: usize = 8;

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// The next message, from `sensor`, ends at byte `end` of the buffer;
    /// `false` when full (or past 4 GiB).
    pub fn push(&mut self, sensor: Sensor, end: usize) -> bool {
        let i = self.len as usize;
        if i == Self::MAX || end > u32::MAX as usize {
            return false;
        }
        self.sensors[i] = sensor.0;
        self.ends[i] = end as u32;
        self.len += 1;
        true
    }

    /// The sensors merged, as a bit set over their indices.
    pub fn mask(&self) -> u64 {
        self.sensors[..self.len as usize]
            .iter()
            .fold(0, |m, &s| m | 1 << s)
    }
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
    /// The variant of the stage to run (a model ladder's rung, most
    /// accurate first; 0 for a stage with one), chosen by the scheduler.
    pub variant: usize,
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
