//! The queue of owed deliveries: ready now, or delayed until a retry is due. Shared by the
//! intake (new events), the batch (alerts), recovery (what the journal says is owed) and
//! the forwarder workers.
//!
//! It holds the content of at most [`DeliveryQueue::holding`] events in memory (new ones,
//! which usually go out at once); beyond that it keeps only where each event's record lies
//! in the journal, and the forwarder reads it back when it sends. An outage therefore costs
//! about a hundred bytes of memory per owed event, not the event itself.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::domain::delivery::{Body, Owed, Pending};
use crate::domain::events::{Attributed, key_digest};
use crate::telemetry::metrics::Metrics;

#[derive(Default)]
struct QueueState {
    /// By the [`key_digest`] of the event id (16 bytes, not a string, per owed event).
    items: HashMap<u128, Owed>,
    /// Items whose event is held in memory.
    held: usize,
    ready: VecDeque<u128>,
    delayed: BinaryHeap<Reverse<(Instant, u64, u128)>>,
    tiebreak: u64,
}

/// The queue of owed deliveries, shared by the intake (new events), the batch (alerts),
/// recovery (what the journal says is owed) and the forwarder workers.
#[derive(Clone)]
pub struct DeliveryQueue {
    state: Arc<Mutex<QueueState>>,
    pub(super) notify: Arc<Notify>,
    metrics: Metrics,
    /// False when forwarding is off: owed events are only counted (the journal keeps them
    /// for the next start), not held in memory.
    enabled: bool,
    /// Events whose content is held in memory at most.
    hold_up_to: usize,
}

/// Events held in memory in full at most, by default (`coaching.owed_in_memory`).
pub const HOLD_UP_TO: usize = 10_000;

impl std::fmt::Debug for DeliveryQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DeliveryQueue({} owed)", self.len())
    }
}

fn instant_for(at: Option<DateTime<Utc>>) -> Instant {
    let now = Instant::now();
    match at {
        Some(t) => {
            let wait = (t - Utc::now()).to_std().unwrap_or(Duration::ZERO);
            // A far-off time from the journal cannot overflow the clock.
            now.checked_add(wait.min(Duration::from_secs(366 * 86_400)))
                .unwrap_or(now)
        }
        None => now,
    }
}

impl DeliveryQueue {
    /// An empty queue.
    pub fn new(metrics: Metrics) -> DeliveryQueue {
        DeliveryQueue {
            state: Arc::default(),
            notify: Arc::new(Notify::new()),
            metrics,
            enabled: true,
            hold_up_to: HOLD_UP_TO,
        }
    }

    /// The same queue, holding at most `events` in memory in full.
    #[must_use]
    pub fn holding(mut self, events: usize) -> DeliveryQueue {
        self.hold_up_to = events;
        self
    }

    /// Stops sending `id` (another replica has taken it over); an attempt already in flight
    /// finishes.
    pub fn withdraw(&self, id: &str) {
        self.done(id);
    }

    /// Whether owed events are sent from this queue (false: forwarding is off).
    pub fn forwarding(&self) -> bool {
        self.enabled
    }

    /// A queue for a daemon that does not forward (no `coaching.url`): it only counts.
    pub fn counting_only(metrics: Metrics) -> DeliveryQueue {
        DeliveryQueue {
            enabled: false,
            ..DeliveryQueue::new(metrics)
        }
    }

    /// Adds an owed event (due at its `next_attempt`, or now), held in memory while fewer
    /// than [`DeliveryQueue::holding`] are. An id already queued is kept as it is.
    pub fn push(&self, pending: Pending) {
        if !self.enabled {
            self.metrics.pending_deliveries.inc();
            return;
        }
        let hold = {
            let s = self.state.lock().expect("queue lock");
            s.held < self.hold_up_to
        };
        self.push_owed(Owed::from_pending(pending, hold));
    }

    /// Adds an owed event as recovery or [`DeliveryQueue::push`] made it.
    pub fn push_owed(&self, owed: Owed) {
        if !self.enabled {
            self.metrics.pending_deliveries.inc();
            return;
        }
        let id = key_digest(&owed.event_id);
        let due = owed.next_attempt;
        {
            let mut s = self.state.lock().expect("queue lock");
            if s.items.contains_key(&id) {
                return;
            }
            if matches!(owed.body, Body::Held(_)) {
                s.held += 1;
            }
            s.items.insert(id, owed);
            match due {
                Some(_) => {
                    s.tiebreak += 1;
                    let t = s.tiebreak;
                    s.delayed.push(Reverse((instant_for(due), t, id)));
                }
                None => s.ready.push_back(id),
            }
            self.metrics.pending_deliveries.set(s.items.len() as i64);
        }
        self.notify.notify_one();
    }

