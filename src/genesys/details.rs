//! `POST /api/v2/analytics/conversations/details/query`: validation, interval splitting
//! and paging as a stream (docs/genesys-api.md §2).
//!
//! Genesys rejects intervals over 31 days and paging past 100 000 results, and includes a
//! conversation when it started on a *day the interval touches* (docs/genesys-api.md §2.4).
//! So an interval is validated and split into chunks aligned to UTC midnights (one day by
//! default); a day whose `totalHits` would need paging past the cap cannot be narrowed by
//! splitting it (every part still touches the whole day), so it is read through an
//! asynchronous details job instead (cursor paging, §3). Pages shift while data is live
//! (§2.4), so each chunk drops ids it already emitted, and a conversation is only emitted
//! by the chunk its start falls in. Memory is bounded by one chunk, not the interval.

use std::collections::{HashSet, VecDeque};

use chrono::{DateTime, TimeDelta, Utc};
use futures_util::Stream;
use reqwest::Method;

use super::models::{
    AnalyticsConversation, ConversationQuery, ConversationQueryResponse, Interval, PagingSpec,
    Predicate, QueryFilter,
};
use super::{Endpoint, GenesysClient, GenesysError};

/// The longest interval Genesys takes without a filter (docs/genesys-api.md §2.4).
const UNFILTERED_MAX: std::time::Duration = std::time::Duration::from_secs(7 * 86_400);

/// Path of the synchronous details query.
pub const DETAILS_QUERY_PATH: &str = "/api/v2/analytics/conversations/details/query";

/// Typed filters turned into `conversationFilters` / `segmentFilters`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DetailsFilter {
    /// Only conversations through these queues.
    pub queue_ids: Vec<String>,
    /// Only conversations handled by these users.
    pub user_ids: Vec<String>,
    /// Only this media type (`voice`, `chat`, …).
    pub media_type: Option<String>,
    /// Only these conversations.
    pub conversation_ids: Vec<String>,
    /// Only these requested language ids.
    pub language_ids: Vec<String>,
}

fn dimension(dimension: &str, value: &str) -> Predicate {
    Predicate {
        kind: Some("dimension".into()),
        dimension: Some(dimension.into()),
        operator: Some("matches".into()),
        value: Some(value.into()),
    }
}

fn any_of(dim: &str, values: &[String]) -> Option<QueryFilter> {
    (!values.is_empty()).then(|| QueryFilter {
        kind: "or".into(),
        clauses: vec![],
        predicates: values.iter().map(|v| dimension(dim, v)).collect(),
    })
}

impl DetailsFilter {
    /// Whether the query carries no filter at all (then its interval may span 7 days, not 31).
    pub fn is_unfiltered(&self) -> bool {
        self.conversation_filters().is_empty() && self.segment_filters().is_empty()
    }

    /// The filter of the scheduled batch: `batch.queue_ids` and `batch.media_type`.
    pub fn for_batch(batch: &crate::config::BatchSettings) -> DetailsFilter {
        DetailsFilter {
            queue_ids: batch.queue_ids.clone(),
            media_type: (!batch.media_type.trim().is_empty())
                .then(|| batch.media_type.trim().to_owned()),
            ..Default::default()
        }
    }

    /// Conversation-level filters: the conversation ids. Conversations still going on are
    /// listed too (without `conversationEnd`): a day is listed for the last time once it is
    /// settled, and one still open then would otherwise never be listed. Their pages do not
    /// shift (§2.4 warns of that for ongoing ones): results are ordered by start, which an
    /// ongoing conversation already has, while a `conversationEnd exists` filter would let a
    /// conversation ending mid-listing appear in a page already read.
    pub fn conversation_filters(&self) -> Vec<QueryFilter> {
        any_of("conversationId", &self.conversation_ids)
            .into_iter()
            .collect()
    }

