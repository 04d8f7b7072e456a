//! The report's plots, each written as SVG and PNG from one drawing
//! function: per-stage run-time histograms with the deadline marked,
//! end-to-end latency over time with drops marked, health over time, and
//! for a sensor whose stage chooses among variants (a model ladder) the
//! variant of each frame with its budget and run time.

use super::run::{FrameRecord, ScheduledReport};
use super::{ReportError, fonts, save_png};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// Pixels of every plot.
const SIZE: (u32, u32) = (1000, 560);

/// A plot that can be drawn on any plotters backend.
trait Figure {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>;
}

/// Writes every plot of `report` into `dir` as `<name>.svg` and
/// `<name>.png`; returns the paths.
pub fn write_all(dir: &Path, report: &ScheduledReport) -> Result<Vec<PathBuf>, ReportError> {
    fonts();
    let mut written = Vec::new();
    for sensor in &report.sensors {
        let figure = StageLatency {
            sensor: &sensor.sensor,
            budget_ms: sensor.budget_ms,
            runs_ms: report
                .frames
                .iter()
                .filter(|f| f.sensor == sensor.sensor)
                .filter_map(|f| f.run_ms)
                .collect(),
        };
        written.extend(write_figure(
            dir,
            &format!("stage_latency_{}", sensor.sensor),
            &figure,
        )?);
    }
    let end_to_end = EndToEnd {
        sensors: report
            .sensors
            .iter()
            .map(|s| (s.sensor.as_str(), s.budget_ms))
            .collect(),
        frames: &report.frames,
    };
    written.extend(write_figure(dir, "end_to_end", &end_to_end)?);
    for sensor in report.sensors.iter().filter(|s| !s.variants.is_empty()) {
        let figure = VariantsOverTime {
            sensor: &sensor.sensor,
            names: sensor.variants.iter().map(|v| v.name.as_str()).collect(),
            frames: report
                .frames
                .iter()
                .filter(|f| f.sensor == sensor.sensor)
                .filter_map(|f| Some((f.t_s, f.variant?, f.budget_ms?, f.run_ms?)))
                .collect(),
        };
        written.extend(write_figure(
            dir,
            &format!("variants_{}", sensor.sensor),
            &figure,
        )?);
    }
    let health = HealthOverTime {
        points: report
            .statuses
            .iter()
            .map(|s| {
                (
                    (s.at_ns - report.clock_origin_ns) as f64 / 1e9,
                    s.health as u8 as f64,
                )
            })
            .collect(),
    };
    written.extend(write_figure(dir, "health", &health)?);
    Ok(written)
}

fn write_figure(dir: &Path, stem: &str, figure: &impl Figure) -> Result<[PathBuf; 2], ReportError> {
    let svg = dir.join(format!("{stem}.svg"));
    {
        let root = SVGBackend::new(&svg, SIZE).into_drawing_area();
        figure.draw(&root).map_err(|e| ReportError::draw(&svg, e))?;
        root.present().map_err(|e| ReportError::draw(&svg, e))?;
    }
    let png = dir.join(format!("{stem}.png"));
    let mut rgb = vec![0u8; (SIZE.0 * SIZE.1 * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, SIZE).into_drawing_area();
        figure.draw(&root).map_err(|e| ReportError::draw(&png, e))?;
        root.present().map_err(|e| ReportError::draw(&png, e))?;
    }
    save_png(&png, &rgb, SIZE)?;
    Ok([svg, png])
}

/// The series labels of `chart`, in a framed box.
fn legend<'a, DB: DrawingBackend + 'a, CT: plotters::coord::CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
) -> Result<(), String> {
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(text)
}

