//! The lidar obstacle stage: one [`LidarScan`] in, 3D obstacles out.
//!
//! Crop (range and region of interest) -> ground estimation on a grid grown
//! from the sensor (grades, curbs) -> linear-time Euclidean clustering with a
//! range-adaptive tolerance -> oriented boxes (L-shape or minimum-area) with
//! class-size completion -> per obstacle: centre, size, yaw, class guess,
//! point count, nearest range, footprint polygon.
//!
//! Owns all its working buffers. Single-threaded, never blocks, never reads
//! the clock, and after the first scans (buffers grown) never allocates.

mod boxfit;
mod cluster;
mod config;
mod ground;

pub use config::{ClassModel, ConfigError, LidarConfig};

use crate::frames::LidarScan;
use crate::msg::ObstacleSource;
use crate::obstacle::{Box3, Footprint, Obstacle, ObstacleClass, TrackState};
use boxfit::Criterion;
use cluster::ClusterGrid;
use ground::GroundGrid;

pub struct LidarStage {
    config: LidarConfig,
    ground: GroundGrid,
    clusters: ClusterGrid,
    /// Kept (cropped) points: scan index and ground cell.
    kept: Vec<u32>,
    kept_cell: Vec<u32>,
    /// Non-ground points and the ground height under each.
    x: Vec<f32>,
    y: Vec<f32>,
    z: Vec<f32>,
    ground_z: Vec<f32>,
    fit: Vec<[f32; 2]>,
    hull: Vec<[f32; 2]>,
    summaries: Vec<ClusterSummary>,
    /// Up to [`LidarConfig::max_fit_points`] points per output obstacle (an
    /// even subsample), for fusion: obstacle `k`'s are
    /// `points[spans[k].0..spans[k].1]`.
    points: Vec<[f32; 3]>,
    /// The ground height under each of `points`.
    point_ground: Vec<f32>,
    /// Scratch: points projected on an axis, for splitting.
    proj: Vec<f32>,
    spans: Vec<(u32, u32)>,
}

/// Counts of the last scan, for status and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LidarStats {
    pub input_points: usize,
    pub kept_points: usize,
    pub ground_points: usize,
    pub clusters: usize,
    pub structures: usize,
    pub obstacles: usize,
}

impl LidarStage {
    pub fn new(config: LidarConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(LidarStage {
            ground: GroundGrid::new(&config),
            clusters: ClusterGrid::new(&config),
            config,
            kept: Vec::new(),
            kept_cell: Vec::new(),
            x: Vec::new(),
            y: Vec::new(),
            z: Vec::new(),
            ground_z: Vec::new(),
            fit: Vec::new(),
            hull: Vec::new(),
            summaries: Vec::new(),
            points: Vec::new(),
            point_ground: Vec::new(),
            proj: Vec::new(),
            spans: Vec::new(),
        })
    }

    pub fn config(&self) -> &LidarConfig {
        &self.config
    }

    /// The estimated ground height (scan frame z) under `(x, y)` in the
    /// last scan (the region of interest's edge beyond it).
    pub fn ground_height_at(&self, x: f32, y: f32) -> f32 {
        self.ground.height(self.ground.cell_of(x, y))
    }

    /// A subsample of obstacle `k`'s points (scan frame) from the last
    /// [`LidarStage::process`]: what fusion projects into the image.
    pub fn points_of(&self, k: usize) -> &[[f32; 3]] {
        self.spans
            .get(k)
            .map_or(&[], |&(a, b)| &self.points[a as usize..b as usize])
    }

    /// Finds the obstacles of one scan, in the scan's frame. `out` is
    /// cleared first; its capacity is reused.
    pub fn process(&mut self, scan: &LidarScan, out: &mut Vec<Obstacle>) -> LidarStats {
        out.clear();
        self.points.clear();
        self.point_ground.clear();
        self.spans.clear();
        let mut stats = LidarStats {
            input_points: scan.len(),
            ..LidarStats::default()
        };
        self.crop(scan);
        stats.kept_points = self.kept.len();
        self.ground.estimate(&self.config);
        self.split_ground(scan);
        stats.ground_points = stats.kept_points - self.x.len();
        stats.clusters = self.clusters.cluster(&self.x, &self.y, &self.config);
        self.summarize(stats.clusters);
        for id in 0..stats.clusters {
            match self.fit_cluster(id, scan, out) {
                Fitted::Obstacle => {}
                Fitted::Structure => stats.structures += 1,
                Fitted::TooSmall | Fitted::Merged => {}
            }
        }
        if self.config.absorb_fragments {
            self.absorb_fragments(out);
        }
        stats.obstacles = out.len();
        stats
    }

