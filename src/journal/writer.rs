//! The writer: one OS thread that owns the open segment, takes every queued append, writes
//! them with one `write` and one `fdatasync` (group commit), then answers each waiting
//! caller. Nobody is answered before their record is on disk.
//!
//! A failed write or sync (disk full, I/O error) cuts the file back to the last durable
//! byte and answers the whole batch with an error (HTTP 503 upstream); if even the cut fails
//! the journal turns broken and refuses every append until restart.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, SubsecRound, Utc};
use tokio::sync::{mpsc, oneshot};

use super::JournalError;
use super::codec::{Draft, Record, encode_into};
use super::recovery::JournalState;
use super::scan::{HEAD_FILE, segment_path};
use crate::domain::delivery::Location;
use crate::domain::events::Entry;
use crate::telemetry::metrics::Metrics;

/// A durable append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// Its sequence number.
    pub seq: u64,
    /// Its hash.
    pub hash: String,
    /// Its `time` (microseconds, as stored).
    pub time: DateTime<Utc>,
    /// Where its line lies (`None` in the shared journal: an owed event is held in memory
    /// and read back from the database by whichever replica claims it).
    pub at: Option<Location>,
    /// Whether this replica owes the delivery the record makes owed, if any (the shared
    /// journal leaves a new owed event to another replica when this one holds as many as it
    /// keeps). Always true in the file journal.
    pub owned: bool,
}

/// Longest time `HEAD` may lag the journal while appends continue (when they stop, a tick
/// brings it up to date within about twice this).
pub const HEAD_INTERVAL: std::time::Duration = std::time::Duration::from_millis(250);

pub(super) enum Msg {
    Append {
        draft: Box<Draft>,
        reply: oneshot::Sender<Result<Appended, JournalError>>,
        submitted: Instant,
    },
    Checkpoint {
        reply: oneshot::Sender<Result<Appended, JournalError>>,
    },
    Close {
        reply: oneshot::Sender<()>,
    },
    /// Sent every [`HEAD_INTERVAL`]: rewrite `HEAD` if it lags and was not rewritten since.
    Tick,
}

/// When and how the writer checkpoints and archives.
pub(super) struct Retention {
    /// The state every record so far builds, kept current by applying each commit.
    pub state: JournalState,
    /// `journal.checkpoint_interval`.
    pub interval: std::time::Duration,
    /// When the next checkpoint is due (`None`: never).
    pub next: Option<Instant>,
    /// Records in `state` at the last checkpoint.
    pub records_at_checkpoint: u64,
    /// `journal.dedupe_window`.
    pub dedupe_window: std::time::Duration,
    /// `journal.dedupe_max_keys`.
    pub dedupe_max_keys: usize,
    /// `journal.retention`.
    pub retention: std::time::Duration,
    /// `journal.archive_dir` (`None`: delete).
    pub archive_dir: Option<PathBuf>,
    /// Whether an archiving pass is running.
    pub archiving: Arc<AtomicBool>,
    /// The latest archiving thread (joined at close, so none outlives the journal's lock).
    pub archiver: Option<std::thread::JoinHandle<()>>,
    /// Set at close: an archiving pass stops after the segment it is moving.
    pub stop: Arc<AtomicBool>,
}

/// Clears the "archiving" flag however the archiving thread ends (a panic included).
struct DoneArchiving(Arc<AtomicBool>);

