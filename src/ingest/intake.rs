//! Accepting an event: dedupe, normalize, append durably, then hand it on — a score to the
//! attributor (which releases it to the outbox once its agent is known), an attribution
//! event to the attributor, a conversation end to the enricher. Used by the webhook handler
//! and the enricher; knows nothing about HTTP.
//!
//! One score per conversation: webhook scores and scores fetched from STA share the dedupe
//! key `conv:{id}:sentiment` and the event id derived from it, so a conversation is
//! delivered once whichever way its score arrived.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use super::attribution::{Attributor, score_key};
use super::dedupe::Dedupe;
use super::enrich::EndEvent;
use super::parse::Incoming;
use crate::analytics::Normalizer;
use crate::analytics::normalize::NormalizeError;
use crate::domain::delivery::{Deliverable, Pending};
use crate::domain::events::{
    AttributionEvent, ConversationEnded, Entry, Seen, SentimentEvent, compact_id, event_id,
    key_digest,
};
use crate::domain::{QualityReading, RawSentiment};
use crate::journal::{Appended, Draft, Journal, JournalError};

/// What became of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Stored durably with this id.
    Accepted(String),
    /// Already stored (this id); nothing written.
    Duplicate(String),
    /// An identical event is being written right now; retry.
    InProgress,
    /// The enricher has as many conversations waiting as it keeps; nothing written, retry.
    Overloaded,
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
    attributor: Attributor,
    enrich: mpsc::Sender<EndEvent>,
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

/// What to do once a record is durable.
enum Then {
    Score(Box<Pending>),
    Learn(AttributionEvent),
    Enrich(ConversationEnded),
}

/// A score fetched from STA for a conversation-end event.
#[derive(Debug, Clone, Copy)]
pub struct FetchedScore {
    /// `sentimentScore` with its scale.
    pub score: RawSentiment,
    /// `sentimentTrend`, when given.
    pub trend: Option<f64>,
}

/// What became of a fetched score.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// Stored and handed on.
    Stored,
    /// The conversation already has a score (a webhook was faster); nothing written.
    Superseded,
}

impl Intake {
    /// Builds the intake.
    pub fn new(
        journal: Journal,
        dedupe: Arc<Dedupe>,
        normalizer: Arc<Normalizer>,
        attributor: Attributor,
        enrich: mpsc::Sender<EndEvent>,
    ) -> Intake {
        Intake {
            journal,
            dedupe,
            normalizer,
            attributor,
            enrich,
        }
    }

    /// Entries in the dedupe set.
    pub fn dedupe_len(&self) -> usize {
        self.dedupe.len()
    }

    /// Whether the conversation's score is already stored (in the dedupe window).
    pub fn has_score(&self, conversation_id: &str) -> bool {
        self.dedupe
            .stored(key_digest(&score_key(conversation_id)))
            .is_some()
    }

