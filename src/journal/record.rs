//! The journal's record format.
//!
//! One JSON object per line, fields in this order:
//! `{"seq", "time", "prev_hash", "source", "outcome", "type", …type fields…, "hash"}`.
//! `hash` is the hex SHA-256 of the line's bytes with the `,"hash":"…"` member removed (the
//! object closed right after the last field), and `prev_hash` is the previous record's
//! `hash` (64 zeros for the first), so every record commits to everything before it.
//! Verification works on the exact bytes written and never re-serializes anything.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::domain::{Polarity, ScoreScale};

/// `prev_hash` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

const HASH_MEMBER: &str = ",\"hash\":\"";

/// An accepted sentiment insight: a webhook's score, or one fetched from STA. Carries what
/// an auditor asks (NIST AU-3): what, when, where from, about whom, and the numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentimentEvent {
    /// Stable id: the `webhook-id` of every delivery, on every retry and replay.
    pub event_id: String,
    /// Keys a repeat of this event would match (webhook id, conversation + kind).
    pub dedupe_keys: Vec<String>,
    /// The conversation.
    pub conversation_id: String,
    /// The agent, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// The queue, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_id: Option<String>,
    /// The score as received.
    pub raw_score: f64,
    /// Its scale.
    pub scale: ScoreScale,
    /// 0–100 quality score.
    pub quality_score: f64,
    /// Polarity (supplied and validated, or derived).
    pub polarity: Polarity,
    /// Below the action threshold.
    pub action_required: bool,
    /// Normalization formula version.
    pub normalization_version: String,
    /// Genesys's sentiment trend, when sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trend_score: Option<f64>,
    /// Notification topic, when the source was a Genesys notification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// For a score fetched after a conversation-end event: that event's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause_event_id: Option<String>,
    /// When it happened according to the source (else when it was received).
    pub occurred_at: DateTime<Utc>,
}

/// An accepted conversation-end event whose score the daemon will fetch from STA.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationEnded {
    /// Stable id.
    pub event_id: String,
    /// Dedupe keys.
    pub dedupe_keys: Vec<String>,
    /// The conversation.
    pub conversation_id: String,
    /// The agent, when sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// The queue, when sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_id: Option<String>,
    /// The notification topic.
    pub topic: String,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
}

/// Fetching a score for a conversation-end event ended without one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnrichmentFailed {
    /// The conversation-end event.
    pub event_id: String,
    /// The conversation.
    pub conversation_id: String,
    /// Why (`not analysed within 15m`, a Genesys error, …).
    pub reason: String,
}

/// A coaching recommendation from a significant decline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    /// Stable id derived from (agent, window, rule, algorithm version).
    pub event_id: String,
    /// The agent.
    pub agent_id: String,
    /// Display name, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_name: Option<String>,
    /// Current window start.
    pub window_start: DateTime<Utc>,
    /// Current window end.
    pub window_end: DateTime<Utc>,
    /// The rule that fired.
    pub rule: String,
    /// Trend algorithm version.
    pub algorithm_version: String,
    /// Normalization version of the scores.
    pub normalization_version: String,
    /// Change of mean quality (points).
    pub effect_points: f64,
    /// Benjamini–Hochberg q-value.
    pub q_value: f64,
    /// Conversations, current window.
    pub n_current: u64,
    /// Conversations, previous window.
    pub n_previous: u64,
    /// Mean quality, current window.
    pub mean_current: f64,
    /// Mean quality, previous window.
    pub mean_previous: f64,
}

/// The outcome of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryOutcome {
    /// The event.
    pub event_id: String,
    /// Attempt number (1-based).
    pub attempt: u32,
    /// HTTP status, when there was an answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// What went wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When the next attempt is due (failed attempts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_at: Option<DateTime<Utc>>,
}

/// A dead-lettered event put back in the delivery queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplayRequest {
    /// The event.
    pub event_id: String,
}

/// One scheduled batch run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchRun {
    /// Run number since start-up.
    pub run: u64,
    /// Current window start.
    pub window_start: DateTime<Utc>,
    /// Current window end.
    pub window_end: DateTime<Utc>,
    /// `conversations` or `aggregates`.
    pub data_source: String,
    /// Records aggregated.
    pub records: u64,
    /// Genesys requests made.
    pub requests: u64,
    /// 429s met.
    pub rate_limited: u64,
    /// Duration in milliseconds.
    pub duration_ms: u64,
    /// Agents declining / improving in the report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declining: Option<u64>,
    /// Improving agents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub improving: Option<u64>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Start-up recovery found and removed a torn tail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recovered {
    /// Bytes cut from the end of the last segment.
    pub truncated_bytes: u64,
    /// Records found intact.
    pub records: u64,
}

