//! The unscheduled check (`lookout replay` without `--mode`): read a bag,
//! decode and validate every frame, run the lidar stage on every scan, write
//! the outputs, summarize per topic.
//!
//! Owns the replay loop and its per-topic accounting. Decoding is
//! [`crate::ingest`]'s, file access [`crate::bag`]'s. Timing goes through the
//! [`Clock`] it is given. Output bytes depend only on the input bag.

use crate::bag::{Bag, BagError, BagWriter, ReadSummary, WriterOptions};
use crate::clock::Clock;
use crate::ingest::{Ingest, InputKind};
use crate::lidar::{LidarConfig, LidarStage};
use crate::msg::{FrameReport, Header, ObstacleArrayRef, OwnedHeader, Time};
use crate::obstacle::Obstacle;
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::PathBuf;

use super::{FRAME_REPORT_TOPIC, OBSTACLES_TOPIC};

/// Reject key for a frame whose header stamp is older than its predecessor's.
pub const STAMP_WENT_BACKWARDS: &str = "stamp_went_backwards";

#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// Where to write the outputs; none: decode and summarize only.
    pub out: Option<PathBuf>,
    /// Only these topics (all when `None`).
    pub topics: Option<Vec<String>>,
    pub writer: WriterOptions,
    /// The lidar obstacle stage; `None` skips it.
    pub lidar: Option<LidarConfig>,
    /// Advanced once per message read.
    pub progress: crate::progress::Progress,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions {
            out: None,
            topics: None,
            writer: WriterOptions::default(),
            lidar: Some(LidarConfig::default()),
            progress: crate::progress::Progress::hidden(),
        }
    }
}

/// Per-topic accounting.
#[derive(Debug, Clone)]
pub struct TopicReport {
    pub type_name: String,
    pub frames: u64,
    pub accepted: u64,
    /// Rejects by reason key (a [`crate::cdr::RejectReason`] or [`STAMP_WENT_BACKWARDS`]).
    pub rejects: BTreeMap<&'static str, u64>,
    /// Messages of a type Lookout does not decode, or not CDR: passed over.
    pub skipped: u64,
    pub points: u64,
    pub dropped_non_finite: u64,
    /// Decode + validation time per accepted frame, nanoseconds.
    pub decode_ns: Histogram<u64>,
    /// The first reject's full message, for the summary.
    pub first_error: Option<String>,
    last_stamp: Option<i64>,
}

impl TopicReport {
    fn new(type_name: &str) -> Self {
        TopicReport {
            type_name: type_name.to_owned(),
            frames: 0,
            accepted: 0,
            rejects: BTreeMap::new(),
            skipped: 0,
            points: 0,
            dropped_non_finite: 0,
            decode_ns: Histogram::new(3).expect("3 significant figures is a valid precision"),
            first_error: None,
            last_stamp: None,
        }
    }

    pub fn rejected(&self) -> u64 {
        self.rejects.values().sum()
    }

    fn reject(&mut self, key: &'static str, detail: String) {
        *self.rejects.entry(key).or_insert(0) += 1;
        self.first_error.get_or_insert(detail);
    }
}

/// What the lidar stage did over the replay.
#[derive(Debug, Clone)]
pub struct StageReport {
    pub scans: u64,
    pub obstacles: u64,
    /// Processing time per scan, nanoseconds.
    pub time_ns: Histogram<u64>,
}

impl StageReport {
    pub(crate) fn new() -> Self {
        StageReport {
            scans: 0,
            obstacles: 0,
            time_ns: Histogram::new(3).expect("3 significant figures is a valid precision"),
        }
    }
}

#[derive(Debug)]
pub struct ReplayReport {
    pub topics: BTreeMap<String, TopicReport>,
    /// Present when the lidar stage ran.
    pub lidar: Option<StageReport>,
    pub read: ReadSummary,
    /// Set when the bag was damaged: the messages before the damage were replayed.
    pub bag_error: Option<BagError>,
}

impl ReplayReport {
    pub fn total_rejected(&self) -> u64 {
        self.topics.values().map(TopicReport::rejected).sum()
    }

