//! Ground estimation on a square grid, grown outwards from the sensor: each
//! cell takes its lowest point as ground when that is consistent with the
//! ground of its inner neighbour (flat cells may step up by a curb, cluttered
//! cells barely at all), else inherits the neighbour's ground. Follows grades
//! and curbs; a car's flank never becomes ground. Never allocates after `new`.

use super::LidarConfig;

pub(super) struct GroundGrid {
    cell: f32,
    x0: f32,
    y0: f32,
    nx: usize,
    ny: usize,
    min_z: Vec<f32>,
    max_z: Vec<f32>,
    ground: Vec<f32>,
    /// Per cell: metres walked from the sensor since ground was last seen.
    unseen: Vec<f32>,
}

impl GroundGrid {
    pub fn new(config: &LidarConfig) -> Self {
        let cell = config.ground_cell;
        let nx = ((config.roi_x[1] - config.roi_x[0]) / cell).ceil().max(1.0) as usize;
        let ny = ((config.roi_y[1] - config.roi_y[0]) / cell).ceil().max(1.0) as usize;
        GroundGrid {
            cell,
            x0: config.roi_x[0],
            y0: config.roi_y[0],
            nx,
            ny,
            min_z: vec![f32::INFINITY; nx * ny],
            max_z: vec![f32::NEG_INFINITY; nx * ny],
            ground: vec![0.0; nx * ny],
            unseen: vec![0.0; nx * ny],
        }
    }

    pub fn clear(&mut self) {
        self.min_z.fill(f32::INFINITY);
        self.max_z.fill(f32::NEG_INFINITY);
    }

    /// The cell of a point inside the region of interest.
    #[inline]
    pub fn cell_of(&self, x: f32, y: f32) -> usize {
        let i = (((x - self.x0) / self.cell) as usize).min(self.nx - 1);
        let j = (((y - self.y0) / self.cell) as usize).min(self.ny - 1);
        j * self.nx + i
    }

    #[inline]
    pub fn add(&mut self, cell: usize, z: f32) {
        self.min_z[cell] = self.min_z[cell].min(z);
        self.max_z[cell] = self.max_z[cell].max(z);
    }

    #[inline]
    pub fn height(&self, cell: usize) -> f32 {
        self.ground[cell]
    }

    /// Fills every cell's ground height, ring by ring from the sensor's cell.
    pub fn estimate(&mut self, config: &LidarConfig) {
        let (ci, cj) = self.sensor_cell();
        let start = cj * self.nx + ci;
        self.ground[start] = -config.sensor_height;
        self.unseen[start] = 0.0;
        let rings = ci.max(self.nx - 1 - ci).max(cj).max(self.ny - 1 - cj);
        for k in 1..=rings as isize {
            let (ci, cj) = (ci as isize, cj as isize);
            for d in -k..=k {
                self.settle(ci + d, cj - k, ci, cj, config);
                self.settle(ci + d, cj + k, ci, cj, config);
                if d != -k && d != k {
                    self.settle(ci - k, cj + d, ci, cj, config);
                    self.settle(ci + k, cj + d, ci, cj, config);
                }
            }
        }
    }

    fn sensor_cell(&self) -> (usize, usize) {
        let i = ((-self.x0 / self.cell).max(0.0) as usize).min(self.nx - 1);
        let j = ((-self.y0 / self.cell).max(0.0) as usize).min(self.ny - 1);
        (i, j)
    }

    fn settle(&mut self, i: isize, j: isize, ci: isize, cj: isize, config: &LidarConfig) {
        if i < 0 || j < 0 || i >= self.nx as isize || j >= self.ny as isize {
            return;
        }
        let inner_i = i - (i - ci).signum();
        let inner_j = j - (j - cj).signum();
        let inner = inner_j as usize * self.nx + inner_i as usize;
        let (reference, unseen) = (self.ground[inner], self.unseen[inner]);
        let cell = j as usize * self.nx + i as usize;
        let lowest = self.min_z[cell];
        let mut seen = false;
        if lowest.is_finite() {
            let flat = self.max_z[cell] - lowest < config.ground_flat_spread;
            // Past a stretch the beams never reached (shadowed by a car,
            // or beyond a crest), a flat patch may lie higher by the grade
            // the road could have climbed meanwhile.
            let max_rise = if flat {
                config.ground_max_step + config.ground_max_grade * unseen
            } else {
                config.ground_max_step_cluttered
            };
            seen = lowest - reference <= max_rise;
        }
        if seen {
            self.ground[cell] = lowest;
            self.unseen[cell] = 0.0;
        } else {
            self.ground[cell] = reference;
            self.unseen[cell] = unseen + self.cell;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid() -> (GroundGrid, LidarConfig) {
        let config = LidarConfig {
            roi_x: [-10.0, 10.0],
            roi_y: [-10.0, 10.0],
            ..LidarConfig::default()
        };
        (GroundGrid::new(&config), config)
    }

    #[test]
    fn follows_a_curb_but_not_a_car_flank() {
        let (mut g, config) = grid();
        g.clear();
        for x in 3..10 {
            let x = x as f32 + 0.5;
            // Road along +x at -1.9, then a 0.15 m curb for y > 5.
            for y in [-3.5f32, 0.5, 2.5, 4.5] {
                let c = g.cell_of(x, y);
                g.add(c, -1.9);
            }
            for y in [5.5f32, 6.5] {
                let c = g.cell_of(x, y);
                g.add(c, -1.75);
            }
        }
        // A car flank at y = -5.5 with no ground visible: 0.3 m to 1.5 m up.
        let flank = g.cell_of(6.5, -5.5);
        g.add(flank, -1.6);
        g.add(flank, -0.4);
        g.estimate(&config);
        assert!((g.height(g.cell_of(6.5, 6.5)) + 1.75).abs() < 1e-6);
        assert!((g.height(flank) + 1.9).abs() < 1e-6);
        // Empty cells inherit from inside.
        assert!((g.height(g.cell_of(-8.5, -8.5)) + 1.9).abs() < 1e-6);
    }
}
