//! Per-frame choice among a stage's variants (a detector's model ladder:
//! the same outputs at different cost and accuracy, most accurate first):
//! the most accurate variant whose predicted run time fits the frame's
//! budget, with hysteresis so the choice does not flap.
//!
//! The budget has two parts ([`Budget`]): the frame's slack to its
//! deadline, which a high quantile of the variant's recent run times must
//! fit (the frame is on time), and its share of the lanes' time, which
//! their median must fit (the load stays within what the lanes can do, so
//! frames behind it are not dropped).
//!
//! Owns each variant's run-time estimate and the choice state of one
//! sensor. Knows nothing of what a variant is (the stage runs it) and reads
//! no clock: the scheduler ([`super::core`]) hands it the budget, computed
//! from the times it is given, so lockstep replay chooses the same
//! variants every run.
//!
//! The rules:
//! - the current variant no longer fits: step down at once to the most
//!   accurate cheaper variant that fits (a variant never run is assumed to
//!   fit: a ladder lists faster variants below; running it measures it), or
//!   the fastest measured (on an engine where a "faster" rung is not, e.g.
//!   INT8 on tract, that is the more accurate one);
//! - the next more accurate variant fits with `up_margin` to spare for
//!   `up_after` frames in a row: step up one;
//! - the next more accurate variant has not run for `probe_after` frames
//!   and fits the slack: one frame runs on it, to measure it again (its
//!   estimate dates from other conditions: a cold start, a busier moment),
//!   and the choice stays where it was.

use super::estimate::RunTimeEstimate;

/// At most this many variants per sensor.
pub const MAX_VARIANTS: usize = 8;

/// How a sensor's stage picks its variant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Variants {
    /// Always this one (0: the stage's only, or most accurate, variant).
    Fixed(u8),
    /// Per frame, among `count` variants, by the frame's budget.
    Adaptive { count: u8, policy: AdaptivePolicy },
}

impl Default for Variants {
    fn default() -> Self {
        Variants::Fixed(0)
    }
}

/// The hysteresis of [`Variants::Adaptive`] and the load it plans for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdaptivePolicy {
    /// Frames in a row the more accurate variant must fit before stepping up.
    pub up_after: u32,
    /// Stepping up needs `estimate * (1 + up_margin) <= budget`.
    pub up_margin: f64,
    /// The share of the lanes' time the sensors' load may take: a frame's
    /// budget leaves the other sensors' measured load within it.
    pub utilization: f64,
    /// Frames after which the variant above the current one is run once
    /// again to refresh its estimate.
    pub probe_after: u32,
}

impl Default for AdaptivePolicy {
    fn default() -> Self {
        AdaptivePolicy {
            up_after: 10,
            up_margin: 0.2,
            utilization: 0.9,
            probe_after: 25,
        }
    }
}

/// What a frame may spend (ns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// To its deadline: a high quantile of the run time must fit.
    pub slack_ns: i64,
    /// Its share of the lanes' time: the median run time must fit.
    pub share_ns: i64,
}

impl Budget {
    /// The same bound for both.
    pub fn flat(ns: i64) -> Self {
        Budget {
            slack_ns: ns,
            share_ns: ns,
        }
    }
}

/// One sensor's variant choice.
#[derive(Debug, Clone)]
pub struct VariantSelector {
    variants: Variants,
    /// Per variant: the high quantile and the median of recent runs.
    estimates: Vec<RunTimeEstimate>,
    medians: Vec<RunTimeEstimate>,
    measured: Vec<bool>,
    current: usize,
    /// Frames in a row the variant above fitted with the margin.
    streak: u32,
    /// Frames since the variant above the current one last ran.
    since_above: u32,
}

impl VariantSelector {
    /// `window` and `quantile` as the admission estimate's. At most
    /// [`MAX_VARIANTS`] variants (more are clamped).
    pub fn new(variants: Variants, window: usize, quantile: f64) -> Self {
        let (count, current) = match variants {
            Variants::Fixed(v) => (v as usize + 1, v as usize),
            Variants::Adaptive { count, .. } => (count.max(1) as usize, 0),
        };
        let count = count.min(MAX_VARIANTS);
        VariantSelector {
            variants,
            estimates: vec![RunTimeEstimate::new(window, quantile); count],
            medians: vec![RunTimeEstimate::new(window, 0.5); count],
            measured: vec![false; count],
            current: current.min(count - 1),
            streak: 0,
            since_above: 0,
        }
    }

    pub fn is_adaptive(&self) -> bool {
        matches!(self.variants, Variants::Adaptive { .. })
    }

