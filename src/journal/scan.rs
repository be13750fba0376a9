//! Reading the journal back: segment listing, the `HEAD` anchor, and a scan that checks
//! every record's hash, its link to the previous record and the sequence numbers. Used by
//! start-up recovery and by `audit verify`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::codec::{GENESIS, LineError, Record, decode};
use crate::domain::delivery::Location;

/// File name prefix and suffix of segments: `segment-00000001.jsonl`.
pub const SEGMENT_PREFIX: &str = "segment-";
/// Segment suffix.
pub const SEGMENT_SUFFIX: &str = ".jsonl";
/// The tail anchor: `<seq> <hash>` of the last durable record, rewritten after each commit.
pub const HEAD_FILE: &str = "HEAD";
/// The start anchor once segments were archived: `<seq> <hash>` of the last record that left
/// the journal directory, written before they are moved.
pub const ANCHOR_FILE: &str = "ANCHOR";

/// One segment file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Its number (1, 2, …).
    pub number: u64,
    /// Its path.
    pub path: PathBuf,
}

/// The segment path for `number`.
pub fn segment_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("{SEGMENT_PREFIX}{number:08}{SEGMENT_SUFFIX}"))
}

/// Why the journal does not verify.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// The files could not be read.
    #[error("cannot read the journal: {0}")]
    Io(#[from] io::Error),
    /// A record is missing, changed, out of order or cut short.
    #[error("first bad seq {seq}: {reason}")]
    Bad {
        /// The first sequence number that is wrong or missing.
        seq: u64,
        /// What is wrong.
        reason: String,
    },
}

/// Lists segments in order. Every `segment-*.jsonl` must be a regular file with a number.
///
/// # Errors
/// I/O errors, and [`io::ErrorKind::InvalidData`] for a segment that is not a regular file.
pub fn list_segments(dir: &Path) -> io::Result<Vec<Segment>> {
    let mut out = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(number) = name
            .strip_prefix(SEGMENT_PREFIX)
            .and_then(|n| n.strip_suffix(SEGMENT_SUFFIX))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        let meta = match fs::symlink_metadata(entry.path()) {
            Ok(m) => m,
            // Moved away since the directory was read (an archiving pass): not here any more.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        if !meta.file_type().is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} is not a regular file", entry.path().display()),
            ));
        }
        out.push(Segment {
            number,
            path: entry.path(),
        });
    }
    out.sort_by_key(|s| s.number);
    Ok(out)
}

/// The anchor read from `HEAD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// Sequence number of the last durable record when it was written.
    pub seq: u64,
    /// That record's hash.
    pub hash: String,
}

/// Reads `HEAD`, if present.
///
/// # Errors
/// I/O errors and an unreadable anchor.
pub fn read_head(dir: &Path) -> io::Result<Option<Head>> {
    match read_anchor_file(&dir.join(HEAD_FILE)) {
        Err(e) if e.kind() == io::ErrorKind::InvalidData => {
            // HEAD only guards the end; the chain is still checked record by record.
            tracing::warn!(error = %e, "The journal HEAD is unreadable; ignoring it (it is rewritten at the next append).");
            Ok(None)
        }
        other => other,
    }
}

/// Reads `ANCHOR`, if present.
///
/// # Errors
/// I/O errors and an unreadable anchor.
pub fn read_anchor(dir: &Path) -> io::Result<Option<Head>> {
    read_anchor_file(&dir.join(ANCHOR_FILE))
}

fn read_anchor_file(path: &Path) -> io::Result<Option<Head>> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut parts = text.split_whitespace();
    let (Some(seq), Some(hash)) = (parts.next().and_then(|s| s.parse().ok()), parts.next()) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} is not `<seq> <hash>`", path.display()),
        ));
    };
    Ok(Some(Head {
        seq,
        hash: hash.to_owned(),
    }))
}

/// How strict a scan is about the end of the last segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A stretch of segments that must be whole (what retention moves): a cut-short last
    /// record is an error.
    Verify,
    /// `audit verify` of the journal directory while the daemon may be writing to it: a last
    /// line of the last segment with no line end may be a write in progress. It is reported
    /// in [`ScanOutcome::torn_tail`], not counted, and `journal::verify` waits for it to be
    /// finished (a line that stays unfinished is an error there).
    VerifyLive,
    /// Start-up: a cut-short tail (a crash during a write that was never acknowledged) is
    /// reported for truncation.
    Recover,
}

