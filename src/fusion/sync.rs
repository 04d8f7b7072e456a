//! Camera results shared between lanes and paired with lidar scans by time.
//!
//! A camera lane announces a frame when its stage starts ([`CameraResults::begin`])
//! and stores the detections when it ends ([`CameraResults::put`]); a lidar
//! lane asks for the result nearest its scan's stamp within a tolerance
//! ([`CameraResults::nearest`]). If the matching frame is still being
//! detected, the lidar lane may wait for it, but never past the instant it
//! is given (its scan's deadline less the fusion step): then it goes on
//! lidar-only.
//!
//! A fixed ring of slots whose detection buffers are reused: after warm-up
//! nothing allocates. The lock is held only to copy a frame's detections
//! (a few hundred bytes), never across a stage.

use crate::camera::Detection2d;
use crate::clock::Clock;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// Camera frames kept for pairing (at 30 Hz, a quarter second).
pub const SLOTS: usize = 8;

#[derive(Debug, Default, Clone)]
struct Slot {
    /// Header stamp (pipeline clock, ns) of the frame, the camera's offset
    /// already applied; `None` when empty.
    stamp: Option<i64>,
    /// False while the frame's detector runs.
    done: bool,
    image_size: (u32, u32),
    detections: Vec<Detection2d>,
}

#[derive(Debug, Default)]
struct Ring {
    slots: [Slot; SLOTS],
    next: usize,
}

/// What [`CameraResults::nearest`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pairing {
    /// The detections of the frame stamped `stamp` (image `width x height`)
    /// were copied out.
    Paired { stamp: i64, image_size: (u32, u32) },
    /// No camera frame within the tolerance.
    NoFrame,
    /// A frame within the tolerance was still being detected when the wait
    /// limit came: lidar-only.
    TimedOut,
    /// The paired frame's image size is not the calibrated camera's: its
    /// detections cannot be projected onto (set by the fusion step).
    ImageSizeMismatch,
}

#[derive(Debug)]
pub struct CameraResults {
    ring: Mutex<Ring>,
    finished: Condvar,
    max_detections: usize,
}

impl CameraResults {
    /// Room for `max_detections` per frame (the detector's cap) is taken
    /// now, so storing and pairing frames never allocates.
    pub fn new(max_detections: usize) -> Self {
        let mut ring = Ring::default();
        for slot in &mut ring.slots {
            slot.detections.reserve_exact(max_detections);
        }
        CameraResults {
            ring: Mutex::new(ring),
            finished: Condvar::new(),
            max_detections,
        }
    }

    /// The most detections a frame holds without allocating.
    pub fn max_detections(&self) -> usize {
        self.max_detections
    }

    fn lock(&self) -> MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A camera frame stamped `stamp` enters its detector. A frame with the
    /// same stamp already held (republished, or a replayed bag looping) is
    /// replaced, so a stamp never pairs with stale detections.
    pub fn begin(&self, stamp: i64) {
        let mut ring = self.lock();
        let i = match ring.slots.iter().position(|s| s.stamp == Some(stamp)) {
            Some(i) => i,
            None => {
                let i = ring.next;
                ring.next = (i + 1) % SLOTS;
                i
            }
        };
        let slot = &mut ring.slots[i];
        slot.stamp = Some(stamp);
        slot.done = false;
        slot.detections.clear();
    }

    /// The frame stamped `stamp` is done: its detections, for an image of
    /// `image_size`. It replaces whatever the slot of that stamp held; a
    /// frame never begun (or already overwritten) takes a slot of its own.
    pub fn put(&self, stamp: i64, image_size: (u32, u32), detections: &[Detection2d]) {
        let mut ring = self.lock();
        let i = match ring.slots.iter().position(|s| s.stamp == Some(stamp)) {
            Some(i) => i,
            None => {
                let i = ring.next;
                ring.next = (i + 1) % SLOTS;
                i
            }
        };
        let slot = &mut ring.slots[i];
        slot.stamp = Some(stamp);
        slot.done = true;
        slot.image_size = image_size;
        slot.detections.clear();
        slot.detections.extend_from_slice(detections);
        drop(ring);
        self.finished.notify_all();
    }

    /// A frame whose detector failed: it will never be done.
    pub fn abandon(&self, stamp: i64) {
        let mut ring = self.lock();
        if let Some(slot) = ring
            .slots
            .iter_mut()
            .find(|s| s.stamp == Some(stamp) && !s.done)
        {
            slot.stamp = None;
        }
        drop(ring);
        self.finished.notify_all();
    }

