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
}

impl JournalSettings {
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        if self.dir.trim().is_empty() {
            return Err(ConfigError::invalid("journal.dir", "must name a directory"));
        }
        if self.segment_max_bytes < 4096 {
            return Err(ConfigError::invalid(
                "journal.segment_max_bytes",
                "must be at least 4096",
            ));
        }
        Ok(())
    }
}
