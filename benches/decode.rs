//! Decode throughput of the three sensor inputs at production sizes:
//! a 1920x1080 rgb8 `Image`, the same frame as a JPEG `CompressedImage`, and a
//! 64-beam `PointCloud2` of 131 072 points (x, y, z, intensity f32, ring u16,
//! time f32; point_step 22). Throughput is bytes of serialized message.
//!
//! `cargo bench --bench decode -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::io::Cursor;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lookout::frames::{CameraFrame, CompressedDecoder, LidarScan};
use lookout::msg::{CompressedImage, Encode, Header, Image, PointCloud2, Time};

const WIDTH: u32 = 1920;
const HEIGHT: u32 = 1080;
const BEAMS: u32 = 64;
const AZIMUTH_STEPS: u32 = 2048;
const POINT_STEP: u32 = lookout::synth::LIDAR_POINT_STEP;

fn header(frame_id: &str) -> Header<'_> {
    Header {
        stamp: Time {
            sec: 1_700_000_000,
            nanosec: 5_000_000,
        },
        frame_id,
    }
}

/// A deterministic picture with smooth gradients and fine texture, so the
/// JPEG is about as hard to decode as a camera frame.
fn picture() -> Vec<u8> {
    let mut pixels = Vec::with_capacity((WIDTH * HEIGHT * 3) as usize);
    let mut noise = 0x2545_f491_u32;
    for y in 0..HEIGHT {
        for x in 0..WIDTH {
            noise ^= noise << 13;
            noise ^= noise >> 17;
            noise ^= noise << 5;
            let grain = noise & 0x1f;
            let sky = y < HEIGHT / 2;
            let (r, g, b) = if sky {
                (90 + y / 8, 140 + y / 10, 230 - y / 12)
            } else {
                let stripe = if (x / 40 + y / 30) % 7 == 0 { 80 } else { 0 };
                (70 + stripe, 70 + stripe, 75 + x % 23)
            };
            pixels.extend_from_slice(&[
                (r + grain).min(255) as u8,
                (g + grain).min(255) as u8,
                (b + grain).min(255) as u8,
            ]);
        }
    }
    pixels
}

fn image_message(pixels: &[u8]) -> Vec<u8> {
    Image {
        header: header("camera"),
        height: HEIGHT,
        width: WIDTH,
        encoding: "rgb8",
        is_bigendian: 0,
        step: WIDTH * 3,
        data: pixels,
    }
    .to_cdr()
}

fn jpeg_message(pixels: &[u8]) -> Vec<u8> {
    let mut jpeg = Vec::new();
    image::RgbImage::from_raw(WIDTH, HEIGHT, pixels.to_vec())
        .expect("pixel buffer matches size")
        .write_to(&mut Cursor::new(&mut jpeg), image::ImageFormat::Jpeg)
        .expect("jpeg encodes");
    CompressedImage {
        header: header("camera"),
        format: "rgb8; jpeg compressed rgb8",
        data: &jpeg,
    }
    .to_cdr()
}

fn cloud_message() -> Vec<u8> {
    // The layout `lookout synth` writes (64-beam, Velodyne-like).
    let fields = lookout::synth::lidar_point_fields();
    let points = BEAMS * AZIMUTH_STEPS;
    let mut data = Vec::with_capacity((points * POINT_STEP) as usize);
    for column in 0..AZIMUTH_STEPS {
        let azimuth = column as f32 / AZIMUTH_STEPS as f32 * std::f32::consts::TAU;
        for ring in 0..BEAMS {
            let elevation = (-24.8 + 26.8 * ring as f32 / (BEAMS - 1) as f32).to_radians();
            let range = 5.0 + ((column * 7 + ring * 13) % 600) as f32 * 0.1;
            let (x, y, z) = (
                range * elevation.cos() * azimuth.cos(),
                range * elevation.cos() * azimuth.sin(),
                range * elevation.sin(),
            );
            let intensity = ((column + ring) % 256) as f32;
            let time = column as f32 / AZIMUTH_STEPS as f32 * 0.1;
            data.extend_from_slice(&x.to_le_bytes());
            data.extend_from_slice(&y.to_le_bytes());
            data.extend_from_slice(&z.to_le_bytes());
            data.extend_from_slice(&intensity.to_le_bytes());
            data.extend_from_slice(&(ring as u16).to_le_bytes());
            data.extend_from_slice(&time.to_le_bytes());
        }
    }
    PointCloud2::new(
        header("lidar"),
        1,
        points,
        &fields,
        false,
        POINT_STEP,
        points * POINT_STEP,
        &data,
        true,
    )
    .expect("valid cloud")
    .to_cdr()
}

fn bench_image(c: &mut Criterion) {
    let pixels = picture();
    let raw = image_message(&pixels);
    let mut group = c.benchmark_group("image_rgb8_1920x1080");
    group.throughput(Throughput::Bytes(raw.len() as u64));
    group.bench_function("decode+from_image", |b| {
        b.iter(|| {
            let image = Image::decode(black_box(&raw)).unwrap();
            let frame = CameraFrame::from_image(&image).unwrap();
            black_box(frame.pixels.len())
        })
    });
    group.finish();

    let compressed = jpeg_message(&pixels);
    let mut group = c.benchmark_group("compressed_jpeg_1920x1080");
    group.throughput(Throughput::Bytes(compressed.len() as u64));
    group.sample_size(20);
    let mut decoder = CompressedDecoder::new();
    group.bench_function("decode_to_rgb8", |b| {
        b.iter(|| {
            let message = CompressedImage::decode(black_box(&compressed)).unwrap();
            let frame = decoder.decode(&message).unwrap();
            black_box(frame.pixels.len())
        })
    });
    group.finish();
}

fn bench_cloud(c: &mut Criterion) {
    let bytes = cloud_message();
    let mut group = c.benchmark_group("pointcloud2_64beam_131072");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("decode", |b| {
        b.iter(|| {
            let cloud = PointCloud2::decode(black_box(&bytes)).unwrap();
            black_box(cloud.len())
        })
    });
    let mut scan = LidarScan::new();
    group.bench_function("decode+fill_from", |b| {
        b.iter(|| {
            let cloud = PointCloud2::decode(black_box(&bytes)).unwrap();
            scan.fill_from(&cloud).unwrap();
            black_box(scan.len())
        })
    });
    let cloud = PointCloud2::decode(&bytes).unwrap();
    group.bench_function("fill_from", |b| {
        b.iter(|| {
            scan.fill_from(black_box(&cloud)).unwrap();
            black_box(scan.len())
        })
    });
    group.finish();
}

criterion_group!(benches, bench_image, bench_cloud);
criterion_main!(benches);
