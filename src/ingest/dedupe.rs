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
use crate::domain::events::{Seen, forget_up_to};

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
    /// `journal.dedupe_max_keys` over the shards.
    max: usize,
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

    /// Reserves `key`; returns how many stored keys it forgot to stay under its bound.
    fn reserve(&mut self, key: u128, now: DateTime<Utc>) -> usize {
        self.slots.insert(key, Slot::Writing);
        self.inserts_since_prune += 1;
        let full = self.slots.len() > self.max;
        if !full && self.inserts_since_prune < 50_000 / SHARDS as u64 {
            return 0;
        }
        self.inserts_since_prune = 0;
        let window = self.window;
        self.slots.retain(|_, s| match s {
            Slot::Writing => true,
            Slot::Stored(seen) => now - seen.at <= window,
        });
        if self.slots.len() <= self.max {
            return 0;
        }
        // Still over the bound inside the window: forget the oldest stored keys, down to
        // nine tenths of it, so this O(n) pass comes back only after many inserts.
        let before = self.slots.len();
        let keep = self.max - self.max / 10;
        let stored = self.slots.values().filter_map(|s| match s {
            Slot::Stored(seen) => Some(seen.at),
            Slot::Writing => None,
        });
        let Some(cutoff) = forget_up_to(stored.collect(), before - keep) else {
            return 0;
        };
        self.slots.retain(|_, s| match s {
            Slot::Writing => true,
            Slot::Stored(seen) => seen.at > cutoff,
        });
        before - self.slots.len()
    }
}

/// The dedupe set, sharded by key digest.
#[derive(Debug)]
pub struct Dedupe {
    shards: Vec<Mutex<Shard>>,
    /// Keys forgotten (oldest first) because the set was full.
    evicted: std::sync::atomic::AtomicU64,
}

fn shard_of(digest: u128) -> usize {
    (digest % SHARDS as u128) as usize
}

impl Dedupe {
    /// A set seeded from recovery, holding at most about `max_keys` keys (the oldest are
    /// forgotten first).
    pub fn new(seen: HashMap<u128, Seen>, window: std::time::Duration, max_keys: usize) -> Dedupe {
        let window = TimeDelta::from_std(window).unwrap_or(TimeDelta::MAX);
        let max = max_keys.div_ceil(SHARDS).max(1);
        let mut shards: Vec<Shard> = (0..SHARDS)
            .map(|_| Shard {
                slots: HashMap::new(),
                window,
                inserts_since_prune: 0,
                max,
            })
            .collect();
        for (k, s) in seen {
            shards[shard_of(k)].slots.insert(k, Slot::Stored(s));
        }
        Dedupe {
            shards: shards.into_iter().map(Mutex::new).collect(),
            evicted: Default::default(),
        }
    }

    /// Keys forgotten so far because the set was full (not those past the window).
    pub fn evicted(&self) -> u64 {
        self.evicted.load(std::sync::atomic::Ordering::Relaxed)
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

    /// Whether an accepted event inside the window holds this key digest (a repeat of it
    /// would be answered as a duplicate).
    pub fn holds(&self, key: u128, now: DateTime<Utc>) -> bool {
        let shard = self.shards[shard_of(key)].lock().expect("dedupe shard");
        matches!(shard.check(key, now), Err(Outcome::Duplicate(_)))
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
        let mut evicted = 0;
        for k in keys {
            evicted += guards[position(*k)].1.reserve(*k, now);
        }
        drop(guards);
        if evicted > 0 {
            let total = self
                .evicted
                .fetch_add(evicted as u64, std::sync::atomic::Ordering::Relaxed)
                + evicted as u64;
            tracing::warn!(
                forgotten = evicted,
                forgotten_total = total,
                "Dedupe set full (journal.dedupe_max_keys): the oldest keys were forgotten; a repeat of one is accepted again."
            );
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

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(n: u128, at: DateTime<Utc>) -> Seen {
        Seen { event: n, at }
    }

    #[test]
    fn holds_means_a_repeat_would_be_a_duplicate() {
        let set = Dedupe::new(HashMap::new(), std::time::Duration::from_secs(60), 1_000);
        let now = Utc::now();
        set.reserve(&[1], now).unwrap();
        assert!(!set.holds(1, now), "being written is not yet held");
        set.settle(&[1], Some(seen(1, now)));
        assert!(set.holds(1, now));
        assert!(
            !set.holds(1, now + TimeDelta::seconds(61)),
            "past the window"
        );
        assert!(!set.holds(2, now));
    }

    #[test]
    fn the_set_stays_near_its_bound_and_forgets_the_oldest_first() {
        let set = Dedupe::new(
            HashMap::new(),
            std::time::Duration::from_secs(86_400),
            1_000,
        );
        let start = Utc::now();
        for n in 0..20_000u128 {
            // A key digest spread over the shards, as a hash is.
            let key = n.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835);
            let at = start + TimeDelta::milliseconds(i64::try_from(n).unwrap());
            set.reserve(&[key], at).unwrap();
            set.settle(&[key], Some(seen(n, at)));
        }
        // Each of the 32 shards holds at most its share (32) plus the insert that tipped it.
        assert!(set.len() <= 1_000 + SHARDS, "{}", set.len());
        assert!(set.len() >= 800, "{}", set.len());
        assert_eq!(set.evicted(), 20_000 - set.len() as u64);
        let key = |n: u128| n.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835);
        assert!(set.stored(key(19_999)).is_some(), "the newest is kept");
        assert!(set.stored(key(0)).is_none(), "the oldest is gone");
        // A write in flight is never forgotten, even in a full shard.
        let busy = key(50_000);
        set.reserve(&[busy], start).unwrap();
        for n in 20_000..22_000u128 {
            let at = start + TimeDelta::milliseconds(i64::try_from(n).unwrap());
            set.reserve(&[key(n)], at).unwrap();
            set.settle(&[key(n)], Some(seen(n, at)));
        }
        assert_eq!(
            set.reserve(&[busy], start),
            Err(Outcome::InProgress),
            "still reserved"
        );
    }
}
