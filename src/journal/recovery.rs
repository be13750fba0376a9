//! What start-up recovery rebuilds from the journal: deliveries still owed, dead letters,
//! conversation-end events still waiting for a score, the dedupe set, and which coaching
//! recommendations were already issued. The journal is the outbox: nothing here exists
//! anywhere else after a restart.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use super::codec::Record;
use crate::domain::delivery::{Body, DeadLetter, Location, Owed};
use crate::domain::events::{
    AttributionEvent, BatchRun, Checkpoint, ConversationEnded, Entry, Seen, compact_id,
    forget_up_to, key_digest,
};

/// How long a coaching recommendation id is remembered (longer than any report window a
/// re-run could issue it for again).
pub const RECOMMENDATION_HORIZON: TimeDelta = TimeDelta::days(120);

/// The rebuilt state.
#[derive(Debug, Default, Clone)]
pub struct JournalState {
    /// Records read.
    pub records: u64,
    /// Deliveries owed, by the [`key_digest`] of their event id (their content stays in
    /// the journal).
    pub pending: HashMap<u128, Owed>,
    /// Dead letters, by event id.
    pub dead_letters: HashMap<String, DeadLetter>,
    /// Conversation-end (and attribution) events waiting for their score, by conversation.
    pub enrichment: HashMap<String, (DateTime<Utc>, ConversationEnded)>,
    /// The latest attribution event per conversation, with when it was accepted.
    pub attributions: HashMap<String, (DateTime<Utc>, AttributionEvent)>,
    /// Accepted events by dedupe-key digest.
    pub dedupe: HashMap<u128, Seen>,
    /// Coaching recommendation ids already issued.
    pub recommendations: HashMap<String, DateTime<Utc>>,
    /// The latest recommendation time per agent (cool-down).
    pub last_recommendation: HashMap<String, DateTime<Utc>>,
    /// Recent batch runs (newest last).
    pub batch_runs: Vec<(DateTime<Utc>, String, BatchRun)>,
    /// Deliveries completed.
    pub delivered: u64,
    /// Bytes cut from a torn tail at start-up.
    pub truncated_bytes: u64,
}

/// A summary for logs and `/readyz`-style diagnostics.
#[derive(Debug, Clone, Serialize)]
pub struct StateSummary {
    /// Records read.
    pub records: u64,
    /// Deliveries owed.
    pub pending: usize,
    /// Dead letters.
    pub dead_letters: usize,
    /// Conversation-end events waiting for a score.
    pub enrichment: usize,
    /// Dedupe entries kept.
    pub dedupe: usize,
}

