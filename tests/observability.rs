//! What a replay leaves to look at: `--report DIR`, `--bev DIR` and
//! `--trace-out FILE`, checked on a synthetic scene through the `lookout`
//! binary the way an engineer runs it.

mod common;

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const LOOKOUT: &str = env!("CARGO_BIN_EXE_lookout");

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// A 4 s scene with two injected lidar faults: frames 5..10 fail, frame
/// 15 stalls past its deadline, so the trace has drops to show.
fn scene_and_config(dir: &Path) -> (PathBuf, PathBuf) {
    let bag = dir.join("scene.mcap");
    common::write_small_scene(&bag, 4.0, 11);
    let config = dir.join("faults.yaml");
    std::fs::write(
        &config,
        "faults:\n  lidar:\n    error_frames: [5, 10]\n    stall_frame: 15\n    stall_ms: 400\n",
    )
    .unwrap();
    (bag, config)
}

struct Run {
    stdout: String,
    report: PathBuf,
    bev: PathBuf,
    trace: PathBuf,
}

fn replay_with_everything(dir: &Path) -> Run {
    let (bag, config) = scene_and_config(dir);
    let (report, bev, trace) = (dir.join("report"), dir.join("bev"), dir.join("trace.json"));
    let output = Command::new(LOOKOUT)
        .arg("--trace-out")
        .arg(&trace)
        .arg("replay")
        .arg(&bag)
        // Lockstep: every frame runs, so the injected faults are counted
        // exactly (realtime on a loaded machine may drop one before it runs).
        .arg("--mode")
        .arg("lockstep")
        .arg("--config")
        .arg(&config)
        .arg("--camera-model")
        .arg(repo("models/synthetic-det.yaml"))
        .arg("--calibration")
        .arg(lookout::synth::calibration_path(&bag))
        .arg("--report")
        .arg(&report)
        .arg("--bev")
        .arg(&bev)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "replay failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Run {
        stdout,
        report,
        bev,
        trace,
    }
}

/// The printed per-sensor rows: sensor -> the 13 numbers after its name.
fn printed_rows(stdout: &str) -> BTreeMap<String, Vec<String>> {
    let mut rows = BTreeMap::new();
    let mut lines = stdout.lines().skip_while(|l| !l.starts_with("sensor "));
    lines.next();
    for line in lines.take_while(|l| !l.starts_with('(')) {
        let mut fields = line.split_whitespace().map(str::to_owned);
        let sensor = fields.next().unwrap();
        rows.insert(sensor, fields.collect());
    }
    rows
}

fn assert_png(path: &Path) {
    let picture = image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        picture.width() >= 400 && picture.height() >= 400,
        "{}",
        path.display()
    );
}

fn assert_svg(path: &Path) {
    let text = std::fs::read_to_string(path).unwrap();
    let document =
        roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(document.root_element().tag_name().name(), "svg");
    assert!(
        document.descendants().any(|n| n.has_tag_name("text")),
        "{} has no text",
        path.display()
    );
}

