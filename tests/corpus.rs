//! The malformed-input corpus (`tests/corpus/`, written by
//! `examples/make_corpus.rs`): every case through replay and through the
//! node's decode path, each with its documented error and counter.

#[path = "../examples/make_corpus.rs"]
#[allow(dead_code)]
mod make_corpus;

use lookout::bag::{Bag, BagError, BagWriter, WriterOptions};
use lookout::clock::MonotonicClock;
use lookout::ingest::{Ingest, InputKind};
use lookout::replay::{ReplayOptions, replay};
use lookout::sched::StageError;
use lookout::sched::stats::Rejects;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Deserialize)]
struct Case {
    file: String,
    input: String,
    counter: String,
    error: String,
}

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(corpus().join("manifest.yaml")).unwrap();
    serde_yaml::from_str(&text).unwrap()
}

fn message_kind(input: &str) -> Option<(InputKind, &'static str)> {
    Some(match input {
        "image" => (InputKind::Image, "/camera/image_raw"),
        "compressed_image" => (InputKind::CompressedImage, "/camera/image_raw/compressed"),
        "camera_info" => (InputKind::CameraInfo, "/camera/camera_info"),
        "point_cloud2" => (InputKind::PointCloud2, "/points"),
        _ => return None,
    })
}

#[test]
fn the_corpus_is_large_and_what_the_generator_writes() {
    let fresh = tempfile::tempdir().unwrap();
    let count = make_corpus::write_corpus(fresh.path());
    assert!(count >= 50, "{count} cases");
    let listed = cases();
    assert_eq!(listed.len(), count);
    for name in listed
        .iter()
        .map(|c| c.file.as_str())
        .chain(["manifest.yaml"])
    {
        let committed = std::fs::read(corpus().join(name)).unwrap();
        let written = std::fs::read(fresh.path().join(name)).unwrap();
        assert!(
            committed == written,
            "tests/corpus/{name} is stale: cargo run --release --example make_corpus -- tests/corpus"
        );
    }
    for input in [
        "image",
        "compressed_image",
        "camera_info",
        "point_cloud2",
        "mcap",
        "config",
        "calibration",
    ] {
        assert!(listed.iter().any(|c| c.input == input), "no {input} case");
    }
}

/// The node's decode path: the ingest every lane runs, its error turned
/// into the node's `StageError` and counted per reason as the node's
/// diagnostics publish it (`rejected.<reason>`).
#[test]
fn every_message_case_is_rejected_with_its_reason_on_the_node_path() {
    let mut ingest = Ingest::new();
    let mut checked = 0;
    for case in cases() {
        let Some((kind, _)) = message_kind(&case.input) else {
            continue;
        };
        let bytes = std::fs::read(corpus().join(&case.file)).unwrap();
        let error = match ingest.ingest(kind, &bytes) {
            Ok(_) => panic!("{}: accepted", case.file),
            Err(e) => e,
        };
        assert_eq!(
            error.reason().as_str(),
            case.counter,
            "{}: {error}",
            case.file
        );
        assert!(
            error.to_string().contains(&case.error),
            "{}: {error:?} does not say {:?}",
            case.file,
            case.error
        );
        let stage = StageError::from(error);
        let mut rejects = Rejects::default();
        rejects.record(&stage);
        let counted: Vec<(&str, u64)> = rejects.iter().collect();
        assert_eq!(counted, [(case.counter.as_str(), 1)], "{}", case.file);
        checked += 1;
    }
    assert!(checked >= 35, "{checked} message cases");
}