    /// Normalizes an event without storing it (`?validate=true`). Events without a score
    /// (conversation end, attribution) read as `None`.
    ///
    /// # Errors
    /// The reason the event is unusable.
    pub fn check(&self, incoming: &Incoming) -> Result<Option<QualityReading>, String> {
        match incoming {
            Incoming::Sentiment { raw, polarity, .. } => self
                .normalizer
                .read(*raw, *polarity)
                .map(Some)
                .map_err(|e| e.to_string()),
            Incoming::ConversationEnd { .. } | Incoming::Attribution { .. } => Ok(None),
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
        let (source, entry, keys, then) = match incoming {
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
                let reading = self.normalizer.read(raw, polarity).map_err(|e| {
                    IntakeError::Unusable(match e {
                        NormalizeError::OutOfRange { .. } => format!(
                            "{e} (the scale is genesys.sentiment_scale, or \
                             genesys.topic_sentiment_scale for topic notifications when set)"
                        ),
                        NormalizeError::NotFinite(_) => e.to_string(),
                    })
                })?;
                let keys = keys_for(
                    "sentiment",
                    &conversation_id,
                    webhook_id,
                    envelope_id.as_deref(),
                );
                let event = self.score_event(
                    keys.clone(),
                    conversation_id,
                    agent_id,
                    queue_id,
                    raw,
                    reading,
                    trend,
                    topic,
                    (occurred_at, now),
                );
                let then = Then::Score(Box::new(pending(
                    Deliverable::Sentiment(event.clone()),
                    now,
                )));
                (format.source(), Entry::WebhookReceived(event), keys, then)
            }
            Incoming::Attribution {
                format,
                conversation_id,
                agent_id,
                queue_id,
                source,
                topic,
                occurred_at,
                envelope_id,
            } => {
                // One per agent: on a transferred call each agent's event is heard, and
                // the attributor keeps the one that names the agent to coach.
                let kind = match &agent_id {
                    Some(agent) => format!("{}:{agent}", source.as_str()),
                    None => source.as_str().to_owned(),
                };
                let keys = keys_for(&kind, &conversation_id, webhook_id, envelope_id.as_deref());
                let event = AttributionEvent {
                    event_id: event_id(&keys[0]),
                    dedupe_keys: keys.clone(),
                    conversation_id,
                    agent_id,
                    queue_id,
                    source,
                    topic,
                    occurred_at: occurred_at.unwrap_or(now),
                };
                (
                    format.source(),
                    Entry::AttributionReceived(event.clone()),
                    keys,
                    Then::Learn(event),
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
                    Then::Enrich(event),
                )
            }
        };
        let id = event_id(&keys[0]);
        // Room for the enricher first: when it is full the sender retries later, rather
        // than an event being stored that nothing would act on until a restart.
        // Only an event that could need a fetch takes room: not one whose conversation
        // already has its score, and a full enricher does not turn a repeat (answered as a
        // duplicate below) into a 503.
        let conversation = match &then {
            Then::Score(_) => None,
            Then::Learn(e) => Some(&e.conversation_id),
            Then::Enrich(e) => Some(&e.conversation_id),
        };
        let room = match conversation {
            Some(c) if !self.has_score(c) => match self.enrich.try_reserve() {
                Ok(permit) => Some(permit),
                Err(mpsc::error::TrySendError::Full(())) => {
                    if !keys.iter().any(|k| self.dedupe.holds(key_digest(k), now)) {
                        return Ok(Outcome::Overloaded);
                    }
                    None
                }
                Err(mpsc::error::TrySendError::Closed(())) => None,
            },
            _ => None,
        };
        let appended = match self.store(&keys, &id, source, entry, now).await? {
            Ok(appended) => appended,
            Err(outcome) => return Ok(outcome),
        };
        match then {
            Then::Score(mut p) => {
                journaled(&mut p, &appended);
                // Not owned: left in the shared outbox for a replica with room.
                if appended.owned {
                    self.attributor.route(*p, now).await;
                }
            }
            Then::Learn(event) => {
                self.attributor.learn(&event, now).await;
                // It also ends the conversation: fetch the score if none arrives.
                if !self.has_score(&event.conversation_id)
                    && let Some(room) = room
                {
                    room.send((
                        now,
                        ConversationEnded {
                            event_id: event.event_id.clone(),
                            dedupe_keys: vec![],
                            conversation_id: event.conversation_id,
                            agent_id: event.agent_id,
                            queue_id: event.queue_id,
                            topic: event.topic,
                            occurred_at: event.occurred_at,
                        },
                    ));
                }
            }
            Then::Enrich(event) => {
                if !self.has_score(&event.conversation_id)
                    && let Some(room) = room
                {
                    room.send((now, event));
                }
            }
        }
        Ok(Outcome::Accepted(id))
    }

