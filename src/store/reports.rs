//! Reports, runs, display names and daily aggregates: what `/v1/*` answers from right after
//! a restart, and the name cache.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::Row;

use super::{Store, StoreError, from_millis, millis};

/// One day's pre-aggregated statistics of one group (`batch.source = "aggregates"`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DailyAggregate {
    /// Values.
    pub count: u64,
    /// Sum of quality scores.
    pub sum_quality: f64,
    /// Smallest quality score.
    pub min_quality: f64,
    /// Largest quality score.
    pub max_quality: f64,
    /// Positive values.
    pub positive: u64,
    /// Negative values.
    pub negative: u64,
}

impl DailyAggregate {
    /// Adds `other` (cells of one group on one day with different intervals).
    pub fn add(&mut self, other: &DailyAggregate) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = *other;
            return;
        }
        self.count += other.count;
        self.sum_quality += other.sum_quality;
        self.min_quality = self.min_quality.min(other.min_quality);
        self.max_quality = self.max_quality.max(other.max_quality);
        self.positive += other.positive;
        self.negative += other.negative;
    }
}

fn decode<T: DeserializeOwned>(what: &'static str, body: &str) -> Result<T, StoreError> {
    serde_json::from_str(body).map_err(|e| StoreError::Corrupt {
        what,
        message: e.to_string(),
    })
}

fn encode<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("reports and runs serialize")
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl Store {
    /// Keeps a report, and only the newest `keep`.
    ///
    /// # Errors
    /// [`StoreError::Database`].
    pub async fn save_report<T: Serialize>(
        &self,
        generated_at: DateTime<Utc>,
        report: &T,
        keep: usize,
    ) -> Result<(), StoreError> {
        let at = millis(generated_at);
        sqlx::query(
            "INSERT INTO reports (generated_at, body) VALUES ($1, $2) \
             ON CONFLICT (generated_at) DO UPDATE SET body = excluded.body",
        )
        .bind(at)
        .bind(encode(report))
        .execute(self.pool())
        .await?;
        sqlx::query(
            "DELETE FROM reports WHERE generated_at NOT IN \
             (SELECT generated_at FROM reports ORDER BY generated_at DESC LIMIT $1)",
        )
        .bind(i64::try_from(keep).unwrap_or(i64::MAX))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The newest `limit` reports, newest first.
    ///
    /// # Errors
    /// [`StoreError::Database`] or [`StoreError::Corrupt`].
    pub async fn reports<T: DeserializeOwned>(&self, limit: usize) -> Result<Vec<T>, StoreError> {
        let rows = sqlx::query("SELECT body FROM reports ORDER BY generated_at DESC LIMIT $1")
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| decode("report", &r.try_get::<String, _>("body")?))
            .collect()
    }

    /// Keeps a run (replacing one with the same key), and only the newest `keep`.
    ///
    /// # Errors
    /// [`StoreError::Database`].
    pub async fn save_run<T: Serialize>(
        &self,
        key: &str,
        finished_at: DateTime<Utc>,
        run: &T,
        keep: usize,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO runs (run_key, finished_at, body) VALUES ($1, $2, $3) \
             ON CONFLICT (run_key) DO UPDATE SET finished_at = excluded.finished_at, \
             body = excluded.body",
        )
        .bind(key)
        .bind(millis(finished_at))
        .bind(encode(run))
        .execute(self.pool())
        .await?;
        sqlx::query(
            "DELETE FROM runs WHERE run_key NOT IN \
             (SELECT run_key FROM runs ORDER BY finished_at DESC LIMIT $1)",
        )
        .bind(i64::try_from(keep).unwrap_or(i64::MAX))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The newest `limit` runs, newest first.
    ///
    /// # Errors
    /// [`StoreError::Database`] or [`StoreError::Corrupt`].
    pub async fn runs<T: DeserializeOwned>(&self, limit: usize) -> Result<Vec<T>, StoreError> {
        let rows = sqlx::query("SELECT body FROM runs ORDER BY finished_at DESC LIMIT $1")
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| decode("run", &r.try_get::<String, _>("body")?))
            .collect()
    }

    /// Every cached name of `kind` (`user` / `queue`): id → (name, when fetched).
    ///
    /// # Errors
    /// [`StoreError::Database`].
    pub async fn names(
        &self,
        kind: &str,
    ) -> Result<HashMap<String, (Option<String>, DateTime<Utc>)>, StoreError> {
        let rows = sqlx::query("SELECT id, name, fetched_at FROM names WHERE kind = $1")
            .bind(kind)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("id")?,
                    (
                        r.try_get::<Option<String>, _>("name")?,
                        from_millis(r.try_get("fetched_at")?),
                    ),
                ))
            })
            .collect()
    }

    /// Caches names of `kind` (a `None` name: Genesys did not return the id).
    ///
    /// # Errors
    /// [`StoreError::Database`].
    pub async fn save_names(
        &self,
        kind: &str,
        names: &[(String, Option<String>)],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        for (id, name) in names {
            sqlx::query(
                "INSERT INTO names (kind, id, name, fetched_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (kind, id) DO UPDATE SET name = excluded.name, \
                 fetched_at = excluded.fetched_at",
            )
            .bind(kind)
            .bind(id.as_str())
            .bind(name.as_deref())
            .bind(millis(at))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Replaces one day's aggregates of one dimension.
    ///
    /// # Errors
    /// [`StoreError::Database`].
    pub async fn save_daily_aggregates(
        &self,
        dimension: &str,
        day: i64,
        groups: &[(String, DailyAggregate)],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("DELETE FROM daily_aggregates WHERE dimension = $1 AND day = $2")
            .bind(dimension)
            .bind(day)
            .execute(&mut *tx)
            .await?;
        for (key, a) in groups {
            sqlx::query(
                "INSERT INTO daily_aggregates (dimension, group_key, day, count, sum_quality, \
                 min_quality, max_quality, positive, negative) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(dimension)
            .bind(key.as_str())
            .bind(day)
            .bind(i64::try_from(a.count).unwrap_or(i64::MAX))
            .bind(a.sum_quality)
            .bind(a.min_quality)
            .bind(a.max_quality)
            .bind(i64::try_from(a.positive).unwrap_or(i64::MAX))
            .bind(i64::try_from(a.negative).unwrap_or(i64::MAX))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Every stored daily aggregate of days `[from_day, to_day)`: (dimension, key, day, stats).
    ///
    /// # Errors
    /// [`StoreError::Database`].
    pub async fn daily_aggregates(
        &self,
        from_day: i64,
        to_day: i64,
    ) -> Result<Vec<(String, String, i64, DailyAggregate)>, StoreError> {
        let rows = sqlx::query(
            "SELECT dimension, group_key, day, count, sum_quality, min_quality, max_quality, \
             positive, negative FROM daily_aggregates WHERE day >= $1 AND day < $2 \
             ORDER BY dimension, group_key, day",
        )
        .bind(from_day)
        .bind(to_day)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("dimension")?,
                    r.try_get("group_key")?,
                    r.try_get("day")?,
                    DailyAggregate {
                        count: count(r.try_get("count")?),
                        sum_quality: r.try_get("sum_quality")?,
                        min_quality: r.try_get("min_quality")?,
                        max_quality: r.try_get("max_quality")?,
                        positive: count(r.try_get("positive")?),
                        negative: count(r.try_get("negative")?),
                    },
                ))
            })
            .collect()
    }
}
