//! CDR writer (little-endian) into a caller-owned, reusable buffer.

use super::CDR_LE;

/// Serializes one message. `clear()` + reuse keeps encoding allocation-free
/// once the buffer has grown to the largest message.
#[derive(Debug, Default, Clone)]
pub struct CdrWriter {
    buf: Vec<u8>,
}

macro_rules! write_primitive {
    ($name:ident, $ty:ty) => {
        #[doc = concat!("Writes an aligned `", stringify!($ty), "`.")]
        pub fn $name(&mut self, value: $ty) -> &mut Self {
            self.align(std::mem::size_of::<$ty>());
            self.buf.extend_from_slice(&value.to_le_bytes());
            self
        }
    };
}

impl CdrWriter {
    pub fn new() -> Self {
        let mut writer = CdrWriter {
            buf: Vec::with_capacity(256),
        };
        writer.clear();
        writer
    }

    /// Starts a new message, keeping the allocation.
    /// A writer that reuses `buffer`'s allocation (its contents are dropped).
    pub fn from_buffer(buffer: Vec<u8>) -> Self {
        let mut writer = CdrWriter { buf: buffer };
        writer.clear();
        writer
    }

    pub fn clear(&mut self) {
        self.buf.clear();
        self.buf.extend_from_slice(&CDR_LE);
        self.buf.extend_from_slice(&[0, 0]);
    }

    fn align(&mut self, alignment: usize) {
        let pos = self.buf.len() - super::ENCAPSULATION_LEN;
        let padding = (alignment - pos % alignment) % alignment;
        self.buf.resize(self.buf.len() + padding, 0);
    }

    write_primitive!(u8, u8);
    write_primitive!(i8, i8);
    write_primitive!(u16, u16);
    write_primitive!(i16, i16);
    write_primitive!(u32, u32);
    write_primitive!(i32, i32);
    write_primitive!(u64, u64);
    write_primitive!(i64, i64);
    write_primitive!(f32, f32);
    write_primitive!(f64, f64);

    pub fn bool(&mut self, value: bool) -> &mut Self {
        self.u8(value as u8)
    }

    pub fn string(&mut self, value: &str) -> &mut Self {
        self.u32(value.len() as u32 + 1);
        self.buf.extend_from_slice(value.as_bytes());
        self.buf.push(0);
        self
    }

    pub fn sequence_len(&mut self, len: usize) -> &mut Self {
        self.u32(len as u32)
    }

    pub fn bytes(&mut self, value: &[u8]) -> &mut Self {
        self.sequence_len(value.len());
        self.buf.extend_from_slice(value);
        self
    }

    /// Reserves `len` bytes of a `uint8[]` and hands them out to be filled in
    /// place (the synthetic renderer draws straight into the message).
    pub fn bytes_in_place(&mut self, len: usize) -> &mut [u8] {
        self.sequence_len(len);
        let start = self.buf.len();
        self.buf.resize(start + len, 0);
        &mut self.buf[start..]
    }

    pub fn f64_slice(&mut self, values: &[f64]) -> &mut Self {
        for &value in values {
            self.f64(value);
        }
        self
    }

    /// The serialized message, encapsulation header included.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cdr::CdrReader;

    #[test]
    fn round_trip_primitives_and_alignment() {
        let mut w = CdrWriter::new();
        w.u8(1)
            .f64(2.5)
            .string("lidar")
            .u16(7)
            .bytes(&[1, 2, 3])
            .i32(-4);
        let mut r = CdrReader::new(w.as_bytes()).unwrap();
        assert_eq!(r.u8("a").unwrap(), 1);
        assert_eq!(r.position(), 1);
        assert_eq!(r.f64("b").unwrap(), 2.5);
        assert_eq!(r.position(), 16);
        assert_eq!(r.string("c").unwrap(), "lidar");
        assert_eq!(r.u16("d").unwrap(), 7);
        assert_eq!(r.byte_sequence("e").unwrap(), &[1, 2, 3]);
        assert_eq!(r.i32("f").unwrap(), -4);
        r.finish("end").unwrap();
    }
}