    /// Stores a score fetched from STA for `cause` (a conversation-end or attribution event),
    /// unless the conversation already has one.
    ///
    /// # Errors
    /// [`IntakeError::Unusable`] for a score outside its scale; [`IntakeError::Journal`].
    pub async fn accept_fetched(
        &self,
        cause: &ConversationEnded,
        fetched: FetchedScore,
    ) -> Result<Fetched, IntakeError> {
        let now = Utc::now();
        let reading = self
            .normalizer
            .read(fetched.score, None)
            .map_err(|e| IntakeError::Unusable(e.to_string()))?;
        let keys = vec![score_key(&cause.conversation_id)];
        let mut event = self.score_event(
            keys.clone(),
            cause.conversation_id.clone(),
            None,
            None,
            fetched.score,
            reading,
            fetched.trend,
            Some(cause.topic.clone()),
            (Some(cause.occurred_at), now),
        );
        event.cause_event_id = Some(cause.event_id.clone());
        let id = event.event_id.clone();
        let mut p = pending(Deliverable::Sentiment(event.clone()), now);
        match self
            .store(&keys, &id, "enricher", Entry::SentimentFetched(event), now)
            .await?
        {
            Ok(appended) => {
                journaled(&mut p, &appended);
                if appended.owned {
                    self.attributor.route(p, now).await;
                }
                Ok(Fetched::Stored)
            }
            Err(_) => Ok(Fetched::Superseded),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn score_event(
        &self,
        keys: Vec<String>,
        conversation_id: String,
        agent_id: Option<String>,
        queue_id: Option<String>,
        raw: RawSentiment,
        reading: QualityReading,
        trend: Option<f64>,
        topic: Option<String>,
        (source_time, received_at): (Option<DateTime<Utc>>, DateTime<Utc>),
    ) -> SentimentEvent {
        SentimentEvent {
            event_id: event_id(&keys[0]),
            // The first is the conversation's score key, which the record need not repeat.
            dedupe_keys: keys[1..].to_vec(),
            attribution: agent_id
                .is_some()
                .then_some(crate::domain::events::AttributionSource::Event),
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
            source_time,
            received_at,
        }
    }

    /// Reserves the keys, appends durably and settles the dedupe set. `Ok(Err(outcome))`
    /// when the event is a duplicate or in flight (nothing written).
    async fn store(
        &self,
        keys: &[String],
        id: &str,
        source: &str,
        entry: Entry,
        now: DateTime<Utc>,
    ) -> Result<Result<Appended, Outcome>, IntakeError> {
        let digests: Vec<u128> = keys.iter().map(|k| key_digest(k)).collect();
        if let Err(outcome) = self.dedupe.reserve(&digests, now) {
            return Ok(Err(outcome));
        }
        let result = self
            .journal
            .append(Draft {
                source: source.into(),
                outcome: "accepted".into(),
                entry,
            })
            .await;
        let stored = match &result {
            Ok(_) => Some(compact_id(id)),
            // Another replica stored it (the shared journal's dedupe keys said so).
            Err(JournalError::Duplicate(other)) => Some(compact_id(other)),
            Err(_) => None,
        };
        self.dedupe
            .settle(&digests, stored.map(|event| Seen { event, at: now }));
        match result {
            Ok(appended) => Ok(Ok(appended)),
            Err(JournalError::Duplicate(other)) => Ok(Err(Outcome::Duplicate(other))),
            Err(e) => Err(e.into()),
        }
    }
}

/// Notes on a pending delivery the record that made it owed: its sequence number, where it
/// lies, and its time (a score's time of receipt, as read back from the record).
fn journaled(p: &mut Pending, appended: &Appended) {
    p.seq = appended.seq;
    p.at = appended.at;
    if let Deliverable::Sentiment(e) = &mut p.event {
        e.received_at = appended.time;
    }
}

fn pending(event: Deliverable, since: DateTime<Utc>) -> Pending {
    Pending {
        event,
        attempts: 0,
        since,
        next_attempt: None,
        seq: 0,
        at: None,
        amended: false,
    }
}