/// A torn tail found by a [`Mode::Recover`] scan, or an unfinished last line found by a
/// [`Mode::VerifyLive`] one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// The segment.
    pub path: PathBuf,
    /// Offset of the first byte to cut.
    pub offset: u64,
    /// Bytes after it.
    pub bytes: u64,
}

/// What a scan found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanOutcome {
    /// Intact records read.
    pub records: u64,
    /// Sequence number of the first record read.
    pub first_seq: u64,
    /// Last sequence number (0 if empty).
    pub last_seq: u64,
    /// Last hash ([`GENESIS`] if empty).
    pub last_hash: String,
    /// Segments read.
    pub segments: Vec<Segment>,
    /// Size of the last segment up to the end of its last intact record.
    pub last_segment_len: u64,
    /// A torn tail to cut (recover mode), or a last line with no line end yet (live verify
    /// mode); never in verify mode.
    pub torn_tail: Option<TornTail>,
}

/// Where a scan begins: the sequence number and hash of the record before its first one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Start {
    /// Sequence number of the record before the first one scanned (0 from the beginning).
    pub seq: u64,
    /// Its hash ([`GENESIS`] from the beginning).
    pub hash: String,
}

impl Start {
    /// The beginning of the journal.
    pub fn genesis() -> Start {
        Start {
            seq: 0,
            hash: GENESIS.to_owned(),
        }
    }
}

/// The start-up scan: from the newest segment that begins with a checkpoint (the whole
/// journal when there is none), calling `visit` for every intact record in order — the
/// checkpoint first. Segments before it are not read.
///
/// # Errors
/// [`ScanError::Bad`] naming the first bad sequence number, or I/O errors.
pub fn scan_for_recovery(
    dir: &Path,
    visit: impl FnMut(Record, Location),
) -> Result<ScanOutcome, ScanError> {
    let head = read_head(dir)?;
    let segments = list_segments(dir)?;
    for (index, segment) in segments.iter().enumerate().rev() {
        if let Some(first) = first_record(&segment.path)?
            && first.is_checkpoint
        {
            if let Some(previous) = index.checked_sub(1).map(|i| &segments[i]) {
                // The link into the checkpoint, from the one segment before it.
                match last_record(&previous.path)? {
                    Some((seq, hash))
                        if seq.checked_add(1) == Some(first.seq) && hash == first.prev_hash => {}
                    _ => {
                        return Err(ScanError::Bad {
                            seq: first.seq,
                            reason: format!(
                                "the checkpoint in {} does not follow the last record of {} (records were changed, removed or reordered)",
                                segment.path.display(),
                                previous.path.display()
                            ),
                        });
                    }
                }
            }
            return scan_segments(
                &segments[index..],
                first.before(),
                head,
                Mode::Recover,
                visit,
            );
        }
    }
    missing_history_check(&segments)?;
    scan_segments(&segments, Start::genesis(), head, Mode::Recover, visit)
}

/// `audit verify` of the live journal: from seq 1, or — when older segments were archived —
/// from the checkpoint the live journal begins with, checked against `ANCHOR`.
///
/// # Errors
/// [`ScanError::Bad`] naming the first bad sequence number, or I/O errors.
pub fn scan_live(dir: &Path) -> Result<ScanOutcome, ScanError> {
    let head = read_head(dir)?;
    let anchor = read_anchor(dir)?;
    let segments = list_segments(dir)?;
    let first = match segments.first() {
        Some(s) => first_record(&s.path)?,
        None => None,
    };
    let start = live_start(first.as_ref(), anchor.as_ref())?;
    let mut anchor_seen = None;
    let anchor_seq = anchor.as_ref().map(|a| a.seq);
    let outcome = scan_segments(&segments, start, head, Mode::VerifyLive, |r, _| {
        if Some(r.seq) == anchor_seq {
            anchor_seen = Some(r.hash);
        }
    })?;
    if let (Some(a), Some(seen)) = (&anchor, anchor_seen)
        && seen != a.hash
    {
        return Err(ScanError::Bad {
            seq: a.seq,
            reason: "does not match the hash recorded in ANCHOR (the record was replaced)".into(),
        });
    }
    Ok(outcome)
}