/// What a record says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Entry {
    /// A webhook with a score was accepted.
    WebhookReceived(SentimentEvent),
    /// A conversation-end webhook was accepted; the score will be fetched.
    ConversationEndReceived(ConversationEnded),
    /// A score was fetched from STA for a conversation-end event.
    SentimentFetched(SentimentEvent),
    /// No score could be fetched for a conversation-end event.
    EnrichmentFailed(EnrichmentFailed),
    /// A coaching recommendation was issued.
    CoachingRecommendation(Recommendation),
    /// The coaching platform accepted a delivery.
    Delivered(DeliveryOutcome),
    /// A delivery attempt failed and will be retried.
    DeliveryFailed(DeliveryOutcome),
    /// An event will not be delivered without a replay.
    DeadLettered(DeliveryOutcome),
    /// A dead-lettered event was put back in the queue.
    ReplayRequested(ReplayRequest),
    /// A scheduled batch ran.
    BatchRun(BatchRun),
    /// Start-up recovery removed a torn tail.
    JournalRecovered(Recovered),
}

impl Entry {
    /// The record's `type`.
    pub fn kind(&self) -> &'static str {
        match self {
            Entry::WebhookReceived(_) => "webhook_received",
            Entry::ConversationEndReceived(_) => "conversation_end_received",
            Entry::SentimentFetched(_) => "sentiment_fetched",
            Entry::EnrichmentFailed(_) => "enrichment_failed",
            Entry::CoachingRecommendation(_) => "coaching_recommendation",
            Entry::Delivered(_) => "delivered",
            Entry::DeliveryFailed(_) => "delivery_failed",
            Entry::DeadLettered(_) => "dead_lettered",
            Entry::ReplayRequested(_) => "replay_requested",
            Entry::BatchRun(_) => "batch_run",
            Entry::JournalRecovered(_) => "journal_recovered",
        }
    }
}

/// What the writer is asked to append.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    /// Where the decision came from (`webhook:seed_form`, `forwarder`, `batch`, `cli`, …).
    pub source: String,
    /// What was decided (`accepted`, `delivered`, `failed`, …).
    pub outcome: String,
    /// The record.
    pub entry: Entry,
}

#[derive(Serialize)]
struct LineOut<'a> {
    seq: u64,
    time: &'a str,
    prev_hash: &'a str,
    source: &'a str,
    outcome: &'a str,
    #[serde(flatten)]
    entry: &'a Entry,
}

/// A record read back.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Sequence number, from 1, without gaps.
    pub seq: u64,
    /// When it was written (UTC).
    pub time: DateTime<Utc>,
    /// The previous record's hash.
    pub prev_hash: String,
    /// Where the decision came from.
    pub source: String,
    /// What was decided.
    pub outcome: String,
    /// The record.
    pub entry: Entry,
    /// This record's hash.
    pub hash: String,
}

/// Encodes one record, appending the line (with `\n`) to `out`; returns its hash.
pub fn encode_into(
    out: &mut Vec<u8>,
    seq: u64,
    time: DateTime<Utc>,
    prev_hash: &str,
    draft: &Draft,
) -> String {
    let time = time.to_rfc3339_opts(SecondsFormat::Micros, true);
    let start = out.len();
    serde_json::to_writer(
        &mut *out,
        &LineOut {
            seq,
            time: &time,
            prev_hash,
            source: &draft.source,
            outcome: &draft.outcome,
            entry: &draft.entry,
        },
    )
    .expect("records serialize");
    let mut hex = [0u8; 64];
    hex::encode_to_slice(Sha256::digest(&out[start..]), &mut hex).expect("64 hex digits");
    out.pop(); // the closing brace
    out.extend_from_slice(HASH_MEMBER.as_bytes());
    out.extend_from_slice(&hex);
    out.extend_from_slice(b"\"}\n");
    String::from_utf8(hex.to_vec()).expect("hex is ASCII")
}

/// Encodes one record: returns the line (with `\n`) and its hash.
pub fn encode(seq: u64, time: DateTime<Utc>, prev_hash: &str, draft: &Draft) -> (Vec<u8>, String) {
    let mut line = Vec::with_capacity(512);
    let hash = encode_into(&mut line, seq, time, prev_hash, draft);
    (line, hash)
}

/// Why a line does not verify by itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// Not JSON, or not a record.
    #[error("not a journal record ({0})")]
    Malformed(String),
    /// The bytes do not hash to the stored hash.
    #[error("hash mismatch: the record was changed after it was written")]
    HashMismatch,
}

/// Parses one line (without its `\n`) and checks its own hash.
///
/// # Errors
/// [`LineError`] when the line is not a record or was changed.
pub fn decode(line: &[u8]) -> Result<Record, LineError> {
    // The line ends with `,"hash":"<64 hex>"}`.
    let tail_len = HASH_MEMBER.len() + 64 + 2;
    let at = line
        .len()
        .checked_sub(tail_len)
        .filter(|&at| line[at..].starts_with(HASH_MEMBER.as_bytes()) && line.ends_with(b"\"}"));
    let Some(at) = at else {
        return Err(LineError::Malformed(
            "the line does not end with its hash member".into(),
        ));
    };
    let stored = &line[at + HASH_MEMBER.len()..line.len() - 2];
    let mut record: Record =
        serde_json::from_slice(line).map_err(|e| LineError::Malformed(e.to_string()))?;
    let mut hasher = Sha256::new();
    hasher.update(&line[..at]);
    hasher.update(b"}");
    let mut computed = [0u8; 64];
    hex::encode_to_slice(hasher.finalize(), &mut computed).expect("64 hex digits");
    if computed[..] != *stored {
        return Err(LineError::HashMismatch);
    }
    record.hash = String::from_utf8(computed.to_vec()).expect("hex is ASCII");
    Ok(record)
}

