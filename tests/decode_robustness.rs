//! Hostile input never panics the decoders.
//!
//! Three kinds of evidence:
//! - property tests over arbitrary bytes (raw, behind a valid encapsulation
//!   header, and "word soup" of small u32s that gets past length prefixes),
//!   fed to every `msg::*::decode` and to `Ingest::ingest` for every kind;
//! - property tests over valid messages built with the crate's encoders and
//!   then mutated (byte flips, length-field overwrites, truncation, appends,
//!   splices), fed to the decoders and to the `frames` stages;
//! - plain regression tests for specific malformed inputs.
//!
//! Every rejection must be a `DecodeError` whose `field()` is `cdr.encapsulation`
//! (the 4-byte header) or `<Type>` / `<Type>.<field>...` for the message type
//! being decoded (`Obstacle.` counts for `ObstacleArray`).

use std::io::Cursor;
use std::sync::OnceLock;

use lookout::cdr::{CdrWriter, DecodeError, RejectReason};
use lookout::frames::{CameraFrame, CameraIntrinsics, CompressedDecoder, LidarScan};
use lookout::ingest::{Ingest, InputKind};
use lookout::msg::{
    CameraInfo, CompressedImage, Detection2D, Detection2DArray, Encode, FrameReport, Header, Image,
    Obstacle, ObstacleArray, ObstacleSource, OwnedHeader, PointCloud2, PointField, PointFieldType,
    Time,
};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;

const ALL_KINDS: [InputKind; 7] = [
    InputKind::Image,
    InputKind::CompressedImage,
    InputKind::CameraInfo,
    InputKind::PointCloud2,
    InputKind::ObstacleArray,
    InputKind::FrameReport,
    InputKind::Detection2DArray,
];

/// Type-name prefixes an error field may carry for each input kind.
fn prefixes(kind: InputKind) -> &'static [&'static str] {
    match kind {
        InputKind::Image => &["Image"],
        InputKind::CompressedImage => &["CompressedImage"],
        InputKind::CameraInfo => &["CameraInfo"],
        InputKind::PointCloud2 => &["PointCloud2"],
        InputKind::ObstacleArray => &["ObstacleArray", "Obstacle"],
        InputKind::FrameReport => &["FrameReport"],
        InputKind::Detection2DArray => &["Detection2DArray", "Detection2D"],
    }
}

/// The field-naming convention: a non-empty dotted path of identifiers that
/// is the message type itself or starts with `<Type>.`; only the header
/// check may say `cdr.encapsulation`. The message text starts with the field.
fn check_error(err: &DecodeError, kind: InputKind) -> Result<(), TestCaseError> {
    let field = err.field();
    prop_assert!(!field.is_empty(), "empty field in {err:?}");
    prop_assert!(
        field
            .split('.')
            .all(|part| !part.is_empty()
                && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')),
        "malformed field {field:?} in {err:?}"
    );
    prop_assert!(!err.reason().as_str().is_empty());
    if field == "cdr.encapsulation" {
        prop_assert!(
            matches!(
                err,
                DecodeError::Encapsulation { .. } | DecodeError::Truncated { offset: 0, .. }
            ),
            "only the encapsulation header may be named cdr.encapsulation: {err:?}"
        );
        return Ok(());
    }
    let named = prefixes(kind).iter().any(|prefix| {
        field == *prefix
            || field
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('.'))
    });
    prop_assert!(
        named,
        "{kind:?} error field {field:?} does not start with the type name: {err:?}"
    );
    prop_assert!(
        err.to_string().starts_with(field),
        "message does not lead with the field: {err}"
    );
    Ok(())
}

/// Runs `result` through [`check_error`] when it is an error.
fn check<T>(result: &Result<T, DecodeError>, kind: InputKind) -> Result<(), TestCaseError> {
    match result {
        Ok(_) => Ok(()),
        Err(err) => check_error(err, kind),
    }
}

/// Feeds `bytes` to every decoder and every frames stage that accepts what a
/// decoder returned, then to `Ingest::ingest` for every kind.
fn decode_everything(bytes: &[u8]) -> Result<(), TestCaseError> {
    let image = Image::decode(bytes);
    check(&image, InputKind::Image)?;
    if let Ok(image) = &image {
        let frame = CameraFrame::from_image(image);
        check(&frame, InputKind::Image)?;
        if let Ok(frame) = frame {
            check_camera_frame(&frame)?;
        }
    }

    let compressed = CompressedImage::decode(bytes);
    check(&compressed, InputKind::CompressedImage)?;
    if let Ok(message) = &compressed {
        let mut decoder = CompressedDecoder::new();
        let frame = decoder.decode(message);
        check(&frame, InputKind::CompressedImage)?;
        if let Ok(frame) = frame {
            check_camera_frame(&frame)?;
        }
    }

    let info = CameraInfo::decode(bytes);
    check(&info, InputKind::CameraInfo)?;
    if let Ok(info) = &info {
        prop_assert!(info.d().len() <= lookout::msg::MAX_DISTORTION);
        check(
            &CameraIntrinsics::from_camera_info(info),
            InputKind::CameraInfo,
        )?;
    }

    let cloud = PointCloud2::decode(bytes);
    check(&cloud, InputKind::PointCloud2)?;
    if let Ok(cloud) = &cloud {
        check_cloud(cloud)?;
    }

    check(&ObstacleArray::decode(bytes), InputKind::ObstacleArray)?;
    check(&FrameReport::decode(bytes), InputKind::FrameReport)?;
    check(
        &Detection2DArray::decode(bytes),
        InputKind::Detection2DArray,
    )?;

    let mut ingest = Ingest::new();
    for kind in ALL_KINDS {
        check(&ingest.ingest(kind, bytes), kind)?;
    }
    Ok(())
}

/// A checked frame's rows are all addressable.
fn check_camera_frame(frame: &CameraFrame<'_>) -> Result<(), TestCaseError> {
    let row_bytes = frame.width as usize * frame.encoding.bytes_per_pixel();
    for y in 0..frame.height {
        prop_assert_eq!(frame.row(y).len(), row_bytes);
    }
    Ok(())
}

