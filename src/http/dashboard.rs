//! `GET /`: the dashboard, one self-contained page (no CDN: the daemon may run offline).
//! It reads `/v1/trends`, `/v1/runs` and `/v1/deliveries` and refreshes every 30 s.

use axum::http::header;
use axum::response::{IntoResponse, Response};

const PAGE: &str = include_str!("dashboard.html");

/// The page.
pub async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::REFERRER_POLICY, "no-referrer"),
            (
                header::CONTENT_SECURITY_POLICY,
                // No framing (clickjacking), no forms or base URL to redirect elsewhere.
                "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; form-action 'none'; base-uri 'none'",
            ),
        ],
        PAGE,
    )
        .into_response()
}