/// Replay: all message cases in one bag, one topic per message type;
/// every one is rejected and counted under its reason, none is accepted.
#[test]
fn replay_counts_every_message_case_under_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("corpus.mcap");
    let mut writer = BagWriter::create(&path, WriterOptions::default()).unwrap();
    let mut topics = BTreeMap::new();
    let mut expected: BTreeMap<&str, BTreeMap<String, u64>> = BTreeMap::new();
    let all = cases();
    for (i, case) in all.iter().enumerate() {
        let Some((kind, topic)) = message_kind(&case.input) else {
            continue;
        };
        let id = match topics.get(topic) {
            Some(&id) => id,
            None => {
                let id = writer.add_topic(topic, kind.type_name()).unwrap();
                topics.insert(topic, id);
                id
            }
        };
        let bytes = std::fs::read(corpus().join(&case.file)).unwrap();
        writer
            .write_raw(id, 1_000_000_000 + i as u64 * 10_000_000, &bytes)
            .unwrap();
        *expected
            .entry(topic)
            .or_default()
            .entry(case.counter.clone())
            .or_default() += 1;
    }
    writer.finish().unwrap();
    let report = replay(
        &Bag::open(&path).unwrap(),
        &ReplayOptions::default(),
        &MonotonicClock::new(),
    )
    .unwrap();
    assert!(report.bag_error.is_none(), "{:?}", report.bag_error);
    for (topic, reasons) in expected {
        let stats = &report.topics[topic];
        let counted: BTreeMap<String, u64> = stats
            .rejects
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect();
        assert_eq!(counted, reasons, "{topic}");
        assert_eq!(stats.accepted, 0, "{topic}: something was accepted");
        assert_eq!(stats.rejected(), stats.frames, "{topic}");
    }
}

/// Damaged bags: replay reads what it can and names the damage; a file
/// that is no bag at all is refused at open; time going backwards in a bag
/// read in file order is counted.
#[test]
fn every_bag_case_is_a_clear_error_and_replay_goes_on() {
    for case in cases().iter().filter(|c| c.input == "mcap") {
        let path = corpus().join(&case.file);
        let bag = match Bag::open(&path) {
            Err(e @ BagError::NotABag { .. }) => {
                assert_eq!(case.counter, "not_a_bag", "{}: {e}", case.file);
                continue;
            }
            Err(e) => panic!("{}: {e}", case.file),
            Ok(bag) => bag,
        };
        assert_ne!(case.counter, "not_a_bag", "{}: opened", case.file);
        let report = replay(&bag, &ReplayOptions::default(), &MonotonicClock::new())
            .unwrap_or_else(|e| panic!("{}: replay failed outright: {e}", case.file));
        match case.counter.as_str() {
            "corrupt" => {
                let Some(e @ BagError::Corrupt { .. }) = &report.bag_error else {
                    panic!("{}: no damage reported: {:?}", case.file, report.bag_error)
                };
                assert!(
                    e.to_string().contains(&case.error),
                    "{}: {e} does not say {:?}",
                    case.file,
                    case.error
                );
            }
            "out_of_order" => {
                assert!(
                    report.bag_error.is_none(),
                    "{}: {:?}",
                    case.file,
                    report.bag_error
                );
                assert!(
                    report.read.out_of_order > 0,
                    "{}: {:?}",
                    case.file,
                    report.read
                );
            }
            other => panic!("{}: unknown counter {other}", case.file),
        }
    }
}

#[test]
fn every_config_case_is_refused_naming_the_problem() {
    for case in cases() {
        let path = corpus().join(&case.file);
        let error = match case.input.as_str() {
            "config" => {
                let e = lookout::config::LookoutConfig::load(&path).unwrap_err();
                let kind = match e {
                    lookout::config::ConfigFileError::Parse { .. } => "config_parse",
                    lookout::config::ConfigFileError::Invalid { .. } => "config_invalid",
                    lookout::config::ConfigFileError::Io { .. } => "config_io",
                };
                assert_eq!(kind, case.counter, "{}: {e}", case.file);
                e.to_string()
            }
            "calibration" => lookout::calibration::Calibration::load(&path)
                .unwrap_err()
                .to_string(),
            "model_spec" => lookout::camera::spec::ModelSpec::load(&path)
                .unwrap_err()
                .to_string(),
            _ => continue,
        };
        assert!(
            error.contains(&case.error),
            "{}: {error:?} does not say {:?}",
            case.file,
            case.error
        );
        assert!(
            error.contains(case.file.rsplit('/').next().unwrap()),
            "{}: the error does not name the file: {error}",
            case.file
        );
    }
}
