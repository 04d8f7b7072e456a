//! rosbag2 MCAP files: reading (a `.mcap` file or a rosbag2 directory) and writing.
//!
//! Owns: file I/O, MCAP record handling through the `mcap` crate, rosbag2
//! directory metadata, and the `ros2msg`/`cdr` conventions rosbag2 uses. It
//! hands out serialized CDR; decoding is [`crate::msg`]'s job.
//! Never decodes message payloads, never panics on a damaged file: a
//! truncated or corrupt bag yields what could be read, then a [`BagError`].

mod read;
mod write;

pub use read::{Bag, BagMessage, ReadSummary, TopicInfo};
pub use write::{BagWriter, Compression, TopicId, WriterOptions};

use std::path::PathBuf;
use thiserror::Error;

/// Schema encoding rosbag2 uses for message definitions.
pub const SCHEMA_ENCODING: &str = "ros2msg";
/// Message encoding of every rosbag2 channel Lookout reads or writes.
pub const MESSAGE_ENCODING: &str = "cdr";

#[derive(Debug, Error)]
pub enum BagError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path}: not an MCAP file or rosbag2 directory (expected *.mcap or a folder with metadata.yaml)"
    )]
    NotABag { path: PathBuf },
    #[error("{path}: invalid rosbag2 metadata: {detail}")]
    Metadata { path: PathBuf, detail: String },
    #[error("{path}: storage {storage:?} is not supported (only mcap)")]
    UnsupportedStorage { path: PathBuf, storage: String },
    #[error("{path}: corrupt or truncated after {messages_read} messages: {detail}")]
    Corrupt {
        path: PathBuf,
        messages_read: u64,
        detail: String,
    },
    #[error("{path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: mcap::McapError,
    },
    #[error("topic {topic:?} has no channel in this writer")]
    UnknownTopic { topic: String },
}
