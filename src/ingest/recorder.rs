//! Real-time scores into the conversation store, off the webhook's path: the attributor
//! hands each delivered score (and each late attribution) to a bounded queue, and one task
//! writes them in batches. The store is a cache of what the journal already holds durably,
//! so a full queue drops a write with a count (the batch then asks STA for that score)
//! rather than slow the intake down.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::domain::RawSentiment;
use crate::domain::events::{AttributionSource, SentimentEvent};
use crate::store::{ScoreSource, Scored, Store};
use crate::telemetry::metrics::Metrics;

/// Writes waiting at most.
const QUEUE: usize = 10_000;
/// Writes per batch.
const BATCH: usize = 500;

/// One write.
#[derive(Debug)]
enum Write {
    Score(String, Scored),
    Attribute {
        conversation_id: String,
        agent_id: Option<String>,
        queue_id: Option<String>,
        attribution: AttributionSource,
    },
}

/// The handle the attributor writes through. Cheap to clone; `None` inside: no store.
#[derive(Debug, Clone)]
pub struct ScoreRecorder {
    tx: Option<mpsc::Sender<Write>>,
    metrics: Metrics,
}

impl ScoreRecorder {
    /// A recorder that writes nothing (tests, tools without a store).
    pub fn none(metrics: Metrics) -> ScoreRecorder {
        ScoreRecorder { tx: None, metrics }
    }

    /// A recorder writing to `store` from a task that ends when `cancel` fires (after
    /// writing what is queued).
    pub fn spawn(
        store: Store,
        metrics: Metrics,
        cancel: CancellationToken,
        tracker: &tokio_util::task::TaskTracker,
    ) -> ScoreRecorder {
        let (tx, rx) = mpsc::channel(QUEUE);
        tracker.spawn(run(store, rx, cancel));
        ScoreRecorder {
            tx: Some(tx),
            metrics,
        }
    }

    /// Queues a delivered real-time score.
    pub fn score(&self, event: &SentimentEvent) {
        let source = if event.cause_event_id.is_some() {
            // Fetched from STA for a conversation-end event.
            ScoreSource::Sta
        } else {
            ScoreSource::Webhook
        };
        let scored = Scored {
            raw: RawSentiment {
                value: event.raw_score,
                scale: event.scale,
            },
            quality_score: event.quality_score,
            normalization_version: event.normalization_version.clone(),
            trend: event.trend_score,
            trend_class: None,
            source,
            agent_id: event.agent_id.clone(),
            queue_id: event.queue_id.clone(),
            attribution: event.attribution,
        };
        self.send(Write::Score(event.conversation_id.clone(), scored));
    }

    /// Queues a late attribution of an already stored score.
    pub fn attribute(
        &self,
        conversation_id: &str,
        agent_id: Option<&str>,
        queue_id: Option<&str>,
        attribution: AttributionSource,
    ) {
        self.send(Write::Attribute {
            conversation_id: conversation_id.to_owned(),
            agent_id: agent_id.map(str::to_owned),
            queue_id: queue_id.map(str::to_owned),
            attribution,
        });
    }

    fn send(&self, write: Write) {
        let Some(tx) = &self.tx else { return };
        if tx.try_send(write).is_err() {
            self.metrics.store_writes_dropped.inc();
        }
    }
}

async fn run(store: Store, mut rx: mpsc::Receiver<Write>, cancel: CancellationToken) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let first = tokio::select! {
            _ = cancel.cancelled() => None,
            w = rx.recv() => w,
        };
        let Some(first) = first else { break };
        batch.push(first);
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(w) => batch.push(w),
                Err(_) => break,
            }
        }
        write(&store, &mut batch).await;
    }
    // Drain what is queued (the channel is still open: take what is there now).
    while let Ok(w) = rx.try_recv() {
        batch.push(w);
        if batch.len() >= BATCH {
            write(&store, &mut batch).await;
        }
    }
    write(&store, &mut batch).await;
}

async fn write(store: &Store, batch: &mut Vec<Write>) {
    let mut scores = Vec::new();
    let mut late = Vec::new();
    for w in batch.drain(..) {
        match w {
            Write::Score(id, scored) => scores.push((id, scored)),
            other => late.push(other),
        }
    }
    if let Err(e) = store.record_scores(&scores).await {
        tracing::warn!(error = %e, scores = scores.len(), "Cannot store real-time scores; the batch will fetch them from STA.");
    }
    for w in late {
        let result = match &w {
            Write::Score(..) => Ok(()),
            Write::Attribute {
                conversation_id,
                agent_id,
                queue_id,
                attribution,
            } => {
                store
                    .attribute(
                        conversation_id,
                        agent_id.as_deref(),
                        queue_id.as_deref(),
                        *attribution,
                    )
                    .await
            }
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "Cannot store a real-time score; the batch will fetch it from STA.");
            // A store in trouble: do not spin on it.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
