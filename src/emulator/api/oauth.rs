//! `POST /oauth/token`: the client-credentials grant with HTTP Basic (docs/genesys-api.md §1).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rand::RngExt;
use serde_json::json;
use tokio::time::Instant;

use super::super::EmulatorState;
use super::super::gate::TokenState;

struct TokenForm {
    grant_type: Option<String>,
}

/// `POST /oauth/token`: client credentials with HTTP Basic.
pub async fn token(
    State(state): State<EmulatorState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let refused = || {
        (
            StatusCode::UNAUTHORIZED,
            Json(
                json!({"error": "invalid_client", "description": "Client authentication failed",
                        "error_description": "Client authentication failed"}),
            ),
        )
            .into_response()
    };
    let credentials = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok());
    let Some((id, secret)) = credentials.as_deref().and_then(|c| c.split_once(':')) else {
        return refused();
    };
    let ok_id = crate::domain::signature::constant_time_eq(
        id.as_bytes(),
        state.config.client_id.as_bytes(),
    );
    let ok_secret = crate::domain::signature::constant_time_eq(
        secret.as_bytes(),
        state.config.client_secret.as_bytes(),
    );
    if !(ok_id && ok_secret) {
        return refused();
    }
    let form: TokenForm = serde_urlencoded_form(&body);
    if form.grant_type.as_deref() != Some("client_credentials") {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "unsupported_grant_type",
                        "description": "grant_type must be client_credentials"})),
        )
            .into_response();
    }
    let bytes: [u8; 32] = state.rng.lock().expect("rng lock").random();
    let access_token = URL_SAFE_NO_PAD.encode(bytes);
    let now = Instant::now();
    state.tokens.lock().expect("tokens lock").insert(
        access_token.clone(),
        TokenState {
            expires_at: now + state.config.token_lifetime,
            revoked: false,
            window_start: now,
            count: 0,
        },
    );
    state
        .stats
        .tokens_issued
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Json(json!({"access_token": access_token, "token_type": "bearer",
                "expires_in": state.config.token_lifetime.as_secs()}))
    .into_response()
}

fn serde_urlencoded_form(body: &[u8]) -> TokenForm {
    let text = String::from_utf8_lossy(body);
    let grant_type = text.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == "grant_type").then(|| v.to_owned())
    });
    TokenForm { grant_type }
}
