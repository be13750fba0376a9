//! The HTTP server: probes, metrics, webhook intake, trends API and dashboard.
//!
//! Handlers only hand work to the journal or read the analytics results; they never call
//! Genesys or the coaching platform inline.

pub mod admin_auth;
pub mod api;
pub mod dashboard;
pub mod error;
pub mod health;
pub mod ready;
pub mod serve;
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

/// The public router (`server.listen`): the webhook intake and the probes, nothing that
/// reveals agent data.
pub fn public_router(state: AppState) -> Router {
    layered(
        Router::new()
            .route("/healthz", get(health::healthz))
            .route("/readyz", get(health::readyz))
            .route("/webhooks/genesys", post(webhook::receive))
            .route("/webhook/coaching", post(webhook::receive)),
        state,
    )
}

/// The admin router (`server.admin_listen`): trends, runs, deliveries, the dashboard,
/// metrics and the probes; behind `server.admin_token` when one is set (the dashboard page
/// itself holds no data and asks for the token).
pub fn admin_router(state: AppState) -> Router {
    let guarded = Router::new()
        .route("/metrics", get(health::metrics))
        .route("/v1/trends", get(api::trends))
        .route("/v1/trends/history", get(api::history))
        .route("/v1/runs", get(api::runs))
        .route("/v1/deliveries", get(api::deliveries))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            admin_auth::require_token,
        ));
    layered(
        guarded
            .route("/", get(dashboard::page))
            .route("/healthz", get(health::healthz))
            .route("/readyz", get(health::readyz)),
        state,
    )
}

/// Both routers in one (tests of handlers that do not care which listener serves them).
pub fn router(state: AppState) -> Router {
    public_router(state.clone()).merge(admin_router(state))
}

fn layered(routes: Router<AppState>, state: AppState) -> Router {
    let body_limit = state.settings.server.body_limit_bytes;
    let timeout = state.settings.server.request_timeout.get();
    routes
        .method_not_allowed_fallback(error::method_not_allowed)
        .fallback(error::not_found)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            timeout,
        ))
        // Outside the timeout: its bare 503 gets the documented JSON body.
        .layer(axum::middleware::map_response(error::timeout_body))
        .layer(axum::middleware::map_response(error::no_sniff))
        // A 5xx is the handler's to log (with its cause): a /readyz 503 during a drain, or
        // a 503 shed under load, is expected and must not fill the log with ERROR lines.
        .layer(
            TraceLayer::new_for_http().on_failure(
                tower_http::trace::DefaultOnFailure::new().level(tracing::Level::DEBUG),
            ),
        )
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;
    use crate::telemetry::metrics::Metrics;

    #[tokio::test(start_paused = true)]
    async fn a_request_over_the_timeout_gets_the_json_503_with_retry_after() {
        let mut settings = Settings::defaults();
        settings.server.request_timeout = std::time::Duration::from_secs(30).into();
        let state = AppState::new(std::sync::Arc::new(settings), Metrics::new());
        let slow = Router::new().route(
            "/slow",
            get(|| async {
                tokio::time::sleep(std::time::Duration::from_secs(60)).await;
                "late"
            }),
        );
        let app = layered(slow, state);
        let response = tower::ServiceExt::oneshot(
            app,
            axum::http::Request::get("/slow")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()["retry-after"], "5");
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"], "timeout");
    }
}
