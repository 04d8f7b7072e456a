//! The merge window: the scans of several lidars gathered into one frame,
//! as Autoware's concatenate-and-time-sync does. A set opens with the
//! first scan; a scan of another lidar whose stamp lies within the window
//! of the set's first joins it; the set closes when every lidar is in, when
//! the window has passed since the set opened (a late or silent lidar holds
//! the others back no longer), or when a lidar already in it sends again.
//! A closed set is one [`Job`] whose messages lie back to back, earliest
//! stamp first, submitted as a frame of that earliest lidar with its stamp:
//! the merged frame's deadline is the earliest scan's.
//!
//! Driven with explicit times (the arrival clock), so lockstep replay
//! merges the same sets every run. Owns the open set and its counters;
//! never decodes a scan (the lane does, [`crate::pipeline`]), never reads a
//! clock.

use crate::ingest::InputKind;
use crate::stage::{Job, Parts, Sensor};

/// A closed set, ready to submit.
#[derive(Debug)]
pub struct MergedFrame {
    /// The lidar with the earliest stamp: the frame's sensor.
    pub sensor: Sensor,
    /// The earliest stamp.
    pub stamp: i64,
    pub job: Job,
    /// The other lidars in the set, a bit per sensor index.
    pub joined: u64,
}

/// Per lidar: what became of its scans.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct MergeCounters {
    /// Scans offered.
    pub scans: u64,
    /// Sets that closed with it.
    pub merged: u64,
    /// Sets that closed without it (it was late or silent).
    pub missing: u64,
}

struct Entry {
    lidar: Sensor,
    stamp: i64,
    bytes: Vec<u8>,
    log_time: u64,
}

/// The open set and the lidars it waits for.
pub struct MergeWindow {
    lidars: Vec<Sensor>,
    window_ns: i64,
    /// When the open set opened (arrival clock), if one is open.
    opened: Option<i64>,
    entries: Vec<Entry>,
    counters: Vec<MergeCounters>,
}

impl MergeWindow {
    /// Merges the scans of `lidars` within `window_ns`.
    pub fn new(lidars: Vec<Sensor>, window_ns: i64) -> Self {
        let n = lidars.len();
        MergeWindow {
            lidars,
            window_ns,
            opened: None,
            entries: Vec::with_capacity(n),
            counters: vec![MergeCounters::default(); n],
        }
    }

    /// Whether `sensor` is one of the lidars merged.
    pub fn merges(&self, sensor: Sensor) -> bool {
        self.lidars.contains(&sensor)
    }

    /// When the open set closes unless every lidar comes first.
    pub fn closes_at(&self) -> Option<i64> {
        self.opened.map(|t| t.saturating_add(self.window_ns))
    }

