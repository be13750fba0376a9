//! Wire models: field names and types as in the official SDKs' generated models
//! (docs/genesys-api.md §1.3, §2, §3, §4.1, §4.3, §5.3). Used by the client to decode and by the
//! emulator to encode, so both speak the same format. Translation to domain types happens
//! in the client, at the edge.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Genesys timestamps: `yyyy-MM-ddTHH:mm:ss.SSSZ` out, any RFC 3339 in.
pub mod time_format {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    /// Formats with milliseconds and `Z`.
    pub fn format(t: &DateTime<Utc>) -> String {
        t.to_rfc3339_opts(SecondsFormat::Millis, true)
    }

    /// Serializes a timestamp.
    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(t))
    }

    /// Deserializes a timestamp.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }

    /// The same for optional timestamps.
    pub mod option {
        use super::*;

        /// Serializes an optional timestamp.
        pub fn serialize<S: Serializer>(
            t: &Option<DateTime<Utc>>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => s.serialize_str(&super::format(t)),
                None => s.serialize_none(),
            }
        }

        /// Deserializes an optional timestamp.
        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<DateTime<Utc>>, D::Error> {
            let text = Option::<String>::deserialize(d)?;
            text.map(|t| {
                DateTime::parse_from_rfc3339(&t)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(serde::de::Error::custom)
            })
            .transpose()
        }
    }
}

/// A half-open UTC interval, written `start/end` on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Interval {
    /// Inclusive start.
    pub start: DateTime<Utc>,
    /// Exclusive end.
    pub end: DateTime<Utc>,
}

impl Interval {
    /// Builds an interval (no check; see the client for validation).
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Interval {
        Interval { start, end }
    }

    /// Whether `t` falls inside.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.start <= t && t < self.end
    }

    /// Length.
    pub fn duration(&self) -> chrono::TimeDelta {
        self.end - self.start
    }

    /// Parses `start/end` (both RFC 3339).
    ///
    /// # Errors
    /// A message when either side is not a timestamp.
    pub fn parse(text: &str) -> Result<Interval, String> {
        let (a, b) = text
            .split_once('/')
            .ok_or_else(|| format!("{text:?} is not start/end"))?;
        let parse = |s: &str| {
            DateTime::parse_from_rfc3339(s.trim())
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| format!("{s:?} is not an ISO-8601 timestamp: {e}"))
        };
        Ok(Interval {
            start: parse(a)?,
            end: parse(b)?,
        })
    }
}

impl std::fmt::Display for Interval {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{}",
            time_format::format(&self.start),
            time_format::format(&self.end)
        )
    }
}

impl Serialize for Interval {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Interval {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Interval::parse(&text).map_err(serde::de::Error::custom)
    }
}

// ---------------------------------------------------------------------------------------
// OAuth (§1.3)

/// Successful token response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenResponse {
    /// The bearer token.
    pub access_token: String,
    /// `bearer`.
    #[serde(default)]
    pub token_type: Option<String>,
    /// Lifetime in seconds.
    #[serde(default)]
    pub expires_in: Option<u64>,
}

/// Token error body (`AuthErrorResponse` in the Go SDK).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AuthErrorResponse {
    /// OAuth error code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// OAuth error description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
}

// ---------------------------------------------------------------------------------------
// Conversation details query (§2)

/// Paging of the synchronous details query (1-based page numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PagingSpec {
    /// Results per page.
    pub page_size: u32,
    /// 1-based page number.
    pub page_number: u32,
}

/// One predicate of a details filter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Predicate {
    /// `dimension`, `property` or `metric`.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "type")]
    pub kind: Option<String>,
    /// Dimension name, e.g. `queueId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimension: Option<String>,
    /// `matches` (default), `exists`, `notExists`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    /// Value to match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// A filter: `and`/`or` over predicates (and optional clauses).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct QueryFilter {
    /// `and` or `or`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Nested clauses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clauses: Vec<QueryFilter>,
    /// Predicates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub predicates: Vec<Predicate>,
}

/// `ConversationQuery` (sync) and `AsyncConversationQuery` (jobs) in one type; the fields
/// that only one of them has are optional.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ConversationQuery {
    /// `start/end`.
    pub interval: Option<Interval>,
    /// `asc`, `desc`, `unordered`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
    /// `conversationStart`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_by: Option<String>,
    /// Sync only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paging: Option<PagingSpec>,
    /// Conversation-level filters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conversation_filters: Vec<QueryFilter>,
    /// Segment-level filters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segment_filters: Vec<QueryFilter>,
    /// Async only: most results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    /// Async only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_of_day_interval_matching: Option<bool>,
}

