//! `POST /webhooks/genesys` (and `POST /webhook/coaching`, the original design's path).
//!
//! Answers, each with a JSON body: `202 {"id"}` only once the event is durably journaled;
//! `200 {"duplicate": true, "id"}` for a repeat within the dedupe window; `400` not JSON;
//! `401` authentication failed or stale timestamp; `405` wrong method; `413` body over the
//! limit; `415` not JSON; `422` valid JSON that is not a usable event; `503` when the journal
//! cannot write (or the daemon is not ready), so Genesys retries.
//!
//! `?validate=true` runs authentication, parsing and normalization and answers
//! `200 {"valid": true, ...}` without storing or forwarding anything: for testing a Genesys
//! data action or EventBridge destination without touching the journal.

pub mod auth;
pub mod parse;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{ApiError, AppState};
use crate::intake::{IntakeError, Outcome};

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

/// The webhook handler.
pub async fn receive(
    State(state): State<AppState>,
    Query(query): Query<IntakeQuery>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let metrics = &state.metrics;
    let Some(services) = state.services() else {
        metrics.webhook("unavailable");
        return ApiError::not_ready().into_response();
    };
    if !is_json(&headers) {
        metrics.webhook("unsupported_media_type");
        return ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the event as JSON (Content-Type: application/json)",
        )
        .into_response();
    }
    let body = match body {
        Ok(b) => b,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            metrics.webhook("too_large");
            return ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!(
                    "the body is larger than {} bytes",
                    state.settings.server.body_limit_bytes
                ),
            )
            .into_response();
        }
        Err(rejection) => {
            metrics.webhook("bad_request");
            return ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                rejection.body_text(),
            )
            .into_response();
        }
    };
    if let Err(failure) =
        services
            .webhook_auth
            .check(&headers, &body, chrono::Utc::now().timestamp())
    {
        metrics.webhook("unauthorized");
        tracing::warn!(reason = %failure, "Webhook refused: authentication.");
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            failure.to_string(),
        )
        .into_response();
    }
    let incoming = match parse::parse(&body, state.settings.genesys.sentiment_scale) {
        Ok(i) => i,
        Err(parse::ParseError::Malformed(m)) => {
            metrics.webhook("bad_request");
            return ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", m).into_response();
        }
        Err(parse::ParseError::Unusable(m)) => {
            metrics.webhook("invalid_event");
            return ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_event", m)
                .into_response();
        }
    };
    if query.validate {
        return match services.intake.check(&incoming) {
            Ok(reading) => {
                metrics.webhook("validated");
                (
                    StatusCode::OK,
                    Json(json!({ "valid": true, "stored": false, "reading": reading })),
                )
                    .into_response()
            }
            Err(m) => {
                metrics.webhook("invalid_event");
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_event", m).into_response()
            }
        };
    }
    let webhook_id = headers.get("webhook-id").and_then(|v| v.to_str().ok());
    match services.intake.accept(incoming, webhook_id).await {
        Ok(Outcome::Accepted(id)) => {
            metrics.webhook("accepted");
            (StatusCode::ACCEPTED, Json(json!({ "id": id }))).into_response()
        }
        Ok(Outcome::Duplicate(id)) => {
            metrics.webhook("duplicate");
            (StatusCode::OK, Json(json!({ "duplicate": true, "id": id }))).into_response()
        }
        Ok(Outcome::InProgress) => {
            metrics.webhook("in_progress");
            let mut r = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "in_progress",
                "an identical event is being stored right now; retry in a second",
            )
            .into_response();
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            r
        }
        Err(IntakeError::Unusable(m)) => {
            metrics.webhook("invalid_event");
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_event", m).into_response()
        }
        Err(IntakeError::Journal(e)) => {
            metrics.webhook("unavailable");
            tracing::error!(error = %e, "Webhook not stored; answered 503.");
            let mut r = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "journal_unavailable",
                "the event could not be stored durably; retry later",
            )
            .into_response();
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            r
        }
    }
}
