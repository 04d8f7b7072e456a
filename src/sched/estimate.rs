//! The admission estimate: a high quantile of a stage's recent run times
//! over a sliding window. Recomputed when a run time is recorded (off the
//! dispatch path), read in O(1). Never allocates after construction.

#[derive(Debug, Clone)]
pub struct RunTimeEstimate {
    window: Vec<i64>,
    scratch: Vec<i64>,
    next: usize,
    filled: usize,
    quantile: f64,
    estimate_ns: i64,
}

impl RunTimeEstimate {
    /// `window` >= 1 run times, `quantile` in (0, 1].
    pub fn new(window: usize, quantile: f64) -> Self {
        let window = window.max(1);
        RunTimeEstimate {
            window: vec![0; window],
            scratch: Vec::with_capacity(window),
            next: 0,
            filled: 0,
            quantile,
            estimate_ns: 0,
        }
    }

    /// No history yet: 0 (every frame is admitted until the stage has run).
    pub fn estimate_ns(&self) -> i64 {
        self.estimate_ns
    }

    pub fn record(&mut self, run_ns: i64) {
        self.window[self.next] = run_ns.max(0);
        self.next = (self.next + 1) % self.window.len();
        self.filled = (self.filled + 1).min(self.window.len());
        self.scratch.clear();
        self.scratch.extend_from_slice(&self.window[..self.filled]);
        // Lower nearest rank: with few samples one outlier (a stall) is not
        // the estimate; with a full window this is the plain quantile.
        let rank =
            ((self.quantile * (self.filled - 1) as f64).floor() as usize).min(self.filled - 1);
        let (_, value, _) = self.scratch.select_nth_unstable(rank);
        self.estimate_ns = *value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_estimate_is_the_quantile_of_the_window() {
        let mut e = RunTimeEstimate::new(10, 0.9);
        assert_eq!(e.estimate_ns(), 0);
        for v in 1..=10 {
            e.record(v);
        }
        assert_eq!(e.estimate_ns(), 9);
        // The window slides: old values are forgotten.
        for _ in 0..10 {
            e.record(100);
        }
        assert_eq!(e.estimate_ns(), 100);
        let mut max = RunTimeEstimate::new(4, 1.0);
        for v in [5, 1, 7, 2] {
            max.record(v);
        }
        assert_eq!(max.estimate_ns(), 7);
        // One stall among few samples does not become the estimate.
        let mut e = RunTimeEstimate::new(64, 0.95);
        e.record(500);
        assert_eq!(e.estimate_ns(), 500);
        e.record(10);
        assert_eq!(e.estimate_ns(), 10);
    }
}
