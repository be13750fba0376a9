//! Pulling sentiment from Genesys into an aggregator, from either source:
//!
//! - `conversations`: the details query (ended conversations, filtered) and one STA request
//!   per conversation, in parallel within the shared rate budget. Full per-record detail.
//! - `aggregates`: transcript aggregates per agent, per queue and overall, by day. A few
//!   requests, but no per-conversation values: no variance or quantiles, and it only works
//!   with the linear normalization (a mean of a non-linear mapping is not the mapping of a
//!   mean).

use futures_util::TryStreamExt;
use serde::Serialize;

use crate::analytics::Aggregator;
use crate::analytics::aggregate::{CellStats, Dimension, day_number};
use crate::domain::{AgentId, ConversationId, QueueId, SentimentRecord};
use crate::genesys::aggregates::{AggregateCell, AggregateQuery};
use crate::genesys::details::DetailsFilter;
use crate::genesys::sta::StaOutcome;
use crate::genesys::{GenesysClient, GenesysError, Interval};

/// What a pull saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PullStats {
    /// Conversations listed by the details query (conversations source).
    pub conversations: u64,
    /// Conversations with an STA score.
    pub analysed: u64,
    /// Conversations without STA analysis.
    pub not_analysed: u64,
    /// Records (or aggregate values) that reached the aggregator.
    pub records: u64,
    /// Scores that could not be normalized.
    pub rejected: u64,
}

/// Details + STA for `interval`, `concurrency` STA requests in flight.
///
/// # Errors
/// The first Genesys error that retries could not overcome.
pub async fn pull_conversations(
    client: &GenesysClient,
    interval: Interval,
    filter: DetailsFilter,
    concurrency: usize,
    agg: &mut Aggregator,
) -> Result<PullStats, GenesysError> {
    let mut stats = PullStats::default();
    let details = client.conversation_details(interval, filter)?;
    let scored = details
        .map_ok(|conversation| {
            let client = client.clone();
            async move {
                let outcome = client
                    .conversation_sentiment(&conversation.conversation_id)
                    .await?;
                Ok::<_, GenesysError>((conversation, outcome))
            }
        })
        .try_buffer_unordered(concurrency.max(1));
    let mut scored = std::pin::pin!(scored);
    while let Some((conversation, outcome)) = scored.try_next().await? {
        stats.conversations += 1;
        let StaOutcome::Analysed(sentiment) = outcome else {
            stats.not_analysed += 1;
            continue;
        };
        stats.analysed += 1;
        let Some(time) = conversation.conversation_start else {
            continue;
        };
        let record = SentimentRecord {
            conversation_id: ConversationId(conversation.conversation_id.clone()),
            agent_id: conversation.agent_id().map(|a| AgentId(a.to_owned())),
            queue_id: conversation.queue_id().map(|q| QueueId(q.to_owned())),
            time,
            raw: sentiment.score,
            polarity: None,
        };
        match agg.push(&record) {
            Ok(_) => stats.records += 1,
            Err(e) => {
                stats.rejected += 1;
                tracing::warn!(conversation_id = %record.conversation_id, error = %e, "Unusable STA score.");
            }
        }
    }
    Ok(stats)
}

fn cell_stats(cell: &AggregateCell, counts: Option<&AggregateCell>) -> Option<CellStats> {
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

/// Transcript aggregates by day for `interval`: one query grouped by agent, one by queue,
/// one overall (each split at 31 days).
///
/// # Errors
/// The first Genesys error that retries could not overcome.
pub async fn pull_aggregates(
    client: &GenesysClient,
    interval: Interval,
    filter: DetailsFilter,
    agg: &mut Aggregator,
) -> Result<PullStats, GenesysError> {
    let mut stats = PullStats::default();
    for (dim, group_by) in [
        (Dimension::Overall, None),
        (Dimension::Agent, Some("userId")),
        (Dimension::Queue, Some("queueId")),
    ] {
        let query = AggregateQuery {
            interval,
            granularity: "P1D".into(),
            time_zone: None,
            group_by: group_by.map(|g| vec![g.to_owned()]).unwrap_or_default(),
            filter: filter.clone(),
            metrics: vec!["oSentimentScore".into(), "oCustomerSentiment".into()],
        };
        let cells = client.transcript_aggregates(&query).await?;
        for cell in cells.iter().filter(|c| c.metric == "oSentimentScore") {
            let counts = cells.iter().find(|c| {
                c.metric == "oCustomerSentiment"
                    && c.group == cell.group
                    && c.interval == cell.interval
            });
            let key = group_by
                .and_then(|g| cell.group.get(g))
                .map(String::as_str)
                .unwrap_or("all");
            match cell_stats(cell, counts) {
                Some(s) => {
                    agg.push_cell_to(dim, key, day_number(cell.interval.start), s);
                    if dim == Dimension::Overall {
                        stats.records += s.count;
                    }
                }
                None => {
                    stats.rejected += 1;
                    agg.reject("aggregate_out_of_range");
                }
            }
        }
    }
    stats.analysed = stats.records;
    Ok(stats)
}
