//! The append-only, hash-chained JSONL audit journal — also the outbox of the forwarder.
//!
//! Promises (see `docs/guarantees.md`):
//! - [`Journal::append`] returns only once the record is on disk (fsync, shared by a group
//!   commit); if it cannot be written the caller gets an error and nothing is acknowledged.
//! - Every record carries `seq`, `prev_hash` and `hash`; [`verify`] names the first bad
//!   `seq` after any edit, deletion, reordering or truncation (the `HEAD` anchor catches
//!   records cut from the end).
//! - [`Journal::open`] takes an exclusive lock, cuts a torn tail left by a crash, checks the
//!   chain, and rebuilds the owed deliveries, dead letters and dedupe set.
//!
//! - Every `journal.checkpoint_interval` (or [`CHECKPOINT_EVERY_RECORDS`] records) a new
//!   segment starts with a checkpoint record (the state a restart needs); start-up reads the
//!   newest checkpoint and what follows it, and
//!   segments before a checkpoint that are older than `journal.retention` are archived.
//!
//! Layout: `codec` (line format and hashing), `writer` (group commit thread), `scan`
//! (reading and verifying), `recovery` (what start-up rebuilds), `read` (an owed event read
//! back), `archive` (retention).

pub mod archive;
pub mod codec;
pub mod postgres;
pub mod read;
pub mod recovery;
pub mod scan;
pub mod writer;

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};

use crate::config::JournalSettings;
use crate::telemetry::metrics::Metrics;

pub use crate::domain::events::Entry;
pub use codec::{Draft, Record};
pub use recovery::JournalState;
pub use scan::{Mode, ScanError, ScanOutcome};
pub use writer::Appended;

/// Appends queued for the writer at most; beyond, callers wait (or the intake sheds).
pub const QUEUE_CAPACITY: usize = 65_536;

/// A start-up that read more records than this writes a checkpoint with the first commit.
pub const EARLY_CHECKPOINT_RECORDS: u64 = 100_000;
/// A checkpoint is also written once more than this many records followed the last one, however
/// long `journal.checkpoint_interval` is: start-up never reads more than about this many.
pub const CHECKPOINT_EVERY_RECORDS: u64 = 1_000_000;

/// Name of the lock file inside the journal directory.
pub const LOCK_FILE: &str = "LOCK";

/// Why the journal cannot do what was asked.
#[derive(Debug, Clone, thiserror::Error)]
pub enum JournalError {
    /// Writing or syncing failed (disk full, I/O error); nothing was acknowledged. Shared by
    /// every caller whose record was in the failed group commit.
    #[error("journal write failed: {0}")]
    Io(#[source] std::sync::Arc<std::io::Error>),
    /// An earlier failure could not be cleaned up; every append fails until restart.
    #[error("journal is broken: {0}")]
    Broken(String),
    /// The journal was closed (shutdown).
    #[error("journal is closed")]
    Closed,
    /// Another process holds the journal.
    #[error("journal {0} is in use by another process (its LOCK is held); stop the daemon first")]
    Locked(String),
    /// The journal does not verify; the daemon will not append to a damaged chain.
    #[error(
        "journal in {dir} does not verify ({reason}); run `genesys-sentiment audit verify {dir}`"
    )]
    Corrupt {
        /// Directory.
        dir: String,
        /// What is wrong.
        reason: String,
    },
    /// An identical event is already stored (a dedupe key of the record is taken, by this
    /// replica or another): nothing was written. Carries the stored event's id. Only the
    /// shared journal answers this; the file journal's intake dedupes in memory first.
    #[error("already stored as {0}")]
    Duplicate(String),
    /// The shared journal's database failed or refused (nothing was stored).
    #[error("journal database: {0}")]
    Database(String),
    /// The directory or files could not be opened.
    #[error("cannot open the journal in {dir} (journal.dir): {reason}")]
    Open {
        /// Directory.
        dir: String,
        /// What failed.
        reason: String,
    },
}

