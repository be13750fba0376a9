//! Asynchronous details jobs: submit, status, results with a cursor, availability
//! (docs/genesys-api.md §3).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;
use serde_json::json;

use super::super::EmulatorState;
use super::super::gate::genesys_error;
use super::details::render_conversation;
use super::filters::all_match;
use super::{bad_request, check_interval, parse_query};
use crate::genesys::models::{
    AnalyticsConversation, AsyncQueryResultsPage, AsyncQueryStatus, ConversationQuery,
    DataAvailabilityResponse, Interval,
};

/// A submitted details job.
#[derive(Debug, Clone)]
pub struct Job {
    query: ConversationQuery,
    interval: Interval,
    polls: u32,
    submitted: DateTime<Utc>,
    state: &'static str,
}

fn availability_date(state: &EmulatorState) -> DateTime<Utc> {
    state.org.spec.end
        - TimeDelta::from_std(state.config.availability_lag).unwrap_or(TimeDelta::zero())
}

/// `GET …/jobs/availability`.
pub async fn availability(State(state): State<EmulatorState>) -> Response {
    Json(DataAvailabilityResponse {
        data_availability_date: Some(availability_date(&state)),
    })
    .into_response()
}

/// `POST …/jobs`.
pub async fn submit_job(State(state): State<EmulatorState>, body: Bytes) -> Response {
    state.record(
        "POST",
        "/api/v2/analytics/conversations/details/jobs",
        &body,
    );
    let query = match parse_query(&body) {
        Ok(q) => q,
        Err(m) => return bad_request(&m),
    };
    if query.paging.is_some() {
        return bad_request("Asynchronous queries do not take paging; read results with a cursor.");
    }
    let interval = match check_interval(query.interval) {
        Ok(iv) => iv,
        Err(m) => return bad_request(&m),
    };
    let job_id = uuid::Uuid::new_v4().to_string();
    state.jobs.lock().expect("jobs lock").insert(
        job_id.clone(),
        Job {
            query,
            interval,
            polls: 0,
            submitted: Utc::now(),
            state: "QUEUED",
        },
    );
    (StatusCode::ACCEPTED, Json(json!({"jobId": job_id}))).into_response()
}

/// `GET …/jobs/{id}`: QUEUED, then PENDING, then FULFILLED (or FAILED under the fault).
pub async fn job_status(
    State(state): State<EmulatorState>,
    Path(job_id): Path<String>,
) -> Response {
    let fail = state.faults.lock().expect("faults lock").current.fail_jobs;
    let per_state = state.config.job_polls_per_state.max(1);
    let mut jobs = state.jobs.lock().expect("jobs lock");
    let Some(job) = jobs.get_mut(&job_id) else {
        return genesys_error(
            StatusCode::NOT_FOUND,
            "resource.not.found",
            &format!("Job {job_id} not found"),
        );
    };
    job.polls += 1;
    if job.state != "FULFILLED" && job.state != "FAILED" {
        job.state = if job.polls <= per_state {
            "QUEUED"
        } else if job.polls <= 2 * per_state {
            "PENDING"
        } else if fail {
            "FAILED"
        } else {
            "FULFILLED"
        };
    }
    let done = matches!(job.state, "FULFILLED" | "FAILED");
    Json(AsyncQueryStatus {
        state: job.state.to_owned(),
        error_message: (job.state == "FAILED")
            .then(|| "The analytics query failed in the emulator's injected fault.".to_owned()),
        submission_date: Some(job.submitted),
        completion_date: done.then(Utc::now),
        expiration_date: Some(job.submitted + TimeDelta::days(1)),
    })
    .into_response()
}

/// `DELETE …/jobs/{id}`: cancels the job (its status and results are gone), 204.
pub async fn cancel_job(
    State(state): State<EmulatorState>,
    Path(job_id): Path<String>,
) -> Response {
    match state.jobs.lock().expect("jobs lock").remove(&job_id) {
        Some(_) => StatusCode::NO_CONTENT.into_response(),
        None => genesys_error(
            StatusCode::NOT_FOUND,
            "resource.not.found",
            &format!("Job {job_id} not found"),
        ),
    }
}

/// Query string of the job results endpoint.
#[derive(Deserialize)]
pub struct ResultsQuery {
    cursor: Option<String>,
    #[serde(rename = "pageSize")]
    page_size: Option<usize>,
}

/// `GET …/jobs/{id}/results?cursor=&pageSize=`: conversations with activity in the
/// interval, before the availability date.
pub async fn job_results(
    State(state): State<EmulatorState>,
    Path(job_id): Path<String>,
    Query(q): Query<ResultsQuery>,
) -> Response {
    let job = state.jobs.lock().expect("jobs lock").get(&job_id).cloned();
    let Some(job) = job else {
        return genesys_error(
            StatusCode::NOT_FOUND,
            "resource.not.found",
            &format!("Job {job_id} not found"),
        );
    };
    if job.state != "FULFILLED" {
        return bad_request(&format!(
            "Job {job_id} is {}; results are available once it is FULFILLED.",
            job.state
        ));
    }
    let offset = match q.cursor.as_deref() {
        None => 0,
        Some(c) => match URL_SAFE_NO_PAD
            .decode(c)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| {
                s.strip_prefix("offset:")
                    .and_then(|n| n.parse::<usize>().ok())
            }) {
            Some(n) => n,
            None => return bad_request("The cursor is not valid for this job."),
        },
    };
    let size = q.page_size.unwrap_or(1000).clamp(1, 10_000);
    let available = availability_date(&state);
    // Activity in the interval: started before its end and ended after its start.
    let lookback = job.interval.start - TimeDelta::hours(2);
    let mut matching = Vec::new();
    for c in state
        .org
        .starting_between(lookback, job.interval.end.min(available))
    {
        if c.end() <= job.interval.start {
            continue;
        }
        match all_match(&state, c, &job.query.conversation_filters)
            .and_then(|a| Ok(a && all_match(&state, c, &job.query.segment_filters)?))
        {
            Ok(true) => matching.push(c),
            Ok(false) => {}
            Err(e) => return bad_request(&e),
        }
    }
    let page: Vec<AnalyticsConversation> = matching
        .iter()
        .skip(offset)
        .take(size)
        .map(|c| render_conversation(&state, c))
        .collect();
    let next = offset + page.len();
    let cursor = (next < matching.len()).then(|| URL_SAFE_NO_PAD.encode(format!("offset:{next}")));
    Json(AsyncQueryResultsPage {
        cursor,
        data_availability_date: Some(available),
        conversations: Some(page.into()),
    })
    .into_response()
}
