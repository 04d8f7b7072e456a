//! Any bytes as each message type Lookout decodes: CDR header, Image,
//! CompressedImage (JPEG/PNG inside), CameraInfo, PointCloud2 and Lookout's
//! own messages, through the same ingest path replay and the node use.
//! Every input must give a frame or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lookout::ingest::{Ingest, InputKind, header_stamp};

const KINDS: [InputKind; 7] = [
    InputKind::Image,
    InputKind::CompressedImage,
    InputKind::CameraInfo,
    InputKind::PointCloud2,
    InputKind::ObstacleArray,
    InputKind::FrameReport,
    InputKind::Detection2DArray,
];

fuzz_target!(|data: &[u8]| {
    let _ = header_stamp(data);
    let mut ingest = Ingest::new();
    for kind in KINDS {
        let _ = ingest.ingest(kind, data);
    }
    for kind in [InputKind::Image, InputKind::CompressedImage] {
        let _ = ingest.camera_frame(kind, data);
    }
});
