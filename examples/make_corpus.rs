//! Writes `tests/corpus/`: malformed inputs of every kind Lookout reads,
//! each with the error it must give and the counter it must bump, listed in
//! `tests/corpus/manifest.yaml`. `tests/corpus.rs` runs every case through
//! replay and through the node's decode path, and checks that the committed
//! files are what this program writes.
//!
//!     cargo run --release --example make_corpus -- tests/corpus
//!
//! Deterministic: the same source gives the same bytes.

use lookout::bag::{BagWriter, Compression, WriterOptions};
use lookout::cdr::CdrWriter;
use lookout::msg::{FrameReport, OwnedHeader, Time};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One case of the corpus.
struct Case {
    /// Path under the corpus directory.
    file: String,
    /// `image`, `compressed_image`, `camera_info`, `point_cloud2`, `mcap`,
    /// `config`, `calibration`, `model_spec`.
    input: &'static str,
    /// The counter a rejection bumps (a reject reason for messages; the
    /// error kind for files).
    counter: &'static str,
    /// Text the error message must contain.
    error: &'static str,
    bytes: Vec<u8>,
}

/// `bytes` with the first `needle` replaced by `with` (same length).
fn patch(mut bytes: Vec<u8>, needle: &[u8], with: &[u8]) -> Vec<u8> {
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("the needle is in the bytes");
    bytes[at..at + with.len()].copy_from_slice(with);
    bytes
}

/// `bytes` with every `needle` replaced by `with` (same length).
fn patch_all(mut bytes: Vec<u8>, needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut at = 0;
    while let Some(found) = bytes[at..].windows(needle.len()).position(|w| w == needle) {
        let start = at + found;
        bytes[start..start + with.len()].copy_from_slice(with);
        at = start + with.len();
    }
    bytes
}

fn header(w: &mut CdrWriter, frame_id: &str) {
    w.i32(1_700_000_000).u32(500_000_000).string(frame_id);
}

/// A raw `sensor_msgs/Image` with every field given.
#[allow(clippy::too_many_arguments)]
fn image(
    frame_id: &str,
    height: u32,
    width: u32,
    encoding: &str,
    is_bigendian: u8,
    step: u32,
    data_len: u32,
    data: &[u8],
) -> Vec<u8> {
    let mut w = CdrWriter::new();
    header(&mut w, frame_id);
    w.u32(height)
        .u32(width)
        .string(encoding)
        .u8(is_bigendian)
        .u32(step);
    w.bytes(data);
    let mut bytes = w.into_bytes();
    // The data's length prefix, possibly a lie.
    let at = bytes.len() - data.len() - 4;
    bytes[at..at + 4].copy_from_slice(&data_len.to_le_bytes());
    bytes
}

fn good_image() -> Vec<u8> {
    image("camera", 4, 4, "rgb8", 0, 12, 48, &[7; 48])
}

fn compressed(format: &str, data: &[u8]) -> Vec<u8> {
    let mut w = CdrWriter::new();
    header(&mut w, "camera");
    w.string(format).bytes(data);
    w.into_bytes()
}

fn png(width: u32, height: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let image = image::RgbImage::from_pixel(width, height, image::Rgb([90, 120, 200]));
    image
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .expect("PNG encodes");
    out
}

fn jpeg(width: u32, height: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let image = image::RgbImage::from_pixel(width, height, image::Rgb([90, 120, 200]));
    image
        .write_to(
            &mut std::io::Cursor::new(&mut out),
            image::ImageFormat::Jpeg,
        )
        .expect("JPEG encodes");
    out
}

#[allow(clippy::too_many_arguments)]
fn camera_info(
    width: u32,
    height: u32,
    model: &str,
    d: &[f64],
    k: [f64; 9],
    truncate_after_k: bool,
) -> Vec<u8> {
    let mut w = CdrWriter::new();
    header(&mut w, "camera");
    w.u32(height)
        .u32(width)
        .string(model)
        .sequence_len(d.len())
        .f64_slice(d)
        .f64_slice(&k);
    if !truncate_after_k {
        w.f64_slice(&[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]);
        w.f64_slice(&[
            k[0], 0.0, k[2], 0.0, 0.0, k[4], k[5], 0.0, 0.0, 0.0, 1.0, 0.0,
        ]);
        w.u32(0).u32(0).u32(0).u32(0).u32(0).u32(0).bool(false);
    }
    w.into_bytes()
}

