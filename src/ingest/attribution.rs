//! Agent attribution for real-time scores.
//!
//! Genesys's sentiment notification names the conversation, not the agent (docs/genesys-api.md
//! §6.1). A score whose event names no agent is attributed, in order: from an `.acw` or
//! `.user.end` event of the same conversation (learned before or after the score arrives);
//! from `GET /api/v2/analytics/conversations/{id}/details` (the agent participant), asked
//! `webhook.attribution_lookup_delay` after the score arrived, through the shared rate budget;
//! and after `webhook.attribution_max_wait` it goes out as `unknown`. Meanwhile its delivery
//! is held here, not in the outbox. Every decision is journaled as an `attributed` record
//! before the delivery is released, so a restart holds again exactly what was still held.
//!
//! An `.acw` that arrives after its conversation's score was already attributed is
//! journaled as a late link (`late: true`): reports use it; a delivery still queued is
//! amended, one already made is not sent again.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::dedupe::Dedupe;
use super::recorder::ScoreRecorder;
use crate::domain::delivery::{Deliverable, Pending};
use crate::domain::events::{Attributed, AttributionEvent, AttributionSource, Entry, key_digest};
use crate::genesys::GenesysClient;
use crate::journal::Journal;
use crate::outbox::DeliveryQueue;
use crate::telemetry::metrics::Metrics;

/// Details lookups in flight at once (each also waits for the shared rate budget).
const LOOKUP_CONCURRENCY: usize = 8;

/// The dedupe key of a conversation's score: one score (and one delivery) per conversation.
pub fn score_key(conversation_id: &str) -> String {
    format!("conv:{conversation_id}:sentiment")
}

/// Timing of attribution (`[webhook]`).
#[derive(Debug, Clone, Copy)]
pub struct AttributionTiming {
    /// Wait this long for an `.acw` / `.user.end` before asking the details endpoint.
    pub lookup_delay: Duration,
    /// Release the delivery with what is known after this long.
    pub max_wait: Duration,
    /// Most scores held at once; beyond it a new one goes out at once (`unknown`), so a
    /// flood of agent-less scores cannot grow memory without bound.
    pub max_held: usize,
    /// How long an attribution event waits for its conversation's score before it is
    /// forgotten (the score may be fetched from STA up to `webhook.sta_max_wait` later).
    pub known_ttl: Duration,
    /// Most attribution events remembered at once (`journal.dedupe_max_keys`); past it the
    /// oldest are forgotten first, so a flood of distinct conversations cannot grow memory
    /// without bound inside `known_ttl`. A score meeting a forgotten one is looked up.
    pub max_known: usize,
}

/// What an attribution event said about a conversation.
#[derive(Debug, Clone)]
struct Known {
    agent_id: Option<String>,
    queue_id: Option<String>,
    source: AttributionSource,
    event_id: String,
    /// When the event happened (it decides between two agents of one conversation).
    occurred_at: DateTime<Utc>,
    /// When it was heard (what forgetting goes by).
    at: DateTime<Utc>,
}

impl Known {
    fn rank(&self) -> (bool, DateTime<Utc>) {
        AttributionEvent::precedence(self.source, self.occurred_at)
    }
}

/// A score waiting for its agent.
#[derive(Debug)]
struct Held {
    pending: Pending,
    deadline: Instant,
    lookup_at: Instant,
    lookups: u32,
    looking: bool,
    last_error: Option<String>,
}

#[derive(Debug, Default)]
struct State {
    known: HashMap<String, Known>,
    held: HashMap<String, Held>,
    timers: BinaryHeap<Reverse<(Instant, u64, String)>>,
    tiebreak: u64,
}

