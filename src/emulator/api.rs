//! The emulated Genesys endpoints. Request and response bodies use the same wire models as
//! the client (`genesys::models`), whose field names follow the official SDK models.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, TimeDelta, Utc};
use rand::RngExt;
use serde::Deserialize;
use serde_json::json;
use tokio::time::Instant;

use super::EmulatorState;
use super::gate::{TokenState, genesys_error};
use super::org::Conversation;
use crate::domain::ScoreScale;
use crate::genesys::models::{
    AggregateMetricData, AnalyticsConversation, AnalyticsConversationSegment, AnalyticsParticipant,
    AnalyticsSession, AnalyticsSessionMetric, AsyncQueryResultsPage, AsyncQueryStatus,
    ConversationMetrics, ConversationQuery, ConversationQueryResponse, DataAvailabilityResponse,
    EmpathyScore, EntityRef, Interval, ParticipantMetrics, QueryFilter, StatisticalResponse,
    StatisticalSummary, TranscriptAggregateDataContainer, TranscriptAggregateQueryResponse,
    TranscriptAggregationQuery,
};

const MAX_INTERVAL_DAYS: i64 = 31;
const MAX_PAGING_RESULTS: u64 = 100_000;
const MAX_PAGE_SIZE: u32 = 100;
const DEFAULT_PAGE_SIZE: u32 = 25;

fn bad_request(message: &str) -> Response {
    genesys_error(StatusCode::BAD_REQUEST, "bad.request", message)
}

