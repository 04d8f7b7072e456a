//! Multi-object tracking: gives the obstacles of successive outputs stable
//! ids and a velocity, from a Kalman filter per track.
//!
//! Runs in the output chain ([`crate::output`]), the one place that sees
//! every output in order; it must never run in a lane (lanes run in
//! parallel and finish out of order). Each step: predict every track to the
//! output's stamp, pair tracks with obstacles by an optimal assignment
//! ([`assign`]) on the squared Mahalanobis distance of the position, gated
//! (and never across the vehicle / person divide), update the paired
//! tracks, start a track for every unpaired obstacle, and drop tracks that
//! missed too often or too long.
//!
//! Tracks live in a fixed frame when the ego pose is known (the caller
//! passes odom ← base at the output's stamp), so the ego's motion is not
//! read as the objects'; without it they live in the output frame and the
//! velocities are relative to the ego. Only the stamps it is given are
//! read as time (no clock), and containers are ordered vectors, so a
//! lockstep replay stays byte-identical. Nothing allocates after the
//! track table and the solver's buffers have reached their size.
//!
//! Owns [`Tracker`], [`TrackingConfig`] and [`EgoPose2`]; [`ego`] keeps
//! the ego's poses from `/tf`.

pub mod assign;
pub mod ego;
pub mod kalman;

use serde::{Deserialize, Serialize};

use crate::obstacle::{Obstacle, ObstacleClass, TrackState};
use crate::validate::ConfigError;
use assign::Assigner;
use kalman::ConstantVelocity;

/// The `tracking` section of the configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TrackingConfig {
    /// Track obstacles (stable ids, velocities); off: every output's ids
    /// are its own and velocities are zero.
    pub enabled: bool,
    /// A track's velocity is published once it has had this many updates.
    pub birth_hits: u32,
    /// A track missed in more consecutive outputs than this is dropped.
    /// A coasting track is never published, so keeping it costs no false
    /// positive; it lets a pedestrian hidden behind a parked car for most
    /// of a second come back under its own id.
    pub max_misses: u32,
    /// A track without an update for longer than this is dropped, s.
    pub max_coast_s: f64,
    /// Gate on the squared Mahalanobis distance of a pairing (chi-square,
    /// 2 degrees of freedom: 9.21 keeps 99 % of true pairings).
    pub gate: f64,
    /// Added to a pairing's cost (the squared Mahalanobis distance) when
    /// the obstacle's class is not the track's (a truck read as a car, a
    /// fragment of it as unknown): of two obstacles in a track's gate, the
    /// one of its own class wins unless it is this much further.
    pub class_change_cost: f64,
    /// Standard deviation of a measured obstacle centre, m.
    pub position_sd_m: f64,
    /// Standard deviation of the unknown acceleration (the process noise), m/s².
    pub accel_sd: f64,
    /// A new track's velocity uncertainty, m/s.
    pub initial_velocity_sd: f64,
    /// Most tracks kept at once (the table's size: no allocation beyond it).
    pub max_tracks: usize,
    /// The fixed frame tracks live in: its transform to the output frame on
    /// `/tf` (as odometry publishes it, `lookout synth` too) is the ego's
    /// pose. Without it, tracks live in the output frame and velocities are
    /// relative to the ego (counted as `without_ego`).
    pub fixed_frame: String,
    /// Also take the ego's pose from this `nav_msgs/Odometry` topic (its
    /// `header.frame_id` the fixed frame, its `child_frame_id` the output
    /// frame), as a vehicle's odometry or localization publishes it; empty
    /// (default): from `/tf` only. The node needs one of the two to track
    /// over the ground.
    pub odometry_topic: String,
}

impl Default for TrackingConfig {
    fn default() -> Self {
        TrackingConfig {
            enabled: true,
            birth_hits: 3,
            max_misses: 9,
            max_coast_s: 1.0,
            gate: 9.21,
            class_change_cost: 4.0,
            position_sd_m: 0.5,
            accel_sd: 6.0,
            initial_velocity_sd: 10.0,
            max_tracks: 512,
            fixed_frame: "odom".into(),
            odometry_topic: String::new(),
        }
    }
}

