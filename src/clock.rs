//! The one source of time. Every time read in Lookout goes through a
//! [`Clock`], so replay can run on a simulated clock and be deterministic.
//! Reading never blocks; only [`Clock::sleep_ns`] waits (real time on the
//! monotonic clock, none on the simulated one, which it moves forward).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Instant;

/// Nanoseconds on some clock; only differences of readings of the same
/// clock are meaningful for the monotonic clock.
pub trait Clock: Send + Sync {
    fn now_ns(&self) -> i64;
    /// Lets `ns` pass on this clock (pacing, watchdog periods, injected
    /// faults). Never called on a per-frame hot path.
    fn sleep_ns(&self, ns: i64);
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

    fn sleep_ns(&self, ns: i64) {
        if ns > 0 {
            std::thread::sleep(std::time::Duration::from_nanos(ns as u64));
        }
    }
}

/// ROS time without a simulator: the system clock (`CLOCK_REALTIME`), the
/// time sensor drivers stamp headers with. The live node's deadlines count
/// on it.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ns(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0)
    }

    fn sleep_ns(&self, ns: i64) {
        MonotonicClock::new().sleep_ns(ns)
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

    fn sleep_ns(&self, ns: i64) {
        self.advance_ns(ns.max(0));
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
