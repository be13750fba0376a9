//! Layered settings: built-in defaults (`config/default.toml`, compiled in) → `--config FILE`
//! → environment variables `GENESYS_SENTIMENT__<SECTION>__<KEY>`.
//!
//! Every secret can come from a file instead (`<key>_file`), for container secret mounts.
//! Unknown keys are errors, so a typo never silently falls back to a default. Validation
//! names the key that is wrong; the CLI turns any [`ConfigError`] into exit status 2.

mod load;
mod types;

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::domain::ScoreScale;

pub use load::{ConfigError, Purpose};
pub use types::{HumanDuration, REDACTED, Secret};

/// The documented defaults, compiled into the binary so it runs without any file.
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");

/// The prefix of every environment override.
pub const ENV_PREFIX: &str = "GENESYS_SENTIMENT";

/// The whole configuration of the daemon.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// HTTP server.
    pub server: ServerSettings,
    /// Logging.
    pub log: LogSettings,
    /// Genesys Cloud client.
    pub genesys: GenesysSettings,
    /// Normalization, aggregation and trend statistics.
    pub analytics: AnalyticsSettings,
    /// The audit journal.
    pub journal: JournalSettings,
    /// Webhook intake.
    pub webhook: WebhookSettings,
    /// The coaching platform the daemon forwards to.
    pub coaching: CoachingSettings,
    /// The scheduled batch.
    pub batch: BatchSettings,
}

/// `[server]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Address to bind, e.g. `0.0.0.0:8080`.
    pub listen: SocketAddr,
    /// Longest time one request may take before it is answered 503.
    pub request_timeout: HumanDuration,
    /// Largest accepted request body in bytes (413 above it).
    pub body_limit_bytes: usize,
    /// How long a SIGTERM drain may take before the process exits anyway.
    pub shutdown_deadline: HumanDuration,
}

/// `[log]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// `json` (one object per line) or `pretty` (for people).
    pub format: LogFormat,
    /// A tracing filter such as `info` or `genesys_sentiment=debug`; `RUST_LOG` wins over it.
    pub level: String,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable lines.
    Pretty,
}

/// `[genesys]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesysSettings {
    /// SDK region id, e.g. `us_east_1`, `eu_west_1`.
    pub region: String,
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
    pub requests_per_minute: u32,
    /// Fraction of the server-reported allowance kept in reserve (`inin-ratelimit-*`).
    pub rate_headroom: f64,
    /// Refresh a token this long before it expires (capped at a tenth of its lifetime).
    pub token_refresh_skew: HumanDuration,
    /// Lifetime assumed when the token response has no `expires_in` (UNVERIFIED default).
    pub default_token_lifetime: HumanDuration,
    /// Per-request timeout (`0s` disables it; not recommended).
    pub request_timeout: HumanDuration,
    /// TCP connect timeout.
    pub connect_timeout: HumanDuration,
    /// Most attempts per request, first one included.
    pub max_attempts: u32,
    /// Most total time spent on one request including its retries.
    pub max_retry_time: HumanDuration,
    /// First backoff step (full jitter) when no `Retry-After` is given.
    pub backoff_base: HumanDuration,
    /// Largest backoff step.
    pub backoff_cap: HumanDuration,
    /// A `Retry-After` longer than this ends the request with a rate-limit error.
    pub retry_after_cap: HumanDuration,
    /// Page size for the synchronous details query (max 100 is UNVERIFIED).
    pub page_size: u32,
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
    /// Scale of `oSentimentScore` in transcript aggregates (`unit` or `percent`).
    pub aggregate_scale: ScoreScale,
    /// First wait between async job status polls.
    pub job_poll_min: HumanDuration,
    /// Longest wait between async job status polls.
    pub job_poll_max: HumanDuration,
    /// Give up on an async job after this long.
    pub job_timeout: HumanDuration,
    /// Page size for async job results (UNVERIFIED maximum).
    pub job_page_size: u32,
    /// Parallel STA requests a batch may have in flight (all share the rate budget).
    pub sta_concurrency: usize,
}

/// `[analytics]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalyticsSettings {
    /// `linear`, `piecewise` or `banded` (see docs/normalization.md).
    pub normalization: NormalizationKind,
    /// For `piecewise`: `[raw_percent, quality]` points, raw ascending from −100 to 100.
    pub piecewise_points: Vec<[f64; 2]>,
    /// For `banded`: bands by upper raw-percent bound, ascending; the last must reach 100.
    pub bands: Vec<Band>,
    /// Half-width of the neutral band on the percent scale (Genesys's "NoChange" is ±20).
    pub neutral_band: f64,
    /// A quality score below this sets `action_required`.
    pub action_threshold: f64,
    /// Fewest conversations per window before a verdict is given.
    pub min_samples: u64,
    /// False-discovery rate for Benjamini–Hochberg across all groups of a report.
    pub fdr_q: f64,
    /// `statistical` (tests + FDR) or `count_margin` (the original design's rule).
    pub trend_rule: TrendRule,
    /// For `count_margin`: positives must beat negatives by more than this.
    pub count_margin: u64,
    /// Groups in a report: `overall`, `agent`, `queue`, `day`, `agent_day`, `queue_day`.
    pub groups: Vec<GroupDimension>,
}

