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
use crate::domain::delivery::{Deliverable, Owed};
use crate::domain::events::{Acked, DeliveredBatch, DeliveryOutcome, Entry};
use crate::domain::retry::RetryPolicy;
use crate::journal::Journal;
use crate::telemetry::metrics::Metrics;

/// Successful deliveries acknowledged in one `delivered_batch` record at most.
pub const ACK_BATCH: usize = 512;

/// How long the acknowledger waits for more deliveries after the first before it writes
/// (the events stay owed meanwhile; a shorter wait only costs journal bytes).
const ACK_LINGER: Duration = Duration::from_millis(10);

/// Successful deliveries waiting for their acknowledgement record at most (beyond, workers
/// wait for the acknowledger).
const ACK_QUEUE: usize = 8_192;

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
    /// What went wrong (a refused connection, a timeout, the platform's answer), if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
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

/// Whether the forwarder is making progress: when an attempt last completed. Shared with
/// `/readyz` and the stalled metric.
#[derive(Debug, Default)]
pub struct ForwarderHealth {
    /// When a failed attempt was last logged at warn (one line a minute while failing), and
    /// whether the destination is failing now.
    failures: Mutex<(Option<Instant>, bool)>,
    /// Unix milliseconds of the last completed attempt (0: none yet).
    last_progress_ms: std::sync::atomic::AtomicI64,
    /// Unix milliseconds since when something has been due without any attempt completing
    /// (0: nothing waiting).
    waiting_since_ms: std::sync::atomic::AtomicI64,
}

/// While deliveries fail, one warn line per this interval at most.
const FAILURE_LOG_EVERY: Duration = Duration::from_secs(60);

impl ForwarderHealth {
    /// Whether to log this failure at warn (the first of a streak, then once a minute).
    fn warn_now(&self) -> bool {
        let mut f = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let due = !f.1 || f.0.is_none_or(|t| t.elapsed() >= FAILURE_LOG_EVERY);
        f.1 = true;
        if due {
            f.0 = Some(Instant::now());
        }
        due
    }

    /// Whether a streak of failures has just ended.
    fn recovered(&self) -> bool {
        let mut f = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        std::mem::replace(&mut f.1, false)
    }

    fn progressed(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        self.last_progress_ms
            .store(Utc::now().timestamp_millis(), Relaxed);
        self.waiting_since_ms.store(0, Relaxed);
    }

    /// Notes that a delivery is due now (kept as the start of the wait if none completes).
    fn due(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        let now = Utc::now().timestamp_millis();
        let _ = self
            .waiting_since_ms
            .compare_exchange(0, now, Relaxed, Relaxed);
    }

    /// Whether a delivery has been due for longer than `after` with no attempt completing
    /// in that time.
    pub fn stalled(&self, after: Duration) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        let since = self.waiting_since_ms.load(Relaxed);
        let after = i64::try_from(after.as_millis()).unwrap_or(i64::MAX);
        since > 0 && Utc::now().timestamp_millis().saturating_sub(since) > after
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
    /// Progress, for readiness.
    pub health: Arc<ForwarderHealth>,
}

impl Forwarder {
    /// Runs `coaching.concurrency` workers until `cancel` fires, restarting any that ends
    /// early (a panic), and watches for a stall. An attempt in flight at cancellation is
    /// abandoned unjournaled: the event stays owed and is sent again (with the same id)
    /// after restart.
    pub async fn run(self, cancel: CancellationToken) {
        let this = Arc::new(self);
        let (acks, acked) = tokio::sync::mpsc::channel(ACK_QUEUE);
        let acknowledger = {
            let (this, cancel) = (this.clone(), cancel.clone());
            tokio::spawn(async move { this.acknowledge(acked, cancel).await })
        };
        let mut workers = tokio::task::JoinSet::new();
        for _ in 0..this.settings.concurrency.get() {
            let (this, cancel, acks) = (this.clone(), cancel.clone(), acks.clone());
            workers.spawn(async move { this.work(cancel, acks).await });
        }
        let watch = {
            let (this, cancel) = (this.clone(), cancel.clone());
            tokio::spawn(async move { this.watch(cancel).await })
        };
        while let Some(ended) = workers.join_next().await {
            if cancel.is_cancelled() {
                continue;
            }
            match ended {
                Err(e) if e.is_panic() => {
                    tracing::error!("A forwarder worker panicked; starting a new one.");
                }
                _ => tracing::error!("A forwarder worker ended early; starting a new one."),
            }
            this.metrics.forwarder_fault("worker_restarted");
            let (this, cancel, acks) = (this.clone(), cancel.clone(), acks.clone());
            workers.spawn(async move { this.work(cancel, acks).await });
        }
        drop(acks);
        let _ = watch.await;
        let _ = acknowledger.await;
    }

