//! The event vocabulary: what the daemon decides and records (a webhook's score accepted, a
//! score fetched, a delivery made or failed, a batch run, a coaching recommendation), the
//! stable event ids those decisions carry, and the compact forms the dedupe set keeps.
//! The journal stores these; it does not define them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{BatchSource, Polarity, ScoreScale};

/// An accepted sentiment insight: a webhook's score, or one fetched from STA. Carries what
/// an auditor asks (NIST AU-3): what, when, where from, about whom, and the numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentimentEvent {
    /// Stable id: the `webhook-id` of every delivery, on every retry and replay.
    pub event_id: String,
    /// Keys a repeat of this event would match beyond its conversation's score key
    /// `conv:{conversation_id}:sentiment` (which every score has, see
    /// [`SentimentEvent::keys`]): the webhook id, the EventBridge id. Left out of the record
    /// when there are none (records from before this listed the score key too).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
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
    /// When it happened according to the source; `None` when the source gave no time (then
    /// [`SentimentEvent::occurred_at`] is when it was received). Stored as `occurred_at`,
    /// left out of the record when `None`: the record's own `time` says when it was received.
    #[serde(
        default,
        rename = "occurred_at",
        skip_serializing_if = "Option::is_none"
    )]
    pub source_time: Option<DateTime<Utc>>,
    /// When it was received: the time of its record (not stored in the entry; the reader
    /// restores it from the record, see [`Entry::restore_received`]).
    #[serde(skip)]
    pub received_at: DateTime<Utc>,
    /// Where `agent_id` came from; `None` while the daemon is still finding out (the
    /// delivery waits for an [`Attributed`] record, at most `webhook.attribution_max_wait`).
    /// `event` is left out of the record: a record naming an agent without a source named
    /// it itself (the reader restores it).
    #[serde(default, skip_serializing_if = "named_by_the_event")]
    pub attribution: Option<AttributionSource>,
}

fn named_by_the_event(a: &Option<AttributionSource>) -> bool {
    matches!(a, None | Some(AttributionSource::Event))
}

impl SentimentEvent {
    /// When it happened: according to the source, else when it was received.
    pub fn occurred_at(&self) -> DateTime<Utc> {
        self.source_time.unwrap_or(self.received_at)
    }

    /// Every dedupe key of the event: its conversation's score key, then the others.
    pub fn keys(&self) -> Vec<String> {
        let score = format!("conv:{}:sentiment", self.conversation_id);
        let others = self.dedupe_keys.iter().filter(|k| **k != score).cloned();
        std::iter::once(score.clone()).chain(others).collect()
    }

    /// Applies an attribution decision: the agent it names (or none, for `unknown`, unless
    /// the event already had one), its queue when it names one (the queue of the credited
    /// agent's work, as the store and the batch take it), and the source.
    pub fn attribute(&mut self, decision: &Attributed) {
        if decision.agent_id.is_some() || self.agent_id.is_none() {
            self.agent_id.clone_from(&decision.agent_id);
        }
        if decision.queue_id.is_some() {
            self.queue_id.clone_from(&decision.queue_id);
        }
        self.attribution = Some(decision.attribution);
    }
}

/// Where a real-time score's agent (and queue) came from, in the order they are tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttributionSource {
    /// The event named the agent itself (the original form, or a body with `userId`).
    Event,
    /// A `v2.detail.events.conversation.{id}.acw` event of the same conversation.
    Acw,
    /// A `v2.detail.events.conversation.{id}.user.end` event of the same conversation.
    UserEnd,
    /// `GET /api/v2/analytics/conversations/{id}/details`: the agent participant.
    Details,
    /// Nothing named the agent within `webhook.attribution_max_wait`.
    Unknown,
}

impl AttributionSource {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            AttributionSource::Event => "event",
            AttributionSource::Acw => "acw",
            AttributionSource::UserEnd => "user_end",
            AttributionSource::Details => "details",
            AttributionSource::Unknown => "unknown",
        }
    }
}

