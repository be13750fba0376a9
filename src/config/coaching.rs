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
        Ok(())
    }
}
