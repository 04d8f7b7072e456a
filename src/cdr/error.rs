//! Typed decode errors. Every variant names the field that failed, so a
//! counter keyed by [`RejectReason`] and a log line are both precise.

use thiserror::Error;

/// Why a message was rejected; a stable key for counters and summaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectReason {
    Encapsulation,
    Truncated,
    InvalidString,
    SequenceTooLong,
    UnsupportedEncoding,
    InconsistentSize,
    InvalidValue,
    CompressedDecode,
    TrailingBytes,
}

impl RejectReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::Encapsulation => "encapsulation",
            RejectReason::Truncated => "truncated",
            RejectReason::InvalidString => "invalid_string",
            RejectReason::SequenceTooLong => "sequence_too_long",
            RejectReason::UnsupportedEncoding => "unsupported_encoding",
            RejectReason::InconsistentSize => "inconsistent_size",
            RejectReason::InvalidValue => "invalid_value",
            RejectReason::CompressedDecode => "compressed_decode",
            RejectReason::TrailingBytes => "trailing_bytes",
        }
    }
}

impl std::fmt::Display for RejectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A message that could not be decoded or failed validation.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum DecodeError {
    #[error("encapsulation header {found:02x?} is not plain CDR (expected [00, 00] or [00, 01])")]
    Encapsulation { found: [u8; 2] },
    #[error(
        "{field}: truncated: needs {needed} bytes at payload offset {offset}, {available} left"
    )]
    Truncated {
        field: &'static str,
        offset: usize,
        needed: usize,
        available: usize,
    },
    #[error("{field}: {problem}")]
    InvalidString {
        field: &'static str,
        problem: &'static str,
    },
    #[error(
        "{field}: sequence of {count} elements of {elem_size} bytes exceeds the {available} bytes left"
    )]
    SequenceTooLong {
        field: &'static str,
        count: u32,
        elem_size: usize,
        available: usize,
    },
    #[error("{field}: unsupported {what} {found:?} (supported: {supported})")]
    Unsupported {
        field: &'static str,
        what: &'static str,
        found: String,
        supported: &'static str,
    },
    #[error("{field}: inconsistent size: {detail}")]
    InconsistentSize { field: &'static str, detail: String },
    #[error("{field}: invalid value: {detail}")]
    InvalidValue { field: &'static str, detail: String },
    #[error("{field}: compressed image could not be decoded: {detail}")]
    CompressedDecode { field: &'static str, detail: String },
    #[error("{field}: {count} unexpected bytes after the end of the message")]
    TrailingBytes { field: &'static str, count: usize },
}

impl DecodeError {
    /// The message field the error is about (`"cdr"` for the encapsulation header).
    pub fn field(&self) -> &'static str {
        match self {
            DecodeError::Encapsulation { .. } => "cdr.encapsulation",
            DecodeError::Truncated { field, .. }
            | DecodeError::InvalidString { field, .. }
            | DecodeError::SequenceTooLong { field, .. }
            | DecodeError::Unsupported { field, .. }
            | DecodeError::InconsistentSize { field, .. }
            | DecodeError::InvalidValue { field, .. }
            | DecodeError::CompressedDecode { field, .. }
            | DecodeError::TrailingBytes { field, .. } => field,
        }
    }

    pub fn reason(&self) -> RejectReason {
        match self {
            DecodeError::Encapsulation { .. } => RejectReason::Encapsulation,
            DecodeError::Truncated { .. } => RejectReason::Truncated,
            DecodeError::InvalidString { .. } => RejectReason::InvalidString,
            DecodeError::SequenceTooLong { .. } => RejectReason::SequenceTooLong,
            DecodeError::Unsupported { .. } => RejectReason::UnsupportedEncoding,
            DecodeError::InconsistentSize { .. } => RejectReason::InconsistentSize,
            DecodeError::InvalidValue { .. } => RejectReason::InvalidValue,
            DecodeError::CompressedDecode { .. } => RejectReason::CompressedDecode,
            DecodeError::TrailingBytes { .. } => RejectReason::TrailingBytes,
        }
    }

    pub(crate) fn inconsistent(field: &'static str, detail: impl Into<String>) -> Self {
        DecodeError::InconsistentSize {
            field,
            detail: detail.into(),
        }
    }

    pub(crate) fn invalid(field: &'static str, detail: impl Into<String>) -> Self {
        DecodeError::InvalidValue {
            field,
            detail: detail.into(),
        }
    }
}