impl TrackingConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive = |field: &str, value: f64| {
            if value > 0.0 && value.is_finite() {
                Ok(())
            } else {
                Err(ConfigError::new(
                    format!("tracking.{field}"),
                    "must be a positive number",
                ))
            }
        };
        positive("max_coast_s", self.max_coast_s)?;
        positive("gate", self.gate)?;
        positive("position_sd_m", self.position_sd_m)?;
        if !(self.class_change_cost >= 0.0 && self.class_change_cost.is_finite()) {
            return Err(ConfigError::new(
                "tracking.class_change_cost",
                "must be a number >= 0",
            ));
        }
        positive("accel_sd", self.accel_sd)?;
        positive("initial_velocity_sd", self.initial_velocity_sd)?;
        if self.birth_hits == 0 {
            return Err(ConfigError::new(
                "tracking.birth_hits",
                "must be at least 1",
            ));
        }
        if self.max_tracks == 0 {
            return Err(ConfigError::new(
                "tracking.max_tracks",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

/// The ego's pose in a fixed frame (odom ← base) at one instant: position
/// (m) and heading (rad).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct EgoPose2 {
    pub x: f64,
    pub y: f64,
    pub yaw: f64,
}

impl EgoPose2 {
    fn to_fixed(self, p: [f64; 2]) -> [f64; 2] {
        let (s, c) = self.yaw.sin_cos();
        [self.x + c * p[0] - s * p[1], self.y + s * p[0] + c * p[1]]
    }

    fn to_local(self, p: [f64; 2]) -> [f64; 2] {
        self.vector_to_local([p[0] - self.x, p[1] - self.y])
    }

    fn vector_to_local(self, v: [f64; 2]) -> [f64; 2] {
        let (s, c) = self.yaw.sin_cos();
        [c * v[0] + s * v[1], -s * v[0] + c * v[1]]
    }

    /// A 2×2 covariance (row major) of the tracking frame, in the ego's.
    fn covariance_to_local(self, covariance: [f64; 4]) -> [f32; 4] {
        rotate_covariance(covariance, -self.yaw)
    }
}

/// R Σ Rᵀ for the rotation by `angle` about z (Σ 2×2, row major,
/// symmetric: the result is exactly so too).
fn rotate_covariance(sigma: [f64; 4], angle: f64) -> [f32; 4] {
    let (s, c) = angle.sin_cos();
    let [a, b, _, d] = sigma;
    let b = (b + sigma[2]) / 2.0;
    let xx = c * c * a - 2.0 * c * s * b + s * s * d;
    let yy = s * s * a + 2.0 * c * s * b + c * c * d;
    let xy = c * s * (a - d) + (c * c - s * s) * b;
    [xx as f32, xy as f32, xy as f32, yy as f32]
}

#[derive(Debug, Clone, Copy)]
struct Track {
    id: u32,
    filter: ConstantVelocity,
    /// The class most of its obstacles had ([`ClassVotes`]).
    class: ObstacleClass,
    votes: ClassVotes,
    hits: u32,
    misses: u32,
    updated: i64,
    /// The stamp of its first update.
    born: i64,
}

/// A track's class, by vote: each obstacle it is updated with adds its
/// score to its class (unknown obstacles, fragments and the like, vote for
/// none). One frame's misreading (a distant car's cluster read as a
/// cyclist, a pedestrian's as a cyclist) does not change what the track
/// publishes.
#[derive(Debug, Clone, Copy, Default)]
struct ClassVotes([f32; 4]);

impl ClassVotes {
    const CLASSES: [ObstacleClass; 4] = [
        ObstacleClass::Car,
        ObstacleClass::Truck,
        ObstacleClass::Pedestrian,
        ObstacleClass::Cyclist,
    ];

    fn of(class: ObstacleClass, score: f32) -> Self {
        let mut votes = ClassVotes::default();
        votes.add(class, score);
        votes
    }

    fn add(&mut self, class: ObstacleClass, score: f32) {
        if let Some(i) = Self::CLASSES.iter().position(|&c| c == class) {
            // At least a little: a detector without scores still votes.
            self.0[i] += score.clamp(0.05, 1.0);
        }
    }

    /// The class with the most votes (the first of equals); none before
    /// any vote.
    fn winner(&self) -> Option<ObstacleClass> {
        let (i, &best) = self
            .0
            .iter()
            .enumerate()
            .fold((0, &0.0), |a, b| if b.1 > a.1 { b } else { a });
        (best > 0.0).then(|| Self::CLASSES[i])
    }
}

/// What one step did, for the counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StepCounts {
    pub paired: u32,
    pub born: u32,
    pub dropped: u32,
    /// Obstacles left without a track because the table was full.
    pub untracked: u32,
}

/// Counters over a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackerCounters {
    pub steps: u64,
    pub tracks_born: u64,
    pub tracks_dropped: u64,
    /// Outputs older than one already tracked: their obstacles were named
    /// after the tracks they pair with, but no track was updated.
    pub out_of_order: u64,
    /// Obstacles left untracked because `max_tracks` was reached.
    pub untracked: u64,
    /// Steps without an ego pose (velocities relative to the ego).
    pub without_ego: u64,
    /// Ego-pose messages (`/tf` or the odometry topic) that did not decode.
    pub ego_rejected: u64,
    /// Outputs further back in time than `max_coast_s`: every track was
    /// dropped and tracking began anew.
    pub time_resets: u64,
}