const K: [f64; 9] = [500.0, 0.0, 320.0, 0.0, 500.0, 240.0, 0.0, 0.0, 1.0];

/// One point field: name, offset, datatype code, count.
type Field<'a> = (&'a str, u32, u8, u32);

const XYZ: [Field<'static>; 3] = [("x", 0, 7, 1), ("y", 4, 7, 1), ("z", 8, 7, 1)];

/// A raw `sensor_msgs/PointCloud2` with every field given.
#[allow(clippy::too_many_arguments)]
fn cloud(
    height: u32,
    width: u32,
    fields: &[Field<'_>],
    is_bigendian: bool,
    point_step: u32,
    row_step: u32,
    data: &[u8],
) -> Vec<u8> {
    let mut w = CdrWriter::new();
    header(&mut w, "lidar");
    w.u32(height).u32(width).sequence_len(fields.len());
    for &(name, offset, datatype, count) in fields {
        w.string(name).u32(offset).u8(datatype).u32(count);
    }
    w.bool(is_bigendian).u32(point_step).u32(row_step);
    w.bytes(data).bool(true);
    w.into_bytes()
}

fn points(xyz: &[[f32; 3]]) -> Vec<u8> {
    xyz.iter()
        .flat_map(|p| p.iter().flat_map(|v| v.to_le_bytes()))
        .collect()
}

fn message_cases() -> Vec<Case> {
    let case = |file: &str, input, counter, error, bytes| Case {
        file: file.to_owned(),
        input,
        counter,
        error,
        bytes,
    };
    let mut cases = Vec::new();
    // The CDR encapsulation header, on an Image topic.
    let good = good_image();
    cases.extend([
        case(
            "cdr/empty.cdr",
            "image",
            "truncated",
            "cdr.encapsulation",
            vec![],
        ),
        case(
            "cdr/one_byte.cdr",
            "image",
            "truncated",
            "cdr.encapsulation",
            vec![0],
        ),
        case(
            "cdr/unknown_encapsulation.cdr",
            "image",
            "encapsulation",
            "is not plain CDR",
            {
                let mut b = good.clone();
                b[1] = 0x12;
                b
            },
        ),
        case(
            "cdr/xcdr2_encapsulation.cdr",
            "image",
            "encapsulation",
            "is not plain CDR",
            {
                let mut b = good.clone();
                b[1] = 0x07;
                b
            },
        ),
        case(
            "cdr/header_only.cdr",
            "image",
            "truncated",
            "Image.header",
            good[..4].to_vec(),
        ),
        case(
            "cdr/trailing_bytes.cdr",
            "image",
            "trailing_bytes",
            "unexpected bytes",
            {
                let mut b = good.clone();
                b.extend_from_slice(&[0xAB; 16]);
                b
            },
        ),
    ]);
    // sensor_msgs/Image.
    cases.extend([
        case(
            "image/truncated_in_header.cdr",
            "image",
            "truncated",
            "Image.header",
            good[..10].to_vec(),
        ),
        // Cut inside the data: the length prefix then claims more than is left.
        case(
            "image/truncated_in_data.cdr",
            "image",
            "sequence_too_long",
            "Image.data",
            good[..good.len() - 5].to_vec(),
        ),
        case(
            "image/frame_id_not_utf8.cdr",
            "image",
            "invalid_string",
            "Image.header.frame_id",
            patch(
                image("camera_bad", 4, 4, "rgb8", 0, 12, 48, &[7; 48]),
                b"bad",
                &[0xFF, 0xFE, 0xFD],
            ),
        ),
        case(
            "image/encoding_yuv422.cdr",
            "image",
            "unsupported_encoding",
            "yuv422",
            image("camera", 4, 4, "yuv422", 0, 8, 32, &[7; 32]),
        ),
        case(
            "image/encoding_bayer.cdr",
            "image",
            "unsupported_encoding",
            "bayer_rggb8",
            image("camera", 4, 4, "bayer_rggb8", 0, 4, 16, &[7; 16]),
        ),
        case(
            "image/encoding_32fc1.cdr",
            "image",
            "unsupported_encoding",
            "32FC1",
            image("camera", 4, 4, "32FC1", 0, 16, 64, &[7; 64]),
        ),
        case(
            "image/step_below_row.cdr",
            "image",
            "inconsistent_size",
            "Image.step",
            image("camera", 4, 4, "rgb8", 0, 10, 40, &[7; 40]),
        ),
        case(
            "image/data_short_of_rows.cdr",
            "image",
            "inconsistent_size",
            "Image.data",
            image("camera", 4, 4, "rgb8", 0, 12, 36, &[7; 36]),
        ),
        case(
            "image/zero_width.cdr",
            "image",
            "invalid_value",
            "Image.width",
            image("camera", 4, 0, "rgb8", 0, 0, 0, &[]),
        ),
        case(
            "image/size_overflows.cdr",
            "image",
            "inconsistent_size",
            "Image",
            image(
                "camera",
                0xFFFF_FFF0,
                0xFFFF_FFF0,
                "rgb8",
                0,
                12,
                48,
                &[7; 48],
            ),
        ),
        case(
            "image/data_length_lies.cdr",
            "image",
            "sequence_too_long",
            "Image.data",
            image("camera", 4, 4, "rgb8", 0, 12, 0xFFFF_FFF0, &[7; 48]),
        ),
        case(
            "image/step_overflows_rows.cdr",
            "image",
            "inconsistent_size",
            "Image.data",
            image("camera", 4, 4, "rgb8", 0, 0xFFFF_FFFF, 48, &[7; 48]),
        ),
        case(
            "image/encoding_length_lies.cdr",
            "image",
            "truncated",
            "Image.encoding",
            {
                let mut w = CdrWriter::new();
                header(&mut w, "camera");
                w.u32(4).u32(4).u32(0x7FFF_FFFF);
                w.into_bytes()
            },
        ),
    ]);
    // sensor_msgs/CompressedImage.
    let png_ok = png(8, 6);
    cases.extend([
        case("compressed_image/format_webp.cdr", "compressed_image", "unsupported_encoding", "webp",
            compressed("webp", b"RIFF\x24\x00\x00\x00WEBPVP8 \x18\x00\x00\x00\x30\x01\x00\x9d\x01\x2a\x01\x00\x01\x00")),
        case("compressed_image/jpeg_garbage.cdr", "compressed_image", "compressed_decode", "CompressedImage.data",
            compressed("jpeg", &[0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3, 4, 5, 6, 7, 8])),
        case("compressed_image/png_truncated.cdr", "compressed_image", "compressed_decode", "CompressedImage.data",
            compressed("png", &png_ok[..png_ok.len() / 2])),
        case("compressed_image/jpeg_truncated.cdr", "compressed_image", "compressed_decode", "CompressedImage.data", {
            let j = jpeg(16, 16);
            compressed("jpeg", &j[..j.len() / 3])
        }),
        case("compressed_image/empty_data.cdr", "compressed_image", "compressed_decode", "CompressedImage.data",
            compressed("png", &[])),
        case("compressed_image/data_length_lies.cdr", "compressed_image", "sequence_too_long", "CompressedImage.data", {
            let mut w = CdrWriter::new();
            header(&mut w, "camera");
            w.string("png").u32(0x4000_0000).bytes_in_place(8);
            w.into_bytes()
        }),
        case("compressed_image/format_not_utf8.cdr", "compressed_image", "invalid_string", "CompressedImage.format",
            patch(compressed("pnX", &png_ok), b"pnX", &[b'p', b'n', 0xC3])),
    ]);
    // sensor_msgs/CameraInfo.
    cases.extend([
        case(
            "camera_info/zero_focal_length.cdr",
            "camera_info",
            "invalid_value",
            "CameraInfo.k",
            camera_info(
                640,
                480,
                "plumb_bob",
                &[0.0; 5],
                [0.0, 0.0, 320.0, 0.0, 500.0, 240.0, 0.0, 0.0, 1.0],
                false,
            ),
        ),
        case(
            "camera_info/nan_focal_length.cdr",
            "camera_info",
            "invalid_value",
            "CameraInfo.k",
            camera_info(
                640,
                480,
                "plumb_bob",
                &[0.0; 5],
                [f64::NAN, 0.0, 320.0, 0.0, 500.0, 240.0, 0.0, 0.0, 1.0],
                false,
            ),
        ),
        case(
            "camera_info/infinite_principal_point.cdr",
            "camera_info",
            "invalid_value",
            "principal point",
            camera_info(
                640,
                480,
                "plumb_bob",
                &[0.0; 5],
                [500.0, 0.0, f64::INFINITY, 0.0, 500.0, 240.0, 0.0, 0.0, 1.0],
                false,
            ),
        ),
        case(
            "camera_info/empty_size.cdr",
            "camera_info",
            "invalid_value",
            "CameraInfo.width",
            camera_info(0, 480, "plumb_bob", &[0.0; 5], K, false),
        ),
        case(
            "camera_info/nan_distortion.cdr",
            "camera_info",
            "invalid_value",
            "CameraInfo.d",
            camera_info(
                640,
                480,
                "plumb_bob",
                &[0.1, f64::NAN, 0.0, 0.0, 0.0],
                K,
                false,
            ),
        ),
        case(
            "camera_info/truncated_after_k.cdr",
            "camera_info",
            "truncated",
            "CameraInfo.r",
            camera_info(640, 480, "plumb_bob", &[0.0; 5], K, true),
        ),
        case(
            "camera_info/distortion_length_lies.cdr",
            "camera_info",
            "sequence_too_long",
            "CameraInfo.d",
            {
                let mut w = CdrWriter::new();
                header(&mut w, "camera");
                w.u32(480)
                    .u32(640)
                    .string("plumb_bob")
                    .u32(0x1000_0000)
                    .f64(0.0);
                w.into_bytes()
            },
        ),
    ]);
    // sensor_msgs/PointCloud2.
    let three = points(&[[1.0, 2.0, 0.5], [3.0, -1.0, 0.2], [5.0, 0.0, 1.0]]);
    cases.extend([
        case(
            "point_cloud2/point_step_below_fields.cdr",
            "point_cloud2",
            "inconsistent_size",
            "PointCloud2",
            cloud(1, 3, &XYZ, false, 8, 24, &three[..24]),
        ),
        case(
            "point_cloud2/point_step_zero.cdr",
            "point_cloud2",
            "inconsistent_size",
            "PointCloud2",
            cloud(1, 3, &XYZ, false, 0, 0, &[]),
        ),
        case(
            "point_cloud2/row_step_mismatch.cdr",
            "point_cloud2",
            "inconsistent_size",
            "PointCloud2.row_step",
            cloud(1, 3, &XYZ, false, 12, 30, &three),
        ),
        case(
            "point_cloud2/data_short.cdr",
            "point_cloud2",
            "inconsistent_size",
            "PointCloud2.data",
            cloud(1, 3, &XYZ, false, 12, 36, &three[..24]),
        ),
        case(
            "point_cloud2/no_z_field.cdr",
            "point_cloud2",
            "invalid_value",
            "PointCloud2.fields",
            cloud(1, 3, &XYZ[..2], false, 12, 36, &three),
        ),
        case(
            "point_cloud2/unknown_datatype.cdr",
            "point_cloud2",
            "unsupported_encoding",
            "PointCloud2.fields.datatype",
            cloud(
                1,
                3,
                &[("x", 0, 7, 1), ("y", 4, 7, 1), ("z", 8, 11, 1)],
                false,
                12,
                36,
                &three,
            ),
        ),
        case(
            "point_cloud2/field_past_point_step.cdr",
            "point_cloud2",
            "inconsistent_size",
            "PointCloud2",
            cloud(
                1,
                3,
                &[("x", 0, 7, 1), ("y", 4, 7, 1), ("z", 10, 7, 1)],
                false,
                12,
                36,
                &three,
            ),
        ),
        case(
            "point_cloud2/size_overflows.cdr",
            "point_cloud2",
            "inconsistent_size",
            "PointCloud2",
            cloud(
                0xFFFF_FFFF,
                0xFFFF_FFFF,
                &XYZ,
                false,
                12,
                0xFFFF_FFFF,
                &three,
            ),
        ),
        case(
            "point_cloud2/too_many_fields.cdr",
            "point_cloud2",
            "inconsistent_size",
            "PointCloud2.fields",
            {
                let many: Vec<Field<'_>> = (0..40).map(|i| ("f", i, 2, 1)).collect();
                cloud(1, 3, &many, false, 40, 120, &[0; 120])
            },
        ),
        case(
            "point_cloud2/fields_length_lies.cdr",
            "point_cloud2",
            "sequence_too_long",
            "PointCloud2.fields",
            {
                let mut w = CdrWriter::new();
                header(&mut w, "lidar");
                w.u32(1).u32(3).u32(0x0FFF_FFFF);
                w.into_bytes()
            },
        ),
        case(
            "point_cloud2/xyz_as_int8.cdr",
            "point_cloud2",
            "unsupported_encoding",
            "unsupported coordinate type",
            cloud(
                1,
                3,
                &[("x", 0, 1, 1), ("y", 1, 1, 1), ("z", 2, 1, 1)],
                false,
                3,
                9,
                &[1; 9],
            ),
        ),
    ]);
    cases
}

/// A small valid bag: FrameReports on one topic, `count` of them, 0.1 s
/// apart, in chunks of about `chunk_size` bytes.
fn small_bag(dir: &Path, compression: Compression, chunk_size: u64, count: u64) -> Vec<u8> {
    let path = dir.join("small.mcap");
    let mut w = BagWriter::create(
        &path,
        WriterOptions {
            compression,
            chunk_size,
        },
    )
    .unwrap();
    let topic = w
        .add_topic("/reports", "lookout_msgs/msg/FrameReport")
        .unwrap();
    for i in 0..count {
        let t = 1_000_000_000 + i * 100_000_000;
        w.write(topic, t, &report(t)).unwrap();
    }
    w.finish().unwrap();
    std::fs::read(&path).unwrap()
}

fn report(t: u64) -> FrameReport {
    FrameReport {
        header: OwnedHeader {
            stamp: Time {
                sec: (t / 1_000_000_000) as i32,
                nanosec: (t % 1_000_000_000) as u32,
            },
            frame_id: "lidar".into(),
        },
        topic: "/points".into(),
        message_type: "sensor_msgs/msg/PointCloud2".into(),
        accepted: true,
        ..FrameReport::default()
    }
}

/// Offset of the first record with `opcode` after the magic.
fn find_record(bytes: &[u8], opcode: u8) -> usize {
    let mut at = 8;
    while at + 9 <= bytes.len() {
        let len = u64::from_le_bytes(bytes[at + 1..at + 9].try_into().unwrap()) as usize;
        if bytes[at] == opcode {
            return at;
        }
        at += 9 + len;
    }
    panic!("no record with opcode {opcode:#x}");
}

/// The file up to its DataEnd record: no summary, no footer, no end magic.
fn without_summary(bytes: &[u8]) -> Vec<u8> {
    bytes[..find_record(bytes, DATA_END)].to_vec()
}

/// The file with its summary section removed but properly closed: data
/// section, DataEnd, a footer pointing at no summary, end magic.
fn unindexed(bytes: &[u8]) -> Vec<u8> {
    let data_end = find_record(bytes, DATA_END);
    let mut out = bytes[..data_end + 9 + 4].to_vec();
    out.push(FOOTER);
    out.extend_from_slice(&20u64.to_le_bytes());
    out.extend_from_slice(&[0; 20]);
    out.extend_from_slice(b"\x89MCAP0\r\n");
    out
}

const DATA_END: u8 = 0x0F;
const CHUNK: u8 = 0x06;
const FOOTER: u8 = 0x02;

fn mcap_cases(dir: &Path) -> Vec<Case> {
    let case = |file: &str, counter, error, bytes| Case {
        file: file.to_owned(),
        input: "mcap",
        counter,
        error,
        bytes,
    };
    let plain = small_bag(dir, Compression::None, 200, 12);
    let zstd = small_bag(dir, Compression::Zstd, 200, 12);
    let chunk = find_record(&plain, CHUNK);
    let mut cases = vec![
        case("mcap/empty.mcap", "not_a_bag", "not an MCAP file", vec![]),
        case(
            "mcap/text_file.mcap",
            "not_a_bag",
            "not an MCAP file",
            b"rosbag2_bagfile_information:\n".to_vec(),
        ),
        case(
            "mcap/magic_only.mcap",
            "corrupt",
            "file ends",
            plain[..8].to_vec(),
        ),
        case(
            "mcap/truncated_mid_chunk.mcap",
            "corrupt",
            "file ends in the middle of a record",
            plain[..chunk + 60].to_vec(),
        ),
        case("mcap/truncated_before_summary.mcap", "corrupt", "", {
            let footer = find_record(&plain, FOOTER);
            plain[..footer - 20].to_vec()
        }),
        case("mcap/chunk_crc_wrong.mcap", "corrupt", "crc", {
            let mut b = plain.clone();
            // The chunk's uncompressed CRC: after start, end, uncompressed
            // size (3 u64) in the chunk body.
            let crc = chunk + 9 + 24;
            b[crc] ^= 0xFF;
            b
        }),
        // Without a summary (read in file order), a chunk whose length
        // prefix claims ~4.6e18 bytes.
        case("mcap/record_length_lies.mcap", "corrupt", "", {
            let mut b = without_summary(&plain);
            b[chunk + 1..chunk + 9].copy_from_slice(&(u64::MAX / 4).to_le_bytes());
            b
        }),
        case(
            "mcap/no_summary_truncated_mid_chunk.mcap",
            "corrupt",
            "file ends in the middle of a record",
            without_summary(&plain)[..chunk + 100].to_vec(),
        ),
        // Every chunk and chunk index names a compression no reader knows.
        case(
            "mcap/unknown_compression.mcap",
            "corrupt",
            "brot",
            patch_all(zstd.clone(), b"zstd", b"brot"),
        ),
        case("mcap/zstd_payload_corrupt.mcap", "corrupt", "", {
            let mut b = zstd.clone();
            let c = find_record(&b, CHUNK);
            let end = c + 9 + u64::from_le_bytes(b[c + 1..c + 9].try_into().unwrap()) as usize;
            for byte in &mut b[end - 20..end - 4] {
                *byte ^= 0x5A;
            }
            b
        }),
    ];
    // Time going backwards and repeating: a bag written without an index
    // (read in file order), log times 3, 1, 2, 2.
    let unordered = {
        let path = dir.join("unordered.mcap");
        let mut w = BagWriter::create(
            &path,
            WriterOptions {
                compression: Compression::None,
                chunk_size: 1 << 20,
            },
        )
        .unwrap();
        let topic = w
            .add_topic("/reports", "lookout_msgs/msg/FrameReport")
            .unwrap();
        for t in [
            3_000_000_000u64,
            1_000_000_000,
            2_000_000_000,
            2_000_000_000,
        ] {
            w.write(topic, t, &report(t)).unwrap();
        }
        w.finish().unwrap();
        // Without a summary the reader falls back to file order.
        unindexed(&std::fs::read(&path).unwrap())
    };
    cases.push(case(
        "mcap/log_time_backwards_and_duplicate.mcap",
        "out_of_order",
        "",
        unordered,
    ));
    cases
}

fn config_cases() -> Vec<Case> {
    let case = |file: &str, input, counter, error, text: &str| Case {
        file: file.to_owned(),
        input,
        counter,
        error,
        bytes: text.as_bytes().to_vec(),
    };
    vec![
        case(
            "config/unknown_key.yaml",
            "config",
            "config_parse",
            "max_rnage",
            "lidar:\n  max_rnage: 50\n",
        ),
        case(
            "config/wrong_type.yaml",
            "config",
            "config_parse",
            "lidar",
            "lidar:\n  max_range: far\n",
        ),
        case(
            "config/negative_cell.yaml",
            "config",
            "config_invalid",
            "lidar.cluster_cell",
            "lidar:\n  cluster_cell: -1\n",
        ),
        case(
            "config/not_yaml.yaml",
            "config",
            "config_parse",
            "",
            "lidar: [unclosed\n",
        ),
        case(
            "config/binary.yaml",
            "config",
            "config_parse",
            "",
            "\u{1}\u{2}\u{3}lidar\u{0}",
        ),
        case(
            "config/nan_range.yaml",
            "config",
            "config_invalid",
            "lidar",
            "lidar:\n  max_range: .nan\n",
        ),
        case(
            "calibration/not_a_rotation.yaml",
            "calibration",
            "calibration",
            "rotation",
            "lidar_to_camera:\n  rotation: [1, 0, 0, 0, 1, 0, 0, 0, 5]\n  translation: [0, 0, 0]\n",
        ),
        case(
            "calibration/empty.yaml",
            "calibration",
            "calibration",
            "",
            "",
        ),
        case(
            "model_spec/no_classes.yaml",
            "model_spec",
            "model_spec",
            "",
            "name: broken\nonnx: missing.onnx\n",
        ),
    ]
}

fn main() {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "tests/corpus".into()),
    );
    let count = write_corpus(&out);
    println!("{count} cases in {}", out.display());
}

/// Writes every case and the manifest under `out`; returns the case count.
pub fn write_corpus(out: &Path) -> usize {
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let mut cases = message_cases();
    cases.extend(mcap_cases(scratch.path()));
    cases.extend(config_cases());
    let mut manifest = String::from(
        "# Generated by examples/make_corpus.rs: every malformed input, the\n\
         # counter its rejection bumps and text its error must contain.\n",
    );
    for case in &cases {
        let path = out.join(&case.file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &case.bytes).unwrap();
        let _ = write!(
            manifest,
            "- file: {}\n  input: {}\n  counter: {}\n  error: {:?}\n",
            case.file, case.input, case.counter, case.error
        );
    }
    std::fs::write(out.join("manifest.yaml"), manifest).unwrap();
    cases.len()
}