/// A list of an answer whose malformed items are set aside, each described, instead of
/// failing the whole answer: one conversation Genesys (or a proxy) got wrong must not stop
/// every run at the same page.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Tolerant<T> {
    /// The items that decoded.
    pub items: Vec<T>,
    /// What was wrong with each item that did not (its id where it has one, and the error).
    pub malformed: Vec<String>,
}

impl<T> Tolerant<T> {
    /// Items and malformed ones together: the length of the page Genesys sent.
    pub fn sent(&self) -> usize {
        self.items.len() + self.malformed.len()
    }
}

impl<T> From<Vec<T>> for Tolerant<T> {
    fn from(items: Vec<T>) -> Tolerant<T> {
        Tolerant {
            items,
            malformed: Vec::new(),
        }
    }
}

impl<T: Serialize> Serialize for Tolerant<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.items.serialize(serializer)
    }
}

impl<'de, T: serde::de::DeserializeOwned> Deserialize<'de> for Tolerant<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// Just the id of an item that did not decode, to name it.
        #[derive(Deserialize)]
        struct Named {
            #[serde(rename = "conversationId")]
            id: Option<String>,
        }
        // Each item as its raw text (no bigger than the answer), decoded one at a time.
        let raw = Vec::<Box<serde_json::value::RawValue>>::deserialize(deserializer)?;
        let mut out = Tolerant {
            items: Vec::with_capacity(raw.len()),
            malformed: Vec::new(),
        };
        for item in raw {
            let mut reader = serde_json::Deserializer::from_str(item.get());
            match serde_path_to_error::deserialize::<_, T>(&mut reader) {
                Ok(decoded) => out.items.push(decoded),
                Err(e) => {
                    let id = serde_json::from_str::<Named>(item.get())
                        .ok()
                        .and_then(|n| n.id)
                        .map(|id| crate::domain::printable(&id, 64));
                    out.malformed.push(format!(
                        "{} at {}: {}",
                        id.as_deref().unwrap_or("(no conversationId)"),
                        crate::domain::printable(&e.path().to_string(), 120),
                        crate::domain::printable(&shape_error(&e.inner().to_string()), 200)
                    ));
                }
            }
        }
        Ok(out)
    }
}

/// A decoding error without the value that caused it (a mistyped `ani` or participant name
/// must not reach the logs): `invalid type: integer `12345`, expected a string at line 1
/// column 40` becomes `invalid type, expected a string`. Only serde's own kinds are kept,
/// with what follows `, expected` (from our types) and the field of `missing field` (ours);
/// any other message (a parser's own) becomes a plain "unreadable value".
fn shape_error(message: &str) -> String {
    let message = message.split(" at line ").next().unwrap_or(message);
    if message.starts_with("missing field") || message.starts_with("duplicate field") {
        return message.to_owned();
    }
    let expected = message.rfind(", expected ").map(|i| &message[i..]);
    for kind in [
        "invalid type",
        "invalid value",
        "invalid length",
        "unknown variant",
    ] {
        if message.starts_with(kind) {
            return format!("{kind}{}", expected.unwrap_or(""));
        }
    }
    "unreadable value".to_owned()
}

/// `AnalyticsConversationQueryResponse`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ConversationQueryResponse {
    /// The page of conversations (absent when empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversations: Option<Tolerant<AnalyticsConversation>>,
    /// Approximate total.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_hits: Option<u64>,
}

/// `AnalyticsConversation(WithoutAttributes)`: the fields the daemon reads or the emulator
/// writes. Unknown fields are ignored when decoding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct AnalyticsConversation {
    /// Conversation id.
    pub conversation_id: String,
    /// Start.
    #[serde(
        default,
        with = "time_format::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub conversation_start: Option<DateTime<Utc>>,
    /// End (absent while ongoing).
    #[serde(
        default,
        with = "time_format::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub conversation_end: Option<DateTime<Utc>>,
    /// Purpose of the initiating participant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_initiator: Option<String>,
    /// `inbound` / `outbound`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub originating_direction: Option<String>,
    /// Divisions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub division_ids: Vec<String>,
    /// Lowest MOS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_stats_min_conversation_mos: Option<f64>,
    /// Lowest R-factor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_stats_min_conversation_r_factor: Option<f64>,
    /// Participants.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub participants: Vec<AnalyticsParticipant>,
}