/// A decoded cloud's points are all addressable, and a scan filled from it is
/// consistent (or rejected with a well-named error).
fn check_cloud(cloud: &PointCloud2<'_>) -> Result<(), TestCaseError> {
    for index in 0..cloud.len() {
        prop_assert_eq!(cloud.point_bytes(index).len(), cloud.point_step as usize);
    }
    let mut scan = LidarScan::new();
    let filled = scan.fill_from(cloud);
    check(&filled, InputKind::PointCloud2)?;
    if filled.is_ok() {
        prop_assert_eq!(scan.len() + scan.dropped_non_finite, cloud.len());
        prop_assert_eq!(scan.y.len(), scan.len());
        prop_assert_eq!(scan.z.len(), scan.len());
        prop_assert_eq!(scan.intensity.len(), scan.len());
        prop_assert!(scan.ring.is_empty() || scan.ring.len() == scan.len());
        prop_assert!(scan.time.is_empty() || scan.time.len() == scan.len());
        prop_assert_eq!(scan.frame_id.as_str(), cloud.header.frame_id);
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Arbitrary bytes
// ---------------------------------------------------------------------------

fn with_header() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![Just([0u8, 1]), Just([0u8, 0])],
        any::<[u8; 2]>(),
        prop::collection::vec(any::<u8>(), 0..4092),
    )
        .prop_map(|(id, options, payload)| {
            let mut bytes = Vec::with_capacity(4 + payload.len());
            bytes.extend_from_slice(&id);
            bytes.extend_from_slice(&options);
            bytes.extend_from_slice(&payload);
            bytes
        })
}

/// A valid header followed by u32 words that are mostly small, in the
/// header's byte order: gets past string and sequence lengths far more often
/// than uniform bytes do.
fn word_soup() -> impl Strategy<Value = Vec<u8>> {
    let word = prop_oneof![
        6 => 0u32..16,
        1 => Just(u32::MAX),
        1 => Just(1_000_000_000u32),
        2 => 0u32..0x1_0000,
        2 => any::<u32>(),
    ];
    (
        any::<bool>(),
        prop::collection::vec(word, 0..256),
        0usize..4,
    )
        .prop_map(|(big_endian, words, tail)| {
            let mut bytes = vec![0, u8::from(!big_endian), 0, 0];
            for w in words {
                bytes.extend_from_slice(&if big_endian {
                    w.to_be_bytes()
                } else {
                    w.to_le_bytes()
                });
            }
            bytes.extend(std::iter::repeat_n(0, tail));
            bytes
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        decode_everything(&bytes)?;
    }

    #[test]
    fn arbitrary_payload_behind_valid_header_never_panics(bytes in with_header()) {
        decode_everything(&bytes)?;
    }

    #[test]
    fn small_word_soup_never_panics(bytes in word_soup()) {
        decode_everything(&bytes)?;
    }
}

// ---------------------------------------------------------------------------
// Valid messages from the crate's encoders
// ---------------------------------------------------------------------------

fn stamp() -> Time {
    Time {
        sec: 1_700_000_000,
        nanosec: 123_456_789,
    }
}

fn header(frame_id: &str) -> Header<'_> {
    Header {
        stamp: stamp(),
        frame_id,
    }
}

fn image_bytes(
    encoding: &str,
    width: u32,
    height: u32,
    step: u32,
    is_bigendian: u8,
    frame_id: &str,
) -> Vec<u8> {
    let data: Vec<u8> = (0..step * height).map(|i| (i * 37 % 251) as u8).collect();
    Image {
        header: header(frame_id),
        height,
        width,
        encoding,
        is_bigendian,
        step,
        data: &data,
    }
    .to_cdr()
}

fn images() -> Vec<Vec<u8>> {
    vec![
        image_bytes("rgb8", 4, 3, 12, 0, "camera"),
        image_bytes("bgr8", 4, 3, 16, 0, "camera_front"),
        image_bytes("rgba8", 3, 2, 12, 0, "c"),
        image_bytes("bgra8", 2, 2, 8, 0, "cam"),
        image_bytes("mono8", 5, 3, 5, 0, "camera"),
        image_bytes("8UC1", 7, 1, 8, 0, "camera"),
        image_bytes("mono16", 5, 2, 10, 0, "camera"),
        image_bytes("16UC1", 3, 3, 6, 1, "camera_optical_frame"),
        image_bytes("yuv422", 2, 2, 4, 0, "camera"),
    ]
}

fn camera_infos() -> Vec<Vec<u8>> {
    let k = [500.0, 0.0, 320.0, 0.0, 505.0, 240.0, 0.0, 0.0, 1.0];
    let r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0];
    let p = [
        500.0, 0.0, 320.0, 0.0, 0.0, 505.0, 240.0, 0.0, 0.0, 0.0, 1.0, 0.0,
    ];
    let models: [(&str, &[f64]); 4] = [
        ("plumb_bob", &[0.1, -0.2, 0.001, 0.002, 0.01]),
        (
            "rational_polynomial",
            &[0.1, -0.2, 0.001, 0.002, 0.01, 0.3, -0.1, 0.02],
        ),
        ("equidistant", &[0.01, 0.02, -0.003, 0.0004]),
        ("", &[]),
    ];
    models
        .iter()
        .enumerate()
        .map(|(i, (model, d))| {
            let mut info = CameraInfo::new(header("camera"), 640, 480, model, d, k, r, p).unwrap();
            info.binning_x = i as u32;
            info.binning_y = i as u32;
            info.roi.x_offset = 10;
            info.roi.width = 320;
            info.roi.height = 200;
            info.roi.do_rectify = i % 2 == 0;
            info.to_cdr()
        })
        .collect()
}

fn field(name: &str, offset: u32, datatype: PointFieldType) -> PointField<'_> {
    PointField {
        name,
        offset,
        datatype,
        count: 1,
    }
}

/// Writes `value` as `datatype` at `offset`.
fn put(buf: &mut [u8], offset: usize, datatype: PointFieldType, value: f64, big_endian: bool) {
    macro_rules! bytes {
        ($v:expr) => {{
            let v = $v;
            if big_endian {
                v.to_be_bytes().to_vec()
            } else {
                v.to_le_bytes().to_vec()
            }
        }};
    }
    let raw = match datatype {
        PointFieldType::I8 => bytes!(value as i8),
        PointFieldType::U8 => bytes!(value as u8),
        PointFieldType::I16 => bytes!(value as i16),
        PointFieldType::U16 => bytes!(value as u16),
        PointFieldType::I32 => bytes!(value as i32),
        PointFieldType::U32 => bytes!(value as u32),
        PointFieldType::F32 => bytes!(value as f32),
        PointFieldType::F64 => bytes!(value),
    };
    buf[offset..offset + raw.len()].copy_from_slice(&raw);
}

