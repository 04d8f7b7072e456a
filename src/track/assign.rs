//! Optimal assignment of tracks to detections (minimum total cost), for
//! the tracker's association step.
//!
//! Hand-written because the crates that solve it (`pathfinding`'s
//! Kuhn–Munkres, `lapjv`) allocate their matrices and results on every
//! call, and the tracker runs on the per-frame hot path, where nothing may
//! allocate after warm-up. This is the shortest-augmenting-path form of the
//! Hungarian method with row and column potentials (Jonker–Volgenant's
//! scheme without their initialisation heuristics): O(n² m) for n rows
//! ≤ m columns, all buffers kept between calls.
//!
//! Owns [`Assigner`]. Never decides what a cost is: the caller gates pairs
//! by giving them `f64::INFINITY` (or any cost ≥ the gate it names).

/// Reusable buffers of the assignment solver.
#[derive(Debug, Default, Clone)]
pub struct Assigner {
    cost: Vec<f64>,
    u: Vec<f64>,
    v: Vec<f64>,
    /// p[j]: the row (1-based, 0 none) matched to column j (1-based).
    p: Vec<usize>,
    way: Vec<usize>,
    minv: Vec<f64>,
    used: Vec<bool>,
    /// The answer: for each row, its column, or `None`.
    rows: Vec<Option<usize>>,
}

/// Stands in for a forbidden pair inside the solver, so that every row can
/// be matched to something; such pairs are dropped from the answer.
const FORBIDDEN: f64 = 1e12;

impl Assigner {
    pub fn new() -> Self {
        Self::default()
    }

    /// Pairs rows (tracks) with columns (detections) so that the sum of
    /// `cost(row, col)` over the pairs is least, and leaves out every pair
    /// whose cost is not below `gate`. Returns, per row, its column.
    pub fn solve(
        &mut self,
        rows: usize,
        cols: usize,
        gate: f64,
        cost: impl Fn(usize, usize) -> f64,
    ) -> &[Option<usize>] {
        self.rows.clear();
        self.rows.resize(rows, None);
        if rows == 0 || cols == 0 {
            return &self.rows;
        }
        // The solver wants n <= m: transpose when there are more rows.
        let transposed = rows > cols;
        let (n, m) = if transposed {
            (cols, rows)
        } else {
            (rows, cols)
        };
        self.cost.clear();
        for i in 0..n {
            for j in 0..m {
                let (r, c) = if transposed { (j, i) } else { (i, j) };
                let value = cost(r, c);
                self.cost.push(if value < gate { value } else { FORBIDDEN });
            }
        }
        self.shortest_augmenting_paths(n, m);
        for j in 1..=m {
            let i = self.p[j];
            if i == 0 || self.cost[(i - 1) * m + (j - 1)] >= FORBIDDEN {
                continue;
            }
            let (r, c) = if transposed {
                (j - 1, i - 1)
            } else {
                (i - 1, j - 1)
            };
            self.rows[r] = Some(c);
        }
        &self.rows
    }