    /// Drops `unknown` obstacles whose centre lies inside a vehicle's box
    /// (a mirror, a wheel arch, a bumper the clustering left apart): they
    /// are that vehicle. Keeps `spans` in step and renumbers ids.
    fn absorb_fragments(&mut self, out: &mut Vec<Obstacle>) {
        let inside_a_vehicle = |o: &Obstacle, all: &[Obstacle]| {
            o.class == ObstacleClass::Unknown
                && all.iter().any(|v| {
                    matches!(v.class, ObstacleClass::Car | ObstacleClass::Truck)
                        && box_holds(&v.bbox, o.bbox.center)
                })
        };
        let mut kept = 0;
        for k in 0..out.len() {
            if inside_a_vehicle(&out[k], out) {
                continue;
            }
            out.swap(kept, k);
            self.spans.swap(kept, k);
            kept += 1;
        }
        out.truncate(kept);
        self.spans.truncate(kept);
        for (k, o) in out.iter_mut().enumerate() {
            o.id = k as u32 + 1;
        }
    }

    fn crop(&mut self, scan: &LidarScan) {
        let c = &self.config;
        let (min_r2, max_r2) = (c.min_range * c.min_range, c.max_range * c.max_range);
        self.ground.clear();
        self.kept.clear();
        self.kept_cell.clear();
        for i in 0..scan.len() {
            let (x, y, z) = (scan.x[i], scan.y[i], scan.z[i]);
            let r2 = x * x + y * y;
            let inside = r2 >= min_r2
                && r2 <= max_r2
                && x >= c.roi_x[0]
                && x < c.roi_x[1]
                && y >= c.roi_y[0]
                && y < c.roi_y[1]
                && z >= c.roi_z[0]
                && z < c.roi_z[1];
            if inside {
                let cell = self.ground.cell_of(x, y);
                self.ground.add(cell, z);
                self.kept.push(i as u32);
                self.kept_cell.push(cell as u32);
            }
        }
    }

    fn split_ground(&mut self, scan: &LidarScan) {
        self.x.clear();
        self.y.clear();
        self.z.clear();
        self.ground_z.clear();
        for (&i, &cell) in self.kept.iter().zip(&self.kept_cell) {
            let i = i as usize;
            let ground = self.ground.height(cell as usize);
            let above = scan.z[i] - ground;
            if above >= self.config.ground_clearance && above <= self.config.max_point_height {
                self.x.push(scan.x[i]);
                self.y.push(scan.y[i]);
                self.z.push(scan.z[i]);
                self.ground_z.push(ground);
            }
        }
    }

    /// Per-cluster extents, and which floating clusters join which host.
    fn summarize(&mut self, clusters: usize) {
        self.summaries.clear();
        for id in 0..clusters {
            let mut s = ClusterSummary::empty();
            for &p in self.clusters.members(id) {
                let p = p as usize;
                s.add(self.x[p], self.y[p], self.z[p], self.ground_z[p]);
            }
            self.summaries.push(s);
        }
        // Objects do not float: a cluster with no point near the ground is
        // the upper part of something whose lower part the beams skipped
        // (a car's cabin behind its hood) or hid. It joins the nearest
        // cluster in front of it, along the same bearing, within reach.
        // Likewise a flank seen at a grazing angle breaks into slices along
        // the line of sight: a slice next to a nearer cluster's bearings
        // (within `shadow_bearing_margin_deg`) and within
        // `shadow_merge_per_metre` x range of it joins it.
        for id in 0..clusters {
            let c = self.summaries[id];
            let floating = c.bottom - c.ground > self.config.float_height;
            let margin = self.config.shadow_bearing_margin_deg.to_radians();
            let radial_reach = self.config.shadow_merge_per_metre * c.min_range;
            let lateral_reach = self.config.tolerance_at(c.min_range);
            let mut best: Option<(f32, usize)> = None;
            for (host, h) in self.summaries.iter().enumerate() {
                if host == id || h.min_range >= c.min_range {
                    continue;
                }
                let gap = h.gap(&c);
                let joins = if floating {
                    // Seen over its host (a cabin over its hood), in its shadow.
                    gap <= self.config.float_merge_gap
                        && c.bottom >= h.top - self.config.float_over_host
                        && h.bearing_covers(&c)
                } else {
                    // A slice further along the same line of sight.
                    let (radial, lateral) = h.gap_along_sight(&c);
                    radial <= radial_reach
                        && lateral <= lateral_reach
                        && h.bearing_touches(&c, margin)
                };
                // Slices of one object: together no bigger than a vehicle
                // (a car beside a long wall is not a slice of the wall).
                let mut together = *h;
                together.merge(&c);
                let joins = joins && together.diagonal() <= self.config.merge_max_extent;
                if joins && best.is_none_or(|(g, _)| gap < g) {
                    best = Some((gap, host));
                }
            }
            if let Some((_, host)) = best {
                self.summaries[id].host = host as u32;
            }
        }
    }

