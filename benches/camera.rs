//! Camera-stage preprocessing on full-HD frames, one fused pass from the
//! frame to the input tensor: the shipped NanoDet spec (416x416 stretch,
//! BGR, NCHW) from rgb8 and bgr8 frames (bgr8 is the real path), and a
//! YOLO-style 640x640 letterbox (RGB, NCHW) from rgb8, also from 1280x720.

use criterion::{Criterion, criterion_group, criterion_main};
use lookout::camera::preprocess::Preprocessor;
use lookout::camera::spec::{ColorOrder, InputSpec, Layout, ModelSpec, ResizeMode};
use lookout::frames::{CameraFrame, PixelEncoding};
use std::hint::black_box;
use std::path::Path;

/// A smooth colour gradient with some noise, 3 bytes per pixel.
fn pixels(width: u32, height: u32) -> Vec<u8> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut pixels = Vec::with_capacity(width as usize * height as usize * 3);
    for y in 0..height {
        for x in 0..width {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let noise = (state >> 60) as u32;
            pixels.push(((x / 8 + noise) % 256) as u8);
            pixels.push(((y / 4 + noise) % 256) as u8);
            pixels.push((((x + y) / 12 + noise) % 256) as u8);
        }
    }
    pixels
}

fn nanodet() -> InputSpec {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/nanodet-m-416.yaml");
    ModelSpec::load(&path).expect("shipped spec").input
}

fn letterbox_640() -> InputSpec {
    InputSpec {
        name: "images".into(),
        layout: Layout::Nchw,
        width: 640,
        height: 640,
        color: ColorOrder::Rgb,
        mean: [0.0; 3],
        std: [255.0; 3],
        resize: ResizeMode::Letterbox,
        pad_value: 114.0,
    }
}

fn preprocess(c: &mut Criterion) {
    let full_hd = pixels(1920, 1080);
    let hd = pixels(1280, 720);
    let frame = |width: u32, height: u32, encoding, pixels| CameraFrame {
        stamp: 0,
        frame_id: "camera",
        width,
        height,
        encoding,
        step: width * 3,
        pixels,
    };
    let cases = [
        (
            "1920x1080_rgb8_to_640_letterbox_nchw",
            frame(1920, 1080, PixelEncoding::Rgb8, &full_hd),
            letterbox_640(),
        ),
        (
            "1920x1080_rgb8_to_416_stretch_nchw",
            frame(1920, 1080, PixelEncoding::Rgb8, &full_hd),
            nanodet(),
        ),
        (
            "1920x1080_bgr8_to_416_stretch_nchw",
            frame(1920, 1080, PixelEncoding::Bgr8, &full_hd),
            nanodet(),
        ),
        // 1920 -> 640 is exactly 3:1, so every vertical weight is 0 and one
        // source row per output row suffices; 1280x720 -> 640x360 blends
        // two rows everywhere (weights 0.5): the general case.
        (
            "1280x720_rgb8_to_640_letterbox_nchw",
            frame(1280, 720, PixelEncoding::Rgb8, &hd),
            letterbox_640(),
        ),
    ];
    let mut group = c.benchmark_group("preprocess");
    for (name, frame, spec) in cases {
        let mut pre = Preprocessor::new(&spec);
        let mut out = vec![0.0f32; pre.tensor_len()];
        group.bench_function(name, |b| {
            b.iter(|| black_box(pre.run(black_box(&frame), &mut out)))
        });
    }
    group.finish();
}

criterion_group!(benches, preprocess);
criterion_main!(benches);
