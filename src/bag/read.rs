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

/// Walks the summary section's record headers (from the footer's
/// `summary_start` to the footer) before the mcap crate's summary reader
/// sees them: every length must stay inside the section, and a summary holds
/// no chunks. The crate walks a chunk found there with the same code that
/// underflows on a record longer than its chunk (found by fuzzing); such a
/// file is read in file order instead, by Lookout's own chunk reader.
fn check_summary_records(file: &mut File, size: u64) -> Result<(), String> {
    // Footer record (opcode, length, two offsets, CRC) then the end magic.
    const FOOTER_LEN: u64 = 1 + 8 + 8 + 8 + 4;
    if size < 8 + FOOTER_LEN + 8 {
        return Ok(());
    }
    let footer_at = size - 8 - FOOTER_LEN;
    let mut footer = [0u8; FOOTER_LEN as usize];
    file.seek(SeekFrom::Start(footer_at))
        .and_then(|_| file.read_exact(&mut footer))
        .map_err(|e| format!("footer: {e}"))?;
    if footer[0] != mcap::records::op::FOOTER {
        return Ok(()); // no footer: the summary reader says so itself
    }
    let summary_start = u64::from_le_bytes(footer[9..17].try_into().expect("8 bytes"));
    if summary_start == 0 {
        return Ok(());
    }
    if summary_start < 8 || summary_start > footer_at {
        return Err(format!(
            "the footer puts the summary at {summary_start}, outside the file's {footer_at} bytes before it"
        ));
    }
    let mut at = summary_start;
    let mut header = [0u8; 9];
    while at < footer_at {
        if footer_at - at < 9 {
            return Err(format!("a summary record header at {at} is cut off"));
        }
        file.seek(SeekFrom::Start(at))
            .and_then(|_| file.read_exact(&mut header))
            .map_err(|e| format!("summary record at {at}: {e}"))?;
        if header[0] == mcap::records::op::CHUNK {
            return Err(format!("a chunk record inside the summary section at {at}"));
        }
        let len = u64::from_le_bytes(header[1..].try_into().expect("8 bytes"));
        at = at
            .checked_add(9)
            .and_then(|a| a.checked_add(len))
            .filter(|&end| end <= footer_at)
            .ok_or_else(|| {
                format!("a summary record at {at} claims {len} bytes, past the footer")
            })?;
    }
    Ok(())
}

/// An uncompressed chunk's records (`records`, as `chunk` indexes them) against
/// the CRC its record header holds. The mcap crate's indexed reader does not
/// check chunk CRCs; a compressed chunk's damage shows when it is
/// decompressed, so only uncompressed ones are hashed here.
fn check_chunk_crc(
    file: &mut File,
    chunk: &mcap::records::ChunkIndex,
    records: &[u8],
) -> Result<(), String> {
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
    let size = file_size(file, path)?;
    if let Err(detail) = check_summary_records(file, size) {
        return Err(corrupt(path, 0, detail));
    }
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
                    read_chunk(file, current, offset, length, size, &mut chunk)
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
    chunk_index: Option<&mcap::records::ChunkIndex>,
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
    match chunk_index {
        Some(chunk_index) => {
            check_chunk_crc(file, chunk_index, chunk).map_err(|e| format!("chunk at {offset}: {e}"))
        }
        None => Ok(()),
    }
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
    // A damaged file has no end magic; everything before the damage still
    // counts. Chunks come to us whole and are unpacked here (see
    // `unpack_chunk`), not by the mcap crate.
    let mut reader = LinearReader::new_with_options(
        LinearReaderOptions::default()
            .with_skip_end_magic(true)
            .with_emit_chunks(true)
            .with_record_length_limit(record_length_limit(size)),
    );
    let mut state = LinearState {
        schemas: HashMap::new(),
        channels: HashMap::new(),
        last_log_time: 0,
        chunk: Vec::new(),
    };
    // Where the next top-level record starts (after the magic): a file cut
    // inside a chunk is recovered from there.
    let mut next_record_at = 8u64;
    while let Some(event) = reader.next_event() {
        match event.map_err(|e| corrupt(path, summary.messages, e))? {
            LinearReadEvent::ReadRequest(n) => {
                // A record claiming more bytes than the file holds is cut
                // short by the end of the file below, not allocated whole.
                let read = file
                    .read(reader.insert(bounded_request(n, size)))
                    .map_err(|e| corrupt(path, summary.messages, e))?;
                if read == 0 {
                    let before = summary.messages;
                    let flow = state
                        .cut_chunk(file, next_record_at, size, topics, summary, visit)
                        .map_err(|e| corrupt(path, summary.messages, e))?;
                    if let Step::Stop = flow {
                        return Ok(ControlFlow::Break(()));
                    }
                    return Err(corrupt(
                        path,
                        summary.messages,
                        format!(
                            "file ends in the middle of a record ({} messages recovered from it)",
                            summary.messages - before
                        ),
                    ));
                }
                reader.notify_read(read);
            }
            LinearReadEvent::Record { data, opcode } => {
                next_record_at += 9 + data.len() as u64;
                let step = if opcode == mcap::records::op::CHUNK {
                    state.chunk(data, size, topics, summary, visit)
                } else {
                    state.record(opcode, data, topics, summary, visit)
                };
                match step.map_err(|e| corrupt(path, summary.messages, e))? {
                    Step::Continue => {}
                    Step::Footer => break,
                    Step::Stop => return Ok(ControlFlow::Break(())),
                }
            }
        }
    }
    Ok(ControlFlow::Continue(()))
}

