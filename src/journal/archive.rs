//! Retention: segments that lie before a checkpoint and whose records are all older than
//! `journal.retention` leave the journal directory — moved to `journal.archive_dir`, or
//! deleted when it is empty.
//!
//! Only whole runs of segments before a checkpoint segment go, so the live journal always
//! begins with seq 1 or with a checkpoint (which carries every owed delivery and dedupe key
//! the archived records built). `ANCHOR` (`<seq> <hash>` of the last record leaving) is
//! written before anything moves: after a crash part-way the live directory merely holds some
//! segments the anchor already counts as archived, which the next pass moves.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeDelta, Utc};

use super::scan::{
    ANCHOR_FILE, Mode, ScanError, first_record, list_segments, live_start, read_anchor,
    scan_segments,
};
use super::writer::sync_dir;

/// What an archiving pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Archived {
    /// Segments moved (or deleted).
    pub segments: usize,
    /// Their bytes.
    pub bytes: u64,
    /// The first sequence number left in the journal directory.
    pub live_from: u64,
    /// Whether they were deleted (no archive directory).
    pub deleted: bool,
}

/// Moves (or, with no `archive_dir`, deletes) the segments of `dir` that lie before a
/// checkpoint segment whose first record is older than `retention` at `now`, after
/// verifying them — except the segments owed deliveries and dead letters are still read
/// back from (found by reading the journal, as the writer knows them).
///
/// # Errors
/// I/O errors, and [`io::ErrorKind::InvalidData`] naming the first bad seq when what would
/// leave does not verify (nothing moves then); whatever moved before an I/O error stays
/// moved, and `ANCHOR` already counts it.
pub fn archive(
    dir: &Path,
    archive_dir: Option<&Path>,
    now: DateTime<Utc>,
    retention: std::time::Duration,
) -> io::Result<Archived> {
    let (_, state) = super::recover(dir)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
    archive_until(
        dir,
        archive_dir,
        now,
        retention,
        state.oldest_segment_owed(),
        &std::sync::atomic::AtomicBool::new(false),
    )
}

/// [`archive`], keeping segment `keep_from` and every later one (an owed delivery is read
/// back from it), and stopping between segments once `stop` is set (the journal is
/// closing); what is left is moved by the next pass.
///
/// # Errors
/// As [`archive`].
pub fn archive_until(
    dir: &Path,
    archive_dir: Option<&Path>,
    now: DateTime<Utc>,
    retention: std::time::Duration,
    keep_from: Option<u64>,
    stop: &std::sync::atomic::AtomicBool,
) -> io::Result<Archived> {
    let retention = TimeDelta::from_std(retention).unwrap_or(TimeDelta::MAX);
    let segments = list_segments(dir)?;
    // Oldest first: the last checkpoint segment whose checkpoint is older than retention
    // (every record before it is older still); stop at the first younger one.
    let mut cut = None;
    for (index, segment) in segments.iter().enumerate().skip(1) {
        let Some(first) = first_record(&segment.path)? else {
            continue;
        };
        if !first.is_checkpoint {
            continue;
        }
        if now.signed_duration_since(first.time) < retention
            || keep_from.is_some_and(|keep| segment.number > keep)
        {
            break;
        }
        cut = Some((index, first));
    }
    let Some((index, first)) = cut else {
        return Ok(Archived::default());
    };
    // What leaves is verified first: the chain from where the live journal begins up to the
    // checkpoint. A damaged stretch stays where `audit verify` can name it.
    let opening = first_record(&segments[0].path)?;
    let bad = |e: ScanError| io::Error::new(io::ErrorKind::InvalidData, e.to_string());
    let start = live_start(opening.as_ref(), read_anchor(dir)?.as_ref()).map_err(bad)?;
    let leaving =
        scan_segments(&segments[..index], start, None, Mode::Verify, |_, _| {}).map_err(bad)?;
    let before = first.before();
    if (leaving.last_seq, &leaving.last_hash) != (before.seq, &before.hash) {
        return Err(bad(ScanError::Bad {
            seq: first.seq,
            reason: format!(
                "the checkpoint does not follow seq {} (hash {}); not archiving",
                leaving.last_seq, leaving.last_hash
            ),
        }));
    }
    write_anchor(dir, leaving.last_seq, &leaving.last_hash)?;
    if let Some(archive) = archive_dir {
        crate::domain::files::create_private_dir(archive)?;
    }
    let mut done = Archived {
        live_from: first.seq,
        deleted: archive_dir.is_none(),
        ..Archived::default()
    };
    for segment in &segments[..index] {
        if stop.load(std::sync::atomic::Ordering::Acquire) {
            break;
        }
        let bytes = fs::metadata(&segment.path)?.len();
        match archive_dir {
            Some(archive) => move_file(&segment.path, archive)?,
            None => fs::remove_file(&segment.path)?,
        }
        done.segments += 1;
        done.bytes += bytes;
    }
    sync_dir(dir)?;
    if let Some(archive) = archive_dir {
        sync_dir(archive)?;
    }
    Ok(done)
}

/// Writes `ANCHOR` atomically and durably.
fn write_anchor(dir: &Path, seq: u64, hash: &str) -> io::Result<()> {
    let tmp = dir.join(format!("{ANCHOR_FILE}.tmp"));
    crate::domain::files::write_private(&tmp, format!("{seq} {hash}\n").as_bytes())?;
    fs::rename(tmp, dir.join(ANCHOR_FILE))?;
    sync_dir(dir)
}

/// Moves `path` into `archive`: a rename on the same file system, otherwise a copy to a
/// temporary name, fsync, rename into place, then removal of the original.
fn move_file(path: &Path, archive: &Path) -> io::Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "segment has no file name"))?;
    let target: PathBuf = archive.join(name);
    match fs::rename(path, &target) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::CrossesDevices => {}
        Err(e) => return Err(e),
    }
    let tmp = archive.join(format!("{}.tmp", name.to_string_lossy()));
    fs::copy(path, &tmp)?;
    fs::File::open(&tmp)?.sync_all()?;
    fs::rename(&tmp, &target)?;
    sync_dir(archive)?;
    fs::remove_file(path)
}
