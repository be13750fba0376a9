//! `POST /api/v2/analytics/conversations/details/query`, and how a conversation is rendered as
//! an `AnalyticsConversation` (docs/genesys-api.md §2).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, TimeDelta, Utc};

use super::super::EmulatorState;
use super::super::org::Conversation;
use super::filters::all_match;
use super::{
    DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, MAX_UNFILTERED_DAYS, UNFILTERED_MESSAGE, bad_request,
    check_interval, parse_query,
};
use crate::genesys::models::{
    AnalyticsConversation, AnalyticsConversationSegment, AnalyticsParticipant, AnalyticsSession,
    AnalyticsSessionMetric, ConversationQueryResponse, Interval,
};

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
    wrapup.wrap_up_code = Some(wrapup_code(c));
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
        conversation_end: (!state.is_ongoing(c)).then_some(end),
        conversation_initiator: Some("customer".into()),
        originating_direction: Some("inbound".into()),
        division_ids: vec![sub_id(u128::from(state.org.spec.seed), 11)],
        media_stats_min_conversation_mos: voice.then(|| 3.9 + (c.id % 50) as f64 / 100.0),
        media_stats_min_conversation_r_factor: None,
        participants: vec![customer, acd, agent_participant],
    }
}

/// The UTC days an interval touches, as `[first midnight, midnight after the last)`: the
/// synchronous details query includes a conversation when it *started on a day the
/// interval touches* (docs/genesys-api.md §2.4), not only when it started inside it.
pub fn days_touched(interval: Interval) -> (DateTime<Utc>, DateTime<Utc>) {
    let midnight = |t: DateTime<Utc>| {
        t.date_naive()
            .and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc()
    };
    let first = midnight(interval.start);
    let last = midnight(interval.end - TimeDelta::milliseconds(1));
    (first, last + TimeDelta::days(1))
}

/// `POST /api/v2/analytics/conversations/details/query`: conversations that started on a
/// day the interval touches, filtered, ordered, one page. An interval spans at most 7 days
/// without a filter and 31 with one.
pub async fn details_query(State(state): State<EmulatorState>, body: Bytes) -> Response {
    state.record(
        "POST",
        "/api/v2/analytics/conversations/details/query",
        &body,
    );
    let query = match parse_query(&body) {
        Ok(q) => q,
        Err(m) => return bad_request(&m),
    };
    let interval = match check_interval(query.interval) {
        Ok(iv) => iv,
        Err(m) => return bad_request(&m),
    };
    let limit = state
        .faults
        .lock()
        .expect("faults lock")
        .current
        .max_filter_predicates;
    let most = query
        .conversation_filters
        .iter()
        .chain(&query.segment_filters)
        .map(|f| f.predicates.len())
        .max()
        .unwrap_or(0);
    if limit > 0 && most > limit {
        return bad_request(&format!(
            "A filter may have at most {limit} predicates; this one has {most}."
        ));
    }
    let filtered = !query.conversation_filters.is_empty() || !query.segment_filters.is_empty();
    if !filtered && interval.duration() > TimeDelta::days(MAX_UNFILTERED_DAYS) {
        return bad_request(UNFILTERED_MESSAGE);
    }
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
    let cap = state.config.max_paging_results;
    if u64::from(paging.page_size) * u64::from(paging.page_number) > cap {
        return bad_request(&format!("Pagination may not exceed {cap} results."));
    }
    let (from_day, to_day) = days_touched(interval);
    let mut matching = Vec::new();
    for c in state.org.starting_between(from_day, to_day) {
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
        conversations: (!page.is_empty()).then(|| page.into()),
        total_hits: Some(total),
    })
    .into_response()
}

/// The agent participant's id in a rendered conversation (detail events name it).
pub fn agent_participant_id(c: &Conversation) -> String {
    sub_id(c.id, 5)
}

/// The agent session's id in a rendered conversation.
pub fn agent_session_id(c: &Conversation) -> String {
    sub_id(c.id, 6)
}

/// The customer participant's id in a rendered conversation.
pub fn customer_participant_id(c: &Conversation) -> String {
    sub_id(c.id, 1)
}

/// The customer session's id in a rendered conversation.
pub fn customer_session_id(c: &Conversation) -> String {
    sub_id(c.id, 2)
}

/// The wrap-up code of a conversation's queue.
pub fn wrapup_code(c: &Conversation) -> String {
    sub_id(u128::from(c.queue), 7)
}

/// `GET /api/v2/analytics/conversations/{id}/details`: one conversation
/// (`AnalyticsConversationWithoutAttributes`), or 404.
pub async fn conversation_details(
    State(state): State<EmulatorState>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    state.record("GET", "/api/v2/analytics/conversations/{id}/details", &[]);
    match state.org.find(&id) {
        Some(c) => Json(render_conversation(&state, c)).into_response(),
        None => super::super::gate::genesys_error(
            axum::http::StatusCode::NOT_FOUND,
            "resource.not.found",
            &format!("Conversation {id} not found"),
        ),
    }
}