    /// Per lidar (in the order given), what became of its scans.
    pub fn counters(&self) -> impl Iterator<Item = (Sensor, MergeCounters)> + '_ {
        self.lidars
            .iter()
            .copied()
            .zip(self.counters.iter().copied())
    }

    /// A scan of `lidar` stamped `stamp` arrived at `now`, its message in
    /// `bytes` (a pooled buffer). Sets it closes go to `closed` (at most
    /// two: the open one it cannot join, then its own when it completes).
    /// `recycle` takes back the buffers of the scans merged into another's.
    pub fn offer(
        &mut self,
        lidar: Sensor,
        stamp: i64,
        now: i64,
        (bytes, log_time): (Vec<u8>, u64),
        closed: &mut impl FnMut(MergedFrame),
        recycle: &mut impl FnMut(Vec<u8>),
    ) {
        let Some(slot) = self.lidars.iter().position(|&l| l == lidar) else {
            return;
        };
        self.counters[slot].scans += 1;
        if let Some(first) = self.entries.first() {
            let joins = (stamp - first.stamp).abs() <= self.window_ns
                && !self.entries.iter().any(|e| e.lidar == lidar)
                && self.entries.len() < Parts::MAX;
            if !joins {
                self.close(closed, recycle);
            }
        }
        self.opened.get_or_insert(now);
        self.entries.push(Entry {
            lidar,
            stamp,
            bytes,
            log_time,
        });
        if self.entries.len() == self.lidars.len() {
            self.close(closed, recycle);
        }
    }

    /// Closes the open set when its window has passed at `now`.
    pub fn expire(
        &mut self,
        now: i64,
        closed: &mut impl FnMut(MergedFrame),
        recycle: &mut impl FnMut(Vec<u8>),
    ) {
        if self.closes_at().is_some_and(|at| now >= at) {
            self.close(closed, recycle);
        }
    }

    /// Closes the open set, whatever it holds (the input ended).
    pub fn flush(
        &mut self,
        closed: &mut impl FnMut(MergedFrame),
        recycle: &mut impl FnMut(Vec<u8>),
    ) {
        self.close(closed, recycle);
    }

    fn close(&mut self, closed: &mut impl FnMut(MergedFrame), recycle: &mut impl FnMut(Vec<u8>)) {
        self.opened = None;
        if self.entries.is_empty() {
            return;
        }
        for (slot, lidar) in self.lidars.iter().enumerate() {
            if self.entries.iter().any(|e| e.lidar == *lidar) {
                self.counters[slot].merged += 1;
            } else {
                self.counters[slot].missing += 1;
            }
        }
        self.entries
            .sort_unstable_by_key(|e| (e.stamp, e.lidar.index()));
        let mut entries = self.entries.drain(..);
        let first = entries.next().expect("a set holds a scan");
        let (sensor, stamp, log_time) = (first.lidar, first.stamp, first.log_time);
        let mut bytes = first.bytes;
        let mut parts = Parts::default();
        parts.push(sensor, bytes.len());
        let mut joined = 0;
        for entry in entries {
            bytes.extend_from_slice(&entry.bytes);
            parts.push(entry.lidar, bytes.len());
            joined |= 1 << entry.lidar.index();
            recycle(entry.bytes);
        }
        closed(MergedFrame {
            sensor,
            stamp,
            job: Job {
                kind: InputKind::PointCloud2,
                bytes,
                log_time,
                parts,
            },
            joined,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: i64 = 1_000_000;

    fn lidar(i: usize) -> Sensor {
        Sensor::new(i).unwrap()
    }

    fn run(window: &mut MergeWindow, scans: &[(usize, i64, i64)], end: i64) -> Vec<MergedFrame> {
        let mut out = Vec::new();
        for &(i, stamp, now) in scans {
            window.expire(now * MS, &mut |f| out.push(f), &mut drop);
            let bytes = vec![i as u8; 3];
            window.offer(
                lidar(i),
                stamp * MS,
                now * MS,
                (bytes, 0),
                &mut |f| out.push(f),
                &mut drop,
            );
        }
        window.expire(end * MS, &mut |f| out.push(f), &mut drop);
        out
    }

    #[test]
    fn a_complete_set_closes_at_once_earliest_first() {
        let mut window = MergeWindow::new(vec![lidar(1), lidar(2)], 50 * MS);
        let out = run(&mut window, &[(2, 3, 10), (1, 0, 12)], 12);
        assert_eq!(out.len(), 1);
        let f = &out[0];
        assert_eq!((f.sensor, f.stamp, f.joined), (lidar(1), 0, 1 << 2));
        let parts: Vec<_> = f
            .job
            .messages(f.sensor)
            .map(|(s, b)| (s.index(), b.to_vec()))
            .collect();
        assert_eq!(parts, vec![(1, vec![1; 3]), (2, vec![2; 3])]);
        assert_eq!(window.closes_at(), None);
    }

    #[test]
    fn a_silent_lidar_holds_the_others_back_no_longer_than_the_window() {
        let mut window = MergeWindow::new(vec![lidar(1), lidar(2)], 50 * MS);
        // Only lidar 1 speaks, every 100 ms.
        let out = run(
            &mut window,
            &[(1, 0, 10), (1, 100, 110), (1, 200, 210)],
            300,
        );
        assert_eq!(out.len(), 3);
        assert!(out.iter().all(|f| f.joined == 0 && f.job.parts.len() == 1));
        let counters: Vec<_> = window.counters().map(|(_, c)| c).collect();
        assert_eq!(counters[0].merged, 3);
        assert_eq!(counters[1].missing, 3);
        // The second scan found the first set already closed by its window.
        let mut window = MergeWindow::new(vec![lidar(1), lidar(2)], 50 * MS);
        let mut out = Vec::new();
        window.offer(
            lidar(1),
            0,
            10 * MS,
            (vec![1], 0),
            &mut |f| out.push(f),
            &mut drop,
        );
        window.expire(59 * MS, &mut |f| out.push(f), &mut drop);
        assert!(out.is_empty(), "still inside the window");
        window.expire(60 * MS, &mut |f| out.push(f), &mut drop);
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn a_scan_outside_the_window_or_a_repeat_starts_a_new_set() {
        let mut window = MergeWindow::new(vec![lidar(1), lidar(2)], 50 * MS);
        // Lidar 2's scan is stamped 80 ms after lidar 1's: not the same
        // instant. Then lidar 1 twice: the repeat closes the set.
        let out = run(&mut window, &[(1, 0, 10), (2, 80, 20), (2, 120, 125)], 400);
        let sets: Vec<(usize, usize)> = out
            .iter()
            .map(|f| (f.sensor.index(), f.job.parts.len()))
            .collect();
        assert_eq!(sets, vec![(1, 1), (2, 1), (2, 1)]);
    }
}
