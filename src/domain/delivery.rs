//! What is owed to the coaching platform: the deliverable events, a pending delivery and a
//! dead letter. Shared by recovery (which rebuilds them), the intake and batch (which add
//! them) and the outbox (which sends them).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::events::{DeliveryOutcome, Recommendation, SentimentEvent};

/// An event owed to the coaching platform.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "event", rename_all = "snake_case")]
pub enum Deliverable {
    /// A sentiment insight.
    Sentiment(SentimentEvent),
    /// A coaching recommendation.
    Recommendation(Recommendation),
}

impl Deliverable {
    /// The stable event id (the delivery's `webhook-id`).
    pub fn event_id(&self) -> &str {
        match self {
            Deliverable::Sentiment(e) => &e.event_id,
            Deliverable::Recommendation(r) => &r.event_id,
        }
    }
}

/// A delivery still owed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    /// What to deliver.
    pub event: Deliverable,
    /// Failed attempts so far.
    pub attempts: u32,
    /// When it was accepted (or replayed): the age bound counts from here.
    pub since: DateTime<Utc>,
    /// When the next attempt is due, if a failure scheduled one.
    pub next_attempt: Option<DateTime<Utc>>,
    /// Sequence number of the record that made it owed (delivery order).
    pub seq: u64,
}

/// A dead-lettered event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// What could not be delivered.
    pub event: Deliverable,
    /// The last attempt's outcome.
    pub outcome: DeliveryOutcome,
}
