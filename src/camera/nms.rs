//! Greedy non-maximum suppression over [`Detection2d`] candidates.
//!
//! Owns the IoU definition used by the camera stage ([`iou`]) and the greedy
//! suppression ([`nms`]): candidates in descending score order (ties keep
//! their input order), each one kept unless an already-kept box of the same
//! class (or of any class, class-agnostic) overlaps it with IoU strictly above
//! the threshold, at most `max` kept. It works in place on the caller's
//! `Vec<Detection2d>` plus a reusable [`NmsScratch`]; once both have grown to
//! the largest candidate count seen, it never allocates again.

use std::cmp::Ordering;

use super::Detection2d;

/// Reusable working memory for [`nms`]. Keep one per pipeline and pass it to
/// every call; it grows to the largest candidate count seen and stays there.
#[derive(Debug, Clone, Default)]
pub struct NmsScratch {
    /// Candidates with their input position, sorted by score.
    order: Vec<(usize, Detection2d)>,
}

impl NmsScratch {
    pub fn new() -> Self {
        Self::default()
    }
}

/// Intersection over union of two `[x0, y0, x1, y1]` boxes.
///
/// A box with zero (or negative, or NaN) area has IoU 0 with everything,
/// itself included: it never suppresses and is never suppressed, and there is
/// never a division by zero.
pub fn iou(a: [f32; 4], b: [f32; 4]) -> f32 {
    let area_a = (a[2] - a[0]) * (a[3] - a[1]);
    let area_b = (b[2] - b[0]) * (b[3] - b[1]);
    // Written so that NaN areas fail the test too.
    if !(a[2] > a[0] && a[3] > a[1] && b[2] > b[0] && b[3] > b[1]) {
        return 0.0;
    }
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = w * h;
    let union = area_a + area_b - inter;
    if union > 0.0 { inter / union } else { 0.0 }
}

