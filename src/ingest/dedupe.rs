//! The dedupe set: accepted events by the digest of each of their dedupe keys, plus
//! reservations for writes in flight.
//!
//! A repeat of an accepted event — same `webhook-id` (or EventBridge id), or same
//! conversation and event kind — within the dedupe window is answered as a duplicate and
//! writes nothing. An identical event still being written is answered "in progress" (the
//! sender retries), never "duplicate", so nothing is acknowledged that might not be stored.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, TimeDelta, Utc};

use super::intake::Outcome;
use crate::domain::events::Seen;

#[derive(Debug, Clone, Copy)]
enum Slot {
    Writing,
    Stored(Seen),
}

/// Shards of the dedupe set: each has its own lock, so a growing map (it holds every event
/// of the dedupe window) resizes one small shard at a time instead of stalling every request.
const SHARDS: usize = 32;

/// One shard: accepted events by key digest, plus reservations for writes in flight.
#[derive(Debug)]
struct Shard {
    slots: HashMap<u128, Slot>,
    window: TimeDelta,
    inserts_since_prune: u64,
}

impl Shard {
    fn check(&self, key: u128, now: DateTime<Utc>) -> Result<(), Outcome> {
        match self.slots.get(&key) {
            Some(Slot::Stored(seen)) if now - seen.at <= self.window => {
                Err(Outcome::Duplicate(seen.event_id()))
            }
            Some(Slot::Writing) => Err(Outcome::InProgress),
            _ => Ok(()),
        }
    }

    fn reserve(&mut self, key: u128, now: DateTime<Utc>) {
        self.slots.insert(key, Slot::Writing);
        self.inserts_since_prune += 1;
        if self.inserts_since_prune >= 50_000 / SHARDS as u64 {
            self.inserts_since_prune = 0;
            let window = self.window;
            self.slots.retain(|_, s| match s {
                Slot::Writing => true,
                Slot::Stored(seen) => now - seen.at <= window,
            });
        }
    }
}

/// The dedupe set, sharded by key digest.
#[derive(Debug)]
pub struct Dedupe {
    shards: Vec<Mutex<Shard>>,
}

fn shard_of(digest: u128) -> usize {
    (digest % SHARDS as u128) as usize
}

impl Dedupe {
    /// A set seeded from recovery.
    pub fn new(seen: HashMap<u128, Seen>, window: std::time::Duration) -> Dedupe {
        let window = TimeDelta::from_std(window).unwrap_or(TimeDelta::MAX);
        let mut shards: Vec<Shard> = (0..SHARDS)
            .map(|_| Shard {
                slots: HashMap::new(),
                window,
                inserts_since_prune: 0,
            })
            .collect();
        for (k, s) in seen {
            shards[shard_of(k)].slots.insert(k, Slot::Stored(s));
        }
        Dedupe {
            shards: shards.into_iter().map(Mutex::new).collect(),
        }
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().expect("dedupe shard").slots.len())
            .sum()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The accepted event stored under this key digest, if any (in the window or not).
    pub fn stored(&self, key: u128) -> Option<Seen> {
        match self.shards[shard_of(key)]
            .lock()
            .expect("dedupe shard")
            .slots
            .get(&key)
        {
            Some(Slot::Stored(seen)) => Some(*seen),
            _ => None,
        }
    }

    /// Reserves every key of an event, or says why not (a duplicate, or one in flight).
    /// The shards involved are locked together, in index order, so two requests for the
    /// same event cannot both pass.
    pub(super) fn reserve(&self, keys: &[u128], now: DateTime<Utc>) -> Result<(), Outcome> {
        let mut indexes: Vec<usize> = keys.iter().map(|k| shard_of(*k)).collect();
        indexes.sort_unstable();
        indexes.dedup();
        let mut guards: Vec<(usize, std::sync::MutexGuard<'_, Shard>)> = indexes
            .iter()
            .map(|i| (*i, self.shards[*i].lock().expect("dedupe shard")))
            .collect();
        let position = |key: u128| indexes.binary_search(&shard_of(key)).expect("locked above");
        for k in keys {
            guards[position(*k)].1.check(*k, now)?;
        }
        for k in keys {
            guards[position(*k)].1.reserve(*k, now);
        }
        Ok(())
    }

    /// Records the result of a reserved write: stored (with what) or not.
    pub(super) fn settle(&self, keys: &[u128], stored: Option<Seen>) {
        for k in keys {
            let mut shard = self.shards[shard_of(*k)].lock().expect("dedupe shard");
            match stored {
                Some(seen) => {
                    shard.slots.insert(*k, Slot::Stored(seen));
                }
                None => {
                    shard.slots.remove(k);
                }
            }
        }
    }
}
