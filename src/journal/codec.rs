//! The journal's line codec and hash chain (the vocabulary it stores is `domain::events`).
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

use crate::domain::events::Entry;

/// `prev_hash` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

const HASH_MEMBER: &str = ",\"hash\":\"";

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

/// Encodes one record whose entry is already JSON (`{"type": …, …}`, as the shared journal
/// stores it): the same line [`encode_into`] writes for that entry, with the entry's text
/// kept as it is (fields a newer version added are not lost). Returns the line without its
/// line end, and its hash. An entry that is not a JSON object is kept as a string under
/// `"type": "unreadable"`, so the chain still covers it.
pub fn encode_raw(
    seq: u64,
    time: DateTime<Utc>,
    prev_hash: &str,
    source: &str,
    outcome: &str,
    entry_json: &str,
) -> (String, String) {
    let time = time.to_rfc3339_opts(SecondsFormat::Micros, true);
    let mut out = String::with_capacity(entry_json.len() + 256);
    out.push_str(&format!(
        "{{\"seq\":{seq},\"time\":{},\"prev_hash\":{},\"source\":{},\"outcome\":{}",
        serde_json::Value::from(time.as_str()),
        serde_json::Value::from(prev_hash),
        serde_json::Value::from(source),
        serde_json::Value::from(outcome),
    ));
    let trimmed = entry_json.trim();
    let object = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(trimmed)
        .ok()
        .filter(|m| m.get("type").is_some_and(serde_json::Value::is_string));
    match object {
        Some(_) if trimmed.len() > 2 => {
            out.push(',');
            out.push_str(&trimmed[1..trimmed.len() - 1]);
        }
        _ => out.push_str(&format!(
            ",\"type\":\"unreadable\",\"raw\":{}",
            serde_json::Value::from(entry_json)
        )),
    }
    out.push('}');
    let mut hex = [0u8; 64];
    hex::encode_to_slice(Sha256::digest(out.as_bytes()), &mut hex).expect("64 hex digits");
    let hash = String::from_utf8(hex.to_vec()).expect("hex is ASCII");
    out.pop();
    out.push_str(HASH_MEMBER);
    out.push_str(&hash);
    out.push_str("\"}");
    (out, hash)
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
    "attribution_received",
    "attributed",
    "sentiment_fetched",
    "enrichment_failed",
    "coaching_recommendation",
    "delivered",
    "delivered_batch",
    "delivery_failed",
    "dead_lettered",
    "replay_requested",
    "batch_run",
    "checkpoint",
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
        let mut entry = match kind.as_ref() {
            "webhook_received" => Entry::WebhookReceived(Deserialize::deserialize(rest)?),
            "conversation_end_received" => {
                Entry::ConversationEndReceived(Deserialize::deserialize(rest)?)
            }
            "attribution_received" => Entry::AttributionReceived(Deserialize::deserialize(rest)?),
            "attributed" => Entry::Attributed(Deserialize::deserialize(rest)?),
            "sentiment_fetched" => Entry::SentimentFetched(Deserialize::deserialize(rest)?),
            "enrichment_failed" => Entry::EnrichmentFailed(Deserialize::deserialize(rest)?),
            "coaching_recommendation" => {
                Entry::CoachingRecommendation(Deserialize::deserialize(rest)?)
            }
            "delivered" => Entry::Delivered(Deserialize::deserialize(rest)?),
            "delivered_batch" => Entry::DeliveredBatch(Deserialize::deserialize(rest)?),
            "delivery_failed" => Entry::DeliveryFailed(Deserialize::deserialize(rest)?),
            "dead_lettered" => Entry::DeadLettered(Deserialize::deserialize(rest)?),
            "replay_requested" => Entry::ReplayRequested(Deserialize::deserialize(rest)?),
            "batch_run" => Entry::BatchRun(Deserialize::deserialize(rest)?),
            "checkpoint" => Entry::Checkpoint(Deserialize::deserialize(rest)?),
            "journal_recovered" => Entry::JournalRecovered(Deserialize::deserialize(rest)?),
            other => return Err(serde::de::Error::unknown_variant(other, KINDS)),
        };
        entry.restore_received(time);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::events::ReplayRequest;

    #[test]
    fn a_raw_entry_encodes_to_the_same_line_and_hash_as_the_entry_itself() {
        let d = draft();
        let time = DateTime::parse_from_rfc3339("2026-01-02T03:04:05.123456Z")
            .unwrap()
            .with_timezone(&Utc);
        let (mut line, hash) = encode(7, time, GENESIS, &d);
        line.pop();
        let json = serde_json::to_string(&d.entry).unwrap();
        let (raw, raw_hash) = encode_raw(7, time, GENESIS, &d.source, &d.outcome, &json);
        assert_eq!(raw.as_bytes(), &line[..]);
        assert_eq!(raw_hash, hash);
        // A field this version does not know is kept, and the line still verifies.
        let newer = json.replacen('{', "{\"added_later\":1,", 1);
        let (kept, _) = encode_raw(8, time, &hash, "s", "o", &newer);
        assert!(kept.contains("\"added_later\":1"), "{kept}");
        // Not an object: kept as text, still a verifiable record.
        let (odd, _) = encode_raw(9, time, &hash, "s", "o", "not json");
        assert!(
            odd.contains("\"type\":\"unreadable\",\"raw\":\"not json\""),
            "{odd}"
        );
        // …which `audit verify` then names (it is no record this version can read).
        assert!(matches!(
            decode(odd.as_bytes()),
            Err(LineError::Malformed(_))
        ));
    }

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

    #[test]
    fn a_score_without_a_time_of_its_own_reads_back_as_received_at_its_record_time() {
        let time = DateTime::parse_from_rfc3339("2026-01-02T03:04:05.123456Z")
            .unwrap()
            .with_timezone(&Utc);
        let source = DateTime::parse_from_rfc3339("2026-01-02T03:00:00.5Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut score = crate::domain::delivery::tests::score(Some("a-1"), None);
        for (given, expected) in [(None, time), (Some(source), source)] {
            score.source_time = given;
            // What the intake had in hand (a moment before the record was written).
            score.received_at = time - chrono::TimeDelta::milliseconds(3);
            let d = Draft {
                source: "webhook:seed_form".into(),
                outcome: "accepted".into(),
                entry: Entry::WebhookReceived(score.clone()),
            };
            let (line, _) = encode(1, time, GENESIS, &d);
            let text = String::from_utf8(line.clone()).unwrap();
            assert_eq!(text.contains("occurred_at"), given.is_some(), "{text}");
            let Entry::WebhookReceived(back) = decode(&line[..line.len() - 1]).unwrap().entry
            else {
                panic!("not a score: {text}");
            };
            assert_eq!(back.occurred_at(), expected, "{text}");
            assert_eq!(back.received_at, time);
        }
    }
}