#[test]
fn report_bev_and_trace_of_a_replay_are_valid_and_agree_with_the_printed_summary() {
    let dir = tempfile::tempdir().unwrap();
    let run = replay_with_everything(dir.path());

    // summary.json holds the numbers the table printed.
    let json: Value =
        serde_json::from_slice(&std::fs::read(run.report.join("summary.json")).unwrap()).unwrap();
    let rows = printed_rows(&run.stdout);
    let sensors = json["sensors"].as_array().unwrap();
    assert_eq!(rows.len(), sensors.len(), "{}", run.stdout);
    for sensor in sensors {
        let row = &rows[sensor["sensor"].as_str().unwrap()];
        let counts = [
            "received",
            "published",
            "published_late",
            "superseded",
            "stale",
            "infeasible",
            "late_dropped",
            "errors",
        ];
        for (i, key) in counts.iter().enumerate() {
            assert_eq!(
                row[i],
                sensor[key].as_u64().unwrap().to_string(),
                "{key}: {row:?}"
            );
        }
        let latencies = [
            ("stage", "p50_ms"),
            ("stage", "p99_ms"),
            ("end_to_end", "p50_ms"),
            ("end_to_end", "p99_ms"),
            ("end_to_end", "max_ms"),
        ];
        for (i, (group, key)) in latencies.iter().enumerate() {
            let value = sensor[group][key].as_f64().unwrap();
            assert_eq!(row[8 + i], format!("{value:.1}"), "{group}.{key}: {row:?}");
        }
    }
    let lidar = sensors.iter().find(|s| s["sensor"] == "lidar").unwrap();
    // Frames 5..10 fail, every one of them: lockstep runs every frame.
    let errors = lidar["errors"].as_u64().unwrap();
    assert_eq!(errors, 5, "the injected failures are counted");
    // Frame 15 stalls 400 ms, past its deadline: its result is dropped late
    // and the watchdog says so.
    assert_eq!(lidar["late_dropped"].as_u64(), Some(1), "{lidar}");
    let changes = json["health_changes"].as_array().unwrap();
    assert!(
        changes
            .iter()
            .any(|c| c.as_str().unwrap().contains("-> WARN")),
        "{changes:?}"
    );
    assert_eq!(
        lidar["rejects"]["stage_error"].as_u64(),
        Some(errors),
        "{}",
        lidar["rejects"]
    );
    // Ground truth is in the scene: accuracy is in the JSON and printed.
    let frames = json["accuracy"]["frames"].as_u64().unwrap();
    assert!(frames > 0);
    assert!(
        run.stdout.contains(&format!("\n{frames} frames; match")),
        "{}",
        run.stdout
    );

    // summary.md shows the same table and every plot.
    let markdown = std::fs::read_to_string(run.report.join("summary.md")).unwrap();
    let table_line = run
        .stdout
        .lines()
        .find(|l| l.starts_with("lidar "))
        .unwrap();
    assert!(markdown.contains(table_line));
    for stem in [
        "stage_latency_camera",
        "stage_latency_lidar",
        "end_to_end",
        "health",
    ] {
        assert_png(&run.report.join(format!("{stem}.png")));
        assert_svg(&run.report.join(format!("{stem}.svg")));
        assert!(
            markdown.contains(&format!("({stem}.svg)")),
            "{stem} not in summary.md"
        );
    }

    // One picture per published lidar frame.
    let pictures = lookout::report::bev::pictures(&run.bev).unwrap();
    let published =
        lidar["published"].as_u64().unwrap() + lidar["published_late"].as_u64().unwrap();
    assert_eq!(pictures.len() as u64, published);
    assert_eq!(json["bev_pictures"].as_u64(), Some(published));
    assert_png(&pictures[0]);

    // The trace: one slice per stage run, on a lane's track, and one
    // instant event per frame not published.
    let trace: Value = serde_json::from_slice(&std::fs::read(&run.trace).unwrap()).unwrap();
    let events = trace
        .as_array()
        .expect("a Chrome trace is a JSON array of events");
    let lanes: BTreeMap<u64, &str> = events
        .iter()
        .filter(|e| e["ph"] == "M" && e["name"] == "thread_name")
        .map(|e| {
            (
                e["tid"].as_u64().unwrap(),
                e["args"]["name"].as_str().unwrap(),
            )
        })
        .collect();
    for sensor in sensors {
        let name = sensor["sensor"].as_str().unwrap();
        // tracing-chrome writes a `&str` field as its Debug form (quoted).
        let of_sensor = |e: &&Value, ph: &str| {
            e["ph"] == ph
                && e["name"] == "stage"
                && e["args"]["sensor"].as_str().map(|s| s.trim_matches('"')) == Some(name)
        };
        let begins: Vec<&Value> = events.iter().filter(|e| of_sensor(e, "B")).collect();
        let ends = events.iter().filter(|e| of_sensor(e, "E")).count();
        let runs = sensor["stage"]["count"].as_u64().unwrap();
        assert_eq!(begins.len() as u64, runs, "{name}: one span per stage run");
        assert_eq!(ends as u64, runs);
        for begin in &begins {
            let lane = lanes
                .get(&begin["tid"].as_u64().unwrap())
                .copied()
                .unwrap_or("");
            assert!(
                lane.starts_with("lookout-lane-"),
                "{name} span on thread {lane:?}"
            );
            for field in ["frame", "sensor", "deadline_ns", "stamp_ns"] {
                assert!(
                    begin["args"].get(field).is_some(),
                    "span without {field}: {begin}"
                );
            }
        }
        let not_published = [
            "superseded",
            "stale",
            "infeasible",
            "late_dropped",
            "errors",
        ]
        .iter()
        .map(|k| sensor[k].as_u64().unwrap())
        .sum::<u64>();
        let drops = events
            .iter()
            .filter(|e| {
                e["ph"] == "i"
                    && e["args"]["sensor"]
                        .as_str()
                        .is_some_and(|s| s.contains(name))
            })
            .count() as u64;
        assert_eq!(
            drops, not_published,
            "{name}: one instant event per frame not published"
        );
    }
}

#[test]
fn a_report_folder_that_cannot_be_created_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let bag = dir.path().join("scene.mcap");
    common::write_small_scene(&bag, 1.0, 3);
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"not a folder").unwrap();
    let output = Command::new(LOOKOUT)
        .args(["replay"])
        .arg(&bag)
        .arg("--mode")
        .arg("lockstep")
        .arg("--report")
        .arg(blocker.join("report"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("error:") && stderr.contains("report"),
        "{stderr}"
    );
}

#[test]
fn a_trace_file_that_cannot_be_created_is_a_clear_error() {
    let output = Command::new(LOOKOUT)
        .args([
            "--trace-out",
            "/nonexistent/dir/trace.json",
            "info",
            "nothing.mcap",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--trace-out"), "{stderr}");
}