    /// Journals successful deliveries, as many as completed together in one
    /// `delivered_batch` record (up to [`ACK_BATCH`]). Until that record is written the
    /// events are still owed in the journal: a crash before it sends them again (same
    /// `webhook-id`). At shutdown it writes what it has before returning.
    async fn acknowledge(
        &self,
        mut acked: tokio::sync::mpsc::Receiver<Acked>,
        cancel: CancellationToken,
    ) {
        let mut batch: Vec<Acked> = Vec::new();
        let mut failing = false;
        loop {
            // Until every worker is gone (they stop at cancellation): an acknowledgement sent
            // during the shutdown is written too.
            if batch.is_empty() {
                match acked.recv().await {
                    Some(a) => batch.push(a),
                    None => return,
                }
            }
            let linger = tokio::time::sleep(ACK_LINGER);
            tokio::pin!(linger);
            while batch.len() < ACK_BATCH {
                tokio::select! {
                    biased;
                    next = acked.recv() => match next {
                        Some(a) => batch.push(a),
                        None => break,
                    },
                    () = &mut linger => break,
                }
            }
            match self.write_acks(&batch).await {
                Ok(()) => {
                    if failing {
                        tracing::info!("Delivery acknowledgements are journaled again.");
                        failing = false;
                    }
                    batch.clear();
                }
                Err(e) if cancel.is_cancelled() => {
                    // Shutting down with the journal failing: these stay owed and are sent
                    // again (same webhook-id) after the restart.
                    tracing::warn!(error = %e, deliveries = batch.len(), "Cannot journal delivery acknowledgements at shutdown; those deliveries will be sent again.");
                    batch.clear();
                }
                Err(e) => {
                    if !failing {
                        tracing::error!(error = %e, deliveries = batch.len(), "Cannot journal delivery acknowledgements; retrying (the events stay owed until then).");
                        failing = true;
                    }
                    tokio::select! {
                        () = cancel.cancelled() => {}
                        () = tokio::time::sleep(Duration::from_millis(200)) => {}
                    }
                }
            }
        }
    }

    async fn write_acks(&self, batch: &[Acked]) -> Result<(), crate::journal::JournalError> {
        self.journal
            .record(
                "forwarder",
                "delivered",
                Entry::DeliveredBatch(DeliveredBatch {
                    deliveries: batch.to_vec(),
                }),
            )
            .await
            .map(|_| ())
    }

    /// Keeps the stalled gauge current (every few seconds).
    async fn watch(&self, cancel: CancellationToken) {
        let after = self.stall_after();
        loop {
            if self.queue.has_due() {
                self.health.due();
            }
            let stalled = self.health.stalled(after);
            self.metrics.forwarder_stalled.set(i64::from(stalled));
            tokio::select! {
                _ = cancel.cancelled() => return,
                () = tokio::time::sleep(Duration::from_secs(5)) => {}
            }
        }
    }

    /// How long deliveries may be due with no attempt completing before the forwarder
    /// counts as stalled: two attempt timeouts and a minute.
    pub fn stall_after(&self) -> Duration {
        stall_after(&self.settings)
    }