    /// Segment-level filters: queue, user, media type, language.
    pub fn segment_filters(&self) -> Vec<QueryFilter> {
        let media: Vec<String> = self.media_type.iter().cloned().collect();
        [
            any_of("queueId", &self.queue_ids),
            any_of("userId", &self.user_ids),
            any_of("mediaType", &media),
            any_of("requestedLanguageId", &self.language_ids),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// The same filters as a transcript-aggregates filter (one `and` of `or` clauses).
    pub fn aggregate_filter(&self) -> Option<QueryFilter> {
        let media: Vec<String> = self.media_type.iter().cloned().collect();
        let clauses: Vec<QueryFilter> = [
            any_of("queueId", &self.queue_ids),
            any_of("userId", &self.user_ids),
            any_of("mediaType", &media),
            any_of("conversationId", &self.conversation_ids),
        ]
        .into_iter()
        .flatten()
        .collect();
        (!clauses.is_empty()).then(|| QueryFilter {
            kind: "and".into(),
            clauses,
            predicates: vec![],
        })
    }
}

/// Checks an interval before anything is sent: end after start, start inside the
/// retention window.
///
/// # Errors
/// [`GenesysError::InvalidQuery`] saying what is wrong and, for retention, the window.
pub fn validate_interval(
    interval: Interval,
    retention: std::time::Duration,
    now: DateTime<Utc>,
) -> Result<(), GenesysError> {
    if interval.end <= interval.start {
        return Err(GenesysError::InvalidQuery(format!(
            "interval {interval}: the end must be after the start"
        )));
    }
    let retention_delta = TimeDelta::from_std(retention).unwrap_or(TimeDelta::MAX);
    let earliest = now - retention_delta;
    if interval.start < earliest {
        return Err(GenesysError::InvalidQuery(format!(
            "interval {interval} starts before the retention window of {} days (earliest {}); \
             set genesys.retention if your organization keeps data longer",
            retention.as_secs() / 86_400,
            super::models::time_format::format(&earliest),
        )));
    }
    Ok(())
}

/// Splits an interval into consecutive chunks of at most `chunk` (never above `max`). Chunks
/// of whole days end on UTC midnights, so each touches only the days it covers.
pub fn plan_chunks(
    interval: Interval,
    chunk: std::time::Duration,
    max: std::time::Duration,
) -> Vec<Interval> {
    let step = TimeDelta::from_std(chunk.min(max)).unwrap_or(TimeDelta::days(1));
    let step = if step <= TimeDelta::zero() {
        TimeDelta::days(1)
    } else {
        step
    };
    let whole_days = step.num_seconds() % 86_400 == 0;
    let mut out = Vec::new();
    let mut start = interval.start;
    while start < interval.end {
        let mut end = start + step;
        if whole_days {
            // Back to the midnight at or before `end` (but past `start`).
            let midnight = end
                .date_naive()
                .and_hms_opt(0, 0, 0)
                .expect("midnight")
                .and_utc();
            if midnight > start {
                end = midnight;
            }
        }
        let end = end.min(interval.end);
        out.push(Interval::new(start, end));
        start = end;
    }
    out
}

/// Builds the body of one page.
pub fn query_body(
    interval: Interval,
    filter: &DetailsFilter,
    page_size: u32,
    page_number: u32,
) -> ConversationQuery {
    ConversationQuery {
        interval: Some(interval),
        order: Some("asc".into()),
        order_by: Some("conversationStart".into()),
        paging: Some(PagingSpec {
            page_size,
            page_number,
        }),
        conversation_filters: filter.conversation_filters(),
        segment_filters: filter.segment_filters(),
        ..Default::default()
    }
}

/// The conversations of a heavy day, read from a details job.
type JobStream =
    std::pin::Pin<Box<dyn Stream<Item = Result<AnalyticsConversation, GenesysError>> + Send>>;

struct ChunkCursor {
    interval: Interval,
    next_page: u32,
    seen: HashSet<String>,
    done: bool,
    job: Option<JobStream>,
    /// Read with the synchronous query even past the paging cap (as far as it goes): the
    /// part of a heavy day that jobs cannot serve yet.
    capped: bool,
}

impl ChunkCursor {
    fn new(interval: Interval, capped: bool) -> ChunkCursor {
        ChunkCursor {
            interval,
            next_page: 1,
            seen: HashSet::new(),
            done: false,
            job: None,
            capped,
        }
    }

    /// Keeps `conv` if it started in this chunk (one with no start is kept: it cannot be
    /// placed elsewhere) and was not seen before.
    fn keep(&mut self, conv: &AnalyticsConversation) -> bool {
        conv.conversation_start
            .is_none_or(|s| self.interval.contains(s))
            && self.seen.insert(conv.conversation_id.clone())
    }
}

struct PageCursor {
    client: GenesysClient,
    filter: DetailsFilter,
    /// Intervals still to read, each with whether it is read synchronously past the cap.
    chunks: VecDeque<(Interval, bool)>,
    current: Option<ChunkCursor>,
    buffer: VecDeque<AnalyticsConversation>,
}

impl GenesysClient {
    /// One page of the synchronous details query.
    ///
    /// # Errors
    /// Any [`GenesysError`].
    pub async fn details_page(
        &self,
        query: &ConversationQuery,
    ) -> Result<ConversationQueryResponse, GenesysError> {
        self.send_json(
            Endpoint::DetailsQuery,
            Method::POST,
            DETAILS_QUERY_PATH,
            &[],
            Some(query),
        )
        .await
    }

    /// Every ended conversation that started in `interval` and matches `filter`, each once,
    /// as a stream. The interval is validated first; long intervals are split.
    ///
    /// # Errors
    /// [`GenesysError::InvalidQuery`] before anything is sent; request errors as stream items.
    pub fn conversation_details(
        &self,
        interval: Interval,
        filter: DetailsFilter,
    ) -> Result<
        impl Stream<Item = Result<AnalyticsConversation, GenesysError>> + Send + 'static,
        GenesysError,
    > {
        let g = &self.settings().genesys;
        validate_interval(interval, g.retention.get(), Utc::now())?;
        // Without any filter Genesys takes at most 7 days an interval (§2.4).
        let longest = if filter.is_unfiltered() {
            g.max_interval.get().min(UNFILTERED_MAX)
        } else {
            g.max_interval.get()
        };
        let chunks: VecDeque<(Interval, bool)> =
            plan_chunks(interval, g.details_chunk.get(), longest)
                .into_iter()
                .map(|i| (i, false))
                .collect();
        let cursor = PageCursor {
            client: self.clone(),
            filter,
            chunks,
            current: None,
            buffer: VecDeque::new(),
        };
        Ok(futures_util::stream::try_unfold(cursor, next_conversation))
    }
}

async fn next_conversation(
    mut c: PageCursor,
) -> Result<Option<(AnalyticsConversation, PageCursor)>, GenesysError> {
    let page_size = c.client.settings().genesys.page_size.get();
    let cap = u64::from(c.client.settings().genesys.max_paging_results);
    loop {
        if let Some(conv) = c.buffer.pop_front() {
            return Ok(Some((conv, c)));
        }
        if c.current.as_ref().is_none_or(|ch| ch.done) {
            match c.chunks.pop_front() {
                Some((interval, capped)) => c.current = Some(ChunkCursor::new(interval, capped)),
                None => return Ok(None),
            }
        }
        let chunk = c.current.as_mut().expect("set above");
        if let Some(job) = chunk.job.as_mut() {
            use futures_util::StreamExt;
            match job.next().await.transpose()? {
                Some(conv) => {
                    if chunk.keep(&conv) {
                        c.buffer.push_back(conv);
                    }
                }
                None => chunk.done = true,
            }
            continue;
        }
        let page = chunk.next_page;
        let mut body = query_body(chunk.interval, &c.filter, page_size, page);
        if chunk.capped {
            // Newest first: the unsettled end of a heavy day comes before the rest of the
            // day that day-touched matching also returns.
            body.order = Some("desc".into());
        }
        let response = c.client.details_page(&body).await?;
        let total = response.total_hits.unwrap_or(0);
        if page == 1 && total > cap && !chunk.capped {
            // Splitting cannot help (day-touched matching): read the chunk from a job, as
            // far as the datalake has settled; the rest synchronously, as far as it pages.
            tracing::info!(interval = %chunk.interval, total, cap, "More conversations than the details query can page through; reading them from a details job.");
            let availability = match c.client.details_availability().await {
                Ok(a) => a,
                // No date to trust (one in the future): no job (it needs the date); the
                // day is read synchronously, newest first, as far as it pages, and stays
                // unsettled (the run has no date either).
                Err(e @ GenesysError::Decode { .. }) => {
                    tracing::warn!(interval = %chunk.interval, error = %e, cap, "No usable data availability date for this heavy day: it is read with the synchronous query, newest first, at most max_paging_results of it.");
                    let interval = chunk.interval;
                    chunk.done = true;
                    c.chunks.push_front((interval, true));
                    continue;
                }
                Err(e) => return Err(e),
            };
            let interval = chunk.interval;
            if interval.end > availability {
                let recent = Interval::new(interval.start.max(availability), interval.end);
                tracing::warn!(
                    interval = %recent,
                    availability = %super::models::time_format::format(&availability),
                    cap,
                    "Genesys's data availability date falls inside this heavy day: its conversations after that date are read with the synchronous query, newest first, at most max_paging_results of them, until the day has settled (the store covers it again at later runs)."
                );
                c.chunks.push_front((recent, true));
                if interval.start >= availability {
                    chunk.done = true;
                    continue;
                }
                chunk.interval = Interval::new(interval.start, availability);
            }
            let job = c
                .client
                .submit_settled_job(chunk.interval, &c.filter, availability)
                .await?;
            c.client.wait_for_job(&job.job_id).await?;
            chunk.job = Some(Box::pin(c.client.details_job_results(job.job_id)));
            continue;
        }
        let page_sent = response.conversations.unwrap_or_default();
        c.client.set_aside(
            Endpoint::DetailsQuery,
            page_sent.items.len(),
            &page_sent.malformed,
            page_size as usize,
        )?;
        // A malformed conversation still fills the page: it does not make the page short.
        let n = page_sent.sent() as u64;
        let conversations = page_sent.items;
        chunk.next_page += 1;
        let reached = u64::from(page) * u64::from(page_size);
        let passed_start = chunk.capped
            && conversations
                .last()
                .and_then(|c| c.conversation_start)
                .is_some_and(|s| s < chunk.interval.start);
        // `totalHits` is approximate while the interval still receives data (a full page
        // may be followed by more), so only a short page ends the listing.
        if n < u64::from(page_size) || reached + u64::from(page_size) > cap || passed_start {
            chunk.done = true;
        }
        for conv in conversations {
            if chunk.keep(&conv) {
                c.buffer.push_back(conv);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use std::time::Duration;

    fn t(d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 5, d, h, 0, 0).unwrap()
    }

    #[test]
    fn chunks_cover_the_interval_without_gaps_or_overlap() {
        let iv = Interval::new(t(1, 6), t(3, 18));
        let chunks = plan_chunks(
            iv,
            Duration::from_secs(86_400),
            Duration::from_secs(31 * 86_400),
        );
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks[0].start, iv.start);
        assert_eq!(chunks.last().unwrap().end, iv.end);
        for w in chunks.windows(2) {
            assert_eq!(w[0].end, w[1].start);
        }
    }

    #[test]
    fn validation_names_the_problem() {
        let now = t(20, 0);
        let e = validate_interval(
            Interval::new(t(3, 0), t(2, 0)),
            Duration::from_secs(86_400 * 30),
            now,
        )
        .unwrap_err();
        assert!(e.to_string().contains("end must be after the start"), "{e}");
        let e = validate_interval(
            Interval::new(t(1, 0), t(2, 0)),
            Duration::from_secs(86_400 * 10),
            now,
        )
        .unwrap_err();
        assert!(e.to_string().contains("retention window of 10 days"), "{e}");
    }

    #[test]
    fn filters_become_genesys_predicates() {
        let f = DetailsFilter {
            queue_ids: vec!["q1".into(), "q2".into()],
            media_type: Some("voice".into()),
            ..Default::default()
        };
        let body =
            serde_json::to_value(query_body(Interval::new(t(1, 0), t(2, 0)), &f, 100, 3)).unwrap();
        assert_eq!(
            body["interval"],
            "2026-05-01T00:00:00.000Z/2026-05-02T00:00:00.000Z"
        );
        assert_eq!(
            body["paging"],
            serde_json::json!({"pageSize": 100, "pageNumber": 3})
        );
        assert_eq!(body["orderBy"], "conversationStart");
        // Conversations still going on are listed too: no conversation filter without ids.
        assert!(
            body.get("conversationFilters")
                .is_none_or(|f| f.as_array().is_some_and(Vec::is_empty)),
            "{body}"
        );
        let by_id = DetailsFilter {
            conversation_ids: vec!["c1".into()],
            ..Default::default()
        };
        let body =
            serde_json::to_value(query_body(Interval::new(t(1, 0), t(2, 0)), &by_id, 100, 1))
                .unwrap();
        assert_eq!(
            body["conversationFilters"][0]["predicates"][0]["dimension"],
            "conversationId"
        );
        let body =
            serde_json::to_value(query_body(Interval::new(t(1, 0), t(2, 0)), &f, 100, 3)).unwrap();
        assert_eq!(body["segmentFilters"][0]["type"], "or");
        assert_eq!(body["segmentFilters"][0]["predicates"][1]["value"], "q2");
        assert_eq!(
            body["segmentFilters"][1]["predicates"][0]["dimension"],
            "mediaType"
        );
    }
}
