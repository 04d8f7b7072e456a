//! The ROS 2 CDR wire format (OMG CDR v1 as rmw_fastrtps writes it).
//!
//! Owns: the 4-byte encapsulation header, primitive alignment relative to the
//! payload start, both byte orders, strings and sequences. Message layouts live
//! in [`crate::msg`]; this module knows nothing about message types.
//!
//! Hand-written because no maintained crate decodes CDR *borrowing* from the
//! input: `cdr`/`cdr-encoding` deserialize through serde into owned values, which
//! would copy every image and point payload. Here a `&'a [u8]` in, `&'a [u8]`
//! and `&'a str` out; the decoder never allocates and never panics on any input.

mod error;
mod read;
mod write;

pub use error::{DecodeError, RejectReason};
pub use read::CdrReader;
pub use write::CdrWriter;

/// Encapsulation identifiers (first two bytes of every serialized message).
pub const CDR_BE: [u8; 2] = [0x00, 0x00];
pub const CDR_LE: [u8; 2] = [0x00, 0x01];

/// Length of the encapsulation header that precedes the payload.
pub const ENCAPSULATION_LEN: usize = 4;
