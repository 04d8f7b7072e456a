//! Bird's-eye-view pictures (`--bev DIR`): one PNG per published lidar
//! frame, the scan's points from above, the published obstacles as boxes
//! coloured by class (filled when fused with the camera, outlined when
//! lidar only, dashed when camera only, with a line to the front), and the
//! ground truth as dashed black outlines when the bag has it.
//!
//! Drawn on a thread of its own ([`BevWriter`]) so that a replay's feeding
//! never waits on PNG encoding, except through the small bounded queue
//! between them (a picture for every frame matters more than pacing when
//! someone asked for pictures). A frame is drawn once its truth has been
//! read, or once two later scans came without it.

use super::{ReportError, fonts, save_png};
use crate::msg::ObstacleSource;
use crate::obstacle::{Obstacle, ObstacleClass};
use plotters::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

/// Pixels of a picture (square).
const SIZE: u32 = 900;
/// Metres shown: forward from -20 to 60, lateral ±40 (vehicle frame).
const FORWARD: std::ops::Range<f64> = -20.0..60.0;
const LATERAL: std::ops::Range<f64> = -40.0..40.0;
/// Most points drawn per picture (every k-th point beyond).
const MAX_POINTS: usize = 60_000;
/// Scans kept waiting for their truth.
const PENDING: usize = 2;

enum Message {
    Truth(i64, Vec<Obstacle>),
    Scan(Scan),
}

/// One frame to draw.
#[derive(Debug, Clone, Default)]
pub struct Scan {
    /// Header stamp, ns.
    pub stamp: i64,
    /// Points, x forward and y left (m).
    pub points: Vec<(f32, f32)>,
    pub obstacles: Vec<Obstacle>,
}

/// Draws frames handed to it on its own thread, into one folder.
pub struct BevWriter {
    tx: SyncSender<Message>,
    thread: JoinHandle<Result<u64, ReportError>>,
}

impl BevWriter {
    /// Creates `dir` and starts the drawing thread.
    pub fn start(dir: &Path) -> Result<Self, ReportError> {
        std::fs::create_dir_all(dir).map_err(|e| ReportError::io(dir, e))?;
        let (tx, rx) = sync_channel(8);
        let dir = dir.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("lookout-bev".into())
            .spawn(move || draw_all(&dir, rx))
            .map_err(|e| ReportError::io(Path::new("lookout-bev thread"), e))?;
        Ok(BevWriter { tx, thread })
    }

    /// Ground truth for the scan with this header stamp.
    pub fn truth(&self, stamp: i64, obstacles: Vec<Obstacle>) {
        // A send fails only when the thread stopped on an error, which
        // `finish` returns.
        let _ = self.tx.send(Message::Truth(stamp, obstacles));
    }

    /// A published scan: its points (copied, thinned to at most
    /// [`MAX_POINTS`]) and obstacles.
    pub fn scan(&self, stamp: i64, x: &[f32], y: &[f32], obstacles: Vec<Obstacle>) {
        let step = x.len().div_ceil(MAX_POINTS).max(1);
        let points = x
            .iter()
            .zip(y)
            .step_by(step)
            .map(|(&x, &y)| (x, y))
            .collect();
        let _ = self.tx.send(Message::Scan(Scan {
            stamp,
            points,
            obstacles,
        }));
    }

    /// Draws what is still waiting and returns the number of pictures.
    pub fn finish(self) -> Result<u64, ReportError> {
        drop(self.tx);
        self.thread.join().unwrap_or_else(|_| {
            Err(ReportError::draw(
                Path::new("bird's-eye view"),
                "drawing thread panicked",
            ))
        })
    }
}