impl State {
    /// Remembers what an attribution event said; past `max`, forgets the oldest down to
    /// nine tenths of it (so the O(n) pass comes back only after many inserts). Returns how
    /// many were forgotten.
    fn remember(&mut self, conversation: String, known: Known, max: usize) -> usize {
        self.known.insert(conversation, known);
        if self.known.len() <= max.max(1) {
            return 0;
        }
        let before = self.known.len();
        let keep = max - max / 10;
        let times = self.known.values().map(|k| k.at).collect();
        if let Some(cutoff) = crate::domain::events::forget_up_to(times, before - keep) {
            self.known.retain(|_, k| k.at > cutoff);
        }
        before - self.known.len()
    }

    fn wake_at(&mut self, at: Instant, conversation: &str) {
        self.tiebreak += 1;
        let t = self.tiebreak;
        self.timers.push(Reverse((at, t, conversation.to_owned())));
    }
}

struct Inner {
    state: Mutex<State>,
    journal: Journal,
    deliveries: DeliveryQueue,
    dedupe: Arc<Dedupe>,
    lookup: Option<GenesysClient>,
    recorder: ScoreRecorder,
    /// Set after a 403 from the details endpoint: no more lookups, one warning.
    lookups_forbidden: std::sync::atomic::AtomicBool,
    timing: AttributionTiming,
    notify: Notify,
    lookups: Arc<Semaphore>,
    /// Lookups and releases in flight: [`Attributor::run`] waits for them before it
    /// returns, so none journals after the journal closed.
    tasks: tokio_util::task::TaskTracker,
    metrics: Metrics,
}

/// The attributor. Cheap to clone.
#[derive(Clone)]
pub struct Attributor {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Attributor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.inner.state.lock().expect("attribution lock");
        write!(
            f,
            "Attributor({} held, {} known)",
            s.held.len(),
            s.known.len()
        )
    }
}

/// An attribution decided for one score.
struct Decision {
    agent_id: Option<String>,
    queue_id: Option<String>,
    source: AttributionSource,
    cause_event_id: Option<String>,
    reason: Option<String>,
}

/// The monotonic instant of a wall-clock time: in the future as far ahead, in the past as
/// far back (a score received before a restart keeps its deadline), never before the
/// process's clock can represent.
fn to_instant(at: DateTime<Utc>) -> Instant {
    let now = Instant::now();
    match (at - Utc::now()).to_std() {
        Ok(ahead) => now + ahead,
        Err(_) => (Utc::now() - at)
            .to_std()
            .ok()
            .and_then(|back| now.checked_sub(back))
            .unwrap_or(now),
    }
}

impl Attributor {
    /// An attributor that releases into `deliveries`. `lookup` is the Genesys client for the
    /// details lookup (`None`: no lookup, only attribution events and the deadline).
    pub fn new(
        journal: Journal,
        deliveries: DeliveryQueue,
        dedupe: Arc<Dedupe>,
        lookup: Option<GenesysClient>,
        recorder: ScoreRecorder,
        timing: AttributionTiming,
        metrics: Metrics,
    ) -> Attributor {
        Attributor {
            inner: Arc::new(Inner {
                state: Mutex::new(State::default()),
                journal,
                deliveries,
                dedupe,
                lookup,
                recorder,
                lookups_forbidden: std::sync::atomic::AtomicBool::new(false),
                timing,
                notify: Notify::new(),
                lookups: Arc::new(Semaphore::new(LOOKUP_CONCURRENCY)),
                tasks: tokio_util::task::TaskTracker::new(),
                metrics,
            }),
        }
    }

    /// Scores waiting for an agent.
    pub fn held(&self) -> usize {
        self.inner
            .state
            .lock()
            .expect("attribution lock")
            .held
            .len()
    }

    /// Seeds what recovery found: attribution events still inside the dedupe window.
    pub fn seed_known(&self, events: impl IntoIterator<Item = (DateTime<Utc>, AttributionEvent)>) {
        let mut s = self.inner.state.lock().expect("attribution lock");
        let max = self.inner.timing.max_known;
        let mut forgotten = 0;
        for (at, e) in events {
            if s.known
                .get(&e.conversation_id)
                .is_some_and(|k| k.rank() > e.rank())
            {
                continue;
            }
            let known = Known {
                agent_id: e.agent_id,
                queue_id: e.queue_id,
                source: e.source,
                event_id: e.event_id,
                occurred_at: e.occurred_at,
                at,
            };
            forgotten += s.remember(e.conversation_id, known, max);
        }
        drop(s);
        warn_forgotten(forgotten);
    }

