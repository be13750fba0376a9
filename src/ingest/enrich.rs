//! Conversation-end and attribution events carry no score: the enricher fetches it from STA
//! through the shared Genesys client, once per conversation, unless a score arrives by
//! webhook first.
//!
//! STA computes sentiment after transcription (docs/genesys-api.md §4.1), so the first fetch
//! is `webhook.sta_retry_delay` after the event was *received* (never after a time the
//! sender claims), and a "not analysed" answer is retried with doubling waits until
//! `webhook.sta_max_wait` after receipt; then `enrichment_failed` is journaled. Waiting
//! holds nothing: only a fetch in flight takes one of the few fetch slots. A fetched score
//! goes through the intake (`sentiment_fetched`, the same dedupe key as a webhook score), so
//! a conversation is delivered once whichever way its score came.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::intake::{Fetched, FetchedScore, Intake, IntakeError};
use crate::config::WebhookSettings;
use crate::domain::events::{ConversationEnded, EnrichmentFailed, Entry};
use crate::genesys::GenesysClient;
use crate::genesys::sta::StaOutcome;
use crate::journal::Journal;

/// Fetches in flight at most (each also waits for the shared rate budget).
const CONCURRENCY: usize = 16;

/// Conversations waiting for their score at most (about 300 bytes each); beyond, new
/// conversation-end events wait in the channel.
pub const MAX_WAITING: usize = 100_000;

/// Conversation-end events between the intake and the enricher at most; when it is full the
/// intake answers 503 with `Retry-After`.
pub const QUEUE: usize = 1024;

/// A conversation-end event and when it was received.
pub type EndEvent = (DateTime<Utc>, ConversationEnded);

/// The enricher.
pub struct Enricher {
    /// Genesys client (shared budget).
    pub client: GenesysClient,
    /// Journal (failures).
    pub journal: Journal,
    /// Where fetched scores are stored.
    pub intake: Intake,
    /// Timing.
    pub settings: WebhookSettings,
    /// Backlog and failures.
    pub metrics: crate::telemetry::metrics::Metrics,
}

struct Waiting {
    event: ConversationEnded,
    received: DateTime<Utc>,
    delay: Duration,
    fetching: bool,
}

/// The conversations waiting for a fetch and when each is next due.
#[derive(Default)]
struct Schedule {
    waiting: HashMap<String, Waiting>,
    timers: BinaryHeap<Reverse<(Instant, u64, String)>>,
    tiebreak: u64,
}

impl Schedule {
    fn at(&mut self, due: Instant, conversation: String) {
        self.tiebreak += 1;
        self.timers
            .push(Reverse((due, self.tiebreak, conversation)));
    }

    fn admit(&mut self, (received, event): EndEvent, first_delay: Duration) {
        let conversation = event.conversation_id.clone();
        if let Some(w) = self.waiting.get_mut(&conversation) {
            // A later end of the same conversation (the next agent's .acw on a transfer):
            // the conversation went on after the first, so STA is waited for from this one,
            // starting again with the first delay.
            if received > w.received {
                w.received = received;
                w.delay = first_delay;
                self.at(instant_at(received) + first_delay, conversation);
            }
            return;
        }
        self.at(instant_at(received) + first_delay, conversation.clone());
        self.waiting.insert(
            conversation,
            Waiting {
                event,
                received,
                delay: first_delay,
                fetching: false,
            },
        );
    }
}

/// How one fetch ended.
enum Step {
    Done,
    Retry(String),
}

fn instant_at(at: DateTime<Utc>) -> Instant {
    let now = Instant::now();
    (at - Utc::now()).to_std().map_or(now, |ahead| now + ahead)
}