    /// The cluster `id` ends up in: itself, or its host's root.
    fn root(&self, mut id: usize) -> usize {
        // Hosts are strictly nearer, so the chain ends.
        while self.summaries[id].host != NO_HOST {
            id = self.summaries[id].host as usize;
        }
        id
    }

    /// True when cluster `other`'s points are fitted as part of root `id`.
    fn belongs_to(&self, other: usize, id: usize) -> bool {
        other == id || (self.summaries[other].host != NO_HOST && self.root(other) == id)
    }

    /// Fits cluster `id` and appends its obstacle to `out`, if it is one.
    fn fit_cluster(&mut self, id: usize, scan: &LidarScan, out: &mut Vec<Obstacle>) -> Fitted {
        if self.summaries[id].host != NO_HOST {
            return Fitted::Merged;
        }
        // The root's own points and those of every cluster it hosts.
        let mut total = ClusterSummary::empty();
        for other in 0..self.summaries.len() {
            if self.belongs_to(other, id) {
                total.merge(&self.summaries[other]);
            }
        }
        if (total.count as usize) < self.config.min_cluster_points as usize {
            return Fitted::TooSmall;
        }
        let (ground, top) = (total.ground, total.top);
        let height = top - ground;
        if height > self.config.max_obstacle_height {
            return Fitted::Structure;
        }
        let stride = (total.count as usize).div_ceil(self.config.max_fit_points as usize);
        let first_point = self.points.len();
        let mut nearest = f32::MAX;
        let mut seen = 0usize;
        for other in 0..self.summaries.len() {
            if !self.belongs_to(other, id) {
                continue;
            }
            for &p in self.clusters.members(other) {
                let p = p as usize;
                let (x, y, z) = (self.x[p], self.y[p], self.z[p]);
                nearest = nearest.min((x * x + y * y + z * z).sqrt());
                if seen.is_multiple_of(stride) {
                    self.points.push([x, y, z]);
                    self.point_ground.push(self.ground_z[p]);
                }
                seen += 1;
            }
        }
        let whole = Part {
            first: first_point,
            end: self.points.len(),
            summary: total,
            nearest,
        };
        self.split_and_fit(whole, stride, 0, scan, out)
    }

    /// Fits `part`, first cut in two at the widest empty stretch across it
    /// when that is at least `split_gap` wide (cars parked nose to tail, a
    /// person beside a car), each side again, up to [`MAX_SPLITS`] deep.
    fn split_and_fit(
        &mut self,
        part: Part,
        stride: usize,
        depth: u32,
        scan: &LidarScan,
        out: &mut Vec<Obstacle>,
    ) -> Fitted {
        if depth < MAX_SPLITS
            && let Some((axis, cut)) = self.widest_gap(&part)
        {
            let middle = self.partition(&part, axis, cut);
            let near = self.part(part.first, middle, stride);
            let far = self.part(middle, part.end, stride);
            let a = self.split_and_fit(near, stride, depth + 1, scan, out);
            let b = self.split_and_fit(far, stride, depth + 1, scan, out);
            return if matches!(a, Fitted::Obstacle) { a } else { b };
        }
        self.fit_part(&part, scan, out)
    }

