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

/// Shards of the dedupe set: each has its own lock, so a growing map (it holds every event
/// of the dedupe window) resizes one small shard at a time instead of stalling every request.
const SHARDS: usize = 32;

/// One shard: accepted events by key digest, plus reservations for writes in flight.
#[derive(Debug)]
struct Shard {
    slots: HashMap<u128, Slot>,
    window: TimeDelta,
    inserts_since_prune: u64,
}

impl Shard {
    fn check(&self, key: u128, now: DateTime<Utc>) -> Result<(), Outcome> {
        match self.slots.get(&key) {
            Some(Slot::Stored(seen)) if now - seen.at <= self.window => {
                Err(Outcome::Duplicate(seen.event_id()))
            }
            Some(Slot::Writing) => Err(Outcome::InProgress),
            _ => Ok(()),
        }
    }

    fn reserve(&mut self, key: u128, now: DateTime<Utc>) {
        self.slots.insert(key, Slot::Writing);
        self.inserts_since_prune += 1;
        if self.inserts_since_prune >= 50_000 / SHARDS as u64 {
            self.inserts_since_prune = 0;
            let window = self.window;
            self.slots.retain(|_, s| match s {
                Slot::Writing => true,
                Slot::Stored(seen) => now - seen.at <= window,
            });
        }
    }
}

/// The dedupe set, sharded by key digest.
#[derive(Debug)]
pub struct Dedupe {
    shards: Vec<Mutex<Shard>>,
}

fn shard_of(digest: u128) -> usize {
    (digest % SHARDS as u128) as usize
}

impl Dedupe {
    /// A set seeded from recovery.
    pub fn new(seen: HashMap<u128, Seen>, window: std::time::Duration) -> Dedupe {
        let window = TimeDelta::from_std(window).unwrap_or(TimeDelta::MAX);
        let mut shards: Vec<Shard> = (0..SHARDS)
            .map(|_| Shard {
                slots: HashMap::new(),
                window,
                inserts_since_prune: 0,
            })
            .collect();
        for (k, s) in seen {
            shards[shard_of(k)].slots.insert(k, Slot::Stored(s));
        }
        Dedupe {
            shards: shards.into_iter().map(Mutex::new).collect(),
        }
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().expect("dedupe shard").slots.len())
            .sum()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reserves every key of an event, or says why not (a duplicate, or one in flight).
    /// The shards involved are locked together, in index order, so two requests for the
    /// same event cannot both pass.
    fn reserve(&self, keys: &[u128], now: DateTime<Utc>) -> Result<(), Outcome> {
        let mut indexes: Vec<usize> = keys.iter().map(|k| shard_of(*k)).collect();
        indexes.sort_unstable();
        indexes.dedup();
        let mut guards: Vec<(usize, std::sync::MutexGuard<'_, Shard>)> = indexes
            .iter()
            .map(|i| (*i, self.shards[*i].lock().expect("dedupe shard")))
            .collect();
        let position = |key: u128| indexes.binary_search(&shard_of(key)).expect("locked above");
        for k in keys {
            guards[position(*k)].1.check(*k, now)?;
        }
        for k in keys {
            guards[position(*k)].1.reserve(*k, now);
        }
        Ok(())
    }

    /// Records the result of a reserved write: stored (with what) or not.
    fn settle(&self, keys: &[u128], stored: Option<Seen>) {
        for k in keys {
            let mut shard = self.shards[shard_of(*k)].lock().expect("dedupe shard");
            match stored {
                Some(seen) => {
                    shard.slots.insert(*k, Slot::Stored(seen));
                }
                None => {
                    shard.slots.remove(k);
                }
            }
        }
    }
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
