//! Accepting an event: dedupe, normalize, append durably, then hand it on (to the
//! forwarder, or to the enricher for conversation-end events). Used by the webhook
//! handler; knows nothing about HTTP.

use std::sync::Arc;

use chrono::Utc;
use tokio::sync::mpsc;

use super::dedupe::Dedupe;
use super::parse::Incoming;
use crate::analytics::Normalizer;
use crate::domain::delivery::{Deliverable, Pending};
use crate::domain::events::{
    ConversationEnded, Entry, Seen, SentimentEvent, compact_id, event_id, key_digest,
};
use crate::journal::{Draft, Journal, JournalError};
use crate::outbox::DeliveryQueue;

/// What became of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Stored durably with this id.
    Accepted(String),
    /// Already stored (this id); nothing written.
    Duplicate(String),
    /// An identical event is being written right now; retry.
    InProgress,
}

/// Why an event could not be accepted.
#[derive(Debug, Clone, thiserror::Error)]
pub enum IntakeError {
    /// Valid JSON, unusable content (a score outside its scale, NaN…): 422.
    #[error("{0}")]
    Unusable(String),
    /// The journal could not store it: 503, the sender should retry.
    #[error(transparent)]
    Journal(#[from] JournalError),
}

/// The intake service. Cheap to clone.
#[derive(Clone)]
pub struct Intake {
    journal: Journal,
    dedupe: Arc<Dedupe>,
    normalizer: Arc<Normalizer>,
    deliveries: DeliveryQueue,
    enrich: mpsc::UnboundedSender<ConversationEnded>,
}

impl std::fmt::Debug for Intake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Intake").finish_non_exhaustive()
    }
}

fn keys_for(
    kind: &str,
    conversation_id: &str,
    webhook_id: Option<&str>,
    envelope_id: Option<&str>,
) -> Vec<String> {
    let mut keys = vec![format!("conv:{conversation_id}:{kind}")];
    if let Some(id) = webhook_id {
        keys.push(format!("whid:{id}"));
    }
    if let Some(id) = envelope_id {
        keys.push(format!("ebid:{id}"));
    }
    keys
}

impl Intake {
    /// Builds the intake.
    pub fn new(
        journal: Journal,
        dedupe: Dedupe,
        normalizer: Arc<Normalizer>,
        deliveries: DeliveryQueue,
        enrich: mpsc::UnboundedSender<ConversationEnded>,
    ) -> Intake {
        Intake {
            journal,
            dedupe: Arc::new(dedupe),
            normalizer,
            deliveries,
            enrich,
        }
    }

    /// Entries in the dedupe set.
    pub fn dedupe_len(&self) -> usize {
        self.dedupe.len()
    }

    /// Normalizes an event without storing it (`?validate=true`). Conversation-end events
    /// carry no score: they read as `None`.
    ///
    /// # Errors
    /// The reason the event is unusable.
    pub fn check(
        &self,
        incoming: &Incoming,
    ) -> Result<Option<crate::domain::QualityReading>, String> {
        match incoming {
            Incoming::Sentiment { raw, polarity, .. } => self
                .normalizer
                .read(*raw, *polarity)
                .map(Some)
                .map_err(|e| e.to_string()),
            Incoming::ConversationEnd { .. } => Ok(None),
        }
    }

    /// Accepts one parsed event. `webhook_id` is the Standard Webhooks `webhook-id`, if sent.
    ///
    /// # Errors
    /// [`IntakeError::Unusable`] (422) or [`IntakeError::Journal`] (503).
    pub async fn accept(
        &self,
        incoming: Incoming,
        webhook_id: Option<&str>,
    ) -> Result<Outcome, IntakeError> {
        let now = Utc::now();
        let (source, entry, keys, deliverable, ended) = match incoming {
            Incoming::Sentiment {
                format,
                conversation_id,
                agent_id,
                queue_id,
                raw,
                polarity,
                trend,
                topic,
                occurred_at,
                envelope_id,
            } => {
                let reading = self
                    .normalizer
                    .read(raw, polarity)
                    .map_err(|e| IntakeError::Unusable(e.to_string()))?;
                let keys = keys_for(
                    "sentiment",
                    &conversation_id,
                    webhook_id,
                    envelope_id.as_deref(),
                );
                let event = SentimentEvent {
                    event_id: event_id(&keys[0]),
                    dedupe_keys: keys.clone(),
                    conversation_id,
                    agent_id,
                    queue_id,
                    raw_score: raw.value,
                    scale: raw.scale,
                    quality_score: reading.quality_score,
                    polarity: reading.polarity,
                    action_required: reading.action_required,
                    normalization_version: self.normalizer.version().to_owned(),
                    trend_score: trend,
                    topic,
                    cause_event_id: None,
                    occurred_at: occurred_at.unwrap_or(now),
                };
                let deliverable = Some(Deliverable::Sentiment(event.clone()));
                (
                    format.source(),
                    Entry::WebhookReceived(event),
                    keys,
                    deliverable,
                    None,
                )
            }
            Incoming::ConversationEnd {
                format,
                conversation_id,
                agent_id,
                queue_id,
                topic,
                occurred_at,
                envelope_id,
            } => {
                let keys = keys_for(
                    "conversation_end",
                    &conversation_id,
                    webhook_id,
                    envelope_id.as_deref(),
                );
                let event = ConversationEnded {
                    event_id: event_id(&keys[0]),
                    dedupe_keys: keys.clone(),
                    conversation_id,
                    agent_id,
                    queue_id,
                    topic,
                    occurred_at: occurred_at.unwrap_or(now),
                };
                (
                    format.source(),
                    Entry::ConversationEndReceived(event.clone()),
                    keys,
                    None,
                    Some(event),
                )
            }
        };
        let digests: Vec<u128> = keys.iter().map(|k| key_digest(k)).collect();
        if let Err(outcome) = self.dedupe.reserve(&digests, now) {
            return Ok(outcome);
        }
        let id = event_id(&keys[0]);
        let result = self
            .journal
            .append(Draft {
                source: source.into(),
                outcome: "accepted".into(),
                entry,
            })
            .await;
        let stored = result.as_ref().ok().map(|_| Seen {
            event: compact_id(&id),
            at: now,
        });
        self.dedupe.settle(&digests, stored);
        let appended = result?;
        if let Some(event) = deliverable {
            self.deliveries.push(Pending {
                event,
                attempts: 0,
                since: now,
                next_attempt: None,
                seq: appended.seq,
            });
        }
        if let Some(event) = ended {
            let _ = self.enrich.send(event);
        }
        Ok(Outcome::Accepted(id))
    }
}
