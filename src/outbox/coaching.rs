//! The outbound client to the coaching platform: the payload, Standard Webhooks signing,
//! and how each answer is classified (delivered, retry later, or give up).

use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::config::CoachingSettings;
use crate::domain::delivery::Deliverable;
use crate::domain::retry::parse_retry_after;
use crate::domain::signature::SigningKey;

/// The JSON body delivered for an event. Sentiment events carry the original design's
/// fields (`agent_interaction`, `quality_score`, `polarity`, `action_required`,
/// `timestamp`) plus the audit fields.
pub fn payload(event: &Deliverable) -> Value {
    match event {
        Deliverable::Sentiment(e) => json!({
            "event_type": "sentiment",
            "event_id": e.event_id,
            "agent_interaction": e.conversation_id,
            "quality_score": e.quality_score,
            "polarity": e.polarity,
            "action_required": e.action_required,
            "timestamp": e.occurred_at().to_rfc3339_opts(SecondsFormat::Millis, true),
            "conversation_id": e.conversation_id,
            "agent_id": e.agent_id,
            "queue_id": e.queue_id,
            "attribution": e.attribution.unwrap_or(crate::domain::events::AttributionSource::Unknown),
            "raw_score": e.raw_score,
            "scale": e.scale,
            "normalization_version": e.normalization_version,
        }),
        Deliverable::Recommendation(r) => json!({
            "event_type": "coaching_recommendation",
            "event_id": r.event_id,
            "agent_id": r.agent_id,
            "agent_name": r.agent_name,
            "window": {
                "start": r.window_start.to_rfc3339_opts(SecondsFormat::Secs, true),
                "end": r.window_end.to_rfc3339_opts(SecondsFormat::Secs, true),
            },
            "rule": r.rule,
            "algorithm_version": r.algorithm_version,
            "normalization_version": r.normalization_version,
            "effect_points": r.effect_points,
            "q_value": r.q_value,
            "n_current": r.n_current,
            "n_previous": r.n_previous,
            "quality_score": r.mean_current,
            "previous_quality_score": r.mean_previous,
            "action_required": true,
            "timestamp": r.window_end.to_rfc3339_opts(SecondsFormat::Secs, true),
        }),
    }
}

/// How a delivery attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Attempt {
    /// 2xx.
    Delivered {
        /// Status.
        status: u16,
    },
    /// Worth retrying: 429, 408, 5xx, timeouts, connection errors.
    Retry {
        /// Status, if any.
        status: Option<u16>,
        /// What happened.
        error: String,
        /// `Retry-After` on 429/503.
        retry_after: Option<Duration>,
    },
    /// Other 4xx: retrying the same request will not help.
    Reject {
        /// Status.
        status: u16,
        /// What happened.
        error: String,
    },
}

/// The coaching platform client.
#[derive(Clone)]
pub struct CoachingClient {
    http: reqwest::Client,
    url: reqwest::Url,
    key: Option<SigningKey>,
    auth: Option<(reqwest::header::HeaderName, reqwest::header::HeaderValue)>,
    /// The secrets this client sends, cut out of any answer text it keeps (a gateway that
    /// says "invalid key sk_…" would otherwise put it in the journal and the logs).
    redactions: std::sync::Arc<Vec<String>>,
}

impl std::fmt::Debug for CoachingClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoachingClient")
            .field("url", &crate::config::redact_url(self.url.as_str()))
            .finish_non_exhaustive()
    }
}

