//! Conversations: listed (start, agent, queue, media type), scored (raw and normalized score,
//! where it came from), and the STA fetch schedule of those without a score; plus which days
//! are covered.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use sqlx::Row;

use super::{Store, StoreError, from_millis, millis};
use crate::domain::events::AttributionSource;
use crate::domain::{AgentId, ConversationId, QueueId, RawSentiment, ScoreScale, SentimentRecord};

/// Where a stored score came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScoreSource {
    /// A webhook (or a fetch after a conversation-end webhook): never fetched again.
    Webhook,
    /// The batch asked STA.
    Sta,
}

impl ScoreSource {
    fn as_str(self) -> &'static str {
        match self {
            ScoreSource::Webhook => "webhook",
            ScoreSource::Sta => "sta",
        }
    }
}

/// Which conversations a read covers besides their start: with a batch filter, only those
/// its own listing found (`listed_under` its key); with none, every stored conversation
/// (webhook scores that were never listed included). A conversation listed under an earlier
/// filter, or transferred through a filtered queue, is decided by the listing, never by the
/// one queue and agent the row keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// The key of the filter the conversations were listed under; `None`: no filter.
    pub listed_under: Option<String>,
}

impl Selection {
    /// The `AND …` clause of this selection with its placeholder at `$first`, and the value
    /// to bind (only a fixed column name and a placeholder enter the SQL text).
    fn clauses(&self, first: usize) -> (String, Vec<String>) {
        match &self.listed_under {
            None => (String::new(), Vec::new()),
            Some(key) => (format!(" AND listed_under = ${first}"), vec![key.clone()]),
        }
    }
}

/// A conversation as the details query lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed {
    /// Conversation id.
    pub id: String,
    /// When it started (decides its day and window).
    pub started_at: DateTime<Utc>,
    /// The agent participant.
    pub agent_id: Option<String>,
    /// The agent's queue.
    pub queue_id: Option<String>,
    /// `voice`, `chat`, …
    pub media_type: Option<String>,
    /// Still going on when listed (no `conversationEnd`): not asked of STA until a later
    /// listing finds it ended.
    pub open: bool,
}

/// A score to store for a conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// The score as received, with its scale.
    pub raw: RawSentiment,
    /// The normalized quality score.
    pub quality_score: f64,
    /// The normalization version.
    pub normalization_version: String,
    /// Genesys's sentiment trend, when known.
    pub trend: Option<f64>,
    /// `sentimentTrendClass`, when known.
    pub trend_class: Option<String>,
    /// Where it came from.
    pub source: ScoreSource,
    /// Agent, when the score's source named one (a webhook's attribution).
    pub agent_id: Option<String>,
    /// Queue, when known.
    pub queue_id: Option<String>,
    /// Where a webhook score's agent came from.
    pub attribution: Option<AttributionSource>,
}

/// How a day is covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coverage {
    /// The filter it was covered under (a different filter means covering again).
    pub filter_key: String,
    /// Whether the day was before the data-availability date when covered (final).
    pub settled: bool,
    /// Conversations listed for it.
    pub conversations: u64,
    /// When it was covered.
    pub covered_at: DateTime<Utc>,
}

fn scale_str(s: ScoreScale) -> &'static str {
    s.as_str()
}

fn attribution_str(a: AttributionSource) -> &'static str {
    a.as_str()
}