/// The tracks and the reused buffers of the association.
#[derive(Debug)]
pub struct Tracker {
    config: TrackingConfig,
    tracks: Vec<Track>,
    assigner: Assigner,
    /// Obstacle centres in the tracking frame, this step.
    measured: Vec<[f64; 2]>,
    /// Per obstacle: paired with a track.
    paired: Vec<bool>,
    /// Per track: the obstacle it is paired with this step.
    pairs: Vec<Option<usize>>,
    next_id: u32,
    last_stamp: Option<i64>,
    counters: TrackerCounters,
}

/// Classes that may share a track: a car may be read as a truck and a
/// pedestrian as a cyclist from one output to the next (and anything as
/// unknown), but never a vehicle as a person.
fn compatible(a: ObstacleClass, b: ObstacleClass) -> bool {
    use ObstacleClass::*;
    let vehicle = |c| matches!(c, Car | Truck);
    let person = |c| matches!(c, Pedestrian | Cyclist);
    a == Unknown || b == Unknown || (vehicle(a) && vehicle(b)) || (person(a) && person(b))
}

/// Updates a track needs before its filter's velocity moves it in
/// [`Tracker::predict_to`]: the second measurement gives the first velocity.
const PREDICT_MIN_HITS: u32 = 2;

const NS: f64 = 1e-9;

impl Tracker {
    pub fn new(config: TrackingConfig) -> Self {
        let capacity = config.max_tracks;
        Tracker {
            config,
            tracks: Vec::with_capacity(capacity),
            assigner: Assigner::new(),
            measured: Vec::new(),
            paired: Vec::new(),
            pairs: Vec::new(),
            next_id: 1,
            last_stamp: None,
            counters: TrackerCounters::default(),
        }
    }

    pub fn config(&self) -> &TrackingConfig {
        &self.config
    }

    pub fn counters(&self) -> TrackerCounters {
        self.counters
    }

    /// Counts an ego-pose message that did not decode.
    pub fn count_ego_rejected(&mut self) {
        self.counters.ego_rejected += 1;
    }

    /// Live tracks (confirmed or not).
    pub fn len(&self) -> usize {
        self.tracks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tracks.is_empty()
    }

    /// Tracks `obstacles` (one output, header time `stamp`, in the output
    /// frame) and writes each one's track id into `id` and its velocity
    /// (in the output frame; zero until the track has `birth_hits`
    /// updates) into `velocity`. `ego`: odom ← base at `stamp`, when known.
    pub fn step(
        &mut self,
        stamp: i64,
        ego: Option<EgoPose2>,
        obstacles: &mut [Obstacle],
    ) -> StepCounts {
        self.counters.steps += 1;
        if ego.is_none() {
            self.counters.without_ego += 1;
        }
        let ego = ego.unwrap_or_default();
        self.measured.clear();
        self.measured.extend(
            obstacles
                .iter()
                .map(|o| ego.to_fixed([o.bbox.center[0], o.bbox.center[1]])),
        );
        if let Some(last) = self.last_stamp
            && (last - stamp) as f64 * NS > self.config.max_coast_s
        {
            // Time went back further than any track could coast (a bag
            // loop, a sim-time reset): a new run, with new tracks.
            self.counters.time_resets += 1;
            self.tracks.clear();
            self.last_stamp = None;
        }
        if self.last_stamp.is_some_and(|last| stamp < last) {
            self.counters.out_of_order += 1;
            self.name_only(stamp, ego, obstacles);
            return StepCounts::default();
        }
        // Every track stands at the last stamp (born or updated there).
        let dt = self
            .last_stamp
            .map_or(0.0, |last| (stamp - last) as f64 * NS);
        self.last_stamp = Some(stamp);
        for track in &mut self.tracks {
            track.filter.predict(dt, self.config.accel_sd);
        }
        let mut counts = self.associate_and_update(stamp, ego, obstacles);
        counts.born = self.birth(stamp, ego, obstacles, &mut counts.untracked);
        counts.dropped = self.drop_stale(stamp);
        self.counters.tracks_born += u64::from(counts.born);
        self.counters.tracks_dropped += u64::from(counts.dropped);
        self.counters.untracked += u64::from(counts.untracked);
        counts
    }

