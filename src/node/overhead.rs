//! The node's own cost per published result: from the moment a message is
//! received to the return of the obstacle publish call, minus the time the
//! pipeline stage ran. What is left is the node's plumbing (queueing,
//! handoffs, serialization, the publish call).

use hdrhistogram::Histogram;

#[derive(Debug, Clone)]
pub struct Overhead {
    nanos: Histogram<u64>,
    /// Results handed to the publisher after their deadline (timed by the
    /// output chain after encoding); each went out with its late flag.
    pub late: u64,
}

impl Default for Overhead {
    fn default() -> Self {
        Self::new()
    }
}

impl Overhead {
    pub fn new() -> Self {
        Overhead {
            // 1 µs to 10 s at 3 significant digits: fixed size, so recording
            // never allocates.
            nanos: Histogram::new_with_bounds(1_000, 10_000_000_000, 3).expect("valid bounds"),
            late: 0,
        }
    }

    pub fn record(&mut self, ns: i64) {
        self.nanos.saturating_record(ns.max(1_000) as u64);
    }

    pub fn count(&self) -> u64 {
        self.nanos.len()
    }

    /// `(p50, p99, max)` in milliseconds.
    pub fn summary_ms(&self) -> (f64, f64, f64) {
        let ms = |ns: u64| ns as f64 / 1e6;
        (
            ms(self.nanos.value_at_quantile(0.5)),
            ms(self.nanos.value_at_quantile(0.99)),
            ms(self.nanos.max()),
        )
    }
}

impl std::fmt::Display for Overhead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (p50, p99, max) = self.summary_ms();
        write!(
            f,
            "node overhead (receipt -> publish returned, minus stage time) over {} results: p50 {p50:.3} ms, p99 {p99:.3} ms, max {max:.3} ms; {} handed to the publisher after their deadline",
            self.count(),
            self.late
        )
    }
}