    /// The widest empty stretch across `part`'s points along the heading or
    /// the width axis of its box, as (axis, cut), when it is at least
    /// `split_gap` wide and leaves `split_min_points` on each side.
    fn widest_gap(&mut self, part: &Part) -> Option<([f32; 2], f32)> {
        let c = &self.config;
        let n = part.end - part.first;
        let min_side = c.split_min_points as usize;
        if c.split_gap <= 0.0 || n < 2 * min_side.max(1) {
            return None;
        }
        self.fit.clear();
        self.fit.extend(
            self.points[part.first..part.end]
                .iter()
                .map(|p| [p[0], p[1]]),
        );
        let rect = boxfit::fit(&self.fit, Criterion::Closeness);
        if rect.extent().0 < c.split_min_length {
            return None;
        }
        let [ax, ay] = rect.axis;
        let mut best: Option<([f32; 2], f32, f32)> = None;
        for axis in [[ax, ay], [-ay, ax]] {
            self.proj.clear();
            self.proj
                .extend(self.fit.iter().map(|&[x, y]| x * axis[0] + y * axis[1]));
            self.proj.sort_unstable_by(f32::total_cmp);
            for i in min_side.max(1)..=n - min_side.max(1) {
                let gap = self.proj[i] - self.proj[i - 1];
                if gap >= c.split_gap && best.is_none_or(|(_, _, g)| gap > g) {
                    best = Some((axis, (self.proj[i] + self.proj[i - 1]) / 2.0, gap));
                }
            }
        }
        best.map(|(axis, cut, _)| (axis, cut))
    }

    /// Reorders `part`'s points so those below `cut` along `axis` come
    /// first; returns where the others start.
    fn partition(&mut self, part: &Part, axis: [f32; 2], cut: f32) -> usize {
        let below = |p: &[f32; 3]| p[0] * axis[0] + p[1] * axis[1] < cut;
        let mut middle = part.first;
        for i in part.first..part.end {
            if below(&self.points[i]) {
                self.points.swap(i, middle);
                self.point_ground.swap(i, middle);
                middle += 1;
            }
        }
        middle
    }

    /// The extents of stored points `first..end` (each standing for
    /// `stride` points of the scan).
    fn part(&self, first: usize, end: usize, stride: usize) -> Part {
        let mut summary = ClusterSummary::empty();
        let mut nearest = f32::MAX;
        for (p, &ground) in self.points[first..end]
            .iter()
            .zip(&self.point_ground[first..end])
        {
            summary.add(p[0], p[1], p[2], ground);
            nearest = nearest.min((p[0] * p[0] + p[1] * p[1] + p[2] * p[2]).sqrt());
        }
        summary.count = ((end - first) * stride) as u32;
        Part {
            first,
            end,
            summary,
            nearest,
        }
    }

    /// Boxes, classes and scores one part; appends its obstacle to `out`
    /// unless it is too small or structure.
    fn fit_part(&mut self, part: &Part, scan: &LidarScan, out: &mut Vec<Obstacle>) -> Fitted {
        let total = part.summary;
        if (total.count as usize) < self.config.min_cluster_points as usize {
            return Fitted::TooSmall;
        }
        let (ground, top) = (total.ground, total.top);
        let height = top - ground;
        self.fit.clear();
        self.fit.extend(
            self.points[part.first..part.end]
                .iter()
                .map(|p| [p[0], p[1]]),
        );
        let diagonal =
            ((total.hi[0] - total.lo[0]).powi(2) + (total.hi[1] - total.lo[1]).powi(2)).sqrt();
        let criterion = if diagonal > 1.5 {
            Criterion::Closeness
        } else {
            Criterion::MinArea
        };
        let observed = boxfit::fit(&self.fit, criterion);
        if observed.extent().0 > self.config.max_obstacle_length {
            return Fitted::Structure;
        }
        let evidence = boxfit::Evidence {
            rect: observed,
            height,
            points: total.count,
            outline_share: boxfit::outline_share(
                &self.fit,
                &observed,
                self.config.classes.outline_margin,
            ),
            upper_share: boxfit::upper_share(
                &self.points[part.first..part.end],
                &observed,
                (ground + top) / 2.0,
            ),
        };
        let class = boxfit::classify(&evidence, &self.config.classes);
        let score = boxfit::existence_score(&evidence, class, &self.config.classes);
        let centre = [
            (total.lo[0] + total.hi[0]) / 2.0,
            (total.lo[1] + total.hi[1]) / 2.0,
        ];
        let floating = total.bottom - total.ground > self.config.float_height;
        let rect = boxfit::complete(observed, class, centre, floating, &self.config.classes);
        let (length, width) = rect.extent();
        let [cx, cy] = rect.center();
        convex_hull(&mut self.fit, &mut self.hull);
        self.spans.push((part.first as u32, part.end as u32));
        out.push(Obstacle {
            id: out.len() as u32 + 1,
            class,
            score,
            source: ObstacleSource::Lidar,
            bbox: Box3 {
                center: [cx as f64, cy as f64, ((ground + top) / 2.0) as f64],
                size: [length as f64, width as f64, height.max(0.0) as f64],
                yaw: rect.yaw() as f64,
            },
            velocity: [0.0; 3],
            point_count: total.count,
            nearest_distance: part.nearest,
            lidar_stamp: scan.stamp,
            camera_stamp: 0,
            latency: f32::NAN,
            footprint: Footprint::from_polygon(&self.hull),
            track: TrackState::NONE,
        });
        Fitted::Obstacle
    }
}

