//! What a replay leaves for an engineer to look at: the report folder
//! (`--report DIR`: `summary.md`, `summary.json`, latency and health plots
//! as PNG and SVG) and the bird's-eye-view pictures (`--bev DIR`).
//!
//! Owns only the rendering of data the replay already gathered
//! ([`ScheduledReport`], its [`FrameRecord`]s and status records). It never
//! runs on a lane: plots are drawn after the run, pictures on their own
//! thread ([`bev::BevWriter`]). Drawing is plotters'; the text font is
//! DejaVu Sans from the `dejavu` crate, so no system font is needed.
//!
//! [`FrameRecord`]: run::FrameRecord

pub mod bev;
pub mod plots;
pub mod run;

use run::ScheduledReport;
use std::path::{Path, PathBuf};
use std::sync::Once;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("writing {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("drawing {path}: {detail}")]
    Draw { path: PathBuf, detail: String },
}

impl ReportError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        ReportError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    fn draw(path: &Path, detail: impl std::fmt::Display) -> Self {
        ReportError::Draw {
            path: path.to_path_buf(),
            detail: detail.to_string(),
        }
    }
}

/// The files of a report folder, in the order `summary.md` lists them.
pub const SUMMARY_JSON: &str = "summary.json";
pub const SUMMARY_MD: &str = "summary.md";

/// Writes the report folder: `summary.json` (the report exactly as
/// `--report-json` writes it), `summary.md` (the printed table, accuracy,
/// and the plots) and the plots ([`plots::write_all`]). Returns the files
/// written.
pub fn write_report(dir: &Path, report: &ScheduledReport) -> Result<Vec<PathBuf>, ReportError> {
    std::fs::create_dir_all(dir).map_err(|e| ReportError::io(dir, e))?;
    let json_path = dir.join(SUMMARY_JSON);
    let json = serde_json::to_vec_pretty(report).map_err(|e| ReportError::draw(&json_path, e))?;
    std::fs::write(&json_path, json).map_err(|e| ReportError::io(&json_path, e))?;
    let plots = plots::write_all(dir, report)?;
    let md_path = dir.join(SUMMARY_MD);
    std::fs::write(&md_path, markdown(report, &plots)).map_err(|e| ReportError::io(&md_path, e))?;
    let mut files = vec![md_path, json_path];
    files.extend(plots);
    Ok(files)
}

/// `summary.md`: the same table `lookout replay` prints, the accuracy when
/// there was ground truth, and each plot (SVG) with a line on how to read
/// it.
fn markdown(report: &ScheduledReport, plots: &[PathBuf]) -> String {
    let mut out = String::from("# Lookout replay report\n\n");
    out.push_str("## Summary\n\n```text\n");
    out.push_str(&report.table());
    out.push_str("```\n\n");
    match &report.accuracy {
        Some(accuracy) => {
            out.push_str("## Accuracy (published lidar obstacles against the bag's ground truth)\n\n```text\n");
            out.push_str(&accuracy.table());
            out.push_str("```\n\n");
        }
        None => out.push_str("No ground truth in the bag: no accuracy figures.\n\n"),
    }
    out.push_str("## Plots\n\n");
    for path in plots
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "svg"))
    {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let stem = path
            .file_stem()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.push_str(&format!(
            "### {}\n\n{}\n\n![{stem}]({name})\n\n",
            title_of(&stem),
            legend_of(&stem)
        ));
    }
    out
}

fn title_of(stem: &str) -> String {
    if let Some(sensor) = stem.strip_prefix("variants_") {
        return format!("{sensor}: model variant per frame");
    }
    match stem.strip_prefix("stage_latency_") {
        Some(sensor) => format!("{sensor} stage run time"),
        None => match stem {
            "end_to_end" => "End-to-end latency over time".to_owned(),
            "health" => "Health over time".to_owned(),
            other => other.to_owned(),
        },
    }
}

fn legend_of(stem: &str) -> &'static str {
    if stem.starts_with("stage_latency_") {
        "Histogram of how long the stage ran per frame; the red line is the sensor's deadline budget (header stamp to result)."
    } else if stem.starts_with("variants_") {
        "The rung of the model ladder each frame ran (0: the most accurate), and below it the budget the scheduler chose it to fit (the frame's slack to its deadline, at most its share of the lanes' time) with the run time it took."
    } else if stem == "end_to_end" {
        "Header stamp to result for each published frame (late ones in orange), the deadline as a red line, and each frame that was not published as a cross at the bottom, coloured by why."
    } else {
        "The watchdog's health at each status record: OK, WARN (deadline misses or a slow stage) or ERROR (outputs degraded)."
    }
}

/// Registers the embedded font under plotters' `sans-serif` family once.
fn fonts() {
    static FONTS: Once = Once::new();
    FONTS.call_once(|| {
        for style in [
            plotters::style::FontStyle::Normal,
            plotters::style::FontStyle::Bold,
        ] {
            let bytes = match style {
                plotters::style::FontStyle::Bold => dejavu::sans::bold(),
                _ => dejavu::sans::regular(),
            };
            // The bytes are a font the dejavu crate ships; a failure would
            // only leave text out of the pictures.
            let _ = plotters::style::register_font("sans-serif", style, bytes);
        }
    });
}

/// Encodes an RGB buffer as PNG.
fn save_png(path: &Path, rgb: &[u8], (width, height): (u32, u32)) -> Result<(), ReportError> {
    image::save_buffer_with_format(
        path,
        rgb,
        width,
        height,
        image::ExtendedColorType::Rgb8,
        image::ImageFormat::Png,
    )
    .map_err(|e| ReportError::draw(path, e))
}