// ---------------------------------------------------------------------------------------
// OAuth

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
    let ok_id =
        crate::signature::constant_time_eq(id.as_bytes(), state.config.client_id.as_bytes());
    let ok_secret = crate::signature::constant_time_eq(
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

// ---------------------------------------------------------------------------------------
// Filters

fn dimension_value(
    state: &EmulatorState,
    c: &Conversation,
    dim: &str,
) -> Result<Option<String>, String> {
    let org = &state.org;
    Ok(match dim {
        "conversationId" => Some(c.id_string()),
        "conversationEnd" | "conversationStart" => Some(String::new()),
        "queueId" => Some(org.queues[usize::from(c.queue)].id.clone()),
        "userId" => Some(org.agents[c.agent as usize].id.clone()),
        "mediaType" => Some(c.media_type().to_owned()),
        "requestedLanguageId" => None,
        "originatingDirection" | "direction" => Some("inbound".into()),
        "purpose" => Some("agent".into()),
        other => {
            return Err(format!(
                "dimension {other:?} is not supported by the emulator"
            ));
        }
    })
}

fn filter_matches(
    state: &EmulatorState,
    c: &Conversation,
    f: &QueryFilter,
) -> Result<bool, String> {
    let mut results = Vec::new();
    for p in &f.predicates {
        let Some(dim) = p.dimension.as_deref() else {
            return Err("predicate without dimension".into());
        };
        let value = dimension_value(state, c, dim)?;
        let ok = match p.operator.as_deref().unwrap_or("matches") {
            "exists" => value.is_some(),
            "notExists" => value.is_none(),
            "matches" => value.as_deref() == p.value.as_deref(),
            other => {
                return Err(format!(
                    "operator {other:?} is not one of matches, exists, notExists"
                ));
            }
        };
        results.push(ok);
    }
    for clause in &f.clauses {
        results.push(filter_matches(state, c, clause)?);
    }
    Ok(match f.kind.as_str() {
        "and" => results.iter().all(|r| *r),
        "or" => results.iter().any(|r| *r),
        other => return Err(format!("filter type {other:?} is not and/or")),
    })
}

fn all_match(
    state: &EmulatorState,
    c: &Conversation,
    filters: &[QueryFilter],
) -> Result<bool, String> {
    for f in filters {
        if !filter_matches(state, c, f)? {
            return Ok(false);
        }
    }
    Ok(true)
}

// ---------------------------------------------------------------------------------------
// Details

fn sub_id(id: u128, salt: u64) -> String {
    let mut x = (id as u64) ^ ((id >> 64) as u64) ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut next = || {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let bits = (u128::from(next()) << 64) | u128::from(next());
    let bytes = bits.to_be_bytes();
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// Renders a conversation as an `AnalyticsConversation` detail record.
pub fn render_conversation(state: &EmulatorState, c: &Conversation) -> AnalyticsConversation {
    let org = &state.org;
    let agent = &org.agents[c.agent as usize];
    let queue = &org.queues[usize::from(c.queue)];
    let start = c.start();
    let end = c.end();
    let media = c.media_type().to_owned();
    let queued_until = start + TimeDelta::seconds(20 + (c.id % 40) as i64);
    let talk_ms = (end - queued_until).num_milliseconds().max(0);
    let wrap_start = end - TimeDelta::seconds(30).min(end - queued_until);
    let segment = |s: DateTime<Utc>, e: DateTime<Utc>, kind: &str, queue_id: Option<&str>| {
        AnalyticsConversationSegment {
            segment_start: Some(s),
            segment_end: Some(e),
            segment_type: Some(kind.into()),
            queue_id: queue_id.map(str::to_owned),
            ..Default::default()
        }
    };
    let voice = c.media == 0;
    let customer = AnalyticsParticipant {
        participant_id: Some(sub_id(c.id, 1)),
        participant_name: Some("Customer".into()),
        purpose: Some("customer".into()),
        sessions: vec![AnalyticsSession {
            session_id: Some(sub_id(c.id, 2)),
            media_type: Some(media.clone()),
            direction: Some("inbound".into()),
            ani: voice.then(|| format!("tel:+1555{:07}", c.id % 10_000_000)),
            dnis: voice.then(|| "tel:+18005550100".into()),
            segments: vec![segment(start, end, "interact", None)],
            ..Default::default()
        }],
        ..Default::default()
    };
    let acd = AnalyticsParticipant {
        participant_id: Some(sub_id(c.id, 3)),
        participant_name: Some(queue.name.clone()),
        purpose: Some("acd".into()),
        sessions: vec![AnalyticsSession {
            session_id: Some(sub_id(c.id, 4)),
            media_type: Some(media.clone()),
            direction: Some("inbound".into()),
            segments: vec![segment(start, queued_until, "interact", Some(&queue.id))],
            ..Default::default()
        }],
        ..Default::default()
    };
    let mut wrapup = segment(wrap_start, end, "wrapup", Some(&queue.id));
    wrapup.wrap_up_code = Some(sub_id(u128::from(c.queue), 7));
    wrapup.disconnect_type = Some("client".into());
    let agent_participant = AnalyticsParticipant {
        participant_id: Some(sub_id(c.id, 5)),
        participant_name: Some(agent.name.clone()),
        purpose: Some("agent".into()),
        user_id: Some(agent.id.clone()),
        sessions: vec![AnalyticsSession {
            session_id: Some(sub_id(c.id, 6)),
            media_type: Some(media),
            direction: Some("inbound".into()),
            recording: voice.then_some(true),
            metrics: vec![AnalyticsSessionMetric {
                name: if voice {
                    "tTalk".into()
                } else {
                    "tHandle".into()
                },
                value: talk_ms,
                emit_date: Some(wrap_start),
            }],
            segments: vec![
                segment(
                    queued_until - TimeDelta::seconds(5),
                    queued_until,
                    "alert",
                    Some(&queue.id),
                ),
                segment(queued_until, wrap_start, "interact", Some(&queue.id)),
                wrapup,
            ],
            ..Default::default()
        }],
    };
    AnalyticsConversation {
        conversation_id: c.id_string(),
        conversation_start: Some(start),
        conversation_end: Some(end),
        conversation_initiator: Some("customer".into()),
        originating_direction: Some("inbound".into()),
        division_ids: vec![sub_id(u128::from(state.org.spec.seed), 11)],
        media_stats_min_conversation_mos: voice.then(|| 3.9 + (c.id % 50) as f64 / 100.0),
        media_stats_min_conversation_r_factor: None,
        participants: vec![customer, acd, agent_participant],
    }
}

fn parse_query(body: &[u8]) -> Result<ConversationQuery, String> {
    serde_json::from_slice(body).map_err(|e| format!("Unable to parse the request body: {e}"))
}

const INTERVAL_MESSAGE: &str =
    "You must specify a search interval as part of your query that does not exceed 31 days.";

fn check_interval(interval: Option<Interval>) -> Result<Interval, String> {
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

/// `POST /api/v2/analytics/conversations/details/query`: conversations that started in
/// the interval, filtered, ordered, one page.
pub async fn details_query(State(state): State<EmulatorState>, body: Bytes) -> Response {
    let query = match parse_query(&body) {
        Ok(q) => q,
        Err(m) => return bad_request(&m),
    };
    let interval = match check_interval(query.interval) {
        Ok(iv) => iv,
        Err(m) => return bad_request(&m),
    };
    let paging = query.paging.unwrap_or(crate::genesys::models::PagingSpec {
        page_size: DEFAULT_PAGE_SIZE,
        page_number: 1,
    });
    if paging.page_size == 0 || paging.page_number == 0 {
        return bad_request("paging.pageSize and paging.pageNumber must be at least 1.");
    }
    if paging.page_size > MAX_PAGE_SIZE {
        return bad_request(&format!("paging.pageSize must be at most {MAX_PAGE_SIZE}."));
    }
    if u64::from(paging.page_size) * u64::from(paging.page_number) > MAX_PAGING_RESULTS {
        return bad_request("Pagination may not exceed 100000 results.");
    }
    let mut matching = Vec::new();
    for c in state.org.starting_between(interval.start, interval.end) {
        match all_match(&state, c, &query.conversation_filters)
            .and_then(|a| Ok(a && all_match(&state, c, &query.segment_filters)?))
        {
            Ok(true) => matching.push(c),
            Ok(false) => {}
            Err(e) => return bad_request(&e),
        }
    }
    if query.order.as_deref() == Some("desc") {
        matching.reverse();
    }
    let total = matching.len() as u64;
    let from = (paging.page_number as usize - 1) * paging.page_size as usize;
    let page: Vec<AnalyticsConversation> = matching
        .iter()
        .skip(from)
        .take(paging.page_size as usize)
        .map(|c| render_conversation(&state, c))
        .collect();
    Json(ConversationQueryResponse {
        conversations: (!page.is_empty()).then_some(page),
        total_hits: Some(total),
    })
    .into_response()
}

// ---------------------------------------------------------------------------------------
// Jobs

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
        conversations: Some(page),
    })
    .into_response()
}

// ---------------------------------------------------------------------------------------
// Speech & Text Analytics

/// The score as the API reports it: four decimals on the configured scale.
pub fn reported(value: f32, scale: ScoreScale) -> f64 {
    let v = f64::from(value) * scale.max_abs();
    (v * 10_000.0).round() / 10_000.0
}

fn trend_class(trend_percent: f64) -> &'static str {
    // HELP-TREND bands.
    if trend_percent > 55.0 {
        "Improving"
    } else if trend_percent > 20.0 {
        "SlightlyImproving"
    } else if trend_percent >= -20.0 {
        "NoChange"
    } else if trend_percent >= -55.0 {
        "SlightlyDeclining"
    } else {
        "Declining"
    }
}

