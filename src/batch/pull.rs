//! Pulling sentiment from Genesys into the store, incrementally, from either source:
//!
//! - `conversations`: the details query lists each UTC day of the windows once — again only
//!   while the day was after Genesys's data-availability date when listed (data there may
//!   still change) or when the filter changed — and STA is asked only for conversations
//!   that have no score yet (from a webhook or an earlier run). One that STA has not
//!   analysed is asked again later, with doubling waits, while it is in the windows and
//!   inside `genesys.retention`. Each answer is stored as it arrives, so an interrupted run
//!   loses nothing and the next one resumes.
//! - `aggregates`: transcript aggregates per agent, per queue and overall, by day, stored
//!   per day and asked again only for unsettled days. A few requests, but no
//!   per-conversation values: no variance or quantiles, and only the linear normalization.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, TimeDelta, Utc};
use futures_util::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::analytics::aggregate::{CellStats, Dimension, day_number};
use crate::analytics::{Aggregator, Normalizer};
use crate::config::PolarityCounts;
use crate::genesys::aggregates::{AggregateCell, AggregateQuery};
use crate::genesys::details::DetailsFilter;
use crate::genesys::models::AnalyticsConversation;
use crate::genesys::sta::StaOutcome;
use crate::genesys::{GenesysClient, GenesysError, Interval};
use crate::store::{
    Coverage, DailyAggregate, Listed, ScoreSource, Scored, Selection, Store, StoreError,
};

/// Coverage source name of the details query.
const DETAILS: &str = "details";
/// Coverage source name of the transcript aggregates.
const AGGREGATES: &str = "aggregates";
/// Conversations written to the store per transaction while listing.
const LIST_BATCH: usize = 500;
/// Conversations still going on asked about again per details request (one page).
const OPEN_IDS_PER_QUERY: usize = 100;
/// Most conversations still going on asked about again in one run.
const OPEN_RECHECK_MAX: i64 = 10_000;
/// Due conversations read from the store at a time.
const DUE_BATCH: i64 = 2000;
/// First wait before asking STA again about a conversation it had not analysed (or whose
/// request failed); it doubles with each ask.
const REASK_AFTER: TimeDelta = TimeDelta::hours(6);
/// Longest wait between asks.
const REASK_CAP: TimeDelta = TimeDelta::days(4);
/// A conversation STA has not analysed this long after it started is not asked about again
/// (STA analyses within hours; what it skips — no recording, a queue or media type it does
/// not cover — never gets a score). With the waits above: at most four asks.
pub const REASK_HORIZON: TimeDelta = TimeDelta::days(3);

/// When to ask STA again about a conversation whose asks count from `started_at` (its start,
/// or when it was found ended after being listed going on), after `attempts` earlier asks,
/// at `now`: `None` once past [`REASK_HORIZON`] or `retention`.
fn next_ask(
    started_at: DateTime<Utc>,
    attempts: u32,
    now: DateTime<Utc>,
    retention: std::time::Duration,
) -> Option<DateTime<Utc>> {
    let wait = REASK_AFTER
        .checked_mul(1 << attempts.min(8))
        .unwrap_or(REASK_CAP)
        .min(REASK_CAP);
    let next = now.checked_add_signed(wait)?;
    let horizon = REASK_HORIZON.min(TimeDelta::from_std(retention).unwrap_or(TimeDelta::MAX));
    (next.signed_duration_since(started_at) <= horizon).then_some(next)
}

/// Whether a failed STA request concerns only its conversation (a 4xx other than 401, 403
/// and 429, an unreadable answer): the run goes on without it. Anything else — rate limits,
/// outages, a missing permission — stops the run.
fn only_this_conversation(e: &GenesysError) -> bool {
    use crate::genesys::ErrorKind;
    match e.kind() {
        ErrorKind::Decode | ErrorKind::InvalidQuery => true,
        // A 404 that reaches here is not Genesys's "not found" (that one is "not analysed"):
        // a proxy's page or a wrong base URL, which every conversation would meet.
        ErrorKind::Api => e
            .status()
            .is_some_and(|s| (400..500).contains(&s) && ![401, 403, 404, 429].contains(&s)),
        _ => false,
    }
}

