//! The journal shared by replicas, in PostgreSQL (`store.url = "postgres://…"`; the tables
//! are the store's migration 3).
//!
//! - [`Shared::append`] writes the record, its dedupe keys and what it changes in the outbox
//!   in one transaction, with `synchronous_commit = on`: it returns once the commit is
//!   durable, as the file journal returns once its fsync is done. A dedupe key already taken
//!   inside `journal.dedupe_window` (by any replica) is refused by the key's primary key and
//!   the whole transaction is rolled back ([`JournalError::Duplicate`]).
//! - Records are committed unsealed. [`Shared::seal`] (any replica, one at a time under an
//!   advisory lock) links committed records in the order it finds them: the next `seq`, the
//!   previous record's hash, and the exact JSONL line the file journal would hold. Appends
//!   never wait for a global lock; [`verify`] checks the sealed chain and names the first
//!   bad `seq`.
//! - Owed deliveries are outbox rows claimed by one replica at a time (`claimed_by`, renewed
//!   until `claimed_until`). A replica that dies stops renewing; another claims its rows
//!   (`FOR UPDATE SKIP LOCKED`) once the claim has run out, reads the events back from the
//!   journal and sends them under the same `webhook-id`.
//!
//! Times in these tables are Unix microseconds.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::{Executor, Row};

use super::codec::{self, Draft, GENESIS};
use super::read::deliverable;
use super::recovery::{JournalState, RECOMMENDATION_HORIZON};
use super::{Appended, JournalError};
use crate::domain::delivery::{Deliverable, Location, Owed, Pending};
use crate::domain::events::{Attributed, DeliveryOutcome, Entry, key_digest};

/// Advisory lock key of the sealer (`gssealer`).
pub const SEAL_LOCK: i64 = 0x6773_7365_616c_6572;

/// Records sealed per transaction at most.
pub const SEAL_BATCH: i64 = 2_000;

/// Connections each replica keeps to PostgreSQL for the journal.
pub const POOL_SIZE: u32 = 32;

/// The database's clock in Unix microseconds: claims are timed by one clock, whatever the
/// replicas' clocks say.
const NOW_US: &str = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::bigint";

/// Dedupe keys removed per statement, and statements per expiry pass at most.
const EXPIRE_BATCH: i64 = 10_000;
const EXPIRE_BATCHES: usize = 100;

/// Sealing transactions per [`Shared::seal`] call at most (then the caller's loop comes back).
const SEAL_BATCHES: usize = 50;

