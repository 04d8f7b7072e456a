//! Borrowing CDR reader: never allocates, never panics, every error names a field.

use super::{CDR_BE, CDR_LE, DecodeError, ENCAPSULATION_LEN};

/// A cursor over one serialized message. Offsets and alignment are relative
/// to the payload (the bytes after the 4-byte encapsulation header).
#[derive(Debug, Clone)]
pub struct CdrReader<'a> {
    payload: &'a [u8],
    pos: usize,
    big_endian: bool,
}

macro_rules! read_primitive {
    ($name:ident, $ty:ty) => {
        #[doc = concat!("Reads an aligned `", stringify!($ty), "`.")]
        pub fn $name(&mut self, field: &'static str) -> Result<$ty, DecodeError> {
            const N: usize = std::mem::size_of::<$ty>();
            self.align(N, field)?;
            let bytes: [u8; N] = self
                .take(N, field)?
                .try_into()
                .map_err(|_| DecodeError::invalid(field, "internal: slice length mismatch"))?;
            Ok(if self.big_endian {
                <$ty>::from_be_bytes(bytes)
            } else {
                <$ty>::from_le_bytes(bytes)
            })
        }
    };
}

impl<'a> CdrReader<'a> {
    /// Checks the encapsulation header and positions the reader at the payload.
    pub fn new(message: &'a [u8]) -> Result<Self, DecodeError> {
        if message.len() < ENCAPSULATION_LEN {
            return Err(DecodeError::Truncated {
                field: "cdr.encapsulation",
                offset: 0,
                needed: ENCAPSULATION_LEN,
                available: message.len(),
            });
        }
        let found = [message[0], message[1]];
        let big_endian = match found {
            CDR_LE => false,
            CDR_BE => true,
            _ => return Err(DecodeError::Encapsulation { found }),
        };
        Ok(CdrReader {
            payload: &message[ENCAPSULATION_LEN..],
            pos: 0,
            big_endian,
        })
    }

    pub fn is_big_endian(&self) -> bool {
        self.big_endian
    }

    /// Current offset relative to the payload start.
    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.payload.len() - self.pos
    }

    fn align(&mut self, alignment: usize, field: &'static str) -> Result<(), DecodeError> {
        let padding = (alignment - self.pos % alignment) % alignment;
        if padding > 0 {
            self.take(padding, field)?;
        }
        Ok(())
    }

    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return Err(DecodeError::Truncated {
                field,
                offset: self.pos,
                needed: n,
                available: self.remaining(),
            });
        }
        let slice = &self.payload[self.pos..self.pos + n];
        self.pos += n;
        Ok(slice)
    }

    read_primitive!(u8, u8);
    read_primitive!(i8, i8);
    read_primitive!(u16, u16);
    read_primitive!(i16, i16);
    read_primitive!(u32, u32);
    read_primitive!(i32, i32);
    read_primitive!(u64, u64);
    read_primitive!(i64, i64);
    read_primitive!(f32, f32);
    read_primitive!(f64, f64);

    pub fn bool(&mut self, field: &'static str) -> Result<bool, DecodeError> {
        match self.u8(field)? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(DecodeError::invalid(
                field,
                format!("bool must be 0 or 1, got {other}"),
            )),
        }
    }

    /// A CDR string: u32 length including the NUL terminator, bytes, NUL.
    /// A zero length (written by some implementations for "") is accepted.
    pub fn string(&mut self, field: &'static str) -> Result<&'a str, DecodeError> {
        let len = self.u32(field)? as usize;
        if len == 0 {
            return Ok("");
        }
        if len > self.remaining() {
            return Err(DecodeError::Truncated {
                field,
                offset: self.pos,
                needed: len,
                available: self.remaining(),
            });
        }
        let bytes = self.take(len, field)?;
        let (text, nul) = bytes.split_at(len - 1);
        if nul != [0] {
            return Err(DecodeError::InvalidString {
                field,
                problem: "string is not NUL-terminated",
            });
        }
        std::str::from_utf8(text).map_err(|_| DecodeError::InvalidString {
            field,
            problem: "string is not valid UTF-8",
        })
    }

    /// The element count of a sequence, checked against the bytes left so a
    /// hostile count can never make a caller reserve memory it cannot fill.
    pub fn sequence_len(
        &mut self,
        elem_size: usize,
        field: &'static str,
    ) -> Result<usize, DecodeError> {
        let count = self.u32(field)?;
        let min_bytes = (count as usize).saturating_mul(elem_size.max(1));
        if min_bytes > self.remaining() {
            return Err(DecodeError::SequenceTooLong {
                field,
                count,
                elem_size,
                available: self.remaining(),
            });
        }
        Ok(count as usize)
    }

    /// `uint8[]` (or `byte[]`): borrowed, never copied.
    pub fn byte_sequence(&mut self, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let len = self.sequence_len(1, field)?;
        self.take(len, field)
    }

    /// `float64[N]` fixed-size array.
    pub fn f64_array<const N: usize>(
        &mut self,
        field: &'static str,
    ) -> Result<[f64; N], DecodeError> {
        let mut out = [0.0; N];
        for slot in &mut out {
            *slot = self.f64(field)?;
        }
        Ok(out)
    }

    /// Checks that nothing but CDR end padding (fewer than 4 bytes) is left.
    pub fn finish(&self, field: &'static str) -> Result<(), DecodeError> {
        if self.remaining() >= 4 {
            return Err(DecodeError::TrailingBytes {
                field,
                count: self.remaining(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alignment_is_relative_to_payload() {
        // header, u8 = 7, 3 pad bytes, u32 = 0x01020304 (LE)
        let bytes = [0, 1, 0, 0, 7, 0xAA, 0xAA, 0xAA, 4, 3, 2, 1];
        let mut r = CdrReader::new(&bytes).unwrap();
        assert_eq!(r.u8("a").unwrap(), 7);
        assert_eq!(r.u32("b").unwrap(), 0x0102_0304);
        r.finish("end").unwrap();
    }

    #[test]
    fn big_endian() {
        let bytes = [0, 0, 0, 0, 0, 0, 0, 5, 0x3f, 0x80, 0, 0];
        let mut r = CdrReader::new(&bytes).unwrap();
        assert_eq!(r.u32("a").unwrap(), 5);
        assert_eq!(r.f32("b").unwrap(), 1.0);
    }

    #[test]
    fn rejects_other_encapsulations() {
        let err = CdrReader::new(&[0, 3, 0, 0]).unwrap_err();
        assert_eq!(err, DecodeError::Encapsulation { found: [0, 3] });
    }

    #[test]
    fn string_errors_name_the_field() {
        let bytes = [0, 1, 0, 0, 3, 0, 0, 0, b'a', b'b', b'c'];
        let err = CdrReader::new(&bytes)
            .unwrap()
            .string("frame_id")
            .unwrap_err();
        assert_eq!(err.field(), "frame_id");
        let bytes = [0, 1, 0, 0, 100, 0, 0, 0, b'a'];
        let err = CdrReader::new(&bytes)
            .unwrap()
            .string("frame_id")
            .unwrap_err();
        assert!(matches!(
            err,
            DecodeError::Truncated {
                field: "frame_id",
                ..
            }
        ));
    }

    #[test]
    fn hostile_sequence_length_is_rejected_before_use() {
        let bytes = [0, 1, 0, 0, 0xff, 0xff, 0xff, 0xff];
        let err = CdrReader::new(&bytes)
            .unwrap()
            .byte_sequence("data")
            .unwrap_err();
        assert!(matches!(err, DecodeError::SequenceTooLong { .. }));
    }
}
