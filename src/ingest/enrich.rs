//! Conversation-end events carry no score: the enricher fetches it from STA through the
//! shared Genesys client. STA computes sentiment after transcription (docs/genesys-api.md §4.1), so a
//! "not analysed" answer is retried with growing waits — from `webhook.sta_retry_delay`,
//! doubling — until `webhook.sta_max_wait` after the event; then `enrichment_failed` is
//! journaled. A fetched score becomes a `sentiment_fetched` record and is forwarded.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::analytics::Normalizer;
use crate::config::WebhookSettings;
use crate::domain::delivery::{Deliverable, Pending};
use crate::domain::events::{ConversationEnded, EnrichmentFailed, Entry, SentimentEvent, event_id};
use crate::genesys::GenesysClient;
use crate::genesys::sta::StaOutcome;
use crate::journal::Journal;
use crate::outbox::DeliveryQueue;

/// Fetches scores at most this many at a time.
const CONCURRENCY: usize = 16;

/// The enricher.
pub struct Enricher {
    /// Genesys client (shared budget).
    pub client: GenesysClient,
    /// Journal.
    pub journal: Journal,
    /// Normalization.
    pub normalizer: Arc<Normalizer>,
    /// Forwarder queue.
    pub deliveries: DeliveryQueue,
    /// Timing.
    pub settings: WebhookSettings,
}

impl Enricher {
    /// Processes `recovered` events and everything arriving on `rx` until `cancel` fires.
    /// Unfinished events stay owed in the journal and resume after restart.
    pub async fn run(
        self,
        recovered: Vec<ConversationEnded>,
        mut rx: mpsc::UnboundedReceiver<ConversationEnded>,
        cancel: CancellationToken,
    ) {
        let this = Arc::new(self);
        let limit = Arc::new(Semaphore::new(CONCURRENCY));
        let tasks = TaskTracker::new();
        let mut backlog = recovered.into_iter();
        loop {
            let next = match backlog.next() {
                Some(e) => Some(e),
                None => tokio::select! {
                    _ = cancel.cancelled() => None,
                    e = rx.recv() => e,
                },
            };
            let Some(event) = next else { break };
            let permit = tokio::select! {
                _ = cancel.cancelled() => break,
                p = limit.clone().acquire_owned() => p,
            };
            let Ok(permit) = permit else { break };
            let this = this.clone();
            let cancel = cancel.clone();
            tasks.spawn(async move {
                tokio::select! {
                    _ = cancel.cancelled() => {}
                    () = this.enrich(event) => {}
                }
                drop(permit);
            });
        }
        tasks.close();
        tasks.wait().await;
    }

    async fn enrich(&self, event: ConversationEnded) {
        let started = event.occurred_at;
        let max_wait = chrono::TimeDelta::from_std(self.settings.sta_max_wait.get())
            .unwrap_or(chrono::TimeDelta::MAX);
        let mut delay = self.settings.sta_retry_delay.get();
        let mut due = started + chrono::TimeDelta::from_std(delay).unwrap_or_default();
        loop {
            let wait = (due - Utc::now()).to_std().unwrap_or(Duration::ZERO);
            tokio::time::sleep(wait).await;
            let reason = match self
                .client
                .conversation_sentiment(&event.conversation_id)
                .await
            {
                Ok(StaOutcome::Analysed(sentiment)) => {
                    self.record_score(&event, &sentiment).await;
                    return;
                }
                Ok(StaOutcome::NotAnalysed) => "not analysed by Speech & Text Analytics".to_owned(),
                Err(e) if !e.is_retryable() => {
                    self.record_failure(&event, format!("Genesys refused: {e}"))
                        .await;
                    return;
                }
                Err(e) => format!("Genesys unavailable: {e}"),
            };
            delay = delay.saturating_mul(2);
            due = Utc::now() + chrono::TimeDelta::from_std(delay).unwrap_or_default();
            if due - started > max_wait {
                let why = format!("{reason} within {:?}", self.settings.sta_max_wait.get());
                self.record_failure(&event, why).await;
                return;
            }
            tracing::debug!(conversation_id = %event.conversation_id, retry_in = ?delay, %reason, "STA score not ready.");
        }
    }

    async fn record_score(
        &self,
        event: &ConversationEnded,
        s: &crate::genesys::sta::ConversationSentiment,
    ) {
        let reading = match self.normalizer.read(s.score, None) {
            Ok(r) => r,
            Err(e) => {
                self.record_failure(event, format!("unusable STA score: {e}"))
                    .await;
                return;
            }
        };
        let fetched = SentimentEvent {
            event_id: event_id(&format!("fetched:{}", event.event_id)),
            dedupe_keys: vec![],
            conversation_id: event.conversation_id.clone(),
            agent_id: event.agent_id.clone(),
            queue_id: event.queue_id.clone(),
            raw_score: s.score.value,
            scale: s.score.scale,
            quality_score: reading.quality_score,
            polarity: reading.polarity,
            action_required: reading.action_required,
            normalization_version: self.normalizer.version().to_owned(),
            trend_score: s.trend.map(|t| t.value),
            topic: Some(event.topic.clone()),
            cause_event_id: Some(event.event_id.clone()),
            occurred_at: event.occurred_at,
        };
        match self
            .journal
            .record(
                "enricher",
                "fetched",
                Entry::SentimentFetched(fetched.clone()),
            )
            .await
        {
            Ok(appended) => self.deliveries.push(Pending {
                event: Deliverable::Sentiment(fetched),
                attempts: 0,
                since: Utc::now(),
                next_attempt: None,
                seq: appended.seq,
            }),
            Err(e) => {
                tracing::error!(error = %e, conversation_id = %event.conversation_id, "Cannot journal a fetched score; it will be fetched again after restart.");
            }
        }
    }

    async fn record_failure(&self, event: &ConversationEnded, reason: String) {
        tracing::warn!(conversation_id = %event.conversation_id, %reason, "No STA score for a conversation-end event.");
        let entry = Entry::EnrichmentFailed(EnrichmentFailed {
            event_id: event.event_id.clone(),
            conversation_id: event.conversation_id.clone(),
            reason,
        });
        if let Err(e) = self.journal.record("enricher", "failed", entry).await {
            tracing::error!(error = %e, "Cannot journal an enrichment failure.");
        }
    }
}