/// `GET /api/v2/speechandtextanalytics/conversations/{id}`.
pub async fn sta_conversation(
    State(state): State<EmulatorState>,
    Path(id): Path<String>,
) -> Response {
    let not_found = || {
        let mut r = genesys_error(
            StatusCode::NOT_FOUND,
            "resource.not.found",
            &format!("Unable to find speech and text analytics data for conversation {id}"),
        );
        // messageParams.id like the real answer (MCP isConversationNotFoundError).
        let body = json!({
            "message": format!("Unable to find speech and text analytics data for conversation {id}"),
            "code": "resource.not.found", "status": 404,
            "messageParams": {"id": id},
            "contextId": r.headers().get("inin-correlation-id").and_then(|v| v.to_str().ok()).unwrap_or(""),
            "details": [], "errors": []});
        *r.body_mut() = axum::body::Body::from(body.to_string());
        r.headers_mut().remove(header::CONTENT_LENGTH);
        r
    };
    let Some(c) = state.org.find(&id) else {
        return not_found();
    };
    if !c.analysed {
        return not_found();
    }
    let scale = state.config.org.score_scale;
    let agent = &state.org.agents[c.agent as usize];
    let agent_share = 40.0 + (c.id % 200) as f64 / 10.0;
    let customer_share = 85.0 - agent_share;
    Json(ConversationMetrics {
        conversation: Some(EntityRef {
            id: c.id_string(),
            self_uri: Some(format!("/api/v2/conversations/{}", c.id_string())),
        }),
        sentiment_score: Some(reported(c.score, scale)),
        sentiment_trend: Some(reported(c.trend, scale)),
        sentiment_trend_class: Some(trend_class(f64::from(c.trend) * 100.0).into()),
        empathy_scores: vec![EmpathyScore {
            score: Some(((f64::from(c.score) * 0.5 + 0.5) * 10_000.0).round() / 10_000.0),
            user_id: Some(agent.id.clone()),
        }],
        participant_metrics: Some(ParticipantMetrics {
            agent_duration_percentage: Some(agent_share),
            customer_duration_percentage: Some(customer_share),
            silence_duration_percentage: Some(10.0),
            ivr_duration_percentage: Some(0.0),
            acd_duration_percentage: Some(3.0),
            overtalk_duration_percentage: Some(2.0),
            other_duration_percentage: Some(0.0),
            overtalk_count: Some((c.id % 7) as i64),
        }),
    })
    .into_response()
}

// ---------------------------------------------------------------------------------------
// Transcript aggregates

fn parse_period(p: &str) -> Option<TimeDelta> {
    if let Some(d) = p.strip_prefix('P').and_then(|s| s.strip_suffix('D')) {
        return d
            .parse::<i64>()
            .ok()
            .filter(|d| *d > 0)
            .map(TimeDelta::days);
    }
    if let Some(h) = p.strip_prefix("PT").and_then(|s| s.strip_suffix('H')) {
        return h
            .parse::<i64>()
            .ok()
            .filter(|h| *h > 0)
            .map(TimeDelta::hours);
    }
    None
}