impl Store {
    /// Records what the details query listed. Scores are left as they are; an agent or queue
    /// already known (from a webhook's attribution) is kept.
    ///
    /// # Errors
    /// [`StoreError::Database`].
    pub async fn upsert_listed(
        &self,
        listed: &[Listed],
        selection: &Selection,
    ) -> Result<(), StoreError> {
        let now = millis(Utc::now());
        let mut tx = self.pool().begin().await?;
        for c in listed {
            sqlx::query(
                "INSERT INTO conversations (id, started_at, agent_id, queue_id, media_type, updated_at, listed_under, open_since) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (id) DO UPDATE SET started_at = excluded.started_at, \
                 agent_id = CASE WHEN conversations.open_since IS NOT NULL AND conversations.attribution IS NULL \
                 THEN COALESCE(excluded.agent_id, conversations.agent_id) \
                 ELSE COALESCE(conversations.agent_id, excluded.agent_id) END, \
                 queue_id = CASE WHEN conversations.open_since IS NOT NULL AND conversations.attribution IS NULL \
                 THEN COALESCE(excluded.queue_id, conversations.queue_id) \
                 ELSE COALESCE(conversations.queue_id, excluded.queue_id) END, \
                 media_type = excluded.media_type, updated_at = excluded.updated_at, \
                 listed_under = excluded.listed_under, \
                 open_since = CASE WHEN excluded.open_since IS NULL THEN NULL \
                 ELSE COALESCE(conversations.open_since, excluded.open_since) END, \
                 closed_at = CASE WHEN conversations.open_since IS NOT NULL AND excluded.open_since IS NULL \
                 THEN excluded.updated_at ELSE conversations.closed_at END",
            )
            .bind(&c.id)
            .bind(millis(c.started_at))
            .bind(c.agent_id.as_deref())
            .bind(c.queue_id.as_deref())
            .bind(c.media_type.as_deref())
            .bind(now)
            .bind(selection.listed_under.as_deref())
            .bind(c.open.then_some(now))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Stores a conversation's score (creating the row when the conversation was not listed
    /// yet: its start comes with the details query). A webhook's agent and queue replace the
    /// listed ones.
    ///
    /// # Errors
    /// [`StoreError::Database`].
    pub async fn record_score(&self, id: &str, s: &Scored) -> Result<(), StoreError> {
        score_query(id, s, millis(Utc::now()))
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Stores several scores in one transaction (see [`Store::record_score`]).
    ///
    /// # Errors
    /// [`StoreError::Database`].
    pub async fn record_scores(&self, scores: &[(String, Scored)]) -> Result<(), StoreError> {
        if scores.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool().begin().await?;
        for (id, s) in scores {
            score_query(id, s, millis(Utc::now()))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A late attribution (an `.acw` after the score): the agent and queue it names.
    ///
    /// # Errors
    /// [`StoreError::Database`].
    pub async fn attribute(
        &self,
        id: &str,
        agent_id: Option<&str>,
        queue_id: Option<&str>,
        attribution: AttributionSource,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE conversations SET agent_id = COALESCE($2, agent_id), \
             queue_id = COALESCE($3, queue_id), attribution = $4, updated_at = $5 WHERE id = $1",
        )
        .bind(id)
        .bind(agent_id)
        .bind(queue_id)
        .bind(attribution_str(attribution))
        .bind(millis(Utc::now()))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The run stopped (an outage, a missing permission) while asking about `id`: ask again
    /// from `until`, without counting an ask (so the run after next starts elsewhere, and
    /// nothing is given up because of an error that was not the conversation's).
    ///
    /// # Errors
    /// [`StoreError::Database`].
    pub async fn postpone(&self, id: &str, until: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE conversations SET next_fetch_at = $2, updated_at = $3 WHERE id = $1 AND source IS NULL",
        )
        .bind(id)
        .bind(millis(until))
        .bind(millis(Utc::now()))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// STA had no score yet: ask again at `next_at` (or never, when `None`).
    ///
    /// # Errors
    /// [`StoreError::Database`].
    pub async fn record_not_analysed(
        &self,
        id: &str,
        next_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let now = millis(Utc::now());
        sqlx::query(
            "UPDATE conversations SET sta_attempts = sta_attempts + 1, fetched_at = $2, \
             next_fetch_at = $3, updated_at = $2 WHERE id = $1 AND source IS NULL",
        )
        .bind(id)
        .bind(now)
        .bind(next_at.map(millis).unwrap_or(i64::MAX))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Records that STA's score for `id` lay outside `scale` (the configured one): not asked
    /// again while the setting stays, asked again at the first run under another scale
    /// ([`Store::reask_outside_other_scale`]), so correcting the setting recovers it.
    ///
    /// # Errors
    /// [`StoreError::Database`].
    pub async fn record_outside_scale(
        &self,
        id: &str,
        raw: f64,
        scale: &str,
    ) -> Result<(), StoreError> {
        let now = millis(Utc::now());
        sqlx::query(
            "UPDATE conversations SET sta_attempts = sta_attempts + 1, fetched_at = $2, \
             next_fetch_at = $3, raw_score = $4, scale = $5, updated_at = $2 \
             WHERE id = $1 AND source IS NULL",
        )
        .bind(id)
        .bind(now)
        .bind(i64::MAX)
        .bind(raw)
        .bind(scale)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Makes due again the conversations whose STA score was found outside a scale other
    /// than `scale`; returns how many.
    ///
    /// # Errors
    /// [`StoreError::Database`].
    pub async fn reask_outside_other_scale(&self, scale: &str) -> Result<u64, StoreError> {
        let done = sqlx::query(
            // Cleared with it: whatever the next answer (not analysed, an error), the row is
            // not made due again at every run; refused again, it records the new scale.
            "UPDATE conversations SET next_fetch_at = NULL, raw_score = NULL, scale = NULL, \
             updated_at = $2 WHERE source IS NULL AND scale IS NOT NULL AND scale <> $1",
        )
        .bind(scale)
        .bind(millis(Utc::now()))
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }

    /// Conversations started in `[from, to)` that have no score, have ended and are due for
    /// an STA fetch at `now`, with their asks so far and when asks began to count (their
    /// start, or when a listing found them ended after they were listed going on); at most
    /// `limit`, oldest first.
    ///
    /// # Errors
    /// [`StoreError::Database`].
    pub async fn due_for_sta(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        now: DateTime<Utc>,
        limit: i64,
        selection: &Selection,
    ) -> Result<Vec<(String, u32, DateTime<Utc>)>, StoreError> {
        let rows = self
            .started_between(
                |clauses| {
                    format!(
                        "SELECT id, sta_attempts, COALESCE(closed_at, started_at) AS asks_from FROM conversations \
                         WHERE started_at >= $1 AND started_at < $2 \
                         AND source IS NULL AND open_since IS NULL \
                         AND (next_fetch_at IS NULL OR next_fetch_at <= $3){clauses} \
                         ORDER BY started_at, id LIMIT $4"
                    )
                },
                (from, to, now, limit),
                selection,
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get::<String, _>("id")?,
                    u32::try_from(r.try_get::<i64, _>("sta_attempts")?).unwrap_or(u32::MAX),
                    from_millis(r.try_get("asks_from")?),
                ))
            })
            .collect()
    }

    /// Conversations started in `[from, to)`, listed while still going on, without a score,
    /// and not asked about since `before`: (id, start), at most `limit`, the longest unasked
    /// first (so ones Genesys never answers for cannot crowd out the rest).
    ///
    /// # Errors
    /// [`StoreError::Database`].
    pub async fn open_conversations(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        before: DateTime<Utc>,
        limit: i64,
        selection: &Selection,
    ) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
        let rows = self
            .started_between(
                |clauses| {
                    format!(
                        "SELECT id, started_at FROM conversations WHERE started_at >= $1 AND started_at < $2 \
                         AND open_since IS NOT NULL AND source IS NULL AND updated_at < $3{clauses} \
                         ORDER BY updated_at, started_at, id LIMIT $4"
                    )
                },
                (from, to, before, limit),
                selection,
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get::<String, _>("id")?,
                    from_millis(r.try_get("started_at")?),
                ))
            })
            .collect()
    }