    /// Hands on a stored score: to the outbox when its agent is known (from the event or an
    /// attribution event), else held until it is, at most `max_wait` after `received_at`.
    pub async fn route(&self, mut pending: Pending, received_at: DateTime<Utc>) {
        let Deliverable::Sentiment(event) = &mut pending.event else {
            self.inner.deliveries.push(pending);
            return;
        };
        if event.attribution.is_none() && event.agent_id.is_some() {
            event.attribution = Some(AttributionSource::Event);
        }
        if event.attribution.is_some() {
            self.inner.recorder.score(event);
            self.inner.deliveries.push(pending);
            return;
        }
        let t = self.inner.timing;
        let conversation = event.conversation_id.clone();
        // Decide under one lock whether it is known, or else held: an attribution event
        // learned concurrently either finds it held or is found here.
        let decision = {
            let mut s = self.inner.state.lock().expect("attribution lock");
            if let Some(k) = s.known.get(&conversation).filter(|k| k.agent_id.is_some()) {
                Some(Decision {
                    agent_id: k.agent_id.clone(),
                    queue_id: k.queue_id.clone(),
                    source: k.source,
                    cause_event_id: Some(k.event_id.clone()),
                    reason: None,
                })
            } else if t.max_wait.is_zero() || s.held.len() >= t.max_held {
                // Not held: decided now, journaled before the webhook is answered.
                let reason = if t.max_wait.is_zero() {
                    "no agent in the event and webhook.attribution_max_wait is 0s".to_owned()
                } else {
                    format!(
                        "{} scores are already waiting for their agent (webhook.attribution_max_held)",
                        t.max_held
                    )
                };
                Some(Decision {
                    agent_id: None,
                    queue_id: None,
                    source: AttributionSource::Unknown,
                    cause_event_id: None,
                    reason: Some(reason),
                })
            } else if s.held.contains_key(&conversation) {
                // One score per conversation reaches here; keep the first if it ever did not.
                tracing::warn!(conversation_id = %conversation, "A second score for a held conversation; delivering it unattributed.");
                Some(Decision {
                    agent_id: None,
                    queue_id: None,
                    source: AttributionSource::Unknown,
                    cause_event_id: None,
                    reason: Some("another score of this conversation is waiting".into()),
                })
            } else {
                let received = to_instant(received_at);
                let deadline = received + t.max_wait;
                let lookup_at = (received + t.lookup_delay).min(deadline);
                s.wake_at(lookup_at, &conversation);
                s.wake_at(deadline, &conversation);
                s.held.insert(
                    conversation.clone(),
                    Held {
                        pending: pending.clone(),
                        deadline,
                        lookup_at,
                        lookups: 0,
                        looking: false,
                        last_error: None,
                    },
                );
                self.inner.metrics.attribution_held.set(s.held.len() as i64);
                None
            }
        };
        match decision {
            Some(d) => self.release(pending, d).await,
            None => self.inner.notify.notify_one(),
        }
    }

