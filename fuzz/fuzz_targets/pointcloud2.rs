//! Well-formed CDR around fuzzed PointCloud2 geometry: field names, offsets,
//! datatypes and counts, point_step, row_step, width, height, endianness
//! and data length all come from the input, so the field parsing and the
//! size checks are exercised (random bytes rarely get past the CDR layer).
#![no_main]

use libfuzzer_sys::fuzz_target;
use lookout::cdr::CdrWriter;
use lookout::ingest::{Ingest, InputKind};

const NAMES: [&str; 8] = ["x", "y", "z", "intensity", "ring", "t", "rgb", ""];

/// Reads bytes off the front of the input (zeros once it runs out).
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    /// Small values mostly, large ones sometimes.
    fn size(&mut self) -> u32 {
        match self.u8() % 4 {
            0 => self.u32(),
            _ => u32::from(self.u8()),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let mut w = CdrWriter::new();
    w.i32(input.u32() as i32).u32(input.u32()).string("lidar");
    let (height, width) = (input.size(), input.size());
    w.u32(height).u32(width);
    let fields = usize::from(input.u8() % 10);
    w.sequence_len(fields);
    for _ in 0..fields {
        w.string(NAMES[usize::from(input.u8()) % NAMES.len()]);
        w.u32(input.size()).u8(input.u8() % 10).u32(input.size());
    }
    w.bool(input.u8() & 1 == 1);
    let (point_step, row_step) = (input.size(), input.size());
    w.u32(point_step).u32(row_step);
    let payload = usize::from(input.u8()) * 16 + usize::from(input.u8());
    let mut bytes = vec![0u8; payload.min(64 * 1024)];
    for b in bytes.iter_mut() {
        *b = input.u8();
    }
    w.sequence_len(bytes.len()).bytes(&bytes);
    w.bool(input.u8() & 1 == 1);
    let mut ingest = Ingest::new();
    let _ = ingest.ingest(InputKind::PointCloud2, w.as_bytes());
});