/// `AnalyticsParticipant(WithoutAttributes)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct AnalyticsParticipant {
    /// Participant id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participant_id: Option<String>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participant_name: Option<String>,
    /// `customer`, `agent`, `acd`, `ivr`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    /// The user (agent) id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Sessions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sessions: Vec<AnalyticsSession>,
}

/// `AnalyticsSession`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct AnalyticsSession {
    /// Session id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// `voice`, `chat`, `message`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// `inbound` / `outbound`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<String>,
    /// Caller number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ani: Option<String>,
    /// Dialled number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dnis: Option<String>,
    /// Edge id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edge_id: Option<String>,
    /// Whether recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording: Option<bool>,
    /// Metrics.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<AnalyticsSessionMetric>,
    /// Segments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<AnalyticsConversationSegment>,
}

/// `AnalyticsSessionMetric`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct AnalyticsSessionMetric {
    /// Metric name, e.g. `tTalk`. (Every field of a Genesys model is optional, and these are
    /// not read: one left out must not fail the page it is on.)
    #[serde(default)]
    pub name: String,
    /// Value (milliseconds for `t*`).
    #[serde(default)]
    pub value: i64,
    /// When emitted.
    #[serde(
        default,
        with = "time_format::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub emit_date: Option<DateTime<Utc>>,
}

/// `AnalyticsConversationSegment`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct AnalyticsConversationSegment {
    /// Start.
    #[serde(
        default,
        with = "time_format::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub segment_start: Option<DateTime<Utc>>,
    /// End.
    #[serde(
        default,
        with = "time_format::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub segment_end: Option<DateTime<Utc>>,
    /// `interact`, `wrapup`, `alert`, `hold`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment_type: Option<String>,
    /// Queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_id: Option<String>,
    /// Wrap-up code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wrap_up_code: Option<String>,
    /// Disconnect type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disconnect_type: Option<String>,
    /// Requested language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_language_id: Option<String>,
}

impl AnalyticsConversation {
    /// The agent to coach: the last `purpose = agent` participant with a user id.
    pub fn agent_id(&self) -> Option<&str> {
        self.participants
            .iter()
            .rev()
            .filter(|p| p.purpose.as_deref() == Some("agent"))
            .find_map(|p| p.user_id.as_deref())
    }

    /// The queue: the last segment with a queue id on an agent (else any) participant.
    pub fn queue_id(&self) -> Option<&str> {
        let segments = |agent_only: bool| {
            self.participants
                .iter()
                .filter(move |p| !agent_only || p.purpose.as_deref() == Some("agent"))
                .flat_map(|p| p.sessions.iter())
                .flat_map(|s| s.segments.iter())
                .filter_map(|s| s.queue_id.as_deref())
                .next_back()
        };
        segments(true).or_else(|| segments(false))
    }
}

// ---------------------------------------------------------------------------------------
// Async details jobs (§3)

/// `AsyncQueryResponse`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AsyncQueryResponse {
    /// The job id.
    pub job_id: String,
}

/// `AsyncQueryStatus`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AsyncQueryStatus {
    /// `QUEUED`, `PENDING`, `FAILED`, `CANCELLED`, `FULFILLED`, `EXPIRED`.
    pub state: String,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// Submitted at.
    #[serde(
        default,
        with = "time_format::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub submission_date: Option<DateTime<Utc>>,
    /// Completed at.
    #[serde(
        default,
        with = "time_format::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub completion_date: Option<DateTime<Utc>>,
    /// Results expire at.
    #[serde(
        default,
        with = "time_format::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub expiration_date: Option<DateTime<Utc>>,
}

/// `AnalyticsConversationAsyncQueryResponse`: one page of job results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct AsyncQueryResultsPage {
    /// Present while more pages follow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Data before this date is settled.
    #[serde(
        default,
        with = "time_format::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub data_availability_date: Option<DateTime<Utc>>,
    /// The conversations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversations: Option<Tolerant<AnalyticsConversation>>,
}

/// `DataAvailabilityResponse`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataAvailabilityResponse {
    /// Data before this is guaranteed to be in the datalake.
    #[serde(
        default,
        with = "time_format::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub data_availability_date: Option<DateTime<Utc>>,
}

