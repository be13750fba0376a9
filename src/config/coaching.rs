//! `[coaching]`: the coaching platform the daemon forwards to.

use std::num::{NonZeroU32, NonZeroUsize};

use serde::{Deserialize, Serialize};

use super::{ConfigError, HumanDuration, Secret, check_url};
use crate::domain::signature::SigningKey;

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
    /// An extra header sent with every delivery, `Name: value` (an API key the platform
    /// asks for), instead of credentials in the URL.
    pub auth_header: Secret,
    /// File holding `auth_header`.
    pub auth_header_file: String,
    /// Timeout of one delivery attempt.
    pub timeout: HumanDuration,
    /// Deliveries in flight at once.
    pub concurrency: NonZeroUsize,
    /// Attempts per event before it is dead-lettered.
    pub max_attempts: NonZeroU32,
    /// An event older than this is dead-lettered instead of retried.
    pub max_age: HumanDuration,
    /// First retry backoff (full jitter).
    pub backoff_base: HumanDuration,
    /// Largest retry backoff.
    pub backoff_cap: HumanDuration,
    /// Longest `Retry-After` honoured; longer ones are shortened to this.
    pub retry_after_cap: HumanDuration,
    /// Owed events whose content is held in memory at most; the rest are read back from the
    /// journal when sent.
    pub owed_in_memory: usize,
    /// Owed deliveries (accepted, not yet delivered) at most: beyond, the intake answers
    /// `503` with `Retry-After` instead of taking more (0: never shed for this).
    pub max_lag: usize,
    /// After a coaching recommendation for an agent, no new one for this long.
    pub alert_cooldown: HumanDuration,
}

impl CoachingSettings {
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        check_url("coaching.url", &self.url)?;
        if self.secret.is_set() {
            SigningKey::parse(&self.secret)
                .map_err(|e| ConfigError::invalid("coaching.secret", e.to_string()))?;
        }
        if self.auth_header.is_set() {
            self.auth_header_pair()?;
        }
        Ok(())
    }

    /// `auth_header` split into a header name and value.
    ///
    /// # Errors
    /// When it is not `Name: value` with a valid header name and value.
    pub fn auth_header_pair(&self) -> Result<(String, String), ConfigError> {
        let bad = || {
            ConfigError::invalid(
                "coaching.auth_header",
                "must be `Name: value`, e.g. `X-Api-Key: …` (the value is not shown)",
            )
        };
        let (name, value) = self
            .auth_header
            .expose()
            .unwrap_or_default()
            .split_once(':')
            .ok_or_else(bad)?;
        let (name, value) = (name.trim(), value.trim());
        if name.is_empty()
            || value.is_empty()
            || reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err()
            || reqwest::header::HeaderValue::from_str(value).is_err()
        {
            return Err(bad());
        }
        Ok((name.to_owned(), value.to_owned()))
    }
}
