//! Writing rosbag2-compatible MCAP: `ros2` profile, `ros2msg` schemas with
//! full dependency text, `cdr` channels, chunked and indexed. Deterministic:
//! the same messages in the same order give the same bytes.

use super::{BagError, MESSAGE_ENCODING, SCHEMA_ENCODING};
use crate::cdr::CdrWriter;
use crate::msg::{Encode, defs};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

/// Chunk compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Compression {
    None,
    #[default]
    Zstd,
    Lz4,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterOptions {
    pub compression: Compression,
    /// Target uncompressed chunk size in bytes.
    pub chunk_size: u64,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            compression: Compression::Zstd,
            chunk_size: 4 * 1024 * 1024,
        }
    }
}

/// A channel of an open [`BagWriter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TopicId(u16);

/// The QoS rosbag2 (Jazzy) records for a reliable, volatile, keep-last topic,
/// so `ros2 bag play` can replay what Lookout writes.
const OFFERED_QOS: &str = "- history: 1\n  depth: 10\n  reliability: 1\n  durability: 2\n  deadline:\n    sec: 9223372036\n    nsec: 854775807\n  lifespan:\n    sec: 9223372036\n    nsec: 854775807\n  liveliness: 1\n  liveliness_lease_duration:\n    sec: 9223372036\n    nsec: 854775807\n  avoid_ros_namespace_conventions: false\n";

pub struct BagWriter {
    path: PathBuf,
    inner: mcap::Writer<BufWriter<File>>,
    sequences: BTreeMap<u16, u32>,
    scratch: CdrWriter,
}

impl BagWriter {
    pub fn create(path: impl AsRef<Path>, options: WriterOptions) -> Result<Self, BagError> {
        let path = path.as_ref().to_path_buf();
        let file = File::create(&path).map_err(|source| BagError::Io {
            path: path.clone(),
            source,
        })?;
        let compression = match options.compression {
            Compression::None => None,
            Compression::Zstd => Some(mcap::Compression::Zstd),
            Compression::Lz4 => Some(mcap::Compression::Lz4),
        };
        let inner = mcap::WriteOptions::new()
            .profile("ros2")
            .library(concat!("lookout ", env!("CARGO_PKG_VERSION")))
            .compression(compression)
            .chunk_size(Some(options.chunk_size))
            // Single-threaded compression: the output bytes then depend on
            // nothing but the input (same seed, same bag, on any machine).
            .compression_threads(0)
            .create(BufWriter::with_capacity(1 << 20, file))
            .map_err(|source| BagError::Write {
                path: path.clone(),
                source,
            })?;
        Ok(BagWriter {
            path,
            inner,
            sequences: BTreeMap::new(),
            scratch: CdrWriter::new(),
        })
    }

    fn write_error(&self, source: mcap::McapError) -> BagError {
        BagError::Write {
            path: self.path.clone(),
            source,
        }
    }

    /// Adds a topic of a type Lookout knows (schema text from [`defs`]).
    pub fn add_topic(&mut self, topic: &str, type_name: &str) -> Result<TopicId, BagError> {
        self.add_topic_with_definition(topic, type_name, &defs::schema_text(type_name))
    }

    /// Adds a topic with an explicit `ros2msg` schema text.
    pub fn add_topic_with_definition(
        &mut self,
        topic: &str,
        type_name: &str,
        definition: &str,
    ) -> Result<TopicId, BagError> {
        let schema = self
            .inner
            .add_schema(type_name, SCHEMA_ENCODING, definition.as_bytes())
            .map_err(|e| self.write_error(e))?;
        let metadata =
            BTreeMap::from([("offered_qos_profiles".to_owned(), OFFERED_QOS.to_owned())]);
        let channel = self
            .inner
            .add_channel(schema, topic, MESSAGE_ENCODING, &metadata)
            .map_err(|e| self.write_error(e))?;
        Ok(TopicId(channel))
    }

    /// Writes one serialized message.
    pub fn write_raw(&mut self, topic: TopicId, log_time: u64, cdr: &[u8]) -> Result<(), BagError> {
        let sequence = self.sequences.entry(topic.0).or_insert(0);
        *sequence += 1;
        let header = mcap::records::MessageHeader {
            channel_id: topic.0,
            sequence: *sequence,
            log_time,
            publish_time: log_time,
        };
        self.inner
            .write_to_known_channel(&header, cdr)
            .map_err(|e| self.write_error(e))
    }

    /// Serializes `message` (reusing an internal buffer) and writes it.
    pub fn write<M: Encode>(
        &mut self,
        topic: TopicId,
        log_time: u64,
        message: &M,
    ) -> Result<(), BagError> {
        let mut scratch = std::mem::take(&mut self.scratch);
        message.encode_into(&mut scratch);
        let result = self.write_raw(topic, log_time, scratch.as_bytes());
        self.scratch = scratch;
        result
    }

    /// Writes the summary and closes the file.
    pub fn finish(mut self) -> Result<(), BagError> {
        self.inner.finish().map_err(|e| self.write_error(e))?;
        Ok(())
    }
}