    /// Pairs tracks with `obstacles` into `pairs` (and marks the obstacles
    /// paired in `paired`); the tracks are taken `shift_s` seconds along
    /// their velocity (to name an older output). Confirmed tracks choose
    /// first, tentative ones share what is left: a track born of one
    /// stray detection, whose velocity is still unknown and whose gate is
    /// therefore wide, never takes an obstacle from a track that has
    /// followed it.
    fn solve(&mut self, obstacles: &[Obstacle], shift_s: f64) {
        let (tracks, measured, config) = (&self.tracks, &self.measured, &self.config);
        self.pairs.clear();
        self.pairs.resize(tracks.len(), None);
        self.paired.clear();
        self.paired.resize(obstacles.len(), false);
        for confirmed in [true, false] {
            let paired = &self.paired;
            let rows = self
                .assigner
                .solve(tracks.len(), obstacles.len(), f64::INFINITY, |t, o| {
                    let track = &tracks[t];
                    if (track.hits >= config.birth_hits) != confirmed || paired[o] {
                        return f64::INFINITY;
                    }
                    pairing_cost(track, &obstacles[o], measured[o], shift_s, config)
                });
            for (t, row) in rows.iter().enumerate() {
                if let Some(o) = *row {
                    self.pairs[t] = Some(o);
                    self.paired[o] = true;
                }
            }
        }
    }

    fn associate_and_update(
        &mut self,
        stamp: i64,
        ego: EgoPose2,
        obstacles: &mut [Obstacle],
    ) -> StepCounts {
        let mut counts = StepCounts::default();
        self.solve(obstacles, 0.0);
        for (t, track) in self.tracks.iter_mut().enumerate() {
            let Some(o) = self.pairs[t] else {
                track.misses += 1;
                continue;
            };
            track
                .filter
                .update(self.measured[o], self.config.position_sd_m);
            track.hits += 1;
            track.misses = 0;
            track.updated = stamp;
            track.votes.add(obstacles[o].class, obstacles[o].score);
            track.class = track.votes.winner().unwrap_or(track.class);
            counts.paired += 1;
            publish(track, &self.config, stamp, ego, &mut obstacles[o]);
        }
        counts
    }

    fn birth(
        &mut self,
        stamp: i64,
        ego: EgoPose2,
        obstacles: &mut [Obstacle],
        untracked: &mut u32,
    ) -> u32 {
        let mut born = 0;
        for (o, obstacle) in obstacles.iter_mut().enumerate() {
            if self.paired[o] {
                continue;
            }
            if self.tracks.len() >= self.config.max_tracks {
                *untracked += 1;
                obstacle.id = 0;
                obstacle.velocity = [0.0; 3];
                obstacle.track = TrackState::NONE;
                continue;
            }
            let track = Track {
                id: self.take_id(),
                filter: ConstantVelocity::new(
                    self.measured[o],
                    self.config.position_sd_m,
                    self.config.initial_velocity_sd,
                ),
                class: obstacle.class,
                votes: ClassVotes::of(obstacle.class, obstacle.score),
                hits: 1,
                misses: 0,
                updated: stamp,
                born: stamp,
            };
            publish(&track, &self.config, stamp, ego, obstacle);
            self.tracks.push(track);
            born += 1;
        }
        born
    }

    fn drop_stale(&mut self, stamp: i64) -> u32 {
        let before = self.tracks.len();
        let (max_misses, max_coast) = (self.config.max_misses, self.config.max_coast_s);
        self.tracks
            .retain(|t| t.misses <= max_misses && ((stamp - t.updated) as f64 * NS) <= max_coast);
        (before - self.tracks.len()) as u32
    }