/// Reads a record's members in their fixed order and hands the rest of the object to the
/// payload type named by `type`: no intermediate buffering (recovery reads millions of
/// these). The trailing `hash` member is skipped by the payload types and taken from the
/// bytes by [`decode`].
struct RecordVisitor;

const KINDS: &[&str] = &[
    "webhook_received",
    "conversation_end_received",
    "sentiment_fetched",
    "enrichment_failed",
    "coaching_recommendation",
    "delivered",
    "delivery_failed",
    "dead_lettered",
    "replay_requested",
    "batch_run",
    "journal_recovered",
];

fn member<'de, A, T>(map: &mut A, name: &'static str) -> Result<T, A::Error>
where
    A: serde::de::MapAccess<'de>,
    T: Deserialize<'de>,
{
    match map.next_key::<std::borrow::Cow<'de, str>>()? {
        Some(k) if k == name => map.next_value(),
        Some(k) => Err(serde::de::Error::custom(format!(
            "expected member {name:?}, found {k:?}"
        ))),
        None => Err(serde::de::Error::missing_field(name)),
    }
}

impl<'de> serde::de::Visitor<'de> for RecordVisitor {
    type Value = Record;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a journal record object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Record, A::Error> {
        use serde::de::value::MapAccessDeserializer;
        let seq: u64 = member(&mut map, "seq")?;
        let time: DateTime<Utc> = member(&mut map, "time")?;
        let prev_hash: String = member(&mut map, "prev_hash")?;
        let source: String = member(&mut map, "source")?;
        let outcome: String = member(&mut map, "outcome")?;
        let kind: std::borrow::Cow<'de, str> = member(&mut map, "type")?;
        let rest = MapAccessDeserializer::new(map);
        let entry = match kind.as_ref() {
            "webhook_received" => Entry::WebhookReceived(Deserialize::deserialize(rest)?),
            "conversation_end_received" => {
                Entry::ConversationEndReceived(Deserialize::deserialize(rest)?)
            }
            "sentiment_fetched" => Entry::SentimentFetched(Deserialize::deserialize(rest)?),
            "enrichment_failed" => Entry::EnrichmentFailed(Deserialize::deserialize(rest)?),
            "coaching_recommendation" => {
                Entry::CoachingRecommendation(Deserialize::deserialize(rest)?)
            }
            "delivered" => Entry::Delivered(Deserialize::deserialize(rest)?),
            "delivery_failed" => Entry::DeliveryFailed(Deserialize::deserialize(rest)?),
            "dead_lettered" => Entry::DeadLettered(Deserialize::deserialize(rest)?),
            "replay_requested" => Entry::ReplayRequested(Deserialize::deserialize(rest)?),
            "batch_run" => Entry::BatchRun(Deserialize::deserialize(rest)?),
            "journal_recovered" => Entry::JournalRecovered(Deserialize::deserialize(rest)?),
            other => return Err(serde::de::Error::unknown_variant(other, KINDS)),
        };
        Ok(Record {
            seq,
            time,
            prev_hash,
            source,
            outcome,
            entry,
            hash: String::new(),
        })
    }
}

impl<'de> Deserialize<'de> for Record {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Record, D::Error> {
        d.deserialize_map(RecordVisitor)
    }
}

/// A stable event id derived from a key: `evt_` and 24 hex digits of SHA-256. Two events
/// with the same key get the same id, so a repeat that slips past the dedupe window still
/// carries the id the coaching platform already saw.
pub fn event_id(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    let mut hex = [0u8; 24];
    hex::encode_to_slice(&digest[..12], &mut hex).expect("24 hex digits");
    let mut id = String::with_capacity(28);
    id.push_str("evt_");
    id.push_str(std::str::from_utf8(&hex).expect("hex is ASCII"));
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft() -> Draft {
        Draft {
            source: "webhook:seed_form".into(),
            outcome: "accepted".into(),
            entry: Entry::ReplayRequested(ReplayRequest {
                event_id: "evt_1".into(),
            }),
        }
    }

    #[test]
    fn a_record_round_trips_and_any_change_breaks_its_hash() {
        let (line, hash) = encode(7, Utc::now(), GENESIS, &draft());
        assert_eq!(line.last(), Some(&b'\n'));
        let body = &line[..line.len() - 1];
        let r = decode(body).unwrap();
        assert_eq!(
            (r.seq, r.hash.as_str(), r.prev_hash.as_str()),
            (7, hash.as_str(), GENESIS)
        );
        assert_eq!(r.entry.kind(), "replay_requested");
        let text = String::from_utf8(body.to_vec()).unwrap();
        let edited = text.replace("evt_1", "evt_2");
        assert_eq!(decode(edited.as_bytes()), Err(LineError::HashMismatch));
        let truncated = &body[..body.len() - 10];
        assert!(matches!(decode(truncated), Err(LineError::Malformed(_))));
    }
}
