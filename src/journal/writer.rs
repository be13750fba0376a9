//! The writer: one OS thread that owns the open segment, takes every queued append, writes
//! them with one `write` and one `fdatasync` (group commit), then answers each waiting
//! caller. Nobody is answered before their record is on disk.
//!
//! A failed write or sync (disk full, I/O error) cuts the file back to the last durable
//! byte and answers the whole batch with an error (HTTP 503 upstream); if even the cut fails
//! the journal turns broken and refuses every append until restart.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::Utc;
use tokio::sync::{mpsc, oneshot};

use super::JournalError;
use super::codec::{Draft, encode_into};
use super::scan::{HEAD_FILE, segment_path};
use crate::telemetry::metrics::Metrics;

/// A durable append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// Its sequence number.
    pub seq: u64,
    /// Its hash.
    pub hash: String,
}

/// Longest time `HEAD` may lag the journal while appends continue.
pub const HEAD_INTERVAL: std::time::Duration = std::time::Duration::from_millis(250);

pub(super) enum Msg {
    Append {
        draft: Box<Draft>,
        reply: oneshot::Sender<Result<Appended, JournalError>>,
        submitted: Instant,
    },
    Close {
        reply: oneshot::Sender<()>,
    },
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
    /// Held for the writer's lifetime: one process per journal directory.
    pub _lock: File,
}

type Reply = (oneshot::Sender<Result<Appended, JournalError>>, Instant);

impl Writer {
    pub(super) fn run(mut self, mut rx: mpsc::Receiver<Msg>) {
        let mut drafts: Vec<Draft> = Vec::with_capacity(self.max_batch);
        let mut replies: Vec<Reply> = Vec::with_capacity(self.max_batch);
        while let Some(first) = rx.blocking_recv() {
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
                    Msg::Close { reply } => {
                        close = Some(reply);
                        break;
                    }
                }
                if drafts.len() < self.max_batch {
                    next = rx.try_recv().ok();
                }
            }
            if !drafts.is_empty() {
                self.commit(&drafts, &mut replies);
                drafts.clear();
            }
            if let Some(reply) = close {
                // Answer anything still queued, release the file and the lock, then confirm:
                // whoever awaited the close can reopen the journal at once.
                rx.close();
                while let Ok(Msg::Append { reply, .. }) = rx.try_recv() {
                    let _ = reply.send(Err(JournalError::Closed));
                }
                self.update_head();
                drop(self);
                tracing::debug!("Journal closed.");
                let _ = reply.send(());
                return;
            }
        }
    }

    fn commit(&mut self, drafts: &[Draft], replies: &mut Vec<Reply>) {
        if let Some(why) = &self.broken {
            for (reply, _) in replies.drain(..) {
                let _ = reply.send(Err(JournalError::Broken(why.clone())));
            }
            return;
        }
        let now = Utc::now();
        let mut buf = std::mem::take(&mut self.buffer);
        buf.clear();
        let mut results = Vec::with_capacity(drafts.len());
        let mut seq = self.seq;
        let mut prev = self.prev_hash.clone();
        for draft in drafts {
            seq += 1;
            let hash = encode_into(&mut buf, seq, now, &prev, draft);
            results.push(Appended {
                seq,
                hash: hash.clone(),
            });
            prev = hash;
        }
        let written = self
            .file
            .write_all(&buf)
            .and_then(|()| self.file.sync_data());
        let len = buf.len() as u64;
        self.buffer = buf;
        match written {
            Ok(()) => {
                self.size += len;
                self.seq = seq;
                self.prev_hash = prev;
                self.head_stale = true;
                if self
                    .head_written
                    .is_none_or(|t| t.elapsed() >= HEAD_INTERVAL)
                {
                    self.update_head();
                }
                self.metrics.journal_records.inc_by(results.len() as u64);
                for ((reply, submitted), appended) in replies.drain(..).zip(results) {
                    self.metrics
                        .journal_append_seconds
                        .observe(submitted.elapsed().as_secs_f64());
                    let _ = reply.send(Ok(appended));
                }
                if self.size >= self.max_segment_bytes {
                    self.rotate();
                }
            }
            Err(e) => {
                tracing::error!(error = %e, records = drafts.len(), "Journal write failed; nothing in this batch is acknowledged.");
                if let Err(cut) = self.file.set_len(self.size) {
                    let why = format!(
                        "write failed ({e}) and the partial write could not be removed ({cut})"
                    );
                    tracing::error!(reason = %why, "The journal is broken until restart.");
                    self.broken = Some(why);
                }
                let shared = std::sync::Arc::new(e);
                for (reply, _) in replies.drain(..) {
                    let _ = reply.send(Err(JournalError::Io(shared.clone())));
                }
            }
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
    let file = OpenOptions::new()
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
    std::fs::write(&tmp, format!("{seq} {hash}\n"))?;
    std::fs::rename(tmp, dir.join(HEAD_FILE))
}
