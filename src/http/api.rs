//! The read API: `/v1/trends`, `/v1/trends/history`, `/v1/runs`, `/v1/deliveries`.
//! Field names are stable and documented in the README.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::{ApiError, AppState, Ready};
use crate::analytics::Dimension;
use crate::analytics::report::{Direction, TrendReport};

/// Query of `/v1/trends`.
#[derive(Debug, Deserialize)]
pub struct TrendsQuery {
    /// `agent`, `queue`, `overall` (groups) or `day` (the daily series).
    pub group_by: Option<String>,
    /// Only groups with this verdict.
    pub verdict: Option<String>,
}

fn filtered(report: &TrendReport, q: &TrendsQuery) -> Result<TrendReport, ApiError> {
    let mut r = report.clone();
    if let Some(v) = q.verdict.as_deref() {
        let d = Direction::parse(v).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_query",
                format!(
                    "verdict {v:?}: expected improving, declining, stable or insufficient_data"
                ),
            )
        })?;
        r.groups.retain(|g| g.verdict.direction == d);
    }
    let dimension = |name: &str| match name {
        "agent" => Some(Dimension::Agent),
        "queue" => Some(Dimension::Queue),
        "overall" => Some(Dimension::Overall),
        _ => None,
    };
    match q.group_by.as_deref() {
        None => {}
        Some(name) if dimension(name).is_some() => {
            let dim = dimension(name).expect("checked");
            r.groups.retain(|g| g.dimension == dim);
            r.daily.retain(|p| p.dimension == dim);
        }
        Some("day") => {
            r.groups.clear();
            r.daily.retain(|p| p.dimension == Dimension::Overall);
        }
        Some(other) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_query",
                format!("group_by {other:?}: expected agent, queue, overall or day"),
            ));
        }
    }
    Ok(r)
}

fn no_report() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no_report",
        "no batch run has completed yet",
    )
}

/// What was wrong with a query string, in at most 300 characters of it.
pub(super) fn query_error(e: &QueryRejection) -> String {
    format!(
        "bad query string: {}",
        crate::domain::printable(&e.body_text(), 300)
    )
}

/// `Query` for the API's routes: a query string that does not parse is the JSON 400
/// (`bad_query`), not axum's plain text.
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| ApiQuery(q))
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_query", query_error(&e)))
    }
}

/// `GET /v1/trends`: the latest report, optionally filtered.
pub async fn trends(Ready(services): Ready, ApiQuery(q): ApiQuery<TrendsQuery>) -> Response {
    let Some(latest) = services.reports.latest() else {
        return no_report().into_response();
    };
    match filtered(&latest, &q) {
        Ok(r) => Json(r).into_response(),
        Err(e) => e.into_response(),
    }
}

/// Query of `/v1/trends/history`.
#[derive(Debug, Deserialize)]
pub struct HistoryQuery {
    /// Most reports to return (newest first).
    pub limit: Option<usize>,
}

/// `GET /v1/trends/history`: the reports kept, newest first.
pub async fn history(Ready(services): Ready, ApiQuery(q): ApiQuery<HistoryQuery>) -> Response {
    let history = services.reports.history();
    let reports: Vec<&TrendReport> = history
        .iter()
        .map(AsRef::as_ref)
        .take(q.limit.unwrap_or(usize::MAX))
        .collect();
    Json(json!({ "reports": reports })).into_response()
}

/// `GET /v1/runs`: recent batch runs, newest first.
pub async fn runs(Ready(services): Ready) -> Response {
    Json(json!({ "runs": services.reports.runs() })).into_response()
}

/// `GET /v1/deliveries`: owed and dead-lettered counts and the latest outcomes.
pub async fn deliveries(State(state): State<AppState>, Ready(services): Ready) -> Response {
    let dead_letters = state.metrics.dead_letters.get();
    Json(json!({
        "pending": services.deliveries.len(),
        "dead_letters": dead_letters,
        "recent": services.delivery_log.recent(),
    }))
    .into_response()
}
