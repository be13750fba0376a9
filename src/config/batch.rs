//! `[batch]`: the scheduled pull → analytics → report.

use std::num::NonZeroUsize;

use serde::{Deserialize, Serialize};

use super::{ConfigError, HumanDuration};
use crate::domain::BatchSource;

/// `[batch]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchSettings {
    /// Run the scheduled batch inside `serve`.
    pub enabled: bool,
    /// Time between runs.
    pub interval: HumanDuration,
    /// Length of the current window; the previous window has the same length.
    pub window: HumanDuration,
    /// `conversations` (details + STA per conversation) or `aggregates` (transcript aggregates).
    pub source: BatchSource,
    /// Run once right after start-up instead of waiting one interval.
    pub run_at_startup: bool,
    /// Reports kept for `/v1/trends/history`.
    pub history_limit: NonZeroUsize,
    /// Runs kept for `/v1/runs`.
    pub runs_limit: NonZeroUsize,
    /// Only these queues (empty = all).
    pub queue_ids: Vec<String>,
    /// Only this media type (empty = all), e.g. `voice`.
    pub media_type: String,
}

/// The analytics API's media types (`AnalyticsSession.mediaType`).
const MEDIA_TYPES: [&str; 11] = [
    "callback",
    "chat",
    "cobrowse",
    "email",
    "internalmessage",
    "message",
    "screenmonitoring",
    "screenshare",
    "unknown",
    "video",
    "voice",
];

impl BatchSettings {
    /// The window length in whole days.
    pub fn window_days(&self) -> u32 {
        u32::try_from(self.window.get().as_secs() / 86_400)
            .unwrap_or(u32::MAX)
            .max(1)
    }

    pub(super) fn check(&self) -> Result<(), ConfigError> {
        if !self.media_type.is_empty() && !MEDIA_TYPES.contains(&self.media_type.as_str()) {
            // Events write VOICE; the analytics queries match only the lowercase value, and
            // anything else would quietly match no conversation at all.
            return Err(ConfigError::invalid(
                "batch.media_type",
                format!(
                    "must be empty (every media type) or one of {} (lowercase, as the analytics API writes them)",
                    MEDIA_TYPES.join(", ")
                ),
            ));
        }
        if self.interval.get().is_zero() {
            return Err(ConfigError::invalid(
                "batch.interval",
                "must be longer than zero",
            ));
        }
        let secs = self.window.get().as_secs();
        if secs < 86_400 || !secs.is_multiple_of(86_400) {
            return Err(ConfigError::invalid(
                "batch.window",
                "must be a whole number of days, at least 1d (trends compare whole days)",
            ));
        }
        if self.source == BatchSource::Aggregates && secs < 3 * 86_400 {
            return Err(ConfigError::invalid(
                "batch.window",
                "must be at least 3d with source = \"aggregates\" (variance comes from daily values)",
            ));
        }
        Ok(())
    }
}