/// What reading one record leads to.
enum Step {
    Continue,
    Footer,
    /// The visitor asked to stop.
    Stop,
}

/// What a read in file order has learnt so far.
struct LinearState {
    schemas: HashMap<u16, String>,
    channels: HashMap<u16, LinearChannel>,
    last_log_time: u64,
    /// The current chunk's records, decompressed (reused).
    chunk: Vec<u8>,
}

impl LinearState {
    /// One record outside or inside a chunk. Only the records replay uses
    /// are parsed: the mcap crate's parser panics on some malformed records
    /// of other kinds (a short attachment, found by fuzzing), and those
    /// carry nothing replay needs.
    fn record(
        &mut self,
        opcode: u8,
        body: &[u8],
        topics: Option<&[String]>,
        summary: &mut ReadSummary,
        visit: &mut impl FnMut(BagMessage<'_>) -> ControlFlow<()>,
    ) -> Result<Step, String> {
        use mcap::records::op;
        if !matches!(opcode, op::SCHEMA | op::CHANNEL | op::MESSAGE | op::FOOTER) {
            return Ok(Step::Continue);
        }
        match mcap::parse_record(opcode, body).map_err(|e| e.to_string())? {
            Record::Schema { header, .. } => {
                self.schemas.insert(header.id, header.name);
            }
            Record::Channel(c) => {
                self.channels.insert(
                    c.id,
                    LinearChannel {
                        topic: c.topic,
                        schema_id: c.schema_id,
                        encoding: c.message_encoding,
                    },
                );
            }
            Record::Message { header, data } => {
                let Some(channel) = self.channels.get(&header.channel_id) else {
                    return Err(format!(
                        "message on undeclared channel {}",
                        header.channel_id
                    ));
                };
                if topics.is_some_and(|t| !t.contains(&channel.topic)) {
                    return Ok(Step::Continue);
                }
                if header.log_time < self.last_log_time {
                    summary.out_of_order += 1;
                }
                self.last_log_time = header.log_time;
                summary.messages += 1;
                let flow = visit(BagMessage {
                    topic: &channel.topic,
                    type_name: self
                        .schemas
                        .get(&channel.schema_id)
                        .map_or("", String::as_str),
                    encoding: &channel.encoding,
                    log_time: header.log_time,
                    publish_time: header.publish_time,
                    data: &data,
                });
                if flow.is_break() {
                    return Ok(Step::Stop);
                }
            }
            Record::Footer(_) => return Ok(Step::Footer),
            _ => {}
        }
        Ok(Step::Continue)
    }

    /// A chunk record's body: header checked field by field, records
    /// decompressed into a buffer of the declared size (bounded like any
    /// record), CRC checked, then each record inside read with its length
    /// checked against what is left. Hand-written because the mcap crate's
    /// own chunk walk underflows on a record longer than its chunk (found
    /// by fuzzing).
    fn chunk(
        &mut self,
        body: &[u8],
        file_size: u64,
        topics: Option<&[String]>,
        summary: &mut ReadSummary,
        visit: &mut impl FnMut(BagMessage<'_>) -> ControlFlow<()>,
    ) -> Result<Step, String> {
        let mut records = std::mem::take(&mut self.chunk);
        let unpacked = unpack_chunk(body, record_length_limit(file_size), &mut records);
        let step = unpacked.and_then(|()| self.chunk_records(&records, topics, summary, visit));
        self.chunk = records;
        step
    }

    /// The file ends inside the record at `at`: when that is a chunk, the
    /// complete records in what there is of it are read (decompressing as
    /// far as the data goes), the cut one dropped.
    fn cut_chunk(
        &mut self,
        file: &mut File,
        at: u64,
        file_size: u64,
        topics: Option<&[String]>,
        summary: &mut ReadSummary,
        visit: &mut impl FnMut(BagMessage<'_>) -> ControlFlow<()>,
    ) -> Result<Step, String> {
        let mut bytes = Vec::new();
        file.seek(SeekFrom::Start(at))
            .and_then(|_| {
                file.take(file_size.saturating_sub(at))
                    .read_to_end(&mut bytes)
            })
            .map_err(|e| e.to_string())?;
        if bytes.first() != Some(&mcap::records::op::CHUNK) || bytes.len() < 9 {
            return Ok(Step::Continue);
        }
        let mut records = std::mem::take(&mut self.chunk);
        unpack_cut_chunk(&bytes[9..], record_length_limit(file_size), &mut records);
        // The last record is cut: stop at it, keeping what came before.
        let step = match self.chunk_records(&records, topics, summary, visit) {
            Ok(step) => step,
            Err(_) => Step::Continue,
        };
        self.chunk = records;
        Ok(step)
    }

    fn chunk_records(
        &mut self,
        mut records: &[u8],
        topics: Option<&[String]>,
        summary: &mut ReadSummary,
        visit: &mut impl FnMut(BagMessage<'_>) -> ControlFlow<()>,
    ) -> Result<Step, String> {
        while !records.is_empty() {
            let (opcode, len) = match records {
                [opcode, len @ ..] if len.len() >= 8 => (
                    *opcode,
                    u64::from_le_bytes(len[..8].try_into().expect("8 bytes")),
                ),
                _ => return Err("a record header is cut off at the end of its chunk".to_owned()),
            };
            let body = usize::try_from(len)
                .ok()
                .and_then(|len| records.get(9..9usize.checked_add(len)?))
                .ok_or_else(|| format!("a record of {len} bytes runs past the end of its chunk"))?;
            match self.record(opcode, body, topics, summary, visit)? {
                Step::Continue => {}
                other => return Ok(other),
            }
            records = &records[9 + body.len()..];
        }
        Ok(Step::Continue)
    }
}

/// A chunk record's body, split by its header fields.
struct ChunkParts<'a> {
    uncompressed_size: u64,
    crc: u32,
    compression: &'a [u8],
    /// What the header declares the records to take.
    records_len: u64,
    /// The records as far as `body` holds them (cut short in a cut file).
    records: &'a [u8],
}

/// Splits a chunk record's body; `None` when the header itself is cut off.
/// Lengths are checked only against what is there, not trusted.
fn chunk_parts(body: &[u8]) -> Option<ChunkParts<'_>> {
    let u32_at = |at: usize| Some(u32::from_le_bytes(body.get(at..at + 4)?.try_into().ok()?));
    let u64_at = |at: usize| Some(u64::from_le_bytes(body.get(at..at + 8)?.try_into().ok()?));
    // Start and end time (2 x 8), uncompressed size, CRC, compression name.
    let name_len = u32_at(28)? as usize;
    let records_at = 32usize.checked_add(name_len)?;
    Some(ChunkParts {
        uncompressed_size: u64_at(16)?,
        crc: u32_at(24)?,
        compression: body.get(32..records_at)?,
        records_len: u64_at(records_at)?,
        records: body.get(records_at + 8..)?,
    })
}

/// A reader of `compressed` for the chunk compression `name` (`None` for an
/// unsupported one; "" is the records themselves).
fn chunk_decoder<'a>(
    name: &[u8],
    compressed: &'a [u8],
) -> Option<Result<Box<dyn Read + 'a>, String>> {
    Some(match name {
        b"" => Ok(Box::new(compressed)),
        b"zstd" => zstd::stream::read::Decoder::new(compressed)
            .map(|d| Box::new(d) as Box<dyn Read>)
            .map_err(|e| format!("zstd: {e}")),
        b"lz4" => lz4::Decoder::new(compressed)
            .map(|d| Box::new(d) as Box<dyn Read>)
            .map_err(|e| format!("lz4: {e}")),
        _ => return None,
    })
}

