//! Typed errors from Genesys Cloud, built from its `ErrorBody` (docs/genesys-api.md §5.3).

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use super::endpoint::Endpoint;

/// Genesys's error body (`ErrorBody` in the spec), as far as we read it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// Human-readable message.
    #[serde(default)]
    pub message: Option<String>,
    /// Machine code, e.g. `too.many.requests.retry.after`, `resource.not.found`.
    #[serde(default)]
    pub code: Option<String>,
    /// HTTP status repeated in the body.
    #[serde(default)]
    pub status: Option<u16>,
    /// Correlation id of the request.
    #[serde(default)]
    pub context_id: Option<String>,
    /// Message template with `{param}` placeholders.
    #[serde(default)]
    pub message_with_params: Option<String>,
    /// Values of the placeholders.
    #[serde(default)]
    pub message_params: Option<std::collections::BTreeMap<String, String>>,
    /// Per-field details.
    #[serde(default)]
    pub details: Option<Vec<ErrorDetail>>,
}

/// One entry of `ErrorBody.details`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorDetail {
    /// Error code of the detail.
    #[serde(default)]
    pub error_code: Option<String>,
    /// Field the detail is about.
    #[serde(default)]
    pub field_name: Option<String>,
}

/// A non-2xx answer from a Genesys API endpoint, with everything needed to act on it.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiFailure {
    /// Which endpoint answered.
    pub endpoint: Endpoint,
    /// HTTP status.
    pub status: u16,
    /// Genesys `code`, if the body had one.
    pub code: Option<String>,
    /// Genesys `message`, if the body had one.
    pub message: Option<String>,
    /// `contextId` from the body, else the `ININ-Correlation-Id` header.
    pub correlation_id: Option<String>,
    /// Parsed body, for callers that need more.
    pub body: Option<ErrorBody>,
}

impl ApiFailure {
    /// A 404 that Genesys itself gave: its error body's `code` says not found
    /// (`resource.not.found`, docs/genesys-api.md §4.1). A 404 without one (a proxy's or load
    /// balancer's page, a wrong `genesys.base_url`) is an error, not "no such resource": read
    /// as "not analysed" it would give up on every score for good.
    pub fn is_genesys_not_found(&self) -> bool {
        self.status == 404
            && self
                .code
                .as_deref()
                .is_some_and(|c| c.ends_with("not.found") || c.ends_with("not_found"))
    }
}

impl fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} answered {}", self.endpoint.describe(), self.status)?;
        if let Some(code) = &self.code {
            write!(f, " {code}")?;
        }
        if let Some(message) = &self.message {
            write!(f, ": {message}")?;
        }
        if let Some(id) = &self.correlation_id {
            write!(f, " (correlation id {id})")?;
        }
        Ok(())
    }
}

