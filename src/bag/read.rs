//! Reading rosbag2 MCAP: indexed, in log-time order across topics, when the
//! file has a summary; linearly (file order) when it has none or it is damaged.

use super::BagError;
use mcap::records::Record;
use mcap::sans_io::{
    IndexedReadEvent, IndexedReader, IndexedReaderOptions, LinearReadEvent, LinearReader,
    LinearReaderOptions, SummaryReadEvent, SummaryReader, SummaryReaderOptions,
};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

/// One message as stored; `data` is the serialized CDR, borrowed until the
/// visitor returns.
#[derive(Debug, Clone, Copy)]
pub struct BagMessage<'a> {
    pub topic: &'a str,
    /// e.g. `sensor_msgs/msg/Image`.
    pub type_name: &'a str,
    pub encoding: &'a str,
    pub log_time: u64,
    pub publish_time: u64,
    pub data: &'a [u8],
}

/// A topic of the bag with its type and (when indexed) its message count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    pub topic: String,
    pub type_name: String,
    pub encoding: String,
    pub message_count: u64,
}

/// What a complete read went through.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadSummary {
    pub messages: u64,
    /// Files without a usable summary section, read in file order.
    pub files_read_linearly: Vec<PathBuf>,
    /// Messages whose log time went backwards (only possible in linear reads).
    pub out_of_order: u64,
    /// Damaged chunks skipped (indexed reads go on with the next chunk).
    pub damaged_chunks: u64,
}

/// A rosbag2 bag: one `.mcap` file or a rosbag2 directory of them.
#[derive(Debug, Clone)]
pub struct Bag {
    path: PathBuf,
    files: Vec<PathBuf>,
}

#[derive(Deserialize)]
struct MetadataFile {
    rosbag2_bagfile_information: BagInformation,
}

#[derive(Deserialize)]
struct BagInformation {
    storage_identifier: String,
    relative_file_paths: Vec<String>,
}

impl Bag {
    pub fn open(path: impl AsRef<Path>) -> Result<Bag, BagError> {
        let path = path.as_ref().to_path_buf();
        let meta = std::fs::metadata(&path).map_err(|source| BagError::Io {
            path: path.clone(),
            source,
        })?;
        let files = if meta.is_dir() {
            Self::directory_files(&path)?
        } else {
            vec![path.clone()]
        };
        for file in &files {
            check_magic(file)?;
        }
        Ok(Bag { path, files })
    }

    fn directory_files(dir: &Path) -> Result<Vec<PathBuf>, BagError> {
        let metadata_path = dir.join("metadata.yaml");
        let text = match std::fs::read_to_string(&metadata_path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(BagError::NotABag {
                    path: dir.to_path_buf(),
                });
            }
            Err(source) => {
                return Err(BagError::Io {
                    path: metadata_path,
                    source,
                });
            }
        };
        let metadata: MetadataFile =
            serde_yaml::from_str(&text).map_err(|e| BagError::Metadata {
                path: metadata_path.clone(),
                detail: e.to_string(),
            })?;
        let info = metadata.rosbag2_bagfile_information;
        if info.storage_identifier != "mcap" {
            return Err(BagError::UnsupportedStorage {
                path: metadata_path,
                storage: info.storage_identifier,
            });
        }
        if info.relative_file_paths.is_empty() {
            return Err(BagError::Metadata {
                path: metadata_path,
                detail: "relative_file_paths is empty".into(),
            });
        }
        Ok(info
            .relative_file_paths
            .iter()
            .map(|relative| dir.join(relative))
            .collect())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// Topics across all files, from the summaries (no message data is read
    /// for indexed files).
    pub fn topics(&self) -> Result<Vec<TopicInfo>, BagError> {
        let mut topics: BTreeMap<String, TopicInfo> = BTreeMap::new();
        for path in &self.files {
            let mut file = open(path)?;
            let Some(summary) = read_summary(&mut file, path).ok().flatten() else {
                // No usable index: count by reading the file through.
                let mut counts: Vec<TopicInfo> = Vec::new();
                let mut summary = ReadSummary::default();
                let _ = read_linear(&mut file, path, None, &mut summary, &mut |m| {
                    match counts.iter_mut().find(|t| t.topic == m.topic) {
                        Some(t) => t.message_count += 1,
                        None => counts.push(TopicInfo {
                            topic: m.topic.to_owned(),
                            type_name: m.type_name.to_owned(),
                            encoding: m.encoding.to_owned(),
                            message_count: 1,
                        }),
                    }
                    ControlFlow::Continue(())
                });
                for info in counts {
                    merge_topic(&mut topics, info);
                }
                continue;
            };
            let counts = summary
                .stats
                .as_ref()
                .map(|s| s.channel_message_counts.clone())
                .unwrap_or_default();
            for channel in summary.channels.values() {
                merge_topic(
                    &mut topics,
                    TopicInfo {
                        topic: channel.topic.clone(),
                        type_name: channel
                            .schema
                            .as_ref()
                            .map(|s| s.name.clone())
                            .unwrap_or_default(),
                        encoding: channel.message_encoding.clone(),
                        message_count: counts.get(&channel.id).copied().unwrap_or(0),
                    },
                );
            }
        }
        Ok(topics.into_values().collect())
    }

