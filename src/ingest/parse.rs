//! Webhook bodies → domain events, at the edge. Accepted bodies:
//! 1. the original form `{"interactionId", "sentiment": {"score": -1..1, "polarity"}}`;
//! 2. a Genesys notification `{"topicName", "eventBody", "metadata"}` as a workflow data
//!    action or notification forwarder posts it;
//! 3. the same inside an Amazon EventBridge envelope (`detail-type`, `source`,
//!    `detail: {topicName, eventBody, metadata}`) (docs/genesys-api.md §6.2);
//! 4. conversation detail events: `v2.detail.events.conversation.{id}.customer.end` (the
//!    conversation ended; the daemon fetches its score from STA), and `.acw` / `.user.end`,
//!    which name the agent (`userId`) and queue of a conversation and so attribute its score
//!    (docs/genesys-api.md §6.1).

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Map, Value};

use crate::domain::events::AttributionSource;
use crate::domain::{Polarity, RawSentiment, ScoreScale};

/// Which wire format a body came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `{"interactionId", "sentiment"}`.
    SeedForm,
    /// A Genesys notification.
    Notification,
    /// An EventBridge event.
    EventBridge,
}

impl Format {
    /// The journal `source` for this format.
    pub fn source(self) -> &'static str {
        match self {
            Format::SeedForm => "webhook:seed_form",
            Format::Notification => "webhook:notification",
            Format::EventBridge => "webhook:eventbridge",
        }
    }
}

/// What a body says.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// A sentiment score.
    Sentiment {
        /// Wire format.
        format: Format,
        /// Conversation.
        conversation_id: String,
        /// Agent, when sent.
        agent_id: Option<String>,
        /// Queue, when sent.
        queue_id: Option<String>,
        /// The score and its scale.
        raw: RawSentiment,
        /// A supplied polarity (validated).
        polarity: Option<Polarity>,
        /// Genesys's trend score, when sent.
        trend: Option<f64>,
        /// Notification topic.
        topic: Option<String>,
        /// Event time, when sent.
        occurred_at: Option<DateTime<Utc>>,
        /// EventBridge event id.
        envelope_id: Option<String>,
    },
    /// An `.acw` or `.user.end` event: it names the conversation's agent and queue.
    Attribution {
        /// Wire format.
        format: Format,
        /// Conversation.
        conversation_id: String,
        /// Agent (`userId`).
        agent_id: Option<String>,
        /// Queue (`queueId`).
        queue_id: Option<String>,
        /// `acw` or `user_end`.
        source: AttributionSource,
        /// Notification topic.
        topic: String,
        /// Event time, when sent.
        occurred_at: Option<DateTime<Utc>>,
        /// EventBridge event id.
        envelope_id: Option<String>,
    },
    /// A conversation ended (`.customer.end`); fetch its score.
    ConversationEnd {
        /// Wire format.
        format: Format,
        /// Conversation.
        conversation_id: String,
        /// Agent, when sent.
        agent_id: Option<String>,
        /// Queue, when sent.
        queue_id: Option<String>,
        /// Notification topic.
        topic: String,
        /// Event time, when sent.
        occurred_at: Option<DateTime<Utc>>,
        /// EventBridge event id.
        envelope_id: Option<String>,
    },
}

/// Why a body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not JSON (400).
    #[error("the body is not valid JSON: {0}")]
    Malformed(String),
    /// Valid JSON that is not a usable event (422).
    #[error("{0}")]
    Unusable(String),
}

fn unusable(m: impl Into<String>) -> ParseError {
    ParseError::Unusable(m.into())
}

fn text(map: &Map<String, Value>, keys: &[&str]) -> Option<String> {
    keys.iter()
        .find_map(|k| map.get(*k).and_then(Value::as_str))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// A peer's value as a rejection shows it: at most 100 characters (the answer and the log
/// line do not repeat a 64 KiB body).
fn shown(value: &Value) -> String {
    let text = value.to_string();
    let cut = crate::domain::printable(&text, 100);
    if text.chars().count() > 100 {
        format!("{cut}…")
    } else {
        cut
    }
}

fn number(map: &Map<String, Value>, key: &str, what: &str) -> Result<Option<f64>, ParseError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(other) => Err(unusable(format!(
            "{what} must be a number, got {}",
            shown(other)
        ))),
    }
}

