//! The emulated Genesys endpoints, one file per API area. Request and response bodies use
//! the client's wire models (`genesys::models`), whose field names follow the official SDK
//! models; the conformance test checks both against the recorded field lists.

pub mod aggregates;
pub mod details;
pub mod filters;
pub mod jobs;
pub mod names;
pub mod oauth;
pub mod sta;
pub mod topics;

use axum::http::StatusCode;
use axum::response::Response;
use chrono::TimeDelta;

use super::gate::genesys_error;
use crate::genesys::models::{ConversationQuery, Interval};

pub use aggregates::transcript_aggregates;
pub use details::{conversation_details, details_query, render_conversation};
pub use jobs::{Job, availability, cancel_job, job_results, job_status, submit_job};
pub use names::{queues, users};
pub use oauth::token;
pub use sta::{reported, sta_conversation};
pub use topics::{available_topics, trigger_topics};

pub(super) const MAX_INTERVAL_DAYS: i64 = 31;
/// Without any conversation or segment filter an interval may span at most this many days.
pub(super) const MAX_UNFILTERED_DAYS: i64 = 7;
pub(super) const UNFILTERED_MESSAGE: &str =
    "An interval over 7 days needs a filter; without one the query may span at most 7 days.";
pub(super) const MAX_PAGE_SIZE: u32 = 100;
pub(super) const DEFAULT_PAGE_SIZE: u32 = 25;

pub(super) fn bad_request(message: &str) -> Response {
    genesys_error(StatusCode::BAD_REQUEST, "bad.request", message)
}

pub(super) fn parse_query(body: &[u8]) -> Result<ConversationQuery, String> {
    serde_json::from_slice(body).map_err(|e| format!("Unable to parse the request body: {e}"))
}

const INTERVAL_MESSAGE: &str =
    "You must specify a search interval as part of your query that does not exceed 31 days.";

pub(super) fn check_interval(interval: Option<Interval>) -> Result<Interval, String> {
    let Some(iv) = interval else {
        return Err(INTERVAL_MESSAGE.into());
    };
    if iv.end <= iv.start {
        return Err("The interval end must be after its start.".into());
    }
    if iv.duration() > TimeDelta::days(MAX_INTERVAL_DAYS) {
        return Err(INTERVAL_MESSAGE.into());
    }
    Ok(iv)
}