fn text<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// Colour of a frame's outcome.
fn outcome_color(outcome: &str) -> RGBColor {
    match outcome {
        "published" => RGBColor(31, 119, 180),
        "published_late" => RGBColor(255, 127, 14),
        "superseded" => RGBColor(148, 103, 189),
        "stale" => RGBColor(140, 86, 75),
        "infeasible" => RGBColor(227, 119, 194),
        "late" => RGBColor(214, 39, 40),
        _ => RGBColor(127, 127, 127),
    }
}

/// Run times of one stage, as a histogram, with the deadline.
struct StageLatency<'a> {
    sensor: &'a str,
    budget_ms: f64,
    runs_ms: Vec<f64>,
}

impl Figure for StageLatency<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        root.fill(&WHITE).map_err(text)?;
        let max_run = self.runs_ms.iter().copied().fold(0.0, f64::max);
        let x_max = (max_run.max(self.budget_ms) * 1.1).max(1.0);
        const BINS: usize = 50;
        let width = x_max / BINS as f64;
        let mut counts = [0u32; BINS];
        for &run in &self.runs_ms {
            counts[((run / width) as usize).min(BINS - 1)] += 1;
        }
        let y_max = counts.iter().copied().max().unwrap_or(0).max(1) as f64 * 1.15;
        let (p50, p99) = percentiles(&self.runs_ms);
        let caption = format!(
            "{} stage run time: {} runs, p50 {:.1} ms, p99 {:.1} ms",
            self.sensor,
            self.runs_ms.len(),
            p50,
            p99
        );
        let mut chart = ChartBuilder::on(root)
            .caption(caption, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(55)
            .build_cartesian_2d(0.0..x_max, 0.0..y_max)
            .map_err(text)?;
        chart
            .configure_mesh()
            .x_desc("run time (ms)")
            .y_desc("frames")
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(text)?;
        chart
            .draw_series(
                counts
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| **c > 0)
                    .map(|(i, &c)| {
                        let x0 = i as f64 * width;
                        Rectangle::new(
                            [(x0, 0.0), (x0 + width, c as f64)],
                            RGBColor(31, 119, 180).filled(),
                        )
                    }),
            )
            .map_err(text)?
            .label("frames")
            .legend(|(x, y)| {
                Rectangle::new(
                    [(x, y - 5), (x + 12, y + 5)],
                    RGBColor(31, 119, 180).filled(),
                )
            });
        chart
            .draw_series(LineSeries::new(
                [(self.budget_ms, 0.0), (self.budget_ms, y_max)],
                RED.stroke_width(2),
            ))
            .map_err(text)?
            .label(format!("deadline {:.0} ms", self.budget_ms))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], RED.stroke_width(2)));
        legend(&mut chart)
    }
}

/// The variant each frame of one sensor ran (top panel) and, below, the
/// budget it was chosen to fit with the run time it took.
struct VariantsOverTime<'a> {
    sensor: &'a str,
    /// Most accurate first.
    names: Vec<&'a str>,
    /// `(t_s, variant, budget_ms, run_ms)` per frame that ran.
    frames: Vec<(f64, u8, f64, f64)>,
}

