//! Reading the journal back: segment listing, the `HEAD` anchor, and a scan that checks
//! every record's hash, its link to the previous record and the sequence numbers. Used by
//! start-up recovery and by `audit verify`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::codec::{GENESIS, LineError, Record, decode};

/// File name prefix and suffix of segments: `segment-00000001.jsonl`.
pub const SEGMENT_PREFIX: &str = "segment-";
/// Segment suffix.
pub const SEGMENT_SUFFIX: &str = ".jsonl";
/// The tail anchor: `<seq> <hash>` of the last durable record, rewritten after each commit.
pub const HEAD_FILE: &str = "HEAD";

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
        if !fs::symlink_metadata(entry.path())?.file_type().is_file() {
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
    let text = match fs::read_to_string(dir.join(HEAD_FILE)) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut parts = text.split_whitespace();
    let (Some(seq), Some(hash)) = (parts.next().and_then(|s| s.parse().ok()), parts.next()) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "HEAD is not `<seq> <hash>`",
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
    /// `audit verify`: a cut-short last record is an error.
    Verify,
    /// Start-up: a cut-short tail (a crash during a write that was never acknowledged) is
    /// reported for truncation.
    Recover,
}

/// A torn tail found by a [`Mode::Recover`] scan.
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
    /// Intact records.
    pub records: u64,
    /// Last sequence number (0 if empty).
    pub last_seq: u64,
    /// Last hash ([`GENESIS`] if empty).
    pub last_hash: String,
    /// Segments read.
    pub segments: Vec<Segment>,
    /// Size of the last segment up to the end of its last intact record.
    pub last_segment_len: u64,
    /// A torn tail to cut (recover mode only).
    pub torn_tail: Option<TornTail>,
}

/// Scans the whole journal in `dir`, calling `visit` for every intact record in order.
///
/// # Errors
/// [`ScanError::Bad`] naming the first bad sequence number, or I/O errors.
pub fn scan(
    dir: &Path,
    mode: Mode,
    mut visit: impl FnMut(Record),
) -> Result<ScanOutcome, ScanError> {
    let head = read_head(dir)?;
    let segments = list_segments(dir)?;
    let mut seq = 0u64;
    let mut hash = GENESIS.to_owned();
    let mut head_hash_seen: Option<String> = None;
    let mut torn_tail = None;
    let mut last_segment_len = 0;
    let last_index = segments.len().saturating_sub(1);
    for (index, segment) in segments.iter().enumerate() {
        let data = fs::read(&segment.path)?;
        let mut offset = 0usize;
        let is_last = index == last_index;
        while offset < data.len() {
            let end = data[offset..]
                .iter()
                .position(|b| *b == b'\n')
                .map(|p| offset + p);
            let line = &data[offset..end.unwrap_or(data.len())];
            let expected = seq + 1;
            let record = match (end, decode(line)) {
                (Some(_), Ok(r)) => r,
                (end, result) => {
                    let reason = match (end, &result) {
                        (None, _) => "the last record is cut short (no line end)".to_owned(),
                        (_, Err(LineError::HashMismatch)) => {
                            "hash mismatch: the record was changed after it was written".to_owned()
                        }
                        (_, Err(LineError::Malformed(m))) => format!("unreadable record: {m}"),
                        (_, Ok(_)) => unreachable!(),
                    };
                    let rest_is_debris = is_last && !later_record_exists(&data, end);
                    if mode == Mode::Recover
                        && rest_is_debris
                        && !matches!(result, Err(LineError::HashMismatch))
                    {
                        torn_tail = Some(TornTail {
                            path: segment.path.clone(),
                            offset: offset as u64,
                            bytes: (data.len() - offset) as u64,
                        });
                        break;
                    }
                    return Err(ScanError::Bad {
                        seq: expected,
                        reason: format!("{reason} in {}", segment.path.display()),
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
            hash.clone_from(&record.hash);
            visit(record);
            offset = end.map_or(data.len(), |e| e + 1);
        }
        if is_last {
            last_segment_len = torn_tail.as_ref().map_or(data.len() as u64, |t| t.offset);
        }
    }
    if let Some(h) = head {
        if seq < h.seq {
            return Err(ScanError::Bad {
                seq: seq + 1,
                reason: format!(
                    "missing: the journal HEAD says seq {} was written, but the journal ends at seq {seq} (records were cut from the end)",
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
        records: seq,
        last_seq: seq,
        last_hash: hash,
        segments,
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