// ---------------------------------------------------------------------------------------
// Speech & Text Analytics (§4.1)

/// `AddressableEntityRef`-like `{id, selfUri}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct EntityRef {
    /// Id.
    pub id: String,
    /// URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_uri: Option<String>,
}

/// `ConversationMetrics` from `GET /api/v2/speechandtextanalytics/conversations/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ConversationMetrics {
    /// The conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<EntityRef>,
    /// Overall sentiment (scale UNVERIFIED: `genesys.sentiment_scale`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sentiment_score: Option<f64>,
    /// Sentiment trend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sentiment_trend: Option<f64>,
    /// `NotCalculated`, `Declining`, `SlightlyDeclining`, `NoChange`, `SlightlyImproving`,
    /// `Improving`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sentiment_trend_class: Option<String>,
    /// Per-agent empathy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub empathy_scores: Vec<EmpathyScore>,
    /// Talk/silence shares.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participant_metrics: Option<ParticipantMetrics>,
}

/// `EmpathyScore`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct EmpathyScore {
    /// Score (range UNVERIFIED).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// Agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

/// `ParticipantMetrics`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantMetrics {
    /// Agent talk share.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_duration_percentage: Option<f64>,
    /// Customer talk share.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_duration_percentage: Option<f64>,
    /// Silence share.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub silence_duration_percentage: Option<f64>,
    /// IVR share.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ivr_duration_percentage: Option<f64>,
    /// ACD share.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acd_duration_percentage: Option<f64>,
    /// Overtalk share.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overtalk_duration_percentage: Option<f64>,
    /// Other share.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other_duration_percentage: Option<f64>,
    /// Overtalk instances.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overtalk_count: Option<i64>,
}

// ---------------------------------------------------------------------------------------
// Transcript aggregates (§4.3)

/// `TranscriptAggregationQuery`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct TranscriptAggregationQuery {
    /// `start/end`.
    pub interval: Option<Interval>,
    /// ISO-8601 period, e.g. `P1D`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub granularity: Option<String>,
    /// IANA zone (default UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// Group-by dimensions, e.g. `userId`, `queueId`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_by: Vec<String>,
    /// Filter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<QueryFilter>,
    /// Metrics, e.g. `oSentimentScore`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<String>,
}

/// `TranscriptAggregateQueryResponse`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct TranscriptAggregateQueryResponse {
    /// One container per group.
    #[serde(default)]
    pub results: Vec<TranscriptAggregateDataContainer>,
}

/// `TranscriptAggregateDataContainer`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct TranscriptAggregateDataContainer {
    /// Dimension → value.
    #[serde(default)]
    pub group: BTreeMap<String, String>,
    /// One entry per granularity interval.
    #[serde(default)]
    pub data: Vec<StatisticalResponse>,
}

/// `StatisticalResponse`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct StatisticalResponse {
    /// The granularity interval.
    pub interval: Option<Interval>,
    /// Metric statistics.
    #[serde(default)]
    pub metrics: Vec<AggregateMetricData>,
}

/// `AggregateMetricData`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct AggregateMetricData {
    /// Metric name (a metric without one matches nothing asked for).
    #[serde(default)]
    pub metric: String,
    /// Qualifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qualifier: Option<String>,
    /// Statistics (left out: no values, like a cell without a count; every field of a
    /// Genesys model is optional, and one metric must not fail the whole answer).
    #[serde(default)]
    pub stats: StatisticalSummary,
}

/// `StatisticalSummary` (no variance: the spec has none).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct StatisticalSummary {
    /// Largest value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Smallest value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Number of values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// Negative count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count_negative: Option<u64>,
    /// Positive count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count_positive: Option<u64>,
    /// Sum of values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sum: Option<f64>,
}

// ---------------------------------------------------------------------------------------
// Users and queues by id (§7)

/// `UserEntityListing` / `QueueEntityListing`, as far as the name lookup reads them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct NamedEntityListing {
    /// The users or queues.
    #[serde(default)]
    pub entities: Vec<NamedEntity>,
    /// Page size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_size: Option<u32>,
    /// 1-based page number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_number: Option<u32>,
    /// Entities matching.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// Pages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_count: Option<u32>,
}

/// `User` / `Queue`: the id, the name and the link.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct NamedEntity {
    /// Id.
    pub id: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// API link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_uri: Option<String>,
}