impl CoachingClient {
    /// A client for `coaching.url`, or `None` when forwarding is off (empty URL).
    ///
    /// # Errors
    /// A message when the URL or secret is unusable (config validation catches this first).
    pub fn new(settings: &CoachingSettings) -> Result<Option<CoachingClient>, String> {
        if settings.url.trim().is_empty() {
            return Ok(None);
        }
        let url =
            reqwest::Url::parse(settings.url.trim()).map_err(|e| format!("coaching.url: {e}"))?;
        let key = if settings.secret.is_set() {
            Some(SigningKey::parse(&settings.secret).map_err(|e| format!("coaching.secret: {e}"))?)
        } else {
            None
        };
        let mut redactions: Vec<String> = settings
            .secret
            .expose()
            .into_iter()
            .map(str::to_owned)
            .collect();
        let auth = if settings.auth_header.is_set() {
            let (name, value) = settings.auth_header_pair().map_err(|e| e.to_string())?;
            // The whole value, and the credential after a scheme ("Bearer sk_…").
            redactions.push(value.trim().to_owned());
            if let Some((_, credential)) = value.trim().split_once(' ') {
                redactions.push(credential.trim().to_owned());
            }
            let mut value = reqwest::header::HeaderValue::from_str(&value)
                .map_err(|_| "coaching.auth_header: invalid value".to_owned())?;
            value.set_sensitive(true);
            let name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| "coaching.auth_header: invalid name".to_owned())?;
            Some((name, value))
        } else {
            None
        };
        let http = reqwest::Client::builder()
            .user_agent(concat!("genesys-sentiment/", env!("CARGO_PKG_VERSION")))
            .timeout(settings.timeout.get())
            // A 301/302 would turn the POST into a body-less GET (answered 200: lost); a 307
            // would send the body and signature to another origin. A 3xx is an answer.
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(settings.concurrency.get())
            .build()
            .map_err(|e| e.to_string())?;
        // Longest first, so a credential inside a longer secret is not cut out alone.
        redactions.retain(|r| r.len() >= 4);
        redactions.sort_by_key(|r| std::cmp::Reverse(r.len()));
        Ok(Some(CoachingClient {
            http,
            url,
            key,
            auth,
            redactions: std::sync::Arc::new(redactions),
        }))
    }

    /// Sends one delivery: the body, `webhook-id` = the event id, and a fresh
    /// `webhook-timestamp` and signature on every attempt (Standard Webhooks).
    pub async fn deliver(&self, event_id: &str, body: &[u8]) -> Attempt {
        self.deliver_to(&self.url, event_id, body).await
    }

    /// The configured `coaching.url`.
    pub fn url(&self) -> &reqwest::Url {
        &self.url
    }

    /// Whether deliveries are signed (`coaching.secret` set).
    pub fn signs(&self) -> bool {
        self.key.is_some()
    }

    /// Asks the coaching URL for its headers (`HEAD`, unsigned, no body): what `doctor`
    /// uses to see that it answers without delivering anything. The status, or the cause.
    pub async fn probe(&self) -> Result<u16, String> {
        let mut request = self.http.head(self.url.clone());
        if let Some((name, value)) = &self.auth {
            request = request.header(name.clone(), value.clone());
        }
        match request.send().await {
            Ok(r) => Ok(r.status().as_u16()),
            Err(e) if e.is_timeout() => Err("timed out".into()),
            Err(e) => Err(describe_transport(e.without_url())),
        }
    }

    /// [`CoachingClient::deliver`] to another URL (`doctor --send-test` uses a test path).
    pub async fn deliver_to(&self, url: &reqwest::Url, event_id: &str, body: &[u8]) -> Attempt {
        let timestamp = Utc::now().timestamp();
        let mut request = self
            .http
            .post(url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", event_id)
            .header("webhook-timestamp", timestamp.to_string())
            .body(body.to_vec());
        if let Some(key) = &self.key {
            request = request.header("webhook-signature", key.sign(event_id, timestamp, body));
        }
        if let Some((name, value)) = &self.auth {
            request = request.header(name.clone(), value.clone());
        }
        match request.send().await {
            Err(e) => Attempt::Retry {
                status: None,
                error: if e.is_timeout() {
                    "timed out".into()
                } else {
                    // Without the URL (it may carry credentials; it is journaled), with the
                    // cause (TLS, connection refused, DNS).
                    describe_transport(e.without_url())
                },
                retry_after: None,
            },
            Ok(response) => {
                let status = response.status().as_u16();
                let retry_after = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_retry_after);
                // At most a short prefix of any answer is read (a 100 MB error body is not).
                let text: String = match crate::genesys::body::read_capped(response, 4096).await {
                    Ok((bytes, _)) => {
                        let mut text = String::from_utf8_lossy(&bytes).into_owned();
                        for secret in self.redactions.iter() {
                            text = text.replace(secret.as_str(), crate::domain::REDACTED);
                        }
                        crate::domain::printable(&text, 200)
                    }
                    Err(_) => String::new(),
                };
                match status {
                    200..=299 => Attempt::Delivered { status },
                    300..=399 => Attempt::Reject {
                        status,
                        error: format!(
                            "answered {status} (a redirect; deliveries do not follow redirects: point coaching.url at the final address)"
                        ),
                    },
                    408 | 429 | 500..=599 => Attempt::Retry {
                        status: Some(status),
                        error: format!("answered {status}: {text}"),
                        retry_after: if matches!(status, 429 | 503) {
                            retry_after
                        } else {
                            None
                        },
                    },
                    _ => Attempt::Reject {
                        status,
                        error: format!("answered {status}: {text}"),
                    },
                }
            }
        }
    }
}

/// A transport error and its causes, one line.
fn describe_transport(e: reqwest::Error) -> String {
    let mut message = format!("request failed: {e}");
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message
}