impl Figure for VariantsOverTime<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        root.fill(&WHITE).map_err(text)?;
        let t_max = self
            .frames
            .iter()
            .map(|f| f.0)
            .fold(0.0, f64::max)
            .max(1e-3);
        let (top, bottom) = root.split_vertically(SIZE.1 * 2 / 5);
        let rungs = self.names.len().max(1) as f64;
        let mut chart = ChartBuilder::on(&top)
            .caption(
                format!(
                    "{}: variant per frame (0 = {})",
                    self.sensor,
                    self.names.first().unwrap_or(&"")
                ),
                ("sans-serif", 20),
            )
            .margin(10)
            .x_label_area_size(25)
            .y_label_area_size(55)
            .build_cartesian_2d(0.0..t_max, -0.5..rungs - 0.5)
            .map_err(text)?;
        chart
            .configure_mesh()
            .y_desc("variant")
            .y_labels(self.names.len().max(2))
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(text)?;
        chart
            .draw_series(self.frames.iter().map(|&(t, v, _, _)| {
                Circle::new((t, v as f64), 2, RGBColor(31, 119, 180).filled())
            }))
            .map_err(text)?;
        let y_max = self
            .frames
            .iter()
            .map(|f| f.2.min(4.0 * f.3).max(f.3))
            .fold(1.0, f64::max)
            * 1.1;
        let mut chart = ChartBuilder::on(&bottom)
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(55)
            .build_cartesian_2d(0.0..t_max, 0.0..y_max)
            .map_err(text)?;
        chart
            .configure_mesh()
            .x_desc("time (s)")
            .y_desc("ms")
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(text)?;
        let budget = RGBColor(44, 160, 44);
        chart
            .draw_series(LineSeries::new(
                self.frames.iter().map(|&(t, _, b, _)| (t, b.min(y_max))),
                budget.stroke_width(2),
            ))
            .map_err(text)?
            .label("budget (slack, at most the lanes' share)")
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], budget.stroke_width(2)));
        chart
            .draw_series(
                self.frames
                    .iter()
                    .map(|&(t, _, _, r)| Circle::new((t, r), 2, RGBColor(255, 127, 14).filled())),
            )
            .map_err(text)?
            .label("run time")
            .legend(|(x, y)| Circle::new((x + 8, y), 3, RGBColor(255, 127, 14).filled()));
        legend(&mut chart)
    }
}

/// p50 and p99 of `values` (nearest rank); 0 for none.
fn percentiles(values: &[f64]) -> (f64, f64) {
    if values.is_empty() {
        return (0.0, 0.0);
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank =
        |q: f64| sorted[((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1];
    (rank(0.5), rank(0.99))
}

/// End-to-end latency of every published frame over time, one panel per
/// sensor, drops as crosses at the bottom.
struct EndToEnd<'a> {
    sensors: Vec<(&'a str, f64)>,
    frames: &'a [FrameRecord],
}

impl Figure for EndToEnd<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        root.fill(&WHITE).map_err(text)?;
        let t_max = self.frames.iter().map(|f| f.t_s).fold(1.0, f64::max);
        let panels = root.split_evenly((self.sensors.len().max(1), 1));
        for (panel, &(sensor, budget_ms)) in panels.iter().zip(&self.sensors) {
            let frames: Vec<&FrameRecord> =
                self.frames.iter().filter(|f| f.sensor == sensor).collect();
            let published = |f: &FrameRecord| f.outcome.starts_with("published");
            let y_max = frames
                .iter()
                .filter(|f| published(f))
                .filter_map(|f| f.end_to_end_ms)
                .fold(budget_ms, f64::max)
                * 1.15;
            let dropped = frames.iter().filter(|f| !published(f)).count();
            let mut chart = ChartBuilder::on(panel)
                .caption(
                    format!(
                        "{sensor}: end-to-end latency ({} published, {dropped} not)",
                        frames.len() - dropped
                    ),
                    ("sans-serif", 18),
                )
                .margin(10)
                .x_label_area_size(32)
                .y_label_area_size(55)
                .build_cartesian_2d(0.0..t_max * 1.02, 0.0..y_max)
                .map_err(text)?;
            chart
                .configure_mesh()
                .x_desc("time since start (s)")
                .y_desc("ms")
                .label_style(("sans-serif", 13))
                .draw()
                .map_err(text)?;
            for outcome in ["published", "published_late"] {
                chart
                    .draw_series(
                        frames
                            .iter()
                            .filter(|f| f.outcome == outcome)
                            .filter_map(|f| f.end_to_end_ms.map(|ms| (f.t_s, ms)))
                            .map(|point| Circle::new(point, 2, outcome_color(outcome).filled())),
                    )
                    .map_err(text)?
                    .label(outcome)
                    .legend(move |(x, y)| {
                        Circle::new((x + 6, y), 3, outcome_color(outcome).filled())
                    });
            }
            for reason in ["superseded", "stale", "infeasible", "late", "failed"] {
                let marks: Vec<(f64, f64)> = frames
                    .iter()
                    .filter(|f| f.outcome == reason)
                    .map(|f| (f.t_s, y_max * 0.02))
                    .collect();
                if marks.is_empty() {
                    continue;
                }
                chart
                    .draw_series(
                        marks
                            .into_iter()
                            .map(|p| Cross::new(p, 4, outcome_color(reason).stroke_width(2))),
                    )
                    .map_err(text)?
                    .label(format!("dropped: {reason}"))
                    .legend(move |(x, y)| {
                        Cross::new((x + 6, y), 4, outcome_color(reason).stroke_width(2))
                    });
            }
            chart
                .draw_series(LineSeries::new(
                    [(0.0, budget_ms), (t_max * 1.02, budget_ms)],
                    RED.stroke_width(2),
                ))
                .map_err(text)?
                .label(format!("deadline {budget_ms:.0} ms"))
                .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], RED.stroke_width(2)));
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .label_font(("sans-serif", 12))
                .draw()
                .map_err(text)?;
        }
        Ok(())
    }
}

