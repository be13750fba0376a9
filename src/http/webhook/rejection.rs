//! Every way the webhook intake answers, in one place: each answer owns its HTTP status,
//! its JSON `error` code (or success body) and the `outcome` label of
//! `genesys_sentiment_webhooks_total`, so the three can never drift apart.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::super::ApiError;
use crate::domain::QualityReading;

/// A successful answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// 202: stored durably with this id.
    Accepted(String),
    /// 200: already stored with this id; nothing written.
    Duplicate(String),
    /// 200: `?validate=true` and the event is usable; nothing stored.
    Validated(Option<QualityReading>),
}

impl Answer {
    /// The metric label.
    pub fn label(&self) -> &'static str {
        match self {
            Answer::Accepted(_) => "accepted",
            Answer::Duplicate(_) => "duplicate",
            Answer::Validated(_) => "validated",
        }
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        match self {
            Answer::Accepted(id) => {
                (StatusCode::ACCEPTED, Json(json!({ "id": id }))).into_response()
            }
            Answer::Duplicate(id) => {
                (StatusCode::OK, Json(json!({ "duplicate": true, "id": id }))).into_response()
            }
            Answer::Validated(reading) => (
                StatusCode::OK,
                Json(json!({ "valid": true, "stored": false, "reading": reading })),
            )
                .into_response(),
        }
    }
}

/// Why a webhook was not accepted.
#[derive(Debug, Clone, PartialEq)]
pub enum Rejection {
    /// 503: starting up or draining.
    NotReady,
    /// 415: not a JSON content type.
    UnsupportedMediaType,
    /// 413: the body is over `server.body_limit_bytes`.
    PayloadTooLarge {
        /// The limit.
        limit: usize,
    },
    /// 400: the body could not be read.
    BadRequest(String),
    /// 408: the body did not arrive within `server.header_read_timeout`.
    BodyTimeout,
    /// 400: the body is not JSON.
    MalformedJson(String),
    /// 401: no configured method admitted the request (or a stale timestamp).
    Unauthorized(String),
    /// 422: JSON that is not a usable event.
    InvalidEvent(String),
    /// 503: an identical event is being stored right now.
    InProgress,
    /// 503: the journal could not store the event.
    JournalUnavailable,
    /// 503: the journal's queue is full; shed before doing any work.
    Overloaded,
}

impl Rejection {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Rejection::NotReady
            | Rejection::InProgress
            | Rejection::JournalUnavailable
            | Rejection::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            Rejection::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Rejection::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Rejection::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Rejection::BadRequest(_) | Rejection::MalformedJson(_) => StatusCode::BAD_REQUEST,
            Rejection::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Rejection::InvalidEvent(_) => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }

    /// The JSON `error` code, which is also the metric label.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::NotReady => "not_ready",
            Rejection::UnsupportedMediaType => "unsupported_media_type",
            Rejection::PayloadTooLarge { .. } => "payload_too_large",
            Rejection::BadRequest(_) => "bad_request",
            Rejection::BodyTimeout => "body_timeout",
            Rejection::MalformedJson(_) => "malformed_json",
            Rejection::Unauthorized(_) => "unauthorized",
            Rejection::InvalidEvent(_) => "invalid_event",
            Rejection::InProgress => "in_progress",
            Rejection::JournalUnavailable => "journal_unavailable",
            Rejection::Overloaded => "overloaded",
        }
    }

    /// Seconds the sender should wait before retrying, for the 503s.
    pub fn retry_after(&self) -> Option<&'static str> {
        match self {
            Rejection::InProgress | Rejection::Overloaded => Some("1"),
            Rejection::JournalUnavailable | Rejection::NotReady => Some("5"),
            _ => None,
        }
    }

    /// What the answer's message says (for the log line of a refusal).
    pub fn detail(&self) -> String {
        self.message()
    }

    fn message(&self) -> String {
        match self {
            Rejection::NotReady => ApiError::not_ready().message,
            Rejection::UnsupportedMediaType => {
                "send the event as JSON (Content-Type: application/json)".into()
            }
            Rejection::PayloadTooLarge { limit } => {
                format!("the body is larger than {limit} bytes")
            }
            Rejection::BodyTimeout => {
                "the body did not arrive within server.header_read_timeout".into()
            }
            Rejection::BadRequest(m)
            | Rejection::MalformedJson(m)
            | Rejection::Unauthorized(m)
            | Rejection::InvalidEvent(m) => m.clone(),
            Rejection::InProgress => {
                "an identical event is being stored right now; retry in a second".into()
            }
            Rejection::JournalUnavailable => {
                "the event could not be stored durably; retry later".into()
            }
            Rejection::Overloaded => "the daemon is at capacity; retry in a second".into(),
        }
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let retry_after = self.retry_after();
        let mut response =
            ApiError::new(self.status(), self.code(), self.message()).into_response();
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static(secs));
        }
        response
    }
}