    /// Copies into `out` the detections of the camera frame nearest
    /// `stamp` within `tolerance_ns`. When the nearest such frame is still
    /// being detected, waits for it until `until_ns` on `clock` (the
    /// scan's deadline less the fusion step; now or earlier never waits).
    pub fn nearest(
        &self,
        stamp: i64,
        tolerance_ns: i64,
        clock: &dyn Clock,
        until_ns: i64,
        out: &mut Vec<Detection2d>,
    ) -> Pairing {
        out.clear();
        let mut ring = self.lock();
        loop {
            if let Some(pairing) = pick(&ring, stamp, tolerance_ns, out) {
                return pairing;
            }
            let left = until_ns - clock.now_ns();
            if left <= 0 {
                return Pairing::TimedOut;
            }
            let (guard, timeout) = self
                .finished
                .wait_timeout(ring, Duration::from_nanos(left as u64))
                .unwrap_or_else(|e| e.into_inner());
            ring = guard;
            if timeout.timed_out() {
                // Decide with what is there now; a clock that stands still
                // (simulated time) ends here too.
                return pick(&ring, stamp, tolerance_ns, out).unwrap_or(Pairing::TimedOut);
            }
        }
    }
}

/// The pairing for `stamp` from what the ring holds; `None` while the
/// nearest frame within the tolerance is still being detected.
fn pick(ring: &Ring, stamp: i64, tolerance_ns: i64, out: &mut Vec<Detection2d>) -> Option<Pairing> {
    let best = ring
        .slots
        .iter()
        .filter_map(|s| s.stamp.map(|t| ((t - stamp).abs(), s)))
        .filter(|&(gap, _)| gap <= tolerance_ns)
        .min_by_key(|&(gap, _)| gap);
    let Some((_, slot)) = best else {
        return Some(Pairing::NoFrame);
    };
    if !slot.done {
        return None;
    }
    out.extend_from_slice(&slot.detections);
    Some(Pairing::Paired {
        stamp: slot.stamp.unwrap_or(stamp),
        image_size: slot.image_size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::MonotonicClock;
    use std::sync::Arc;

    fn detection(class: u16) -> Detection2d {
        Detection2d {
            class,
            score: 0.9,
            bbox: [10.0, 10.0, 50.0, 80.0],
        }
    }

    const MS: i64 = 1_000_000;

    #[test]
    fn the_nearest_frame_within_tolerance_is_paired() {
        let results = CameraResults::new(100);
        for (i, t) in [0, 66, 133].into_iter().enumerate() {
            results.begin(t * MS);
            results.put(t * MS, (640, 480), &[detection(i as u16)]);
        }
        let clock = MonotonicClock::new();
        let mut out = Vec::new();
        let pairing = results.nearest(100 * MS, 50 * MS, &clock, 0, &mut out);
        assert_eq!(
            pairing,
            Pairing::Paired {
                stamp: 133 * MS,
                image_size: (640, 480)
            }
        );
        assert_eq!(out, [detection(2)]);
        assert_eq!(
            results.nearest(300 * MS, 50 * MS, &clock, 0, &mut out),
            Pairing::NoFrame
        );
        assert!(out.is_empty());
    }

    #[test]
    fn old_frames_are_overwritten() {
        let results = CameraResults::new(100);
        for t in 0..(SLOTS as i64 + 2) {
            results.put(t * 10 * MS, (1, 1), &[detection(t as u16)]);
        }
        let clock = MonotonicClock::new();
        let mut out = Vec::new();
        assert_eq!(
            results.nearest(0, 5 * MS, &clock, 0, &mut out),
            Pairing::NoFrame
        );
    }

    #[test]
    fn a_frame_in_detection_is_waited_for_within_the_limit() {
        let results = Arc::new(CameraResults::new(100));
        results.begin(100 * MS);
        let camera = {
            let results = results.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                results.put(100 * MS, (640, 480), &[detection(7)]);
            })
        };
        let clock = MonotonicClock::new();
        let mut out = Vec::new();
        let pairing = results.nearest(
            95 * MS,
            50 * MS,
            &clock,
            clock.now_ns() + 10_000 * MS,
            &mut out,
        );
        camera.join().unwrap();
        assert!(matches!(pairing, Pairing::Paired { .. }), "{pairing:?}");
        assert_eq!(out, [detection(7)]);
    }

    #[test]
    fn the_wait_ends_at_the_limit_and_goes_lidar_only() {
        let results = CameraResults::new(100);
        results.begin(100 * MS);
        let clock = MonotonicClock::new();
        let mut out = Vec::new();
        assert_eq!(
            results.nearest(100 * MS, 50 * MS, &clock, 0, &mut out),
            Pairing::TimedOut
        );
        assert_eq!(
            results.nearest(100 * MS, 50 * MS, &clock, clock.now_ns() + 5 * MS, &mut out),
            Pairing::TimedOut
        );
        // An abandoned frame is not waited for.
        results.abandon(100 * MS);
        assert_eq!(
            results.nearest(
                100 * MS,
                50 * MS,
                &clock,
                clock.now_ns() + 10_000 * MS,
                &mut out
            ),
            Pairing::NoFrame
        );
    }
}
