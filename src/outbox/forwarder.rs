//! The forwarder: delivers owed events to the coaching platform with bounded concurrency,
//! retries with full-jitter backoff (honouring `Retry-After` on 429/503), and journals every
//! outcome (`delivered`, `delivery_failed`, `dead_lettered`) so a restart resumes where it
//! stopped. The `webhook-id` of every attempt is the event id, so the coaching side can drop
//! the duplicates that at-least-once delivery implies.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::coaching::{Attempt, CoachingClient, payload};
use super::queue::DeliveryQueue;
use crate::config::CoachingSettings;
use crate::domain::delivery::{Deliverable, Pending};
use crate::domain::events::{DeliveryOutcome, Entry};
use crate::domain::retry::RetryPolicy;
use crate::journal::Journal;
use crate::telemetry::metrics::Metrics;

/// One recent delivery outcome, for the dashboard.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeliveryEntry {
    /// When.
    pub at: DateTime<Utc>,
    /// Event id.
    pub event_id: String,
    /// `sentiment` or `coaching_recommendation`.
    pub event_type: &'static str,
    /// `delivered`, `failed` or `dead_lettered`.
    pub outcome: &'static str,
    /// Attempt number.
    pub attempt: u32,
    /// HTTP status, if any.
    pub status: Option<u16>,
}

/// The last deliveries (bounded).
#[derive(Debug, Clone, Default)]
pub struct DeliveryLog(Arc<Mutex<VecDeque<DeliveryEntry>>>);

impl DeliveryLog {
    const KEEP: usize = 50;

    fn push(&self, entry: DeliveryEntry) {
        let mut log = self.0.lock().expect("log lock");
        log.push_front(entry);
        log.truncate(Self::KEEP);
    }

    /// Newest first.
    pub fn recent(&self) -> Vec<DeliveryEntry> {
        self.0.lock().expect("log lock").iter().cloned().collect()
    }
}

/// The forwarder.
pub struct Forwarder {
    /// Recent outcomes.
    pub log: DeliveryLog,
    /// Owed deliveries.
    pub queue: DeliveryQueue,
    /// Where outcomes are journaled.
    pub journal: Journal,
    /// The coaching platform.
    pub client: CoachingClient,
    /// Retry bounds.
    pub settings: CoachingSettings,
    /// Metrics.
    pub metrics: Metrics,
}

impl Forwarder {
    /// Runs `coaching.concurrency` workers until `cancel` fires. An attempt in flight at
    /// cancellation is abandoned unjournaled: the event stays owed and is sent again (with
    /// the same id) after restart.
    pub async fn run(self, cancel: CancellationToken) {
        let this = Arc::new(self);
        let workers: Vec<_> = (0..this.settings.concurrency.get())
            .map(|_| {
                let this = this.clone();
                let cancel = cancel.clone();
                tokio::spawn(async move { this.work(cancel).await })
            })
            .collect();
        for w in workers {
            let _ = w.await;
        }
    }

    async fn work(&self, cancel: CancellationToken) {
        loop {
            let notified = self.queue.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self.queue.take() {
                Ok(pending) => {
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        () = self.attempt(pending) => {}
                    }
                }
                Err(next) => {
                    let sleep = tokio::time::sleep_until(
                        next.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600)),
                    );
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        () = &mut notified => {}
                        () = sleep => {}
                    }
                }
            }
        }
    }

    fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            max_attempts: self.settings.max_attempts.get(),
            max_total: self.settings.max_age.get(),
            base: self.settings.backoff_base.get(),
            cap: self.settings.backoff_cap.get(),
        }
    }

    async fn attempt(&self, pending: Pending) {
        let id = pending.event.event_id().to_owned();
        let attempt = pending.attempts + 1;
        let body = serde_json::to_vec(&payload(&pending.event)).expect("payloads serialize");
        let result = self.client.deliver(&id, &body).await;
        let age = (Utc::now() - pending.since)
            .to_std()
            .unwrap_or(Duration::ZERO);
        let outcome = |status, error| DeliveryOutcome {
            event_id: id.clone(),
            attempt,
            status,
            error,
            retry_at: None,
        };
        let status_of = |r: &Attempt| match r {
            Attempt::Delivered { status } | Attempt::Reject { status, .. } => Some(*status),
            Attempt::Retry { status, .. } => *status,
        };
        let status = status_of(&result);
        let (entry, result_label, schedule) = match result {
            Attempt::Delivered { status } => (
                Entry::Delivered(outcome(Some(status), None)),
                "delivered",
                None,
            ),
            Attempt::Reject { status, error } => (
                Entry::DeadLettered(outcome(Some(status), Some(error))),
                "dead_lettered",
                None,
            ),
            Attempt::Retry {
                status,
                error,
                retry_after,
            } => {
                let policy = self.retry_policy();
                let server = retry_after.map(|d| d.min(self.settings.retry_after_cap.get()));
                match policy.next_wait(attempt, age, server) {
                    None => {
                        let why =
                            format!("{error} (gave up after {attempt} attempts, age {age:?})");
                        (
                            Entry::DeadLettered(outcome(status, Some(why))),
                            "dead_lettered",
                            None,
                        )
                    }
                    Some(wait) => {
                        let mut o = outcome(status, Some(error));
                        o.retry_at = Some(
                            Utc::now() + TimeDelta::from_std(wait).unwrap_or(TimeDelta::zero()),
                        );
                        (Entry::DeliveryFailed(o), "failed", Some(wait))
                    }
                }
            }
        };
        // Failed attempts are journaled at 1, 2, 4, 8, …: a restart resumes within a factor
        // of two of the true count, and a long outage adds log2(attempts) records per event.
        let journaled = if result_label == "failed" && !attempt.is_power_of_two() {
            Ok(())
        } else {
            self.journal
                .record("forwarder", result_label, entry)
                .await
                .map(|_| ())
        };
        match journaled {
            Ok(_) => {
                self.metrics.delivery(result_label);
                self.log.push(DeliveryEntry {
                    at: Utc::now(),
                    event_id: id.clone(),
                    event_type: match pending.event {
                        Deliverable::Sentiment(_) => "sentiment",
                        Deliverable::Recommendation(_) => "coaching_recommendation",
                    },
                    outcome: result_label,
                    attempt,
                    status,
                });
                match schedule {
                    Some(wait) => {
                        tracing::debug!(event_id = %id, attempt, wait = ?wait, "Delivery failed; retrying later.");
                        self.queue.retry_at(&id, Instant::now() + wait, attempt);
                    }
                    None => {
                        if result_label == "dead_lettered" {
                            self.metrics.dead_letters.inc();
                            tracing::warn!(event_id = %id, attempt, "Delivery dead-lettered.");
                        }
                        self.queue.done(&id);
                    }
                }
            }
            Err(e) => {
                // The outcome is not recorded, so the event is still owed: try again later.
                tracing::error!(event_id = %id, error = %e, "Cannot journal a delivery outcome; will retry.");
                let wait = self.retry_policy().backoff(attempt.max(1));
                self.queue.retry_at(
                    &id,
                    Instant::now() + wait.max(Duration::from_millis(100)),
                    pending.attempts,
                );
            }
        }
    }
}