/// A cloud with the given layout; point `i` gets x = i, y = -i, z = 0.5 i,
/// and every other field i; `nan_every` makes x NaN for every n-th point.
fn cloud_bytes(
    fields: &[PointField<'_>],
    point_step: u32,
    width: u32,
    height: u32,
    row_padding: u32,
    big_endian: bool,
    nan_every: Option<usize>,
) -> Vec<u8> {
    let row_step = width * point_step + row_padding;
    let mut data = vec![0u8; (row_step * height) as usize];
    for row in 0..height as usize {
        for col in 0..width as usize {
            let i = row * width as usize + col;
            let base = row * row_step as usize + col * point_step as usize;
            for f in fields {
                let value = match f.name {
                    "x" if nan_every.is_some_and(|n| i % n == n - 1) => f64::NAN,
                    "x" => i as f64,
                    "y" => -(i as f64),
                    "z" => 0.5 * i as f64,
                    _ => i as f64,
                };
                put(
                    &mut data,
                    base + f.offset as usize,
                    f.datatype,
                    value,
                    big_endian,
                );
            }
        }
    }
    PointCloud2::new(
        header("lidar"),
        height,
        width,
        fields,
        big_endian,
        point_step,
        row_step,
        &data,
        nan_every.is_none(),
    )
    .expect("valid test cloud")
    .to_cdr()
}

fn velodyne64_fields() -> [PointField<'static>; 6] {
    use PointFieldType::*;
    [
        field("x", 0, F32),
        field("y", 4, F32),
        field("z", 8, F32),
        field("intensity", 12, F32),
        field("ring", 16, U16),
        field("time", 18, F32),
    ]
}

fn point_clouds() -> Vec<Vec<u8>> {
    use PointFieldType::*;
    let xyz = [field("x", 0, F32), field("y", 4, F32), field("z", 8, F32)];
    let ouster = [
        field("x", 0, F32),
        field("y", 4, F32),
        field("z", 8, F32),
        field("intensity", 16, F32),
        field("t", 20, U32),
        field("reflectivity", 24, U16),
        field("ring", 26, U16),
        field("ambient", 28, U16),
        field("range", 32, U32),
    ];
    let hesai = [
        field("x", 0, F64),
        field("y", 8, F64),
        field("z", 16, F64),
        field("intensity", 24, U8),
        field("ring", 25, U16),
        field("timestamp", 27, F64),
    ];
    let livox = [
        field("x", 0, F32),
        field("y", 4, F32),
        field("z", 8, F32),
        field("reflectivity", 12, U8),
        field("tag", 13, U8),
        field("laser_id", 14, U8),
        field("offset_time", 15, U32),
    ];
    vec![
        cloud_bytes(&xyz, 12, 5, 1, 0, false, None),
        cloud_bytes(&velodyne64_fields(), 22, 6, 1, 0, false, Some(4)),
        cloud_bytes(&ouster, 48, 2, 2, 0, false, None),
        cloud_bytes(&hesai, 35, 2, 2, 5, true, None),
        cloud_bytes(&livox, 19, 4, 1, 0, false, Some(3)),
        cloud_bytes(&xyz, 12, 0, 1, 0, false, None),
    ]
}

fn png(grey: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let picture = if grey {
        image::DynamicImage::ImageLuma8(image::GrayImage::from_fn(3, 2, |x, y| {
            image::Luma([(x * 40 + y * 90) as u8])
        }))
    } else {
        image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(4, 3, |x, y| {
            image::Rgb([(x * 60) as u8, (y * 80) as u8, 200])
        }))
    };
    picture
        .write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

fn jpeg() -> Vec<u8> {
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(8, 8, |x, y| {
        image::Rgb([(x * 30) as u8, (y * 30) as u8, 128])
    }))
    .write_to(&mut Cursor::new(&mut out), image::ImageFormat::Jpeg)
    .unwrap();
    out
}

fn compressed_images() -> Vec<Vec<u8>> {
    let (rgb, grey, jpg) = (png(false), png(true), jpeg());
    let message = |format: &str, data: &[u8]| {
        CompressedImage {
            header: header("camera"),
            format,
            data,
        }
        .to_cdr()
    };
    vec![
        message("png", &rgb),
        message("rgb8; png compressed bgr8", &rgb),
        message("png", &grey),
        message("", &grey),
        message("jpeg", &jpg),
    ]
}

fn obstacle(id: u32, label: &str) -> Obstacle {
    Obstacle {
        id,
        label: label.into(),
        score: 0.75,
        source: ObstacleSource::Fused,
        center: [10.0 + id as f64, -2.0, 0.8],
        size: [4.5, 1.9, 1.6],
        yaw: 0.1,
        velocity: [5.0, 0.0, 0.0],
        point_count: 120,
        nearest_distance: f32::NAN,
        lidar_stamp: stamp(),
        camera_stamp: Time::default(),
        latency: f32::NAN,
        track_age: 0.5,
        position_covariance: [0.25, 0.0, 0.0, 0.25],
    }
}

fn obstacle_arrays() -> Vec<Vec<u8>> {
    let array = |obstacles: Vec<Obstacle>, degraded| {
        ObstacleArray {
            header: OwnedHeader {
                stamp: stamp(),
                frame_id: "lidar".into(),
            },
            obstacles,
            degraded,
            late: !degraded,
        }
        .to_cdr()
    };
    vec![
        array(vec![], false),
        array(vec![obstacle(1, "car")], false),
        array(
            vec![
                obstacle(2, "pedestrian"),
                obstacle(3, ""),
                obstacle(4, "cyclist"),
            ],
            true,
        ),
    ]
}

fn frame_reports() -> Vec<Vec<u8>> {
    vec![
        FrameReport {
            header: OwnedHeader {
                stamp: stamp(),
                frame_id: "camera".into(),
            },
            topic: "/camera/image_raw".into(),
            message_type: "sensor_msgs/msg/Image".into(),
            accepted: true,
            width: 640,
            height: 480,
            ..Default::default()
        }
        .to_cdr(),
        FrameReport {
            topic: "/lidar/points".into(),
            message_type: "sensor_msgs/msg/PointCloud2".into(),
            reject_reason: "inconsistent_size".into(),
            detail: "PointCloud2.row_step: größer als erwartet".into(),
            point_count: 7,
            ..Default::default()
        }
        .to_cdr(),
    ]
}

fn detection_arrays() -> Vec<Vec<u8>> {
    let detection = |label: &str, visible: f32| Detection2D {
        label: label.into(),
        score: 0.5,
        bbox: [1.0, 2.0, 30.0, 40.0],
        visible,
        id: 3,
    };
    vec![
        Detection2DArray {
            header: OwnedHeader {
                stamp: stamp(),
                frame_id: "camera".into(),
            },
            detections: vec![detection("car", f32::NAN), detection("pedestrian", 0.7)],
        }
        .to_cdr(),
        Detection2DArray::default().to_cdr(),
    ]
}

/// A valid message and the aligned offsets holding a u32 no larger than the
/// bytes after it: every string and sequence length, plus dimensions/counts.
#[derive(Debug)]
struct Sample {
    kind: InputKind,
    bytes: Vec<u8>,
    length_slots: Vec<usize>,
}

fn sample(kind: InputKind, bytes: Vec<u8>) -> Sample {
    let mut length_slots = Vec::new();
    let mut offset = 4;
    while offset + 4 <= bytes.len() {
        let value = u32::from_le_bytes(bytes[offset..offset + 4].try_into().unwrap());
        if value as usize <= bytes.len() - offset - 4 {
            length_slots.push(offset);
        }
        offset += 4;
    }
    Sample {
        kind,
        bytes,
        length_slots,
    }
}