    /// Visits every message (of `topics`, when given) in log-time order
    /// within each file, files in order. The visitor may stop the read early.
    /// On a damaged file, messages before the damage are visited, then
    /// [`BagError::Corrupt`] is returned.
    pub fn read_messages(
        &self,
        topics: Option<&[String]>,
        mut visit: impl FnMut(BagMessage<'_>) -> ControlFlow<()>,
    ) -> Result<ReadSummary, BagError> {
        let mut summary = ReadSummary::default();
        for path in &self.files {
            let mut file = open(path)?;
            let flow = match read_summary(&mut file, path) {
                Ok(Some(index)) if !index.chunk_indexes.is_empty() => {
                    read_indexed(&mut file, path, &index, topics, &mut summary, &mut visit)?
                }
                index => {
                    let why = match index {
                        Ok(Some(_)) => "its summary indexes no chunks".to_owned(),
                        Ok(None) => "it has no summary section".to_owned(),
                        Err(e) => format!("its summary is unreadable ({e})"),
                    };
                    tracing::warn!(file = %path.display(), "reading in file order: {why}");
                    summary.files_read_linearly.push(path.clone());
                    read_linear(&mut file, path, topics, &mut summary, &mut visit)?
                }
            };
            if flow.is_break() {
                break;
            }
        }
        Ok(summary)
    }
}

/// Fails fast, with a plain message, on files that are not MCAP at all.
fn check_magic(path: &Path) -> Result<(), BagError> {
    let mut magic = [0u8; 8];
    let read = open(path)?
        .read(&mut magic)
        .map_err(|source| BagError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    if read < magic.len() || magic != *mcap::MAGIC {
        return Err(BagError::NotABag {
            path: path.to_path_buf(),
        });
    }
    Ok(())
}

fn merge_topic(topics: &mut BTreeMap<String, TopicInfo>, info: TopicInfo) {
    match topics.get_mut(&info.topic) {
        Some(existing) => existing.message_count += info.message_count,
        None => {
            topics.insert(info.topic.clone(), info);
        }
    }
}

fn open(path: &Path) -> Result<File, BagError> {
    File::open(path).map_err(|source| BagError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// An uncompressed chunk's records (`records`, read at `offset`) against
/// the CRC its record header holds. The mcap crate's indexed reader does not
/// check chunk CRCs; a compressed chunk's damage shows when it is
/// decompressed, so only uncompressed ones are hashed here.
fn check_chunk_crc(
    file: &mut File,
    index: &mcap::Summary,
    offset: u64,
    records: &[u8],
) -> Result<(), String> {
    let Some(chunk) = index
        .chunk_indexes
        .iter()
        .find(|c| c.compressed_data_offset().ok() == Some(offset))
    else {
        return Ok(());
    };
    if !chunk.compression.is_empty() {
        return Ok(());
    }
    // Opcode and length (9 bytes), start and end time and uncompressed size
    // (3 x 8), then the CRC.
    let mut crc = [0u8; 4];
    file.seek(SeekFrom::Start(
        chunk.chunk_start_offset.saturating_add(9 + 24),
    ))
    .and_then(|_| file.read_exact(&mut crc))
    .map_err(|e| format!("chunk header: {e}"))?;
    let crc = u32::from_le_bytes(crc);
    let found = crc32fast::hash(records);
    if crc != 0 && found != crc {
        return Err(format!(
            "chunk crc mismatch: the chunk records {crc:#010x}, its data hashes to {found:#010x}"
        ));
    }
    Ok(())
}

fn file_size(file: &File, path: &Path) -> Result<u64, BagError> {
    Ok(file
        .metadata()
        .map_err(|source| BagError::Io {
            path: path.to_path_buf(),
            source,
        })?
        .len())
}

/// The longest record the MCAP reader accepts in a file of `file_size`
/// bytes: a record inside a compressed chunk may be larger than the file
/// (an all-black image compresses a thousandfold), so 1024 times the file,
/// and at least 64 MiB. A lying length beyond it is a clean error (and it
/// keeps the reader's own `header + len` arithmetic from overflowing).
fn record_length_limit(file_size: u64) -> usize {
    usize::try_from(file_size.saturating_mul(1024))
        .unwrap_or(usize::MAX)
        .max(64 << 20)
}

/// A read the MCAP reader asks for, at most the file's size (and at least
/// one byte, so a read at the end of the file returns 0 and is reported):
/// record lengths come from the file, and a lying one must not become an
/// allocation of that size.
fn bounded_request(n: usize, file_size: u64) -> usize {
    if n == 0 {
        return 0;
    }
    n.min(usize::try_from(file_size).unwrap_or(usize::MAX))
        .max(1)
}

fn corrupt(path: &Path, messages_read: u64, detail: impl ToString) -> BagError {
    BagError::Corrupt {
        path: path.to_path_buf(),
        messages_read,
        detail: detail.to_string(),
    }
}

/// The file's summary section; `Ok(None)` when it has none.
fn read_summary(file: &mut File, path: &Path) -> Result<Option<mcap::Summary>, BagError> {
    let size = file
        .metadata()
        .map_err(|source| BagError::Io {
            path: path.to_path_buf(),
            source,
        })?
        .len();
    let mut reader = SummaryReader::new_with_options(
        SummaryReaderOptions::default()
            .with_file_size(size)
            .with_record_length_limit(record_length_limit(size)),
    );
    while let Some(event) = reader.next_event() {
        match event.map_err(|e| corrupt(path, 0, e))? {
            SummaryReadEvent::ReadRequest(n) => {
                // A lying length never asks for more than the file holds.
                let read = file
                    .read(reader.insert(bounded_request(n, size)))
                    .map_err(|e| corrupt(path, 0, e))?;
                reader.notify_read(read);
            }
            SummaryReadEvent::SeekRequest(to) => {
                let pos = file.seek(to).map_err(|e| corrupt(path, 0, e))?;
                reader.notify_seeked(pos);
            }
        }
    }
    Ok(reader.finish())
}

fn read_indexed(
    file: &mut File,
    path: &Path,
    index: &mcap::Summary,
    topics: Option<&[String]>,
    summary: &mut ReadSummary,
    visit: &mut impl FnMut(BagMessage<'_>) -> ControlFlow<()>,
) -> Result<ControlFlow<()>, BagError> {
    let size = file_size(file, path)?;
    let mut chunk = Vec::new();
    // A damaged chunk is skipped: the read starts again after the last log
    // time it holds, so the next readable chunk follows.
    let mut resume_after: Option<u64> = None;
    let mut damage: Option<(u64, String)> = None;
    let mut skipped = 0u64;
    'read: loop {
        let mut options =
            IndexedReaderOptions::new().with_record_length_limit(record_length_limit(size));
        if let Some(topics) = topics {
            options = options.include_topics(topics.iter().cloned());
        }
        if let Some(after) = resume_after {
            options = options.starting_after(after);
        }
        let mut reader = IndexedReader::new_with_options(index, options)
            .map_err(|e| corrupt(path, summary.messages, e))?;
        let mut current: Option<&mcap::records::ChunkIndex> = None;
        while let Some(event) = reader.next_event() {
            let failure = match event {
                Err(e) => Some(e.to_string()),
                Ok(IndexedReadEvent::ReadChunkRequest { offset, length }) => {
                    current = index
                        .chunk_indexes
                        .iter()
                        .find(|c| c.compressed_data_offset().ok() == Some(offset));
                    read_chunk(file, index, offset, length, size, &mut chunk)
                        .and_then(|()| {
                            reader
                                .insert_chunk_record_data(offset, &chunk)
                                .map_err(|e| e.to_string())
                        })
                        .err()
                }
                Ok(IndexedReadEvent::Message { header, data }) => {
                    match index.channels.get(&header.channel_id) {
                        None => Some(format!("message on unknown channel {}", header.channel_id)),
                        Some(channel) => {
                            summary.messages += 1;
                            let flow = visit(BagMessage {
                                topic: &channel.topic,
                                type_name: channel.schema.as_ref().map_or("", |s| s.name.as_str()),
                                encoding: &channel.message_encoding,
                                log_time: header.log_time,
                                publish_time: header.publish_time,
                                data,
                            });
                            if flow.is_break() {
                                return Ok(flow);
                            }
                            None
                        }
                    }
                }
            };
            let Some(detail) = failure else {
                continue;
            };
            let Some(chunk_index) = current else {
                return Err(corrupt(path, summary.messages, detail));
            };
            let end = chunk_index.message_end_time;
            if resume_after.is_some_and(|after| after >= end) {
                // No progress possible past this chunk.
                return Err(corrupt(path, summary.messages, detail));
            }
            tracing::warn!(
                file = %path.display(),
                "damaged chunk at {} skipped ({detail}); reading on after log time {end}",
                chunk_index.chunk_start_offset
            );
            damage.get_or_insert((summary.messages, detail));
            skipped += 1;
            summary.damaged_chunks += 1;
            resume_after = Some(end);
            continue 'read;
        }
        break;
    }
    match damage {
        None => Ok(ControlFlow::Continue(())),
        Some((at, detail)) => Err(corrupt(
            path,
            summary.messages,
            format!(
                "{detail} (at message {at}; {skipped} damaged chunk(s) skipped, the readable ones after them were read)"
            ),
        )),
    }
}

/// One chunk's compressed records into `chunk`, checked against the file
/// size and (uncompressed) its CRC.
fn read_chunk(
    file: &mut File,
    index: &mcap::Summary,
    offset: u64,
    length: usize,
    size: u64,
    chunk: &mut Vec<u8>,
) -> Result<(), String> {
    if offset.saturating_add(length as u64) > size {
        return Err(format!(
            "the index puts a chunk of {length} bytes at {offset}, past the end of the {size}-byte file"
        ));
    }
    chunk.resize(length, 0);
    file.seek(SeekFrom::Start(offset))
        .and_then(|_| file.read_exact(chunk))
        .map_err(|e| format!("chunk at {offset}: {e}"))?;
    check_chunk_crc(file, index, offset, chunk).map_err(|e| format!("chunk at {offset}: {e}"))
}

struct LinearChannel {
    topic: String,
    schema_id: u16,
    encoding: String,
}

fn read_linear(
    file: &mut File,
    path: &Path,
    topics: Option<&[String]>,
    summary: &mut ReadSummary,
    visit: &mut impl FnMut(BagMessage<'_>) -> ControlFlow<()>,
) -> Result<ControlFlow<()>, BagError> {
    let size = file_size(file, path)?;
    file.seek(SeekFrom::Start(0))
        .map_err(|e| corrupt(path, 0, e))?;
    // A damaged file has no end magic; everything before the damage still counts.
    let mut reader = LinearReader::new_with_options(
        LinearReaderOptions::default()
            .with_skip_end_magic(true)
            .with_validate_chunk_crcs(true)
            .with_record_length_limit(record_length_limit(size)),
    );
    let mut schemas: HashMap<u16, String> = HashMap::new();
    let mut channels: HashMap<u16, LinearChannel> = HashMap::new();
    let mut last_log_time = 0u64;
    while let Some(event) = reader.next_event() {
        match event.map_err(|e| corrupt(path, summary.messages, e))? {
            LinearReadEvent::ReadRequest(n) => {
                // A record claiming more bytes than the file holds is cut
                // short by the end of the file below, not allocated whole.
                let read = file
                    .read(reader.insert(bounded_request(n, size)))
                    .map_err(|e| corrupt(path, summary.messages, e))?;
                if read == 0 {
                    return Err(corrupt(
                        path,
                        summary.messages,
                        "file ends in the middle of a record",
                    ));
                }
                reader.notify_read(read);
            }
            LinearReadEvent::Record { data, opcode } => {
                // Only the records replay uses are parsed: the mcap crate's
                // parser panics on some malformed records of other kinds
                // (a short attachment, found by fuzzing), and those carry
                // nothing replay needs.
                if !matches!(
                    opcode,
                    mcap::records::op::SCHEMA
                        | mcap::records::op::CHANNEL
                        | mcap::records::op::MESSAGE
                        | mcap::records::op::FOOTER
                ) {
                    continue;
                }
                let record = mcap::parse_record(opcode, data)
                    .map_err(|e| corrupt(path, summary.messages, e))?;
                match record {
                    Record::Schema { header, .. } => {
                        schemas.insert(header.id, header.name);
                    }
                    Record::Channel(c) => {
                        channels.insert(
                            c.id,
                            LinearChannel {
                                topic: c.topic,
                                schema_id: c.schema_id,
                                encoding: c.message_encoding,
                            },
                        );
                    }
                    Record::Message { header, data } => {
                        let Some(channel) = channels.get(&header.channel_id) else {
                            return Err(corrupt(
                                path,
                                summary.messages,
                                format!("message on undeclared channel {}", header.channel_id),
                            ));
                        };
                        if topics.is_some_and(|t| !t.contains(&channel.topic)) {
                            continue;
                        }
                        if header.log_time < last_log_time {
                            summary.out_of_order += 1;
                        }
                        last_log_time = header.log_time;
                        summary.messages += 1;
                        let flow = visit(BagMessage {
                            topic: &channel.topic,
                            type_name: schemas.get(&channel.schema_id).map_or("", String::as_str),
                            encoding: &channel.encoding,
                            log_time: header.log_time,
                            publish_time: header.publish_time,
                            data: &data,
                        });
                        if flow.is_break() {
                            return Ok(flow);
                        }
                    }
                    Record::Footer(_) => break,
                    _ => {}
                }
            }
        }
    }
    Ok(ControlFlow::Continue(()))
}