/// Handle to the journal. Cheap to clone.
#[derive(Clone)]
pub struct Journal {
    backend: Backend,
    dir: PathBuf,
    /// Set while the last group commit failed (or the journal is broken).
    failing: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// Where the records go.
#[derive(Clone)]
enum Backend {
    /// The file journal's writer thread.
    File(mpsc::Sender<writer::Msg>),
    /// The journal shared by replicas in PostgreSQL.
    Shared(std::sync::Arc<postgres::Shared>),
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

fn open_error(dir: &Path, e: impl std::fmt::Display) -> JournalError {
    JournalError::Open {
        dir: dir.display().to_string(),
        reason: e.to_string(),
    }
}

/// Takes the journal's exclusive lock.
///
/// # Errors
/// [`JournalError::Locked`] when another process holds it.
pub fn lock(dir: &Path) -> Result<std::fs::File, JournalError> {
    crate::domain::files::create_private_dir(dir).map_err(|e| open_error(dir, e))?;
    let file = crate::domain::files::private_options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(LOCK_FILE))
        .map_err(|e| open_error(dir, e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => {
            Err(JournalError::Locked(dir.display().to_string()))
        }
        Err(std::fs::TryLockError::Error(e)) => Err(open_error(dir, e)),
    }
}

/// Recovers the journal in `dir` (holding `lock`): cuts a torn tail, checks the chain,
/// rebuilds the state. Returns the scan and the state.
///
/// # Errors
/// [`JournalError::Corrupt`] when the chain does not verify, I/O failures as `Open`.
pub fn recover(dir: &Path) -> Result<(ScanOutcome, JournalState), JournalError> {
    let mut state = JournalState::default();
    let outcome =
        scan::scan_for_recovery(dir, |r, at| state.apply(r, at)).map_err(|e| match e {
            ScanError::Io(io) => open_error(dir, io),
            bad => JournalError::Corrupt {
                dir: dir.display().to_string(),
                reason: bad.to_string(),
            },
        })?;
    if let Some(torn) = &outcome.torn_tail {
        // The cut bytes are kept beside the journal first: a tail that was damaged rather
        // than torn can still be looked at (`audit verify` names neither file).
        let kept = keep_torn_tail(dir, torn).map_err(|e| open_error(dir, e))?;
        tracing::warn!(
            path = %torn.path.display(),
            bytes = torn.bytes,
            kept = %kept.display(),
            "Cutting a torn journal tail left by a crash (never acknowledged); its bytes are kept in the file named."
        );
        let f = OpenOptions::new()
            .write(true)
            .open(&torn.path)
            .map_err(|e| open_error(dir, e))?;
        f.set_len(torn.offset).map_err(|e| open_error(dir, e))?;
        f.sync_all().map_err(|e| open_error(dir, e))?;
        state.truncated_bytes = torn.bytes;
    }
    Ok((outcome, state))
}

/// Most bytes of a torn tail copied aside (a torn group write is far smaller).
const TORN_KEEP_MAX: u64 = 64 << 20;

/// Copies a torn tail's bytes (up to [`TORN_KEEP_MAX`]) to `torn-<segment file>-<unix
/// time>` in `dir`, made durable, before the segment is cut.
fn keep_torn_tail(dir: &Path, torn: &scan::TornTail) -> std::io::Result<PathBuf> {
    use std::io::{Read, Seek};
    let name = torn
        .path
        .file_name()
        .map_or_else(|| "segment".into(), |n| n.to_string_lossy().into_owned());
    let stem = format!("torn-{name}-{}", chrono::Utc::now().timestamp());
    let mut from = std::fs::File::open(&torn.path)?;
    from.seek(std::io::SeekFrom::Start(torn.offset))?;
    // A name of its own even when a copy of the same second is there (a start-up cut off
    // between the copy and the cut, and started again at once).
    let mut tries = 0u32;
    let (path, mut to) = loop {
        let path = match tries {
            0 => dir.join(&stem),
            n => dir.join(format!("{stem}-{n}")),
        };
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(f) => break (path, f),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && tries < 1000 => {
                tries += 1;
            }
            Err(e) => return Err(e),
        }
    };
    std::io::copy(&mut from.take(TORN_KEEP_MAX), &mut to)?;
    to.sync_all()?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(path)
}

impl Journal {
    /// Opens the journal: lock, recover, start the writer thread.
    ///
    /// # Errors
    /// [`JournalError::Locked`], [`JournalError::Corrupt`] or [`JournalError::Open`].
    pub fn open(
        settings: &JournalSettings,
        metrics: Metrics,
    ) -> Result<(Journal, JournalState), JournalError> {
        let dir = PathBuf::from(&settings.dir);
        let lock_file = lock(&dir)?;
        let started = Instant::now();
        let (outcome, mut state) = recover(&dir)?;
        // Keys past the window can match nothing; neither the caller nor the writer keeps them.
        state.prune_dedupe(
            chrono::Utc::now(),
            settings.dedupe_window.get(),
            settings.dedupe_max_keys,
        );
        let segment = outcome.segments.last().map_or(1, |s| s.number);
        let file = writer::open_segment(&dir, segment).map_err(|e| open_error(&dir, e))?;
        let size = if outcome.segments.is_empty() {
            0
        } else {
            outcome.last_segment_len
        };
        tracing::info!(
            records = outcome.records,
            from_seq = outcome.first_seq,
            segments = outcome.segments.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            pending = state.pending.len(),
            dead_letters = state.dead_letters.len(),
            "Journal recovered."
        );
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let failing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut writer = writer::Writer {
            dir: dir.clone(),
            file,
            segment,
            size,
            seq: outcome.last_seq,
            prev_hash: outcome.last_hash.clone(),
            max_segment_bytes: settings.segment_max_bytes,
            max_batch: settings.group_commit_max.get(),
            broken: None,
            metrics,
            head_written: None,
            head_stale: false,
            buffer: Vec::with_capacity(1 << 20),
            failing: failing.clone(),
            retention: writer::Retention {
                state: state.clone(),
                interval: settings.checkpoint_interval.get(),
                // A long read at start-up (no checkpoint yet, or a busy hour) is not repeated.
                next: if outcome.records > EARLY_CHECKPOINT_RECORDS {
                    Some(Instant::now())
                } else {
                    Instant::now().checked_add(settings.checkpoint_interval.get())
                },
                records_at_checkpoint: if outcome.records > EARLY_CHECKPOINT_RECORDS {
                    0
                } else {
                    state.records
                },
                dedupe_window: settings.dedupe_window.get(),
                dedupe_max_keys: settings.dedupe_max_keys,
                retention: settings.retention.get(),
                archive_dir: Some(settings.archive_dir.trim())
                    .filter(|d| !d.is_empty())
                    .map(PathBuf::from),
                archiving: Default::default(),
                archiver: None,
                stop: Default::default(),
            },
            _lock: lock_file,
        };
        writer.spawn_archive();
        std::thread::Builder::new()
            .name("journal-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| open_error(&dir, e))?;
        // HEAD is rewritten on the commit path at most every HEAD_INTERVAL; this tick lets
        // the writer bring it up to date when appends stop, so it never lags by much more.
        let weak = tx.downgrade();
        std::thread::Builder::new()
            .name("journal-head".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(writer::HEAD_INTERVAL);
                    let Some(tx) = weak.upgrade() else { return };
                    // Only into an empty queue: appends waiting there wake the writer
                    // anyway, and a tick must never take the slot a webhook needs.
                    if tx.capacity() < tx.max_capacity() {
                        continue;
                    }
                    if let Err(mpsc::error::TrySendError::Closed(_)) =
                        tx.try_send(writer::Msg::Tick)
                    {
                        return;
                    }
                }
            })
            .map_err(|e| open_error(&dir, e))?;
        Ok((
            Journal {
                backend: Backend::File(tx),
                dir,
                failing,
            },
            state,
        ))
    }