    /// Runs a query over conversations started in `[$1, $2)` with a time `$3` and a limit
    /// `$4`, the selection's clause (placeholder `$5`) put in by `sql`: what
    /// [`Store::due_for_sta`] and [`Store::open_conversations`] share.
    async fn started_between(
        &self,
        sql: impl FnOnce(&str) -> String,
        (from, to, at, limit): (DateTime<Utc>, DateTime<Utc>, DateTime<Utc>, i64),
        selection: &Selection,
    ) -> Result<Vec<sqlx::any::AnyRow>, StoreError> {
        let (clauses, binds) = selection.clauses(5);
        let sql = sql(&clauses);
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(millis(from))
            .bind(millis(to))
            .bind(millis(at))
            .bind(limit);
        for b in binds {
            query = query.bind(b);
        }
        Ok(query.fetch_all(self.pool()).await?)
    }

    /// Marks conversations still going on as asked about now (whether or not the answer
    /// named them), so the next run asks first about the others.
    ///
    /// # Errors
    /// [`StoreError::Database`].
    pub async fn asked_open(&self, ids: &[String]) -> Result<(), StoreError> {
        let now = millis(Utc::now());
        let mut tx = self.pool().begin().await?;
        for id in ids {
            sqlx::query(
                "UPDATE conversations SET updated_at = $2 WHERE id = $1 AND open_since IS NOT NULL",
            )
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Counts in `[from, to)`: (listed, scored, waiting for a score).
    ///
    /// # Errors
    /// [`StoreError::Database`].
    pub async fn counts(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        selection: &Selection,
    ) -> Result<(u64, u64, u64), StoreError> {
        let (clauses, binds) = selection.clauses(3);
        let sql = format!(
            "SELECT COUNT(*) AS listed, \
             COALESCE(SUM(CASE WHEN source IS NOT NULL THEN 1 ELSE 0 END), 0) AS scored \
             FROM conversations WHERE started_at >= $1 AND started_at < $2{clauses}"
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(millis(from))
            .bind(millis(to));
        for b in binds {
            query = query.bind(b);
        }
        let row = query.fetch_one(self.pool()).await?;
        let listed = row.try_get::<i64, _>("listed")?.max(0) as u64;
        let scored = row.try_get::<i64, _>("scored")?.max(0) as u64;
        Ok((listed, scored, listed - scored.min(listed)))
    }

    /// Streams every scored conversation started in `[from, to)` to `visit`, as the records
    /// the analytics consume (their raw score, to be normalized by the caller).
    ///
    /// # Errors
    /// [`StoreError::Database`] or [`StoreError::Corrupt`] for an unknown scale.
    pub async fn scored_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        selection: &Selection,
        mut visit: impl FnMut(SentimentRecord),
    ) -> Result<(), StoreError> {
        let (clauses, binds) = selection.clauses(3);
        let sql = format!(
            "SELECT id, started_at, agent_id, queue_id, media_type, raw_score, scale FROM conversations \
             WHERE started_at >= $1 AND started_at < $2 AND source IS NOT NULL{clauses} \
             ORDER BY started_at, id"
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(millis(from))
            .bind(millis(to));
        for b in binds {
            query = query.bind(b);
        }
        let mut rows = query.fetch(self.pool());
        while let Some(r) = rows.try_next().await? {
            let scale: String = r.try_get("scale")?;
            let scale = scale
                .parse::<ScoreScale>()
                .map_err(|m| StoreError::Corrupt {
                    what: "score scale",
                    message: m,
                })?;
            visit(SentimentRecord {
                conversation_id: ConversationId(r.try_get("id")?),
                agent_id: r.try_get::<Option<String>, _>("agent_id")?.map(AgentId),
                queue_id: r.try_get::<Option<String>, _>("queue_id")?.map(QueueId),
                time: from_millis(r.try_get("started_at")?),
                raw: RawSentiment {
                    value: r.try_get("raw_score")?,
                    scale,
                },
                polarity: None,
                media_type: r.try_get::<Option<String>, _>("media_type")?,
            });
        }
        Ok(())
    }

    /// Forgets what no report can use any more: conversations that started before `cutoff`
    /// (or, never listed, were last touched before it), and the coverage and daily
    /// aggregates of the days before it (so a longer `batch.window` later lists them again).
    /// Returns how many conversations went.
    ///
    /// # Errors
    /// [`StoreError::Database`].
    pub async fn forget_before(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
        let at = millis(cutoff);
        let day = cutoff.timestamp().div_euclid(86_400);
        let mut tx = self.pool().begin().await?;
        let gone = sqlx::query(
            "DELETE FROM conversations WHERE (started_at IS NOT NULL AND started_at < $1) \
             OR (started_at IS NULL AND updated_at < $1)",
        )
        .bind(at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query("DELETE FROM coverage WHERE day < $1")
            .bind(day)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM daily_aggregates WHERE day < $1")
            .bind(day)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(gone)
    }

    /// One conversation's agent, queue, source and attribution (for tests and diagnostics).
    ///
    /// # Errors
    /// [`StoreError::Database`].
    pub async fn conversation(
        &self,
        id: &str,
    ) -> Result<Option<HashMap<&'static str, Option<String>>>, StoreError> {
        let row = sqlx::query(
            "SELECT agent_id, queue_id, source, attribution FROM conversations WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        let Some(r) = row else { return Ok(None) };
        let mut out = HashMap::new();
        for col in ["agent_id", "queue_id", "source", "attribution"] {
            out.insert(col, r.try_get::<Option<String>, _>(col)?);
        }
        Ok(Some(out))
    }

    /// How each day of `[from_day, to_day)` is covered for `source` (`details` / `aggregates`).
    ///
    /// # Errors
    /// [`StoreError::Database`].
    pub async fn coverage(
        &self,
        source: &str,
        from_day: i64,
        to_day: i64,
    ) -> Result<HashMap<i64, Coverage>, StoreError> {
        let rows = sqlx::query(
            "SELECT day, filter_key, settled, conversations, covered_at FROM coverage \
             WHERE source = $1 AND day >= $2 AND day < $3",
        )
        .bind(source)
        .bind(from_day)
        .bind(to_day)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get::<i64, _>("day")?,
                    Coverage {
                        filter_key: r.try_get("filter_key")?,
                        settled: r.try_get::<i64, _>("settled")? != 0,
                        conversations: r.try_get::<i64, _>("conversations")?.max(0) as u64,
                        covered_at: from_millis(r.try_get("covered_at")?),
                    },
                ))
            })
            .collect()
    }

