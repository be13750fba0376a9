//! Webhook authentication. Any configured method that succeeds admits the request:
//! HTTP Basic and a static header token (what Genesys data actions can send, docs/genesys-api.md §6.3),
//! `X-Hub-Signature-256` over the raw body, and Standard Webhooks with several secrets for
//! rotation. Every comparison is constant-time; failures do not say which part was wrong.

use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::config::WebhookSettings;
use crate::domain::signature::{
    SignatureError, SigningKey, StandardHeaders, constant_time_eq, hub_digest, standard_timestamp,
    v1_signatures, verify_hub, verify_standard,
};

/// The configured methods, parsed once.
#[derive(Clone, Default)]
pub struct WebhookAuth {
    allow_unauthenticated: bool,
    token: Option<(String, String)>,
    basic: Option<(String, String)>,
    hub_secret: Option<String>,
    standard: Vec<SigningKey>,
    tolerance_secs: i64,
}

impl std::fmt::Debug for WebhookAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookAuth")
            .field("allow_unauthenticated", &self.allow_unauthenticated)
            .field("token", &self.token.is_some())
            .field("basic", &self.basic.is_some())
            .field("hub", &self.hub_secret.is_some())
            .field("standard_secrets", &self.standard.len())
            .finish()
    }
}

/// Why a request was not admitted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    /// No method succeeded.
    #[error("authentication failed")]
    Failed,
    /// A Standard Webhooks signature was fine but its timestamp too old or too new.
    #[error("webhook-timestamp is outside the accepted tolerance (replayed or clock skew)")]
    Stale,
}

impl WebhookAuth {
    /// From `[webhook]` (validated by config).
    pub fn from_settings(s: &WebhookSettings) -> WebhookAuth {
        WebhookAuth {
            allow_unauthenticated: s.allow_unauthenticated,
            token: s
                .bearer_token
                .expose()
                .map(|t| (s.token_header.to_ascii_lowercase(), t.to_owned())),
            basic: s
                .basic_password
                .expose()
                .map(|p| (s.basic_username.clone(), p.to_owned())),
            hub_secret: s.hub_signature_secret.expose().map(str::to_owned),
            standard: s
                .standard_webhooks_secrets
                .iter()
                .filter_map(|k| SigningKey::parse(k).ok())
                .collect(),
            tolerance_secs: s.timestamp_tolerance.get().as_secs() as i64,
        }
    }

    fn any_configured(&self) -> bool {
        self.token.is_some()
            || self.basic.is_some()
            || self.hub_secret.is_some()
            || !self.standard.is_empty()
    }

    /// What the headers alone decide, before the body is read: `Some(Ok)` when a header
    /// credential (token, Basic) admits the request or none is needed, `Some(Err)` when no
    /// configured method could admit it, `None` when a signature over the body is to be
    /// checked. A signature can only hold with well-formed headers: Standard Webhooks needs
    /// a `webhook-id`, a numeric `webhook-timestamp` and a `v1,` signature of 32 bytes, the
    /// hub signature `sha256=` and a 32-byte digest. So a sender without credentials, or with
    /// signature headers that cannot verify, is refused without its body being read.
    pub fn check_headers(&self, headers: &HeaderMap) -> Option<Result<(), AuthFailure>> {
        if !self.any_configured() {
            return Some(self.unconfigured());
        }
        if self.header_credential(headers) {
            return Some(Ok(()));
        }
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        // A timestamp outside the tolerance still has its body read: whether it is told
        // apart ("stale") depends on the signature holding, so a sender without the key
        // learns nothing, and one whose clock is off learns why.
        let mut signed = !self.standard.is_empty()
            && header("webhook-signature").is_some_and(|v| v1_signatures(v).any(|d| d.len() == 32))
            && header("webhook-id").is_some()
            && header("webhook-timestamp").is_some_and(|t| standard_timestamp(t).is_some());
        if self.hub_secret.is_some()
            && header("x-hub-signature-256")
                .and_then(hub_digest)
                .is_some_and(|d| d.len() == 32)
        {
            signed = true;
        }
        if signed {
            None
        } else {
            Some(Err(AuthFailure::Failed))
        }
    }

    fn unconfigured(&self) -> Result<(), AuthFailure> {
        if self.allow_unauthenticated {
            Ok(())
        } else {
            Err(AuthFailure::Failed)
        }
    }

    /// Admits or refuses a request given its headers, raw body and the current Unix time.
    ///
    /// # Errors
    /// [`AuthFailure`].
    pub fn check(&self, headers: &HeaderMap, body: &[u8], now: i64) -> Result<(), AuthFailure> {
        if !self.any_configured() {
            return self.unconfigured();
        }
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let mut stale = false;
        if !self.standard.is_empty() && header("webhook-signature").is_some() {
            let h = StandardHeaders {
                id: header("webhook-id"),
                timestamp: header("webhook-timestamp"),
                signature: header("webhook-signature"),
            };
            match verify_standard(&self.standard, h, body, now, self.tolerance_secs) {
                Ok(()) => return Ok(()),
                Err(SignatureError::StaleTimestamp) => stale = true,
                Err(_) => {}
            }
        }
        if let Some(secret) = &self.hub_secret
            && verify_hub(secret, header("x-hub-signature-256"), body).is_ok()
        {
            return Ok(());
        }
        if self.header_credential(headers) {
            return Ok(());
        }
        Err(if stale {
            AuthFailure::Stale
        } else {
            AuthFailure::Failed
        })
    }

    /// Whether the static token or the Basic credentials in `headers` admit the request.
    fn header_credential(&self, headers: &HeaderMap) -> bool {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        if let Some((name, token)) = &self.token
            && let Some(value) = header(name)
        {
            let given = if name == "authorization" {
                credentials(value, "bearer").unwrap_or("")
            } else {
                value
            };
            if constant_time_eq(given.trim().as_bytes(), token.as_bytes()) {
                return true;
            }
        }
        if let Some((user, password)) = &self.basic
            && let Some(encoded) = header("authorization").and_then(|v| credentials(v, "basic"))
            && let Ok(decoded) = STANDARD.decode(encoded.trim())
        {
            let expected = format!("{user}:{password}");
            if constant_time_eq(&decoded, expected.as_bytes()) {
                return true;
            }
        }
        false
    }
}

/// The credentials of an `Authorization` value for `scheme` (matched case-insensitively,
/// RFC 9110 §11.1): `Bearer x`, `bearer x` and `BEARER x` all give `x`.
fn credentials<'a>(value: &'a str, scheme: &str) -> Option<&'a str> {
    let (given, rest) = value.trim().split_once(' ')?;
    given.eq_ignore_ascii_case(scheme).then_some(rest.trim())
}
