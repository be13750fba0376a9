//! `server.admin_token`: when set, admin routes answer 401 without
//! `Authorization: Bearer <token>` (compared in constant time; the scheme in any case).

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::{ApiError, AppState};

/// The bearer token of an `Authorization` header (`Bearer` matched case-insensitively).
pub fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// Whether a `Host` header's name (port aside) is a loopback one.
fn is_loopback_host(host: &str) -> bool {
    let host = host.trim();
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split_once(']').map_or(rest, |(name, _)| name)
    } else {
        host.rsplit_once(':').map_or(host, |(name, _)| name)
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Passes the request on when no admin token is configured or it presents the right one.
pub async fn require_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(expected) = state.settings.server.admin_token.expose() else {
        // No token: the admin port is trusted because only this machine reaches it. A web
        // page whose name re-resolves to 127.0.0.1 (DNS rebinding) would reach it too, from
        // the operator's browser; its requests carry the page's name in Host, so a
        // loopback listener answers only requests addressed to a loopback name.
        if state.settings.server.admin_listen.ip().is_loopback()
            && !request
                .headers()
                .get(header::HOST)
                .is_none_or(|h| h.to_str().is_ok_and(is_loopback_host))
        {
            return ApiError::new(
                StatusCode::MISDIRECTED_REQUEST,
                "not_loopback_host",
                "without server.admin_token, admin routes answer only requests addressed to a loopback name such as localhost, 127.0.0.1 or [::1] (so a web page cannot read them through DNS rebinding); set server.admin_token to use another name",
            )
            .into_response();
        }
        return next.run(request).await;
    };
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer);
    let ok = presented.is_some_and(|p| bool::from(p.as_bytes().ct_eq(expected.as_bytes())));
    if ok {
        return next.run(request).await;
    }
    let mut response = ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "admin routes need Authorization: Bearer <server.admin_token>",
    )
    .into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::is_loopback_host;

    #[test]
    fn loopback_hosts_are_told_apart_from_rebound_names() {
        for ok in [
            "localhost",
            "LOCALHOST:8081",
            "127.0.0.1:8081",
            "127.9.9.9",
            "[::1]:8081",
            "[::1]",
        ] {
            assert!(is_loopback_host(ok), "{ok}");
        }
        for bad in [
            "evil.example:8081",
            "localhost.evil.example",
            "10.0.0.1:8081",
            "[::2]:80",
            "",
        ] {
            assert!(!is_loopback_host(bad), "{bad}");
        }
    }
}