/// The time under `key`: epoch milliseconds (an integer, a float with no fraction, or a
/// string of digits) or an ISO 8601 time with its offset (RFC 3339, or `+hhmm` as Java's
/// formatters write it); absent or null is `None`. Anything else is refused rather than
/// replaced by the receive time: which agent's `.acw` wins goes by it.
fn time(
    map: &Map<String, Value>,
    key: &str,
    what: &str,
) -> Result<Option<DateTime<Utc>>, ParseError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => time_value(v).map(Some).ok_or_else(|| {
            unusable(format!(
                "{what} must be epoch milliseconds or an ISO 8601 time with an offset (RFC 3339), got {}",
                shown(v)
            ))
        }),
    }
}

/// An envelope's time (`timestamp` of a notification or of EventBridge's `detail`), whose
/// format Genesys does not document: when it does not parse, `fallback` (EventBridge's own
/// RFC 3339 `time`) or, without one, the receive time. Refusing the event for it would drop
/// every event of that format, and the sentiment topic has no `eventTime` of its own.
fn envelope_time(
    map: &Map<String, Value>,
    fallback: Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    map.get("timestamp")
        .and_then(time_value)
        // Before 2010 it is no event time (seconds read as milliseconds, say).
        .filter(|t| t.timestamp() >= EARLIEST_EVENT_TIME)
        .or(fallback)
}

fn time_value(value: &Value) -> Option<DateTime<Utc>> {
    let from_ms = |ms: i64| Utc.timestamp_millis_opt(ms).single();
    match value {
        Value::String(s) => {
            let s = s.trim();
            if !s.is_empty() && s.len() <= 16 && s.bytes().all(|b| b.is_ascii_digit()) {
                return s.parse().ok().and_then(from_ms);
            }
            DateTime::parse_from_rfc3339(s)
                .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z"))
                .ok()
                .map(|t| t.with_timezone(&Utc))
        }
        Value::Number(n) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                    .map(|f| f as i64)
            })
            .and_then(from_ms),
        _ => None,
    }
}

/// 2010-01-01T00:00:00Z: no event time is earlier.
const EARLIEST_EVENT_TIME: i64 = 1_262_304_000;

/// Longest id accepted (conversation, agent, queue, envelope and `webhook-id`).
pub const MAX_ID_LEN: usize = 128;

/// Whether `id` may be used as an id: 1 to [`MAX_ID_LEN`] characters of
/// `[A-Za-z0-9._:-]` (Genesys ids are UUIDs). Nothing else reaches a URL, a log line or the
/// journal as an id.
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
        && id != "."
        && id != ".."
}

/// Checks what a parsed event carries against what the daemon will act on: every id (see
/// [`is_valid_id`]) and the event time (at most `max_skew` in the future).
///
/// # Errors
/// A message naming the field, for a 422.
pub fn check_fields(
    incoming: &Incoming,
    now: DateTime<Utc>,
    max_skew: std::time::Duration,
) -> Result<(), String> {
    let (ids, occurred_at): (Vec<(&str, Option<&String>)>, _) = match incoming {
        Incoming::Sentiment {
            conversation_id,
            agent_id,
            queue_id,
            occurred_at,
            envelope_id,
            ..
        }
        | Incoming::ConversationEnd {
            conversation_id,
            agent_id,
            queue_id,
            occurred_at,
            envelope_id,
            ..
        }
        | Incoming::Attribution {
            conversation_id,
            agent_id,
            queue_id,
            occurred_at,
            envelope_id,
            ..
        } => (
            vec![
                ("conversation id", Some(conversation_id)),
                ("agent id", agent_id.as_ref()),
                ("queue id", queue_id.as_ref()),
                ("EventBridge id", envelope_id.as_ref()),
            ],
            occurred_at,
        ),
    };
    for (what, id) in ids {
        if let Some(id) = id
            && !is_valid_id(id)
        {
            return Err(format!(
                "the {what} must be 1 to {MAX_ID_LEN} characters of letters, digits, '.', '_', ':' and '-'"
            ));
        }
    }
    if let Some(t) = occurred_at {
        // Genesys Cloud is younger than this: an earlier time is seconds sent as
        // milliseconds (1970-01-20 for today), or a sign error, and would be forwarded as
        // the insight's time.
        if t.timestamp() < EARLIEST_EVENT_TIME {
            return Err(format!(
                "the event time {} is before 2010; eventTime must be milliseconds since the epoch (or an RFC 3339 time)",
                t.to_rfc3339()
            ));
        }
        let skew = chrono::TimeDelta::from_std(max_skew).unwrap_or(chrono::TimeDelta::MAX);
        if now.checked_add_signed(skew).is_some_and(|limit| *t > limit) {
            return Err(format!(
                "the event time {} is more than {} in the future (webhook.max_clock_skew); check the sender's clock (and that eventTime is in milliseconds)",
                t.to_rfc3339(),
                humantime::format_duration(max_skew)
            ));
        }
    }
    Ok(())
}