/// Greedy NMS in place: on return `dets` holds the kept detections, at most
/// `max`, in descending score order (equal scores in input order).
///
/// A candidate is suppressed by an already-kept one when both have the same
/// class (any class when `class_agnostic`) and their [`iou`] is strictly
/// greater than `iou_threshold`: IoU exactly at the threshold is kept.
/// Candidates with a NaN score are dropped. No allocation once `dets` and
/// `scratch` have grown to the candidate count.
pub fn nms(
    dets: &mut Vec<Detection2d>,
    scratch: &mut NmsScratch,
    iou_threshold: f32,
    class_agnostic: bool,
    max: usize,
) {
    let order = &mut scratch.order;
    order.clear();
    order.extend(
        dets.iter()
            .copied()
            .enumerate()
            .filter(|(_, d)| !d.score.is_nan()),
    );
    // The index tie-break makes the (non-allocating) unstable sort stable.
    order.sort_unstable_by(|(ia, a), (ib, b)| {
        b.score
            .partial_cmp(&a.score)
            .unwrap_or(Ordering::Equal)
            .then(ia.cmp(ib))
    });
    dets.clear();
    for &(_, candidate) in order.iter() {
        if dets.len() >= max {
            break;
        }
        let suppressed = dets.iter().any(|kept| {
            (class_agnostic || kept.class == candidate.class)
                && iou(kept.bbox, candidate.bbox) > iou_threshold
        });
        if !suppressed {
            dets.push(candidate);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(class: u16, score: f32, bbox: [f32; 4]) -> Detection2d {
        Detection2d { class, score, bbox }
    }

    fn run(
        dets: &[Detection2d],
        iou_threshold: f32,
        agnostic: bool,
        max: usize,
    ) -> Vec<Detection2d> {
        let mut v = dets.to_vec();
        nms(&mut v, &mut NmsScratch::new(), iou_threshold, agnostic, max);
        v
    }

    #[test]
    fn iou_basics() {
        let a = [0.0, 0.0, 10.0, 10.0];
        assert_eq!(iou(a, a), 1.0);
        assert_eq!(iou(a, [20.0, 20.0, 30.0, 30.0]), 0.0);
        // Touching edges: no overlap.
        assert_eq!(iou(a, [10.0, 0.0, 20.0, 10.0]), 0.0);
        // Half of a inside b: 50 / 100.
        assert_eq!(iou(a, [0.0, 0.0, 10.0, 5.0]), 0.5);
        assert_eq!(iou([0.0, 0.0, 10.0, 5.0], a), 0.5);
    }

    #[test]
    fn identical_boxes_keep_the_best() {
        let b = [0.0, 0.0, 10.0, 10.0];
        let kept = run(
            &[det(0, 0.5, b), det(0, 0.9, b), det(0, 0.7, b)],
            0.5,
            false,
            10,
        );
        assert_eq!(kept, vec![det(0, 0.9, b)]);
    }

    #[test]
    fn iou_exactly_at_the_threshold_is_not_suppressed() {
        let a = det(0, 0.9, [0.0, 0.0, 10.0, 10.0]);
        let b = det(0, 0.8, [0.0, 0.0, 10.0, 5.0]); // IoU exactly 0.5
        assert_eq!(run(&[a, b], 0.5, false, 10), vec![a, b]);
        // Just below the IoU: suppressed.
        assert_eq!(run(&[a, b], 0.49, false, 10), vec![a]);
    }

    #[test]
    fn cross_class_overlap_is_kept_unless_agnostic() {
        let b = [0.0, 0.0, 10.0, 10.0];
        let a = det(0, 0.9, b);
        let c = det(1, 0.8, b);
        assert_eq!(run(&[a, c], 0.5, false, 10), vec![a, c]);
        assert_eq!(run(&[a, c], 0.5, true, 10), vec![a]);
        // Same class still suppressed per class.
        let d = det(0, 0.7, b);
        assert_eq!(run(&[d, c, a], 0.5, false, 10), vec![a, c]);
    }

    #[test]
    fn zero_area_boxes_never_suppress_or_get_suppressed() {
        let point = [5.0, 5.0, 5.0, 5.0];
        let line = [0.0, 5.0, 10.0, 5.0];
        let big = [0.0, 0.0, 10.0, 10.0];
        assert_eq!(iou(point, point), 0.0);
        assert_eq!(iou(line, big), 0.0);
        assert_eq!(iou(big, line), 0.0);
        let inverted = [10.0, 10.0, 0.0, 0.0];
        assert_eq!(iou(inverted, big), 0.0);
        let nan = [f32::NAN, 0.0, 10.0, 10.0];
        assert_eq!(iou(nan, big), 0.0);
        let dets = [
            det(0, 0.9, point),
            det(0, 0.8, point),
            det(0, 0.7, line),
            det(0, 0.6, big),
        ];
        assert_eq!(run(&dets, 0.0, true, 10), dets.to_vec());
    }

    #[test]
    fn score_ties_keep_input_order() {
        let a = det(0, 0.5, [0.0, 0.0, 10.0, 10.0]);
        let b = det(0, 0.5, [1.0, 1.0, 11.0, 11.0]);
        let c = det(1, 0.5, [50.0, 50.0, 60.0, 60.0]);
        let d = det(2, 0.5, [80.0, 80.0, 90.0, 90.0]);
        // a and b overlap (IoU 81/119): the first one in input order wins.
        assert_eq!(run(&[a, b, c], 0.5, false, 10), vec![a, c]);
        assert_eq!(run(&[b, a, c], 0.5, false, 10), vec![b, c]);
        // Non-overlapping ties: output order equals input order.
        assert_eq!(run(&[d, c, a], 0.5, false, 10), vec![d, c, a]);
        // +0 and -0 are a tie too.
        let z0 = det(0, 0.0, [0.0, 0.0, 1.0, 1.0]);
        let z1 = det(1, -0.0, [0.0, 0.0, 1.0, 1.0]);
        assert_eq!(run(&[z1, z0], 0.5, false, 10), vec![z1, z0]);
    }

    #[test]
    fn max_caps_the_kept_count_after_suppression() {
        let dets: Vec<_> = (0..6)
            .map(|i| {
                det(
                    0,
                    0.1 * i as f32,
                    [20.0 * i as f32, 0.0, 20.0 * i as f32 + 10.0, 10.0],
                )
            })
            .collect();
        let kept = run(&dets, 0.5, false, 3);
        assert_eq!(kept, vec![dets[5], dets[4], dets[3]]);
        assert!(run(&dets, 0.5, false, 0).is_empty());
        // The cap counts kept boxes, not candidates: suppressed ones don't use it.
        let b = [0.0, 0.0, 10.0, 10.0];
        let c = [100.0, 0.0, 110.0, 10.0];
        let kept = run(
            &[det(0, 0.9, b), det(0, 0.8, b), det(0, 0.7, c)],
            0.5,
            false,
            2,
        );
        assert_eq!(kept, vec![det(0, 0.9, b), det(0, 0.7, c)]);
    }

    #[test]
    fn empty_input_and_nan_scores() {
        assert!(run(&[], 0.5, false, 10).is_empty());
        let b = [0.0, 0.0, 10.0, 10.0];
        let kept = run(&[det(0, f32::NAN, b), det(0, 0.3, b)], 0.5, false, 10);
        assert_eq!(kept, vec![det(0, 0.3, b)]);
    }

    #[test]
    fn no_allocation_once_buffers_have_grown() {
        let dets: Vec<_> = (0..200)
            .map(|i| {
                let x = (i % 17) as f32 * 3.0;
                det(
                    (i % 3) as u16,
                    (i % 7) as f32 * 0.1,
                    [x, 0.0, x + 10.0, 10.0],
                )
            })
            .collect();
        let mut v = dets.clone();
        let mut scratch = NmsScratch::new();
        nms(&mut v, &mut scratch, 0.5, false, 50);
        let counted = allocation_counter::measure(|| {
            v.clear();
            v.extend_from_slice(&dets);
            nms(&mut v, &mut scratch, 0.5, false, 50);
        });
        assert_eq!(counted.count_total, 0);
        assert!(!v.is_empty());
    }
}