    /// Learns an accepted `.acw` / `.user.end` event: releases the conversation's held score
    /// with this agent, or journals a late link when the score was already attributed to
    /// someone else. Of several events of one conversation (a transferred call), the one
    /// with [`AttributionEvent::precedence`] names the agent: an `.acw` over a `.user.end`,
    /// then the later event time; an outranked one changes nothing.
    pub async fn learn(&self, event: &AttributionEvent, at: DateTime<Utc>) {
        if event.agent_id.is_none() {
            return;
        }
        let (held, same) = {
            let mut s = self.inner.state.lock().expect("attribution lock");
            let before = s.known.get(&event.conversation_id);
            if before.is_some_and(|k| k.rank() > event.rank()) {
                // A known agent outranks it, so no score of the conversation is held
                // (a score meeting a known agent is released at once).
                return;
            }
            let same = before
                .is_some_and(|k| k.agent_id == event.agent_id && k.queue_id == event.queue_id);
            let known = Known {
                agent_id: event.agent_id.clone(),
                queue_id: event.queue_id.clone(),
                source: event.source,
                event_id: event.event_id.clone(),
                occurred_at: event.occurred_at,
                at,
            };
            let forgotten = s.remember(
                event.conversation_id.clone(),
                known,
                self.inner.timing.max_known,
            );
            let held = s.held.remove(&event.conversation_id);
            self.inner.metrics.attribution_held.set(s.held.len() as i64);
            drop(s);
            warn_forgotten(forgotten);
            (held, same)
        };
        if same && held.is_none() {
            // The score went out with this agent and queue already.
            return;
        }
        let decision = Decision {
            agent_id: event.agent_id.clone(),
            queue_id: event.queue_id.clone(),
            source: event.source,
            cause_event_id: Some(event.event_id.clone()),
            reason: None,
        };
        if let Some(held) = held {
            self.release(held.pending, decision).await;
            return;
        }
        // Not held: if the conversation's score was stored, it was attributed already.
        let Some(seen) = self
            .inner
            .dedupe
            .stored(key_digest(&score_key(&event.conversation_id)))
        else {
            return;
        };
        let score_event = seen.event_id();
        let record = attributed(&score_event, &event.conversation_id, &decision, true);
        if let Err(e) = self
            .inner
            .journal
            .record(
                "attribution",
                "late_link",
                Entry::Attributed(record.clone()),
            )
            .await
        {
            tracing::error!(error = %e, conversation_id = %event.conversation_id, "Cannot journal a late attribution link.");
            return;
        }
        self.inner.metrics.attribution("late_link");
        self.inner.recorder.attribute(
            &event.conversation_id,
            event.agent_id.as_deref(),
            event.queue_id.as_deref(),
            event.source,
        );
        // A delivery still waiting in the outbox goes out with the better agent.
        self.inner.deliveries.attribute(&score_event, &record);
    }

    /// Journals the decision, then queues the delivery. If the decision cannot be journaled
    /// the delivery still goes out (the score itself is durable; a restart decides again).
    async fn release(&self, mut pending: Pending, decision: Decision) {
        if let Deliverable::Sentiment(event) = &mut pending.event {
            let record = attributed(&event.event_id, &event.conversation_id, &decision, false);
            if let Err(e) = self
                .inner
                .journal
                .record(
                    "attribution",
                    decision.source.as_str(),
                    Entry::Attributed(record.clone()),
                )
                .await
            {
                tracing::error!(error = %e, conversation_id = %event.conversation_id, "Cannot journal an attribution decision; delivering anyway.");
            }
            event.attribute(&record);
            pending.amended = true;
            self.inner.metrics.attribution(decision.source.as_str());
            self.inner.recorder.score(event);
            // What is known of the conversation stays (until known_ttl, as recovery keeps
            // it for the dedupe window): an event it outranks, heard after the score went
            // out, must not relink it, whether or not the daemon restarted in between.
        }
        self.inner.deliveries.push(pending);
    }

