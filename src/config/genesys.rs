//! `[genesys]`: the Genesys Cloud client.

use std::num::{NonZeroU32, NonZeroUsize};

use serde::{Deserialize, Serialize};

use super::{ConfigError, HumanDuration, Purpose, Secret, check_url};
use crate::domain::ScoreScale;
use crate::domain::region::Region;

/// `[genesys]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesysSettings {
    /// SDK region id, e.g. `us_east_1`, `eu_west_1`.
    pub region: Region,
    /// Overrides the region's API base URL (emulator, proxy). Empty = from region.
    pub base_url: String,
    /// Overrides the login base URL. Empty = derived from `base_url` or the region.
    pub login_url: String,
    /// OAuth client id (client credentials grant).
    pub client_id: String,
    /// OAuth client secret.
    pub client_secret: Secret,
    /// File holding the client secret (alternative to `client_secret`).
    pub client_secret_file: String,
    /// Shared request budget per minute for every task using this client.
    pub requests_per_minute: NonZeroU32,
    /// Fraction of the server-reported allowance kept in reserve (`inin-ratelimit-*`).
    pub rate_headroom: f64,
    /// Fraction of `requests_per_minute` the batch never uses: kept for real-time work
    /// (webhook enrichment and attribution, name lookups), so a backfill cannot starve it.
    pub realtime_share: f64,
    /// Refresh a token this long before it expires (capped at a tenth of its lifetime).
    pub token_refresh_skew: HumanDuration,
    /// Lifetime assumed when the token response has no `expires_in` (UNVERIFIED default).
    pub default_token_lifetime: HumanDuration,
    /// Per-request timeout (`0s` disables it; not recommended).
    pub request_timeout: HumanDuration,
    /// TCP connect timeout.
    pub connect_timeout: HumanDuration,
    /// Most attempts per request, first one included.
    pub max_attempts: NonZeroU32,
    /// Most total time spent on one request including its retries.
    pub max_retry_time: HumanDuration,
    /// First backoff step (full jitter) when no `Retry-After` is given.
    pub backoff_base: HumanDuration,
    /// Largest backoff step.
    pub backoff_cap: HumanDuration,
    /// A `Retry-After` longer than this ends the request with a rate-limit error.
    pub retry_after_cap: HumanDuration,
    /// Page size for the synchronous details query (max 100 is UNVERIFIED).
    pub page_size: NonZeroU32,
    /// Length of the chunks a long details interval is split into.
    pub details_chunk: HumanDuration,
    /// Longest interval Genesys accepts in one details query.
    pub max_interval: HumanDuration,
    /// Results reachable by paging one query before Genesys answers 400.
    pub max_paging_results: u32,
    /// How far back data can be asked for (organization retention, UNVERIFIED).
    pub retention: HumanDuration,
    /// Scale of STA conversation scores and sentiment events (`unit` or `percent`).
    pub sentiment_scale: ScoreScale,
    /// Scale of `sentimentOverallScore` in the sentiment topic's notifications and
    /// EventBridge events, when it differs from `sentiment_scale` (unset: the same). The
    /// topic and the STA endpoint are separate unverified items, so each can be set.
    #[serde(default)]
    pub topic_sentiment_scale: Option<ScoreScale>,
    /// Scale of `oSentimentScore` in transcript aggregates (`unit` or `percent`).
    pub aggregate_scale: ScoreScale,
    /// What `countPositive` / `countNegative` of `oCustomerSentiment` count (UNVERIFIED).
    pub aggregate_polarity_counts: PolarityCounts,
    /// First wait between async job status polls.
    pub job_poll_min: HumanDuration,
    /// Longest wait between async job status polls.
    pub job_poll_max: HumanDuration,
    /// Give up on an async job after this long (and cancel it at Genesys).
    pub job_timeout: HumanDuration,
    /// Page size for async job results (UNVERIFIED maximum).
    pub job_page_size: u32,
    /// Parallel STA requests a batch may have in flight (all share the rate budget).
    pub sta_concurrency: NonZeroUsize,
    /// Look up user and queue names (`GET /api/v2/users`, `/api/v2/routing/queues`) for
    /// reports; off = ids only.
    pub resolve_names: bool,
}

impl GenesysSettings {
    /// The scale of sentiment events (the topic's `sentimentOverallScore`).
    pub fn event_sentiment_scale(&self) -> ScoreScale {
        self.topic_sentiment_scale.unwrap_or(self.sentiment_scale)
    }

    pub(super) fn check(&self, purpose: Purpose) -> Result<(), ConfigError> {
        check_url("genesys.base_url", &self.base_url)?;
        check_url("genesys.login_url", &self.login_url)?;
        if !(0.0..0.9).contains(&self.rate_headroom) {
            return Err(ConfigError::invalid(
                "genesys.rate_headroom",
                "must be a fraction from 0 up to (not including) 0.9",
            ));
        }
        if !(0.0..0.9).contains(&self.realtime_share) {
            return Err(ConfigError::invalid(
                "genesys.realtime_share",
                "must be a fraction from 0 up to (not including) 0.9",
            ));
        }
        if self.details_chunk.get().is_zero() || self.details_chunk > self.max_interval {
            return Err(ConfigError::invalid(
                "genesys.details_chunk",
                "must be longer than zero and no longer than genesys.max_interval",
            ));
        }
        if self.job_poll_min.get().is_zero() || self.job_poll_min > self.job_poll_max {
            return Err(ConfigError::invalid(
                "genesys.job_poll_min",
                "must be longer than zero and no longer than genesys.job_poll_max",
            ));
        }
        if self.job_page_size == 0 {
            // A page of nothing never reaches the end of a job's results.
            return Err(ConfigError::invalid(
                "genesys.job_page_size",
                "must be at least 1 (Genesys's maximum is not documented; 1000 is the default)",
            ));
        }
        if matches!(purpose, Purpose::Serve | Purpose::Pull) {
            if self.client_id.trim().is_empty() {
                return Err(ConfigError::invalid(
                    "genesys.client_id",
                    "is required: the OAuth client id of a client-credentials grant",
                ));
            }
            if !self.client_secret.is_set() {
                return Err(ConfigError::invalid(
                    "genesys.client_secret",
                    "is required: set it, or genesys.client_secret_file to a file holding it",
                ));
            }
        }
        Ok(())
    }
}

/// What the polarity counts of `oCustomerSentiment` in transcript aggregates count: the
/// official models name `countPositive` / `countNegative` without saying (UNVERIFIED,
/// docs/genesys-api.md §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PolarityCounts {
    /// Conversations: taken as they are (at most the day's conversations).
    #[default]
    Conversations,
    /// Phrases (several a conversation, as third-party tests model them): the day's
    /// conversations are split in the proportions of the phrase counts, the positive and
    /// negative share of phrases standing in for that of conversations.
    Phrases,
}
