//! `POST /webhooks/genesys` (and `POST /webhook/coaching`, the original design's path).
//!
//! Answers, each with a JSON body: `202 {"id"}` only once the event is durably journaled;
//! `200 {"duplicate": true, "id"}` for a repeat within the dedupe window; `400` not JSON;
//! `401` authentication failed or stale timestamp; `405` wrong method; `413` body over the
//! limit; `415` not JSON; `422` valid JSON that is not a usable event; `503` when the journal
//! cannot write (or the daemon is not ready), so Genesys retries. [`rejection`] owns every
//! answer's status, code and metric label.
//!
//! `?validate=true` runs authentication, parsing and normalization and answers
//! `200 {"valid": true, ...}` without storing or forwarding anything: for testing a Genesys
//! data action or EventBridge destination without touching the journal.

pub mod auth;
pub mod rejection;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequest, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::ingest::{IntakeError, Outcome, ParseError, parse};
pub use rejection::{Answer, Rejection};

use auth::AuthFailure;

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .is_some_and(|m| {
            m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
        })
}

/// Query string of the intake.
#[derive(Debug, Default, serde::Deserialize)]
pub struct IntakeQuery {
    /// Check the request without storing it.
    #[serde(default)]
    pub validate: bool,
}

/// The webhook handler: every answer is counted under its own label.
pub async fn receive(
    State(state): State<AppState>,
    query: Result<Query<IntakeQuery>, QueryRejection>,
    headers: HeaderMap,
    request: Request,
) -> Response {
    let started = std::time::Instant::now();
    let peer = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0);
    let mut authenticated = Sender::Unknown;
    let response = match handle(&state, query, &headers, request, &mut authenticated).await {
        Ok(answer) => {
            state.metrics.webhook(answer.label());
            answer.into_response()
        }
        Err(rejection) => {
            // A signature that verified under a stale timestamp is counted apart from the
            // other 401s: a rise of it is a sender's clock (or replays), not a wrong key.
            state.metrics.webhook(if authenticated == Sender::Stale {
                STALE_SIGNATURE
            } else {
                rejection.code()
            });
            // Refusals before the sender proved who it is have their own budget: a flood
            // of them (whatever they get wrong) does not silence a real sender's.
            let budget = match authenticated {
                Sender::Authenticated => &state.rejections_logged,
                Sender::Stale => &state.stale_logged,
                Sender::Unknown => &state.unauthorized_logged,
            };
            if rejection.status().is_client_error()
                && let Some(left_out) = budget.allow()
            {
                // Behind a load balancer the peer is the balancer; what it says the client
                // was is logged beside it (a sender can write anything there).
                let forwarded_for = forwarded_for(&headers);
                // A peer's text is logged with Debug escaping: no control characters reach
                // a terminal.
                tracing::warn!(
                    code = rejection.code(),
                    status = rejection.status().as_u16(),
                    reason = ?rejection.detail(),
                    peer = %peer.map_or_else(|| "unknown".to_owned(), |p| p.to_string()),
                    forwarded_for = ?forwarded_for,
                    earlier_not_logged = left_out,
                    "Webhook refused."
                );
            }
            rejection.into_response()
        }
    };
    state
        .metrics
        .webhook_duration(response.status().as_u16(), started.elapsed().as_secs_f64());
    response
}

/// What `X-Forwarded-For` says, every header of it joined: its end, where the proxies in
/// front append the address they saw (the start is whatever the client wrote), at most 100
/// characters of it.
fn forwarded_for(headers: &HeaderMap) -> Option<String> {
    let all: Vec<String> = headers
        .get_all("x-forwarded-for")
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    if all.is_empty() {
        return None;
    }
    let joined = all.join(", ");
    let count = joined.chars().count();
    Some(if count > 100 {
        let tail: String = joined.chars().skip(count - 100).collect();
        format!("…{}", crate::domain::printable(&tail, 100))
    } else {
        crate::domain::printable(&joined, 100)
    })
}

/// The metric label of a 401 whose signature verified under a timestamp outside
/// `webhook.timestamp_tolerance` (the answer's `error` stays `unauthorized`).
pub const STALE_SIGNATURE: &str = "stale_signature";

/// What a refused request proved about its sender, for the log budget its refusal uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sender {
    /// Nothing: no credential, or a wrong one.
    Unknown,
    /// A signature that verified, with a timestamp out of tolerance.
    Stale,
    /// Authenticated.
    Authenticated,
}