/// The watchdog's health over time, as a step line.
struct HealthOverTime {
    /// (seconds since start, 0 OK / 1 WARN / 2 ERROR)
    points: Vec<(f64, f64)>,
}

impl Figure for HealthOverTime {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        root.fill(&WHITE).map_err(text)?;
        let t_max = self.points.iter().map(|p| p.0).fold(1.0, f64::max);
        let mut chart = ChartBuilder::on(root)
            .caption(
                format!("health over time ({} status records)", self.points.len()),
                ("sans-serif", 22),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..t_max * 1.02, -0.2..2.4)
            .map_err(text)?;
        chart
            .configure_mesh()
            .x_desc("time since start (s)")
            .y_labels(3)
            .y_label_formatter(&|level: &f64| {
                match level.round() as i64 {
                    0 => "OK",
                    1 => "WARN",
                    2 => "ERROR",
                    _ => "",
                }
                .to_owned()
            })
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(text)?;
        let mut steps = Vec::with_capacity(self.points.len() * 2);
        for window in self.points.windows(2) {
            steps.push(window[0]);
            steps.push((window[1].0, window[0].1));
        }
        if let Some(&last) = self.points.last() {
            steps.push(last);
        }
        chart
            .draw_series(LineSeries::new(
                steps,
                RGBColor(31, 119, 180).stroke_width(2),
            ))
            .map_err(text)?;
        for (level, color) in [(1.0, RGBColor(255, 127, 14)), (2.0, RED)] {
            chart
                .draw_series(
                    self.points
                        .iter()
                        .filter(|p| p.1 == level)
                        .map(|&p| Circle::new(p, 3, color.filled())),
                )
                .map_err(text)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentiles(&values), (50.0, 99.0));
        assert_eq!(percentiles(&[]), (0.0, 0.0));
        assert_eq!(percentiles(&[7.0]), (7.0, 7.0));
    }

    #[test]
    fn every_figure_draws_on_a_bitmap_even_with_no_data() {
        fonts();
        let mut rgb = vec![0u8; (SIZE.0 * SIZE.1 * 3) as usize];
        let root = BitMapBackend::with_buffer(&mut rgb, SIZE).into_drawing_area();
        StageLatency {
            sensor: "lidar",
            budget_ms: 100.0,
            runs_ms: Vec::new(),
        }
        .draw(&root)
        .unwrap();
        EndToEnd {
            sensors: vec![("camera", 100.0), ("lidar", 100.0)],
            frames: &[],
        }
        .draw(&root)
        .unwrap();
        HealthOverTime { points: Vec::new() }.draw(&root).unwrap();
        drop(root);
        // Something was drawn: the background is white.
        assert!(rgb.contains(&255));
    }
}