impl JournalState {
    /// Applies one record, which lies in the journal at `at`.
    pub fn apply(&mut self, r: Record, at: Location) {
        self.records += 1;
        let (time, seq) = (r.time, r.seq);
        let body = Body::Journal { at, overlay: None };
        match r.entry {
            Entry::WebhookReceived(e) | Entry::SentimentFetched(e) => {
                self.enrichment.remove(&e.conversation_id);
                self.remember(&e.keys(), &e.event_id, time);
                self.owe(e.event_id, body, time, seq);
            }
            Entry::ConversationEndReceived(e) => {
                self.remember(&e.dedupe_keys, &e.event_id, time);
                self.enrichment
                    .entry(e.conversation_id.clone())
                    .or_insert((time, e));
            }
            Entry::AttributionReceived(e) => {
                self.remember(&e.dedupe_keys, &e.event_id, time);
                let scored = self.score_stored(&e.conversation_id);
                if !scored {
                    self.enrichment
                        .entry(e.conversation_id.clone())
                        .or_insert_with(|| {
                            let ended = ConversationEnded {
                                event_id: e.event_id.clone(),
                                dedupe_keys: vec![],
                                conversation_id: e.conversation_id.clone(),
                                agent_id: e.agent_id.clone(),
                                queue_id: e.queue_id.clone(),
                                topic: e.topic.clone(),
                                occurred_at: e.occurred_at,
                            };
                            (time, ended)
                        });
                }
                let outranked = self
                    .attributions
                    .get(&e.conversation_id)
                    .is_some_and(|(_, known)| known.rank() > e.rank());
                if e.agent_id.is_some() && !outranked {
                    self.attributions
                        .insert(e.conversation_id.clone(), (time, e));
                }
            }
            Entry::Attributed(a) => {
                if let Some(p) = self.pending.get_mut(&key_digest(&a.event_id)) {
                    p.body.attribute(&a);
                }
            }
            Entry::EnrichmentFailed(f) => {
                self.enrichment.remove(&f.conversation_id);
            }
            Entry::CoachingRecommendation(rec) => {
                self.recommendations.insert(rec.event_id.clone(), time);
                let last = self
                    .last_recommendation
                    .entry(rec.agent_id.clone())
                    .or_insert(time);
                *last = (*last).max(time);
                self.owe(rec.event_id, body, time, seq);
            }
            Entry::Delivered(o) => {
                self.pending.remove(&key_digest(&o.event_id));
                self.dead_letters.remove(&o.event_id);
                self.delivered += 1;
            }
            Entry::DeliveredBatch(b) => {
                for crate::domain::events::Acked(id, _, _) in &b.deliveries {
                    self.pending.remove(&key_digest(id));
                    self.dead_letters.remove(id);
                    self.delivered += 1;
                }
            }
            Entry::DeliveryFailed(o) => {
                if let Some(p) = self.pending.get_mut(&key_digest(&o.event_id)) {
                    p.attempts = p.attempts.max(o.attempt);
                    p.next_attempt = o.retry_at;
                }
            }
            Entry::DeadLettered(o) => {
                if let Some(p) = self.pending.remove(&key_digest(&o.event_id)) {
                    self.dead_letters.insert(
                        o.event_id.clone(),
                        DeadLetter {
                            body: p.body,
                            outcome: o,
                        },
                    );
                }
            }
            Entry::ReplayRequested(req) => {
                if let Some(d) = self.dead_letters.remove(&req.event_id) {
                    self.owe(req.event_id, d.body, time, seq);
                }
            }
            Entry::BatchRun(run) => {
                self.batch_runs.push((time, r.outcome, run));
                if self.batch_runs.len() > 1000 {
                    self.batch_runs.drain(..500);
                }
            }
            Entry::JournalRecovered(_) => {}
            Entry::Checkpoint(c) => {
                // The state as of this record (which counts too).
                let truncated = self.truncated_bytes;
                *self = JournalState::from_checkpoint(*c);
                self.records += 1;
                self.truncated_bytes = truncated;
            }
        }
    }

    fn owe(&mut self, event_id: String, body: Body, since: DateTime<Utc>, seq: u64) {
        self.pending.insert(
            key_digest(&event_id),
            Owed {
                event_id,
                body,
                attempts: 0,
                since,
                next_attempt: None,
                seq,
            },
        );
    }

    /// The oldest segment an owed delivery or a dead letter is read back from: retention
    /// keeps it and every later one.
    pub fn oldest_segment_owed(&self) -> Option<u64> {
        self.pending
            .values()
            .map(|p| &p.body)
            .chain(self.dead_letters.values().map(|d| &d.body))
            .filter_map(crate::domain::delivery::Body::segment)
            .min()
    }

    fn remember(&mut self, keys: &[String], event_id: &str, at: DateTime<Utc>) {
        for k in keys {
            self.dedupe.insert(
                key_digest(k),
                Seen {
                    event: compact_id(event_id),
                    at,
                },
            );
        }
    }

    fn score_stored(&self, conversation_id: &str) -> bool {
        self.dedupe
            .contains_key(&key_digest(&format!("conv:{conversation_id}:sentiment")))
    }