async fn handle(
    state: &AppState,
    query: Result<Query<IntakeQuery>, QueryRejection>,
    headers: &HeaderMap,
    request: Request,
    authenticated: &mut Sender,
) -> Result<Answer, Rejection> {
    let services = state.services().ok_or(Rejection::NotReady)?;
    // A sender with no credential at all is refused before its body is buffered (and
    // before its content type: a 415 would hide the credential problem during setup).
    let admitted = services.webhook_auth.check_headers(headers);
    match &admitted {
        Some(Err(failure)) => return Err(Rejection::Unauthorized(failure.to_string())),
        Some(Ok(())) => *authenticated = Sender::Authenticated,
        None => {}
    }
    // A bad query string is a counted, JSON 400 like any other refusal.
    let Query(query) = query.map_err(|e| Rejection::BadRequest(super::api::query_error(&e)))?;
    if !is_json(headers) {
        return Err(Rejection::UnsupportedMediaType);
    }
    // The body has as long to arrive as the head had: a sender trickling it does not hold
    // the connection (and a worker's memory) for the whole request timeout.
    let body = tokio::time::timeout(
        state.settings.server.header_read_timeout.get(),
        Bytes::from_request(request, state),
    )
    .await
    .map_err(|_| Rejection::BodyTimeout)?
    .map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Rejection::PayloadTooLarge {
                limit: state.settings.server.body_limit_bytes,
            }
        } else {
            Rejection::BadRequest(rejection.body_text())
        }
    })?;
    if admitted.is_none()
        && let Err(failure) =
            services
                .webhook_auth
                .check(headers, &body, chrono::Utc::now().timestamp())
    {
        // A stale timestamp under a signature that verified: a sender with a skewed clock,
        // or a replay of a captured request (no key needed), so a budget of its own.
        if failure == AuthFailure::Stale {
            *authenticated = Sender::Stale;
        }
        return Err(Rejection::Unauthorized(failure.to_string()));
    }
    *authenticated = Sender::Authenticated;
    let incoming = parse::parse(&body, state.settings.genesys.event_sentiment_scale()).map_err(
        |e| match e {
            ParseError::Malformed(m) => Rejection::MalformedJson(m),
            ParseError::Unusable(m) => Rejection::InvalidEvent(m),
        },
    )?;
    let now = chrono::Utc::now();
    parse::check_fields(&incoming, now, state.settings.webhook.max_clock_skew.get())
        .map_err(Rejection::InvalidEvent)?;
    let webhook_id = match headers.get("webhook-id") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                // An empty id (a template left blank) would make every later event
                // that carries it a duplicate of the first, for the whole window.
                .filter(|id| {
                    !id.is_empty()
                        && id.len() <= parse::MAX_ID_LEN
                        && id.bytes().all(|b| b.is_ascii_graphic())
                })
                .ok_or_else(|| {
                    Rejection::InvalidEvent(format!(
                        "webhook-id must be 1 to {} printable ASCII characters without spaces",
                        parse::MAX_ID_LEN
                    ))
                })?
                .to_owned(),
        ),
    };
    // After every check the real post makes: `?validate=true` says what it would answer.
    if query.validate {
        return services
            .intake
            .check(&incoming)
            .map(Answer::Validated)
            .map_err(Rejection::InvalidEvent);
    }
    if services.journal.saturated() {
        state.metrics.shed("journal_queue_full");
        return Err(Rejection::Overloaded);
    }
    let max_lag = state.settings.coaching.max_lag;
    // Replicas: what the shared outbox owes (every replica's, counted every few seconds).
    let owed = services
        .journal
        .shared()
        .map_or(0, |s| usize::try_from(s.owed()).unwrap_or(usize::MAX));
    if max_lag > 0
        && services.deliveries.forwarding()
        && services.deliveries.len().max(owed) >= max_lag
    {
        state.metrics.shed("outbox_lag");
        return Err(Rejection::Overloaded);
    }
    // Once the body is read the event is taken to its end in a task of its own: a sender
    // that goes away (or the request timeout) cannot leave it journaled but unsettled.
    let intake = services.intake.clone();
    let accepted =
        tokio::spawn(async move { intake.accept(incoming, webhook_id.as_deref()).await })
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "The intake task failed; answered 503.");
                Rejection::JournalUnavailable
            })?;
    match accepted {
        Ok(Outcome::Accepted(id)) => Ok(Answer::Accepted(id)),
        Ok(Outcome::Duplicate(id)) => Ok(Answer::Duplicate(id)),
        Ok(Outcome::InProgress) => Err(Rejection::InProgress),
        Ok(Outcome::Overloaded) => {
            state.metrics.shed("enrichment_full");
            Err(Rejection::Overloaded)
        }
        Err(IntakeError::Unusable(m)) => Err(Rejection::InvalidEvent(m)),
        Err(IntakeError::Journal(e)) => {
            tracing::error!(error = %e, "Webhook not stored; answered 503.");
            Err(Rejection::JournalUnavailable)
        }
    }
}
