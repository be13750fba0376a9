//! Webhook bodies as Genesys sends them for the org's conversations: the topic payloads
//! (only the fields of their official models, docs/genesys-api.md §6.1), wrapped as a
//! notification or inside an Amazon EventBridge event (§6.2), plus the original form. Used
//! by the demo, the benchmarks and the tests to push events into a daemon.
//!
//! The sentiment payload names no agent, as on a real org; the `.acw` / `.user.end`
//! payloads do (`userId`), and `.customer.end` does not.

use serde_json::{Value, json};

use super::api::details::{
    agent_participant_id, agent_session_id, customer_participant_id, customer_session_id,
    wrapup_code,
};
use super::api::reported;
use super::org::{Conversation, Org};

/// The topic of a conversation's sentiment notification.
pub fn sentiment_topic(conversation_id: &str) -> String {
    format!("v2.speechandtextanalytics.conversation.{conversation_id}.sentiment")
}

/// The topic of a conversation detail event (`acw`, `user.end`, `customer.end`).
pub fn detail_topic(conversation_id: &str, kind: &str) -> String {
    format!("v2.detail.events.conversation.{conversation_id}.{kind}")
}

/// `V2StaSentimentOverallTopicOverallSentimentMessage` for a conversation.
pub fn sentiment_payload(org: &Org, c: &Conversation) -> Value {
    let scale = org.spec.score_scale;
    json!({
        "conversationId": c.id_string(),
        "sentimentOverallScore": reported(c.score, scale),
        "sentimentTrendScore": reported(c.trend, scale),
        "queueIds": [org.queues[usize::from(c.queue)].id],
        "divisionIds": [],
        "flowIds": [],
    })
}

fn media_type(c: &Conversation) -> &'static str {
    // Detail events spell media types in capitals (AcwDetailEventTopicAfterCallWorkEvent).
    match c.media {
        0 => "VOICE",
        1 => "CHAT",
        _ => "MESSAGE",
    }
}

/// `AcwDetailEventTopicAfterCallWorkEvent` for a conversation: names the agent and queue.
pub fn acw_payload(org: &Org, c: &Conversation) -> Value {
    json!({
        "eventTime": c.end().timestamp_millis(),
        "conversationId": c.id_string(),
        "participantId": agent_participant_id(c),
        "sessionId": agent_session_id(c),
        "mediaType": media_type(c),
        "direction": "INBOUND",
        "userId": org.agents[c.agent as usize].id,
        "queueId": org.queues[usize::from(c.queue)].id,
        "wrapupCode": wrapup_code(c),
        "wrapupDurationMs": 30_000,
    })
}

/// `UserEndDetailEventTopicUserEndEvent`: the agent's leg ended.
pub fn user_end_payload(org: &Org, c: &Conversation) -> Value {
    json!({
        "eventTime": (c.end().timestamp_millis() - 30_000),
        "conversationId": c.id_string(),
        "participantId": agent_participant_id(c),
        "sessionId": agent_session_id(c),
        "disconnectType": "CLIENT",
        "mediaType": media_type(c),
        "direction": "INBOUND",
        "userId": org.agents[c.agent as usize].id,
        "queueId": org.queues[usize::from(c.queue)].id,
        "interactingDurationMs": i64::from(c.duration_ms).saturating_sub(60_000).max(0),
    })
}

/// `CustomerEndDetailEventTopicCustomerEndEvent`: no agent, no queue.
pub fn customer_end_payload(c: &Conversation) -> Value {
    json!({
        "eventTime": c.end().timestamp_millis(),
        "conversationId": c.id_string(),
        "participantId": customer_participant_id(c),
        "sessionId": customer_session_id(c),
        "disconnectType": "CLIENT",
        "mediaType": media_type(c),
        "direction": "INBOUND",
        "interactingDurationMs": i64::from(c.duration_ms),
    })
}

/// A notification as a forwarder (a workflow data action, a notification channel) posts it.
pub fn notification(topic: &str, payload: Value, correlation: &str, timestamp: &str) -> Value {
    json!({
        "topicName": topic,
        "version": "2",
        "eventBody": payload,
        "metadata": {"CorrelationId": correlation},
        "timestamp": timestamp,
    })
}

/// The same notification inside an Amazon EventBridge event (`detail-type` is the topic
/// pattern, with `{id}` for the conversation).
pub fn eventbridge(notification: Value, id: &str, time: &str) -> Value {
    let topic = notification["topicName"].as_str().unwrap_or("").to_owned();
    let pattern = pattern_of(&topic);
    json!({
        "version": "0",
        "id": id,
        "detail-type": pattern,
        "source": "aws.partner/genesys.com/cloud/emulator/sentiment",
        "account": "000000000000",
        "time": time,
        "region": "us-east-1",
        "resources": [],
        "detail": notification,
    })
}

/// `v2.detail.events.conversation.<id>.acw` → `v2.detail.events.conversation.{id}.acw`.
fn pattern_of(topic: &str) -> String {
    for prefix in [
        "v2.speechandtextanalytics.conversation.",
        "v2.detail.events.conversation.",
    ] {
        if let Some(rest) = topic.strip_prefix(prefix)
            && let Some((_, kind)) = rest.split_once('.')
        {
            return format!("{prefix}{{id}}.{kind}");
        }
    }
    topic.to_owned()
}

/// The original form (our own, not a Genesys model): it may name the agent and queue.
pub fn seed_form(org: &Org, c: &Conversation) -> Value {
    json!({
        "interactionId": c.id_string(),
        "sentiment": {"score": (f64::from(c.score) * 10_000.0).round() / 10_000.0},
        "agentId": org.agents[c.agent as usize].id,
        "queueId": org.queues[usize::from(c.queue)].id,
    })
}

/// `n` sentiment webhooks for the org's most recent analysed conversations, cycling through
/// the original form, a notification and an EventBridge event.
pub fn sentiment_bodies(org: &Org, n: usize) -> Vec<Value> {
    recent(org, n)
        .enumerate()
        .map(|(i, c)| {
            let id = c.id_string();
            let at = c.end().to_rfc3339();
            let note = notification(
                &sentiment_topic(&id),
                sentiment_payload(org, c),
                &format!("corr-{i}"),
                &at,
            );
            match i % 3 {
                0 => seed_form(org, c),
                1 => note,
                _ => eventbridge(note, &format!("eb-{id}"), &at),
            }
        })
        .collect()
}

/// The `.acw` events of the conversations [`sentiment_bodies`] sends as notifications or
/// EventBridge events (the original form names its agent itself), in the same formats.
pub fn acw_bodies(org: &Org, n: usize) -> Vec<Value> {
    recent(org, n)
        .enumerate()
        .filter(|(i, _)| i % 3 != 0)
        .map(|(i, c)| {
            let id = c.id_string();
            let at = c.end().to_rfc3339();
            let note = notification(
                &detail_topic(&id, "acw"),
                acw_payload(org, c),
                &format!("corr-acw-{i}"),
                &at,
            );
            if i % 3 == 1 {
                note
            } else {
                eventbridge(note, &format!("eb-acw-{id}"), &at)
            }
        })
        .collect()
}

fn recent(org: &Org, n: usize) -> impl Iterator<Item = &Conversation> {
    org.conversations
        .iter()
        .rev()
        .filter(|c| c.analysed)
        .take(n)
}
