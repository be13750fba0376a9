//! The HTTP server: probes, metrics, webhook intake, trends API and dashboard.
//!
//! Handlers only hand work to the journal or read the analytics results; they never call
//! Genesys or the coaching platform inline.

pub mod api;
pub mod dashboard;
pub mod error;
pub mod health;
pub mod ready;
pub mod state;
pub mod webhook;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{get, post};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use error::ApiError;
pub use ready::Ready;
pub use state::{AppState, Phase, Readiness, Services};

/// The daemon's router with its body-limit, timeout and tracing layers.
pub fn router(state: AppState) -> Router {
    let body_limit = state.settings.server.body_limit_bytes;
    let timeout = state.settings.server.request_timeout.get();
    Router::new()
        .route("/", get(dashboard::page))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/webhooks/genesys", post(webhook::receive))
        .route("/webhook/coaching", post(webhook::receive))
        .route("/v1/trends", get(api::trends))
        .route("/v1/trends/history", get(api::history))
        .route("/v1/runs", get(api::runs))
        .route("/v1/deliveries", get(api::deliveries))
        .method_not_allowed_fallback(error::method_not_allowed)
        .fallback(error::not_found)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            timeout,
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