fn draw_all(dir: &Path, rx: Receiver<Message>) -> Result<u64, ReportError> {
    fonts();
    let mut truth: BTreeMap<i64, Vec<Obstacle>> = BTreeMap::new();
    let mut pending: Vec<Scan> = Vec::new();
    let mut written = 0u64;
    let mut draw = |scan: Scan, truth: &mut BTreeMap<i64, Vec<Obstacle>>| {
        written += 1;
        let path = dir.join(format!("bev-{written:05}.png"));
        let expected = truth.remove(&scan.stamp);
        // Truth older than a drawn frame belongs to frames never published.
        truth.retain(|&stamp, _| stamp > scan.stamp);
        render(&path, &scan, expected.as_deref(), written)
    };
    for message in rx {
        match message {
            Message::Truth(stamp, obstacles) => {
                truth.insert(stamp, obstacles);
                if let Some(i) = pending.iter().position(|s| s.stamp == stamp) {
                    // Frames before it will not get truth any more.
                    for scan in pending.drain(..=i) {
                        draw(scan, &mut truth)?;
                    }
                }
            }
            Message::Scan(scan) => {
                if truth.contains_key(&scan.stamp) {
                    for earlier in pending.drain(..) {
                        draw(earlier, &mut truth)?;
                    }
                    draw(scan, &mut truth)?;
                } else {
                    pending.push(scan);
                    if pending.len() > PENDING {
                        let oldest = pending.remove(0);
                        draw(oldest, &mut truth)?;
                    }
                }
            }
        }
    }
    for scan in pending {
        draw(scan, &mut truth)?;
    }
    Ok(written)
}

/// Colour of an obstacle class.
pub fn class_color(class: ObstacleClass) -> RGBColor {
    match class {
        ObstacleClass::Car => RGBColor(31, 119, 180),
        ObstacleClass::Truck => RGBColor(255, 127, 14),
        ObstacleClass::Pedestrian => RGBColor(214, 39, 40),
        ObstacleClass::Cyclist => RGBColor(44, 160, 44),
        ObstacleClass::Unknown => RGBColor(148, 103, 189),
    }
}

/// An obstacle's ground rectangle in picture coordinates (lateral to the
/// right, forward), closed, and the middle of its front edge.
fn outline(o: &Obstacle) -> ([(f64, f64); 5], (f64, f64)) {
    let [cx, cy, _] = o.bbox.center;
    let (half_l, half_w) = (o.bbox.size[0] / 2.0, o.bbox.size[1] / 2.0);
    let (sin, cos) = o.bbox.yaw.sin_cos();
    let corner = |l: f64, w: f64| {
        let (x, y) = (cx + l * cos - w * sin, cy + l * sin + w * cos);
        (-y, x)
    };
    let c = [
        corner(half_l, half_w),
        corner(half_l, -half_w),
        corner(-half_l, -half_w),
        corner(-half_l, half_w),
    ];
    ([c[0], c[1], c[2], c[3], c[0]], corner(half_l, 0.0))
}

/// Draws one picture.
pub fn render(
    path: &Path,
    scan: &Scan,
    truth: Option<&[Obstacle]>,
    number: u64,
) -> Result<(), ReportError> {
    let mut rgb = vec![0u8; (SIZE * SIZE * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (SIZE, SIZE)).into_drawing_area();
        draw(&root, scan, truth, number).map_err(|e| ReportError::draw(path, e))?;
        root.present().map_err(|e| ReportError::draw(path, e))?;
    }
    save_png(path, &rgb, (SIZE, SIZE))
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    scan: &Scan,
    truth: Option<&[Obstacle]>,
    number: u64,
) -> Result<(), String> {
    let text = |e: plotters::drawing::DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(text)?;
    let caption = format!(
        "frame {number}, stamp {:.3} s: {} obstacles{}",
        scan.stamp as f64 / 1e9,
        scan.obstacles.len(),
        match truth {
            Some(t) => format!(", {} truth", t.len()),
            None => String::new(),
        }
    );
    let (key, body) = root.split_vertically(48);
    legend(&key).map_err(text)?;
    let mut chart = ChartBuilder::on(&body)
        .caption(caption, ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(36)
        .y_label_area_size(44)
        .build_cartesian_2d(LATERAL, FORWARD)
        .map_err(text)?;
    chart
        .configure_mesh()
        .x_desc("lateral, right positive (m)")
        .y_desc("forward (m)")
        .light_line_style(RGBColor(235, 235, 235))
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(text)?;
    let area = chart.plotting_area();
    let grey = RGBColor(110, 110, 110);
    for &(x, y) in &scan.points {
        let (u, v) = (-(y as f64), x as f64);
        if LATERAL.contains(&u) && FORWARD.contains(&v) {
            area.draw_pixel((u, v), &grey).map_err(text)?;
        }
    }
    for t in truth.unwrap_or(&[]) {
        let (corners, _) = outline(t);
        area.draw(&plotters::element::DashedPathElement::new(
            corners,
            4,
            3,
            BLACK.stroke_width(2),
        ))
        .map_err(text)?;
    }
    for o in &scan.obstacles {
        let color = class_color(o.class);
        let (corners, front) = outline(o);
        if o.source == ObstacleSource::Fused {
            area.draw(&Polygon::new(corners[..4].to_vec(), color.mix(0.45)))
                .map_err(text)?;
        }
        if o.source == ObstacleSource::Camera {
            area.draw(&plotters::element::DashedPathElement::new(
                corners,
                6,
                3,
                color.stroke_width(2),
            ))
            .map_err(text)?;
        } else {
            area.draw(&PathElement::new(corners, color.stroke_width(2)))
                .map_err(text)?;
        }
        let center = (-o.bbox.center[1], o.bbox.center[0]);
        area.draw(&PathElement::new([center, front], color.stroke_width(2)))
            .map_err(text)?;
    }
    Ok(())
}

/// The key to colours and styles, top left.
fn legend<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
) -> Result<(), plotters::drawing::DrawingAreaErrorKind<DB::ErrorType>> {
    let style = ("sans-serif", 14).into_font();
    let (mut x, y) = (70, 8);
    for class in ObstacleClass::ALL {
        root.draw(&Rectangle::new(
            [(x, y), (x + 12, y + 12)],
            class_color(class).filled(),
        ))?;
        root.draw(&Text::new(class.label(), (x + 16, y - 1), style.clone()))?;
        x += 105;
    }
    let y2 = y + 18;
    root.draw(&Text::new(
        "filled: fused with the camera; outline: lidar only; dashed: camera only; dashed black: ground truth",
        (70, y2),
        style,
    ))?;
    Ok(())
}