    /// Records that a day was covered.
    ///
    /// # Errors
    /// [`StoreError::Database`].
    pub async fn set_coverage(
        &self,
        source: &str,
        day: i64,
        coverage: &Coverage,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO coverage (source, day, filter_key, settled, conversations, covered_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (source, day) DO UPDATE SET \
             filter_key = excluded.filter_key, settled = excluded.settled, \
             conversations = excluded.conversations, covered_at = excluded.covered_at",
        )
        .bind(source)
        .bind(day)
        .bind(coverage.filter_key.as_str())
        .bind(i64::from(coverage.settled))
        .bind(i64::try_from(coverage.conversations).unwrap_or(i64::MAX))
        .bind(millis(coverage.covered_at))
        .execute(self.pool())
        .await?;
        Ok(())
    }
}

/// The upsert of one score (see [`Store::record_score`]).
fn score_query<'q>(
    id: &'q str,
    s: &'q Scored,
    now: i64,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    sqlx::query(
        "INSERT INTO conversations (id, agent_id, queue_id, raw_score, scale, quality_score, \
             normalization_version, trend_score, trend_class, source, attribution, analysed, \
             fetched_at, next_fetch_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 1, $12, NULL, $12) \
             ON CONFLICT (id) DO UPDATE SET \
             agent_id = COALESCE(excluded.agent_id, conversations.agent_id), \
             queue_id = COALESCE(excluded.queue_id, conversations.queue_id), \
             raw_score = excluded.raw_score, scale = excluded.scale, \
             quality_score = excluded.quality_score, \
             normalization_version = excluded.normalization_version, \
             trend_score = excluded.trend_score, trend_class = excluded.trend_class, \
             source = excluded.source, \
             attribution = COALESCE(excluded.attribution, conversations.attribution), \
             analysed = 1, fetched_at = excluded.fetched_at, next_fetch_at = NULL, \
             updated_at = excluded.updated_at",
    )
    .bind(id)
    .bind(s.agent_id.as_deref())
    .bind(s.queue_id.as_deref())
    .bind(s.raw.value)
    .bind(scale_str(s.raw.scale))
    .bind(s.quality_score)
    .bind(s.normalization_version.as_str())
    .bind(s.trend)
    .bind(s.trend_class.as_deref())
    .bind(s.source.as_str())
    .bind(s.attribution.map(attribution_str))
    .bind(now)
}
