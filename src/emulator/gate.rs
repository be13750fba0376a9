//! What stands in front of every `/api/v2` call: bearer-token check, the per-token rate
//! limit with `inin-ratelimit-*` headers, and fault injection. Errors use Genesys's error
//! body (docs/genesys-api.md §5.2, §5.3).

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::RngExt;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::time::Instant;

use super::EmulatorState;

/// An error answer in Genesys's `ErrorBody` shape, with `ININ-Correlation-Id`.
pub fn genesys_error(status: StatusCode, code: &str, message: &str) -> Response {
    let correlation = uuid::Uuid::new_v4().to_string();
    let body = json!({
        "message": message,
        "code": code,
        "status": status.as_u16(),
        "contextId": correlation,
        "details": [],
        "errors": [],
    });
    let mut response = (status, axum::Json(body)).into_response();
    response.headers_mut().insert(
        "inin-correlation-id",
        HeaderValue::from_str(&correlation).expect("uuid is a valid header"),
    );
    response
}

/// The official 429 (docs/genesys-api.md §5.2): `Retry-After` in seconds and the same number in the text.
pub fn too_many_requests(retry_after_secs: u64) -> Response {
    let mut response = genesys_error(
        StatusCode::TOO_MANY_REQUESTS,
        "too.many.requests.retry.after",
        &format!(
            "Rate limit exceeded the maximum. Retry the request in [{retry_after_secs}] seconds"
        ),
    );
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from_str(&retry_after_secs.to_string()).expect("number"),
    );
    response
}

/// Faults that can be switched on at start-up and at runtime (`PUT /emulator/faults`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Share of API requests answered 500 or 503.
    pub error_rate: f64,
    /// Added latency per API request, milliseconds.
    pub latency_ms: u64,
    /// Share of successful API answers whose JSON body is cut in half.
    pub malformed_rate: f64,
    /// A 429 storm: every API request is answered 429 for this many seconds from now.
    pub storm_seconds: u64,
    /// Revoke every token issued so far (one-shot when set through the admin endpoint).
    pub revoke_tokens: bool,
    /// Jobs end in FAILED instead of FULFILLED.
    pub fail_jobs: bool,
    /// Answer every API request 403, as if the OAuth client's role lacked the permission.
    pub forbidden: bool,
    /// Answer 403 to requests whose path starts with one of these (one missing permission).
    pub forbid_paths: Vec<String>,
    /// Answer 403 to every request that needs one of these permissions (a role without
    /// them), e.g. `speechAndTextAnalytics:data:view`.
    pub forbid_permissions: Vec<String>,
    /// Conversations (ids) still going on: listed without `conversationEnd` (so a
    /// `conversationEnd exists` filter leaves them out), not analysed by STA yet.
    pub ongoing: Vec<String>,
    /// Refuse (400) a details query with more predicates than this in one filter (0 = no
    /// limit): Genesys's own limit is not documented.
    pub max_filter_predicates: usize,
}

/// The permission an emulated endpoint requires (docs/genesys-api.md §2, §4.1, §4.3).
fn permission_for(path: &str) -> &'static str {
    if path.starts_with("/api/v2/processautomation/") {
        "processautomation:trigger:view"
    } else if path.starts_with("/api/v2/notifications/") {
        // Listing topics needs no permission of its own.
        ""
    } else if path.contains("/speechandtextanalytics/") {
        "speechAndTextAnalytics:data:view"
    } else if path.contains("/transcripts/aggregates") {
        "analytics:speechAndTextAnalyticsAggregates:view"
    } else if path.starts_with("/api/v2/routing/queues") {
        "routing:queue:view"
    } else if path.starts_with("/api/v2/users") {
        "directory:user:view"
    } else {
        "analytics:conversationDetail:view"
    }
}

/// The STA conversation endpoint needs a second permission beside the one
/// [`permission_for`] names (docs/genesys-api.md §4.1).
fn also_needed(path: &str) -> Option<&'static str> {
    path.contains("/speechandtextanalytics/")
        .then_some("recording:recording:view")
}

/// The first permission `path` needs that `forbidden` takes away, if any.
fn lacking(path: &str, forbidden: &[String]) -> Option<&'static str> {
    [Some(permission_for(path)), also_needed(path)]
        .into_iter()
        .flatten()
        .filter(|p| !p.is_empty())
        .find(|p| forbidden.iter().any(|f| f == p))
}

/// A 403 naming `permission`, as Genesys words it.
fn forbidden(permission: &str) -> Response {
    let correlation = uuid::Uuid::new_v4().to_string();
    let body = json!({
        "message": format!("You are missing the following permission(s): {permission}"),
        "code": "missing.any.permissions",
        "status": 403,
        "messageWithParams": "You are missing the following permission(s): {permissions}",
        "messageParams": {"permissions": permission},
        "contextId": correlation,
        "details": [],
        "errors": [],
    });
    let mut response = (StatusCode::FORBIDDEN, axum::Json(body)).into_response();
    response.headers_mut().insert(
        "inin-correlation-id",
        HeaderValue::from_str(&correlation).expect("uuid is a valid header"),
    );
    response
}