    /// Moves the obstacles of the output just tracked (header time
    /// `stamp`, the ego at `ego` then) to the instant `to` (the ego at
    /// `ego_to` then), in the output frame as it stands at `to`: the
    /// obstacle of a track with a velocity (two updates or more, confirmed
    /// or not: a car that has just come into range moves as fast as any) to
    /// where its filter predicts it, any other as standing still over the
    /// ground. Headings and velocities
    /// turn with the ego. Returns the obstacles moved by a track.
    pub fn predict_to(
        &self,
        stamp: i64,
        to: i64,
        ego: Option<EgoPose2>,
        ego_to: Option<EgoPose2>,
        obstacles: &mut [Obstacle],
    ) -> u32 {
        let ego = ego.unwrap_or_default();
        let ego_to = ego_to.unwrap_or(ego);
        let turn = ego.yaw - ego_to.yaw;
        let dt = self.last_stamp.map_or(0.0, |last| (to - last) as f64 * NS);
        let mut predicted = 0;
        for obstacle in obstacles.iter_mut() {
            let centre = [obstacle.bbox.center[0], obstacle.bbox.center[1]];
            let track = (obstacle.id != 0)
                .then(|| self.tracks.iter().find(|t| t.id == obstacle.id))
                .flatten()
                .filter(|t| t.hits >= PREDICT_MIN_HITS && to >= stamp);
            let seen = ego.to_fixed(centre);
            let fixed = match track {
                Some(track) => {
                    let mut filter = track.filter;
                    filter.predict(dt, self.config.accel_sd);
                    predicted += 1;
                    // Older by the horizon, and less sure of where it is.
                    obstacle.track = track_state(track, &self.config, &filter, to, ego_to);
                    [filter.state.x, filter.state.y]
                }
                None => {
                    if obstacle.track.is_tracked() {
                        let c = obstacle.track.position_covariance.map(f64::from);
                        obstacle.track.position_covariance = rotate_covariance(c, turn);
                    }
                    seen
                }
            };
            let [x, y] = ego_to.to_local(fixed);
            obstacle.bbox.center[0] = x;
            obstacle.bbox.center[1] = y;
            obstacle.bbox.yaw += turn;
            let (s, c) = turn.sin_cos();
            let [vx, vy] = [obstacle.velocity[0], obstacle.velocity[1]];
            obstacle.velocity[0] = c * vx - s * vy;
            obstacle.velocity[1] = s * vx + c * vy;
            // The footprint moves with the box, over the ground.
            let shift = [fixed[0] - seen[0], fixed[1] - seen[1]];
            for corner in obstacle.footprint.vertices_mut() {
                let p = ego.to_fixed([f64::from(corner[0]), f64::from(corner[1])]);
                let p = ego_to.to_local([p[0] + shift[0], p[1] + shift[1]]);
                *corner = [p[0] as f32, p[1] as f32];
            }
        }
        predicted
    }

    fn take_id(&mut self) -> u32 {
        let id = self.next_id;
        self.next_id = self.next_id.checked_add(1).unwrap_or(1);
        id
    }

    /// An output older than the tracks: name its obstacles after the tracks
    /// they pair with (as the tracks were predicted back to its stamp),
    /// without changing any track.
    fn name_only(&mut self, stamp: i64, ego: EgoPose2, obstacles: &mut [Obstacle]) {
        let Some(last) = self.last_stamp else {
            return;
        };
        // Every track stands at `last`; a constant-velocity state runs
        // back exactly along its velocity.
        self.solve(obstacles, (stamp - last) as f64 * NS);
        for obstacle in obstacles.iter_mut() {
            obstacle.id = 0;
            obstacle.velocity = [0.0; 3];
            obstacle.track = TrackState::NONE;
        }
        for (t, pair) in self.pairs.iter().enumerate() {
            if let Some(o) = *pair {
                // Its covariance is the later stamp's: a bound on the
                // older one's.
                publish(&self.tracks[t], &self.config, stamp, ego, &mut obstacles[o]);
            }
        }
    }
}