/// How many times a cluster may be cut in two, one side after the other.
const MAX_SPLITS: u32 = 3;

/// Stored points `first..end` of one cluster, or of a piece of one.
#[derive(Debug, Clone, Copy)]
struct Part {
    first: usize,
    end: usize,
    summary: ClusterSummary,
    nearest: f32,
}

const NO_HOST: u32 = u32::MAX;

/// Extents of one cluster.
#[derive(Debug, Clone, Copy)]
struct ClusterSummary {
    count: u32,
    /// Lowest ground under it, lowest and highest point.
    ground: f32,
    bottom: f32,
    top: f32,
    lo: [f32; 2],
    hi: [f32; 2],
    min_range: f32,
    /// Cluster this one was merged into, or NO_HOST.
    host: u32,
}

impl ClusterSummary {
    fn empty() -> Self {
        ClusterSummary {
            count: 0,
            ground: f32::MAX,
            bottom: f32::MAX,
            top: f32::MIN,
            lo: [f32::MAX; 2],
            hi: [f32::MIN; 2],
            min_range: f32::MAX,
            host: NO_HOST,
        }
    }

    fn add(&mut self, x: f32, y: f32, z: f32, ground: f32) {
        self.count += 1;
        self.ground = self.ground.min(ground);
        self.bottom = self.bottom.min(z);
        self.top = self.top.max(z);
        self.lo = [self.lo[0].min(x), self.lo[1].min(y)];
        self.hi = [self.hi[0].max(x), self.hi[1].max(y)];
        self.min_range = self.min_range.min((x * x + y * y).sqrt());
    }

    fn merge(&mut self, other: &ClusterSummary) {
        self.count += other.count;
        self.ground = self.ground.min(other.ground);
        self.bottom = self.bottom.min(other.bottom);
        self.top = self.top.max(other.top);
        self.lo = [self.lo[0].min(other.lo[0]), self.lo[1].min(other.lo[1])];
        self.hi = [self.hi[0].max(other.hi[0]), self.hi[1].max(other.hi[1])];
        self.min_range = self.min_range.min(other.min_range);
    }

    /// Bird's-eye diagonal of the bounding box.
    fn diagonal(&self) -> f32 {
        (self.hi[0] - self.lo[0]).hypot(self.hi[1] - self.lo[1])
    }

    /// Bird's-eye gap between the two bounding boxes (0 when they overlap).
    fn gap(&self, other: &ClusterSummary) -> f32 {
        let dx = (other.lo[0] - self.hi[0])
            .max(self.lo[0] - other.hi[0])
            .max(0.0);
        let dy = (other.lo[1] - self.hi[1])
            .max(self.lo[1] - other.hi[1])
            .max(0.0);
        (dx * dx + dy * dy).sqrt()
    }