    /// The per-topic summary table.
    pub fn table(&self) -> String {
        let mut out = format!(
            "{:<28} {:<32} {:>7} {:>8} {:>8} {:>9} {:>9}  {}\n",
            "topic",
            "type",
            "frames",
            "accepted",
            "rejected",
            "p50 us",
            "p99 us",
            "rejects by reason"
        );
        for (topic, t) in &self.topics {
            let (p50, p99) = if t.decode_ns.is_empty() {
                ("-".to_owned(), "-".to_owned())
            } else {
                (
                    format!("{:.1}", t.decode_ns.value_at_quantile(0.5) as f64 / 1e3),
                    format!("{:.1}", t.decode_ns.value_at_quantile(0.99) as f64 / 1e3),
                )
            };
            let reasons = if t.skipped > 0 {
                format!("skipped (type not decoded): {}", t.skipped)
            } else {
                t.rejects
                    .iter()
                    .map(|(k, v)| format!("{k}: {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            out.push_str(&format!(
                "{:<28} {:<32} {:>7} {:>8} {:>8} {:>9} {:>9}  {}\n",
                topic,
                t.type_name,
                t.frames,
                t.accepted,
                t.rejected(),
                p50,
                p99,
                reasons
            ));
        }
        for (topic, t) in &self.topics {
            if let Some(e) = &t.first_error {
                out.push_str(&format!("first reject on {topic}: {e}\n"));
            }
            if t.dropped_non_finite > 0 {
                out.push_str(&format!(
                    "{topic}: {} non-finite points dropped\n",
                    t.dropped_non_finite
                ));
            }
        }
        if let Some(lidar) = self.lidar.as_ref().filter(|l| l.scans > 0) {
            out.push_str(&format!(
                "lidar stage: {} scans, {:.1} obstacles/scan, {:.2} ms p50, {:.2} ms p99, {:.2} ms max per scan\n",
                lidar.scans,
                lidar.obstacles as f64 / lidar.scans as f64,
                lidar.time_ns.value_at_quantile(0.5) as f64 / 1e6,
                lidar.time_ns.value_at_quantile(0.99) as f64 / 1e6,
                lidar.time_ns.max() as f64 / 1e6,
            ));
        }
        if self.read.out_of_order > 0 {
            out.push_str(&format!(
                "{} messages were stored out of log-time order\n",
                self.read.out_of_order
            ));
        }
        out
    }
}

/// Replays `bag` once. Errors only when the input cannot be opened at all or
/// the output cannot be written; a damaged bag is reported in
/// [`ReplayReport::bag_error`] after replaying what could be read.
pub fn replay(
    bag: &Bag,
    options: &ReplayOptions,
    clock: &dyn Clock,
) -> Result<ReplayReport, BagError> {
    let mut writer = match &options.out {
        Some(path) => {
            let mut w = BagWriter::create(path, options.writer)?;
            let reports = w.add_topic(
                FRAME_REPORT_TOPIC,
                <FrameReport as crate::msg::MessageType>::TYPE_NAME,
            )?;
            let obstacles = w.add_topic(
                OBSTACLES_TOPIC,
                <ObstacleArrayRef as crate::msg::MessageType>::TYPE_NAME,
            )?;
            Some((w, reports, obstacles))
        }
        None => None,
    };
    let mut stage = match &options.lidar {
        Some(config) => Some(
            LidarStage::new(config.clone()).map_err(|e| BagError::Metadata {
                path: bag.path().to_path_buf(),
                detail: format!("invalid lidar configuration: {e}"),
            })?,
        ),
        None => None,
    };
    let mut lidar_report = stage.as_ref().map(|_| StageReport::new());
    let mut obstacles: Vec<Obstacle> = Vec::new();
    let mut ingest = Ingest::new();
    let mut topics: BTreeMap<String, TopicReport> = BTreeMap::new();
    let mut report = FrameReport::default();
    let mut write_error: Option<BagError> = None;

    let read = bag.read_messages(options.topics.as_deref(), |message| {
        options.progress.inc();
        let stats = match topics.get_mut(message.topic) {
            Some(stats) => stats,
            None => topics
                .entry(message.topic.to_owned())
                .or_insert_with(|| TopicReport::new(message.type_name)),
        };
        stats.frames += 1;
        let kind = InputKind::from_type_name(message.type_name)
            .filter(|_| message.encoding == crate::bag::MESSAGE_ENCODING);
        let Some(kind) = kind else {
            stats.skipped += 1;
            return ControlFlow::Continue(());
        };
        let started = clock.now_ns();
        let outcome = ingest.ingest(kind, message.data);
        let elapsed = (clock.now_ns() - started).max(0) as u64;
        fill_report(&mut report, message.topic, message.type_name);
        match outcome {
            Ok((facts, frame_id)) => {
                report.header.stamp = Time::from_nanos(facts.stamp);
                report.header.frame_id.push_str(frame_id);
                report.width = facts.width;
                report.height = facts.height;
                report.point_count = facts.point_count;
                if stats.last_stamp.is_some_and(|last| facts.stamp < last) {
                    let detail = format!(
                        "header stamp {} ns is older than the previous frame's {} ns",
                        facts.stamp,
                        stats.last_stamp.unwrap_or_default()
                    );
                    report.reject_reason.push_str(STAMP_WENT_BACKWARDS);
                    report.detail.push_str(&detail);
                    stats.reject(STAMP_WENT_BACKWARDS, detail);
                } else {
                    stats.last_stamp = Some(facts.stamp);
                    stats.accepted += 1;
                    stats.points += facts.point_count as u64;
                    stats.dropped_non_finite += facts.dropped_non_finite as u64;
                    let _ = stats.decode_ns.record(elapsed.max(1));
                    report.accepted = true;
                }
            }
            Err(error) => {
                report.reject_reason.push_str(error.reason().as_str());
                report.detail.push_str(&error.to_string());
                stats.reject(error.reason().as_str(), error.to_string());
            }
        }
        if let Some((w, topic, _)) = writer.as_mut()
            && let Err(e) = w.write(*topic, message.log_time, &report)
        {
            write_error = Some(e);
            return ControlFlow::Break(());
        }
        if let (InputKind::PointCloud2, true, Some(stage), Some(lidar)) =
            (kind, report.accepted, stage.as_mut(), lidar_report.as_mut())
        {
            let started = clock.now_ns();
            stage.process(ingest.scan(), &mut obstacles);
            let _ = lidar
                .time_ns
                .record(((clock.now_ns() - started).max(1)) as u64);
            lidar.scans += 1;
            lidar.obstacles += obstacles.len() as u64;
            let scan = ingest.scan();
            let array = ObstacleArrayRef {
                header: Header {
                    stamp: Time::from_nanos(scan.stamp),
                    frame_id: &scan.frame_id,
                },
                obstacles: &obstacles,
                degraded: false,
                late: false,
            };
            if let Some((w, _, topic)) = writer.as_mut()
                && let Err(e) = w.write(*topic, message.log_time, &array)
            {
                write_error = Some(e);
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    });
    options.progress.finish();
    if let Some(e) = write_error {
        return Err(e);
    }
    if let Some((w, _, _)) = writer {
        w.finish()?;
    }
    let (read, bag_error) = match read {
        Ok(read) => (read, None),
        Err(e) => (ReadSummary::default(), Some(e)),
    };
    Ok(ReplayReport {
        topics,
        lidar: lidar_report,
        read,
        bag_error,
    })
}

/// Resets `report` for a new message, keeping its string allocations.
fn fill_report(report: &mut FrameReport, topic: &str, type_name: &str) {
    report.header = OwnedHeader {
        stamp: Time::default(),
        frame_id: std::mem::take(&mut report.header.frame_id),
    };
    report.header.frame_id.clear();
    report.topic.clear();
    report.topic.push_str(topic);
    report.message_type.clear();
    report.message_type.push_str(type_name);
    report.accepted = false;
    report.reject_reason.clear();
    report.detail.clear();
    report.width = 0;
    report.height = 0;
    report.point_count = 0;
}
