//! Loading, secret files and validation.

use std::collections::HashMap;
use std::path::Path;

use config::{Config, Environment, File, FileFormat};

use super::{
    BatchSource, DEFAULT_TOML, ENV_PREFIX, GroupDimension, NormalizationKind, Secret, Settings,
};
use crate::genesys::region::Region;

/// What the configuration is being loaded for; decides which keys are required.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// `serve`: Genesys credentials and webhook authentication are required.
    Serve,
    /// Commands that talk to a real Genesys org (`analyze --from/--to`): credentials required.
    Pull,
    /// Commands that only read or print configuration, or bring their own emulator.
    Inspect,
}

/// A configuration problem, naming the key and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A key has a value the daemon cannot use.
    #[error("invalid configuration: `{key}`: {message}")]
    Invalid {
        /// Dotted key, e.g. `genesys.region`.
        key: String,
        /// What is wrong and what would be right.
        message: String,
    },
    /// The configuration could not be read or parsed at all.
    #[error("invalid configuration: {0}")]
    Load(String),
}

impl ConfigError {
    fn invalid(key: &str, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key: key.to_owned(),
            message: message.into(),
        }
    }
}

impl Settings {
    /// Loads defaults, then `file`, then `env` (pairs like
    /// `GENESYS_SENTIMENT__GENESYS__CLIENT_ID=...`; other variables are ignored), resolves
    /// secret files and validates for `purpose`.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first key that is wrong.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        purpose: Purpose,
    ) -> Result<Settings, ConfigError> {
        let env: HashMap<String, String> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with(&format!("{ENV_PREFIX}__")))
            .collect();
        let mut builder =
            Config::builder().add_source(File::from_str(DEFAULT_TOML, FileFormat::Toml));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError::Load(format!(
                    "configuration file {} does not exist or is not a file",
                    path.display()
                )));
            }
            builder = builder.add_source(File::from(path).format(FileFormat::Toml));
        }
        builder = builder.add_source(
            Environment::with_prefix(ENV_PREFIX)
                .prefix_separator("__")
                .separator("__")
                .list_separator(",")
                .with_list_parse_key("webhook.standard_webhooks_secrets")
                .with_list_parse_key("analytics.groups")
                .with_list_parse_key("batch.queue_ids")
                .try_parsing(true)
                .source(Some(env)),
        );
        let raw = builder.build().map_err(|e| describe(&e))?;
        let mut settings: Settings = raw.try_deserialize().map_err(|e| describe(&e))?;
        settings.resolve_secret_files()?;
        settings.validate(purpose)?;
        Ok(settings)
    }

    /// Reads every `<secret>_file` into its secret.
    fn resolve_secret_files(&mut self) -> Result<(), ConfigError> {
        resolve_one(
            "genesys.client_secret",
            &mut self.genesys.client_secret,
            &self.genesys.client_secret_file,
        )?;
        resolve_one(
            "webhook.bearer_token",
            &mut self.webhook.bearer_token,
            &self.webhook.bearer_token_file,
        )?;
        resolve_one(
            "webhook.basic_password",
            &mut self.webhook.basic_password,
            &self.webhook.basic_password_file,
        )?;
        resolve_one(
            "webhook.hub_signature_secret",
            &mut self.webhook.hub_signature_secret,
            &self.webhook.hub_signature_secret_file,
        )?;
        resolve_one(
            "coaching.secret",
            &mut self.coaching.secret,
            &self.coaching.secret_file,
        )?;
        let path = self.webhook.standard_webhooks_secrets_file.trim();
        if !path.is_empty() {
            let text = read_secret_file("webhook.standard_webhooks_secrets_file", path)?;
            self.webhook.standard_webhooks_secrets.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(Secret::new),
            );
        }
        self.webhook
            .standard_webhooks_secrets
            .retain(Secret::is_set);
        Ok(())
    }

    /// Checks every value that deserialization alone cannot check.
    fn validate(&self, purpose: Purpose) -> Result<(), ConfigError> {
        if !crate::telemetry::valid_filter(&self.log.level) {
            return Err(ConfigError::invalid(
                "log.level",
                format!(
                    "{:?} is not a tracing filter such as \"info\" or \"genesys_sentiment=debug\"",
                    self.log.level
                ),
            ));
        }
        let g = &self.genesys;
        if Region::from_id(&g.region).is_none() {
            return Err(ConfigError::invalid(
                "genesys.region",
                format!(
                    "unknown region {:?}; expected one of {}",
                    g.region,
                    Region::known_ids()
                ),
            ));
        }
        check_url("genesys.base_url", &g.base_url, true)?;
        check_url("genesys.login_url", &g.login_url, true)?;
        check_url("coaching.url", &self.coaching.url, true)?;
        positive("genesys.requests_per_minute", g.requests_per_minute as f64)?;
        if !(0.0..0.9).contains(&g.rate_headroom) {
            return Err(ConfigError::invalid(
                "genesys.rate_headroom",
                "must be a fraction from 0 up to (not including) 0.9",
            ));
        }
        positive("genesys.max_attempts", g.max_attempts as f64)?;
        if g.page_size == 0 {
            return Err(ConfigError::invalid(
                "genesys.page_size",
                "must be at least 1",
            ));
        }
        if g.details_chunk.get().is_zero() || g.details_chunk > g.max_interval {
            return Err(ConfigError::invalid(
                "genesys.details_chunk",
                "must be longer than zero and no longer than genesys.max_interval",
            ));
        }
        if g.job_poll_min.get().is_zero() || g.job_poll_min > g.job_poll_max {
            return Err(ConfigError::invalid(
                "genesys.job_poll_min",
                "must be longer than zero and no longer than genesys.job_poll_max",
            ));
        }
        positive("genesys.sta_concurrency", g.sta_concurrency as f64)?;
        if matches!(purpose, Purpose::Serve | Purpose::Pull) {
            if g.client_id.trim().is_empty() {
                return Err(ConfigError::invalid(
                    "genesys.client_id",
                    "is required: the OAuth client id of a client-credentials grant",
                ));
            }
            if !g.client_secret.is_set() {
                return Err(ConfigError::invalid(
                    "genesys.client_secret",
                    "is required: set it, or genesys.client_secret_file to a file holding it",
                ));
            }
        }

        let a = &self.analytics;
        match a.normalization {
            NormalizationKind::Linear => {}
            NormalizationKind::Piecewise => {
                crate::analytics::normalize::validate_points(&a.piecewise_points)
                    .map_err(|m| ConfigError::invalid("analytics.piecewise_points", m))?
            }
            NormalizationKind::Banded => crate::analytics::normalize::validate_bands(&a.bands)
                .map_err(|m| ConfigError::invalid("analytics.bands", m))?,
        }
        if !(0.0..100.0).contains(&a.neutral_band) {
            return Err(ConfigError::invalid(
                "analytics.neutral_band",
                "must be from 0 up to 100 (percent scale)",
            ));
        }
        if !(0.0..=100.0).contains(&a.action_threshold) {
            return Err(ConfigError::invalid(
                "analytics.action_threshold",
                "must be within 0..=100",
            ));
        }
        if !(a.fdr_q > 0.0 && a.fdr_q < 1.0) {
            return Err(ConfigError::invalid(
                "analytics.fdr_q",
                "must be between 0 and 1",
            ));
        }
        if a.min_samples < 2 {
            return Err(ConfigError::invalid(
                "analytics.min_samples",
                "must be at least 2",
            ));
        }
        if a.groups.is_empty() {
            return Err(ConfigError::invalid(
                "analytics.groups",
                format!(
                    "must name at least one of {}",
                    [
                        GroupDimension::Overall,
                        GroupDimension::Agent,
                        GroupDimension::Queue,
                        GroupDimension::Day,
                        GroupDimension::AgentDay,
                        GroupDimension::QueueDay
                    ]
                    .map(|g| g.as_str())
                    .join(", ")
                ),
            ));
        }

        if self.journal.dir.trim().is_empty() {
            return Err(ConfigError::invalid("journal.dir", "must name a directory"));
        }
        if self.journal.segment_max_bytes < 4096 {
            return Err(ConfigError::invalid(
                "journal.segment_max_bytes",
                "must be at least 4096",
            ));
        }
        positive(
            "journal.group_commit_max",
            self.journal.group_commit_max as f64,
        )?;

        let w = &self.webhook;
        if w.basic_username.is_empty() == w.basic_password.is_set() {
            return Err(ConfigError::invalid(
                "webhook.basic_password",
                "webhook.basic_username and webhook.basic_password must be set together",
            ));
        }
        for (i, s) in w.standard_webhooks_secrets.iter().enumerate() {
            if let Err(e) = crate::signature::SigningKey::parse(s) {
                return Err(ConfigError::invalid(
                    "webhook.standard_webhooks_secrets",
                    format!("secret #{}: {e}", i + 1),
                ));
            }
        }
        if self.coaching.secret.is_set() {
            crate::signature::SigningKey::parse(&self.coaching.secret)
                .map_err(|e| ConfigError::invalid("coaching.secret", e.to_string()))?;
        }
        if purpose == Purpose::Serve && !w.allow_unauthenticated && !self.has_webhook_auth() {
            return Err(ConfigError::invalid(
                "webhook.allow_unauthenticated",
                "no webhook authentication is configured: set webhook.bearer_token, \
                 webhook.basic_username/basic_password, webhook.hub_signature_secret or \
                 webhook.standard_webhooks_secrets (or set allow_unauthenticated = true for a demo)",
            ));
        }
        positive("coaching.concurrency", self.coaching.concurrency as f64)?;
        positive("coaching.max_attempts", self.coaching.max_attempts as f64)?;

        let b = &self.batch;
        if b.interval.get().is_zero() {
            return Err(ConfigError::invalid(
                "batch.interval",
                "must be longer than zero",
            ));
        }
        if b.window.get().as_secs() < 86_400 || !b.window.get().as_secs().is_multiple_of(86_400) {
            return Err(ConfigError::invalid(
                "batch.window",
                "must be a whole number of days, at least 1d (trends compare whole days)",
            ));
        }
        if b.source == BatchSource::Aggregates && b.window.get().as_secs() < 3 * 86_400 {
            return Err(ConfigError::invalid(
                "batch.window",
                "must be at least 3d with source = \"aggregates\" (variance comes from daily values)",
            ));
        }
        if b.source == BatchSource::Aggregates && a.normalization != NormalizationKind::Linear {
            return Err(ConfigError::invalid(
                "batch.source",
                "\"aggregates\" needs analytics.normalization = \"linear\" (a mean of a non-linear \
                 mapping is not the mapping of a mean); use \"conversations\"",
            ));
        }
        positive("batch.history_limit", b.history_limit as f64)?;
        positive("batch.runs_limit", b.runs_limit as f64)?;
        Ok(())
    }

    /// Whether any webhook authentication method is configured.
    pub fn has_webhook_auth(&self) -> bool {
        let w = &self.webhook;
        w.bearer_token.is_set()
            || w.basic_password.is_set()
            || w.hub_signature_secret.is_set()
            || !w.standard_webhooks_secrets.is_empty()
    }
}