/// Everything that can go wrong talking to Genesys Cloud.
#[derive(Debug, thiserror::Error)]
pub enum GenesysError {
    /// The token endpoint refused the client credentials.
    #[error(
        "Genesys login at {login_host} refused the client credentials ({status}{}{}); check genesys.client_id and genesys.client_secret, and that the OAuth client uses the Client Credentials grant in this region",
        error.as_deref().map(|e| format!(" {e}")).unwrap_or_default(),
        description.as_deref().map(|d| format!(": {d}")).unwrap_or_default()
    )]
    Auth {
        /// Login host that answered.
        login_host: String,
        /// HTTP status.
        status: u16,
        /// OAuth `error`.
        error: Option<String>,
        /// OAuth `error_description` / `description`.
        description: Option<String>,
    },
    /// A fresh token was also refused with 401.
    #[error(
        "{failure}; a freshly issued token was refused too: check that OAuth client {client_id} belongs to the org behind {api_host} (genesys.region / genesys.base_url) and has not been deleted or revoked"
    )]
    Unauthorized {
        /// The second 401.
        failure: Box<ApiFailure>,
        /// The OAuth client id (not a secret).
        client_id: String,
        /// The API host the token was used against.
        api_host: String,
    },
    /// 403: the OAuth client's role lacks a permission.
    #[error("{failure}; the OAuth client's role is missing {missing}")]
    Forbidden {
        /// The answer.
        failure: Box<ApiFailure>,
        /// What to add: the permission named by Genesys, or what the endpoint needs.
        missing: String,
    },
    /// 429 that could not be waited out (Retry-After above the cap, or retries exhausted).
    #[error("{failure}; rate limited (Retry-After {}s){}", retry_after.map_or(0, |d| d.as_secs()), if *over_cap { " which is longer than genesys.retry_after_cap" } else { "" })]
    RateLimited {
        /// The last 429.
        failure: Box<ApiFailure>,
        /// What the server asked for.
        retry_after: Option<Duration>,
        /// Whether we stopped because the wait exceeded the configured cap.
        over_cap: bool,
    },
    /// Any other non-2xx answer.
    #[error("{0}")]
    Api(Box<ApiFailure>),
    /// Network, TLS or timeout failure.
    #[error("cannot reach Genesys ({endpoint}): {message}", endpoint = endpoint.describe())]
    Transport {
        /// Endpoint being called.
        endpoint: Endpoint,
        /// What failed (no secrets: URLs carry none).
        message: String,
        /// Whether it was a timeout.
        timeout: bool,
    },
    /// A 2xx body that does not match the model.
    #[error("unexpected response from {endpoint}: {message}", endpoint = endpoint.describe())]
    Decode {
        /// Endpoint.
        endpoint: Endpoint,
        /// Decoder message.
        message: String,
    },
    /// A query the client refuses to send.
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    /// An async details job ended in FAILED, CANCELLED or EXPIRED, or never finished.
    #[error("analytics job {job_id} ended {state}{}", message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Job {
        /// Job id.
        job_id: String,
        /// Final state (or `TIMEOUT`).
        state: String,
        /// Genesys `errorMessage`.
        message: Option<String>,
    },
    /// Retries were exhausted on a retryable failure.
    #[error("gave up after {attempts} attempts in {elapsed:?}: {last}")]
    Exhausted {
        /// Attempts made.
        attempts: u32,
        /// Time spent.
        elapsed: Duration,
        /// The last failure.
        last: Box<GenesysError>,
    },
}

impl GenesysError {
    /// The HTTP status behind the error, if any.
    pub fn status(&self) -> Option<u16> {
        match self {
            GenesysError::Auth { status, .. } => Some(*status),
            GenesysError::Unauthorized { failure, .. }
            | GenesysError::Forbidden { failure, .. }
            | GenesysError::RateLimited { failure, .. }
            | GenesysError::Api(failure) => Some(failure.status),
            GenesysError::Exhausted { last, .. } => last.status(),
            _ => None,
        }
    }

    /// The Genesys error `code`, if any.
    pub fn code(&self) -> Option<&str> {
        match self {
            GenesysError::Unauthorized { failure, .. }
            | GenesysError::Forbidden { failure, .. }
            | GenesysError::RateLimited { failure, .. }
            | GenesysError::Api(failure) => failure.code.as_deref(),
            GenesysError::Exhausted { last, .. } => last.code(),
            _ => None,
        }
    }

    /// The correlation id, if any.
    pub fn correlation_id(&self) -> Option<&str> {
        match self {
            GenesysError::Unauthorized { failure, .. }
            | GenesysError::Forbidden { failure, .. }
            | GenesysError::RateLimited { failure, .. }
            | GenesysError::Api(failure) => failure.correlation_id.as_deref(),
            GenesysError::Exhausted { last, .. } => last.correlation_id(),
            _ => None,
        }
    }

