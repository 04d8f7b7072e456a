//! The per-frame decode path allocates nothing once its buffers are warm:
//! `allocation-counter`'s counting global allocator watches this thread while
//! frames are ingested.

mod common;

use lookout::bag::Bag;
use lookout::ingest::{Ingest, InputKind};
use lookout::synth;
use std::ops::ControlFlow;

#[test]
fn ingesting_images_camera_info_and_clouds_allocates_nothing_after_warm_up() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scene.mcap");
    common::write_small_scene(&path, 0.5, 5);
    let mut messages: Vec<(InputKind, Vec<u8>)> = Vec::new();
    Bag::open(&path)
        .unwrap()
        .read_messages(None, |m| {
            let kind = InputKind::from_type_name(m.type_name).unwrap();
            // Ground truth (3D and 2D) is read by evaluations, not per frame.
            if m.topic != synth::TRUTH_TOPIC && m.topic != synth::CAMERA_TRUTH_TOPIC {
                messages.push((kind, m.data.to_vec()));
            }
            ControlFlow::Continue(())
        })
        .unwrap();
    // The scans differ in size; warm up on the largest of each kind.
    let mut ingest = Ingest::new();
    for (kind, data) in &messages {
        ingest.ingest(*kind, data).unwrap();
    }
    let mut points = 0u64;
    let counted = allocation_counter::measure(|| {
        for (kind, data) in &messages {
            let (facts, _) = ingest.ingest(*kind, data).unwrap();
            points += facts.point_count as u64;
        }
    });
    assert!(points > 0);
    assert_eq!(
        counted.count_total,
        0,
        "allocations while ingesting {} warm frames",
        messages.len()
    );
}
