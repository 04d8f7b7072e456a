//! The one source of time. Every time read in Lookout goes through a
//! [`Clock`], so replay can run on a simulated clock and be deterministic.
//! Never sleeps, never blocks.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Instant;

/// Nanoseconds on some clock; only differences of readings of the same
/// clock are meaningful for the monotonic clock.
pub trait Clock: Send + Sync {
    fn now_ns(&self) -> i64;
}

/// Steady wall time (`CLOCK_MONOTONIC`), counted from the clock's creation.
#[derive(Debug, Clone)]
pub struct MonotonicClock {
    origin: Instant,
}

impl MonotonicClock {
    pub fn new() -> Self {
        MonotonicClock {
            origin: Instant::now(),
        }
    }
}

impl Default for MonotonicClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for MonotonicClock {
    fn now_ns(&self) -> i64 {
        self.origin.elapsed().as_nanos() as i64
    }
}

/// A clock that only moves when told to: replay and tests set it.
#[derive(Debug, Clone, Default)]
pub struct SimulatedClock {
    now: Arc<AtomicI64>,
}

impl SimulatedClock {
    pub fn new(start_ns: i64) -> Self {
        SimulatedClock {
            now: Arc::new(AtomicI64::new(start_ns)),
        }
    }

    pub fn set_ns(&self, ns: i64) {
        self.now.store(ns, Ordering::Release);
    }

    pub fn advance_ns(&self, delta: i64) {
        self.now.fetch_add(delta, Ordering::AcqRel);
    }
}

impl Clock for SimulatedClock {
    fn now_ns(&self) -> i64 {
        self.now.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulated_clock_moves_only_when_told() {
        let clock = SimulatedClock::new(5);
        assert_eq!(clock.now_ns(), 5);
        clock.advance_ns(10);
        assert_eq!(clock.now_ns(), 15);
        clock.set_ns(100);
        assert_eq!(clock.clone().now_ns(), 100);
    }

    #[test]
    fn monotonic_clock_never_goes_back() {
        let clock = MonotonicClock::new();
        let a = clock.now_ns();
        let b = clock.now_ns();
        assert!(b >= a);
    }
}