/// The normalization formula family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NormalizationKind {
    /// `(percent + 100) / 2`.
    Linear,
    /// Linear interpolation between configured points.
    Piecewise,
    /// A fixed quality score per band.
    Banded,
}

/// One band of a banded normalization.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Band {
    /// Inclusive upper bound on the raw percent scale.
    pub upper: f64,
    /// Quality score given to raw values in this band.
    pub score: f64,
}

/// Which rule decides `polarity_shift`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrendRule {
    /// Welch's t-test between windows with Benjamini–Hochberg control.
    Statistical,
    /// The original count-margin rule, for comparison.
    CountMargin,
}

/// A grouping of records in a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupDimension {
    /// Everything together.
    Overall,
    /// Per agent.
    Agent,
    /// Per queue.
    Queue,
    /// Per day (UTC).
    Day,
    /// Per agent and day.
    AgentDay,
    /// Per queue and day.
    QueueDay,
}

impl GroupDimension {
    /// The configuration spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupDimension::Overall => "overall",
            GroupDimension::Agent => "agent",
            GroupDimension::Queue => "queue",
            GroupDimension::Day => "day",
            GroupDimension::AgentDay => "agent_day",
            GroupDimension::QueueDay => "queue_day",
        }
    }
}

/// `[journal]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalSettings {
    /// Directory of the JSONL segments.
    pub dir: String,
    /// Start a new segment once the current one reaches this size.
    pub segment_max_bytes: u64,
    /// Most records written under one fsync.
    pub group_commit_max: usize,
    /// Repeats of an accepted event within this window are answered as duplicates.
    pub dedupe_window: HumanDuration,
}

/// `[webhook]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// Accept webhooks without any authentication (only for demos and tests).
    pub allow_unauthenticated: bool,
    /// Static token expected in `token_header` (`Authorization: Bearer <token>` by default).
    pub bearer_token: Secret,
    /// File holding `bearer_token`.
    pub bearer_token_file: String,
    /// Header carrying the static token; for `authorization` the value is `Bearer <token>`.
    pub token_header: String,
    /// HTTP Basic user name.
    pub basic_username: String,
    /// HTTP Basic password.
    pub basic_password: Secret,
    /// File holding `basic_password`.
    pub basic_password_file: String,
    /// Key for `X-Hub-Signature-256: sha256=<base64 HMAC-SHA256 of the body>`.
    pub hub_signature_secret: Secret,
    /// File holding `hub_signature_secret`.
    pub hub_signature_secret_file: String,
    /// Standard Webhooks secrets (`whsec_…`); several are accepted at once for rotation.
    pub standard_webhooks_secrets: Vec<Secret>,
    /// File with one Standard Webhooks secret per line.
    pub standard_webhooks_secrets_file: String,
    /// Largest accepted distance between `webhook-timestamp` and now.
    pub timestamp_tolerance: HumanDuration,
    /// First wait before fetching the STA score after a conversation-end event.
    pub sta_retry_delay: HumanDuration,
    /// Stop waiting for STA to produce a score after this long.
    pub sta_max_wait: HumanDuration,
}

/// `[coaching]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoachingSettings {
    /// Endpoint receiving insights. Empty = nothing is forwarded (events stay pending).
    pub url: String,
    /// Standard Webhooks signing secret (`whsec_…`); empty = unsigned deliveries.
    pub secret: Secret,
    /// File holding `secret`.
    pub secret_file: String,
    /// Timeout of one delivery attempt.
    pub timeout: HumanDuration,
    /// Deliveries in flight at once.
    pub concurrency: usize,
    /// Attempts per event before it is dead-lettered.
    pub max_attempts: u32,
    /// An event older than this is dead-lettered instead of retried.
    pub max_age: HumanDuration,
    /// First retry backoff (full jitter).
    pub backoff_base: HumanDuration,
    /// Largest retry backoff.
    pub backoff_cap: HumanDuration,
    /// Longest `Retry-After` honoured; longer ones are shortened to this.
    pub retry_after_cap: HumanDuration,
    /// After a coaching recommendation for an agent, no new one for this long.
    pub alert_cooldown: HumanDuration,
}

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
    pub history_limit: usize,
    /// Runs kept for `/v1/runs`.
    pub runs_limit: usize,
    /// Only these queues (empty = all).
    pub queue_ids: Vec<String>,
    /// Only this media type (empty = all), e.g. `voice`.
    pub media_type: String,
}

/// Where the batch reads sentiment from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchSource {
    /// Transcript aggregates per agent and day: few requests, per-day statistics only.
    Aggregates,
    /// Conversation details plus one STA request per conversation: full per-record data.
    Conversations,
}

impl BatchSource {
    /// The configuration spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            BatchSource::Aggregates => "aggregates",
            BatchSource::Conversations => "conversations",
        }
    }
}

impl Settings {
    /// The built-in defaults alone (what `config/default.toml` says).
    pub fn defaults() -> Settings {
        Settings::load(None, std::iter::empty(), Purpose::Inspect)
            .expect("the compiled-in default configuration is valid")
    }

    /// The effective configuration as TOML, every secret shown as `[redacted]`.
    pub fn to_redacted_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }
}
