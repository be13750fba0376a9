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

/// Readiness: 200 once start-up has completed, 503 before that and while draining.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let phase = state.readiness.phase();
    let status = if phase.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(json!({ "status": phase.as_str() }))).into_response()
}

/// Prometheus / OpenMetrics exposition.
pub async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        state.metrics.render(),
    )
        .into_response()
}