impl Drop for DoneArchiving {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

pub(super) struct Writer {
    pub dir: PathBuf,
    pub file: File,
    pub segment: u64,
    pub size: u64,
    pub seq: u64,
    pub prev_hash: String,
    pub max_segment_bytes: u64,
    pub max_batch: usize,
    pub broken: Option<String>,
    pub metrics: Metrics,
    /// When `HEAD` was last rewritten, and whether it lags the journal.
    pub head_written: Option<Instant>,
    pub head_stale: bool,
    /// The batch being written, reused from commit to commit.
    pub buffer: Vec<u8>,
    /// Checkpoints and archiving.
    pub retention: Retention,
    /// Shared with the handles: set while writes fail.
    pub failing: Arc<AtomicBool>,
    /// Held for the writer's lifetime: one process per journal directory.
    pub _lock: File,
}

type Reply = (oneshot::Sender<Result<Appended, JournalError>>, Instant);

/// A group that is on disk.
struct Written {
    results: Vec<Appended>,
    /// The time every record of the group carries.
    time: DateTime<Utc>,
    /// The hash before the group's first record.
    first_prev: String,
}

impl Writer {
    pub(super) fn run(mut self, mut rx: mpsc::Receiver<Msg>) {
        let mut drafts: Vec<Draft> = Vec::with_capacity(self.max_batch);
        let mut replies: Vec<Reply> = Vec::with_capacity(self.max_batch);
        while let Some(first) = rx.blocking_recv() {
            if matches!(first, Msg::Tick) {
                if self
                    .head_written
                    .is_none_or(|t| t.elapsed() >= HEAD_INTERVAL)
                {
                    self.update_head();
                }
                continue;
            }
            let mut close = None;
            let mut next = Some(first);
            while let Some(msg) = next.take() {
                match msg {
                    Msg::Append {
                        draft,
                        reply,
                        submitted,
                    } => {
                        drafts.push(*draft);
                        replies.push((reply, submitted));
                    }
                    Msg::Checkpoint { reply } => {
                        if !drafts.is_empty() {
                            self.commit(&drafts, &mut replies);
                            drafts.clear();
                        }
                        let _ = reply.send(self.checkpoint());
                    }
                    Msg::Close { reply } => {
                        close = Some(reply);
                        break;
                    }
                    // Among appends: the commit path keeps HEAD current.
                    Msg::Tick => {}
                }
                if drafts.len() < self.max_batch {
                    next = rx.try_recv().ok();
                }
            }
            if !drafts.is_empty() {
                self.commit(&drafts, &mut replies);
                drafts.clear();
            }
            if close.is_none()
                && self.checkpoint_due()
                && let Err(e) = self.checkpoint()
            {
                tracing::error!(error = %e, "Cannot write a journal checkpoint; start-up keeps reading from the previous one.");
            }
            if let Some(reply) = close {
                // Answer anything still queued, release the file and the lock, then confirm:
                // whoever awaited the close can reopen the journal at once.
                rx.close();
                while let Ok(msg) = rx.try_recv() {
                    if let Msg::Append { reply, .. } = msg {
                        let _ = reply.send(Err(JournalError::Closed));
                    }
                }
                self.update_head();
                self.stop_archiving();
                drop(self);
                tracing::debug!("Journal closed.");
                let _ = reply.send(());
                return;
            }
        }
        // Every handle dropped without a close.
        self.update_head();
        self.stop_archiving();
    }

    /// Asks a running archiving pass to stop after the segment it is moving, and waits.
    fn stop_archiving(&mut self) {
        self.retention.stop.store(true, Ordering::Release);
        if let Some(archiver) = self.retention.archiver.take() {
            let _ = archiver.join();
        }
    }

