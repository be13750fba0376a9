//! Layered settings: built-in defaults (`config/default.toml`, compiled in) → `--config FILE`
//! → environment variables `GENESYS_SENTIMENT__<SECTION>__<KEY>`.
//!
//! Every secret can come from a file instead (`<key>_file`), for container secret mounts.
//! Unknown keys are errors, so a typo never silently falls back to a default. Each section
//! parses itself into types (`NonZero*`, enums, durations, the region) and checks what the
//! types alone cannot; an error names the key, and the CLI turns any [`ConfigError`] into
//! exit status 2. This module depends only on `domain`: components are built from their
//! settings, never the other way round.

mod analytics;
mod batch;
mod coaching;
mod duration;
mod genesys;
mod journal;
mod load;
mod log;
mod server;
mod store;
mod webhook;

use serde::{Deserialize, Serialize};

pub use crate::domain::{BatchSource, REDACTED, Secret};
pub use analytics::{
    AnalyticsSettings, Band, GroupDimension, NormalizationKind, Stratum, TrendRule, TrendVersion,
    validate_bands, validate_points,
};
pub use batch::BatchSettings;
pub use coaching::CoachingSettings;
pub use duration::HumanDuration;
pub use genesys::{GenesysSettings, PolarityCounts};
pub use journal::JournalSettings;
pub use load::{ConfigError, Purpose, redact_url};
pub use log::{LogFilter, LogFormat, LogSettings};
pub use server::ServerSettings;
pub use store::StoreSettings;
pub use webhook::{MIN_BASIC_PASSWORD_CHARS, MIN_SECRET_CHARS, WebhookSettings};

use load::check_url;

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
    /// The conversation store.
    pub store: StoreSettings,
}

impl Settings {
    /// The built-in defaults alone (what `config/default.toml` says).
    pub fn defaults() -> Settings {
        Settings::load(None, std::iter::empty(), Purpose::Inspect)
            .expect("the compiled-in default configuration is valid")
    }

    /// The effective configuration as TOML, every secret shown as `[redacted]`.
    /// URLs keep their host and path; a password or query values in them are redacted too.
    pub fn to_redacted_toml(&self) -> String {
        let mut shown = self.clone();
        for url in [
            &mut shown.coaching.url,
            &mut shown.genesys.base_url,
            &mut shown.genesys.login_url,
        ] {
            *url = redact_url(url);
        }
        let mut value = match toml::Value::try_from(&shown) {
            Ok(v) => v,
            Err(e) => return format!("# cannot render: {e}\n"),
        };
        // A SQLite path is no secret: shown as it is; a PostgreSQL URL without its password.
        if let Some(store) = value.get_mut("store").and_then(toml::Value::as_table_mut) {
            store.insert(
                "url".into(),
                toml::Value::String(redact_url(self.store.url())),
            );
        }
        // Not the pretty form: it spreads [[-100.0, 0.0], …] over twenty lines.
        toml::to_string(&value).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }

    /// Whether any webhook authentication method is configured.
    pub fn has_webhook_auth(&self) -> bool {
        self.webhook.has_auth()
    }

    /// Whether `serve` would accept these settings (`doctor` loads them for pulling only,
    /// and must not call ready what `serve` refuses).
    ///
    /// # Errors
    /// The first [`ConfigError`] `serve` would stop on.
    pub fn check_for_serve(&self) -> Result<(), ConfigError> {
        self.validate(Purpose::Serve)
    }

    /// Checks every section, then what spans sections.
    fn validate(&self, purpose: Purpose) -> Result<(), ConfigError> {
        self.server.check()?;
        self.genesys.check(purpose)?;
        self.analytics.check()?;
        self.journal.check()?;
        self.webhook.check(purpose)?;
        self.coaching.check()?;
        self.batch.check()?;
        self.store.check()?;
        if self.batch.source == BatchSource::Aggregates
            && self.analytics.normalization != NormalizationKind::Linear
        {
            return Err(ConfigError::invalid(
                "batch.source",
                "\"aggregates\" needs analytics.normalization = \"linear\" (a mean of a non-linear \
                 mapping is not the mapping of a mean); use \"conversations\"",
            ));
        }
        Ok(())
    }
}
