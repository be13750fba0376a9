//! `[journal]`: the audit journal on disk.

use std::num::NonZeroUsize;

use serde::{Deserialize, Serialize};

use super::{ConfigError, HumanDuration};

/// `[journal]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalSettings {
    /// Directory of the JSONL segments.
    pub dir: String,
    /// Start a new segment once the current one reaches this size.
    pub segment_max_bytes: u64,
    /// Most records written under one fsync.
    pub group_commit_max: NonZeroUsize,
    /// Repeats of an accepted event within this window are answered as duplicates.
    pub dedupe_window: HumanDuration,
    /// Most dedupe keys held in memory; past it the oldest are forgotten first (a repeat of
    /// one is then accepted again, under the same event id).
    pub dedupe_max_keys: usize,
    /// How often the journal writes a checkpoint (the state a restart needs), starting a new
    /// segment with it; start-up reads only from the newest checkpoint on.
    pub checkpoint_interval: HumanDuration,
    /// Segments whose every record is older than this, and that lie before a checkpoint,
    /// leave the journal directory.
    pub retention: HumanDuration,
    /// Where such segments go; empty deletes them instead.
    pub archive_dir: String,
    /// Replicas on PostgreSQL: how long a replica's claim on an owed delivery lasts without
    /// renewal (it renews every third of it); a replica that dies hands its deliveries to
    /// another after at most this long.
    pub outbox_lease: HumanDuration,
}

impl JournalSettings {
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        if self.dir.trim().is_empty() {
            return Err(ConfigError::invalid("journal.dir", "must name a directory"));
        }
        if !(4096..=1 << 30).contains(&self.segment_max_bytes) {
            return Err(ConfigError::invalid(
                "journal.segment_max_bytes",
                "must be from 4096 to 1073741824 (1 GiB: start-up and `audit verify` read a segment whole)",
            ));
        }
        if self.dedupe_max_keys < 1_000 {
            return Err(ConfigError::invalid(
                "journal.dedupe_max_keys",
                "must be at least 1000 (each accepted event holds one to three keys)",
            ));
        }
        if self.checkpoint_interval.get().is_zero() {
            return Err(ConfigError::invalid(
                "journal.checkpoint_interval",
                "must be greater than zero",
            ));
        }
        if self.retention.get() < self.dedupe_window.get() {
            return Err(ConfigError::invalid(
                "journal.retention",
                "must be at least journal.dedupe_window (records inside the dedupe window stay in the journal)",
            ));
        }
        if self.outbox_lease.get() < std::time::Duration::from_secs(3) {
            return Err(ConfigError::invalid(
                "journal.outbox_lease",
                "must be at least 3s (a replica renews its claims every third of it)",
            ));
        }
        let archive = self.archive_dir.trim();
        if !archive.is_empty()
            && std::path::Path::new(archive) == std::path::Path::new(self.dir.trim())
        {
            return Err(ConfigError::invalid(
                "journal.archive_dir",
                "must not be the journal directory itself",
            ));
        }
        Ok(())
    }
}