fn resolve_one(key: &str, secret: &mut Secret, file: &str) -> Result<(), ConfigError> {
    let file = file.trim();
    if file.is_empty() {
        return Ok(());
    }
    if secret.is_set() {
        return Err(ConfigError::invalid(
            key,
            format!("set either `{key}` or `{key}_file`, not both"),
        ));
    }
    let text = read_secret_file(&format!("{key}_file"), file)?;
    let value = text.trim_end_matches(['\n', '\r']);
    if value.is_empty() {
        return Err(ConfigError::invalid(
            &format!("{key}_file"),
            format!("{file} is empty"),
        ));
    }
    *secret = Secret::new(value);
    Ok(())
}

fn read_secret_file(key: &str, path: &str) -> Result<String, ConfigError> {
    std::fs::read_to_string(path)
        .map_err(|e| ConfigError::invalid(key, format!("cannot read {path}: {e}")))
}

fn check_url(key: &str, value: &str, empty_ok: bool) -> Result<(), ConfigError> {
    if value.trim().is_empty() {
        return if empty_ok {
            Ok(())
        } else {
            Err(ConfigError::invalid(key, "is required"))
        };
    }
    match reqwest::Url::parse(value.trim()) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Ok(()),
        Ok(url) => Err(ConfigError::invalid(
            key,
            format!(
                "{value:?} is not an http(s) URL with a host (scheme {:?})",
                url.scheme()
            ),
        )),
        Err(e) => Err(ConfigError::invalid(
            key,
            format!("{value:?} is not a URL: {e}"),
        )),
    }
}

