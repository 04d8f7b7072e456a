//! Zero-copy decoding: payloads and strings of decoded messages point into
//! the input buffer instead of being copied out of it.

use std::ops::Range;

use lookout::frames::CameraFrame;
use lookout::ingest::{Ingest, InputKind};
use lookout::msg::{
    CameraInfo, CompressedImage, Encode, Header, Image, PointCloud2, PointField, PointFieldType,
    Time,
};

fn header(frame_id: &str) -> Header<'_> {
    Header {
        stamp: Time {
            sec: 1_700_000_000,
            nanosec: 42,
        },
        frame_id,
    }
}

/// Asserts that `part` lies inside `buffer` (by address, not by value).
#[track_caller]
fn assert_borrows(buffer: &[u8], part: &[u8], what: &str) {
    assert!(!part.is_empty(), "{what}: empty slices prove nothing");
    let outer: Range<*const u8> = buffer.as_ptr_range();
    let inner = part.as_ptr_range();
    assert!(
        outer.start <= inner.start && inner.end <= outer.end,
        "{what} ({inner:?}) does not point into the input buffer ({outer:?})"
    );
}

#[test]
fn image_pixels_and_strings_borrow_the_input() {
    let (width, height, step) = (64u32, 48u32, 64 * 3 + 8);
    let pixels: Vec<u8> = (0..step * height).map(|i| (i % 251) as u8).collect();
    let bytes = Image {
        header: header("camera_front_optical"),
        height,
        width,
        encoding: "rgb8",
        is_bigendian: 0,
        step,
        data: &pixels,
    }
    .to_cdr();

    let image = Image::decode(&bytes).unwrap();
    assert_eq!(image.data, &pixels[..]);
    assert_borrows(&bytes, image.data, "Image.data");
    assert_borrows(
        &bytes,
        image.header.frame_id.as_bytes(),
        "Image.header.frame_id",
    );
    assert_borrows(&bytes, image.encoding.as_bytes(), "Image.encoding");

    let frame = CameraFrame::from_image(&image).unwrap();
    assert_borrows(&bytes, frame.pixels, "CameraFrame::pixels");
    assert_eq!(frame.pixels.as_ptr(), image.data.as_ptr());
    assert_borrows(&bytes, frame.frame_id.as_bytes(), "CameraFrame::frame_id");
    assert_borrows(&bytes, frame.row(height - 1), "CameraFrame::row");

    let (_, frame_id) = Ingest::new().ingest(InputKind::Image, &bytes).unwrap();
    assert_borrows(&bytes, frame_id.as_bytes(), "Ingest frame id");
}

#[test]
fn point_cloud_data_and_strings_borrow_the_input() {
    let fields = [
        PointField {
            name: "x",
            offset: 0,
            datatype: PointFieldType::F32,
            count: 1,
        },
        PointField {
            name: "y",
            offset: 4,
            datatype: PointFieldType::F32,
            count: 1,
        },
        PointField {
            name: "z",
            offset: 8,
            datatype: PointFieldType::F32,
            count: 1,
        },
        PointField {
            name: "intensity",
            offset: 12,
            datatype: PointFieldType::F32,
            count: 1,
        },
    ];
    let points = 100u32;
    let data: Vec<u8> = (0..points * 16).map(|i| (i % 97) as u8).collect();
    let bytes = PointCloud2::new(
        header("lidar_top"),
        1,
        points,
        &fields,
        false,
        16,
        points * 16,
        &data,
        true,
    )
    .unwrap()
    .to_cdr();

    let cloud = PointCloud2::decode(&bytes).unwrap();
    assert_eq!(cloud.data, &data[..]);
    assert_borrows(&bytes, cloud.data, "PointCloud2.data");
    assert_borrows(&bytes, cloud.point_bytes(17), "PointCloud2::point_bytes");
    assert_borrows(
        &bytes,
        cloud.header.frame_id.as_bytes(),
        "PointCloud2.header.frame_id",
    );
    for field in cloud.fields() {
        assert_borrows(&bytes, field.name.as_bytes(), "PointCloud2.fields.name");
    }

    let (_, frame_id) = Ingest::new()
        .ingest(InputKind::PointCloud2, &bytes)
        .unwrap();
    assert_borrows(&bytes, frame_id.as_bytes(), "Ingest frame id");
}

#[test]
fn compressed_image_data_and_strings_borrow_the_input() {
    // The payload is not decoded here, so any bytes do.
    let payload: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 256) as u8).collect();
    let bytes = CompressedImage {
        header: header("camera_rear"),
        format: "rgb8; jpeg compressed bgr8",
        data: &payload,
    }
    .to_cdr();

    let message = CompressedImage::decode(&bytes).unwrap();
    assert_eq!(message.data, &payload[..]);
    assert_borrows(&bytes, message.data, "CompressedImage.data");
    assert_borrows(&bytes, message.format.as_bytes(), "CompressedImage.format");
    assert_borrows(
        &bytes,
        message.header.frame_id.as_bytes(),
        "CompressedImage.header.frame_id",
    );
}

#[test]
fn camera_info_strings_borrow_the_input() {
    let k = [500.0, 0.0, 320.0, 0.0, 500.0, 240.0, 0.0, 0.0, 1.0];
    let r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0];
    let p = [
        500.0, 0.0, 320.0, 0.0, 0.0, 500.0, 240.0, 0.0, 0.0, 0.0, 1.0, 0.0,
    ];
    let bytes = CameraInfo::new(header("camera"), 640, 480, "plumb_bob", &[0.1; 5], k, r, p)
        .unwrap()
        .to_cdr();
    let info = CameraInfo::decode(&bytes).unwrap();
    assert_borrows(
        &bytes,
        info.header.frame_id.as_bytes(),
        "CameraInfo.header.frame_id",
    );
    assert_borrows(
        &bytes,
        info.distortion_model.as_bytes(),
        "CameraInfo.distortion_model",
    );
}

#[test]
fn decoding_a_copy_borrows_the_copy() {
    // Guards against a decoder handing out slices of some internal or static
    // buffer that merely compare equal.
    let pixels = [9u8; 12];
    let bytes = Image {
        header: header("camera"),
        height: 2,
        width: 2,
        encoding: "rgb8",
        is_bigendian: 0,
        step: 6,
        data: &pixels,
    }
    .to_cdr();
    let copy = bytes.clone();
    let a = Image::decode(&bytes).unwrap();
    let b = Image::decode(&copy).unwrap();
    assert_eq!(a, b);
    assert_borrows(&bytes, a.data, "Image.data");
    assert_borrows(&copy, b.data, "Image.data (copy)");
    assert_ne!(a.data.as_ptr(), b.data.as_ptr());
    assert_ne!(a.encoding.as_ptr(), b.encoding.as_ptr());
}