    /// The state as a checkpoint record's content (dedupe keys and attribution events older
    /// than `window` before `now` left out: they can no longer match anything).
    pub fn checkpoint(&self, now: DateTime<Utc>, window: std::time::Duration) -> Checkpoint {
        let window = TimeDelta::from_std(window).unwrap_or(TimeDelta::MAX);
        let mut pending: Vec<_> = self.pending.values().cloned().collect();
        pending.sort_by_key(|p| p.seq);
        let mut dead_letters: Vec<_> = self.dead_letters.values().cloned().collect();
        dead_letters.sort_by(|a, b| a.outcome.event_id.cmp(&b.outcome.event_id));
        let mut dedupe: Vec<_> = self
            .dedupe
            .iter()
            .filter(|(_, s)| now - s.at <= window)
            .map(|(k, s)| (format!("{k:032x}"), s.event_id(), s.at))
            .collect();
        dedupe.sort();
        let sorted = |m: &HashMap<String, DateTime<Utc>>| {
            let mut v: Vec<_> = m.iter().map(|(k, t)| (k.clone(), *t)).collect();
            v.sort();
            v
        };
        let mut enrichment: Vec<_> = self.enrichment.values().cloned().collect();
        enrichment.sort_by(|a, b| (a.0, &a.1.conversation_id).cmp(&(b.0, &b.1.conversation_id)));
        let mut attributions: Vec<_> = self
            .attributions
            .values()
            .filter(|(at, _)| now - *at <= window)
            .cloned()
            .collect();
        attributions.sort_by(|a, b| (a.0, &a.1.conversation_id).cmp(&(b.0, &b.1.conversation_id)));
        Checkpoint {
            records: self.records,
            delivered: self.delivered,
            pending,
            dead_letters,
            enrichment,
            attributions,
            dedupe,
            recommendations: sorted(&self.recommendations),
            last_recommendation: sorted(&self.last_recommendation),
            batch_runs: self.batch_runs.clone(),
        }
    }

    /// The state a checkpoint holds.
    pub fn from_checkpoint(c: Checkpoint) -> JournalState {
        JournalState {
            records: c.records,
            delivered: c.delivered,
            pending: c
                .pending
                .into_iter()
                .map(|p| (key_digest(&p.event_id), p))
                .collect(),
            dead_letters: c
                .dead_letters
                .into_iter()
                .map(|d| (d.outcome.event_id.clone(), d))
                .collect(),
            enrichment: c
                .enrichment
                .into_iter()
                .map(|(t, e)| (e.conversation_id.clone(), (t, e)))
                .collect(),
            attributions: c
                .attributions
                .into_iter()
                .map(|(t, e)| (e.conversation_id.clone(), (t, e)))
                .collect(),
            dedupe: c
                .dedupe
                .into_iter()
                .filter_map(|(k, id, at)| {
                    Some((
                        u128::from_str_radix(&k, 16).ok()?,
                        Seen {
                            event: compact_id(&id),
                            at,
                        },
                    ))
                })
                .collect(),
            recommendations: c.recommendations.into_iter().collect(),
            last_recommendation: c.last_recommendation.into_iter().collect(),
            batch_runs: c.batch_runs,
            truncated_bytes: 0,
        }
    }

    /// Drops dedupe entries and attribution events older than `window` before `now`, then
    /// the oldest dedupe entries past `max_keys` (and the oldest attribution events past
    /// it), and recommendation ids older than
    /// [`RECOMMENDATION_HORIZON`] (their windows are long past; the per-agent cool-down is
    /// kept).
    pub fn prune_dedupe(
        &mut self,
        now: DateTime<Utc>,
        window: std::time::Duration,
        max_keys: usize,
    ) {
        let window = TimeDelta::from_std(window).unwrap_or(TimeDelta::MAX);
        self.dedupe.retain(|_, s| now - s.at <= window);
        let times = || self.dedupe.values().map(|s| s.at).collect();
        if let Some(cutoff) = (self.dedupe.len() > max_keys)
            .then(times)
            .and_then(|t| forget_up_to(t, self.dedupe.len() - max_keys))
        {
            self.dedupe.retain(|_, s| s.at > cutoff);
        }
        self.attributions.retain(|_, (at, _)| now - *at <= window);
        // The same bound for attribution events (each is an accepted event with its key).
        let times = || self.attributions.values().map(|(at, _)| *at).collect();
        if let Some(cutoff) = (self.attributions.len() > max_keys)
            .then(times)
            .and_then(|t| forget_up_to(t, self.attributions.len() - max_keys))
        {
            self.attributions.retain(|_, (at, _)| *at > cutoff);
        }
        let horizon = window.max(RECOMMENDATION_HORIZON);
        self.recommendations.retain(|_, at| now - *at <= horizon);
    }