/// Parses a webhook body. `sentiment_scale` is the scale of notification scores
/// (`genesys.topic_sentiment_scale`, else `genesys.sentiment_scale`); the original form is always on the unit scale.
///
/// # Errors
/// [`ParseError::Malformed`] for non-JSON, [`ParseError::Unusable`] for anything else wrong.
pub fn parse(body: &[u8], sentiment_scale: ScoreScale) -> Result<Incoming, ParseError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| ParseError::Malformed(e.to_string()))?;
    let Value::Object(map) = value else {
        return Err(unusable("the body must be a JSON object"));
    };
    if map.contains_key("interactionId") || map.contains_key("sentiment") {
        return seed_form(&map);
    }
    if map.contains_key("detail-type") || map.contains_key("detail") {
        let Some(Value::Object(detail)) = map.get("detail") else {
            return Err(unusable("EventBridge event without a `detail` object"));
        };
        let envelope_id = text(&map, &["id"]);
        // EventBridge's own time (RFC 3339, when the event entered the bus).
        let bus_time = map
            .get("time")
            .filter(|t| t.is_string())
            .and_then(time_value);
        return notification(
            detail,
            Format::EventBridge,
            sentiment_scale,
            (envelope_id, bus_time),
        );
    }
    if map.contains_key("topicName") || map.contains_key("eventBody") {
        return notification(&map, Format::Notification, sentiment_scale, (None, None));
    }
    Err(unusable(
        "not a recognised event: expected {\"interactionId\", \"sentiment\"}, a Genesys notification \
         {\"topicName\", \"eventBody\"} or an EventBridge event {\"detail-type\", \"detail\"}",
    ))
}

fn seed_form(map: &Map<String, Value>) -> Result<Incoming, ParseError> {
    let conversation_id =
        text(map, &["interactionId"]).ok_or_else(|| unusable("interactionId is required"))?;
    let Some(Value::Object(sentiment)) = map.get("sentiment") else {
        return Err(unusable(
            "sentiment must be an object {\"score\", \"polarity\"}",
        ));
    };
    let score = number(sentiment, "score", "sentiment.score")?
        .ok_or_else(|| unusable("sentiment.score is required"))?;
    let polarity = match sentiment.get("polarity") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) => Some(
            p.parse::<Polarity>()
                .map_err(|e| unusable(format!("sentiment.polarity: {e}")))?,
        ),
        Some(other) => {
            return Err(unusable(format!(
                "sentiment.polarity must be a string, got {}",
                shown(other)
            )));
        }
    };
    Ok(Incoming::Sentiment {
        format: Format::SeedForm,
        conversation_id,
        agent_id: text(map, &["agentId", "userId", "agent_id"]),
        queue_id: text(map, &["queueId", "queue_id"]),
        raw: RawSentiment {
            value: score,
            scale: ScoreScale::Unit,
        },
        polarity,
        trend: None,
        topic: None,
        occurred_at: time(map, "timestamp", "timestamp")?,
        envelope_id: None,
    })
}

const STA_PREFIX: &str = "v2.speechandtextanalytics.conversation.";