/// Where the live chain starts: seq 1, or (once segments were archived) after the record
/// `ANCHOR` names.
///
/// # Errors
/// [`ScanError::Bad`] when the beginning of the live journal is missing.
pub fn live_start(first: Option<&FirstRecord>, anchor: Option<&Head>) -> Result<Start, ScanError> {
    Ok(match (first, anchor) {
        (None, _) => Start::genesis(),
        (Some(f), _) if f.seq == 1 => Start::genesis(),
        (Some(f), None) => {
            return Err(ScanError::Bad {
                seq: 1,
                reason: format!(
                    "missing: the live journal begins at seq {} and has no ANCHOR (written whenever segments are archived): the records before it were removed",
                    f.seq
                ),
            });
        }
        (Some(f), Some(a)) => {
            let before = f.before();
            if before.seq > a.seq {
                return Err(ScanError::Bad {
                    seq: a.seq.saturating_add(1),
                    reason: format!(
                        "missing: ANCHOR says the live journal continues after seq {}, but its first record is seq {} (segments were removed)",
                        a.seq, f.seq
                    ),
                });
            }
            if before.seq == a.seq && before.hash != a.hash {
                return Err(ScanError::Bad {
                    seq: f.seq,
                    reason: "prev_hash does not match the hash recorded in ANCHOR (the records before it were replaced)".into(),
                });
            }
            before
        }
    })
}

/// `audit verify --archive`: the whole history from seq 1, the archived segments followed
/// by the live ones (a segment in both — a move cut short — is read from the live directory).
///
/// # Errors
/// [`ScanError::Bad`] naming the first bad sequence number, or I/O errors.
pub fn scan_with_archive(dir: &Path, archive: &Path) -> Result<ScanOutcome, ScanError> {
    let head = read_head(dir)?;
    let live = list_segments(dir)?;
    let first_live = live.first().map_or(u64::MAX, |s| s.number);
    let mut segments: Vec<Segment> = list_segments(archive)?
        .into_iter()
        .filter(|s| s.number < first_live)
        .collect();
    if segments.is_empty() && !archive.is_dir() {
        // Nothing archived yet (the directory is made by the first retention pass): the
        // live journal is the whole history, when it begins at seq 1.
        let begins_at = match live.first() {
            Some(first) => first_record(&first.path)?.map_or(1, |f| f.seq),
            None => 1,
        };
        if begins_at > 1 {
            return Err(ScanError::Io(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "archive directory {} does not exist, and the live journal begins at seq \
                     {begins_at}: point --archive at where its earlier segments were moved",
                    archive.display()
                ),
            )));
        }
    }
    segments.extend(live);
    scan_segments(
        &segments,
        Start::genesis(),
        head,
        Mode::VerifyLive,
        |_, _| {},
    )
}

/// Refuses a journal whose first record is not seq 1 when nothing explains the gap: records
/// were removed and no checkpoint carries the state they built.
fn missing_history_check(segments: &[Segment]) -> Result<(), ScanError> {
    let Some(first) = segments.first() else {
        return Ok(());
    };
    match first_record(&first.path)? {
        Some(f) if f.seq > 1 => Err(ScanError::Bad {
            seq: 1,
            reason: format!(
                "missing: the journal directory begins at seq {} in {} and no checkpoint follows the records before it (move the archived segments back)",
                f.seq,
                first.path.display()
            ),
        }),
        _ => Ok(()),
    }
}

/// What the first line of a segment says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstRecord {
    /// Its sequence number.
    pub seq: u64,
    /// The previous record's hash.
    pub prev_hash: String,
    /// When it was written.
    pub time: chrono::DateTime<chrono::Utc>,
    /// Whether it is a checkpoint.
    pub is_checkpoint: bool,
}

impl FirstRecord {
    /// Where a scan from this record starts: the record before it.
    pub fn before(&self) -> Start {
        Start {
            seq: self.seq.saturating_sub(1),
            hash: self.prev_hash.clone(),
        }
    }
}

/// The sequence number and hash of a segment's last record, read from its end; `None` when
/// its last line is not an intact record.
///
/// # Errors
/// I/O errors.
pub fn last_record(path: &Path) -> io::Result<Option<(u64, String)>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = fs::File::open(path)?;
    let len = file.metadata()?.len();
    let mut window = 64 * 1024u64;
    loop {
        let from = len.saturating_sub(window);
        file.seek(SeekFrom::Start(from))?;
        let mut tail = Vec::new();
        file.read_to_end(&mut tail)?;
        if tail.last() != Some(&b'\n') {
            return Ok(None);
        }
        let body = &tail[..tail.len() - 1];
        match body.iter().rposition(|b| *b == b'\n') {
            Some(p) => return Ok(decode(&body[p + 1..]).ok().map(|r| (r.seq, r.hash))),
            None if from == 0 => return Ok(decode(body).ok().map(|r| (r.seq, r.hash))),
            None => window = window.saturating_mul(4),
        }
    }
}