    /// Deliveries owed, oldest first (the state gives them up).
    pub fn take_pending_in_order(&mut self) -> Vec<Owed> {
        let mut v: Vec<Owed> = std::mem::take(&mut self.pending).into_values().collect();
        v.sort_by_key(|p| p.seq);
        v
    }

    /// Counts for logs.
    pub fn summary(&self) -> StateSummary {
        StateSummary {
            records: self.records,
            pending: self.pending.len(),
            dead_letters: self.dead_letters.len(),
            enrichment: self.enrichment.len(),
            dedupe: self.dedupe.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pruning_keeps_the_newest_dedupe_keys_up_to_the_bound() {
        let mut state = JournalState::default();
        let now = Utc::now();
        for n in 0..5_000u128 {
            let at = now - TimeDelta::seconds(5_000 - i64::try_from(n).unwrap());
            state.dedupe.insert(n, Seen { event: n, at });
        }
        // One key past the window too.
        state.dedupe.insert(
            9_999_999,
            Seen {
                event: 1,
                at: now - TimeDelta::days(30),
            },
        );
        state.prune_dedupe(now, std::time::Duration::from_secs(86_400), 1_000);
        assert_eq!(state.dedupe.len(), 1_000);
        assert!(
            (4_000..5_000).all(|n| state.dedupe.contains_key(&n)),
            "the newest thousand"
        );
        // Under the bound, only the window prunes.
        state.prune_dedupe(now, std::time::Duration::from_secs(86_400), 1_000_000);
        assert_eq!(state.dedupe.len(), 1_000);
    }

    #[test]
    fn pruning_keeps_the_newest_attribution_events_up_to_the_bound() {
        let mut state = JournalState::default();
        let now = Utc::now();
        for n in 0..5_000i64 {
            let at = now - TimeDelta::seconds(5_000 - n);
            let event = AttributionEvent {
                event_id: format!("evt_{n:024x}"),
                dedupe_keys: vec![],
                conversation_id: format!("c-{n}"),
                agent_id: Some("agent".into()),
                queue_id: None,
                source: crate::domain::events::AttributionSource::Acw,
                topic: "t".into(),
                occurred_at: at,
            };
            state.attributions.insert(format!("c-{n}"), (at, event));
        }
        state.prune_dedupe(now, std::time::Duration::from_secs(86_400), 1_000);
        assert_eq!(state.attributions.len(), 1_000);
        assert!(
            (4_000..5_000).all(|n| state.attributions.contains_key(&format!("c-{n}"))),
            "the newest thousand"
        );
    }

    #[test]
    fn recovery_keeps_the_agent_who_wrapped_up_last_whatever_the_journal_order() {
        use crate::domain::events::AttributionSource;
        let t0 = Utc::now() - TimeDelta::minutes(30);
        let event = |agent: &str, source, minutes: i64| AttributionEvent {
            event_id: format!("evt-{agent}"),
            dedupe_keys: vec![format!("conv:c-1:acw:{agent}")],
            conversation_id: "c-1".into(),
            agent_id: Some(agent.into()),
            queue_id: None,
            source,
            topic: "t".into(),
            occurred_at: t0 + TimeDelta::minutes(minutes),
        };
        let mut state = JournalState::default();
        for (seq, e) in [
            event("after-transfer", AttributionSource::Acw, 10),
            event("before-transfer", AttributionSource::Acw, 2),
            event("leg-ended-later", AttributionSource::UserEnd, 20),
        ]
        .into_iter()
        .enumerate()
        {
            let record = crate::journal::codec::Record {
                seq: seq as u64 + 1,
                time: Utc::now(),
                prev_hash: String::new(),
                source: "s".into(),
                outcome: "accepted".into(),
                entry: Entry::AttributionReceived(e),
                hash: String::new(),
            };
            state.apply(record, Default::default());
        }
        let (_, kept) = &state.attributions["c-1"];
        assert_eq!(kept.agent_id.as_deref(), Some("after-transfer"));
    }
}
