//! rosbag2 MCAP reading and writing: ordering, compression, directories,
//! damaged files.

mod common;

use lookout::bag::{Bag, BagError, BagWriter, Compression, WriterOptions};
use lookout::msg::{FrameReport, OwnedHeader, Time};
use std::ops::ControlFlow;

fn report(topic: &str, sec: i32) -> FrameReport {
    FrameReport {
        header: OwnedHeader {
            stamp: Time { sec, nanosec: 0 },
            frame_id: "f".into(),
        },
        topic: topic.into(),
        ..FrameReport::default()
    }
}

/// The top-level records of an MCAP file: (offset, opcode, body length).
fn records(bytes: &[u8]) -> Vec<(usize, u8, usize)> {
    let mut out = Vec::new();
    let mut at = 8;
    while at + 9 <= bytes.len() {
        let len = u64::from_le_bytes(bytes[at + 1..at + 9].try_into().unwrap()) as usize;
        out.push((at, bytes[at], len));
        at += 9 + len;
    }
    out
}

fn collect(bag: &Bag, topics: Option<&[String]>) -> Vec<(String, u64, Vec<u8>)> {
    let mut out = Vec::new();
    bag.read_messages(topics, |m| {
        out.push((m.topic.to_owned(), m.log_time, m.data.to_vec()));
        ControlFlow::Continue(())
    })
    .unwrap();
    out
}

#[test]
fn messages_come_back_in_log_time_order_for_every_compression() {
    for compression in [Compression::None, Compression::Zstd, Compression::Lz4] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("order.mcap");
        // Tiny chunks so the out-of-order writes span several chunks.
        let options = WriterOptions {
            compression,
            chunk_size: 64,
        };
        let mut w = BagWriter::create(&path, options).unwrap();
        let a = w.add_topic("/a", "lookout_msgs/msg/FrameReport").unwrap();
        let b = w.add_topic("/b", "lookout_msgs/msg/FrameReport").unwrap();
        for (topic, id, t) in [
            ("/a", a, 30),
            ("/b", b, 10),
            ("/a", a, 20),
            ("/b", b, 40),
            ("/a", a, 5),
        ] {
            w.write(id, t, &report(topic, t as i32)).unwrap();
        }
        w.finish().unwrap();

        let bag = Bag::open(&path).unwrap();
        let all = collect(&bag, None);
        let times: Vec<u64> = all.iter().map(|(_, t, _)| *t).collect();
        assert_eq!(times, [5, 10, 20, 30, 40], "{compression:?}");
        for (topic, t, data) in &all {
            let decoded = FrameReport::decode(data).unwrap();
            assert_eq!(&decoded.topic, topic);
            assert_eq!(decoded.header.stamp.sec as u64, *t);
        }
        let only_b = collect(&bag, Some(&["/b".to_owned()]));
        assert_eq!(only_b.len(), 2);
        assert!(only_b.iter().all(|(topic, ..)| topic == "/b"));

        let topics = bag.topics().unwrap();
        assert_eq!(topics.len(), 2);
        assert_eq!(topics[0].topic, "/a");
        assert_eq!(topics[0].type_name, "lookout_msgs/msg/FrameReport");
        assert_eq!(topics[0].message_count, 3);
    }
}