/// Reads and checks the first record of a segment; `None` when it has none intact.
///
/// # Errors
/// I/O errors.
pub fn first_record(path: &Path) -> io::Result<Option<FirstRecord>> {
    use std::io::BufRead;
    let file = fs::File::open(path)?;
    let mut reader = io::BufReader::with_capacity(64 * 1024, file);
    let mut line = Vec::new();
    reader.read_until(b'\n', &mut line)?;
    if line.last() != Some(&b'\n') {
        return Ok(None);
    }
    line.pop();
    Ok(decode(&line).ok().map(|r| FirstRecord {
        seq: r.seq,
        prev_hash: r.prev_hash,
        time: r.time,
        is_checkpoint: matches!(r.entry, crate::domain::events::Entry::Checkpoint(_)),
    }))
}

/// One line as the decoding thread saw it.
struct Line {
    /// Index of its segment in the scan.
    segment: usize,
    /// Byte offset of the line in its segment.
    offset: usize,
    /// The line, decoded and its own hash checked; `Err` with why not.
    record: Result<Record, String>,
    /// For a bad line: whether it is the tail of the last segment with no intact record
    /// after it and not a hash mismatch (a write cut short by a crash).
    torn: bool,
    /// For a bad line: whether it has no line end (the end of its segment came first).
    unterminated: bool,
    /// Bytes from the line to the end of its segment.
    rest: usize,
    /// The line's length, without its line end.
    len: usize,
}

/// What the decoding thread sends.
enum Decoded {
    Lines(Vec<Line>),
    /// A segment was read to its end (its length).
    SegmentEnd(usize, u64),
    Failed(io::Error),
}

/// Reads and decodes every line of `segments` in order, in batches (the decoding thread of
/// [`scan_segments`]). Stops at the first bad line, after sending it.
fn decode_segments(segments: &[Segment], tx: &std::sync::mpsc::SyncSender<Decoded>) {
    const BATCH: usize = 1024;
    let last_index = segments.len().saturating_sub(1);
    for (index, segment) in segments.iter().enumerate() {
        let data = match fs::read(&segment.path) {
            Ok(d) => d,
            Err(e) => {
                let _ = tx.send(Decoded::Failed(e));
                return;
            }
        };
        let mut batch = Vec::with_capacity(BATCH);
        let mut offset = 0usize;
        while offset < data.len() {
            let end = data[offset..]
                .iter()
                .position(|b| *b == b'\n')
                .map(|p| offset + p);
            let line = &data[offset..end.unwrap_or(data.len())];
            let result = match end {
                None => Err(None),
                Some(_) => decode(line).map_err(Some),
            };
            match result {
                Ok(record) => batch.push(Line {
                    segment: index,
                    offset,
                    record: Ok(record),
                    torn: false,
                    unterminated: false,
                    rest: data.len() - offset,
                    len: line.len(),
                }),
                Err(error) => {
                    let reason = match &error {
                        None => "the last record is cut short (no line end)".to_owned(),
                        Some(LineError::HashMismatch) => {
                            "hash mismatch: the record was changed after it was written".to_owned()
                        }
                        Some(LineError::Malformed(m)) => format!("unreadable record: {m}"),
                    };
                    let torn = index == last_index
                        && !later_record_exists(&data, end)
                        && !matches!(error, Some(LineError::HashMismatch));
                    batch.push(Line {
                        segment: index,
                        offset,
                        record: Err(format!("{reason} in {}", segment.path.display())),
                        torn,
                        unterminated: end.is_none(),
                        rest: data.len() - offset,
                        len: line.len(),
                    });
                    let _ = tx.send(Decoded::Lines(batch));
                    return;
                }
            }
            if batch.len() == BATCH
                && tx
                    .send(Decoded::Lines(std::mem::replace(
                        &mut batch,
                        Vec::with_capacity(BATCH),
                    )))
                    .is_err()
            {
                return;
            }
            offset = end.map_or(data.len(), |e| e + 1);
        }
        if !batch.is_empty() && tx.send(Decoded::Lines(batch)).is_err() {
            return;
        }
        if tx
            .send(Decoded::SegmentEnd(index, data.len() as u64))
            .is_err()
        {
            return;
        }
    }
}