/// The conversation an event is about: `eventBody.conversationId`, which must agree with the
/// id in the topic when the topic names one (`{id}` is a pattern, not an id).
fn conversation_of(body: &Map<String, Value>, topic_id: String) -> Result<String, ParseError> {
    let topic_id = Some(topic_id).filter(|i| i != "{id}" && !i.is_empty());
    match (text(body, &["conversationId"]), topic_id) {
        (Some(b), Some(t)) if b != t => Err(unusable(format!(
            "eventBody.conversationId {} is not the conversation of the topic ({})",
            shown(&Value::String(b)),
            shown(&Value::String(t))
        ))),
        (Some(b), _) => Ok(b),
        (None, Some(t)) => Ok(t),
        (None, None) => Err(unusable("eventBody.conversationId is required")),
    }
}
const DETAIL_PREFIX: &str = "v2.detail.events.conversation.";

fn notification(
    map: &Map<String, Value>,
    format: Format,
    scale: ScoreScale,
    (envelope_id, bus_time): (Option<String>, Option<DateTime<Utc>>),
) -> Result<Incoming, ParseError> {
    let topic = text(map, &["topicName"]).ok_or_else(|| unusable("topicName is required"))?;
    let Some(Value::Object(body)) = map.get("eventBody") else {
        return Err(unusable("eventBody must be an object"));
    };
    let topic_id = |prefix: &str, suffixes: &[&str]| {
        let rest = topic.strip_prefix(prefix)?;
        suffixes
            .iter()
            .find_map(|s| rest.strip_suffix(s))
            .map(str::to_owned)
    };
    let occurred_at = match time(body, "eventTime", "eventBody.eventTime")? {
        Some(t) => Some(t),
        None => envelope_time(map, bus_time),
    };
    // The queue of a list that names one. Several (a transferred call) say nothing about
    // which queue the credited agent's work was in: the .acw or the details lookup tells,
    // as the batch takes the last agent segment's queue.
    let only = |key: &str| match body.get(key) {
        Some(Value::Array(items)) if items.len() == 1 => items[0].as_str().map(str::to_owned),
        _ => None,
    };
    if let Some(id) = topic_id(STA_PREFIX, &[".sentiment"]) {
        let conversation_id = conversation_of(body, id)?;
        let score = number(
            body,
            "sentimentOverallScore",
            "eventBody.sentimentOverallScore",
        )?
        .ok_or_else(|| unusable("eventBody.sentimentOverallScore is required"))?;
        return Ok(Incoming::Sentiment {
            format,
            conversation_id,
            agent_id: text(body, &["agentId", "userId"]),
            queue_id: text(body, &["queueId"]).or_else(|| only("queueIds")),
            raw: RawSentiment {
                value: score,
                scale,
            },
            polarity: None,
            trend: number(body, "sentimentTrendScore", "eventBody.sentimentTrendScore")?,
            topic: Some(topic),
            occurred_at,
            envelope_id,
        });
    }
    for (suffix, source) in [
        (".acw", AttributionSource::Acw),
        (".user.end", AttributionSource::UserEnd),
    ] {
        if let Some(id) = topic_id(DETAIL_PREFIX, &[suffix]) {
            let conversation_id = conversation_of(body, id)?;
            let agent_id = text(body, &["userId"]);
            if agent_id.is_none() {
                return Err(unusable(format!(
                    "eventBody.userId is required: a {suffix} event attributes its conversation to that agent"
                )));
            }
            return Ok(Incoming::Attribution {
                format,
                conversation_id,
                agent_id,
                queue_id: text(body, &["queueId"]),
                source,
                topic,
                occurred_at,
                envelope_id,
            });
        }
    }
    if let Some(id) = topic_id(DETAIL_PREFIX, &[".customer.end"]) {
        let conversation_id = conversation_of(body, id)?;
        return Ok(Incoming::ConversationEnd {
            format,
            conversation_id,
            agent_id: text(body, &["userId"]),
            queue_id: text(body, &["queueId"]),
            topic,
            occurred_at,
            envelope_id,
        });
    }
    Err(unusable(format!(
        "topic {} is not handled: send v2.speechandtextanalytics.conversation.{{id}}.sentiment, \
         or v2.detail.events.conversation.{{id}}.acw, .user.end or .customer.end",
        shown(&Value::String(topic))
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn all_four_shapes_parse() {
        let seed = json!({"interactionId": "c-1", "sentiment": {"score": -0.4, "polarity": "Negative"}, "agentId": "a-1"});
        let Incoming::Sentiment {
            format,
            conversation_id,
            agent_id,
            raw,
            polarity,
            ..
        } = parse(seed.to_string().as_bytes(), ScoreScale::Percent).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (format, conversation_id.as_str(), agent_id.as_deref()),
            (Format::SeedForm, "c-1", Some("a-1"))
        );
        assert_eq!(
            (raw.value, raw.scale, polarity),
            (-0.4, ScoreScale::Unit, Some(Polarity::Negative))
        );

        let note = json!({"topicName": "v2.speechandtextanalytics.conversation.c-2.sentiment",
            "eventBody": {"conversationId": "c-2", "sentimentOverallScore": 0.5, "sentimentTrendScore": 0.1,
                          "queueIds": ["q-1"], "divisionIds": ["d"]}, "metadata": {"CorrelationId": "x"}});
        let Incoming::Sentiment {
            format,
            queue_id,
            raw,
            trend,
            ..
        } = parse(note.to_string().as_bytes(), ScoreScale::Unit).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (format, queue_id.as_deref(), raw.value, trend),
            (Format::Notification, Some("q-1"), 0.5, Some(0.1))
        );

        let eb = json!({"version": "0", "id": "eb-1", "detail-type": "v2.speechandtextanalytics.conversation.{id}.sentiment",
            "source": "aws.partner/genesys.com/cloud/org/x", "detail": note});
        let Incoming::Sentiment {
            format,
            envelope_id,
            conversation_id,
            ..
        } = parse(eb.to_string().as_bytes(), ScoreScale::Unit).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (format, envelope_id.as_deref(), conversation_id.as_str()),
            (Format::EventBridge, Some("eb-1"), "c-2")
        );

        let acw = json!({"topicName": "v2.detail.events.conversation.c-3.acw",
            "eventBody": {"eventTime": 1_714_560_000_000i64, "conversationId": "c-3", "userId": "a-9", "queueId": "q-9", "mediaType": "VOICE"}});
        let Incoming::Attribution {
            conversation_id,
            agent_id,
            queue_id,
            source,
            occurred_at,
            ..
        } = parse(acw.to_string().as_bytes(), ScoreScale::Unit).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (
                conversation_id.as_str(),
                agent_id.as_deref(),
                queue_id.as_deref(),
                source
            ),
            ("c-3", Some("a-9"), Some("q-9"), AttributionSource::Acw)
        );
        assert_eq!(occurred_at.unwrap().timestamp_millis(), 1_714_560_000_000);

        let user_end = json!({"topicName": "v2.detail.events.conversation.c-4.user.end",
            "eventBody": {"eventTime": 1_714_560_000_000i64, "conversationId": "c-4", "userId": "a-8"}});
        assert!(matches!(
            parse(user_end.to_string().as_bytes(), ScoreScale::Unit).unwrap(),
            Incoming::Attribution {
                source: AttributionSource::UserEnd,
                ..
            }
        ));
        let customer_end = json!({"topicName": "v2.detail.events.conversation.c-5.customer.end",
            "eventBody": {"eventTime": 1_714_560_000_000i64, "conversationId": "c-5", "disconnectType": "CLIENT"}});
        assert!(matches!(
            parse(customer_end.to_string().as_bytes(), ScoreScale::Unit).unwrap(),
            Incoming::ConversationEnd { agent_id: None, .. }
        ));
    }

    fn sentiment_time(body: &Value) -> Result<Option<i64>, ParseError> {
        match parse(body.to_string().as_bytes(), ScoreScale::Unit)? {
            Incoming::Sentiment { occurred_at, .. } => {
                Ok(occurred_at.map(|t| t.timestamp_millis()))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_envelope_time_in_an_unknown_format_never_refuses_the_event() {
        let eb = |timestamp: Value| {
            json!({"id": "eb-1", "detail-type": "v2.speechandtextanalytics.conversation.{id}.sentiment",
                "time": "2026-11-30T17:58:01Z",
                "detail": {"topicName": "v2.speechandtextanalytics.conversation.c-1.sentiment",
                    "timestamp": timestamp,
                    "eventBody": {"conversationId": "c-1", "sentimentOverallScore": 0.5}}})
        };
        let at = 1_796_061_480_120i64; // 2026-11-30T17:58:00.120Z
        for (timestamp, expected) in [
            (json!("2026-11-30T17:58:00.120Z"), at),
            (json!("2026-11-30T17:58:00.120+0000"), at),
            (json!("2026-11-30T18:58:00.120+01:00"), at),
            (json!("1796061480120"), at),
            (json!(at), at),
            // Not a time this build can read: EventBridge's own time instead.
            (json!("2026-11-30 17:58:00"), at + 880),
            (json!(at / 1000), at + 880),
            (json!((at / 1000).to_string()), at + 880),
            (json!("soon"), at + 880),
            (json!({"ms": 1}), at + 880),
        ] {
            assert_eq!(
                sentiment_time(&eb(timestamp.clone())).unwrap(),
                Some(expected),
                "{timestamp}"
            );
        }
        // A direct notification has no bus time: the receive time (none here).
        let note = json!({"topicName": "v2.speechandtextanalytics.conversation.c-1.sentiment",
            "timestamp": "soon", "eventBody": {"conversationId": "c-1", "sentimentOverallScore": 0.5}});
        assert_eq!(sentiment_time(&note).unwrap(), None);
        // The event's own eventTime is read in the same forms, and refused when it does not
        // parse (which agent is credited goes by it).
        let acw = |t: Value| {
            json!({"topicName": "v2.detail.events.conversation.c-3.acw",
                "eventBody": {"eventTime": t, "conversationId": "c-3", "userId": "a-9"}})
        };
        let acw_time = |t: Value| match parse(acw(t).to_string().as_bytes(), ScoreScale::Unit) {
            Ok(Incoming::Attribution { occurred_at, .. }) => {
                Ok(occurred_at.map(|t| t.timestamp_millis()))
            }
            Ok(other) => panic!("{other:?}"),
            Err(e) => Err(e.to_string()),
        };
        assert_eq!(
            acw_time(json!("2026-11-30T17:58:00.120+0000")),
            Ok(Some(at))
        );
        assert_eq!(acw_time(json!("1796061480120")), Ok(Some(at)));
        let refused = acw_time(json!("2026-11-30T17:58:00.120")).unwrap_err();
        assert!(
            refused.contains(
                "eventBody.eventTime must be epoch milliseconds or an ISO 8601 time with an offset"
            ),
            "{refused}"
        );
        assert!(acw_time(json!("99999999999999999")).is_err(), "17 digits");
    }

    #[test]
    fn unusable_bodies_say_why() {
        let cases = [
            (
                json!({"sentiment": {"score": 0.1}}),
                "interactionId is required",
            ),
            (
                json!({"interactionId": "x", "sentiment": {"score": "NaN"}}),
                "must be a number",
            ),
            (
                json!({"interactionId": "x", "sentiment": {"score": 0.1, "polarity": "meh"}}),
                "unknown polarity",
            ),
            (
                json!({"topicName": "v2.users.x.presence", "eventBody": {}}),
                "is not handled",
            ),
            (json!({"hello": "world"}), "not a recognised event"),
            (
                json!({"topicName": "v2.detail.events.conversation.c-1.acw", "eventBody": {"conversationId": "c-1"}}),
                "userId is required",
            ),
            (
                json!({"topicName": "v2.speechandtextanalytics.conversation.c-1.sentiment",
                    "eventBody": {"conversationId": "c-2", "sentimentOverallScore": 0.1}}),
                "is not the conversation of the topic",
            ),
        ];
        for (body, needle) in cases {
            let e = parse(body.to_string().as_bytes(), ScoreScale::Unit).unwrap_err();
            assert!(
                matches!(&e, ParseError::Unusable(m) if m.contains(needle)),
                "{body}: {e}"
            );
        }
        assert!(matches!(
            parse(b"{oops", ScoreScale::Unit),
            Err(ParseError::Malformed(_))
        ));
    }
}