/// Why a pull stopped.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    /// Genesys refused or failed (after the client's retries).
    #[error(transparent)]
    Genesys(#[from] GenesysError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a pull did, as counters a run reports while it goes (`/v1/runs`, logs, metrics).
#[derive(Debug, Default)]
pub struct Progress {
    /// Days of the windows that needed listing this run.
    pub days_to_cover: AtomicU64,
    /// … of which done.
    pub days_covered: AtomicU64,
    /// Conversations listed this run.
    pub listed: AtomicU64,
    /// Conversations that needed an STA score when the fetch began.
    pub scores_to_fetch: AtomicU64,
    /// STA answers this run (analysed or not).
    pub scores_fetched: AtomicU64,
    /// … of which with a score.
    pub analysed: AtomicU64,
    /// Scores that could not be normalized.
    pub rejected: AtomicU64,
    /// The largest |score| STA gave this run, in hundredths (a run on the percent scale
    /// whose scores all lie within ±1 is probably reading the unit scale).
    pub largest_score_hundredths: AtomicU64,
}

/// Fewest scores in a run before their range says anything about the scale.
const SCALE_HINT_MIN_SCORES: u64 = 100;

/// A snapshot of [`Progress`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullStats {
    /// Days that needed listing.
    pub days_to_cover: u64,
    /// … done.
    pub days_covered: u64,
    /// Conversations listed.
    pub listed: u64,
    /// Conversations that needed a score.
    pub scores_to_fetch: u64,
    /// STA answers.
    pub scores_fetched: u64,
    /// … with a score.
    pub analysed: u64,
    /// Unusable scores.
    pub rejected: u64,
}

impl Progress {
    /// The counters now.
    pub fn snapshot(&self) -> PullStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        PullStats {
            days_to_cover: get(&self.days_to_cover),
            days_covered: get(&self.days_covered),
            listed: get(&self.listed),
            scores_to_fetch: get(&self.scores_to_fetch),
            scores_fetched: get(&self.scores_fetched),
            analysed: get(&self.analysed),
            rejected: get(&self.rejected),
        }
    }
}

/// One pull: a client, the store, the normalization and the limits.
pub struct Pull<'a> {
    /// The Genesys client (batch priority).
    pub client: &'a GenesysClient,
    /// Where everything is stored.
    pub store: &'a Store,
    /// Normalization of STA scores.
    pub normalizer: &'a Normalizer,
    /// STA requests in flight.
    pub concurrency: usize,
    /// How far back Genesys keeps data.
    pub retention: std::time::Duration,
    /// Counters.
    pub progress: &'a Progress,
}

/// The batch filter as the store selects rows: no filter selects everything; any filter,
/// the conversations listed under its key.
pub fn selection(filter: &DetailsFilter) -> Selection {
    Selection {
        listed_under: (filter != &DetailsFilter::default()).then(|| filter_key(filter)),
    }
}

/// The key of a filter in the coverage table (a day covered under another filter is
/// covered again).
pub fn filter_key(filter: &DetailsFilter) -> String {
    let text = format!("{filter:?}");
    let digest = Sha256::digest(text.as_bytes());
    hex::encode(&digest[..8])
}

/// The UTC days `[from, to)` as day numbers and their intervals, clipped to `interval`.
fn days_of(interval: Interval) -> Vec<(i64, Interval)> {
    let mut out = Vec::new();
    let mut day = i64::from(day_number(interval.start));
    loop {
        let start = DateTime::from_timestamp(day * 86_400, 0).expect("in range");
        if start >= interval.end {
            break;
        }
        let end = start + TimeDelta::days(1);
        out.push((
            day,
            Interval::new(start.max(interval.start), end.min(interval.end)),
        ));
        day += 1;
    }
    out
}

/// Whether a day must be listed (again).
fn needs_cover(coverage: Option<&Coverage>, key: &str) -> bool {
    coverage.is_none_or(|c| !c.settled || c.filter_key != key)
}

fn listed(c: &AnalyticsConversation) -> Option<Listed> {
    let started_at = c.conversation_start?;
    let media_type = c
        .participants
        .iter()
        .flat_map(|p| p.sessions.iter())
        .find_map(|s| s.media_type.clone());
    Some(Listed {
        id: c.conversation_id.clone(),
        started_at,
        agent_id: c.agent_id().map(str::to_owned),
        queue_id: c.queue_id().map(str::to_owned),
        media_type,
        open: c.conversation_end.is_none(),
    })
}