/// Decompresses a chunk record's `body` into `out` (resized to the declared
/// uncompressed size, at most `limit`) and checks its CRC.
fn unpack_chunk(body: &[u8], limit: usize, out: &mut Vec<u8>) -> Result<(), String> {
    let parts = chunk_parts(body).ok_or_else(|| "chunk header cut off".to_owned())?;
    let name = std::str::from_utf8(parts.compression)
        .map_err(|_| "chunk compression name is not UTF-8".to_owned())?;
    let records_len = parts.records_len;
    let compressed = usize::try_from(records_len)
        .ok()
        .and_then(|len| parts.records.get(..len))
        .ok_or_else(|| format!("chunk records of {records_len} bytes run past the chunk"))?;
    let uncompressed = parts.uncompressed_size;
    let size = usize::try_from(uncompressed)
        .ok()
        .filter(|&size| size <= limit)
        .ok_or_else(|| {
            format!(
                "chunk declares {uncompressed} uncompressed bytes, more than this file can hold"
            )
        })?;
    out.clear();
    if name.is_empty() {
        if compressed.len() != size {
            return Err(format!(
                "uncompressed chunk of {} bytes declares {size}",
                compressed.len()
            ));
        }
        out.extend_from_slice(compressed);
    } else {
        let mut decoder = chunk_decoder(name.as_bytes(), compressed)
            .ok_or_else(|| format!("unsupported chunk compression {name:?}"))??;
        read_exactly(&mut decoder, size, out).map_err(|e| format!("{name}: {e}"))?;
    }
    let found = crc32fast::hash(out);
    if parts.crc != 0 && found != parts.crc {
        return Err(format!(
            "chunk crc mismatch: the chunk records {:#010x}, its data hashes to {found:#010x}",
            parts.crc
        ));
    }
    Ok(())
}

/// As much of a cut chunk's records as its data holds, into `out`.
fn unpack_cut_chunk(body: &[u8], limit: usize, out: &mut Vec<u8>) {
    out.clear();
    let Some(parts) = chunk_parts(body) else {
        return;
    };
    let Some(Ok(mut decoded)) = chunk_decoder(parts.compression, parts.records) else {
        return;
    };
    // Read until the data runs out or turns bad, never past `limit`.
    let mut buf = [0u8; 16 * 1024];
    while out.len() < limit {
        match decoded.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n.min(limit - out.len())]),
        }
    }
}

/// Exactly `size` bytes from `reader` into `out` (which is empty).
fn read_exactly(reader: &mut impl Read, size: usize, out: &mut Vec<u8>) -> std::io::Result<()> {
    out.resize(size, 0);
    reader.read_exact(out)
}