/// The pictures of a folder, in order.
pub fn pictures(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("bev-") && n.ends_with(".png"))
        })
        .collect();
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::obstacle::Box3;

    fn obstacle(
        class: ObstacleClass,
        source: ObstacleSource,
        x: f64,
        y: f64,
        yaw: f64,
    ) -> Obstacle {
        let mut o = Obstacle::from_msg(&crate::msg::Obstacle {
            label: class.label().to_owned(),
            source,
            center: [x, y, 0.8],
            size: [4.5, 1.9, 1.6],
            yaw,
            ..Default::default()
        });
        o.bbox = Box3 {
            center: [x, y, 0.8],
            size: [4.5, 1.9, 1.6],
            yaw,
        };
        o
    }

    #[test]
    fn outline_is_the_rotated_rectangle_in_picture_coordinates() {
        let o = obstacle(ObstacleClass::Car, ObstacleSource::Lidar, 10.0, 2.0, 0.0);
        let (corners, front) = outline(&o);
        // Right is -y, forward is x.
        assert_eq!(corners[0], (-2.95, 12.25));
        assert_eq!(corners[4], corners[0]);
        assert_eq!(front, (-2.0, 12.25));
        let turned = obstacle(
            ObstacleClass::Car,
            ObstacleSource::Lidar,
            0.0,
            0.0,
            std::f64::consts::FRAC_PI_2,
        );
        let (_, front) = outline(&turned);
        assert!(
            (front.0 + 2.25).abs() < 1e-9 && front.1.abs() < 1e-9,
            "{front:?}"
        );
    }

    #[test]
    fn the_writer_draws_every_scan_pairing_truth_that_comes_late() {
        let dir = tempfile::tempdir().unwrap();
        let writer = BevWriter::start(dir.path()).unwrap();
        let car = obstacle(ObstacleClass::Car, ObstacleSource::Fused, 15.0, -3.0, 0.3);
        writer.scan(1, &[10.0, 20.0], &[0.0, 1.0], vec![car.clone()]);
        writer.truth(1, vec![car.clone()]);
        writer.scan(2, &[10.0], &[0.0], Vec::new());
        writer.truth(3, vec![car]);
        assert_eq!(writer.finish().unwrap(), 2);
        let files = pictures(dir.path()).unwrap();
        assert_eq!(files.len(), 2);
        for file in files {
            let picture = image::open(&file).unwrap().to_rgb8();
            assert_eq!(picture.dimensions(), (SIZE, SIZE));
            // The fused car is filled in its class colour (mixed with white).
            assert!(picture.pixels().any(|p| p.0[2] > 150 && p.0[0] < 150));
        }
    }
}