    /// The journal shared by replicas (`store.url = "postgres://…"`), with what this replica
    /// takes up at start (see [`postgres::Shared::recover`]; conversation ends it accepted
    /// within `enrich_window` that still wait for a score are among them).
    ///
    /// # Errors
    /// [`JournalError::Database`].
    pub async fn open_shared(
        shared: std::sync::Arc<postgres::Shared>,
        settings: &JournalSettings,
        enrich_window: std::time::Duration,
    ) -> Result<(Journal, postgres::Recovery), JournalError> {
        let started = Instant::now();
        let recovery = shared.recover(enrich_window).await?;
        tracing::info!(
            replica = shared.replica(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            pending = recovery.state.pending.len(),
            handed_back = recovery.handed_back,
            enrichment = recovery.state.enrichment.len(),
            dead_letters = recovery.dead_letters,
            "Shared journal (PostgreSQL) opened."
        );
        Ok((
            Journal {
                backend: Backend::Shared(shared),
                dir: PathBuf::from(&settings.dir),
                failing: Default::default(),
            },
            recovery,
        ))
    }

    /// The shared journal, when this is one.
    pub fn shared(&self) -> Option<&std::sync::Arc<postgres::Shared>> {
        match &self.backend {
            Backend::Shared(s) => Some(s),
            Backend::File(_) => None,
        }
    }

    /// The journal directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The event an owed delivery names, read back from the journal off the runtime's
    /// threads (see [`read::event`]).
    ///
    /// # Errors
    /// [`read::ReadError`] when it cannot be read.
    pub async fn read_event(
        &self,
        body: &crate::domain::delivery::Body,
        event_id: &str,
    ) -> Result<crate::domain::delivery::Deliverable, read::ReadError> {
        if let crate::domain::delivery::Body::Held(event) = body {
            return Ok(event.as_ref().clone());
        }
        let segment = body.segment().unwrap_or_default();
        let (dir, body, id) = (self.dir.clone(), body.clone(), event_id.to_owned());
        tokio::task::spawn_blocking(move || read::event(&dir, &body, &id))
            .await
            .unwrap_or_else(|e| {
                Err(read::ReadError::Io {
                    segment,
                    source: std::io::Error::other(e.to_string()),
                })
            })
    }

    /// Whether appends are succeeding (false after a failed write until one succeeds, and
    /// for good once the journal is broken).
    pub fn writable(&self) -> bool {
        !self.failing.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The shared journal's database answered (the upkeep loop's sealing worked): appends
    /// count as working again, so readiness comes back without waiting for a webhook that a
    /// load balancer would not send to an unready replica.
    pub fn database_answered(&self) {
        if matches!(self.backend, Backend::Shared(_)) {
            self.failing
                .store(false, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// The shared journal's database refused a write of the upkeep loop: readiness turns
    /// false until a write succeeds again.
    pub fn database_failed(&self) {
        if matches!(self.backend, Backend::Shared(_)) {
            self.failing
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Whether the writer's queue is full (appends would wait): the intake sheds then.
    pub fn saturated(&self) -> bool {
        match &self.backend {
            Backend::File(tx) => tx.capacity() == 0,
            // Appends wait for a pooled connection (and fail after its timeout).
            Backend::Shared(_) => false,
        }
    }

    /// Appends one record and waits until it is durable.
    ///
    /// # Errors
    /// [`JournalError`] when it could not be written: nothing was acknowledged.
    ///
    /// # Cancel safety
    /// Not cancel-safe in effect: a cancelled caller's record may still be written.
    pub async fn append(&self, draft: Draft) -> Result<Appended, JournalError> {
        let tx = match &self.backend {
            Backend::File(tx) => tx,
            Backend::Shared(shared) => {
                let result = shared.append(draft).await;
                let failed = matches!(result, Err(JournalError::Database(_)));
                self.failing
                    .store(failed, std::sync::atomic::Ordering::Relaxed);
                return result;
            }
        };
        let (reply, rx) = oneshot::channel();
        tx.send(writer::Msg::Append {
            draft: Box::new(draft),
            reply,
            submitted: Instant::now(),
        })
        .await
        .map_err(|_| JournalError::Closed)?;
        rx.await.map_err(|_| JournalError::Closed)?
    }

    /// Convenience: appends `entry` with `source` and `outcome`.
    ///
    /// # Errors
    /// See [`Journal::append`].
    pub async fn record(
        &self,
        source: impl Into<String>,
        outcome: impl Into<String>,
        entry: Entry,
    ) -> Result<Appended, JournalError> {
        self.append(Draft {
            source: source.into(),
            outcome: outcome.into(),
            entry,
        })
        .await
    }

    /// Writes a checkpoint now (after everything queued before this call), starting a new
    /// segment with it, then archives what `journal.retention` allows.
    ///
    /// # Errors
    /// [`JournalError`] when it could not be written.
    pub async fn checkpoint(&self) -> Result<Appended, JournalError> {
        let Backend::File(tx) = &self.backend else {
            return Err(JournalError::Broken(
                "the shared journal keeps its state in PostgreSQL and writes no checkpoints".into(),
            ));
        };
        let (reply, rx) = oneshot::channel();
        tx.send(writer::Msg::Checkpoint { reply })
            .await
            .map_err(|_| JournalError::Closed)?;
        rx.await.map_err(|_| JournalError::Closed)?
    }

    /// Stops the writer after everything queued before this call; later appends fail.
    pub async fn close(&self) {
        match &self.backend {
            Backend::File(tx) => {
                let (reply, rx) = oneshot::channel();
                if tx.send(writer::Msg::Close { reply }).await.is_ok() {
                    let _ = rx.await;
                }
            }
            Backend::Shared(shared) => shared.close().await,
        }
    }
}

/// `audit verify`: checks the live chain in `dir` — from seq 1, or, once segments were
/// archived, from the checkpoint it begins with (against `ANCHOR`).
///
/// # Errors
/// [`ScanError::Bad`] naming the first bad `seq`, or I/O errors.
pub fn verify(dir: &Path) -> Result<ScanOutcome, ScanError> {
    let outcome = while_still(dir, || scan::scan_live(dir))?;
    finished_while_waiting(outcome, || {
        std::thread::sleep(TAIL_POLL);
    })
}

/// How often, and how many times, `audit verify` looks again at a last line with no line
/// end: a write in progress finishes within microseconds, so one second is generous.
const TAIL_POLL: std::time::Duration = std::time::Duration::from_millis(50);
const TAIL_POLLS: u32 = 20;

/// A scan that ended on a last line with no line end (`torn_tail`): waits (calling `wait`
/// between looks, [`TAIL_POLLS`] times at most) for that line to get its line end, which
/// is what a group write the scan caught half copied does. One that never does is a record
/// cut short: an error, as on a stopped journal. The finished record is not counted (it
/// came after the snapshot the scan checked).
///
/// # Errors
/// [`ScanError::Bad`] for a line still unfinished, I/O errors.
fn finished_while_waiting(
    outcome: ScanOutcome,
    mut wait: impl FnMut(),
) -> Result<ScanOutcome, ScanError> {
    let Some(tail) = &outcome.torn_tail else {
        return Ok(outcome);
    };
    for _ in 0..TAIL_POLLS {
        wait();
        if line_ends_after(&tail.path, tail.offset)? {
            return Ok(outcome);
        }
    }
    Err(ScanError::Bad {
        seq: outcome.last_seq.saturating_add(1),
        reason: format!(
            "the last record is cut short (no line end) in {}, and no write finished it within {} s",
            tail.path.display(),
            (TAIL_POLL * TAIL_POLLS).as_secs()
        ),
    })
}

/// Whether a line end follows `offset` in the file at `path` now.
fn line_ends_after(path: &Path, offset: u64) -> std::io::Result<bool> {
    use std::io::{Read, Seek};
    let mut file = std::fs::File::open(path)?;
    file.seek(std::io::SeekFrom::Start(offset))?;
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut chunk)?;
        if n == 0 {
            return Ok(false);
        }
        if chunk[..n].contains(&b'\n') {
            return Ok(true);
        }
    }
}

/// Runs `scan` again (twice at most) when it failed while retention changed `dir` under it:
/// a pass that writes `ANCHOR` and moves the oldest segments out between this scan's reads
/// would otherwise look like segments removed. A failure on a directory that did not change
/// is the answer.
fn while_still(
    dir: &Path,
    scan: impl Fn() -> Result<ScanOutcome, ScanError>,
) -> Result<ScanOutcome, ScanError> {
    // What a retention pass changes: ANCHOR first, then which segment comes first.
    let shape = || {
        (
            std::fs::read(dir.join(scan::ANCHOR_FILE)).ok(),
            scan::list_segments(dir)
                .ok()
                .and_then(|s| s.first().map(|f| f.number)),
        )
    };
    let mut tries = 0;
    loop {
        let before = shape();
        let result = scan();
        if result.is_ok() || tries == 2 || shape() == before {
            return result;
        }
        tries += 1;
        tracing::info!("Journal segments were archived during the check; checking again.");
    }
}

/// `audit verify --archive`: checks the whole history, the archived segments in `archive`
/// followed by the live ones in `dir`.
///
/// # Errors
/// [`ScanError::Bad`] naming the first bad `seq`, or I/O errors.
pub fn verify_with_archive(dir: &Path, archive: &Path) -> Result<ScanOutcome, ScanError> {
    let outcome = while_still(dir, || scan::scan_with_archive(dir, archive))?;
    finished_while_waiting(outcome, || std::thread::sleep(TAIL_POLL))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_torn_copy_in_the_same_second_gets_a_name_of_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let segment = dir.path().join("segment-00000001.jsonl");
        std::fs::write(&segment, b"{\"seq\":1}\n{\"seq\":2,\"ti").unwrap();
        let torn = scan::TornTail {
            path: segment,
            offset: 10,
            bytes: 13,
        };
        // Two start-ups cut off before the cut: the second copy must not fail on the name.
        let first = keep_torn_tail(dir.path(), &torn).unwrap();
        let second = keep_torn_tail(dir.path(), &torn).unwrap();
        assert_ne!(first, second);
        for kept in [first, second] {
            assert_eq!(std::fs::read(kept).unwrap(), b"{\"seq\":2,\"ti");
        }
    }

    /// A journal of three records with half of a fourth at the end.
    fn half_written() -> (tempfile::TempDir, PathBuf, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("journal");
        let mut s = crate::config::Settings::defaults().journal;
        s.dir = journal.to_string_lossy().into_owned();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            let (j, _) = Journal::open(&s, Metrics::new()).unwrap();
            for _ in 0..4 {
                let entry = crate::domain::events::Entry::JournalRecovered(
                    crate::domain::events::Recovered {
                        truncated_bytes: 0,
                        records: 0,
                    },
                );
                j.record("test", "accepted", entry).await.unwrap();
            }
            j.close().await;
        });
        let segment = scan::segment_path(&journal, 1);
        let bytes = std::fs::read(&segment).unwrap();
        // Cut the fourth record in half, and HEAD back to the third (as before its write).
        let body = &bytes[..bytes.len() - 1];
        let start = body.iter().rposition(|b| *b == b'\n').unwrap() + 1;
        let rest = bytes[start + (bytes.len() - start) / 2..].to_vec();
        std::fs::write(&segment, &bytes[..start + (bytes.len() - start) / 2]).unwrap();
        std::fs::remove_file(journal.join(scan::HEAD_FILE)).unwrap();
        (dir, segment, rest)
    }

    #[test]
    fn a_record_the_check_caught_half_written_passes_once_its_write_finishes() {
        let (dir, segment, rest) = half_written();
        let outcome = scan::scan_live(&dir.path().join("journal")).unwrap();
        assert!(outcome.torn_tail.is_some());
        let mut looks = 0;
        let checked = finished_while_waiting(outcome, || {
            looks += 1;
            if looks == 3 {
                // The writer's copy completes.
                let mut f = OpenOptions::new().append(true).open(&segment).unwrap();
                std::io::Write::write_all(&mut f, &rest).unwrap();
            }
        })
        .unwrap();
        assert_eq!((checked.records, looks), (3, 3));
    }

    #[test]
    fn a_record_left_half_written_is_still_cut_short() {
        let (dir, _segment, _rest) = half_written();
        let outcome = scan::scan_live(&dir.path().join("journal")).unwrap();
        let mut looks = 0;
        let err = finished_while_waiting(outcome, || looks += 1).unwrap_err();
        assert_eq!(looks, TAIL_POLLS);
        let text = err.to_string();
        assert!(text.contains("first bad seq 4"), "{text}");
        assert!(text.contains("cut short"), "{text}");
    }
}