/// An accepted `.acw` or `.user.end` event: it names the agent (`userId`) and queue of a
/// conversation. It attributes that conversation's score, and, when no score has arrived,
/// it also ends the conversation (the score is fetched from STA).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttributionEvent {
    /// Stable id.
    pub event_id: String,
    /// Dedupe keys (`conv:{id}:acw:{userId}` or `conv:{id}:user_end:{userId}`, webhook id,
    /// envelope id): one per agent, so each agent of a transferred call is heard.
    pub dedupe_keys: Vec<String>,
    /// The conversation.
    pub conversation_id: String,
    /// The agent (`userId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// The queue (`queueId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_id: Option<String>,
    /// `acw` or `user_end`.
    pub source: AttributionSource,
    /// The notification topic.
    pub topic: String,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
}

impl AttributionEvent {
    /// Which of two attribution events of a conversation names the agent to coach: an
    /// `.acw` (the agent wrapped up) over a `.user.end` (a leg ended), then the later event
    /// time, so on a transferred call the last agent is credited, as the batch credits the
    /// last agent participant of the conversation's details. Compare with `>=`: of two
    /// alike, the one heard last wins.
    pub fn precedence(
        source: AttributionSource,
        occurred_at: DateTime<Utc>,
    ) -> (bool, DateTime<Utc>) {
        (source == AttributionSource::Acw, occurred_at)
    }

    /// [`AttributionEvent::precedence`] of this event.
    pub fn rank(&self) -> (bool, DateTime<Utc>) {
        Self::precedence(self.source, self.occurred_at)
    }
}

/// An attribution decision for a score: which agent and queue its delivery carries, and
/// why. `late` marks a link learned after the score was already delivered (reports use it;
/// the delivery is not sent again).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attributed {
    /// The score's event id.
    pub event_id: String,
    /// The conversation.
    pub conversation_id: String,
    /// The agent, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// The queue, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_id: Option<String>,
    /// Where the agent came from.
    pub attribution: AttributionSource,
    /// The attribution event it came from (`acw` / `user_end`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause_event_id: Option<String>,
    /// Learned after the delivery was made.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub late: bool,
    /// Why the agent is unknown (a failed lookup), when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
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

/// Deliveries the coaching platform accepted, acknowledged in one record (the forwarder
/// gathers those that complete together): `[event_id, attempt, status]` each.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveredBatch {
    /// The deliveries.
    pub deliveries: Vec<Acked>,
}

/// One delivery in a [`DeliveredBatch`]: the event id, the attempt that succeeded, and the
/// HTTP status it got (a JSON array of three).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acked(pub String, pub u32, pub u16);

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
    /// Where the run read sentiment from.
    pub data_source: BatchSource,
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

/// A checkpoint: the state a restart would rebuild from every record before it — deliveries
/// owed and dead-lettered, conversations waiting for an STA score, the dedupe keys still
/// inside their window, attribution events waiting for their score, the coaching alerts
/// already issued, and the latest batch runs. Start-up reads the newest checkpoint and the
/// records after it; segments before it can be archived.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Records the state covers (every record before this one).
    pub records: u64,
    /// Deliveries completed so far.
    pub delivered: u64,
    /// Deliveries owed (their content in the journal, or held when it is not).
    pub pending: Vec<crate::domain::delivery::Owed>,
    /// Dead letters.
    pub dead_letters: Vec<crate::domain::delivery::DeadLetter>,
    /// Conversation-end events waiting for their score, with when each was accepted.
    pub enrichment: Vec<(DateTime<Utc>, ConversationEnded)>,
    /// Attribution events waiting for their conversation's score.
    pub attributions: Vec<(DateTime<Utc>, AttributionEvent)>,
    /// Dedupe keys inside the window: (key digest as 32 hex digits, event id, accepted at).
    pub dedupe: Vec<(String, String, DateTime<Utc>)>,
    /// Coaching recommendation ids already issued, with when.
    pub recommendations: Vec<(String, DateTime<Utc>)>,
    /// The latest recommendation per agent (the cool-down).
    pub last_recommendation: Vec<(String, DateTime<Utc>)>,
    /// The latest batch runs: (when, outcome, run).
    pub batch_runs: Vec<(DateTime<Utc>, String, BatchRun)>,
}

