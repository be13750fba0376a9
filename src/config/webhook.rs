//! `[webhook]`: how Genesys (or anyone) authenticates to the intake, and the timing of the
//! scores fetched for conversation-end events.

use serde::{Deserialize, Serialize};

use super::{ConfigError, HumanDuration, Purpose, Secret};
use crate::domain::signature::SigningKey;

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
    /// An event time (`eventTime`, `timestamp`) further than this in the future is refused
    /// (422): a sender's clock cannot schedule work or skew reports.
    pub max_clock_skew: HumanDuration,
    /// First wait before fetching the STA score after a conversation-end event.
    pub sta_retry_delay: HumanDuration,
    /// Stop waiting for STA to produce a score after this long.
    pub sta_max_wait: HumanDuration,
    /// A score whose event names no agent waits this long for an `.acw` / `.user.end` of
    /// its conversation before the daemon asks the conversation-details endpoint.
    pub attribution_lookup_delay: HumanDuration,
    /// After this long the score is delivered with whatever agent is known (or none).
    pub attribution_max_wait: HumanDuration,
    /// Most scores waiting for their agent at once; beyond it they are delivered at once.
    pub attribution_max_held: usize,
}

/// Shortest webhook bearer token, HMAC secret or Standard Webhooks secret accepted.
pub const MIN_SECRET_CHARS: usize = 16;
/// A Basic password shorter than this gets a warning at start.
pub const MIN_BASIC_PASSWORD_CHARS: usize = 12;

impl WebhookSettings {
    /// Whether any authentication method is configured.
    pub fn has_auth(&self) -> bool {
        self.bearer_token.is_set()
            || self.basic_password.is_set()
            || self.hub_signature_secret.is_set()
            || !self.standard_webhooks_secrets.is_empty()
    }

    pub(super) fn check(&self, purpose: Purpose) -> Result<(), ConfigError> {
        // A stray space or colon would load, then refuse every token sender with a bare 401.
        if axum::http::HeaderName::from_bytes(self.token_header.as_bytes()).is_err() {
            return Err(ConfigError::invalid(
                "webhook.token_header",
                format!(
                    "{:?} is not an HTTP header name (letters, digits and `-`, no spaces or `:`), e.g. authorization or x-genesys-token",
                    self.token_header.chars().take(100).collect::<String>()
                ),
            ));
        }
        if self.basic_username.is_empty() == self.basic_password.is_set() {
            return Err(ConfigError::invalid(
                "webhook.basic_password",
                "webhook.basic_username and webhook.basic_password must be set together",
            ));
        }
        for (i, s) in self.standard_webhooks_secrets.iter().enumerate() {
            if let Err(e) = SigningKey::parse(s) {
                return Err(ConfigError::invalid(
                    "webhook.standard_webhooks_secrets",
                    format!("secret #{}: {e}", i + 1),
                ));
            }
            let key = s.expose().unwrap_or_default();
            if key.strip_prefix("whsec_").unwrap_or(key).len() < MIN_SECRET_CHARS {
                return Err(ConfigError::invalid(
                    "webhook.standard_webhooks_secrets",
                    format!(
                        "secret #{} is shorter than {MIN_SECRET_CHARS} characters after `whsec_`; generate a longer one",
                        i + 1
                    ),
                ));
            }
        }
        // Secrets this daemon asks its senders to present: long enough not to be guessed.
        for (key, secret) in [
            ("webhook.bearer_token", &self.bearer_token),
            ("webhook.hub_signature_secret", &self.hub_signature_secret),
        ] {
            if secret
                .expose()
                .is_some_and(|v| v.chars().count() < MIN_SECRET_CHARS)
            {
                return Err(ConfigError::invalid(
                    key,
                    format!(
                        "is shorter than {MIN_SECRET_CHARS} characters; use a random value of at least {MIN_SECRET_CHARS} (e.g. `openssl rand -hex 24`)"
                    ),
                ));
            }
        }
        if purpose == Purpose::Serve && !self.allow_unauthenticated && !self.has_auth() {
            return Err(ConfigError::invalid(
                "webhook.allow_unauthenticated",
                "no webhook authentication is configured: set webhook.bearer_token, \
                 webhook.basic_username/basic_password, webhook.hub_signature_secret or \
                 webhook.standard_webhooks_secrets (or set allow_unauthenticated = true for a demo)",
            ));
        }
        Ok(())
    }
}