    /// The gap between the boxes split into its part along the line of sight
    /// to `other` and its part across it.
    fn gap_along_sight(&self, other: &ClusterSummary) -> (f32, f32) {
        let dx = (other.lo[0] - self.hi[0]).max(0.0) - (self.lo[0] - other.hi[0]).max(0.0);
        let dy = (other.lo[1] - self.hi[1]).max(0.0) - (self.lo[1] - other.hi[1]).max(0.0);
        let cx = (other.lo[0] + other.hi[0]) / 2.0;
        let cy = (other.lo[1] + other.hi[1]) / 2.0;
        let norm = (cx * cx + cy * cy).sqrt().max(1e-6);
        let (ux, uy) = (cx / norm, cy / norm);
        ((dx * ux + dy * uy).abs(), (dx * uy - dy * ux).abs())
    }

    /// (centre bearing, half-width) of the bounding box seen from the sensor.
    fn bearing(&self) -> (f32, f32) {
        let cx = (self.lo[0] + self.hi[0]) / 2.0;
        let cy = (self.lo[1] + self.hi[1]) / 2.0;
        let centre = cy.atan2(cx);
        let mut half = 0.0f32;
        for (x, y) in [
            (self.lo[0], self.lo[1]),
            (self.lo[0], self.hi[1]),
            (self.hi[0], self.lo[1]),
            (self.hi[0], self.hi[1]),
        ] {
            half = half.max(wrap_pi(y.atan2(x) - centre).abs());
        }
        (centre, half)
    }

    /// True when `other`'s bearings lie within this cluster's (grown by a
    /// fifth): `other` is in this cluster's shadow.
    /// True when the two bearing intervals overlap or lie within `margin`.
    fn bearing_touches(&self, other: &ClusterSummary, margin: f32) -> bool {
        let (a, ha) = self.bearing();
        let (b, hb) = other.bearing();
        wrap_pi(a - b).abs() <= ha + hb + margin
    }

    fn bearing_covers(&self, other: &ClusterSummary) -> bool {
        let (a, ha) = self.bearing();
        let (b, hb) = other.bearing();
        wrap_pi(a - b).abs() + hb <= ha * 1.2
    }
}

/// True when `point`'s bird's-eye position lies inside `b`.
fn box_holds(b: &Box3, point: [f64; 3]) -> bool {
    let (s, c) = b.yaw.sin_cos();
    let (dx, dy) = (point[0] - b.center[0], point[1] - b.center[1]);
    let along = dx * c + dy * s;
    let across = -dx * s + dy * c;
    along.abs() <= b.size[0] / 2.0 && across.abs() <= b.size[1] / 2.0
}

fn wrap_pi(a: f32) -> f32 {
    let tau = std::f32::consts::TAU;
    let w = a.rem_euclid(tau);
    if w > std::f32::consts::PI { w - tau } else { w }
}

enum Fitted {
    Obstacle,
    Structure,
    TooSmall,
    /// Its points were fitted with the cluster it rests on.
    Merged,
}

/// Andrew's monotone chain; sorts `points` in place, writes the hull
/// (counter-clockwise, no repeated first vertex) into `hull`.
fn convex_hull(points: &mut [[f32; 2]], hull: &mut Vec<[f32; 2]>) {
    hull.clear();
    points.sort_unstable_by(|a, b| a[0].total_cmp(&b[0]).then(a[1].total_cmp(&b[1])));
    if points.len() < 3 {
        hull.extend_from_slice(points);
        return;
    }
    let cross = |o: [f32; 2], a: [f32; 2], b: [f32; 2]| {
        (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])
    };
    for &p in points.iter() {
        while hull.len() >= 2 && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0.0 {
            hull.pop();
        }
        hull.push(p);
    }
    let lower = hull.len() + 1;
    for &p in points.iter().rev().skip(1) {
        while hull.len() >= lower && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0.0 {
            hull.pop();
        }
        hull.push(p);
    }
    hull.pop();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hull_of_a_square_with_inner_points() {
        let mut points = vec![
            [0.0, 0.0],
            [1.0, 0.0],
            [1.0, 1.0],
            [0.0, 1.0],
            [0.5, 0.5],
            [0.2, 0.7],
        ];
        let mut hull = Vec::new();
        convex_hull(&mut points, &mut hull);
        assert_eq!(hull, [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]);
    }
}