    /// Runs the timers (details lookups, deadlines) until `cancel` fires. Held scores stay
    /// owed in the journal and are held again after a restart.
    pub async fn run(self, cancel: CancellationToken) {
        let mut prune = tokio::time::interval(Duration::from_secs(300));
        prune.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            let notified = self.inner.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let next = self.due_now();
            for conversation in next.ready {
                self.step(&conversation, &cancel);
            }
            let sleep = tokio::time::sleep_until(
                next.wake
                    .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600)),
            );
            tokio::select! {
                _ = cancel.cancelled() => break,
                () = &mut notified => {}
                () = sleep => {}
                _ = prune.tick() => self.prune(Utc::now(), self.inner.timing.known_ttl),
            }
        }
        // Lookups stop at the cancel; a release under way finishes journaling first.
        self.inner.tasks.close();
        self.inner.tasks.wait().await;
    }

    fn due_now(&self) -> Due {
        let mut s = self.inner.state.lock().expect("attribution lock");
        let now = Instant::now();
        let mut ready = Vec::new();
        while let Some(Reverse((at, _, _))) = s.timers.peek() {
            if *at > now {
                break;
            }
            let Reverse((_, _, conversation)) = s.timers.pop().expect("peeked");
            ready.push(conversation);
        }
        ready.dedup();
        Due {
            ready,
            wake: s.timers.peek().map(|Reverse((at, _, _))| *at),
        }
    }

    /// Acts on a conversation whose timer fired: release at the deadline, else look it up.
    fn step(&self, conversation: &str, cancel: &CancellationToken) {
        let now = Instant::now();
        let mut s = self.inner.state.lock().expect("attribution lock");
        let Some(held) = s.held.get_mut(conversation) else {
            return;
        };
        if now >= held.deadline {
            let held = s.held.remove(conversation).expect("present");
            self.inner.metrics.attribution_held.set(s.held.len() as i64);
            drop(s);
            let reason = held.last_error.unwrap_or_else(|| {
                if held.lookups == 0 {
                    "no .acw or .user.end event, and no details lookup answered in time".into()
                } else {
                    "no .acw or .user.end event and no agent in the conversation's details".into()
                }
            });
            let this = self.clone();
            self.inner.tasks.spawn(async move {
                this.release(
                    held.pending,
                    Decision {
                        agent_id: None,
                        queue_id: None,
                        source: AttributionSource::Unknown,
                        cause_event_id: None,
                        reason: Some(reason),
                    },
                )
                .await;
            });
            return;
        }
        if now < held.lookup_at || held.looking {
            return;
        }
        let Some(client) = self.inner.lookup.clone() else {
            return;
        };
        if self
            .inner
            .lookups_forbidden
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            held.last_error =
                Some("the OAuth client may not read conversation details (403); no lookup".into());
            return;
        }
        held.looking = true;
        held.lookups += 1;
        let this = self.clone();
        let conversation = conversation.to_owned();
        let cancel = cancel.clone();
        self.inner.tasks.spawn(async move {
            let Ok(_permit) = this.inner.lookups.clone().acquire_owned().await else {
                return;
            };
            use futures_util::FutureExt;
            // A panic in the lookup still reports back (as a failed lookup), so it is asked
            // again later instead of never.
            let lookup =
                std::panic::AssertUnwindSafe(client.conversation(&conversation)).catch_unwind();
            let result = tokio::select! {
                _ = cancel.cancelled() => return,
                r = lookup => r.unwrap_or_else(|_| {
                    Err(crate::genesys::GenesysError::Transport {
                        endpoint: crate::genesys::Endpoint::ConversationDetails,
                        message: "the lookup failed unexpectedly".to_owned(),
                        timeout: false,
                    })
                }),
            };
            this.looked_up(&conversation, result).await;
        });
    }

    async fn looked_up(
        &self,
        conversation: &str,
        result: Result<
            Option<crate::genesys::models::AnalyticsConversation>,
            crate::genesys::GenesysError,
        >,
    ) {
        let found = match &result {
            Ok(Some(c)) => c
                .agent_id()
                .map(|a| (a.to_owned(), c.queue_id().map(str::to_owned))),
            _ => None,
        };
        let held = {
            let mut s = self.inner.state.lock().expect("attribution lock");
            let Some(held) = s.held.get_mut(conversation) else {
                return;
            };
            held.looking = false;
            match (&result, &found) {
                (_, Some(_)) => {}
                (Ok(None), None) => {
                    held.last_error =
                        Some("the conversation is not in the analytics details yet".into())
                }
                (Ok(Some(_)), None) => {
                    held.last_error =
                        Some("the conversation's details name no agent participant".into())
                }
                (Err(e), None) => {
                    self.inner.metrics.attribution("lookup_failed");
                    if e.kind() == crate::genesys::ErrorKind::Forbidden {
                        if !self
                            .inner
                            .lookups_forbidden
                            .swap(true, std::sync::atomic::Ordering::Relaxed)
                        {
                            tracing::warn!(error = %e, "Conversation details lookups are forbidden: scores without an .acw go out unattributed. Add analytics:conversationDetail:view to the OAuth client's role.");
                        }
                    } else {
                        tracing::warn!(conversation_id = conversation, error = %e, "Conversation details lookup failed.");
                    }
                    held.last_error = Some(format!("details lookup failed: {e}"))
                }
            }
            if found.is_none() {
                // Ask again later, doubling the wait, until the deadline releases it.
                let backoff = self.inner.timing.lookup_delay.max(Duration::from_secs(1))
                    * 2u32.saturating_pow(held.lookups.min(6));
                let again = (Instant::now() + backoff).min(held.deadline);
                held.lookup_at = again;
                s.wake_at(again, conversation);
                drop(s);
                self.inner.notify.notify_one();
                return;
            }
            let held = s.held.remove(conversation).expect("present");
            self.inner.metrics.attribution_held.set(s.held.len() as i64);
            held
        };
        let (agent, queue) = found.expect("checked");
        let existing_queue = match &held.pending.event {
            Deliverable::Sentiment(e) => e.queue_id.clone(),
            Deliverable::Recommendation(_) => None,
        };
        self.release(
            held.pending,
            Decision {
                agent_id: Some(agent),
                queue_id: existing_queue.or(queue),
                source: AttributionSource::Details,
                cause_event_id: None,
                reason: None,
            },
        )
        .await;
    }

    /// Drops attribution events older than `window` (they can no longer meet their score).
    pub fn prune(&self, now: DateTime<Utc>, window: Duration) {
        let window = chrono::TimeDelta::from_std(window).unwrap_or(chrono::TimeDelta::MAX);
        let mut s = self.inner.state.lock().expect("attribution lock");
        s.known.retain(|_, k| now - k.at <= window);
    }
}