#[test]
fn the_visitor_can_stop_early() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scene.mcap");
    common::write_small_scene(&path, 0.3, 1);
    let bag = Bag::open(&path).unwrap();
    let mut seen = 0;
    let summary = bag
        .read_messages(None, |_| {
            seen += 1;
            if seen == 3 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
    assert_eq!(seen, 3);
    assert_eq!(summary.messages, 3);
}

#[test]
fn a_truncated_bag_yields_what_precedes_the_damage_then_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scene.mcap");
    common::write_small_scene(&path, 0.5, 2);
    let full = collect(&Bag::open(&path).unwrap(), None);
    let bytes = std::fs::read(&path).unwrap();
    let cut = dir.path().join("cut.mcap");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();

    let bag = Bag::open(&cut).unwrap();
    let mut recovered = Vec::new();
    let err = bag
        .read_messages(None, |m| {
            recovered.push(m.data.to_vec());
            ControlFlow::Continue(())
        })
        .unwrap_err();
    match &err {
        BagError::Corrupt { messages_read, .. } => {
            assert_eq!(*messages_read as usize, recovered.len());
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert!(!recovered.is_empty() && recovered.len() < full.len());
    // What was recovered is exactly the start of the file (file order = log order here).
    for (got, (_, _, want)) in recovered.iter().zip(&full) {
        assert_eq!(got, want);
    }
    assert!(err.to_string().contains("cut.mcap"), "{err}");
}

#[test]
fn garbage_and_missing_inputs_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.mcap");
    std::fs::write(&garbage, b"this is not an mcap file at all").unwrap();
    let err = Bag::open(&garbage).unwrap_err();
    assert!(matches!(err, BagError::NotABag { .. }), "{err:?}");
    assert!(err.to_string().contains("not an MCAP file"));

    // The magic alone, then nothing: an MCAP file cut right after its start.
    let stub = dir.path().join("stub.mcap");
    std::fs::write(&stub, b"\x89MCAP0\r\n").unwrap();
    let err = Bag::open(&stub)
        .unwrap()
        .read_messages(None, |_| ControlFlow::Continue(()))
        .unwrap_err();
    assert!(
        matches!(
            err,
            BagError::Corrupt {
                messages_read: 0,
                ..
            }
        ),
        "{err:?}"
    );

    let err = Bag::open(dir.path().join("missing.mcap")).unwrap_err();
    assert!(matches!(err, BagError::Io { .. }));

    let empty_dir = dir.path().join("not_a_bag");
    std::fs::create_dir(&empty_dir).unwrap();
    assert!(matches!(
        Bag::open(&empty_dir).unwrap_err(),
        BagError::NotABag { .. }
    ));
}

#[test]
fn rosbag2_directories_are_read_file_by_file() {
    let dir = tempfile::tempdir().unwrap();
    let bag_dir = dir.path().join("run1");
    std::fs::create_dir(&bag_dir).unwrap();
    for (i, name) in ["run1_0.mcap", "run1_1.mcap"].iter().enumerate() {
        let mut w = BagWriter::create(bag_dir.join(name), WriterOptions::default()).unwrap();
        let t = w.add_topic("/a", "lookout_msgs/msg/FrameReport").unwrap();
        for k in 0..3 {
            let time = (i * 10 + k) as u64;
            w.write(t, time, &report("/a", time as i32)).unwrap();
        }
        w.finish().unwrap();
    }
    std::fs::write(
        bag_dir.join("metadata.yaml"),
        "rosbag2_bagfile_information:\n  version: 9\n  storage_identifier: mcap\n  relative_file_paths:\n    - run1_0.mcap\n    - run1_1.mcap\n",
    )
    .unwrap();
    let bag = Bag::open(&bag_dir).unwrap();
    assert_eq!(bag.files().len(), 2);
    let times: Vec<u64> = collect(&bag, None).iter().map(|(_, t, _)| *t).collect();
    assert_eq!(times, [0, 1, 2, 10, 11, 12]);
    assert_eq!(bag.topics().unwrap()[0].message_count, 6);

    std::fs::write(
        bag_dir.join("metadata.yaml"),
        "rosbag2_bagfile_information:\n  storage_identifier: sqlite3\n  relative_file_paths: [run1_0.db3]\n",
    )
    .unwrap();
    let err = Bag::open(&bag_dir).unwrap_err();
    assert!(
        matches!(err, BagError::UnsupportedStorage { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("sqlite3"));
}

/// Records whose lengths lie, found by the `mcap_bag` fuzz target: each is
/// a clean `Corrupt` error, not an abort (a length of 8.5e18 bytes was once
/// allocated whole) nor a panic (a short attachment record panicked in the
/// mcap crate's parser, which replay now never calls for attachments).
#[test]
fn records_with_lying_lengths_are_clean_errors() {
    const MAGIC: &[u8] = b"\x89MCAP0\r\n";
    let record = |opcode: u8, len: u64, body: &[u8]| {
        let mut bytes = vec![opcode];
        bytes.extend_from_slice(&len.to_le_bytes());
        bytes.extend_from_slice(body);
        bytes
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("an 8.5e18-byte record", {
            let mut file = MAGIC.to_vec();
            file.extend(record(0x76, 0x7676_7676_7676_7676, b"vvvvvvvv"));
            file
        }),
        ("a record longer than the file", {
            let mut file = MAGIC.to_vec();
            file.extend(record(0x03, 1 << 40, b"abc"));
            file
        }),
        ("an attachment shorter than its fields", {
            let mut file = MAGIC.to_vec();
            file.extend(record(0x09, 6, &[0; 6]));
            file
        }),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (what, bytes) in cases {
        let path = dir.path().join("lying.mcap");
        std::fs::write(&path, &bytes).unwrap();
        let bag = Bag::open(&path).unwrap();
        let _ = bag.topics();
        let read = bag.read_messages(None, |_| ControlFlow::Continue(()));
        assert!(
            matches!(read, Err(BagError::Corrupt { .. })),
            "{what}: {read:?}"
        );
    }
}

/// A bag damaged in the middle (one chunk's bytes flipped, for every
/// compression): the reader reports the damage and goes on with the next
/// readable chunk, so only that chunk's messages are lost.
#[test]
fn a_damaged_chunk_mid_file_is_skipped_and_reading_goes_on() {
    for compression in [Compression::None, Compression::Zstd, Compression::Lz4] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("damaged.mcap");
        let options = WriterOptions {
            compression,
            chunk_size: 300,
        };
        let mut w = BagWriter::create(&path, options).unwrap();
        let topic = w.add_topic("/r", "lookout_msgs/msg/FrameReport").unwrap();
        for t in 0..60 {
            w.write(topic, t, &report("/r", t as i32)).unwrap();
        }
        w.finish().unwrap();
        let all = collect(&Bag::open(&path).unwrap(), None);
        assert_eq!(all.len(), 60);

        // Flip the middle of the file's middle chunk (opcode 0x06).
        let mut bytes = std::fs::read(&path).unwrap();
        let mut chunks = Vec::new();
        for (at, opcode, len) in records(&bytes) {
            if opcode == 0x06 {
                chunks.push((at, len));
            }
        }
        assert!(
            chunks.len() >= 4,
            "{compression:?}: {} chunks",
            chunks.len()
        );
        let (start, len) = chunks[chunks.len() / 2];
        for b in &mut bytes[start + 9 + len - 24..start + 9 + len - 8] {
            *b ^= 0xA5;
        }
        std::fs::write(&path, &bytes).unwrap();

        let bag = Bag::open(&path).unwrap();
        let mut times = Vec::new();
        let err = bag
            .read_messages(None, |m| {
                times.push(m.log_time);
                ControlFlow::Continue(())
            })
            .unwrap_err();
        let BagError::Corrupt { detail, .. } = &err else {
            panic!("{compression:?}: {err:?}");
        };
        assert!(
            detail.contains("1 damaged chunk(s) skipped"),
            "{compression:?}: {detail}"
        );
        // One chunk's messages are missing, the ones after it are there.
        assert!(
            times.len() < 60 && times.len() >= 60 - 60 / chunks.len() - 2,
            "{compression:?}: {}",
            times.len()
        );
        assert_eq!(times.last(), Some(&59), "{compression:?}");
        assert!(times.windows(2).all(|w| w[0] < w[1]), "{compression:?}");
    }
}

/// A bag without its summary is read in file order, its chunks unpacked by
/// Lookout itself: the same messages as the indexed read, for every
/// compression.
#[test]
fn file_order_reads_give_the_indexed_messages_for_every_compression() {
    for compression in [Compression::None, Compression::Zstd, Compression::Lz4] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("full.mcap");
        let options = WriterOptions {
            compression,
            chunk_size: 256,
        };
        let mut w = BagWriter::create(&path, options).unwrap();
        let a = w.add_topic("/a", "lookout_msgs/msg/FrameReport").unwrap();
        let b = w.add_topic("/b", "lookout_msgs/msg/FrameReport").unwrap();
        for t in 0..40u64 {
            let (id, topic) = if t % 3 == 0 { (b, "/b") } else { (a, "/a") };
            w.write(id, t, &report(topic, t as i32)).unwrap();
        }
        w.finish().unwrap();
        let indexed = collect(&Bag::open(&path).unwrap(), None);

        // Keep the data section up to DataEnd (opcode 0x0f), then a footer
        // that points at no summary, then the magic.
        let bytes = std::fs::read(&path).unwrap();
        let data_end = records(&bytes)
            .into_iter()
            .find(|&(_, opcode, _)| opcode == 0x0f)
            .map(|(at, _, len)| at + 9 + len);
        let mut unindexed = bytes[..data_end.unwrap()].to_vec();
        unindexed.push(0x02);
        unindexed.extend_from_slice(&20u64.to_le_bytes());
        unindexed.extend_from_slice(&[0; 20]);
        unindexed.extend_from_slice(b"\x89MCAP0\r\n");
        let linear_path = dir.path().join("linear.mcap");
        std::fs::write(&linear_path, &unindexed).unwrap();
        let bag = Bag::open(&linear_path).unwrap();
        let mut linear = Vec::new();
        let summary = bag
            .read_messages(None, |m| {
                linear.push((m.topic.to_owned(), m.log_time, m.data.to_vec()));
                ControlFlow::Continue(())
            })
            .unwrap();
        assert_eq!(summary.files_read_linearly.len(), 1, "{compression:?}");
        assert_eq!(linear, indexed, "{compression:?}");
    }
}

/// A footer pointing the summary at the data section (chunks where only
/// summary records belong, found by fuzzing: the mcap crate's summary
/// reader underflowed on them): the summary is refused and the bag is read
/// in file order, every message intact.
#[test]
fn a_summary_holding_chunks_is_refused_and_the_bag_read_in_file_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bag.mcap");
    let options = WriterOptions {
        compression: Compression::None,
        chunk_size: 256,
    };
    let mut w = BagWriter::create(&path, options).unwrap();
    let topic = w.add_topic("/r", "lookout_msgs/msg/FrameReport").unwrap();
    for t in 0..20 {
        w.write(topic, t, &report("/r", t as i32)).unwrap();
    }
    w.finish().unwrap();
    let expected = collect(&Bag::open(&path).unwrap(), None);
    let mut bytes = std::fs::read(&path).unwrap();
    // The footer's summary_start (9 bytes into the footer record, which
    // sits right before the 8-byte end magic) -> the first record after the
    // header: a chunk.
    let footer = bytes.len() - 8 - 29;
    assert_eq!(bytes[footer], 0x02);
    let header_len = u64::from_le_bytes(bytes[9..17].try_into().unwrap()) as usize;
    let first_record = (8 + 9 + header_len) as u64;
    bytes[footer + 9..footer + 17].copy_from_slice(&first_record.to_le_bytes());
    // Summary offset start and CRC: none.
    bytes[footer + 17..footer + 29].fill(0);
    std::fs::write(&path, &bytes).unwrap();
    let bag = Bag::open(&path).unwrap();
    assert_eq!(bag.topics().unwrap().len(), 1);
    let mut got = Vec::new();
    let summary = bag
        .read_messages(None, |m| {
            got.push((m.topic.to_owned(), m.log_time, m.data.to_vec()));
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(summary.files_read_linearly.len(), 1);
    assert_eq!(got, expected);
}