/// What a record says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Entry {
    /// A webhook with a score was accepted.
    WebhookReceived(SentimentEvent),
    /// A conversation-end webhook was accepted; the score will be fetched.
    ConversationEndReceived(ConversationEnded),
    /// An `.acw` / `.user.end` webhook was accepted: it names a conversation's agent.
    AttributionReceived(AttributionEvent),
    /// A score's agent was decided (or learned late).
    Attributed(Attributed),
    /// A score was fetched from STA for a conversation-end event.
    SentimentFetched(SentimentEvent),
    /// No score could be fetched for a conversation-end event.
    EnrichmentFailed(EnrichmentFailed),
    /// A coaching recommendation was issued.
    CoachingRecommendation(Recommendation),
    /// The coaching platform accepted a delivery.
    Delivered(DeliveryOutcome),
    /// The coaching platform accepted several deliveries (written instead of `delivered`).
    DeliveredBatch(DeliveredBatch),
    /// A delivery attempt failed and will be retried.
    DeliveryFailed(DeliveryOutcome),
    /// An event will not be delivered without a replay.
    DeadLettered(DeliveryOutcome),
    /// A dead-lettered event was put back in the queue.
    ReplayRequested(ReplayRequest),
    /// A scheduled batch ran.
    BatchRun(BatchRun),
    /// Everything needed to resume from here without reading the records before it.
    Checkpoint(Box<Checkpoint>),
    /// Start-up recovery removed a torn tail.
    JournalRecovered(Recovered),
}

impl Entry {
    /// The record's `type`.
    pub fn kind(&self) -> &'static str {
        match self {
            Entry::WebhookReceived(_) => "webhook_received",
            Entry::ConversationEndReceived(_) => "conversation_end_received",
            Entry::AttributionReceived(_) => "attribution_received",
            Entry::Attributed(_) => "attributed",
            Entry::SentimentFetched(_) => "sentiment_fetched",
            Entry::EnrichmentFailed(_) => "enrichment_failed",
            Entry::CoachingRecommendation(_) => "coaching_recommendation",
            Entry::Delivered(_) => "delivered",
            Entry::DeliveredBatch(_) => "delivered_batch",
            Entry::DeliveryFailed(_) => "delivery_failed",
            Entry::DeadLettered(_) => "dead_lettered",
            Entry::ReplayRequested(_) => "replay_requested",
            Entry::BatchRun(_) => "batch_run",
            Entry::Checkpoint(_) => "checkpoint",
            Entry::JournalRecovered(_) => "journal_recovered",
        }
    }

    /// Restores what a record read back leaves to its `time`: when a score was received.
    pub fn restore_received(&mut self, time: DateTime<Utc>) {
        if let Entry::WebhookReceived(e) | Entry::SentimentFetched(e) = self {
            e.received_at = time;
        }
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

/// A 128-bit digest of a dedupe key (collision-safe at this size, and small in memory).
pub fn key_digest(key: &str) -> u128 {
    let d = Sha256::digest(key.as_bytes());
    u128::from_be_bytes(d[..16].try_into().expect("16 bytes"))
}

/// An accepted event in the dedupe set (32 bytes: ids are kept as their 96 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    /// Its event id, compacted (see [`compact_id`]).
    pub event: u128,
    /// When it was accepted.
    pub at: DateTime<Utc>,
}

/// For a dedupe set over its bound: the time at or before which the `forget` oldest of
/// `times` lie, so that keeping only the keys stored later forgets at least `forget` (keys
/// stored at the same instant go together). `None` when there is nothing to forget.
pub fn forget_up_to(mut times: Vec<DateTime<Utc>>, forget: usize) -> Option<DateTime<Utc>> {
    let forget = forget.min(times.len());
    if forget == 0 {
        return None;
    }
    let (_, cutoff, _) = times.select_nth_unstable(forget - 1);
    Some(*cutoff)
}

impl Seen {
    /// The event id as text.
    pub fn event_id(&self) -> String {
        expand_id(self.event)
    }
}

/// `evt_<24 hex>` → its bits (ids from [`event_id`] always have this form;
/// anything else maps to 0).
pub fn compact_id(id: &str) -> u128 {
    id.strip_prefix("evt_")
        .and_then(|h| u128::from_str_radix(h, 16).ok())
        .unwrap_or(0)
}

/// The inverse of [`compact_id`].
pub fn expand_id(bits: u128) -> String {
    format!("evt_{bits:024x}")
}