impl Pull<'_> {
    /// The filter's key and the days of `interval` that `source` has not covered for it
    /// (counted in the progress).
    async fn uncovered(
        &self,
        source: &str,
        interval: Interval,
        filter: &DetailsFilter,
    ) -> Result<(String, Vec<(i64, Interval)>), PullError> {
        let key = filter_key(filter);
        let days = days_of(interval);
        if days.is_empty() {
            return Ok((key, Vec::new()));
        }
        let (first, last) = (days[0].0, days[days.len() - 1].0 + 1);
        let coverage = self.store.coverage(source, first, last).await?;
        let todo: Vec<(i64, Interval)> = days
            .into_iter()
            .filter(|(d, _)| needs_cover(coverage.get(d), &key))
            .collect();
        self.progress
            .days_to_cover
            .store(todo.len() as u64, Ordering::Relaxed);
        Ok((key, todo))
    }

    /// Lists, with the details query, every day of `interval` not yet covered (or covered
    /// while unsettled, or under another filter). A day is settled when it ended before
    /// `availability`.
    ///
    /// # Errors
    /// The first [`PullError`].
    pub async fn cover(
        &self,
        interval: Interval,
        filter: &DetailsFilter,
        availability: Option<DateTime<Utc>>,
    ) -> Result<(), PullError> {
        let started = Utc::now();
        let (key, todo) = self.uncovered(DETAILS, interval, filter).await?;
        let selection = selection(filter);
        for (day, day_interval) in &todo {
            let set_aside = self.client.set_aside_so_far();
            let count = self.list(*day_interval, filter.clone(), &selection).await?;
            let day_end = day_interval.start + TimeDelta::days(1);
            // A day with conversations that did not decode is listed again next run (a fixed
            // build or a corrected answer recovers them), never settled without them.
            let settled = availability.is_some_and(|a| day_end <= a)
                && day_interval.end == day_end
                && self.client.set_aside_so_far() == set_aside;
            self.store
                .set_coverage(
                    DETAILS,
                    *day,
                    &Coverage {
                        filter_key: key.clone(),
                        settled,
                        conversations: count,
                        covered_at: Utc::now(),
                    },
                )
                .await?;
            self.progress.days_covered.fetch_add(1, Ordering::Relaxed);
        }
        self.recheck_open(interval, filter, &selection, started)
            .await
    }

    /// Lists `interval` under `filter` into the store; returns how many were listed.
    async fn list(
        &self,
        interval: Interval,
        filter: DetailsFilter,
        selection: &Selection,
    ) -> Result<u64, PullError> {
        let mut stream = std::pin::pin!(self.client.conversation_details(interval, filter)?);
        let mut batch = Vec::with_capacity(LIST_BATCH);
        let mut count = 0u64;
        // Conversations without a conversationStart cannot be placed in a day or a window.
        let mut startless = 0u64;
        loop {
            let next = stream.try_next().await?;
            match next.as_ref().map(|c| (c, listed(c))) {
                Some((_, Some(l))) => batch.push(l),
                Some((c, None)) => {
                    startless += 1;
                    if startless == 1 {
                        tracing::warn!(
                            conversation_id = %crate::domain::printable(&c.conversation_id, 64),
                            interval = %interval,
                            "Genesys listed a conversation without conversationStart; it cannot be placed in a window and is left out (counted as rejected)."
                        );
                    }
                    self.progress.rejected.fetch_add(1, Ordering::Relaxed);
                }
                None => {}
            }
            if batch.len() >= LIST_BATCH || (next.is_none() && !batch.is_empty()) {
                count += batch.len() as u64;
                self.store.upsert_listed(&batch, selection).await?;
                self.progress
                    .listed
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                batch.clear();
            }
            if next.is_none() {
                return Ok(count);
            }
        }
    }

    /// Asks the details query again, by id, about the conversations of `interval` that were
    /// still going on when their day was listed, and not listed since `before`: one that has
    /// ended since becomes due for STA. [`OPEN_IDS_PER_QUERY`] ids a request, grouped by the
    /// UTC day they started on (the day the query matches them by), at most
    /// [`OPEN_RECHECK_MAX`] a run.
    async fn recheck_open(
        &self,
        interval: Interval,
        filter: &DetailsFilter,
        selection: &Selection,
        before: DateTime<Utc>,
    ) -> Result<(), PullError> {
        let open = self
            .store
            .open_conversations(
                interval.start,
                interval.end,
                before,
                OPEN_RECHECK_MAX,
                selection,
            )
            .await?;
        let mut by_day: std::collections::BTreeMap<i64, Vec<String>> = Default::default();
        for (id, started_at) in open {
            by_day
                .entry(i64::from(day_number(started_at)))
                .or_default()
                .push(id);
        }
        // Ids a query. Halved while Genesys refuses (its limit on ids in one filter is not
        // documented); once a single id is refused, the count was not the cause: the rest
        // of the run asks OPEN_IDS_PER_QUERY at a time again and skips what is refused, so
        // a Genesys refusing every such query costs a few requests a run, not one an id.
        let mut size = OPEN_IDS_PER_QUERY;
        let mut halving = true;
        // The first refusal that halved, and its size; what was skipped, and why.
        let mut halved: Option<(String, usize)> = None;
        let mut skipped: Option<(String, usize)> = None;
        for (day, ids) in by_day {
            let start = DateTime::from_timestamp(day * 86_400, 0).expect("in range");
            let day_interval = Interval::new(
                start.max(interval.start),
                (start + TimeDelta::days(1)).min(interval.end),
            );
            let mut rest: &[String] = &ids;
            while !rest.is_empty() {
                let (chunk, tail) = rest.split_at(size.min(rest.len()));
                let by_id = DetailsFilter {
                    conversation_ids: chunk.to_vec(),
                    ..filter.clone()
                };
                match self.list(day_interval, by_id, selection).await {
                    Ok(_) => {}
                    Err(PullError::Genesys(e))
                        if only_this_conversation(&e) && halving && chunk.len() > 1 =>
                    {
                        size = chunk.len() / 2;
                        halved.get_or_insert_with(|| (e.to_string(), chunk.len()));
                        continue;
                    }
                    // Skipped (to the back: asked again at a later run), and the rest go
                    // on: asking about conversations still going on must not hold up each
                    // other or STA.
                    Err(PullError::Genesys(e)) if only_this_conversation(&e) => {
                        if chunk.len() == 1 && halving {
                            halving = false;
                            size = OPEN_IDS_PER_QUERY;
                        }
                        skipped.get_or_insert_with(|| (e.to_string(), 0)).1 += chunk.len();
                    }
                    Err(e) => return Err(e),
                }
                self.store.asked_open(chunk).await?;
                rest = tail;
            }
        }
        if let Some((error, refused)) = halved {
            tracing::warn!(%error, refused, now = size, "Genesys refused a query about conversations still going on when their day was listed; asked about fewer at a time (its limit on ids in one filter may be lower than this build's).");
        }
        if let Some((error, conversations)) = skipped {
            tracing::warn!(%error, conversations, "Cannot ask about some conversations still going on when their day was listed; going on without them (asked again at a later run).");
        }
        Ok(())
    }

    /// Asks STA for every conversation of `interval` without a score that is due at `now`,
    /// storing each answer as it arrives.
    ///
    /// # Errors
    /// The first [`PullError`] (answers before it are stored).
    pub async fn fetch_scores(
        &self,
        interval: Interval,
        selection: &Selection,
        now: DateTime<Utc>,
    ) -> Result<(), PullError> {
        let scale = self.client.settings().genesys.sentiment_scale;
        let reasked = self.store.reask_outside_other_scale(scale.as_str()).await?;
        if reasked > 0 {
            tracing::info!(
                conversations = reasked,
                scale = scale.as_str(),
                "genesys.sentiment_scale changed since these STA scores were found outside it; asking STA for them again."
            );
        }
        let (listed, scored, waiting) = self
            .store
            .counts(interval.start, interval.end, selection)
            .await?;
        let _ = (listed, scored);
        self.progress
            .scores_to_fetch
            .store(waiting, Ordering::Relaxed);
        loop {
            let due = self
                .store
                .due_for_sta(interval.start, interval.end, now, DUE_BATCH, selection)
                .await?;
            if due.is_empty() {
                self.hint_scale();
                return Ok(());
            }
            let answers = futures_util::stream::iter(due)
                .map(|(id, attempts, started_at)| async move {
                    let outcome = self.client.conversation_sentiment(&id).await;
                    (id, attempts, started_at, outcome)
                })
                .buffer_unordered(self.concurrency.max(1));
            let mut answers = std::pin::pin!(answers);
            while let Some((id, attempts, started_at, outcome)) = answers.next().await {
                self.progress.scores_fetched.fetch_add(1, Ordering::Relaxed);
                let later = next_ask(started_at, attempts, now, self.retention);
                let outcome = match outcome {
                    Ok(o) => o,
                    Err(e) => {
                        // Asked again later either way, so one conversation can never hold
                        // up the ones behind it.
                        if only_this_conversation(&e) {
                            self.store.record_not_analysed(&id, later).await?;
                            self.progress.rejected.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(conversation_id = %id, error = %e, "STA request for this conversation failed; going on without it (asked again later).");
                            continue;
                        }
                        // Not this conversation's fault: no ask is counted, but the next
                        // runs start elsewhere, so one conversation can never hold up the
                        // ones behind it.
                        self.store.postpone(&id, now + REASK_AFTER).await?;
                        return Err(e.into());
                    }
                };
                match outcome {
                    StaOutcome::Analysed(s) => match self.normalizer.read(s.score, None) {
                        Ok(reading) => {
                            self.progress.analysed.fetch_add(1, Ordering::Relaxed);
                            let hundredths = (s.score.value.abs() * 100.0).ceil();
                            self.progress
                                .largest_score_hundredths
                                .fetch_max(hundredths.min(1e9) as u64, Ordering::Relaxed);
                            let scored = Scored {
                                raw: s.score,
                                quality_score: reading.quality_score,
                                normalization_version: self.normalizer.version().to_owned(),
                                trend: s.trend.map(|t| t.value),
                                trend_class: s.trend_class.clone(),
                                source: ScoreSource::Sta,
                                agent_id: None,
                                queue_id: None,
                                attribution: None,
                            };
                            self.store.record_score(&id, &scored).await?;
                        }
                        Err(e) => {
                            self.progress.rejected.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(conversation_id = %id, error = %e, "Unusable STA score; not asked again while genesys.sentiment_scale stays as it is (asked again at the first run after it changes).");
                            self.store
                                .record_outside_scale(&id, s.score.value, s.score.scale.as_str())
                                .await?;
                        }
                    },
                    StaOutcome::NotAnalysed => {
                        self.store.record_not_analysed(&id, later).await?;
                    }
                }
            }
        }
    }

    /// Warns when `genesys.sentiment_scale` is `percent` but every one of this run's many
    /// STA scores lies within ±1: on the wrong scale every quality score lands near 50, every
    /// polarity is neutral and no alert fires, and nothing else would say so.
    fn hint_scale(&self) {
        let analysed = self.progress.analysed.load(Ordering::Relaxed);
        let largest = self
            .progress
            .largest_score_hundredths
            .load(Ordering::Relaxed);
        if self.client.settings().genesys.sentiment_scale == crate::domain::ScoreScale::Percent
            && analysed >= SCALE_HINT_MIN_SCORES
            && largest <= 100
        {
            tracing::warn!(
                scores = analysed,
                largest = largest as f64 / 100.0,
                "Every STA score of this run lies within -1..1, but genesys.sentiment_scale = \"percent\": Genesys probably sends -1..1; set genesys.sentiment_scale = \"unit\" (quality scores are near 50 and polarity neutral until then)."
            );
        }
    }

    /// Stores the transcript aggregates of every day of `interval` not yet settled: one query
    /// per dimension (overall, agent, queue) over the days that need it.
    ///
    /// # Errors
    /// The first [`PullError`].
    pub async fn cover_aggregates(
        &self,
        interval: Interval,
        filter: &DetailsFilter,
        availability: Option<DateTime<Utc>>,
    ) -> Result<(), PullError> {
        let (key, todo) = self.uncovered(AGGREGATES, interval, filter).await?;
        let (Some(from), Some(to)) = (todo.first(), todo.last()) else {
            return Ok(());
        };
        let span = Interval::new(from.1.start, to.1.end);
        let mut by_day: std::collections::BTreeMap<
            (i64, &str),
            std::collections::BTreeMap<String, DailyAggregate>,
        > = Default::default();
        let mut repeated = 0u64;
        // Days with a score cell outside the configured scale.
        let mut out_of_scale = std::collections::BTreeSet::new();
        let polarity_counts = self.client.settings().genesys.aggregate_polarity_counts;
        for (dim, group_by) in [
            (Dimension::Overall, None),
            (Dimension::Agent, Some("userId")),
            (Dimension::Queue, Some("queueId")),
        ] {
            let query = AggregateQuery {
                interval: span,
                granularity: "P1D".into(),
                time_zone: None,
                group_by: group_by.map(|g| vec![g.to_owned()]).unwrap_or_default(),
                filter: filter.clone(),
                metrics: vec!["oSentimentScore".into(), "oCustomerSentiment".into()],
            };
            let cells = self.client.transcript_aggregates(&query).await?;
            let folded = fold_cells(&cells, group_by, polarity_counts);
            self.progress
                .rejected
                .fetch_add(folded.rejected, Ordering::Relaxed);
            repeated += folded.repeated;
            out_of_scale.extend(folded.out_of_scale);
            for ((day, key), aggregate) in folded.by_day {
                by_day
                    .entry((day, dim.as_str()))
                    .or_default()
                    .insert(key, aggregate);
            }
        }
        if repeated > 0 {
            tracing::warn!(
                cells = repeated,
                "Genesys answered the same transcript aggregate cell (group and interval) more than once; each was counted once."
            );
        }
        if !out_of_scale.is_empty() {
            // Said loudly, and those days are listed again next run (not settled), so a
            // corrected setting takes effect without a rebuild.
            tracing::warn!(
                days = out_of_scale.len(),
                scale = ?self.client.settings().genesys.aggregate_scale,
                "Genesys answered oSentimentScore sums outside genesys.aggregate_scale; those cells were left out. If Genesys reports them on -100..100, set genesys.aggregate_scale = \"percent\"."
            );
        }
        for (day, day_interval) in &todo {
            for dim in [Dimension::Overall, Dimension::Agent, Dimension::Queue] {
                let groups: Vec<(String, DailyAggregate)> = by_day
                    .remove(&(*day, dim.as_str()))
                    .unwrap_or_default()
                    .into_iter()
                    .collect();
                self.store
                    .save_daily_aggregates(dim.as_str(), *day, &groups)
                    .await?;
            }
            let day_end = day_interval.start + TimeDelta::days(1);
            self.store
                .set_coverage(
                    AGGREGATES,
                    *day,
                    &Coverage {
                        filter_key: key.clone(),
                        settled: availability.is_some_and(|a| day_end <= a)
                            && day_interval.end == day_end
                            && !out_of_scale.contains(day),
                        conversations: 0,
                        covered_at: Utc::now(),
                    },
                )
                .await?;
            self.progress.days_covered.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// The cells of one transcript aggregates answer, by day and group.
#[derive(Debug, Default)]
struct Folded {
    by_day: std::collections::BTreeMap<(i64, String), DailyAggregate>,
    /// Score cells left out (outside the scale, or without a count).
    rejected: u64,
    /// Days with a counted score cell outside the scale.
    out_of_scale: std::collections::BTreeSet<i64>,
    /// Score cells Genesys sent again (same group and interval), counted once.
    repeated: u64,
}

/// Folds the `oSentimentScore` cells of an answer grouped by `group_by` into daily
/// aggregates, each with its `oCustomerSentiment` counts. A cell sent twice (same group,
/// same interval) counts once; cells of one group on one day with different intervals are
/// added up: either way the day is stored, rather than failing every run on it.
fn fold_cells(
    cells: &[AggregateCell],
    group_by: Option<&str>,
    polarity_counts: PolarityCounts,
) -> Folded {
    // Each score cell's polarity counts, by group and interval (one pass: an answer may
    // hold a great many cells).
    let polarity: std::collections::HashMap<_, &AggregateCell> = cells
        .iter()
        .filter(|c| c.metric == "oCustomerSentiment")
        .map(|c| ((&c.group, c.interval.start, c.interval.end), c))
        .collect();
    let mut seen = std::collections::HashSet::new();
    let mut out = Folded::default();
    for cell in cells.iter().filter(|c| c.metric == "oSentimentScore") {
        let at = (&cell.group, cell.interval.start, cell.interval.end);
        if !seen.insert(at) {
            out.repeated += 1;
            continue;
        }
        let key = group_by
            .and_then(|g| cell.group.get(g))
            .map(String::as_str)
            .unwrap_or("all");
        let day = i64::from(day_number(cell.interval.start));
        match cell_stats(cell, polarity.get(&at).copied(), polarity_counts) {
            Some(s) => {
                let aggregate = DailyAggregate {
                    count: s.count,
                    sum_quality: s.sum_quality,
                    min_quality: s.min_quality,
                    max_quality: s.max_quality,
                    positive: s.positive,
                    negative: s.negative,
                };
                out.by_day
                    .entry((day, key.to_owned()))
                    .and_modify(|a| a.add(&aggregate))
                    .or_insert(aggregate);
            }
            None => {
                out.rejected += 1;
                if cell.count > 0 {
                    out.out_of_scale.insert(day);
                }
            }
        }
    }
    out
}

/// Reads the scored conversations of `interval` from the store into `agg`.
///
/// # Errors
/// [`StoreError`].
pub async fn aggregate_conversations(
    store: &Store,
    interval: Interval,
    selection: &Selection,
    agg: &mut Aggregator,
) -> Result<(), StoreError> {
    store
        .scored_between(interval.start, interval.end, selection, |r| {
            let _ = agg.push(&r);
        })
        .await
}

/// Reads the stored daily aggregates of `interval` into `agg`.
///
/// # Errors
/// [`StoreError`].
pub async fn aggregate_days(
    store: &Store,
    interval: Interval,
    agg: &mut Aggregator,
) -> Result<(), StoreError> {
    let (from, to) = (
        i64::from(day_number(interval.start)),
        i64::from(day_number(interval.end - TimeDelta::milliseconds(1))) + 1,
    );
    for (dim, key, day, a) in store.daily_aggregates(from, to).await? {
        let dimension = match dim.as_str() {
            "agent" => Dimension::Agent,
            "queue" => Dimension::Queue,
            _ => Dimension::Overall,
        };
        agg.push_cell_to(
            dimension,
            &key,
            i32::try_from(day).unwrap_or(i32::MAX),
            CellStats {
                count: a.count,
                sum_quality: a.sum_quality,
                min_quality: a.min_quality,
                max_quality: a.max_quality,
                positive: a.positive,
                negative: a.negative,
                action_required: 0,
            },
        );
    }
    Ok(())
}

fn cell_stats(
    cell: &AggregateCell,
    counts: Option<&AggregateCell>,
    polarity_counts: PolarityCounts,
) -> Option<CellStats> {
    if cell.count == 0 {
        return None;
    }
    // linear-v1 on sums: Σ quality = (Σ p + 100 n) / 2 with p on the percent scale.
    let to_quality = |v: f64| (cell.scale.to_percent(v) + 100.0) / 2.0;
    let n = cell.count as f64;
    let sum_percent = cell.scale.to_percent(cell.sum);
    let (positive, negative) = counts
        .map(|c| (c.count_positive.unwrap_or(0), c.count_negative.unwrap_or(0)))
        .unwrap_or((0, 0));
    let (positive, negative) = match polarity_counts {
        PolarityCounts::Conversations => (positive, negative),
        PolarityCounts::Phrases => {
            // Shares of the phrases counted (all of them when the metric's own count
            // covers the polar ones, else the polar ones alone).
            let phrases = counts
                .map_or(0, |c| c.count)
                .max(positive.saturating_add(negative));
            let share = |k: u64| {
                if phrases == 0 {
                    0
                } else {
                    // Half to even, so a tie favours neither polarity.
                    (cell.count as f64 * k as f64 / phrases as f64).round_ties_even() as u64
                }
            };
            (share(positive), share(negative))
        }
    };
    let check = |v: f64| v.is_finite() && v.abs() <= cell.scale.max_abs() * n;
    if !check(cell.sum) {
        return None;
    }
    Some(CellStats {
        count: cell.count,
        sum_quality: (sum_percent + 100.0 * n) / 2.0,
        min_quality: cell.min.map_or(0.0, to_quality),
        max_quality: cell.max.map_or(100.0, to_quality),
        positive: positive.min(cell.count),
        negative: negative.min(cell.count.saturating_sub(positive)),
        action_required: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ScoreScale;

    #[test]
    fn a_404_not_from_genesys_stops_the_run_instead_of_giving_up_on_the_conversation() {
        let api = |status, code: Option<&str>| {
            GenesysError::Api(Box::new(crate::genesys::ApiFailure {
                endpoint: crate::genesys::Endpoint::StaConversation,
                status,
                code: code.map(str::to_owned),
                message: None,
                correlation_id: None,
                body: None,
            }))
        };
        assert!(only_this_conversation(&api(400, Some("bad.request"))));
        assert!(!only_this_conversation(&api(404, None)), "a proxy's 404");
        assert!(!only_this_conversation(&api(429, None)));
        let genesys_404 = crate::genesys::ApiFailure {
            endpoint: crate::genesys::Endpoint::StaConversation,
            status: 404,
            code: Some("resource.not.found".into()),
            message: None,
            correlation_id: None,
            body: None,
        };
        assert!(genesys_404.is_genesys_not_found());
        let proxy_404 = crate::genesys::ApiFailure {
            code: None,
            ..genesys_404
        };
        assert!(!proxy_404.is_genesys_not_found());
    }

    fn cell(
        metric: &str,
        count: u64,
        positive: Option<u64>,
        negative: Option<u64>,
    ) -> AggregateCell {
        let day = DateTime::from_timestamp(20_000 * 86_400, 0).unwrap();
        AggregateCell {
            group: Default::default(),
            interval: Interval::new(day, day + TimeDelta::days(1)),
            metric: metric.into(),
            count,
            sum: 0.1 * count as f64,
            min: Some(-0.5),
            max: Some(0.8),
            count_positive: positive,
            count_negative: negative,
            scale: ScoreScale::Unit,
        }
    }

    #[test]
    fn a_cell_sent_twice_counts_once_and_cells_of_one_day_add_up() {
        let agent = |id: &str, metric: &str, count: u64, hours: (i64, i64)| {
            let mut c = cell(metric, count, Some(count / 2), Some(0));
            c.group.insert("userId".into(), id.into());
            let day = c.interval.start;
            c.interval = Interval::new(
                day + TimeDelta::hours(hours.0),
                day + TimeDelta::hours(hours.1),
            );
            c
        };
        let cells = [
            agent("a", "oSentimentScore", 10, (0, 24)),
            agent("a", "oCustomerSentiment", 10, (0, 24)),
            // The same cell again (a proxy retrying a page, say): counted once.
            agent("a", "oSentimentScore", 10, (0, 24)),
            // Agent b's day in two halves: added up.
            agent("b", "oSentimentScore", 4, (0, 12)),
            agent("b", "oSentimentScore", 6, (12, 24)),
        ];
        let folded = fold_cells(&cells, Some("userId"), PolarityCounts::Conversations);
        assert_eq!(folded.repeated, 1);
        assert_eq!(folded.rejected, 0);
        let day = i64::from(day_number(cells[0].interval.start));
        let a = folded.by_day[&(day, "a".to_owned())];
        assert_eq!((a.count, a.positive), (10, 5));
        let b = folded.by_day[&(day, "b".to_owned())];
        assert_eq!(b.count, 10);
        // sum is 0.1 a conversation on -1..1: quality (0.1 + 1) * 50 = 55 each.
        assert!((b.sum_quality - 550.0).abs() < 1e-9, "{b:?}");
        assert_eq!(folded.by_day.len(), 2);
    }

    #[test]
    fn polarity_counts_are_read_as_configured() {
        // 10 conversations; 30 positive and 10 negative phrases among 60.
        let score = cell("oSentimentScore", 10, None, None);
        let polar = cell("oCustomerSentiment", 60, Some(30), Some(10));
        let as_conversations =
            cell_stats(&score, Some(&polar), PolarityCounts::Conversations).unwrap();
        // Taken as conversations they cannot exceed the day's 10: all positive, none left.
        assert_eq!(
            (as_conversations.positive, as_conversations.negative),
            (10, 0)
        );
        let as_phrases = cell_stats(&score, Some(&polar), PolarityCounts::Phrases).unwrap();
        assert_eq!((as_phrases.positive, as_phrases.negative), (5, 2));
        // Without the metric's own count, the shares are of the polar phrases (7.5 and 2.5,
        // rounded, and never more than the day's conversations together).
        let polar = cell("oCustomerSentiment", 0, Some(30), Some(10));
        let as_phrases = cell_stats(&score, Some(&polar), PolarityCounts::Phrases).unwrap();
        assert_eq!((as_phrases.positive, as_phrases.negative), (8, 2));
        // The mirror image gets the mirror answer: a tie favours neither side.
        let polar = cell("oCustomerSentiment", 0, Some(10), Some(30));
        let as_phrases = cell_stats(&score, Some(&polar), PolarityCounts::Phrases).unwrap();
        assert_eq!((as_phrases.positive, as_phrases.negative), (2, 8));
    }
}
