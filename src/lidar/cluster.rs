//! Euclidean clustering in linear time: non-ground points are hashed into a
//! dense bird's-eye grid, occupied cells are joined (union-find) with every
//! occupied cell within the range-dependent tolerance, and points are
//! gathered per cluster with a counting sort. Only touched cells are reset
//! between scans. Never allocates once the buffers have grown.

use super::LidarConfig;

const EMPTY: u32 = u32::MAX;

pub(super) struct ClusterGrid {
    cell: f32,
    x0: f32,
    y0: f32,
    nx: usize,
    ny: usize,
    /// Per grid cell: its index in `touched`, or EMPTY.
    slot: Vec<u32>,
    /// Occupied cells, in first-touch order.
    touched: Vec<u32>,
    /// Union-find parent per touched cell.
    parent: Vec<u32>,
    /// Per point: its touched-cell index.
    point_slot: Vec<u32>,
    /// Per touched cell: cluster id after `finish`.
    cluster_of_slot: Vec<u32>,
    /// Cluster sizes, then start offsets into `order`.
    counts: Vec<u32>,
    starts: Vec<u32>,
    /// Point indices grouped by cluster.
    order: Vec<u32>,
}

impl ClusterGrid {
    pub fn new(config: &LidarConfig) -> Self {
        let cell = config.cluster_cell;
        let nx = ((config.roi_x[1] - config.roi_x[0]) / cell).ceil().max(1.0) as usize;
        let ny = ((config.roi_y[1] - config.roi_y[0]) / cell).ceil().max(1.0) as usize;
        ClusterGrid {
            cell,
            x0: config.roi_x[0],
            y0: config.roi_y[0],
            nx,
            ny,
            slot: vec![EMPTY; nx * ny],
            touched: Vec::new(),
            parent: Vec::new(),
            point_slot: Vec::new(),
            cluster_of_slot: Vec::new(),
            counts: Vec::new(),
            starts: Vec::new(),
            order: Vec::new(),
        }
    }

    fn reset(&mut self) {
        for &c in &self.touched {
            self.slot[c as usize] = EMPTY;
        }
        self.touched.clear();
        self.parent.clear();
        self.point_slot.clear();
        self.cluster_of_slot.clear();
        self.counts.clear();
        self.starts.clear();
        self.order.clear();
    }

    /// Clusters the points (x, y); returns the number of clusters.
    pub fn cluster(&mut self, xs: &[f32], ys: &[f32], config: &LidarConfig) -> usize {
        self.reset();
        for (&x, &y) in xs.iter().zip(ys) {
            let i = (((x - self.x0) / self.cell) as usize).min(self.nx - 1);
            let j = (((y - self.y0) / self.cell) as usize).min(self.ny - 1);
            let c = j * self.nx + i;
            let mut s = self.slot[c];
            if s == EMPTY {
                s = self.touched.len() as u32;
                self.slot[c] = s;
                self.touched.push(c as u32);
                self.parent.push(s);
            }
            self.point_slot.push(s);
        }
        self.join_neighbours(config);
        self.gather()
    }

    fn join_neighbours(&mut self, config: &LidarConfig) {
        for s in 0..self.touched.len() {
            let c = self.touched[s] as usize;
            let (i, j) = ((c % self.nx) as isize, (c / self.nx) as isize);
            let cx = self.x0 + (i as f32 + 0.5) * self.cell;
            let cy = self.y0 + (j as f32 + 0.5) * self.cell;
            let tolerance = config.tolerance_at((cx * cx + cy * cy).sqrt());
            let k = (tolerance / self.cell).ceil() as isize;
            // Cells whose nearest points can lie within the tolerance.
            let reach = (tolerance / self.cell + 1.0).powi(2);
            // Half the neighbourhood suffices: joining is symmetric.
            for dj in 0..=k {
                let nj = j + dj;
                if nj >= self.ny as isize {
                    break;
                }
                let first_di = if dj == 0 { 1 } else { -k };
                for di in first_di..=k {
                    let ni = i + di;
                    if ni < 0 || ni >= self.nx as isize {
                        continue;
                    }
                    if ((di * di + dj * dj) as f32) > reach {
                        continue;
                    }
                    let other = self.slot[nj as usize * self.nx + ni as usize];
                    if other != EMPTY {
                        self.union(s as u32, other);
                    }
                }
            }
        }
    }

    fn find(&mut self, mut s: u32) -> u32 {
        while self.parent[s as usize] != s {
            let grand = self.parent[self.parent[s as usize] as usize];
            self.parent[s as usize] = grand;
            s = grand;
        }
        s
    }

    fn union(&mut self, a: u32, b: u32) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            // The smaller index wins: cluster numbering then follows first touch.
            let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
            self.parent[hi as usize] = lo;
        }
    }

    /// Numbers clusters and groups point indices by cluster.
    fn gather(&mut self) -> usize {
        let mut clusters = 0u32;
        for s in 0..self.touched.len() as u32 {
            let root = self.find(s);
            let id = if root == s {
                clusters += 1;
                clusters - 1
            } else {
                self.cluster_of_slot[root as usize]
            };
            self.cluster_of_slot.push(id);
        }
        self.counts.resize(clusters as usize, 0);
        for &s in &self.point_slot {
            self.counts[self.cluster_of_slot[s as usize] as usize] += 1;
        }
        let mut offset = 0;
        for &count in &self.counts {
            self.starts.push(offset);
            offset += count;
        }
        self.order.resize(self.point_slot.len(), 0);
        // `starts` doubles as the write cursor, then is restored.
        for (p, &s) in self.point_slot.iter().enumerate() {
            let id = self.cluster_of_slot[s as usize] as usize;
            self.order[self.starts[id] as usize] = p as u32;
            self.starts[id] += 1;
        }
        for (start, &count) in self.starts.iter_mut().zip(&self.counts) {
            *start -= count;
        }
        clusters as usize
    }

    /// Point indices of cluster `id`.
    pub fn members(&self, id: usize) -> &[u32] {
        let start = self.starts[id] as usize;
        &self.order[start..start + self.counts[id] as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_points_join_far_points_do_not() {
        let config = LidarConfig {
            roi_x: [-20.0, 20.0],
            roi_y: [-20.0, 20.0],
            ..LidarConfig::default()
        };
        let mut grid = ClusterGrid::new(&config);
        // Two blobs 3 m apart, and a lone point.
        let xs = [5.0, 5.1, 5.3, 8.3, 8.4, -10.0];
        let ys = [1.0, 1.1, 1.0, 1.0, 1.2, -10.0];
        assert_eq!(grid.cluster(&xs, &ys, &config), 3);
        assert_eq!(grid.members(0), &[0, 1, 2]);
        assert_eq!(grid.members(1), &[3, 4]);
        assert_eq!(grid.members(2), &[5]);
        // Reuse: a second scan starts clean.
        assert_eq!(grid.cluster(&xs[..2], &ys[..2], &config), 1);
    }
}