    /// Applies an attribution decision to a queued (not yet delivered) event; `false` when
    /// it is not queued.
    pub fn attribute(&self, id: &str, decision: &Attributed) -> bool {
        let mut s = self.state.lock().expect("queue lock");
        match s.items.get_mut(&key_digest(id)) {
            Some(p) => {
                p.body.attribute(decision);
                true
            }
            None => false,
        }
    }

    /// Events whose content is held in memory.
    pub fn held(&self) -> usize {
        self.state.lock().expect("queue lock").held
    }

    /// Events owed.
    pub fn len(&self) -> usize {
        if !self.enabled {
            return usize::try_from(self.metrics.pending_deliveries.get()).unwrap_or(0);
        }
        self.state.lock().expect("queue lock").items.len()
    }

    /// When the oldest owed event was accepted (or replayed), if any is owed here. A scan
    /// of what is owed: called once per metrics scrape, not per event.
    pub fn oldest_since(&self) -> Option<DateTime<Utc>> {
        let s = self.state.lock().expect("queue lock");
        s.items.values().map(|o| o.since).min()
    }

    /// Whether nothing is owed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The next due event, or when the next one falls due.
    pub(super) fn take(&self) -> Result<Owed, Option<Instant>> {
        let mut s = self.state.lock().expect("queue lock");
        let now = Instant::now();
        while let Some(Reverse((due, _, _))) = s.delayed.peek() {
            if *due > now {
                break;
            }
            let Reverse((_, _, id)) = s.delayed.pop().expect("peeked");
            s.ready.push_back(id);
        }
        while let Some(id) = s.ready.pop_front() {
            if let Some(p) = s.items.get(&id) {
                return Ok(p.clone());
            }
        }
        Err(s.delayed.peek().map(|Reverse((due, _, _))| *due))
    }

    /// Whether an event is due now (ready, or delayed past its time).
    pub fn has_due(&self) -> bool {
        let s = self.state.lock().expect("queue lock");
        !s.ready.is_empty()
            || s.delayed
                .peek()
                .is_some_and(|Reverse((due, _, _))| *due <= Instant::now())
    }

    pub(super) fn retry_at(&self, id: &str, at: Instant, attempts: u32) {
        let key = key_digest(id);
        let mut s = self.state.lock().expect("queue lock");
        if let Some(p) = s.items.get_mut(&key) {
            p.attempts = attempts;
            s.tiebreak += 1;
            let t = s.tiebreak;
            s.delayed.push(Reverse((at, t, key)));
        }
    }

    pub(super) fn done(&self, id: &str) {
        let mut s = self.state.lock().expect("queue lock");
        if let Some(owed) = s.items.remove(&key_digest(id))
            && matches!(owed.body, Body::Held(_))
        {
            s.held -= 1;
        }
        self.metrics.pending_deliveries.set(s.items.len() as i64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::delivery::{Deliverable, Location};

    fn owed_score(i: u32) -> Pending {
        let mut event = crate::domain::delivery::tests::score(Some("a-1"), None);
        event.event_id = format!("e-{i}");
        Pending {
            event: Deliverable::Sentiment(event),
            attempts: 0,
            since: Utc::now(),
            next_attempt: None,
            seq: u64::from(i),
            at: Some(Location {
                segment: 1,
                offset: u64::from(i) * 100,
                len: 99,
            }),
            amended: false,
        }
    }

    #[test]
    fn only_the_first_events_up_to_the_bound_are_held_in_memory() {
        let queue = DeliveryQueue::new(Metrics::new()).holding(3);
        for i in 0..10 {
            queue.push(owed_score(i));
        }
        assert_eq!((queue.len(), queue.held()), (10, 3));
        // Taken in order; the fourth is read back from where its record lies.
        let mut taken = vec![];
        while let Ok(o) = queue.take() {
            taken.push(o.event_id.clone());
            let held = matches!(o.body, Body::Held(_));
            assert_eq!(held, o.seq < 3, "{o:?}");
            queue.done(&o.event_id);
        }
        assert_eq!(taken.len(), 10);
        assert_eq!(taken[3], "e-3");
        assert_eq!((queue.len(), queue.held()), (0, 0));
        // Room again: a new event is held.
        queue.push(owed_score(11));
        assert_eq!(queue.held(), 1);
    }
}
