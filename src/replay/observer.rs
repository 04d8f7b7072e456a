//! What a scheduled replay keeps besides its output bag, when asked: one
//! record per frame (latency plots), the published obstacles by scan stamp,
//! their score against the bag's ground truth, and the bird's-eye view.
//!
//! Owns the per-frame bookkeeping on the replay's own thread (never on a
//! lane). Reads the typed outputs the lanes hand on: nothing is decoded
//! again, except the ground truth, which comes from the bag.

use crate::obstacle::Obstacle;
use crate::output::ObstacleBatch;
use crate::report::run::FrameRecord;
use crate::sched::core::Timing;
use crate::sched::runtime::Outcome;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Per-frame recording for `--report` and `--bev`; all off by default.
#[derive(Debug, Clone, Default)]
pub struct Observe {
    /// Keep one [`FrameRecord`] per frame (latency plots).
    pub frames: bool,
    /// Keep the published obstacles, by scan stamp, in the report (scoring
    /// in memory).
    pub obstacles: bool,
    /// Score the published lidar obstacles against the ground truth on this
    /// topic (lookout_msgs/msg/ObstacleArray, paired by header stamp), when
    /// the bag has it.
    pub truth_topic: Option<String>,
    /// Write one bird's-eye-view PNG per published lidar frame here.
    pub bev: Option<PathBuf>,
    /// Reads the bytes the allocator has handed out and not got back (the
    /// binary's allocator knows; the library does not): sampled after each
    /// pass of a loop next to resident memory.
    pub heap_probe: Option<fn() -> Option<u64>>,
    /// Advanced once per message read.
    pub progress: crate::progress::Progress,
}

impl Observe {
    fn any(&self) -> bool {
        self.frames || self.obstacles || self.truth_topic.is_some() || self.bev.is_some()
    }
}

pub(super) struct Observer {
    keep_frames: bool,
    keep_obstacles: bool,
    pub frames: Vec<FrameRecord>,
    /// The pipeline clock at the first arrival.
    pub origin: Option<i64>,
    truth_topic: Option<String>,
    /// Ground truth and published lidar obstacles by header stamp.
    truth: BTreeMap<i64, Vec<Obstacle>>,
    pub detections: BTreeMap<i64, Vec<Obstacle>>,
    /// The moment each of `detections` was published (header time), by
    /// scan stamp.
    pub published: BTreeMap<i64, i64>,
    pub bev: Option<crate::report::bev::BevWriter>,
}

impl Observer {
    pub fn new(observe: &Observe) -> Result<Option<Self>, String> {
        if !observe.any() {
            return Ok(None);
        }
        let bev = match &observe.bev {
            Some(dir) => {
                Some(crate::report::bev::BevWriter::start(dir).map_err(|e| e.to_string())?)
            }
            None => None,
        };
        Ok(Some(Observer {
            keep_frames: observe.frames,
            keep_obstacles: observe.obstacles,
            frames: Vec::new(),
            origin: None,
            truth_topic: observe.truth_topic.clone(),
            truth: BTreeMap::new(),
            detections: BTreeMap::new(),
            published: BTreeMap::new(),
            bev,
        }))
    }

    /// A message the pipeline does not take: ground truth is kept.
    pub fn other_message(&mut self, topic: &str, data: &[u8]) {
        if self.truth_topic.as_deref() != Some(topic) {
            return;
        }
        // Truth that does not decode is left out of the scores (the
        // `eval` command reports it); it is not the pipeline's input.
        if let Ok(array) = crate::msg::ObstacleArray::decode(data) {
            let stamp = array.header.stamp.as_nanos();
            let obstacles: Vec<Obstacle> = array.obstacles.iter().map(Obstacle::from_msg).collect();
            if let Some(bev) = &self.bev {
                bev.truth(stamp, obstacles.clone());
            }
            self.truth.insert(stamp, obstacles);
        }
    }

    /// One frame's outcome, and its output when one was handed over (with
    /// the latencies the chain stamped).
    /// `names`: every sensor's, by index.
    pub fn frame(
        &mut self,
        names: &[String],
        timing: &Timing,
        outcome: Outcome,
        run_ns: Option<i64>,
        finished: Option<i64>,
        output: Option<&ObstacleBatch>,
    ) {
        let origin = *self.origin.get_or_insert(timing.arrival);
        if self.keep_frames {
            self.frames.push(FrameRecord {
                sensor: names
                    .get(timing.sensor.index())
                    .cloned()
                    .unwrap_or_default(),
                frame: timing.index,
                t_s: (timing.stamp - origin) as f64 / 1e9,
                outcome: outcome.as_str(),
                run_ms: run_ns.map(|ns| ns as f64 / 1e6),
                end_to_end_ms: finished.map(|f| (f - timing.stamp) as f64 / 1e6),
                variant: run_ns.map(|_| timing.variant),
                budget_ms: run_ns.map(|_| timing.budget_ns as f64 / 1e6),
                lidars: output.map_or_else(Vec::new, |batch| {
                    (0..names.len())
                        .filter(|&i| batch.lidars >> i & 1 == 1)
                        .map(|i| names[i].clone())
                        .collect()
                }),
            });
        }
        let Some(batch) = output else {
            return;
        };
        if let Some(bev) = &self.bev {
            bev.scan(
                batch.stamp,
                &batch.points_x,
                &batch.points_y,
                batch.obstacles.clone(),
            );
        }
        if self.truth_topic.is_some() || self.keep_obstacles {
            self.detections.insert(batch.stamp, batch.obstacles.clone());
            self.published.insert(batch.stamp, batch.published);
        }
    }

    /// Scores the published obstacles of every scan that has truth.
    pub fn accuracy(&self) -> Option<crate::eval::EvalReport> {
        self.truth_topic.as_ref()?;
        let mut evaluator = crate::eval::Evaluator::new(crate::eval::EvalConfig::default());
        let mut scored = 0;
        for (stamp, found) in &self.detections {
            if let Some(expected) = self.truth.get(stamp) {
                evaluator.add_frame(found, expected);
                scored += 1;
            }
        }
        (scored > 0).then(|| evaluator.report())
    }
}