    fn commit(&mut self, drafts: &[Draft], replies: &mut Vec<Reply>) {
        if let Some(why) = &self.broken {
            for (reply, _) in replies.drain(..) {
                let _ = reply.send(Err(JournalError::Broken(why.clone())));
            }
            return;
        }
        match self.write(drafts) {
            Ok(written) => {
                self.metrics
                    .journal_records
                    .inc_by(written.results.len() as u64);
                for ((reply, submitted), appended) in replies.drain(..).zip(&written.results) {
                    self.metrics
                        .journal_append_seconds
                        .observe(submitted.elapsed().as_secs_f64());
                    let _ = reply.send(Ok(appended.clone()));
                }
                // After the answers: nobody waits for the kept state.
                self.keep(drafts, written);
                if self.size >= self.max_segment_bytes {
                    self.rotate();
                }
            }
            Err(e) => {
                for (reply, _) in replies.drain(..) {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }

    /// Writes and syncs `drafts` as one group. On failure the file is cut back to its last
    /// durable byte and nothing counts.
    fn write(&mut self, drafts: &[Draft]) -> Result<Written, JournalError> {
        // Microseconds: what the line stores, so the kept state equals a rescan's.
        let now = Utc::now().trunc_subsecs(6);
        let mut buf = std::mem::take(&mut self.buffer);
        buf.clear();
        let mut results = Vec::with_capacity(drafts.len());
        let mut seq = self.seq;
        let mut prev = self.prev_hash.clone();
        for draft in drafts {
            seq += 1;
            let start = buf.len();
            let hash = encode_into(&mut buf, seq, now, &prev, draft);
            // The line without its line end.
            let len = (buf.len() - start).saturating_sub(1);
            results.push(Appended {
                seq,
                hash: hash.clone(),
                time: now,
                owned: true,
                at: Some(Location {
                    segment: self.segment,
                    offset: self.size + start as u64,
                    len: u32::try_from(len).unwrap_or(u32::MAX),
                }),
            });
            prev = hash;
        }
        let written = self
            .file
            .write_all(&buf)
            .and_then(|()| self.file.sync_data());
        let len = buf.len() as u64;
        // A huge batch (a large checkpoint) does not keep its buffer.
        if buf.capacity() <= 8 << 20 {
            self.buffer = buf;
        }
        self.failing.store(written.is_err(), Ordering::Relaxed);
        if let Err(e) = written {
            tracing::error!(error = %e, records = drafts.len(), "Journal write failed; nothing in this batch is acknowledged.");
            if let Err(cut) = self.file.set_len(self.size) {
                let why = format!(
                    "write failed ({e}) and the partial write could not be removed ({cut})"
                );
                tracing::error!(reason = %why, "The journal is broken until restart.");
                self.broken = Some(why);
                self.failing.store(true, Ordering::Relaxed);
            }
            return Err(JournalError::Io(Arc::new(e)));
        }
        self.size += len;
        let first_prev = std::mem::replace(&mut self.prev_hash, prev);
        self.seq = seq;
        self.head_stale = true;
        if self
            .head_written
            .is_none_or(|t| t.elapsed() >= HEAD_INTERVAL)
        {
            self.update_head();
        }
        Ok(Written {
            results,
            time: now,
            first_prev,
        })
    }

    /// Applies written records to the kept state (what the next checkpoint holds).
    fn keep(&mut self, drafts: &[Draft], written: Written) {
        let mut prev_hash = written.first_prev;
        for (draft, appended) in drafts.iter().zip(written.results) {
            if matches!(draft.entry, Entry::Checkpoint(_)) {
                // The kept state is what the checkpoint holds.
                self.retention.state.records += 1;
            } else {
                self.retention.state.apply(
                    Record {
                        seq: appended.seq,
                        time: written.time,
                        prev_hash,
                        source: draft.source.clone(),
                        outcome: draft.outcome.clone(),
                        entry: draft.entry.clone(),
                        hash: appended.hash.clone(),
                    },
                    appended.at.unwrap_or_default(),
                );
            }
            prev_hash = appended.hash;
        }
    }

    fn checkpoint_due(&self) -> bool {
        let r = &self.retention;
        let since = r.state.records.saturating_sub(r.records_at_checkpoint);
        self.broken.is_none()
            && since > 0
            && (r.next.is_some_and(|t| Instant::now() >= t)
                || since > super::CHECKPOINT_EVERY_RECORDS)
    }

    /// Starts a new segment with a checkpoint record, then archives what retention allows.
    fn checkpoint(&mut self) -> Result<Appended, JournalError> {
        if let Some(why) = &self.broken {
            return Err(JournalError::Broken(why.clone()));
        }
        let r = &mut self.retention;
        r.next = Instant::now().checked_add(r.interval);
        if self.size > 0 {
            // The checkpoint begins its segment: start-up finds it by reading first lines,
            // and every segment before it can be archived whole.
            let next = self.segment + 1;
            let file = open_segment(&self.dir, next).map_err(|e| JournalError::Io(Arc::new(e)))?;
            self.file = file;
            self.segment = next;
            self.size = 0;
        }
        let now = Utc::now();
        self.drop_lost_dead_letters();
        let r = &mut self.retention;
        r.state
            .prune_dedupe(now, r.dedupe_window, r.dedupe_max_keys);
        let checkpoint = r.state.checkpoint(now, r.dedupe_window);
        let draft = Draft {
            source: "journal".into(),
            outcome: "checkpoint".into(),
            entry: Entry::Checkpoint(Box::new(checkpoint)),
        };
        let drafts = std::slice::from_ref(&draft);
        let written = self.write(drafts)?;
        let appended = written.results[0].clone();
        self.keep(drafts, written);
        self.retention.records_at_checkpoint = self.retention.state.records;
        tracing::info!(
            seq = appended.seq,
            segment = self.segment,
            pending = self.retention.state.pending.len(),
            dedupe = self.retention.state.dedupe.len(),
            "Journal checkpoint written."
        );
        self.spawn_archive();
        Ok(appended)
    }

    /// Drops dead letters whose record is gone from the journal directory (a segment removed
    /// by hand): they can no longer be replayed, and would keep every later segment from
    /// being archived. The others stay as references, so their segments stay until they are
    /// replayed and delivered: a coaching platform that refuses everything costs disk, which
    /// the journal keeps anyway, not memory.
    fn drop_lost_dead_letters(&mut self) {
        let dir = self.dir.clone();
        let mut present = std::collections::HashMap::new();
        self.retention.state.dead_letters.retain(|id, d| {
            let Some(segment) = d.body.segment() else {
                return true;
            };
            let here = *present
                .entry(segment)
                .or_insert_with(|| segment_path(&dir, segment).exists());
            if !here {
                tracing::error!(event_id = %id, segment, "A dead letter's record is gone from the journal; it can no longer be replayed and is dropped from the dead letters.");
            }
            here
        });
    }

    /// Runs an archiving pass on its own thread (segments before a checkpoint are never
    /// written again), one at a time.
    pub(super) fn spawn_archive(&mut self) {
        let r = &self.retention;
        if r.archiving.swap(true, Ordering::AcqRel) {
            return;
        }
        let guard = DoneArchiving(r.archiving.clone());
        let keep_from = r.state.oldest_segment_owed();
        let (dir, archive, retention, stop) = (
            self.dir.clone(),
            r.archive_dir.clone(),
            r.retention,
            r.stop.clone(),
        );
        let spawned = std::thread::Builder::new()
            .name("journal-archive".into())
            .spawn(move || {
                let _guard = guard;
                match super::archive::archive_until(
                    &dir,
                    archive.as_deref(),
                    Utc::now(),
                    retention,
                    keep_from,
                    &stop,
                ) {
                    Ok(done) if done.segments > 0 => tracing::info!(
                        segments = done.segments,
                        bytes = done.bytes,
                        live_from_seq = done.live_from,
                        deleted = done.deleted,
                        "Journal segments past retention left the journal directory."
                    ),
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "Cannot archive old journal segments; the next checkpoint tries again."),
                }
            });
        // A thread that could not start dropped the guard with its closure.
        if let Ok(handle) = spawned
            && let Some(previous) = self.retention.archiver.replace(handle)
        {
            let _ = previous.join();
        }
    }

    /// Rewrites `HEAD` if it lags. Rate-limited to [`HEAD_INTERVAL`] on the commit path:
    /// each rewrite is a new inode and a rename, metadata that every following `fdatasync`
    /// would have to commit too.
    fn update_head(&mut self) {
        if !self.head_stale {
            return;
        }
        match write_head(&self.dir, self.seq, &self.prev_hash) {
            Ok(()) => {
                self.head_stale = false;
                self.head_written = Some(Instant::now());
            }
            Err(e) => tracing::error!(error = %e, "Cannot update the journal HEAD anchor."),
        }
    }

    fn rotate(&mut self) {
        let next = self.segment + 1;
        match open_segment(&self.dir, next) {
            Ok(file) => {
                tracing::info!(segment = next, "Journal segment rotated.");
                self.file = file;
                self.segment = next;
                self.size = 0;
            }
            Err(e) => {
                tracing::error!(error = %e, segment = next, "Cannot start a new journal segment; continuing the current one.");
            }
        }
    }
}

/// Opens (creating if needed) a segment for appending, and makes its directory entry durable.
pub(super) fn open_segment(dir: &Path, number: u64) -> std::io::Result<File> {
    let file = crate::domain::files::private_options()
        .create(true)
        .append(true)
        .open(segment_path(dir, number))?;
    sync_dir(dir)?;
    Ok(file)
}

/// fsync on the directory, so new entries (segments, renames) survive a crash.
pub(super) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Rewrites `HEAD` (`<seq> <hash>`) atomically. It is written after the records it names
/// are durable, so after a crash it can lag the journal but never lead it.
pub(super) fn write_head(dir: &Path, seq: u64, hash: &str) -> std::io::Result<()> {
    let tmp = dir.join(format!("{HEAD_FILE}.tmp"));
    crate::domain::files::write_private(&tmp, format!("{seq} {hash}\n").as_bytes())?;
    std::fs::rename(tmp, dir.join(HEAD_FILE))?;
    sync_dir(dir)
}
