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

/// The name of a `Host` header without its port (an IPv6 literal without its brackets, a
/// trailing dot dropped), or `None` when what follows the name is not an optional numeric
/// port.
fn host_name(host: &str) -> Option<&str> {
    let host = host.trim();
    let (name, rest) = if let Some(inside) = host.strip_prefix('[') {
        inside.split_once(']')?
    } else {
        host.split_at(host.find(':').unwrap_or(host.len()))
    };
    // An empty port (`localhost:`) is allowed by RFC 3986.
    let port_ok = rest.is_empty()
        || rest
            .strip_prefix(':')
            .is_some_and(|p| p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    port_ok.then(|| name.strip_suffix('.').unwrap_or(name))
}

/// Whether a request addressed to `host` may be answered without a token: `localhost`, an
/// IP address (a rebound page always carries a name) or a configured name.
fn is_trusted_host(host: &str, admin_hosts: &[String]) -> bool {
    let Some(name) = host_name(host) else {
        return false;
    };
    name.eq_ignore_ascii_case("localhost")
        || (host.trim().starts_with('[') && name.parse::<std::net::Ipv6Addr>().is_ok())
        || name.parse::<std::net::Ipv4Addr>().is_ok()
        || admin_hosts
            .iter()
            .any(|h| h.strip_suffix('.').unwrap_or(h).eq_ignore_ascii_case(name))
}

/// Passes the request on when no admin token is configured or it presents the right one.
pub async fn require_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(expected) = state.settings.server.admin_token.expose() else {
        // No token: the admin port is trusted because only this machine (or a private
        // network) reaches it. A web page whose name re-resolves to this address (DNS
        // rebinding) would reach it too, from the operator's browser; its requests carry the
        // page's name in Host, so without a token only known names are answered.
        let settings = &state.settings.server;
        // Every browser sends Host; a request without one is refused too.
        if !request.headers().get(header::HOST).is_some_and(|h| {
            h.to_str()
                .is_ok_and(|h| is_trusted_host(h, &settings.admin_hosts))
        }) {
            return ApiError::new(
                StatusCode::MISDIRECTED_REQUEST,
                "unknown_host",
                "without server.admin_token, admin routes answer only requests addressed to localhost, an IP address or a name in server.admin_hosts (so a web page cannot read them through DNS rebinding); add the name to server.admin_hosts or set server.admin_token",
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
    use super::is_trusted_host;

    #[test]
    fn known_names_and_addresses_are_told_apart_from_rebound_names() {
        let listed = ["daemon".to_owned()];
        for ok in [
            "localhost",
            "LOCALHOST:8081",
            "127.0.0.1:8081",
            "10.0.0.1:8081",
            "[::1]:8081",
            "[fd00::7]",
            "daemon:8081",
            "Daemon",
            "daemon.",
            "localhost.:8081",
            "localhost:",
        ] {
            assert!(is_trusted_host(ok, &listed), "{ok}");
        }
        for bad in [
            "evil.example:8081",
            "localhost.evil.example",
            "daemon.evil.example",
            "127.0.0.1.nip.io",
            "",
            "[::1]evil.example",
            "127.0.0.1:evil",
            "1::2:3",
            "[::1",
        ] {
            assert!(!is_trusted_host(bad, &listed), "{bad}");
        }
        assert!(!is_trusted_host("daemon:8081", &[]));
    }
}