    pub fn policy(&self) -> Option<&AdaptivePolicy> {
        match &self.variants {
            Variants::Adaptive { policy, .. } => Some(policy),
            Variants::Fixed(_) => None,
        }
    }

    /// The variant the last frame was given.
    pub fn current(&self) -> usize {
        self.current
    }

    /// `variant`'s run-time estimate (ns); `None` before it has run.
    pub fn estimate_ns(&self, variant: usize) -> Option<i64> {
        let measured = *self.measured.get(variant)?;
        measured.then(|| self.estimates[variant].estimate_ns())
    }

    /// The cheapest estimate a frame could run at: what admission checks
    /// (`None` while no variant has run).
    pub fn cheapest_ns(&self) -> Option<i64> {
        if !self.is_adaptive() {
            return self.estimate_ns(self.current);
        }
        (0..self.estimates.len())
            .filter_map(|v| self.estimate_ns(v))
            .min()
    }

    /// Whether `variant` fits `budget` with `margin` to spare (a variant
    /// never run fits: running it measures it).
    fn fits(&self, variant: usize, budget: Budget, margin: f64) -> bool {
        let Some(high) = self.estimate_ns(variant) else {
            return true;
        };
        let median = self.medians[variant].estimate_ns();
        let within = |estimate: i64, bound: i64| estimate as f64 * (1.0 + margin) <= bound as f64;
        within(high, budget.slack_ns) && within(median, budget.share_ns)
    }

    /// The variant for a frame that may spend `budget`.
    pub fn choose(&mut self, budget: Budget) -> usize {
        let Some(policy) = self.policy().copied() else {
            return self.current;
        };
        let fits = |s: &Self, v: usize| s.fits(v, budget, 0.0);
        if !fits(self, self.current) {
            let cheapest = self.estimates.len() - 1;
            let before = self.current;
            self.current = (self.current + 1..=cheapest)
                .find(|&v| fits(self, v))
                .unwrap_or_else(|| self.fastest());
            self.streak = 0;
            if self.current != before {
                self.since_above = 0;
            }
            return self.current;
        }
        let above_fits = self.current > 0 && self.fits(self.current - 1, budget, policy.up_margin);
        self.streak = if above_fits { self.streak + 1 } else { 0 };
        if self.streak >= policy.up_after {
            self.current -= 1;
            self.streak = 0;
            self.since_above = 0;
            return self.current;
        }
        if self.current == 0 {
            return 0;
        }
        self.since_above += 1;
        let above = self.current - 1;
        // The typical run, not the slow one: the estimate is in doubt.
        let slack_fits = self.estimate_ns(above).is_none()
            || self.medians[above].estimate_ns() <= budget.slack_ns;
        if self.since_above > policy.probe_after && slack_fits {
            self.since_above = 0;
            return above;
        }
        self.current
    }

    /// The variant measured fastest (a rung never run counts as fast: the
    /// ladder lists faster rungs below); the last when none has run.
    fn fastest(&self) -> usize {
        let last = self.estimates.len() - 1;
        (0..=last)
            .min_by_key(|&v| (self.estimate_ns(v).unwrap_or(0), last - v))
            .unwrap_or(last)
    }

