//! The obstacles the stages produce and every later step reads: class,
//! oriented box, footprint, sources and their stamps; and the camera
//! detector's 2D detections.
//!
//! Owns the obstacle value type only. Never depends on anything above it:
//! the message form (`to_msg`, `from_msg`) lives with the message in
//! [`crate::msg`], which depends on this module, not the other way round.

/// Where an obstacle's evidence came from (`Obstacle.SOURCE_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ObstacleSource {
    #[default]
    Lidar = 0,
    Camera = 1,
    Fused = 2,
    GroundTruth = 3,
}

impl ObstacleSource {
    pub fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => ObstacleSource::Lidar,
            1 => ObstacleSource::Camera,
            2 => ObstacleSource::Fused,
            3 => ObstacleSource::GroundTruth,
            _ => return None,
        })
    }
}

/// One 2D detection in original image pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection2d {
    /// Index into the detector's class list.
    pub class: u16,
    pub score: f32,
    /// `[x0, y0, x1, y1]`, image pixels, x0 <= x1, y0 <= y1.
    pub bbox: [f32; 4],
}

/// What an obstacle is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ObstacleClass {
    Car,
    Truck,
    Pedestrian,
    Cyclist,
    Unknown,
}

impl ObstacleClass {
    pub const ALL: [ObstacleClass; 5] = [
        ObstacleClass::Car,
        ObstacleClass::Truck,
        ObstacleClass::Pedestrian,
        ObstacleClass::Cyclist,
        ObstacleClass::Unknown,
    ];

    pub fn label(self) -> &'static str {
        match self {
            ObstacleClass::Car => "car",
            ObstacleClass::Truck => "truck",
            ObstacleClass::Pedestrian => "pedestrian",
            ObstacleClass::Cyclist => "cyclist",
            ObstacleClass::Unknown => "unknown",
        }
    }

    /// The colour a display draws the class in (RGBA, 0..1): RViz markers,
    /// Foxglove scenes.
    pub fn display_rgba(self) -> [f32; 4] {
        match self {
            ObstacleClass::Car => [0.2, 0.6, 1.0, 0.5],
            ObstacleClass::Truck => [0.1, 0.2, 0.9, 0.5],
            ObstacleClass::Pedestrian => [1.0, 0.8, 0.1, 0.6],
            ObstacleClass::Cyclist => [0.9, 0.3, 0.9, 0.6],
            ObstacleClass::Unknown => [0.7, 0.7, 0.7, 0.4],
        }
    }

    pub fn from_label(label: &str) -> ObstacleClass {
        Self::ALL
            .into_iter()
            .find(|c| c.label() == label)
            .unwrap_or(ObstacleClass::Unknown)
    }
}

/// An oriented 3D box: centre, extent (length, width, height), yaw about z.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Box3 {
    pub center: [f64; 3],
    pub size: [f64; 3],
    pub yaw: f64,
}

/// Most vertices a [`Footprint`] keeps.
pub const FOOTPRINT_MAX: usize = 16;

/// An obstacle's ground footprint: a convex polygon (x, y) in the obstacle's
/// frame, at most [`FOOTPRINT_MAX`] vertices, stored inline (no allocation).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Footprint {
    vertices: [[f32; 2]; FOOTPRINT_MAX],
    len: u8,
}

impl Footprint {
    /// Keeps every vertex of `polygon`, or an evenly spaced subset of them
    /// (still convex) when it has more than [`FOOTPRINT_MAX`].
    pub fn from_polygon(polygon: &[[f32; 2]]) -> Self {
        let mut footprint = Footprint::default();
        let n = polygon.len();
        let keep = n.min(FOOTPRINT_MAX);
        for k in 0..keep {
            footprint.vertices[k] = polygon[k * n / keep];
        }
        footprint.len = keep as u8;
        footprint
    }

    pub fn vertices(&self) -> &[[f32; 2]] {
        &self.vertices[..self.len as usize]
    }

    pub fn vertices_mut(&mut self) -> &mut [[f32; 2]] {
        &mut self.vertices[..self.len as usize]
    }
}

/// What the tracker knows of an obstacle's track
/// (`Obstacle.track_age`, `Obstacle.position_covariance`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackState {
    /// Seconds from the track's first update to this obstacle's stamp; 0
    /// without a track.
    pub age_s: f32,
    /// The centre's covariance in the ground plane (m², x and y, row
    /// major), in the obstacle's frame; `[-1, 0, 0, 0]` without a track
    /// (sensor_msgs' convention for "no estimate").
    pub position_covariance: [f32; 4],
    /// The track is confirmed and `Obstacle.velocity` is its filter's
    /// (false: no track, or too few updates; the velocity is zeros).
    pub velocity_known: bool,
}

impl TrackState {
    pub const NONE: TrackState = TrackState {
        age_s: 0.0,
        position_covariance: [-1.0, 0.0, 0.0, 0.0],
        velocity_known: false,
    };

    pub fn is_tracked(&self) -> bool {
        self.position_covariance[0] >= 0.0
    }
}

impl Default for TrackState {
    fn default() -> Self {
        TrackState::NONE
    }
}

/// A 3D obstacle, in the frame of the scan or truth record that carries it.
#[derive(Debug, Clone, PartialEq)]
pub struct Obstacle {
    pub id: u32,
    pub class: ObstacleClass,
    pub score: f32,
    pub source: ObstacleSource,
    pub bbox: Box3,
    pub velocity: [f64; 3],
    pub point_count: u32,
    pub nearest_distance: f32,
    pub lidar_stamp: i64,
    pub camera_stamp: i64,
    /// Seconds from the oldest source stamp to the end of processing on
    /// the pipeline clock; NaN until the runtime knows it.
    pub latency: f32,
    pub footprint: Footprint,
    /// The track this obstacle belongs to, once the tracker has named it.
    pub track: TrackState,
}
