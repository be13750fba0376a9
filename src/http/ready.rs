//! The "services ready" precondition as an extractor: a handler that takes [`Ready`] runs
//! only once start-up has completed, and every other request gets the same 503 `not_ready`.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::{ApiError, AppState, Services};

/// The started services, for handlers that need them.
#[derive(Debug, Clone)]
pub struct Ready(pub Arc<Services>);

impl FromRequestParts<AppState> for Ready {
    type Rejection = ApiError;

    async fn from_request_parts(
        _parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        state
            .services()
            .cloned()
            .map(Ready)
            .ok_or_else(ApiError::not_ready)
    }
}