    /// Whether retrying the same request later could succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            GenesysError::Transport { .. } | GenesysError::RateLimited { .. } => true,
            GenesysError::Api(f) => is_retryable_status(f.status),
            GenesysError::Exhausted { .. } => true,
            _ => false,
        }
    }

    /// What kind of failure this is, for logs, metrics and the CLI's hints.
    pub fn kind(&self) -> ErrorKind {
        match self {
            GenesysError::Auth { .. } => ErrorKind::Auth,
            GenesysError::Unauthorized { .. } => ErrorKind::Unauthorized,
            GenesysError::Forbidden { .. } => ErrorKind::Forbidden,
            GenesysError::RateLimited { .. } => ErrorKind::RateLimited,
            GenesysError::Api(_) => ErrorKind::Api,
            GenesysError::Transport { .. } => ErrorKind::Transport,
            GenesysError::Decode { .. } => ErrorKind::Decode,
            GenesysError::InvalidQuery(_) => ErrorKind::InvalidQuery,
            GenesysError::Job { .. } => ErrorKind::Job,
            GenesysError::Exhausted { last, .. } => last.kind(),
        }
    }
}

/// The kinds of [`GenesysError`], with a stable snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The login host refused the client credentials.
    Auth,
    /// A fresh token was refused too.
    Unauthorized,
    /// A permission is missing.
    Forbidden,
    /// Rate limited beyond what could be waited out.
    RateLimited,
    /// Any other non-2xx answer.
    Api,
    /// Network, TLS or timeout.
    Transport,
    /// A body that does not match the model.
    Decode,
    /// A query the client refuses to send.
    InvalidQuery,
    /// An async job failed.
    Job,
}

impl ErrorKind {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Auth => "auth",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Api => "api",
            ErrorKind::Transport => "transport",
            ErrorKind::Decode => "decode",
            ErrorKind::InvalidQuery => "invalid_query",
            ErrorKind::Job => "job",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// 5xx other than 501 are retried (the Go SDK's policy, docs/genesys-api.md §5.4).
pub fn is_retryable_status(status: u16) -> bool {
    status == 429 || (500..600).contains(&status) && status != 501
}

/// The permission a 403 body names, if it names one (`messageParams` values or the text
/// after "permission(s):").
pub fn permission_from_body(body: &ErrorBody) -> Option<String> {
    if let Some(params) = &body.message_params {
        let perms: Vec<&str> = params
            .values()
            .map(String::as_str)
            .filter(|v| v.contains(':'))
            .collect();
        if !perms.is_empty() {
            return Some(perms.join(", "));
        }
    }
    let message = body.message.as_deref()?;
    let lower = message.to_ascii_lowercase();
    let at = lower.find("permission")?;
    let rest = &message[at..];
    let after = rest.split_once(':').map(|(_, r)| r.trim())?;
    let perms: Vec<&str> = after
        .split([',', ' '])
        .map(|p| p.trim_matches(|c: char| c == '[' || c == ']' || c == '.' || c == '"'))
        .filter(|p| p.matches(':').count() >= 2)
        .collect();
    (!perms.is_empty()).then(|| perms.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_are_found_in_params_or_message() {
        let body = ErrorBody {
            message_params: Some(
                [(
                    "permissions".to_owned(),
                    "analytics:conversationDetail:view".to_owned(),
                )]
                .into_iter()
                .collect(),
            ),
            ..Default::default()
        };
        assert_eq!(
            permission_from_body(&body).unwrap(),
            "analytics:conversationDetail:view"
        );
        let body = ErrorBody {
            message: Some(
                "You are missing the following permission(s): recording:recording:view".into(),
            ),
            ..Default::default()
        };
        assert_eq!(
            permission_from_body(&body).unwrap(),
            "recording:recording:view"
        );
        assert!(permission_from_body(&ErrorBody::default()).is_none());
    }

    #[test]
    fn retryable_statuses_follow_the_sdk_policy() {
        for s in [429, 500, 502, 503, 504] {
            assert!(is_retryable_status(s), "{s}");
        }
        for s in [400, 401, 403, 404, 409, 501] {
            assert!(!is_retryable_status(s), "{s}");
        }
    }
}