fn database(e: sqlx::Error) -> JournalError {
    JournalError::Database(e.to_string())
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn from_micros(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
}

/// The dedupe keys a record takes (as stored: the hex of their digests), with the event id
/// they belong to. Only accepted events and recommendations take keys.
fn dedupe_keys(entry: &Entry) -> Option<(&str, Vec<String>)> {
    let (id, keys): (&str, Vec<String>) = match entry {
        Entry::WebhookReceived(e) | Entry::SentimentFetched(e) => (&e.event_id, e.keys()),
        Entry::ConversationEndReceived(e) => (&e.event_id, e.dedupe_keys.clone()),
        Entry::AttributionReceived(e) => (&e.event_id, e.dedupe_keys.clone()),
        // Two replicas leading one after the other never issue a recommendation twice.
        Entry::CoachingRecommendation(r) => (&r.event_id, vec![recommendation_key(&r.event_id)]),
        _ => return None,
    };
    let mut digests: Vec<String> = keys
        .iter()
        .map(|k| format!("{:032x}", key_digest(k)))
        .collect();
    digests.sort();
    digests.dedup();
    (!digests.is_empty()).then_some((id, digests))
}

fn recommendation_key(event_id: &str) -> String {
    format!("rec:{event_id}")
}

/// The journal in PostgreSQL, as one replica uses it. Shared behind an `Arc`.
#[derive(Debug)]
pub struct Shared {
    pool: PgPool,
    replica: String,
    lease: Duration,
    dedupe_window: Duration,
    /// Owed deliveries this replica claims at most (`coaching.owed_in_memory`); beyond, new
    /// rows are left for whichever replica has room. 0: forwarding is off here, nothing is
    /// claimed.
    hold_limit: usize,
    /// The owed deliveries this replica holds in memory under its claim: only these are
    /// renewed (a row claimed under its name but not held runs out and is taken up again).
    held: Mutex<HashSet<String>>,
    /// See [`Shared::owed`].
    owed: std::sync::atomic::AtomicU64,
    /// A connection holding the advisory lock on this replica's name (two live replicas
    /// under one name would renew each other's claims).
    name_lock: tokio::sync::Mutex<Option<sqlx::PgConnection>>,
}

/// Issued recommendation ids with when, and the latest time per agent.
pub type Recommendations = (
    std::collections::HashMap<String, DateTime<Utc>>,
    std::collections::HashMap<String, DateTime<Utc>>,
);

/// What [`Shared::recover`] found.
#[derive(Debug)]
pub struct Recovery {
    /// The state to start from (owed held in memory, enrichment, attributions, alerts).
    pub state: JournalState,
    /// Owed events whose records cannot be read back: (event id, why), to dead-letter.
    pub unreadable: Vec<(String, String)>,
    /// Dead letters in the database (every replica's).
    pub dead_letters: u64,
    /// Owed deliveries this replica had claimed and handed back (more than it keeps).
    pub handed_back: u64,
}

impl Shared {
    /// Connects to the store's PostgreSQL (already migrated by [`crate::store`]'s schema).
    ///
    /// # Errors
    /// [`JournalError::Database`] when it cannot connect.
    pub async fn connect(
        url: &str,
        replica: String,
        lease: Duration,
        dedupe_window: Duration,
        hold_limit: usize,
    ) -> Result<Shared, JournalError> {
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(|conn, _| {
                Box::pin(async move {
                    // The 202 waits for a commit that is on the server's disk, whatever the
                    // server's default; nothing waits on a lock or a dead peer's transaction
                    // for long.
                    conn.execute(
                        "SET synchronous_commit = on; SET statement_timeout = '30s'; \
                         SET lock_timeout = '10s'; SET idle_in_transaction_session_timeout = '60s'",
                    )
                    .await?;
                    Ok(())
                })
            })
            .connect(url.trim())
            .await
            .map_err(database)?;
        let shared = Shared {
            pool,
            replica,
            lease,
            dedupe_window,
            hold_limit,
            held: Mutex::new(HashSet::new()),
            owed: Default::default(),
            name_lock: tokio::sync::Mutex::new(None),
        };
        if hold_limit > 0 {
            shared.lock_name().await?;
        }
        Ok(shared)
    }

    /// Takes the advisory lock on this replica's name for as long as it runs.
    async fn lock_name(&self) -> Result<(), JournalError> {
        let mut conn = self.pool.acquire().await.map_err(database)?.detach();
        let key = i64::from_be_bytes(
            key_digest(&format!("replica:{}", self.replica)).to_be_bytes()[..8]
                .try_into()
                .expect("8 bytes"),
        );
        let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(key)
            .fetch_one(&mut conn)
            .await
            .map_err(database)?;
        if !taken {
            return Err(JournalError::Database(format!(
                "another running replica is named {:?}; give each replica its own server.replica_name",
                self.replica
            )));
        }
        *self.name_lock.lock().await = Some(conn);
        Ok(())
    }

    fn lease_us(&self) -> i64 {
        i64::try_from(self.lease.as_micros()).unwrap_or(i64::MAX / 4)
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// This replica's name (`server.replica_name`).
    pub fn replica(&self) -> &str {
        &self.replica
    }

    /// How many more owed deliveries this replica may claim now.
    pub fn room(&self) -> i64 {
        i64::try_from(self.hold_limit.saturating_sub(self.held().len())).unwrap_or(i64::MAX)
    }

    /// Appends one record (see the module notes). `Appended::owned` is false for an owed
    /// event left for another replica (this one holds as many as it keeps).
    ///
    /// # Errors
    /// [`JournalError::Duplicate`] when a dedupe key is taken; [`JournalError::Database`]
    /// when the transaction failed (nothing was stored).
    pub async fn append(&self, draft: Draft) -> Result<Appended, JournalError> {
        let now = Utc::now();
        let entry = serde_json::to_string(&draft.entry)
            .map_err(|e| JournalError::Database(format!("cannot encode the record: {e}")))?;
        let mut tx = self.pool.begin().await.map_err(database)?;
        if let Some((event_id, keys)) = dedupe_keys(&draft.entry) {
            let window = TimeDelta::from_std(self.dedupe_window).unwrap_or(TimeDelta::MAX);
            let cutoff = micros(now).saturating_sub(window.num_microseconds().unwrap_or(i64::MAX));
            // A recommendation's key lives as long as recommendations are remembered.
            let stored_at = if matches!(draft.entry, Entry::CoachingRecommendation(_)) {
                let longer = RECOMMENDATION_HORIZON - window.min(RECOMMENDATION_HORIZON);
                micros(now + longer)
            } else {
                micros(now)
            };
            let taken: Vec<String> = sqlx::query_scalar(
                "INSERT INTO journal_dedupe (key, event_id, stored_at) \
                 SELECT k, $2, $3 FROM UNNEST($1::text[]) AS k \
                 ON CONFLICT (key) DO UPDATE SET event_id = EXCLUDED.event_id, stored_at = EXCLUDED.stored_at \
                 WHERE journal_dedupe.stored_at < $4 RETURNING key",
            )
            .bind(&keys)
            .bind(event_id)
            .bind(stored_at)
            .bind(cutoff)
            .fetch_all(&mut *tx)
            .await
            .map_err(database)?;
            if taken.len() < keys.len() {
                let other: Option<String> = sqlx::query_scalar(
                    "SELECT event_id FROM journal_dedupe WHERE key = ANY($1) AND stored_at >= $2 LIMIT 1",
                )
                .bind(&keys)
                .bind(cutoff)
                .fetch_optional(&mut *tx)
                .await
                .map_err(database)?;
                tx.rollback().await.map_err(database)?;
                return Err(JournalError::Duplicate(
                    other.unwrap_or_else(|| event_id.to_owned()),
                ));
            }
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO journal_records (recorded_at, replica, source, outcome, kind, entry) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(micros(now))
        .bind(&self.replica)
        .bind(&draft.source)
        .bind(&draft.outcome)
        .bind(draft.entry.kind())
        .bind(&entry)
        .fetch_one(&mut *tx)
        .await
        .map_err(database)?;
        let claimed = self.project(&mut tx, &draft.entry, id, now).await?;
        tx.commit().await.map_err(database)?;
        let mut held = self.held();
        match &draft.entry {
            Entry::WebhookReceived(e) | Entry::SentimentFetched(e) if claimed => {
                held.insert(e.event_id.clone());
            }
            Entry::CoachingRecommendation(r) if claimed => {
                held.insert(r.event_id.clone());
            }
            Entry::Delivered(o) | Entry::DeadLettered(o) => {
                held.remove(&o.event_id);
            }
            Entry::DeliveredBatch(b) => {
                for a in &b.deliveries {
                    held.remove(&a.0);
                }
            }
            _ => {}
        }
        Ok(Appended {
            seq: u64::try_from(id).unwrap_or_default(),
            hash: String::new(),
            time: from_micros(micros(now)),
            at: None,
            // Forwarding off here: nothing is sent from this replica's queue, which only
            // counts; the row stays unclaimed for a replica that forwards.
            owned: claimed || self.hold_limit == 0,
        })
    }

    /// What the record changes in the outbox; whether this replica claimed a new owed row.
    async fn project(
        &self,
        tx: &mut sqlx::PgConnection,
        entry: &Entry,
        record: i64,
        now: DateTime<Utc>,
    ) -> Result<bool, JournalError> {
        let outcome_json = |o: &DeliveryOutcome| serde_json::to_string(o).unwrap_or_default();
        let claimed = match entry {
            Entry::WebhookReceived(e) | Entry::SentimentFetched(e) => {
                self.owe(tx, &e.event_id, record, now).await?
            }
            Entry::CoachingRecommendation(r) => self.owe(tx, &r.event_id, record, now).await?,
            Entry::Attributed(a) => {
                let line = serde_json::to_string(a).unwrap_or_default() + "\n";
                sqlx::query(
                    "UPDATE journal_outbox SET attributed = COALESCE(attributed, '') || $2 WHERE event_id = $1",
                )
                .bind(&a.event_id)
                .bind(line)
                .execute(&mut *tx)
                .await
                .map_err(database)?;
                false
            }
            Entry::Delivered(o) => {
                // Whoever holds the claim now: delivered is delivered.
                sqlx::query("DELETE FROM journal_outbox WHERE event_id = $1")
                    .bind(&o.event_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(database)?;
                false
            }
            Entry::DeliveredBatch(b) => {
                let ids: Vec<&str> = b.deliveries.iter().map(|a| a.0.as_str()).collect();
                sqlx::query("DELETE FROM journal_outbox WHERE event_id = ANY($1)")
                    .bind(&ids)
                    .execute(&mut *tx)
                    .await
                    .map_err(database)?;
                false
            }
            Entry::DeliveryFailed(o) => {
                // Only the replica holding the claim schedules the next attempt.
                sqlx::query(
                    "UPDATE journal_outbox SET attempts = GREATEST(attempts, $2), next_attempt_at = $3 \
                     WHERE event_id = $1 AND claimed_by = $4",
                )
                .bind(&o.event_id)
                .bind(i32::try_from(o.attempt).unwrap_or(i32::MAX))
                .bind(o.retry_at.map(micros))
                .bind(&self.replica)
                .execute(&mut *tx)
                .await
                .map_err(database)?;
                false
            }
            Entry::DeadLettered(o) => {
                // A replica whose claim was taken over gives up only its own attempt: the
                // record says so, the row stays owed by the new holder.
                sqlx::query(
                    "UPDATE journal_outbox SET dead = $2, claimed_by = NULL, claimed_until = 0 \
                     WHERE event_id = $1 AND (claimed_by = $3 OR claimed_by IS NULL)",
                )
                .bind(&o.event_id)
                .bind(outcome_json(o))
                .bind(&self.replica)
                .execute(&mut *tx)
                .await
                .map_err(database)?;
                false
            }
            Entry::ReplayRequested(r) => {
                sqlx::query(
                    "UPDATE journal_outbox SET dead = NULL, attempts = 0, next_attempt_at = NULL, \
                     since = $2, claimed_by = NULL, claimed_until = 0 WHERE event_id = $1 AND dead IS NOT NULL",
                )
                .bind(&r.event_id)
                .bind(micros(now))
                .execute(&mut *tx)
                .await
                .map_err(database)?;
                false
            }
            _ => false,
        };
        Ok(claimed)
    }

    /// Adds an owed row, claimed by this replica when it has room. Returns whether it did.
    async fn owe(
        &self,
        tx: &mut sqlx::PgConnection,
        event_id: &str,
        record: i64,
        now: DateTime<Utc>,
    ) -> Result<bool, JournalError> {
        let claim = self.room() > 0;
        let sql = format!(
            "INSERT INTO journal_outbox (event_id, record_id, since, claimed_by, claimed_until) \
             VALUES ($1, $2, $3, $4, CASE WHEN $4 IS NULL THEN 0 ELSE {NOW_US} + $5 END) \
             ON CONFLICT (event_id) DO NOTHING"
        );
        let r = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(event_id)
            .bind(record)
            .bind(micros(now))
            .bind(claim.then_some(self.replica.as_str()))
            .bind(self.lease_us())
            .execute(&mut *tx)
            .await
            .map_err(database)?;
        Ok(claim && r.rows_affected() > 0)
    }

    /// Stops holding `event_id` (it could not be dead-lettered now): its claim is no longer
    /// renewed, runs out, and the row is claimed again later, by any replica.
    pub fn release(&self, event_id: &str) {
        self.held().remove(event_id);
    }

    /// Owed deliveries in the shared outbox (every replica's, dead letters left out) when the
    /// claims task last counted them: what `coaching.max_lag` is compared with.
    pub fn owed(&self) -> u64 {
        self.owed.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Counts the owed deliveries in the shared outbox (see [`Shared::owed`]).
    ///
    /// # Errors
    /// [`JournalError::Database`].
    pub async fn count_owed(&self) -> Result<u64, JournalError> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM journal_outbox WHERE dead IS NULL")
            .fetch_one(&self.pool)
            .await
            .map_err(database)?;
        let n = u64::try_from(n).unwrap_or(0);
        self.owed.store(n, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }

    /// Renews this replica's claims on what it holds (every third of
    /// `journal.outbox_lease`). Returns the ids it held whose claim another replica has taken
    /// meanwhile (this one was too slow to renew): the caller stops sending those.
    ///
    /// # Errors
    /// [`JournalError::Database`].
    pub async fn renew(&self) -> Result<Vec<String>, JournalError> {
        let ids: Vec<String> = self.held().iter().cloned().collect();
        if ids.is_empty() {
            // A write all the same: it tells whether the database takes writes.
            sqlx::query("UPDATE journal_outbox SET claimed_until = claimed_until WHERE false")
                .execute(&self.pool)
                .await
                .map_err(database)?;
            return Ok(Vec::new());
        }
        let sql = format!(
            "UPDATE journal_outbox SET claimed_until = {NOW_US} + $3 \
             WHERE claimed_by = $1 AND event_id = ANY($2) AND dead IS NULL RETURNING event_id"
        );
        let kept: HashSet<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(&self.replica)
            .bind(&ids)
            .bind(self.lease_us())
            .fetch_all(&self.pool)
            .await
            .map_err(database)?
            .into_iter()
            .collect();
        let mut held = self.held();
        // Held ids renewed by nobody: delivered or dead-lettered meanwhile (they left the set
        // then), or taken over.
        let lost: Vec<String> = ids
            .into_iter()
            .filter(|id| !kept.contains(id) && held.remove(id))
            .collect();
        Ok(lost)
    }

    /// Claims up to `limit` owed deliveries whose claim has run out (and, with `own`, those
    /// still claimed under this replica's name: what it held before a restart), oldest
    /// first, and reads their events back. Rows whose event cannot be read are returned as
    /// errors, to be dead-lettered.
    ///
    /// # Errors
    /// [`JournalError::Database`].
    pub async fn claim(
        &self,
        limit: i64,
        own: bool,
    ) -> Result<Vec<Result<Pending, (String, String)>>, JournalError> {
        if limit <= 0 {
            return Ok(Vec::new());
        }
        // A row whose record is gone (deleted by hand) is claimed too, and comes back as
        // unreadable (to be dead-lettered) rather than blocking the queue.
        let sql = format!(
            "WITH picked AS (SELECT event_id FROM journal_outbox WHERE dead IS NULL \
               AND (claimed_until < {NOW_US} OR ($4 AND claimed_by = $1)) \
               ORDER BY record_id LIMIT $3 FOR UPDATE SKIP LOCKED) \
             UPDATE journal_outbox o SET claimed_by = $1, claimed_until = {NOW_US} + $2 \
             FROM picked WHERE o.event_id = picked.event_id \
             RETURNING o.event_id, o.record_id, o.since, o.attempts, o.next_attempt_at, o.attributed, \
               (SELECT r.recorded_at FROM journal_records r WHERE r.id = o.record_id) AS recorded_at, \
               (SELECT r.entry FROM journal_records r WHERE r.id = o.record_id) AS entry, \
               (SELECT r.line FROM journal_records r WHERE r.id = o.record_id) AS line"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&self.replica)
            .bind(self.lease_us())
            .bind(limit)
            .bind(own)
            .fetch_all(&self.pool)
            .await
            .map_err(database)?;
        {
            let mut held = self.held();
            for row in &rows {
                if let Ok(id) = row.try_get::<String, _>("event_id") {
                    held.insert(id);
                }
            }
        }
        let mut out: Vec<_> = rows.iter().map(pending_of).collect();
        out.sort_by_key(|p| p.as_ref().map_or(0, |p| p.seq));
        Ok(out)
    }

    /// What a restart of this replica takes up: the deliveries it had claimed (and any
    /// whose claim ran out, up to `coaching.owed_in_memory`; its own beyond that are handed
    /// back for any replica), the conversation ends it accepted within `enrich_window` that
    /// still wait for their score, the agents its attribution events named, and the
    /// coaching recommendations already issued (by any replica). Dead letters are counted,
    /// not loaded.
    ///
    /// # Errors
    /// [`JournalError::Database`].
    pub async fn recover(&self, enrich_window: Duration) -> Result<Recovery, JournalError> {
        let mut state = JournalState::default();
        let since = Utc::now() - TimeDelta::from_std(enrich_window).unwrap_or(TimeDelta::MAX);
        let rows = sqlx::query(
            "SELECT recorded_at, source, outcome, entry, line FROM journal_records \
             WHERE replica = $1 AND recorded_at > $2 \
               AND kind IN ('conversation_end_received', 'attribution_received', 'enrichment_failed') \
             ORDER BY id",
        )
        .bind(&self.replica)
        .bind(micros(since))
        .fetch_all(&self.pool)
        .await
        .map_err(database)?;
        let recommendations = self.recommendations().await?;
        for row in &rows {
            apply_row(&mut state, row);
        }
        // Those whose score another replica (or this one) stored since are not waiting.
        let keys: Vec<String> = state
            .enrichment
            .keys()
            .map(|c| format!("{:032x}", key_digest(&format!("conv:{c}:sentiment"))))
            .collect();
        let scored: HashSet<String> =
            sqlx::query_scalar("SELECT key FROM journal_dedupe WHERE key = ANY($1)")
                .bind(&keys)
                .fetch_all(&self.pool)
                .await
                .map_err(database)?
                .into_iter()
                .collect();
        state.enrichment.retain(|c, _| {
            !scored.contains(&format!(
                "{:032x}",
                key_digest(&format!("conv:{c}:sentiment"))
            ))
        });
        state.recommendations = recommendations.0;
        state.last_recommendation = recommendations.1;
        state.dedupe.clear();
        state.pending.clear();
        let mut unreadable = Vec::new();
        for claimed in self.claim(self.room(), true).await? {
            match claimed {
                Ok(p) => {
                    let owed = Owed::from_pending(p, true);
                    state.pending.insert(key_digest(&owed.event_id), owed);
                }
                Err(bad) => unreadable.push(bad),
            }
        }
        let held: Vec<String> = self.held().iter().cloned().collect();
        // A replica that does not forward claims nothing and takes no name lock: it must not
        // touch the claims of a forwarding replica that shares its name.
        let handed_back = if self.hold_limit == 0 {
            0
        } else {
            sqlx::query(
                "UPDATE journal_outbox SET claimed_by = NULL, claimed_until = 0 \
             WHERE claimed_by = $1 AND dead IS NULL AND NOT (event_id = ANY($2))",
            )
            .bind(&self.replica)
            .bind(&held)
            .execute(&self.pool)
            .await
            .map_err(database)?
            .rows_affected()
        };
        let dead_letters: i64 =
            sqlx::query_scalar("SELECT count(*) FROM journal_outbox WHERE dead IS NOT NULL")
                .fetch_one(&self.pool)
                .await
                .map_err(database)?;
        Ok(Recovery {
            state,
            unreadable,
            dead_letters: u64::try_from(dead_letters).unwrap_or(0),
            handed_back,
        })
    }

    /// The coaching recommendations issued within [`RECOMMENDATION_HORIZON`] by any replica
    /// (ids, and the latest time per agent): the alert state of whichever replica runs the
    /// batch.
    ///
    /// # Errors
    /// [`JournalError::Database`].
    pub async fn recommendations(&self) -> Result<Recommendations, JournalError> {
        let horizon = micros(Utc::now() - RECOMMENDATION_HORIZON);
        let rows = sqlx::query(
            "SELECT recorded_at, source, outcome, entry, line FROM journal_records \
             WHERE kind = 'coaching_recommendation' AND recorded_at > $1 ORDER BY id",
        )
        .bind(horizon)
        .fetch_all(&self.pool)
        .await
        .map_err(database)?;
        let mut state = JournalState::default();
        for row in &rows {
            apply_row(&mut state, row);
        }
        Ok((state.recommendations, state.last_recommendation))
    }

    /// The event ids of every dead letter, oldest first.
    ///
    /// # Errors
    /// [`JournalError::Database`].
    pub async fn dead_letter_ids(&self) -> Result<Vec<String>, JournalError> {
        sqlx::query_scalar(
            "SELECT event_id FROM journal_outbox WHERE dead IS NOT NULL ORDER BY record_id LIMIT 1000000",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(database)
    }

    /// Seals what is committed and not yet sealed, [`SEAL_BATCH`] records a transaction,
    /// until none is left (or another replica is sealing). Returns how many it sealed.
    ///
    /// # Errors
    /// [`JournalError::Database`], or [`JournalError::Corrupt`] when an unsealed record's
    /// entry does not decode (it was changed in the database before it was sealed).
    pub async fn seal(&self) -> Result<u64, JournalError> {
        self.seal_with(false).await
    }

    /// `wait`: take the sealer's lock even when another replica holds it, waiting for its
    /// transaction to end (at most the session's `lock_timeout`). A replica that stops does
    /// so: otherwise, when two stop together, the one that finds the lock taken leaves its
    /// last records to a sealer that had already looked, and no one seals them.
    async fn seal_with(&self, wait: bool) -> Result<u64, JournalError> {
        let mut sealed = 0;
        for _ in 0..SEAL_BATCHES {
            let n = self.seal_batch(wait).await?;
            sealed += n;
            if n < SEAL_BATCH as u64 {
                break;
            }
        }
        Ok(sealed)
    }

    async fn seal_batch(&self, wait: bool) -> Result<u64, JournalError> {
        let mut tx = self.pool.begin().await.map_err(database)?;
        let locked: bool = if wait {
            // Another sealer's transaction takes milliseconds; a stuck one must not use up
            // the shutdown deadline, which still has claims to hand back.
            sqlx::query("SET LOCAL lock_timeout = '2s'")
                .execute(&mut *tx)
                .await
                .map_err(database)?;
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(SEAL_LOCK)
                .execute(&mut *tx)
                .await
                .map_err(database)?;
            true
        } else {
            sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
                .bind(SEAL_LOCK)
                .fetch_one(&mut *tx)
                .await
                .map_err(database)?
        };
        if !locked {
            return Ok(0);
        }
        let head: Option<(i64, String)> =
            sqlx::query_as("SELECT seq, hash FROM journal_head WHERE id = 1")
                .fetch_optional(&mut *tx)
                .await
                .map_err(database)?;
        let (mut seq, mut prev) = head.map_or((0, GENESIS.to_owned()), |(s, h)| {
            (u64::try_from(s).unwrap_or_default(), h)
        });
        let rows = sqlx::query(
            "SELECT id, recorded_at, source, outcome, entry FROM journal_records \
             WHERE seq IS NULL ORDER BY id LIMIT $1",
        )
        .bind(SEAL_BATCH)
        .fetch_all(&mut *tx)
        .await
        .map_err(database)?;
        if rows.is_empty() {
            return Ok(0);
        }
        let (mut ids, mut seqs, mut hashes, mut lines) = (vec![], vec![], vec![], vec![]);
        for row in &rows {
            let id: i64 = row.try_get("id").map_err(database)?;
            // The entry's text as it was committed: a field or a record type this version does
            // not know is sealed as it is, and an entry that is not JSON is sealed as text
            // (`audit verify` names it) rather than stopping the chain.
            let text: Option<String> = row.try_get("entry").map_err(database)?;
            seq += 1;
            let source: String = row.try_get("source").map_err(database)?;
            let outcome: String = row.try_get("outcome").map_err(database)?;
            let time = from_micros(row.try_get("recorded_at").map_err(database)?);
            let (line, hash) = codec::encode_raw(
                seq,
                time,
                &prev,
                &source,
                &outcome,
                text.as_deref().unwrap_or(""),
            );
            ids.push(id);
            seqs.push(i64::try_from(seq).unwrap_or(i64::MAX));
            lines.push(line);
            hashes.push(hash.clone());
            prev = hash;
        }
        sqlx::query(
            "UPDATE journal_records AS r SET seq = v.seq, hash = v.hash, line = v.line, entry = NULL \
             FROM UNNEST($1::int8[], $2::int8[], $3::text[], $4::text[]) AS v(id, seq, hash, line) \
             WHERE r.id = v.id",
        )
        .bind(&ids)
        .bind(&seqs)
        .bind(&hashes)
        .bind(&lines)
        .execute(&mut *tx)
        .await
        .map_err(database)?;
        sqlx::query(
            "INSERT INTO journal_head (id, seq, hash) VALUES (1, $1, $2) \
             ON CONFLICT (id) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash",
        )
        .bind(i64::try_from(seq).unwrap_or(i64::MAX))
        .bind(&prev)
        .execute(&mut *tx)
        .await
        .map_err(database)?;
        tx.commit().await.map_err(database)?;
        Ok(rows.len() as u64)
    }

    /// Forgets dedupe keys older than `journal.dedupe_window` (a bounded number per call).
    ///
    /// # Errors
    /// [`JournalError::Database`].
    pub async fn expire(&self) -> Result<u64, JournalError> {
        let window = TimeDelta::from_std(self.dedupe_window).unwrap_or(TimeDelta::MAX);
        let cutoff =
            micros(Utc::now()).saturating_sub(window.num_microseconds().unwrap_or(i64::MAX));
        let mut removed = 0;
        for _ in 0..EXPIRE_BATCHES {
            let r = sqlx::query(
                "DELETE FROM journal_dedupe WHERE key IN \
                 (SELECT key FROM journal_dedupe WHERE stored_at < $1 LIMIT $2)",
            )
            .bind(cutoff)
            .bind(EXPIRE_BATCH)
            .execute(&self.pool)
            .await
            .map_err(database)?;
            removed += r.rows_affected();
            if r.rows_affected() < EXPIRE_BATCH as u64 {
                break;
            }
        }
        Ok(removed)
    }

    /// Shutdown: seals everything committed (waiting for a sealing replica to finish) and
    /// hands this replica's claims back at once, so another replica need not wait for them
    /// to run out.
    pub async fn close(&self) {
        if let Err(e) = self.seal_with(true).await {
            tracing::warn!(error = %e, "Cannot seal the last records at shutdown; another replica will.");
        }
        if self.hold_limit == 0 {
            self.pool.close().await;
            return;
        }
        match sqlx::query(
            "UPDATE journal_outbox SET claimed_by = NULL, claimed_until = 0 WHERE claimed_by = $1 AND dead IS NULL",
        )
        .bind(&self.replica)
        .execute(&self.pool)
        .await
        {
            Ok(r) if r.rows_affected() > 0 => {
                tracing::info!(owed = r.rows_affected(), "Owed deliveries handed back for another replica to send.");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "Cannot hand owed deliveries back; they pass to another replica when their claim runs out."),
        }
        if let Some(conn) = self.name_lock.lock().await.take() {
            let _ = sqlx::Connection::close(conn).await;
        }
        self.pool.close().await;
    }
}

/// Applies a record row (its entry, at its time) to `state`.
fn apply_row(state: &mut JournalState, row: &PgRow) {
    let Ok(entry) = entry_of(row) else {
        return;
    };
    let record = codec::Record {
        seq: 0,
        time: from_micros(row.try_get("recorded_at").unwrap_or_default()),
        prev_hash: String::new(),
        source: row.try_get("source").unwrap_or_default(),
        outcome: row.try_get("outcome").unwrap_or_default(),
        entry,
        hash: String::new(),
    };
    state.apply(record, Location::default());
}

/// The entry of a record row: its sealed line (its own hash checked) or, before sealing,
/// its entry.
fn entry_of(row: &PgRow) -> Result<Entry, String> {
    let line: Option<String> = row.try_get("line").map_err(|e| e.to_string())?;
    let entry: Option<String> = row.try_get("entry").map_err(|e| e.to_string())?;
    if line.is_none() && entry.is_none() {
        return Err("its record is gone from journal_records".into());
    }
    if let Some(line) = line {
        return codec::decode(line.as_bytes())
            .map(|r| r.entry)
            .map_err(|e| e.to_string());
    }
    let mut entry: Entry =
        serde_json::from_str(entry.as_deref().unwrap_or("")).map_err(|e| e.to_string())?;
    let time: i64 = row
        .try_get("recorded_at")
        .map_err(|e| format!("its record has no time ({e})"))?;
    entry.restore_received(from_micros(time));
    Ok(entry)
}

/// An outbox row with its record, as a pending delivery (or `(event id, why not)`).
fn pending_of(row: &PgRow) -> Result<Pending, (String, String)> {
    let event_id: String = row.try_get("event_id").unwrap_or_default();
    let bad = |why: String| (event_id.clone(), why);
    let mut event = deliverable(entry_of(row).map_err(bad)?)
        .ok_or_else(|| bad("its record owes nothing".into()))?;
    if event.event_id() != event_id {
        return Err(bad(format!("its record is event {}", event.event_id())));
    }
    let attributed: Option<String> = row.try_get("attributed").unwrap_or_default();
    if let (Some(decisions), Deliverable::Sentiment(e)) = (attributed, &mut event) {
        for line in decisions.lines() {
            let decision: Attributed =
                serde_json::from_str(line).map_err(|e| bad(e.to_string()))?;
            e.attribute(&decision);
        }
    }
    let next: Option<i64> = row.try_get("next_attempt_at").unwrap_or_default();
    Ok(Pending {
        event,
        attempts: u32::try_from(row.try_get::<i32, _>("attempts").unwrap_or_default()).unwrap_or(0),
        since: from_micros(row.try_get("since").unwrap_or_default()),
        next_attempt: next.map(from_micros),
        seq: u64::try_from(row.try_get::<i64, _>("record_id").unwrap_or_default()).unwrap_or(0),
        at: None,
        amended: false,
    })
}

/// What `audit verify --store` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Sealed records checked.
    pub records: u64,
    /// The last sealed `seq` (0: none).
    pub last_seq: u64,
    /// Its hash.
    pub last_hash: String,
    /// Records committed and not yet sealed (a sealer links them within a second while a
    /// replica runs).
    pub unsealed: u64,
}

/// Why the shared journal does not verify.
#[derive(Debug, Clone, thiserror::Error)]
pub enum VerifyError {
    /// The chain is broken at this `seq`.
    #[error("seq {seq}: {reason}")]
    Bad {
        /// The first bad sequence number.
        seq: u64,
        /// What is wrong.
        reason: String,
    },
    /// The database could not be read.
    #[error("cannot read the journal: {0}")]
    Database(String),
}

/// `audit verify --store postgres://…`: checks the sealed chain from seq 1 — every line's own
/// hash, its `seq` and `prev_hash`, no gap, and the head the sealer wrote — and counts the
/// records not sealed yet.
///
/// # Errors
/// [`VerifyError::Bad`] naming the first bad `seq`.
pub async fn verify(url: &str) -> Result<Verified, VerifyError> {
    let db = |e: sqlx::Error| VerifyError::Database(e.to_string());
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(url.trim())
        .await
        .map_err(db)?;
    // One snapshot: a sealer committing meanwhile (replicas keep running) is not seen half.
    let mut tx = pool.begin().await.map_err(db)?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    let mut out = Verified {
        records: 0,
        last_seq: 0,
        last_hash: GENESIS.to_owned(),
        unsealed: 0,
    };
    loop {
        let rows = sqlx::query(
            "SELECT seq, hash, line, entry IS NOT NULL AS has_entry FROM journal_records \
             WHERE seq > $1 ORDER BY seq LIMIT 10000",
        )
        .bind(i64::try_from(out.last_seq).unwrap_or(i64::MAX))
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        if rows.is_empty() {
            break;
        }
        for row in rows {
            let expected = out.last_seq + 1;
            let bad = |reason: String| VerifyError::Bad {
                seq: expected,
                reason,
            };
            let seq = u64::try_from(row.try_get::<i64, _>("seq").map_err(db)?).unwrap_or(0);
            if seq != expected {
                return Err(bad(format!(
                    "missing (the next sealed record is seq {seq})"
                )));
            }
            let line: Option<String> = row.try_get("line").map_err(db)?;
            let record = codec::decode(line.unwrap_or_default().as_bytes())
                .map_err(|e| bad(e.to_string()))?;
            if record.seq != seq {
                return Err(bad(format!("its line says seq {}", record.seq)));
            }
            if record.prev_hash != out.last_hash {
                return Err(bad(
                    "prev_hash does not match the previous record's hash".into()
                ));
            }
            let stored: Option<String> = row.try_get("hash").map_err(db)?;
            if stored.as_deref() != Some(record.hash.as_str()) {
                return Err(bad("its hash column does not match its line".into()));
            }
            if row.try_get::<bool, _>("has_entry").map_err(db)? {
                return Err(bad(
                    "a sealed record carries an entry beside its line".into()
                ));
            }
            out.records += 1;
            out.last_seq = seq;
            out.last_hash = record.hash;
        }
    }
    let head: Option<(i64, String)> =
        sqlx::query_as("SELECT seq, hash FROM journal_head WHERE id = 1")
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
    if let Some((seq, hash)) = head {
        let seq = u64::try_from(seq).unwrap_or(0);
        if seq > out.last_seq {
            return Err(VerifyError::Bad {
                seq: out.last_seq + 1,
                reason: format!("records up to seq {seq} were sealed and are gone"),
            });
        }
        if seq < out.last_seq {
            return Err(VerifyError::Bad {
                seq: seq + 1,
                reason: format!(
                    "the sealer sealed up to seq {seq}; the records after it were added by something else"
                ),
            });
        }
        if hash != out.last_hash {
            return Err(VerifyError::Bad {
                seq,
                reason: "the sealer's head names another hash".into(),
            });
        }
    }
    out.unsealed = u64::try_from(
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM journal_records WHERE seq IS NULL")
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?,
    )
    .unwrap_or(0);
    tx.rollback().await.map_err(db)?;
    pool.close().await;
    Ok(out)
}