    /// `variant` ran for `run_ns`.
    pub fn record(&mut self, variant: usize, run_ns: i64) {
        if let Some(estimate) = self.estimates.get_mut(variant) {
            estimate.record(run_ns);
            self.medians[variant].record(run_ns);
            self.measured[variant] = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: i64 = 1_000_000;

    fn ladder(up_after: u32) -> VariantSelector {
        let policy = AdaptivePolicy {
            up_after,
            up_margin: 0.2,
            utilization: 0.9,
            probe_after: 1000,
        };
        VariantSelector::new(Variants::Adaptive { count: 3, policy }, 8, 0.9)
    }

    /// Runs `budgets` through `s`, recording each choice's cost.
    fn run(s: &mut VariantSelector, costs: [i64; 3], budgets: &[i64]) -> Vec<usize> {
        budgets
            .iter()
            .map(|&b| {
                let v = s.choose(Budget::flat(b));
                s.record(v, costs[v]);
                v
            })
            .collect()
    }

    #[test]
    fn a_shrinking_budget_steps_down_at_once_and_a_growing_one_steps_up_after_the_hysteresis() {
        let costs = [40 * MS, 20 * MS, 8 * MS];
        let mut s = ladder(3);
        // Ample budget: the most accurate variant.
        assert_eq!(run(&mut s, costs, &[100 * MS; 4]), [0; 4]);
        // 30 ms: the top no longer fits; the next (never run) is tried.
        assert_eq!(run(&mut s, costs, &[30 * MS; 3]), [1, 1, 1]);
        // 10 ms: straight past the middle to the cheapest.
        assert_eq!(run(&mut s, costs, &[10 * MS]), [2]);
        // Back to 30 ms: the middle fits with the margin (20 * 1.2 <= 30),
        // but only after 3 frames in a row; the top (40) never fits 30.
        assert_eq!(run(&mut s, costs, &[30 * MS; 6]), [2, 2, 1, 1, 1, 1]);
        // A budget that fits the top without the margin does not step up.
        assert_eq!(run(&mut s, costs, &[45 * MS; 5]), [1; 5]);
        // One short frame breaks the streak.
        assert_eq!(
            run(
                &mut s,
                costs,
                &[60 * MS, 60 * MS, 45 * MS, 60 * MS, 60 * MS, 60 * MS]
            ),
            [1, 1, 1, 1, 1, 0]
        );
    }

    /// The slack bounds the slow runs, the share the typical one: a
    /// variant that is usually quick but sometimes slow fits a share its
    /// median meets, not a slack only its median meets.
    #[test]
    fn the_slack_bounds_the_high_quantile_and_the_share_the_median() {
        let mut s = ladder(1);
        for cost in [10, 10, 10, 10, 10, 30, 30, 10] {
            s.record(0, cost * MS);
        }
        let budget = |slack: i64, share: i64| Budget {
            slack_ns: slack * MS,
            share_ns: share * MS,
        };
        assert_eq!(s.choose(budget(35, 12)), 0);
        assert_eq!(s.choose(budget(20, 100)), 1);
    }

    /// An estimate taken in worse conditions is refreshed: the variant
    /// above runs once every `probe_after` frames, and once it is measured
    /// cheaper again the choice steps back up.
    #[test]
    fn a_stale_estimate_above_is_probed_again() {
        let mut s = ladder(2);
        s.variants = match s.variants {
            Variants::Adaptive { count, policy } => Variants::Adaptive {
                count,
                policy: AdaptivePolicy {
                    probe_after: 3,
                    ..policy
                },
            },
            fixed => fixed,
        };
        // A cold first run: the top looks like 60 ms and is left.
        assert_eq!(
            run(&mut s, [60 * MS, 20 * MS, 8 * MS], &[50 * MS; 2]),
            [0, 1]
        );
        // It runs at 30 ms now: probed after 3 frames, then chosen. (The
        // share, 50 ms, is what its stale 60 ms did not fit.)
        let budget = Budget {
            slack_ns: 100 * MS,
            share_ns: 50 * MS,
        };
        let choices: Vec<usize> = (0..12)
            .map(|_| {
                let v = s.choose(budget);
                s.record(v, [30 * MS, 20 * MS, 8 * MS][v]);
                v
            })
            .collect();
        assert_eq!(choices[..4], [1, 1, 1, 0], "{choices:?}");
        assert_eq!(choices.last(), Some(&0), "{choices:?}");
    }

    /// A ladder that is not faster on this engine (INT8 on tract): when
    /// nothing fits, the fastest measured rung, not the last.
    #[test]
    fn when_nothing_fits_the_fastest_measured_rung_runs() {
        let mut s = ladder(3);
        let costs = [40 * MS, 60 * MS, 90 * MS];
        assert_eq!(run(&mut s, costs, &[30 * MS; 5]), [0, 1, 2, 0, 0]);
    }

    #[test]
    fn the_same_budgets_give_the_same_choices() {
        let costs = [40 * MS, 20 * MS, 8 * MS];
        let budgets: Vec<i64> = (0..200).map(|i| (5 + (i * 37) % 60) * MS).collect();
        let a = run(&mut ladder(4), costs, &budgets);
        let b = run(&mut ladder(4), costs, &budgets);
        assert_eq!(a, b);
        assert!(a.contains(&0) && a.contains(&2), "{a:?}");
    }

    #[test]
    fn nothing_fits_gives_the_cheapest_and_a_fixed_variant_never_moves() {
        let mut s = ladder(1);
        assert_eq!(
            run(&mut s, [40 * MS, 20 * MS, 8 * MS], &[MS, MS, MS]),
            [0, 1, 2]
        );
        assert_eq!(s.cheapest_ns(), Some(8 * MS));
        let mut fixed = VariantSelector::new(Variants::Fixed(1), 8, 0.9);
        assert_eq!(fixed.choose(Budget::flat(MS)), 1);
        fixed.record(1, 30 * MS);
        assert_eq!(fixed.choose(Budget::flat(MS)), 1);
        assert_eq!(fixed.cheapest_ns(), Some(30 * MS));
    }
}