/// Per-token state.
#[derive(Debug, Clone)]
pub struct TokenState {
    /// When it stops being accepted.
    pub expires_at: Instant,
    /// Revoked by a fault.
    pub revoked: bool,
    /// Start of the current rate window.
    pub window_start: Instant,
    /// Requests counted in the current window.
    pub count: u64,
}

/// Runs in front of every `/api/v2` handler.
pub async fn api_gate(
    State(state): State<EmulatorState>,
    request: Request,
    next: Next,
) -> Response {
    state
        .stats
        .api_requests
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let (latency, storm_left, fail, forbid) = {
        let faults = state.faults.lock().expect("faults lock");
        let storm_left = faults
            .storm_until
            .and_then(|until| until.checked_duration_since(Instant::now()));
        let mut rng = state.rng.lock().expect("rng lock");
        let fail =
            faults.current.error_rate > 0.0 && rng.random_bool(faults.current.error_rate.min(1.0));
        (
            faults.current.latency_ms,
            storm_left,
            fail,
            faults.current.forbidden,
        )
    };
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let unauthorized = || {
        state
            .stats
            .unauthorized
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    };
    let Some(token) = token else {
        unauthorized();
        return genesys_error(
            StatusCode::UNAUTHORIZED,
            "bad.credentials",
            "No authentication bearer token specified in authorization header.",
        );
    };
    let view = {
        let mut tokens = state.tokens.lock().expect("tokens lock");
        let now = Instant::now();
        match tokens.get_mut(&token) {
            Some(t) if !t.revoked && now < t.expires_at => {
                if now >= t.window_start + Duration::from_secs(60) {
                    t.window_start = now;
                    t.count = 0;
                }
                t.count += 1;
                let reset =
                    (t.window_start + Duration::from_secs(60)).saturating_duration_since(now);
                Some((t.count, reset))
            }
            _ => None,
        }
    };
    let Some((count, reset)) = view else {
        unauthorized();
        return genesys_error(
            StatusCode::UNAUTHORIZED,
            "bad.credentials",
            "Invalid login credentials.",
        );
    };
    let limit = state.config.rate_limit_per_minute;
    let reset_secs = reset.as_secs_f64().ceil().max(1.0) as u64;
    let path = request.uri().path();
    // The permission a 403 names, when the request is forbidden.
    let forbidden_for = {
        let faults = state.faults.lock().expect("faults lock");
        let missing = lacking(path, &faults.current.forbid_permissions);
        let by_path = faults
            .current
            .forbid_paths
            .iter()
            .any(|p| path.starts_with(p.as_str()));
        (forbid || by_path || missing.is_some()).then(|| missing.unwrap_or(permission_for(path)))
    };
    let mut response = if let Some(permission) = forbidden_for {
        forbidden(permission)
    } else if let Some(left) = storm_left {
        state
            .stats
            .rate_limited
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        too_many_requests(left.as_secs_f64().ceil().max(1.0) as u64)
    } else if count > limit {
        state
            .stats
            .rate_limited
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        too_many_requests(reset_secs)
    } else if fail {
        let status = if rand::rng().random_bool(0.5) {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        let message = if status == StatusCode::SERVICE_UNAVAILABLE {
            "Service Unavailable - The server is currently unavailable (because it is overloaded or down for maintenance)."
        } else {
            "The server encountered an unexpected condition."
        };
        genesys_error(status, "internal.server.error", message)
    } else {
        let response = next.run(request).await;
        maybe_malform(&state, response).await
    };
    let headers = response.headers_mut();
    headers.insert("inin-ratelimit-count", HeaderValue::from(count.min(limit)));
    headers.insert("inin-ratelimit-allowed", HeaderValue::from(limit));
    headers.insert("inin-ratelimit-reset", HeaderValue::from(reset_secs));
    if !headers.contains_key("inin-correlation-id") {
        headers.insert(
            "inin-correlation-id",
            HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()).expect("uuid"),
        );
    }
    response
}

async fn maybe_malform(state: &EmulatorState, response: Response) -> Response {
    let rate = state
        .faults
        .lock()
        .expect("faults lock")
        .current
        .malformed_rate;
    if rate <= 0.0 || !response.status().is_success() {
        return response;
    }
    if !state
        .rng
        .lock()
        .expect("rng lock")
        .random_bool(rate.min(1.0))
    {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let cut = bytes.slice(..bytes.len() / 2);
    Response::from_parts(parts, Body::from(cut))
}
