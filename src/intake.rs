//! Accepting an event: dedupe, normalize, append durably, then hand it on (to the
//! forwarder, or to the enricher for conversation-end events). Shared by the webhook
//! handler; knows nothing about HTTP.
//!
//! A repeat of an accepted event — same `webhook-id` (or EventBridge id), or same
//! conversation and event kind — within the dedupe window is answered as a duplicate and
//! writes nothing. An identical event still being written is answered "in progress" (the
//! sender retries), never "duplicate", so nothing is acknowledged that might not be stored.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::mpsc;

use crate::analytics::Normalizer;
use crate::http::webhook::parse::Incoming;
use crate::jobs::forwarder::DeliveryQueue;
use crate::journal::record::{ConversationEnded, Draft, Entry, SentimentEvent, event_id};
use crate::journal::state::{Deliverable, Pending, Seen, compact_id, key_digest};
use crate::journal::{Journal, JournalError};

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
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IntakeError {
    /// Valid JSON, unusable content (a score outside its scale, NaN…): 422.
    #[error("{0}")]
    Unusable(String),
    /// The journal could not store it: 503, the sender should retry.
    #[error(transparent)]
    Journal(#[from] JournalError),
}

#[derive(Debug, Clone, Copy)]
enum Slot {
    Writing,
    Stored(Seen),
}

/// The dedupe set: accepted events by key digest, plus reservations for writes in flight.
#[derive(Debug)]
pub struct Dedupe {
    slots: HashMap<u128, Slot>,
    window: TimeDelta,
    inserts_since_prune: u64,
}

impl Dedupe {
    /// A set seeded from recovery.
    pub fn new(seen: HashMap<u128, Seen>, window: std::time::Duration) -> Dedupe {
        Dedupe {
            slots: seen
                .into_iter()
                .map(|(k, s)| (k, Slot::Stored(s)))
                .collect(),
            window: TimeDelta::from_std(window).unwrap_or(TimeDelta::MAX),
            inserts_since_prune: 0,
        }
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    fn check_and_reserve(&mut self, keys: &[u128], now: DateTime<Utc>) -> Result<(), Outcome> {
        for k in keys {
            match self.slots.get(k) {
                Some(Slot::Stored(seen)) if now - seen.at <= self.window => {
                    return Err(Outcome::Duplicate(seen.event_id()));
                }
                Some(Slot::Writing) => return Err(Outcome::InProgress),
                _ => {}
            }
        }
        for k in keys {
            self.slots.insert(*k, Slot::Writing);
        }
        self.inserts_since_prune += 1;
        if self.inserts_since_prune >= 50_000 {
            self.inserts_since_prune = 0;
            let window = self.window;
            self.slots.retain(|_, s| match s {
                Slot::Writing => true,
                Slot::Stored(seen) => now - seen.at <= window,
            });
        }
        Ok(())
    }

    fn settle(&mut self, keys: &[u128], stored: Option<Seen>) {
        for k in keys {
            match stored {
                Some(seen) => {
                    self.slots.insert(*k, Slot::Stored(seen));
                }
                None => {
                    self.slots.remove(k);
                }
            }
        }
    }
}

/// The intake service. Cheap to clone.
#[derive(Clone)]
pub struct Intake {
    journal: Journal,
    dedupe: Arc<Mutex<Dedupe>>,
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
            dedupe: Arc::new(Mutex::new(dedupe)),
            normalizer,
            deliveries,
            enrich,
        }
    }

    /// Entries in the dedupe set.
    pub fn dedupe_len(&self) -> usize {
        self.dedupe.lock().expect("dedupe lock").len()
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
                let deliverable = Deliverable::Sentiment(event.clone());
                (
                    format.source(),
                    Entry::WebhookReceived(event),
                    keys,
                    Some(deliverable),
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
        if let Err(outcome) = self
            .dedupe
            .lock()
            .expect("dedupe lock")
            .check_and_reserve(&digests, now)
        {
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
        self.dedupe
            .lock()
            .expect("dedupe lock")
            .settle(&digests, stored);
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