#[derive(Default, Clone, Copy)]
struct Acc {
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
    positive: u64,
    negative: u64,
}

/// `POST /api/v2/analytics/transcripts/aggregates/query`.
pub async fn transcript_aggregates(State(state): State<EmulatorState>, body: Bytes) -> Response {
    let query: TranscriptAggregationQuery = match serde_json::from_slice(&body) {
        Ok(q) => q,
        Err(e) => return bad_request(&format!("Unable to parse the request body: {e}")),
    };
    let interval = match check_interval(query.interval) {
        Ok(iv) => iv,
        Err(m) => return bad_request(&m),
    };
    if let Some(tz) = query.time_zone.as_deref()
        && !matches!(tz, "UTC" | "Etc/UTC")
    {
        return bad_request(&format!("timeZone {tz:?}: the emulator supports UTC only."));
    }
    let bucket = match query.granularity.as_deref() {
        None => interval.duration(),
        Some(p) => match parse_period(p) {
            Some(d) => d,
            None => {
                return bad_request(&format!(
                    "granularity {p:?} is not an ISO-8601 period such as P1D or PT1H."
                ));
            }
        },
    };
    for g in &query.group_by {
        if !matches!(g.as_str(), "userId" | "queueId" | "mediaType") {
            return bad_request(&format!("groupBy {g:?} is not supported by the emulator."));
        }
    }
    for m in &query.metrics {
        if !matches!(
            m.as_str(),
            "oSentimentScore" | "oCustomerSentiment" | "nSpeechTextAnalyzedConversations"
        ) {
            return bad_request(&format!("metric {m:?} is not supported by the emulator."));
        }
    }
    let filters: Vec<QueryFilter> = query.filter.iter().cloned().collect();
    let scale = state.config.org.aggregate_scale;
    let mut groups: BTreeMap<Vec<String>, BTreeMap<i64, Acc>> = BTreeMap::new();
    let bucket_ms = bucket.num_milliseconds().max(1);
    for c in state.org.starting_between(interval.start, interval.end) {
        if !c.analysed {
            continue;
        }
        match all_match(&state, c, &filters) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => return bad_request(&e),
        }
        let mut key = Vec::with_capacity(query.group_by.len());
        for g in &query.group_by {
            match dimension_value(&state, c, g) {
                Ok(Some(v)) => key.push(v),
                Ok(None) => key.push(String::new()),
                Err(e) => return bad_request(&e),
            }
        }
        let slot = (c.start_ms - interval.start.timestamp_millis()) / bucket_ms;
        let value = reported(c.score, scale);
        let percent = scale.to_percent(value);
        let acc = groups.entry(key).or_default().entry(slot).or_insert(Acc {
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            ..Acc::default()
        });
        acc.count += 1;
        acc.sum += value;
        acc.min = acc.min.min(value);
        acc.max = acc.max.max(value);
        if percent > 20.0 {
            acc.positive += 1;
        } else if percent < -20.0 {
            acc.negative += 1;
        }
    }
    let results = groups
        .into_iter()
        .map(|(key, buckets)| TranscriptAggregateDataContainer {
            group: query.group_by.iter().cloned().zip(key).collect(),
            data: buckets
                .into_iter()
                .map(|(slot, acc)| {
                    let start = interval.start + TimeDelta::milliseconds(slot * bucket_ms);
                    let end = (start + bucket).min(interval.end);
                    StatisticalResponse {
                        interval: Some(Interval::new(start, end)),
                        metrics: query
                            .metrics
                            .iter()
                            .map(|m| AggregateMetricData {
                                metric: m.clone(),
                                qualifier: None,
                                stats: match m.as_str() {
                                    "oSentimentScore" => StatisticalSummary {
                                        count: Some(acc.count),
                                        sum: Some((acc.sum * 10_000.0).round() / 10_000.0),
                                        min: Some(acc.min),
                                        max: Some(acc.max),
                                        ..Default::default()
                                    },
                                    "oCustomerSentiment" => StatisticalSummary {
                                        count: Some(acc.count),
                                        count_positive: Some(acc.positive),
                                        count_negative: Some(acc.negative),
                                        ..Default::default()
                                    },
                                    _ => StatisticalSummary {
                                        count: Some(acc.count),
                                        ..Default::default()
                                    },
                                },
                            })
                            .collect(),
                    }
                })
                .collect(),
        })
        .collect();
    Json(TranscriptAggregateQueryResponse { results }).into_response()
}