/// The cost of pairing `track` with `obstacle` (measured at `position` in
/// the tracking frame, the track taken `shift_s` along its velocity): the
/// squared Mahalanobis distance of the centre, plus
/// `class_change_cost` when the classes differ; infinite outside the gate
/// or across the vehicle / person divide.
fn pairing_cost(
    track: &Track,
    obstacle: &Obstacle,
    position: [f64; 2],
    shift_s: f64,
    config: &TrackingConfig,
) -> f64 {
    if !compatible(track.class, obstacle.class) {
        return f64::INFINITY;
    }
    let mut filter = track.filter;
    filter.state.x += filter.state.z * shift_s;
    filter.state.y += filter.state.w * shift_s;
    let d2 = filter.mahalanobis2(position, config.position_sd_m);
    if d2 >= config.gate {
        f64::INFINITY
    } else if track.class != obstacle.class {
        d2 + config.class_change_cost
    } else {
        d2
    }
}

/// What an obstacle says of a track born at `born` whose filter stands at
/// `stamp`: its age then, and the centre's covariance in the ego's frame.
fn track_state(
    track: &Track,
    config: &TrackingConfig,
    filter: &ConstantVelocity,
    stamp: i64,
    ego: EgoPose2,
) -> TrackState {
    TrackState {
        age_s: ((stamp - track.born).max(0) as f64 * NS) as f32,
        position_covariance: ego.covariance_to_local(filter.position_covariance()),
        velocity_known: track.hits >= config.birth_hits,
    }
}

