//! `/healthz`, `/readyz` and `/metrics`.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use crate::telemetry::metrics::CONTENT_TYPE;

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

/// Prometheus / OpenMetrics exposition.
pub async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        state.metrics.render(),
    )
        .into_response()
}