    async fn work(&self, cancel: CancellationToken, acks: tokio::sync::mpsc::Sender<Acked>) {
        use futures_util::FutureExt;
        loop {
            let notified = self.queue.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self.queue.take() {
                Ok(owed) => {
                    self.health.due();
                    let (id, attempts) = (owed.event_id.clone(), owed.attempts);
                    let attempt =
                        std::panic::AssertUnwindSafe(self.attempt(owed, &acks)).catch_unwind();
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        outcome = attempt => {
                            if outcome.is_err() {
                                // The event stays owed: try it again after a backoff.
                                tracing::error!(event_id = %id, "A delivery attempt panicked; it is retried later.");
                                self.metrics.forwarder_fault("attempt_panicked");
                                let wait = self.retry_policy().backoff(attempts.saturating_add(1));
                                self.queue.retry_at(&id, Instant::now() + wait.max(Duration::from_secs(1)), attempts);
                            }
                            self.health.progressed();
                        }
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

    async fn attempt(&self, owed: Owed, acks: &tokio::sync::mpsc::Sender<Acked>) {
        let id = owed.event_id.clone();
        let attempt = owed.attempts + 1;
        let (result, event_type) = match self.journal.read_event(&owed.body, &id).await {
            Ok(event) => {
                let body = serde_json::to_vec(&payload(&event)).expect("payloads serialize");
                (
                    Ok(self.client.deliver(&id, &body).await),
                    event_type(&event),
                )
            }
            // Gone for good: dead-lettered with why, never silently dropped.
            Err(e) if e.is_lost() => {
                tracing::error!(event_id = %id, error = %e, "An owed event's record is gone from the journal.");
                self.metrics.forwarder_fault("unreadable");
                let error = format!("cannot read the event back from the journal: {e}");
                (Err(error), "unreadable")
            }
            // A passing failure (out of file descriptors, say): tried again later.
            Err(e) => {
                tracing::warn!(event_id = %id, error = %e, "Cannot read an owed event back from the journal now; retrying.");
                self.metrics.forwarder_fault("read_failed");
                let retry = Attempt::Retry {
                    status: None,
                    error: format!("cannot read the event back from the journal: {e}"),
                    retry_after: None,
                };
                (Ok(retry), "unreadable")
            }
        };
        let age = (Utc::now() - owed.since).to_std().unwrap_or(Duration::ZERO);
        let outcome = |status, error| DeliveryOutcome {
            event_id: id.clone(),
            attempt,
            status,
            error,
            retry_at: None,
        };
        let status_of = |r: &Result<Attempt, String>| match r {
            Ok(Attempt::Delivered { status } | Attempt::Reject { status, .. }) => Some(*status),
            Ok(Attempt::Retry { status, .. }) => *status,
            Err(_) => None,
        };
        let status = status_of(&result);
        if result.is_ok() {
            self.metrics.delivery_attempt(status);
        }
        let (entry, result_label, schedule) = match result {
            Err(error) => (
                Entry::DeadLettered(outcome(None, Some(error))),
                "dead_lettered",
                None,
            ),
            Ok(Attempt::Delivered { status }) => (
                Entry::Delivered(outcome(Some(status), None)),
                "delivered",
                None,
            ),
            Ok(Attempt::Reject { status, error }) => (
                Entry::DeadLettered(outcome(Some(status), Some(error))),
                "dead_lettered",
                None,
            ),
            Ok(Attempt::Retry {
                status,
                error,
                retry_after,
            }) => {
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
        let error = match &entry {
            Entry::DeliveryFailed(o) | Entry::DeadLettered(o) => o.error.clone(),
            _ => None,
        };
        // Failed attempts are journaled at 1, 2, 4, 8, …: a restart resumes within a factor
        // of two of the true count, and a long outage adds log2(attempts) records per event.
        let journaled = if result_label == "failed" && !attempt.is_power_of_two() {
            Ok(())
        } else if let (Entry::Delivered(_), Some(status)) = (&entry, status) {
            // Acknowledged with others in one record by the acknowledger.
            match acks.send(Acked(id.clone(), attempt, status)).await {
                Ok(()) => Ok(()),
                Err(_) => self
                    .journal
                    .record("forwarder", result_label, entry)
                    .await
                    .map(|_| ()),
            }
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
                    event_type,
                    outcome: result_label,
                    attempt,
                    status,
                    error: error.clone(),
                });
                let destination = crate::config::redact_url(&self.settings.url);
                match (result_label, &error) {
                    ("delivered", _) if self.health.recovered() => {
                        tracing::info!(%destination, "The coaching platform accepts deliveries again.");
                    }
                    ("failed" | "dead_lettered", Some(cause)) if self.health.warn_now() => {
                        tracing::warn!(%destination, event_id = %id, attempt, status = status.map(u32::from), error = %cause, "A coaching delivery failed; it is retried (one line a minute while deliveries keep failing).");
                    }
                    _ => {}
                }

                match schedule {
                    Some(wait) => {
                        tracing::debug!(event_id = %id, attempt, wait = ?wait, "Delivery failed; retrying later.");
                        self.queue.retry_at(&id, Instant::now() + wait, attempt);
                    }
                    None => {
                        if result_label == "dead_lettered" {
                            self.metrics.dead_letters.inc();
                            tracing::warn!(event_id = %id, attempt, status = status.map(u32::from), error = error.as_deref().unwrap_or(""), "Delivery dead-lettered.");
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
                    owed.attempts,
                );
            }
        }
    }
}

fn event_type(event: &Deliverable) -> &'static str {
    match event {
        Deliverable::Sentiment(_) => "sentiment",
        Deliverable::Recommendation(_) => "coaching_recommendation",
    }
}

/// See [`Forwarder::stall_after`].
pub fn stall_after(settings: &CoachingSettings) -> Duration {
    settings.timeout.get().saturating_mul(2) + Duration::from_secs(60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stalled_only_when_something_waits_longer_than_the_bound_with_no_progress() {
        let h = ForwarderHealth::default();
        assert!(!h.stalled(Duration::ZERO), "nothing due");
        h.due();
        // Due ten seconds ago.
        h.waiting_since_ms.store(
            Utc::now().timestamp_millis() - 10_000,
            std::sync::atomic::Ordering::Relaxed,
        );
        assert!(
            h.stalled(Duration::from_secs(5)),
            "due, no attempt completed"
        );
        assert!(!h.stalled(Duration::from_secs(60)), "not for that long");
        h.progressed();
        assert!(!h.stalled(Duration::ZERO), "an attempt completed");
    }
}
