//! `/healthz`, `/readyz` and `/metrics`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::json;

use super::AppState;
use crate::telemetry::metrics::{CONTENT_TYPE, TEXT_CONTENT_TYPE};

/// Liveness: 200 as long as the process serves HTTP.
pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "alive" }))
}

/// Readiness: 200 once start-up has completed and while the daemon can do its work; 503
/// before that, while draining, while the journal cannot write (a webhook would get 503
/// anyway), and while the forwarder is stalled (deliveries due, none completing).
pub async fn readyz(State(state): State<AppState>) -> Response {
    let phase = state.readiness.phase();
    let trouble = state.services().and_then(|s| {
        if !s.journal.writable() {
            Some("journal_unwritable")
        } else if s
            .forwarder
            .as_ref()
            .is_some_and(|(health, after)| health.stalled(*after))
        {
            Some("forwarder_stalled")
        } else {
            None
        }
    });
    match (phase.is_ready(), trouble) {
        (true, None) => (StatusCode::OK, Json(json!({ "status": phase.as_str() }))).into_response(),
        (true, Some(why)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "degraded", "reason": why })),
        )
            .into_response(),
        (false, _) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": phase.as_str() })),
        )
            .into_response(),
    }
}

/// Prometheus exposition: the classic text format, or OpenMetrics when the scraper's
/// `Accept` asks for `application/openmetrics-text`. Gauges that are read off the state
/// (oldest owed delivery, journal bytes) are set first.
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(services) = state.services() {
        let age = services
            .deliveries
            .oldest_since()
            .map_or(0, |since| (Utc::now() - since).num_seconds().max(0));
        state.metrics.oldest_pending_age.set(age);
        // The shared journal lives in PostgreSQL: no segments on this replica's disk.
        let bytes = if services.journal.shared().is_some() {
            0
        } else {
            journal_bytes(services.journal.dir())
        };
        state.metrics.journal_bytes.set(bytes);
    }
    let openmetrics = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/openmetrics-text"));
    if openmetrics {
        (
            [(header::CONTENT_TYPE, CONTENT_TYPE)],
            state.metrics.render(),
        )
            .into_response()
    } else {
        (
            [(header::CONTENT_TYPE, TEXT_CONTENT_TYPE)],
            state.metrics.render_text(),
        )
            .into_response()
    }
}

/// Bytes of the live journal segments in `dir` (0 when they cannot be listed).
fn journal_bytes(dir: &std::path::Path) -> i64 {
    crate::journal::scan::list_segments(dir).map_or(0, |segments| {
        segments
            .iter()
            .filter_map(|s| std::fs::metadata(&s.path).ok())
            .map(|m| i64::try_from(m.len()).unwrap_or(i64::MAX))
            .sum()
    })
}