impl Enricher {
    /// Processes `recovered` events and everything arriving on `rx` until `cancel` fires.
    /// Unfinished events stay owed in the journal and resume after restart.
    pub async fn run(
        self,
        recovered: Vec<EndEvent>,
        mut rx: mpsc::Receiver<EndEvent>,
        cancel: CancellationToken,
    ) {
        let this = Arc::new(self);
        let slots = Arc::new(Semaphore::new(CONCURRENCY));
        let tasks = TaskTracker::new();
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<(String, Step)>();
        let mut plan = Schedule::default();
        let first_delay = this.settings.sta_retry_delay.get();
        let max_wait = this.settings.sta_max_wait.get();
        for e in recovered {
            if !this.intake.has_score(&e.1.conversation_id) {
                plan.admit(e, first_delay);
            }
        }
        loop {
            this.metrics
                .enrichment_backlog
                .set(i64::try_from(plan.waiting.len()).unwrap_or(i64::MAX));
            let next = plan.timers.peek().map(|Reverse((at, _, _))| *at);
            let sleep = tokio::time::sleep_until(
                next.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600)),
            );
            tokio::select! {
                _ = cancel.cancelled() => break,
                // Full: new events wait in the channel, and once it is full too the intake
                // answers 503 (the sender retries) instead of memory growing.
                e = rx.recv(), if plan.waiting.len() < MAX_WAITING => match e {
                    Some(e) if !this.intake.has_score(&e.1.conversation_id) => plan.admit(e, first_delay),
                    Some(_) => {}
                    None => break,
                },
                Some((conversation, step)) = done_rx.recv() => {
                    let Some(w) = plan.waiting.get_mut(&conversation) else { continue };
                    w.fetching = false;
                    match step {
                        Step::Done => {
                            plan.waiting.remove(&conversation);
                        }
                        Step::Retry(reason) => {
                            w.delay = w.delay.saturating_mul(2);
                            let next_at = Utc::now()
                                + chrono::TimeDelta::from_std(w.delay).unwrap_or(chrono::TimeDelta::MAX);
                            let deadline = w.received
                                + chrono::TimeDelta::from_std(max_wait).unwrap_or(chrono::TimeDelta::MAX);
                            if next_at > deadline {
                                let w = plan.waiting.remove(&conversation).expect("present");
                                let why = format!("{reason} within {max_wait:?} of the event");
                                this.record_failure(&w.event, why).await;
                            } else {
                                tracing::debug!(conversation_id = %conversation, retry_in = ?w.delay, %reason, "STA score not ready.");
                                plan.at(instant_at(next_at), conversation);
                            }
                        }
                    }
                }
                () = sleep => {
                    let now = Instant::now();
                    while let Some(Reverse((at, _, _))) = plan.timers.peek() {
                        if *at > now {
                            break;
                        }
                        let Reverse((_, _, conversation)) = plan.timers.pop().expect("peeked");
                        if this.intake.has_score(&conversation) {
                            plan.waiting.remove(&conversation);
                            continue;
                        }
                        let Some(w) = plan.waiting.get_mut(&conversation) else { continue };
                        if w.fetching {
                            continue;
                        }
                        w.fetching = true;
                        let (this, slots, done) = (this.clone(), slots.clone(), done_tx.clone());
                        let event = w.event.clone();
                        let cancel = cancel.clone();
                        tasks.spawn(async move {
                            let Ok(_slot) = slots.acquire_owned().await else { return };
                            use futures_util::FutureExt;
                            // A panic in the fetch still reports back, so the event is
                            // tried again (or given up at its deadline), never stuck.
                            let fetch = std::panic::AssertUnwindSafe(this.fetch(&event)).catch_unwind();
                            let step = tokio::select! {
                                _ = cancel.cancelled() => return,
                                s = fetch => s.unwrap_or_else(|_| {
                                    Step::Retry("the score lookup failed unexpectedly".to_owned())
                                }),
                            };
                            let _ = done.send((event.conversation_id.clone(), step));
                        });
                    }
                }
            }
        }
        tasks.close();
        tasks.wait().await;
    }

    async fn fetch(&self, event: &ConversationEnded) -> Step {
        match self
            .client
            .conversation_sentiment(&event.conversation_id)
            .await
        {
            Ok(StaOutcome::Analysed(sentiment)) => {
                self.record_score(event, &sentiment).await;
                Step::Done
            }
            Ok(StaOutcome::NotAnalysed) => {
                Step::Retry("not analysed by Speech & Text Analytics".to_owned())
            }
            Err(e) if !e.is_retryable() => {
                self.record_failure(event, format!("Genesys refused: {e}"))
                    .await;
                Step::Done
            }
            Err(e) => Step::Retry(format!("Genesys unavailable: {e}")),
        }
    }

    async fn record_score(
        &self,
        event: &ConversationEnded,
        s: &crate::genesys::sta::ConversationSentiment,
    ) {
        let fetched = FetchedScore {
            score: s.score,
            trend: s.trend.map(|t| t.value),
        };
        match self.intake.accept_fetched(event, fetched).await {
            Ok(Fetched::Stored) => {}
            Ok(Fetched::Superseded) => {
                tracing::debug!(conversation_id = %event.conversation_id, "A score arrived by webhook first; the fetched one is not stored.");
            }
            Err(IntakeError::Unusable(e)) => {
                self.record_failure(event, format!("unusable STA score: {e}"))
                    .await;
            }
            Err(IntakeError::Journal(e)) => {
                tracing::error!(error = %e, conversation_id = %event.conversation_id, "Cannot journal a fetched score; it will be fetched again after restart.");
            }
        }
    }

    async fn record_failure(&self, event: &ConversationEnded, reason: String) {
        tracing::warn!(conversation_id = %event.conversation_id, %reason, "No STA score for a conversation-end event.");
        self.metrics.enrichment_failures.inc();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ended(conversation: &str, agent: &str) -> ConversationEnded {
        ConversationEnded {
            event_id: format!("e-{agent}"),
            dedupe_keys: vec![],
            conversation_id: conversation.to_owned(),
            agent_id: Some(agent.to_owned()),
            queue_id: None,
            topic: "v2.detail.events.conversation.c-1.acw".to_owned(),
            occurred_at: Utc::now(),
        }
    }

    #[test]
    fn a_later_end_of_the_same_conversation_waits_for_sta_from_itself() {
        let delay = Duration::from_secs(30);
        let t0 = Utc::now();
        let mut plan = Schedule::default();
        plan.admit((t0, ended("c-1", "first")), delay);
        // The first agent's wait has grown meanwhile.
        plan.waiting.get_mut("c-1").unwrap().delay = Duration::from_secs(240);
        let t1 = t0 + chrono::TimeDelta::minutes(12);
        plan.admit((t1, ended("c-1", "second")), delay);
        let w = &plan.waiting["c-1"];
        assert_eq!(
            w.received, t1,
            "the give-up deadline counts from the later end"
        );
        assert_eq!(w.delay, delay);
        // Instants come from the wall clock at each call: compared with a minute to spare.
        let mut due: Vec<Instant> = plan.timers.iter().map(|Reverse((at, _, _))| *at).collect();
        due.sort();
        assert_eq!(due.len(), 2);
        assert!(
            due[1] >= due[0] + Duration::from_secs(11 * 60),
            "fetched after the later end"
        );
        // An earlier (or repeated) end changes nothing.
        plan.admit((t0, ended("c-1", "first")), delay);
        assert_eq!(plan.waiting["c-1"].received, t1);
        assert_eq!(plan.timers.len(), 2);
    }
}