    fn shortest_augmenting_paths(&mut self, n: usize, m: usize) {
        for buffer in [&mut self.u, &mut self.v, &mut self.minv] {
            buffer.clear();
        }
        self.u.resize(n + 1, 0.0);
        self.v.resize(m + 1, 0.0);
        self.p.clear();
        self.p.resize(m + 1, 0);
        self.way.clear();
        self.way.resize(m + 1, 0);
        self.minv.resize(m + 1, f64::INFINITY);
        for i in 1..=n {
            self.p[0] = i;
            let mut j0 = 0;
            self.minv.fill(f64::INFINITY);
            self.used.clear();
            self.used.resize(m + 1, false);
            loop {
                self.used[j0] = true;
                let i0 = self.p[j0];
                let mut delta = f64::INFINITY;
                let mut j1 = 0;
                for j in 1..=m {
                    if self.used[j] {
                        continue;
                    }
                    let reduced = self.cost[(i0 - 1) * m + (j - 1)] - self.u[i0] - self.v[j];
                    if reduced < self.minv[j] {
                        self.minv[j] = reduced;
                        self.way[j] = j0;
                    }
                    if self.minv[j] < delta {
                        delta = self.minv[j];
                        j1 = j;
                    }
                }
                for j in 0..=m {
                    if self.used[j] {
                        self.u[self.p[j]] += delta;
                        self.v[j] -= delta;
                    } else {
                        self.minv[j] -= delta;
                    }
                }
                j0 = j1;
                if self.p[j0] == 0 {
                    break;
                }
            }
            // Flip the augmenting path.
            loop {
                let j1 = self.way[j0];
                self.p[j0] = self.p[j1];
                j0 = j1;
                if j0 == 0 {
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every assignment of a small matrix, tried by brute force.
    fn brute_force(cost: &[Vec<f64>], gate: f64) -> f64 {
        fn go(cost: &[Vec<f64>], gate: f64, row: usize, used: &mut Vec<bool>) -> (usize, f64) {
            if row == cost.len() {
                return (0, 0.0);
            }
            // Leaving the row out is always allowed.
            let mut best = go(cost, gate, row + 1, used);
            for c in 0..cost[row].len() {
                if used[c] || cost[row][c] >= gate {
                    continue;
                }
                used[c] = true;
                let (k, total) = go(cost, gate, row + 1, used);
                used[c] = false;
                let candidate = (k + 1, total + cost[row][c]);
                // Most pairs first, then least cost.
                if candidate.0 > best.0 || (candidate.0 == best.0 && candidate.1 < best.1) {
                    best = candidate;
                }
            }
            best
        }
        let mut used = vec![false; cost[0].len()];
        go(cost, gate, 0, &mut used).1
    }

    fn total(cost: &[Vec<f64>], answer: &[Option<usize>]) -> f64 {
        answer
            .iter()
            .enumerate()
            .filter_map(|(r, c)| c.map(|c| cost[r][c]))
            .sum()
    }

    #[test]
    fn the_greedy_choice_is_not_taken() {
        // Greedy takes (0,0) = 1 and is left with (1,1) = 10; the optimum
        // is (0,1) + (1,0) = 2 + 2.
        let cost = [vec![1.0, 2.0], vec![2.0, 10.0]];
        let mut assigner = Assigner::new();
        let answer = assigner.solve(2, 2, f64::INFINITY, |r, c| cost[r][c]);
        assert_eq!(answer, &[Some(1), Some(0)]);
    }

    #[test]
    fn gated_pairs_are_left_out_and_shapes_may_be_rectangular() {
        let cost = [vec![0.5, 9.0, 9.0], vec![9.0, 9.0, 9.0]];
        let mut assigner = Assigner::new();
        assert_eq!(
            assigner.solve(2, 3, 5.0, |r, c| cost[r][c]),
            &[Some(0), None]
        );
        // More rows than columns.
        let tall = [vec![3.0], vec![1.0], vec![2.0]];
        assert_eq!(
            assigner.solve(3, 1, 5.0, |r, c| tall[r][c]),
            &[None, Some(0), None]
        );
        assert!(assigner.solve(0, 4, 1.0, |_, _| 0.0).is_empty());
        assert_eq!(assigner.solve(2, 0, 1.0, |_, _| 0.0), &[None, None]);
    }

    /// Random matrices (a fixed LCG), gated and not, against brute force.
    #[test]
    fn agrees_with_brute_force() {
        let mut state = 12345_u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as f64 / (1u64 << 31) as f64
        };
        let mut assigner = Assigner::new();
        for trial in 0..300 {
            let rows = 1 + trial % 5;
            let cols = 1 + (trial / 5) % 5;
            let cost: Vec<Vec<f64>> = (0..rows)
                .map(|_| (0..cols).map(|_| 10.0 * next()).collect())
                .collect();
            let gate = if trial % 2 == 0 { f64::INFINITY } else { 6.0 };
            let answer = assigner.solve(rows, cols, gate, |r, c| cost[r][c]).to_vec();
            let mut seen = vec![false; cols];
            for c in answer.iter().flatten() {
                assert!(!seen[*c] && cost.iter().any(|row| row[*c] < gate));
                seen[*c] = true;
            }
            // Forbidden pairs cost more than any allowed set: the solver
            // takes the most allowed pairs, then the least cost, as the
            // brute force does.
            let expected = brute_force(&cost, gate);
            assert!(
                (total(&cost, &answer) - expected).abs() < 1e-9,
                "trial {trial}"
            );
        }
    }
}