/// Scans `segments` in order from `start`, calling `visit` for every intact record. One
/// thread reads, decodes and hashes lines while the caller's thread checks the chain and
/// visits (recovery is CPU-bound; this halves it on two cores).
///
/// # Errors
/// [`ScanError::Bad`] naming the first bad sequence number, or I/O errors.
pub fn scan_segments(
    segments: &[Segment],
    start: Start,
    head: Option<Head>,
    mode: Mode,
    mut visit: impl FnMut(Record, Location),
) -> Result<ScanOutcome, ScanError> {
    let first_seq = start.seq.saturating_add(1);
    let mut seq = start.seq;
    let mut hash = start.hash;
    let mut records = 0u64;
    let mut head_hash_seen: Option<String> = None;
    let mut torn_tail = None;
    let mut last_segment_len = 0;
    let last_index = segments.len().saturating_sub(1);
    let (tx, rx) = std::sync::mpsc::sync_channel(16);
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("journal-scan".into())
            .spawn_scoped(scope, move || decode_segments(segments, &tx))?;
        // Owned here: leaving early drops it, which ends the decoding thread's sends.
        let rx = rx;
        'scan: for message in &rx {
            let lines = match message {
                Decoded::Failed(e) => return Err(ScanError::Io(e)),
                Decoded::SegmentEnd(index, len) => {
                    if index == last_index {
                        last_segment_len = len;
                    }
                    continue;
                }
                Decoded::Lines(lines) => lines,
            };
            for line in lines {
                let Some(expected) = seq.checked_add(1) else {
                    return Err(ScanError::Bad {
                        seq,
                        reason: "a record after the largest possible seq".into(),
                    });
                };
                let record = match line.record {
                    Ok(r) => r,
                    Err(reason) => {
                        let unfinished = mode == Mode::VerifyLive && line.unterminated;
                        if line.torn && (mode == Mode::Recover || unfinished) {
                            let path = segments[line.segment].path.clone();
                            torn_tail = Some(TornTail {
                                path,
                                offset: line.offset as u64,
                                bytes: line.rest as u64,
                            });
                            last_segment_len = line.offset as u64;
                            break 'scan;
                        }
                        return Err(ScanError::Bad {
                            seq: expected,
                            reason,
                        });
                    }
                };
                if record.seq != expected {
                    let reason = if record.seq > expected {
                        format!(
                            "missing (found seq {} after seq {seq}: a record was deleted or moved)",
                            record.seq
                        )
                    } else {
                        format!("out of order (found seq {} after seq {seq})", record.seq)
                    };
                    return Err(ScanError::Bad {
                        seq: expected,
                        reason,
                    });
                }
                if record.prev_hash != hash {
                    return Err(ScanError::Bad {
                        seq: expected,
                        reason: "prev_hash does not match the previous record (records were removed or reordered)".into(),
                    });
                }
                if head.as_ref().is_some_and(|h| h.seq == record.seq) {
                    head_hash_seen = Some(record.hash.clone());
                }
                seq = record.seq;
                records += 1;
                hash.clone_from(&record.hash);
                let at = Location {
                    segment: segments[line.segment].number,
                    offset: line.offset as u64,
                    len: u32::try_from(line.len).unwrap_or(u32::MAX),
                };
                visit(record, at);
            }
        }
        Ok(())
    })?;
    // A HEAD behind the first record scanned (a crash right after a checkpoint) names a
    // record this scan does not read; it cannot lead the journal, which is what it guards.
    if let Some(h) = head.filter(|h| h.seq >= first_seq) {
        if seq < h.seq {
            let cut_short = if torn_tail.is_some() {
                "; the last record is cut short"
            } else {
                ""
            };
            return Err(ScanError::Bad {
                seq: seq.saturating_add(1),
                reason: format!(
                    "missing: the journal HEAD says seq {} was written, but the journal ends at seq {seq} (records were cut from the end{cut_short})",
                    h.seq
                ),
            });
        }
        if head_hash_seen.as_deref() != Some(h.hash.as_str()) {
            return Err(ScanError::Bad {
                seq: h.seq,
                reason: "does not match the hash recorded in HEAD (the record was replaced)".into(),
            });
        }
    }
    Ok(ScanOutcome {
        records,
        first_seq,
        last_seq: seq,
        last_hash: hash,
        segments: segments.to_vec(),
        last_segment_len,
        torn_tail,
    })
}

/// Whether an intact record follows the bad line starting at `offset`.
fn later_record_exists(data: &[u8], end: Option<usize>) -> bool {
    let Some(end) = end else { return false };
    data[end + 1..]
        .split(|b| *b == b'\n')
        .any(|line| decode(line).is_ok())
}