/// `TopicCursorEntityListing`: the topics an org offers to Process Automation triggers
/// (`GET /api/v2/processautomation/triggers/topics`), one cursor page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct TopicCursorEntityListing {
    /// Topic names, with `{id}` placeholders.
    #[serde(default)]
    pub entities: Vec<String>,
    /// The next page, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_uri: Option<String>,
    /// This page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_uri: Option<String>,
    /// The page before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_uri: Option<String>,
}

/// `AvailableTopicEntityListing` (`GET /api/v2/notifications/availabletopics`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct AvailableTopicEntityListing {
    /// The topics.
    #[serde(default)]
    pub entities: Vec<AvailableTopic>,
}

/// `AvailableTopic`, as far as `doctor` reads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct AvailableTopic {
    /// The topic name, with `{id}` placeholders.
    pub id: String,
    /// What it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `Public` or `Preview`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility: Option<String>,
    /// Transports that carry it (with `expand=transports`): the Java SDK enumerates `All`,
    /// `Websocket`, `EventBridge`; the Python SDK leaves it an open list of strings, so
    /// `doctor` compares ignoring case and punctuation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transports: Option<Vec<String>>,
    /// Permissions a subscriber needs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires_permissions: Option<Vec<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_conversation_that_does_not_decode_is_named_by_id_and_field_without_its_value() {
        let page: ConversationQueryResponse = serde_json::from_str(
            r#"{"conversations": [
                {"conversationId": "c-1", "conversationStart": "2026-05-01T10:00:00.000Z"},
                {"conversationId": "c-2", "conversationStart": "2026-05-01T11:00:00.000Z",
                 "participants": [{"participantName": 4155550123}]},
                {"conversationId": "c-3"}
            ]}"#,
        )
        .unwrap();
        let list = page.conversations.unwrap();
        let ids: Vec<&str> = list
            .items
            .iter()
            .map(|c| c.conversation_id.as_str())
            .collect();
        assert_eq!(ids, ["c-1", "c-3"]);
        assert_eq!(list.sent(), 3);
        assert_eq!(list.malformed.len(), 1);
        let said = &list.malformed[0];
        assert!(
            said.starts_with("c-2 at participants[0].participantName: invalid type, expected"),
            "{said}"
        );
        assert!(!said.contains("4155550123"), "{said}");
    }

    #[test]
    fn only_serdes_own_error_kinds_are_shown_and_never_a_value() {
        for (message, shown) in [
            (
                "invalid type: integer `4155550123`, expected a string at line 1 column 9",
                "invalid type, expected a string",
            ),
            (
                "invalid value: string \"a, expected b\", expected RFC 3339",
                "invalid value, expected RFC 3339",
            ),
            (
                "invalid length 3, expected a pair",
                "invalid length, expected a pair",
            ),
            (
                "unknown variant `Jane`, expected one of `a`, `b`",
                "unknown variant, expected one of `a`, `b`",
            ),
            (
                "missing field `conversationStart`",
                "missing field `conversationStart`",
            ),
            ("\"Jane, expected X\" is not start/end", "unreadable value"),
            ("bad 4155550123: x", "unreadable value"),
        ] {
            assert_eq!(shape_error(message), shown, "{message}");
        }
    }

    #[test]
    fn an_aggregate_metric_without_stats_or_a_session_metric_without_a_value_still_decodes() {
        let answer: TranscriptAggregateQueryResponse = serde_json::from_value(serde_json::json!({
            "results": [{"group": {"userId": "u1"}, "data": [{
                "interval": "2026-05-01T00:00:00.000Z/2026-05-02T00:00:00.000Z",
                "metrics": [
                    {"metric": "oSentimentScore"},
                    {"metric": "oCustomerSentiment", "stats": {"count": 3}}
                ]
            }]}]
        }))
        .unwrap();
        let metrics = &answer.results[0].data[0].metrics;
        assert_eq!(metrics[0].stats.count, None);
        assert_eq!(metrics[1].stats.count, Some(3));
        let session: AnalyticsSession = serde_json::from_value(serde_json::json!({
            "mediaType": "voice",
            "metrics": [{"name": "tTalk"}, {"emitDate": "2026-05-01T10:00:00.000Z"}]
        }))
        .unwrap();
        assert_eq!(session.metrics.len(), 2);
    }
}