/// Writes the track's id, class (by vote, unless the obstacle's is
/// unknown), age and position covariance at `stamp` and (once confirmed)
/// velocity into `obstacle`.
fn publish(
    track: &Track,
    config: &TrackingConfig,
    stamp: i64,
    ego: EgoPose2,
    obstacle: &mut Obstacle,
) {
    obstacle.id = track.id;
    obstacle.track = track_state(track, config, &track.filter, stamp, ego);
    // An unknown obstacle stays unknown: a fragment that a car's track
    // took (or a pole beside it) is not a second car.
    if obstacle.class != ObstacleClass::Unknown && track.votes.winner().is_some() {
        obstacle.class = track.class;
    }
    obstacle.velocity = if obstacle.track.velocity_known {
        let [vx, vy] = ego.vector_to_local(track.filter.velocity());
        [vx, vy, 0.0]
    } else {
        [0.0; 3]
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::obstacle::{Box3, Footprint, ObstacleSource};

    const MS: i64 = 1_000_000;

    fn obstacle(class: ObstacleClass, x: f64, y: f64) -> Obstacle {
        Obstacle {
            id: 0,
            class,
            score: 0.9,
            source: ObstacleSource::Lidar,
            bbox: Box3 {
                center: [x, y, 0.8],
                size: [4.5, 1.9, 1.6],
                yaw: 0.0,
            },
            velocity: [0.0; 3],
            point_count: 100,
            nearest_distance: 5.0,
            lidar_stamp: 0,
            camera_stamp: 0,
            latency: f32::NAN,
            footprint: Footprint::default(),
            track: TrackState::NONE,
        }
    }

    /// Two cars pass each other on neighbouring lanes (3.5 m apart) at
    /// 15 m/s each way, listed in a different order every output: each keeps
    /// its id and gets its velocity.
    #[test]
    fn ids_hold_and_velocities_converge() {
        let mut tracker = Tracker::new(TrackingConfig::default());
        let (mut first, mut second) = (0, 0);
        for k in 0..30 {
            let t = k as f64 * 0.1;
            let mut out = vec![
                obstacle(ObstacleClass::Car, -20.0 + 15.0 * t, 1.75),
                obstacle(ObstacleClass::Car, 20.0 - 15.0 * t, -1.75),
            ];
            if k % 2 == 1 {
                out.reverse();
            }
            tracker.step(k * 100 * MS, None, &mut out);
            if k % 2 == 1 {
                out.reverse();
            }
            if k == 0 {
                (first, second) = (out[0].id, out[1].id);
                assert_ne!(first, second);
            }
            assert_eq!((out[0].id, out[1].id), (first, second), "step {k}");
            if k < 2 {
                assert_eq!(out[0].velocity, [0.0; 3], "not confirmed before birth_hits");
            }
            if k >= 10 {
                assert!(
                    (out[0].velocity[0] - 15.0).abs() < 0.3,
                    "{:?}",
                    out[0].velocity
                );
                assert!((out[1].velocity[0] + 15.0).abs() < 0.3);
            }
        }
        assert_eq!(tracker.counters().tracks_born, 2);
    }

    /// A parked car seen from an ego driving at 10 m/s: in the output frame
    /// it comes towards the ego; with the ego pose its velocity is zero,
    /// without it the velocity is the ego's, reversed.
    #[test]
    fn the_ego_motion_is_not_read_as_the_objects() {
        let mut with_pose = Tracker::new(TrackingConfig::default());
        let mut without = Tracker::new(TrackingConfig::default());
        let (mut moving, mut still) = (vec![], vec![]);
        for k in 0..20 {
            let t = k as f64 * 0.1;
            let ego = EgoPose2 {
                x: 10.0 * t,
                y: 0.0,
                yaw: 0.2,
            };
            // The car stands at (30, 8) in the fixed frame.
            let (s, c) = ego.yaw.sin_cos();
            let (dx, dy) = (30.0 - ego.x, 8.0 - ego.y);
            let local = [c * dx + s * dy, -s * dx + c * dy];
            let mut out = vec![obstacle(ObstacleClass::Car, local[0], local[1])];
            let mut out2 = out.clone();
            with_pose.step(k * 100 * MS, Some(ego), &mut out);
            without.step(k * 100 * MS, None, &mut out2);
            still = out[0].velocity.to_vec();
            moving = out2[0].velocity.to_vec();
        }
        assert!(still[0].abs() < 0.1 && still[1].abs() < 0.1, "{still:?}");
        let speed = (moving[0] * moving[0] + moving[1] * moving[1]).sqrt();
        assert!((speed - 10.0).abs() < 0.2, "{moving:?}");
        assert_eq!(without.counters().without_ego, 20);
        assert_eq!(with_pose.counters().without_ego, 0);
    }

    /// A track's age counts from its first update; its position variance
    /// starts at the measurement's, shrinks as updates come in, and turns
    /// with the ego into the output frame; prediction to a later moment
    /// makes it grow again.
    #[test]
    fn age_and_covariance_follow_the_track() {
        let config = TrackingConfig::default();
        let mut tracker = Tracker::new(config.clone());
        let ego = |k: i64| EgoPose2 {
            x: k as f64,
            y: 0.0,
            yaw: std::f64::consts::FRAC_PI_2,
        };
        let mut variances = vec![];
        let mut out = vec![];
        for k in 0..10 {
            out = vec![obstacle(ObstacleClass::Car, 20.0, 0.0)];
            tracker.step(k * 100 * MS, Some(ego(k)), &mut out);
            let track = out[0].track;
            assert!(track.is_tracked());
            assert!((track.age_s - k as f32 * 0.1).abs() < 1e-6, "{track:?}");
            variances.push(track.position_covariance);
        }
        let first = variances[0];
        let sd2 = (config.position_sd_m * config.position_sd_m) as f32;
        assert!(
            (first[0] - sd2).abs() < 1e-5 && first[1].abs() < 1e-6,
            "{first:?}"
        );
        let last = *variances.last().unwrap();
        assert!(
            last[0] < first[0] * 0.8 && last[3] < first[3] * 0.8,
            "{last:?}"
        );
        assert!((last[1] - last[2]).abs() < 1e-6, "symmetric: {last:?}");
        // Predicted 0.5 s on: the same track, less sure.
        let now = 9 * 100 * MS;
        tracker.predict_to(now, now + 500 * MS, Some(ego(9)), Some(ego(9)), &mut out);
        let ahead = out[0].track;
        assert!((ahead.age_s - 1.4).abs() < 1e-5, "{ahead:?}");
        assert!(
            ahead.position_covariance[0] > last[0],
            "{ahead:?} vs {last:?}"
        );
        // An untracked obstacle says so.
        let mut full = Tracker::new(TrackingConfig {
            max_tracks: 0,
            ..config
        });
        let mut lone = vec![obstacle(ObstacleClass::Car, 5.0, 0.0)];
        full.step(0, None, &mut lone);
        assert_eq!(lone[0].track, TrackState::NONE);
    }

    /// The covariance of a frame turned by 90° swaps its axes.
    #[test]
    fn covariances_turn_with_the_frame() {
        let turned = rotate_covariance([4.0, 1.0, 1.0, 9.0], std::f64::consts::FRAC_PI_2);
        let want = [9.0, -1.0, -1.0, 4.0];
        for (got, want) in turned.iter().zip(want) {
            assert!((got - want).abs() < 1e-5, "{turned:?}");
        }
    }

    #[test]
    fn missed_tracks_are_dropped_and_a_person_never_takes_a_cars_track() {
        let config = TrackingConfig::default();
        let mut tracker = Tracker::new(config.clone());
        let mut out = vec![obstacle(ObstacleClass::Car, 10.0, 0.0)];
        tracker.step(0, None, &mut out);
        let car = out[0].id;
        // A pedestrian where the car was: a track of its own.
        let mut out = vec![obstacle(ObstacleClass::Pedestrian, 10.0, 0.0)];
        tracker.step(100 * MS, None, &mut out);
        assert_ne!(out[0].id, car);
        assert_eq!(tracker.len(), 2);
        for k in 2..=(2 + config.max_misses as i64) {
            tracker.step(k * 100 * MS, None, &mut []);
        }
        assert!(tracker.is_empty());
        assert_eq!(tracker.counters().tracks_dropped, 2);
    }

    #[test]
    fn an_older_output_is_named_without_moving_the_tracks() {
        let mut tracker = Tracker::new(TrackingConfig::default());
        for k in 0..5 {
            let mut out = vec![obstacle(ObstacleClass::Car, 10.0 + k as f64, 0.0)];
            tracker.step(k * 100 * MS, None, &mut out);
        }
        let before = tracker.tracks[0];
        // The output of 250 ms arrives after that of 400 ms.
        let mut late = vec![
            obstacle(ObstacleClass::Car, 12.5, 0.0),
            obstacle(ObstacleClass::Truck, 40.0, 0.0),
        ];
        tracker.step(250 * MS, None, &mut late);
        assert_eq!(late[0].id, before.id);
        assert_eq!(late[1].id, 0, "no track: unnamed, and none is born");
        assert_eq!(tracker.tracks.len(), 1);
        assert_eq!(tracker.tracks[0].filter, before.filter);
        assert_eq!(tracker.counters().out_of_order, 1);
    }

    #[test]
    fn time_going_far_back_starts_anew() {
        let mut tracker = Tracker::new(TrackingConfig::default());
        let mut out = vec![obstacle(ObstacleClass::Car, 10.0, 0.0)];
        tracker.step(5_000 * MS, None, &mut out);
        let mut again = vec![obstacle(ObstacleClass::Car, 10.0, 0.0)];
        tracker.step(0, None, &mut again);
        assert_ne!(again[0].id, out[0].id);
        assert_eq!(tracker.len(), 1);
        assert_eq!(tracker.counters().time_resets, 1);
        assert_eq!(tracker.counters().out_of_order, 0);
    }

    #[test]
    fn a_full_table_leaves_obstacles_untracked() {
        let config = TrackingConfig {
            max_tracks: 2,
            ..TrackingConfig::default()
        };
        let mut tracker = Tracker::new(config);
        let mut out: Vec<Obstacle> = (0..3)
            .map(|i| obstacle(ObstacleClass::Car, 10.0 * i as f64, 0.0))
            .collect();
        let counts = tracker.step(0, None, &mut out);
        assert_eq!((counts.born, counts.untracked), (2, 1));
        assert_eq!(out[2].id, 0);
    }

    /// A car driving at 10 m/s, confirmed: with the publish stamp it is
    /// moved 0.2 s along by its filter; an unconfirmed one only with the
    /// ego, which here stands still.
    #[test]
    fn predict_to_moves_confirmed_tracks_along_their_filter() {
        let mut tracker = Tracker::new(TrackingConfig::default());
        let mut out = Vec::new();
        for k in 0..10 {
            out = vec![obstacle(ObstacleClass::Car, 10.0 + k as f64, 0.0)];
            tracker.step(k * 100 * MS, None, &mut out);
        }
        let mut fresh = vec![out[0].clone(), obstacle(ObstacleClass::Car, 40.0, 5.0)];
        fresh[1].id = 0;
        let moved = tracker.predict_to(900 * MS, 1100 * MS, None, None, &mut fresh);
        assert_eq!(moved, 1);
        assert!(
            (fresh[0].bbox.center[0] - 21.0).abs() < 0.1,
            "{:?}",
            fresh[0].bbox
        );
        assert_eq!(fresh[1].bbox.center[0], 40.0);
    }

    #[test]
    fn config_errors_name_the_field() {
        let bad = TrackingConfig {
            gate: 0.0,
            ..TrackingConfig::default()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("tracking.gate")
        );
        assert!(TrackingConfig::default().validate().is_ok());
    }
}