fn corpus(kind: InputKind) -> &'static [Sample] {
    static CORPUS: OnceLock<Vec<Vec<Sample>>> = OnceLock::new();
    let all = CORPUS.get_or_init(|| {
        ALL_KINDS
            .iter()
            .map(|&kind| {
                let messages = match kind {
                    InputKind::Image => images(),
                    InputKind::CompressedImage => compressed_images(),
                    InputKind::CameraInfo => camera_infos(),
                    InputKind::PointCloud2 => point_clouds(),
                    InputKind::ObstacleArray => obstacle_arrays(),
                    InputKind::FrameReport => frame_reports(),
                    InputKind::Detection2DArray => detection_arrays(),
                };
                messages.into_iter().map(|m| sample(kind, m)).collect()
            })
            .collect()
    });
    let position = ALL_KINDS.iter().position(|&k| k == kind).unwrap();
    &all[position]
}

#[test]
fn corpus_decodes_cleanly() {
    let mut ingest = Ingest::new();
    for kind in ALL_KINDS {
        for sample in corpus(kind) {
            assert!(!sample.length_slots.is_empty());
            match ingest.ingest(kind, &sample.bytes) {
                Ok(_) => {}
                // the yuv422 sample: valid CDR, unsupported encoding
                Err(e) if kind == InputKind::Image && e.field() == "Image.encoding" => {}
                Err(e) => panic!("{kind:?} sample rejected: {e}"),
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Mutations
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum LengthValue {
    Any(u32),
    Small(u32),
    Delta(i32),
    Max,
}

#[derive(Debug, Clone)]
enum Mutation {
    FlipByte {
        at: Index,
        mask: u8,
    },
    SetByte {
        at: Index,
        value: u8,
    },
    /// Overwrites one of the sample's length/dimension slots.
    OverwriteLength {
        slot: Index,
        value: LengthValue,
    },
    /// Overwrites any aligned u32.
    OverwriteU32 {
        at: Index,
        value: u32,
    },
    Truncate {
        at: Index,
    },
    Append {
        bytes: Vec<u8>,
    },
    Splice {
        at: Index,
        remove: usize,
        insert: Vec<u8>,
    },
    Duplicate {
        from: Index,
        len: usize,
        at: Index,
    },
}

fn length_value() -> impl Strategy<Value = LengthValue> {
    prop_oneof![
        any::<u32>().prop_map(LengthValue::Any),
        (0u32..64).prop_map(LengthValue::Small),
        (-8i32..=8).prop_map(LengthValue::Delta),
        Just(LengthValue::Max),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<Index>(), 1u8..=255).prop_map(|(at, mask)| Mutation::FlipByte { at, mask }),
        1 => (any::<Index>(), any::<u8>()).prop_map(|(at, value)| Mutation::SetByte { at, value }),
        4 => (any::<Index>(), length_value())
            .prop_map(|(slot, value)| Mutation::OverwriteLength { slot, value }),
        1 => (any::<Index>(), any::<u32>()).prop_map(|(at, value)| Mutation::OverwriteU32 { at, value }),
        2 => any::<Index>().prop_map(|at| Mutation::Truncate { at }),
        1 => prop::collection::vec(any::<u8>(), 1..64).prop_map(|bytes| Mutation::Append { bytes }),
        1 => (any::<Index>(), 0usize..16, prop::collection::vec(any::<u8>(), 0..16))
            .prop_map(|(at, remove, insert)| Mutation::Splice { at, remove, insert }),
        1 => (any::<Index>(), 1usize..32, any::<Index>())
            .prop_map(|(from, len, at)| Mutation::Duplicate { from, len, at }),
    ]
}

fn write_u32(buf: &mut [u8], offset: usize, value: u32) {
    if offset + 4 <= buf.len() {
        let raw = if buf.get(1) == Some(&0) {
            value.to_be_bytes()
        } else {
            value.to_le_bytes()
        };
        buf[offset..offset + 4].copy_from_slice(&raw);
    }
}

fn apply(buf: &mut Vec<u8>, mutation: &Mutation, sample: &Sample) {
    match mutation {
        Mutation::FlipByte { at, mask } if !buf.is_empty() => {
            let i = at.index(buf.len());
            buf[i] ^= mask;
        }
        Mutation::SetByte { at, value } if !buf.is_empty() => {
            let i = at.index(buf.len());
            buf[i] = *value;
        }
        Mutation::OverwriteLength { slot, value } => {
            let offset = sample.length_slots[slot.index(sample.length_slots.len())];
            if offset + 4 > buf.len() {
                return;
            }
            let old = u32::from_le_bytes(buf[offset..offset + 4].try_into().unwrap());
            let new = match value {
                LengthValue::Any(v) | LengthValue::Small(v) => *v,
                LengthValue::Delta(d) => old.wrapping_add_signed(*d),
                LengthValue::Max => u32::MAX,
            };
            write_u32(buf, offset, new);
        }
        Mutation::OverwriteU32 { at, value } if buf.len() >= 8 => {
            let words = (buf.len() - 4) / 4;
            write_u32(buf, 4 + 4 * at.index(words), *value);
        }
        Mutation::Truncate { at } => {
            let len = at.index(buf.len() + 1);
            buf.truncate(len);
        }
        Mutation::Append { bytes } => buf.extend_from_slice(bytes),
        Mutation::Splice { at, remove, insert } => {
            let start = at.index(buf.len() + 1);
            let end = (start + remove).min(buf.len());
            buf.splice(start..end, insert.iter().copied());
        }
        Mutation::Duplicate { from, len, at } if !buf.is_empty() => {
            let start = from.index(buf.len());
            let end = (start + len).min(buf.len());
            let chunk = buf[start..end].to_vec();
            let insert_at = at.index(buf.len() + 1);
            buf.splice(insert_at..insert_at, chunk);
        }
        _ => {}
    }
}

/// Mutates a sample of `kind` and checks both the matching pipeline (decoder,
/// frames stage, ingest, all with the kind's naming) and every other decoder.
fn mutated(
    kind: InputKind,
    pick: &Index,
    mutations: &[Mutation],
    decoder: &mut CompressedDecoder,
    scan: &mut LidarScan,
) -> Result<(), TestCaseError> {
    let samples = corpus(kind);
    let sample = &samples[pick.index(samples.len())];
    prop_assert_eq!(sample.kind, kind);
    let mut bytes = sample.bytes.clone();
    for m in mutations {
        apply(&mut bytes, m, sample);
    }
    match kind {
        InputKind::Image => {
            if let Ok(image) = Image::decode(&bytes) {
                check(&CameraFrame::from_image(&image), kind)?;
            }
        }
        InputKind::CompressedImage => {
            if let Ok(message) = CompressedImage::decode(&bytes) {
                let frame = decoder.decode(&message);
                check(&frame, kind)?;
                if let Ok(frame) = frame {
                    check_camera_frame(&frame)?;
                }
            }
        }
        InputKind::CameraInfo => {
            if let Ok(info) = CameraInfo::decode(&bytes) {
                check(&CameraIntrinsics::from_camera_info(&info), kind)?;
            }
        }
        InputKind::PointCloud2 => {
            if let Ok(cloud) = PointCloud2::decode(&bytes) {
                // reused scan: the hot path reuses one across messages
                check(&scan.fill_from(&cloud), kind)?;
            }
        }
        InputKind::ObstacleArray | InputKind::FrameReport | InputKind::Detection2DArray => {}
    }
    decode_everything(&bytes)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn mutated_images_never_panic(
        pick in any::<Index>(),
        mutations in prop::collection::vec(mutation(), 1..5),
    ) {
        mutated(InputKind::Image, &pick, &mutations, &mut CompressedDecoder::new(), &mut LidarScan::new())?;
    }

    #[test]
    fn mutated_compressed_images_never_panic(
        pick in any::<Index>(),
        mutations in prop::collection::vec(mutation(), 1..5),
    ) {
        mutated(InputKind::CompressedImage, &pick, &mutations, &mut CompressedDecoder::new(), &mut LidarScan::new())?;
    }

    #[test]
    fn mutated_camera_infos_never_panic(
        pick in any::<Index>(),
        mutations in prop::collection::vec(mutation(), 1..5),
    ) {
        mutated(InputKind::CameraInfo, &pick, &mutations, &mut CompressedDecoder::new(), &mut LidarScan::new())?;
    }

    #[test]
    fn mutated_point_clouds_never_panic(
        pick in any::<Index>(),
        mutations in prop::collection::vec(mutation(), 1..5),
    ) {
        mutated(InputKind::PointCloud2, &pick, &mutations, &mut CompressedDecoder::new(), &mut LidarScan::new())?;
    }

    #[test]
    fn mutated_obstacle_arrays_never_panic(
        pick in any::<Index>(),
        mutations in prop::collection::vec(mutation(), 1..5),
    ) {
        mutated(InputKind::ObstacleArray, &pick, &mutations, &mut CompressedDecoder::new(), &mut LidarScan::new())?;
    }

    #[test]
    fn mutated_frame_reports_never_panic(
        pick in any::<Index>(),
        mutations in prop::collection::vec(mutation(), 1..5),
    ) {
        mutated(InputKind::FrameReport, &pick, &mutations, &mut CompressedDecoder::new(), &mut LidarScan::new())?;
    }

    #[test]
    fn mutated_detection_arrays_never_panic(
        pick in any::<Index>(),
        mutations in prop::collection::vec(mutation(), 1..5),
    ) {
        mutated(InputKind::Detection2DArray, &pick, &mutations, &mut CompressedDecoder::new(), &mut LidarScan::new())?;
    }
}

// ---------------------------------------------------------------------------
// Regression cases
// ---------------------------------------------------------------------------

fn write_header(w: &mut CdrWriter, frame_id: &str) {
    w.i32(1_700_000_000).u32(5).string(frame_id);
}

/// A PointCloud2 written field by field, so it can break any invariant.
#[derive(Debug, Clone)]
struct RawCloud {
    height: u32,
    width: u32,
    /// (name, offset, datatype code, count)
    fields: Vec<(&'static str, u32, u8, u32)>,
    is_bigendian: u8,
    point_step: u32,
    row_step: u32,
    data: Vec<u8>,
    is_dense: u8,
}

impl RawCloud {
    /// Two xyz f32 points, valid.
    fn xyz() -> Self {
        let mut data = Vec::new();
        for v in [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0] {
            data.extend_from_slice(&v.to_le_bytes());
        }
        RawCloud {
            height: 1,
            width: 2,
            fields: vec![("x", 0, 7, 1), ("y", 4, 7, 1), ("z", 8, 7, 1)],
            is_bigendian: 0,
            point_step: 12,
            row_step: 24,
            data,
            is_dense: 1,
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut w = CdrWriter::new();
        write_header(&mut w, "lidar");
        w.u32(self.height).u32(self.width);
        w.sequence_len(self.fields.len());
        for &(name, offset, datatype, count) in &self.fields {
            w.string(name).u32(offset).u8(datatype).u32(count);
        }
        w.u8(self.is_bigendian)
            .u32(self.point_step)
            .u32(self.row_step)
            .bytes(&self.data)
            .u8(self.is_dense);
        w.into_bytes()
    }
}

fn cloud_error(raw: &RawCloud) -> DecodeError {
    PointCloud2::decode(&raw.encode()).expect_err("malformed cloud must be rejected")
}

fn assert_named(err: &DecodeError, kind: InputKind, field: &str, reason: RejectReason) {
    assert_eq!(err.field(), field, "{err}");
    assert_eq!(err.reason(), reason, "{err}");
    check_error(err, kind).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn raw_cloud_baseline_is_valid() {
    let bytes = RawCloud::xyz().encode();
    let cloud = PointCloud2::decode(&bytes).unwrap();
    let mut scan = LidarScan::new();
    scan.fill_from(&cloud).unwrap();
    assert_eq!(scan.x, [1.0, 4.0]);
}

#[test]
fn field_beyond_point_step_is_rejected() {
    let mut raw = RawCloud::xyz();
    raw.fields[2].1 = 10; // z at 10..14, point_step 12
    assert_named(
        &cloud_error(&raw),
        InputKind::PointCloud2,
        "PointCloud2.point_step",
        RejectReason::InconsistentSize,
    );
    let mut raw = RawCloud::xyz();
    raw.fields[0].3 = 4; // x[4] = 16 bytes
    assert_named(
        &cloud_error(&raw),
        InputKind::PointCloud2,
        "PointCloud2.point_step",
        RejectReason::InconsistentSize,
    );
    // an offset near u32::MAX must not wrap around
    let mut raw = RawCloud::xyz();
    raw.fields[1].1 = u32::MAX - 1;
    raw.fields[1].3 = u32::MAX;
    assert_named(
        &cloud_error(&raw),
        InputKind::PointCloud2,
        "PointCloud2.point_step",
        RejectReason::InconsistentSize,
    );
}

#[test]
fn row_step_below_width_times_point_step_is_rejected() {
    let mut raw = RawCloud::xyz();
    raw.row_step = 23;
    raw.data.truncate(23);
    assert_named(
        &cloud_error(&raw),
        InputKind::PointCloud2,
        "PointCloud2.row_step",
        RejectReason::InconsistentSize,
    );
    // width x point_step overflowing u32 must not wrap to a small number
    let mut raw = RawCloud::xyz();
    raw.width = 0x4000_0000;
    raw.point_step = 16;
    raw.fields = vec![("x", 0, 7, 1)];
    raw.row_step = 0;
    raw.data.clear();
    assert_named(
        &cloud_error(&raw),
        InputKind::PointCloud2,
        "PointCloud2.row_step",
        RejectReason::InconsistentSize,
    );
}

#[test]
fn data_length_must_equal_height_times_row_step() {
    for len in [0, 23, 25, 48] {
        let mut raw = RawCloud::xyz();
        raw.data.resize(len, 0);
        assert_named(
            &cloud_error(&raw),
            InputKind::PointCloud2,
            "PointCloud2.data",
            RejectReason::InconsistentSize,
        );
    }
    // height x row_step overflowing u32 must not wrap to the data length
    let mut raw = RawCloud::xyz();
    raw.height = 0x8000_0000;
    raw.row_step = 96; // 0x8000_0000 x 96 wraps to 0 in u32
    raw.data.clear();
    assert_named(
        &cloud_error(&raw),
        InputKind::PointCloud2,
        "PointCloud2.data",
        RejectReason::InconsistentSize,
    );

    // the same for Image: data != step x height
    let pixels = [0u8; 12];
    let image = Image {
        header: header("camera"),
        height: 2,
        width: 2,
        encoding: "rgb8",
        is_bigendian: 0,
        step: 6,
        data: &pixels[..11],
    };
    assert_named(
        &Image::decode(&image.to_cdr()).unwrap_err(),
        InputKind::Image,
        "Image.data",
        RejectReason::InconsistentSize,
    );
    let image = Image {
        height: 0x8000_0000,
        step: 2,
        data: &[],
        ..image
    };
    assert_named(
        &Image::decode(&image.to_cdr()).unwrap_err(),
        InputKind::Image,
        "Image.data",
        RejectReason::InconsistentSize,
    );
}

/// Ends a hand-written message with a 0xFFFFFFFF count and some bytes.
fn huge_count(mut w: CdrWriter) -> Vec<u8> {
    w.u32(u32::MAX);
    for i in 0..64u32 {
        w.u32(i);
    }
    w.into_bytes()
}

fn image_prefix() -> CdrWriter {
    let mut w = CdrWriter::new();
    write_header(&mut w, "camera");
    w.u32(2).u32(2).string("rgb8").u8(0).u32(6);
    w
}

fn camera_info_prefix() -> CdrWriter {
    let mut w = CdrWriter::new();
    write_header(&mut w, "camera");
    w.u32(480).u32(640).string("plumb_bob");
    w
}

fn cloud_prefix(with_fields: bool) -> CdrWriter {
    let mut w = CdrWriter::new();
    write_header(&mut w, "lidar");
    w.u32(1).u32(1);
    if with_fields {
        w.sequence_len(1).string("x").u32(0).u8(7).u32(1);
        w.u8(0).u32(4).u32(4);
    }
    w
}

fn obstacle_array_prefix() -> CdrWriter {
    let mut w = CdrWriter::new();
    write_header(&mut w, "lidar");
    w
}

#[test]
fn huge_sequence_counts_are_rejected_in_every_sequence_field() {
    let mut compressed = CdrWriter::new();
    write_header(&mut compressed, "camera");
    compressed.string("png");

    let cases: [(InputKind, Vec<u8>, &str); 6] = [
        (InputKind::Image, huge_count(image_prefix()), "Image.data"),
        (
            InputKind::CompressedImage,
            huge_count(compressed),
            "CompressedImage.data",
        ),
        (
            InputKind::CameraInfo,
            huge_count(camera_info_prefix()),
            "CameraInfo.d",
        ),
        (
            InputKind::PointCloud2,
            huge_count(cloud_prefix(false)),
            "PointCloud2.fields",
        ),
        (
            InputKind::PointCloud2,
            huge_count(cloud_prefix(true)),
            "PointCloud2.data",
        ),
        (
            InputKind::ObstacleArray,
            huge_count(obstacle_array_prefix()),
            "ObstacleArray.obstacles",
        ),
    ];
    let mut ingest = Ingest::new();
    for (kind, bytes, field) in cases {
        let err = ingest.ingest(kind, &bytes).unwrap_err();
        assert_named(&err, kind, field, RejectReason::SequenceTooLong);
        assert!(
            matches!(
                err,
                DecodeError::SequenceTooLong {
                    count: u32::MAX,
                    ..
                }
            ),
            "{err:?}"
        );
    }
}

#[test]
fn huge_string_lengths_are_rejected_in_every_string_field() {
    let mut frame_id = CdrWriter::new();
    frame_id.i32(0).u32(0);
    let mut encoding = CdrWriter::new();
    write_header(&mut encoding, "camera");
    encoding.u32(2).u32(2);
    let mut format = CdrWriter::new();
    write_header(&mut format, "camera");
    let mut model = CdrWriter::new();
    write_header(&mut model, "camera");
    model.u32(480).u32(640);
    let mut field_name = cloud_prefix(false);
    field_name.sequence_len(1);
    let mut label = obstacle_array_prefix();
    label.sequence_len(1).u32(7);
    let mut topic = CdrWriter::new();
    write_header(&mut topic, "camera");
    let mut reason = CdrWriter::new();
    write_header(&mut reason, "camera");
    reason.string("/t").string("x/msg/Y").u8(0);

    let cases: [(InputKind, CdrWriter, &str); 9] = [
        (InputKind::Image, frame_id.clone(), "Image.header.frame_id"),
        (InputKind::Image, encoding, "Image.encoding"),
        (InputKind::CompressedImage, format, "CompressedImage.format"),
        (
            InputKind::CameraInfo,
            frame_id.clone(),
            "CameraInfo.header.frame_id",
        ),
        (InputKind::CameraInfo, model, "CameraInfo.distortion_model"),
        (
            InputKind::PointCloud2,
            field_name,
            "PointCloud2.fields.name",
        ),
        (InputKind::ObstacleArray, label, "Obstacle.label"),
        (InputKind::FrameReport, topic, "FrameReport.topic"),
        (InputKind::FrameReport, reason, "FrameReport.reject_reason"),
    ];
    let mut ingest = Ingest::new();
    for (kind, prefix, field) in cases {
        let err = ingest.ingest(kind, &huge_count(prefix)).unwrap_err();
        assert_named(&err, kind, field, RejectReason::Truncated);
    }
}

#[test]
fn unsupported_image_encodings_are_named() {
    for encoding in ["yuv422", "32FC1", "bayer_rggb8", "RGB8", ""] {
        let pixels = [0u8; 16];
        let bytes = Image {
            header: header("camera"),
            height: 2,
            width: 2,
            encoding,
            is_bigendian: 0,
            step: 8,
            data: &pixels,
        }
        .to_cdr();
        let image = Image::decode(&bytes).expect("layout is valid");
        let err = CameraFrame::from_image(&image).unwrap_err();
        assert_named(
            &err,
            InputKind::Image,
            "Image.encoding",
            RejectReason::UnsupportedEncoding,
        );
        let err = Ingest::new().ingest(InputKind::Image, &bytes).unwrap_err();
        assert_eq!(err.field(), "Image.encoding");
    }
}

#[test]
fn image_step_and_size_checks() {
    let pixels = [0u8; 16];
    let image = Image {
        header: header("camera"),
        height: 2,
        width: 3,
        encoding: "rgb8",
        is_bigendian: 0,
        step: 8, // < 3 x 3
        data: &pixels,
    };
    let err = CameraFrame::from_image(&image).unwrap_err();
    assert_named(
        &err,
        InputKind::Image,
        "Image.step",
        RejectReason::InconsistentSize,
    );
    let empty = Image { width: 0, ..image };
    assert_named(
        &CameraFrame::from_image(&empty).unwrap_err(),
        InputKind::Image,
        "Image.width",
        RejectReason::InvalidValue,
    );
}

fn scan_of(bytes: &[u8]) -> LidarScan {
    let cloud = PointCloud2::decode(bytes).unwrap();
    let mut scan = LidarScan::new();
    scan.fill_from(&cloud).unwrap();
    scan
}

#[test]
fn non_finite_points_are_dropped_and_counted() {
    // fast path: x, y, z little-endian f32 at 0, 4, 8 (64-beam layout)
    let fields = velodyne64_fields();
    let points: [[f32; 3]; 6] = [
        [1.0, 2.0, 3.0],
        [f32::NAN, 0.0, 0.0],
        [4.0, f32::INFINITY, 0.0],
        [5.0, 6.0, 7.0],
        [0.0, 0.0, f32::NEG_INFINITY],
        [8.0, 9.0, 10.0],
    ];
    let times: [f32; 6] = [0.0, 0.001, 0.002, 0.003, 0.004, 0.005];
    let mut data = vec![0u8; 22 * points.len()];
    for (i, p) in points.iter().enumerate() {
        let base = i * 22;
        for (k, v) in p.iter().enumerate() {
            data[base + 4 * k..base + 4 * k + 4].copy_from_slice(&v.to_le_bytes());
        }
        data[base + 12..base + 16].copy_from_slice(&(i as f32 * 10.0).to_le_bytes());
        data[base + 16..base + 18].copy_from_slice(&(i as u16).to_le_bytes());
        data[base + 18..base + 22].copy_from_slice(&times[i].to_le_bytes());
    }
    let bytes = PointCloud2::new(
        header("lidar"),
        1,
        6,
        &fields,
        false,
        22,
        22 * 6,
        &data,
        false,
    )
    .unwrap()
    .to_cdr();
    let scan = scan_of(&bytes);
    assert_eq!(scan.dropped_non_finite, 3);
    assert_eq!(scan.x, [1.0, 5.0, 8.0]);
    assert_eq!(scan.y, [2.0, 6.0, 9.0]);
    assert_eq!(scan.z, [3.0, 7.0, 10.0]);
    assert_eq!(scan.intensity, [0.0, 30.0, 50.0]);
    assert_eq!(scan.ring, [0, 3, 5]);
    assert_eq!(scan.time, [0.0, 0.003, 0.005]);

    let (facts, frame_id) = Ingest::new()
        .ingest(InputKind::PointCloud2, &bytes)
        .unwrap();
    assert_eq!((facts.point_count, facts.dropped_non_finite), (3, 3));
    assert_eq!(frame_id, "lidar");

    // general path: big-endian f64 coordinates
    use PointFieldType::F64;
    let fields = [field("x", 0, F64), field("y", 8, F64), field("z", 16, F64)];
    let mut data = vec![0u8; 24 * 4];
    let values = [
        [1.0, 1.0, 1.0],
        [f64::NAN; 3],
        [2.0, -f64::INFINITY, 2.0],
        [3.0, 3.0, 3.0],
    ];
    for (i, p) in values.iter().enumerate() {
        for (k, v) in p.iter().enumerate() {
            data[i * 24 + 8 * k..i * 24 + 8 * k + 8].copy_from_slice(&v.to_be_bytes());
        }
    }
    let bytes = PointCloud2::new(header("lidar"), 2, 2, &fields, true, 24, 48, &data, false)
        .unwrap()
        .to_cdr();
    let scan = scan_of(&bytes);
    assert_eq!(scan.dropped_non_finite, 2);
    assert_eq!(scan.x, [1.0, 3.0]);
    assert_eq!(scan.intensity, [0.0, 0.0]);
    assert!(scan.ring.is_empty() && scan.time.is_empty());

    // f64 values beyond f32 range become infinite and are dropped too
    let mut data = vec![0u8; 24];
    for k in 0..3 {
        data[8 * k..8 * k + 8].copy_from_slice(&1e300f64.to_be_bytes());
    }
    let bytes = PointCloud2::new(header("lidar"), 1, 1, &fields, true, 24, 24, &data, false)
        .unwrap()
        .to_cdr();
    let scan = scan_of(&bytes);
    assert_eq!((scan.len(), scan.dropped_non_finite), (0, 1));
}

#[test]
fn point_field_datatypes_0_and_9_are_unsupported() {
    for code in [0u8, 9, 255] {
        let mut raw = RawCloud::xyz();
        raw.fields.push(("intensity", 0, code, 1));
        let err = cloud_error(&raw);
        assert_named(
            &err,
            InputKind::PointCloud2,
            "PointCloud2.fields.datatype",
            RejectReason::UnsupportedEncoding,
        );
    }
}

/// Replaces the bytes of the first occurrence of `needle` (which must exist).
fn replace(bytes: &mut [u8], needle: &[u8], with: &[u8]) {
    assert_eq!(needle.len(), with.len());
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("needle present");
    bytes[at..at + with.len()].copy_from_slice(with);
}

#[test]
fn strings_must_be_nul_terminated_utf8() {
    let pixels = [0u8; 12];
    let image = Image {
        header: header("camera"),
        height: 1,
        width: 4,
        encoding: "rgb8",
        is_bigendian: 0,
        step: 12,
        data: &pixels,
    };
    // frame_id "camera\0" -> "camerax": no NUL
    let mut bytes = image.to_cdr();
    replace(&mut bytes, b"camera\0", b"camerax");
    let err = Image::decode(&bytes).unwrap_err();
    assert_named(
        &err,
        InputKind::Image,
        "Image.header.frame_id",
        RejectReason::InvalidString,
    );
    // encoding "rgb8" -> "rg\xff8": invalid UTF-8
    let mut bytes = image.to_cdr();
    replace(&mut bytes, b"rgb8\0", b"rg\xff8\0");
    let err = Image::decode(&bytes).unwrap_err();
    assert_named(
        &err,
        InputKind::Image,
        "Image.encoding",
        RejectReason::InvalidString,
    );
    // a lone continuation byte and a truncated multi-byte sequence
    for bad in [&b"\x80\0"[..], &b"\xe2\x82\0"[..]] {
        let mut w = CdrWriter::new();
        w.i32(0).u32(0).u32(bad.len() as u32);
        for &b in bad {
            w.u8(b);
        }
        let err = FrameReport::decode(&huge_count(w)).unwrap_err();
        assert_named(
            &err,
            InputKind::FrameReport,
            "FrameReport.header.frame_id",
            RejectReason::InvalidString,
        );
    }
    // an interior NUL is fine for CDR, the terminator is what counts
    let mut bytes = image.to_cdr();
    replace(&mut bytes, b"camera\0", b"cam\0ra\0");
    assert_eq!(Image::decode(&bytes).unwrap().header.frame_id, "cam\0ra");
}

#[test]
fn bool_bytes_other_than_0_and_1_are_rejected() {
    // PointCloud2.is_bigendian and is_dense
    let mut raw = RawCloud::xyz();
    raw.is_bigendian = 2;
    assert_named(
        &cloud_error(&raw),
        InputKind::PointCloud2,
        "PointCloud2.is_bigendian",
        RejectReason::InvalidValue,
    );
    let mut raw = RawCloud::xyz();
    raw.is_dense = 2;
    assert_named(
        &cloud_error(&raw),
        InputKind::PointCloud2,
        "PointCloud2.is_dense",
        RejectReason::InvalidValue,
    );
    // CameraInfo.roi.do_rectify and ObstacleArray.late are the last byte,
    // ObstacleArray.degraded the one before
    let mut info = camera_infos().remove(0);
    *info.last_mut().unwrap() = 2;
    assert_named(
        &CameraInfo::decode(&info).unwrap_err(),
        InputKind::CameraInfo,
        "CameraInfo.roi.do_rectify",
        RejectReason::InvalidValue,
    );
    for (from_end, field) in [(1, "ObstacleArray.late"), (2, "ObstacleArray.degraded")] {
        let mut array = obstacle_arrays().remove(1);
        let at = array.len() - from_end;
        array[at] = 2;
        assert_named(
            &ObstacleArray::decode(&array).unwrap_err(),
            InputKind::ObstacleArray,
            field,
            RejectReason::InvalidValue,
        );
    }
    // FrameReport.accepted follows the message_type string
    let mut w = CdrWriter::new();
    write_header(&mut w, "camera");
    w.string("/t").string("x/msg/Y").u8(2);
    let err = FrameReport::decode(&huge_count(w)).unwrap_err();
    assert_named(
        &err,
        InputKind::FrameReport,
        "FrameReport.accepted",
        RejectReason::InvalidValue,
    );
}

#[test]
fn nanosec_of_a_second_or_more_is_rejected() {
    let late = Time {
        sec: 1,
        nanosec: 1_000_000_000,
    };
    let pixels = [0u8; 3];
    let image = Image {
        header: Header {
            stamp: late,
            frame_id: "camera",
        },
        height: 1,
        width: 1,
        encoding: "rgb8",
        is_bigendian: 0,
        step: 3,
        data: &pixels,
    };
    assert_named(
        &Image::decode(&image.to_cdr()).unwrap_err(),
        InputKind::Image,
        "Image.header.stamp",
        RejectReason::InvalidValue,
    );
    let max = Image {
        header: Header {
            stamp: Time {
                sec: 0,
                nanosec: u32::MAX,
            },
            frame_id: "camera",
        },
        ..image
    };
    assert_named(
        &Ingest::new()
            .ingest(InputKind::Image, &max.to_cdr())
            .unwrap_err(),
        InputKind::Image,
        "Image.header.stamp",
        RejectReason::InvalidValue,
    );
    // 999_999_999 is the largest valid value
    let edge = Image {
        header: Header {
            stamp: Time {
                sec: 1,
                nanosec: 999_999_999,
            },
            frame_id: "camera",
        },
        ..image
    };
    assert!(Image::decode(&edge.to_cdr()).is_ok());

    // nested stamps: Obstacle.lidar_stamp / camera_stamp
    for (camera, field) in [
        (false, "Obstacle.lidar_stamp"),
        (true, "Obstacle.camera_stamp"),
    ] {
        let mut o = obstacle(1, "car");
        if camera {
            o.camera_stamp = late;
        } else {
            o.lidar_stamp = late;
        }
        let bytes = ObstacleArray {
            header: OwnedHeader::default(),
            obstacles: vec![o],
            degraded: false,
            late: false,
        }
        .to_cdr();
        assert_named(
            &ObstacleArray::decode(&bytes).unwrap_err(),
            InputKind::ObstacleArray,
            field,
            RejectReason::InvalidValue,
        );
    }
    // and every other header stamp
    let report = FrameReport {
        header: OwnedHeader {
            stamp: late,
            frame_id: String::new(),
        },
        ..Default::default()
    };
    assert_named(
        &FrameReport::decode(&report.to_cdr()).unwrap_err(),
        InputKind::FrameReport,
        "FrameReport.header.stamp",
        RejectReason::InvalidValue,
    );
}

#[test]
fn encapsulation_errors_are_named_cdr_encapsulation() {
    for bytes in [
        &[][..],
        &[0, 1, 0][..],
        &[0, 2, 0, 0][..],
        &[1, 1, 0, 0][..],
    ] {
        let mut ingest = Ingest::new();
        for kind in ALL_KINDS {
            let err = ingest.ingest(kind, bytes).unwrap_err();
            assert_eq!(err.field(), "cdr.encapsulation");
            check_error(&err, kind).unwrap();
        }
    }
}

#[test]
fn trailing_bytes_are_rejected_with_the_type_name() {
    let mut ingest = Ingest::new();
    for kind in ALL_KINDS {
        let mut bytes = corpus(kind)[0].bytes.clone();
        bytes.extend_from_slice(&[0; 8]);
        let err = ingest.ingest(kind, &bytes).unwrap_err();
        assert_eq!(err.reason(), RejectReason::TrailingBytes, "{kind:?}: {err}");
        check_error(&err, kind).unwrap();
    }
}

#[test]
fn corrupt_compressed_data_is_named() {
    let mut bytes = corpus(InputKind::CompressedImage)[0].bytes.clone();
    let n = bytes.len();
    // zero the last 20 bytes of the PNG (IEND chunk and part of IDAT)
    bytes[n - 20..].fill(0);
    let err = Ingest::new()
        .ingest(InputKind::CompressedImage, &bytes)
        .unwrap_err();
    assert_named(
        &err,
        InputKind::CompressedImage,
        "CompressedImage.data",
        RejectReason::CompressedDecode,
    );
    let message = CompressedImage {
        header: header("camera"),
        format: "tiff",
        data: b"II*\0garbage",
    }
    .to_cdr();
    assert_named(
        &Ingest::new()
            .ingest(InputKind::CompressedImage, &message)
            .unwrap_err(),
        InputKind::CompressedImage,
        "CompressedImage.format",
        RejectReason::UnsupportedEncoding,
    );
}
