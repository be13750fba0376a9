//! `GET /api/v2/processautomation/triggers/topics` (`TopicCursorEntityListing`, cursor
//! paged) and `GET /api/v2/notifications/availabletopics` (`AvailableTopicEntityListing`,
//! transports with `expand=transports`). Which topics a real org offers to which transport
//! is UNVERIFIED (docs/genesys-api.md §6.1); the emulator offers the three the daemon
//! consumes to every transport, minus [`EmulatorConfig::unoffered_topics`].
//!
//! [`EmulatorConfig::unoffered_topics`]: crate::emulator::EmulatorConfig::unoffered_topics

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};

use super::super::EmulatorState;
use super::bad_request;
use crate::genesys::models::{
    AvailableTopic, AvailableTopicEntityListing, TopicCursorEntityListing,
};
use crate::genesys::topics::TRIGGER_TOPICS_PATH;

/// Every topic the emulated org knows: its name, its transports (the Java SDK's
/// `TransportsEnum`: `All`, `Websocket`, `EventBridge`), whether Process Automation triggers
/// may use it, and its description.
const TOPICS: [(&str, &[&str], bool, &str); 5] = [
    (
        "v2.speechandtextanalytics.conversation.{id}.sentiment",
        &["Websocket", "EventBridge"],
        true,
        "Overall sentiment of an analysed conversation",
    ),
    (
        "v2.detail.events.conversation.{id}.acw",
        &["Websocket", "EventBridge"],
        true,
        "An agent's after-call work on a conversation",
    ),
    (
        "v2.detail.events.conversation.{id}.customer.end",
        &["Websocket", "EventBridge"],
        true,
        "The customer left the conversation",
    ),
    (
        "v2.detail.events.conversation.{id}.user.end",
        &["All"],
        true,
        "An agent's part of the conversation ended",
    ),
    (
        "v2.users.{id}.presence",
        &["Websocket"],
        false,
        "A user's presence",
    ),
];

/// A topic: name, transports, offered to triggers, description.
type Topic = (&'static str, &'static [&'static str], bool, &'static str);

fn offered(state: &EmulatorState) -> impl Iterator<Item = Topic> + '_ {
    TOPICS
        .into_iter()
        .filter(|(id, _, _, _)| !state.config.unoffered_topics.iter().any(|u| u == id))
}

fn query_value(query: Option<&str>, name: &str) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| {
            percent_encoding::percent_decode_str(v)
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

/// `GET /api/v2/processautomation/triggers/topics?pageSize=&after=`.
pub async fn trigger_topics(State(state): State<EmulatorState>, RawQuery(q): RawQuery) -> Response {
    let page_size = match query_value(q.as_deref(), "pageSize") {
        None => 25,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=200).contains(&n) => n,
            _ => return bad_request(&format!("pageSize {v:?} must be between 1 and 200.")),
        },
    };
    let start = match query_value(q.as_deref(), "after") {
        None => 0,
        Some(a) => match a.strip_prefix("t").and_then(|n| n.parse::<usize>().ok()) {
            Some(n) => n,
            None => return bad_request(&format!("Invalid cursor {a:?}.")),
        },
    };
    let names: Vec<String> = offered(&state)
        .filter(|(_, _, triggers, _)| *triggers)
        .map(|(id, _, _, _)| id.to_owned())
        .collect();
    let end = start.saturating_add(page_size).min(names.len());
    let entities = names.get(start..end).unwrap_or_default().to_vec();
    Json(TopicCursorEntityListing {
        entities,
        next_uri: (end < names.len())
            .then(|| format!("{TRIGGER_TOPICS_PATH}?after=t{end}&pageSize={page_size}")),
        self_uri: Some(format!("{TRIGGER_TOPICS_PATH}?pageSize={page_size}")),
        previous_uri: None,
    })
    .into_response()
}

/// `GET /api/v2/notifications/availabletopics?expand=transports`.
pub async fn available_topics(
    State(state): State<EmulatorState>,
    RawQuery(q): RawQuery,
) -> Response {
    let expand = query_value(q.as_deref(), "expand").unwrap_or_default();
    let with_transports = expand.split(',').any(|e| e == "transports");
    let entities = offered(&state)
        .map(|(id, transports, _, description)| AvailableTopic {
            id: id.to_owned(),
            description: Some(description.to_owned()),
            visibility: Some("Public".to_owned()),
            transports: with_transports
                .then(|| transports.iter().map(|t| (*t).to_owned()).collect()),
            requires_permissions: None,
        })
        .collect();
    Json(AvailableTopicEntityListing { entities }).into_response()
}
