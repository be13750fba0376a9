//! The queue of owed deliveries: ready now, or delayed until a retry is due. Shared by the
//! intake (new events), the batch (alerts), recovery (what the journal says is owed) and
//! the forwarder workers.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::domain::delivery::Pending;
use crate::telemetry::metrics::Metrics;

#[derive(Default)]
struct QueueState {
    items: HashMap<String, Pending>,
    ready: VecDeque<String>,
    delayed: BinaryHeap<Reverse<(Instant, u64, String)>>,
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
}

impl std::fmt::Debug for DeliveryQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DeliveryQueue({} owed)", self.len())
    }
}

fn instant_for(at: Option<DateTime<Utc>>) -> Instant {
    let now = Instant::now();
    match at {
        Some(t) => now + (t - Utc::now()).to_std().unwrap_or(Duration::ZERO),
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
        }
    }

    /// A queue for a daemon that does not forward (no `coaching.url`): it only counts.
    pub fn counting_only(metrics: Metrics) -> DeliveryQueue {
        DeliveryQueue {
            enabled: false,
            ..DeliveryQueue::new(metrics)
        }
    }

    /// Adds an owed event (due at its `next_attempt`, or now). An id already queued is kept
    /// as it is.
    pub fn push(&self, pending: Pending) {
        if !self.enabled {
            self.metrics.pending_deliveries.inc();
            return;
        }
        let id = pending.event.event_id().to_owned();
        let due = pending.next_attempt;
        {
            let mut s = self.state.lock().expect("queue lock");
            if s.items.contains_key(&id) {
                return;
            }
            s.items.insert(id.clone(), pending);
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

    /// Changes a queued (not yet delivered) event in place; `false` when it is not queued.
    pub fn amend(&self, id: &str, change: impl FnOnce(&mut Pending)) -> bool {
        let mut s = self.state.lock().expect("queue lock");
        match s.items.get_mut(id) {
            Some(p) => {
                change(p);
                true
            }
            None => false,
        }
    }

    /// Events owed.
    pub fn len(&self) -> usize {
        if !self.enabled {
            return usize::try_from(self.metrics.pending_deliveries.get()).unwrap_or(0);
        }
        self.state.lock().expect("queue lock").items.len()
    }

    /// Whether nothing is owed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The next due event, or when the next one falls due.
    pub(super) fn take(&self) -> Result<Pending, Option<Instant>> {
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

    pub(super) fn retry_at(&self, id: &str, at: Instant, attempts: u32) {
        let mut s = self.state.lock().expect("queue lock");
        if let Some(p) = s.items.get_mut(id) {
            p.attempts = attempts;
            s.tiebreak += 1;
            let t = s.tiebreak;
            s.delayed.push(Reverse((at, t, id.to_owned())));
        }
    }

    pub(super) fn done(&self, id: &str) {
        let mut s = self.state.lock().expect("queue lock");
        s.items.remove(id);
        self.metrics.pending_deliveries.set(s.items.len() as i64);
    }
}