fn warn_forgotten(forgotten: usize) {
    if forgotten > 0 {
        tracing::warn!(
            forgotten,
            "Too many attribution events to remember (journal.dedupe_max_keys): the oldest were forgotten; a score for one of their conversations asks the details endpoint for its agent."
        );
    }
}

struct Due {
    ready: Vec<String>,
    wake: Option<Instant>,
}

fn attributed(event_id: &str, conversation_id: &str, d: &Decision, late: bool) -> Attributed {
    Attributed {
        event_id: event_id.to_owned(),
        conversation_id: conversation_id.to_owned(),
        agent_id: d.agent_id.clone(),
        queue_id: d.queue_id.clone(),
        attribution: d.source,
        cause_event_id: d.cause_event_id.clone(),
        late,
        reason: d.reason.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(at: DateTime<Utc>) -> Known {
        Known {
            agent_id: Some("agent".into()),
            queue_id: None,
            source: AttributionSource::Acw,
            event_id: "evt".into(),
            occurred_at: at,
            at,
        }
    }

    #[test]
    fn past_the_bound_the_oldest_attribution_events_are_forgotten_first() {
        let mut state = State::default();
        let start = Utc::now();
        let at = |n: i64| start + chrono::TimeDelta::seconds(n);
        for n in 0..1_000 {
            assert_eq!(state.remember(format!("c-{n}"), known(at(n)), 1_000), 0);
        }
        // One more: down to nine tenths, the newest kept (the one just learned among them).
        assert_eq!(
            state.remember("c-1000".into(), known(at(1_000)), 1_000),
            101
        );
        assert_eq!(state.known.len(), 900);
        assert!((101..=1_000).all(|n| state.known.contains_key(&format!("c-{n}"))));
    }
}