fn positive(key: &str, value: f64) -> Result<(), ConfigError> {
    if value > 0.0 {
        Ok(())
    } else {
        Err(ConfigError::invalid(key, "must be greater than zero"))
    }
}

/// Turns a `config` crate error into one message that names the key.
fn describe(error: &config::ConfigError) -> ConfigError {
    let text = error.to_string();
    // Unknown keys: serde says "unknown field `x`, expected ..."; config appends the path.
    if let Some(field) = text
        .split("unknown field `")
        .nth(1)
        .and_then(|s| s.split('`').next())
    {
        let section = text
            .rsplit(" for key `")
            .next()
            .filter(|_| text.contains(" for key `"))
            .and_then(|s| s.split('`').next())
            .map(|s| format!("{s}."))
            .unwrap_or_default();
        return ConfigError::invalid(
            &format!("{section}{field}"),
            "unknown key (check the spelling; config/default.toml lists every key)",
        );
    }
    if let Some(key) = text
        .rsplit(" for key `")
        .next()
        .filter(|_| text.contains(" for key `"))
    {
        let key = key.split('`').next().unwrap_or(key).to_owned();
        let message = text.split(" for key `").next().unwrap_or(&text).to_owned();
        return ConfigError::Invalid { key, message };
    }
    ConfigError::Load(text)
}
