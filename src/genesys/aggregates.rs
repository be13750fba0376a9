//! `POST /api/v2/analytics/transcripts/aggregates/query`: server-side sentiment statistics
//! per group and granularity interval (docs/genesys-api.md §4.3). The statistics carry count,
//! sum, min, max and positive/negative counts; no variance (the spec has none).

use std::collections::BTreeMap;

use chrono::Utc;
use reqwest::Method;
use serde::Serialize;

use super::details::{DetailsFilter, plan_chunks, validate_interval};
use super::models::{Interval, TranscriptAggregateQueryResponse, TranscriptAggregationQuery};
use super::{Endpoint, GenesysClient, GenesysError};
use crate::domain::ScoreScale;

/// Path of the transcript aggregates query.
pub const AGGREGATES_PATH: &str = "/api/v2/analytics/transcripts/aggregates/query";

/// The sentiment metrics the daemon asks for.
pub const SENTIMENT_METRICS: [&str; 3] = [
    "oSentimentScore",
    "oCustomerSentiment",
    "nSpeechTextAnalyzedConversations",
];

/// What to aggregate.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregateQuery {
    /// The interval (split at `genesys.max_interval` when longer).
    pub interval: Interval,
    /// ISO-8601 period such as `P1D`.
    pub granularity: String,
    /// IANA time zone; `None` = UTC.
    pub time_zone: Option<String>,
    /// Dimensions, e.g. `["userId"]`.
    pub group_by: Vec<String>,
    /// Filters.
    pub filter: DetailsFilter,
    /// Metric names.
    pub metrics: Vec<String>,
}

/// Statistics of one metric in one group and one granularity interval.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AggregateCell {
    /// Dimension → value, e.g. `{"userId": "…"}`.
    pub group: BTreeMap<String, String>,
    /// The granularity interval.
    pub interval: Interval,
    /// Metric name.
    pub metric: String,
    /// Number of values.
    pub count: u64,
    /// Sum of values (on `scale`).
    pub sum: f64,
    /// Smallest value.
    pub min: Option<f64>,
    /// Largest value.
    pub max: Option<f64>,
    /// Positive count.
    pub count_positive: Option<u64>,
    /// Negative count.
    pub count_negative: Option<u64>,
    /// Scale of `sum`, `min`, `max` (`genesys.aggregate_scale` for `oSentimentScore`).
    pub scale: ScoreScale,
}

impl AggregateCell {
    /// Mean value, when there is at least one.
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / self.count as f64)
    }
}

impl GenesysClient {
    /// Runs an aggregates query, splitting intervals longer than `genesys.max_interval`,
    /// and flattens the answer into cells.
    ///
    /// # Errors
    /// [`GenesysError::InvalidQuery`] before sending; any request error.
    pub async fn transcript_aggregates(
        &self,
        query: &AggregateQuery,
    ) -> Result<Vec<AggregateCell>, GenesysError> {
        let g = &self.settings().genesys;
        validate_interval(query.interval, g.retention.get(), Utc::now())?;
        let scale = g.aggregate_scale;
        let mut cells = Vec::new();
        for chunk in plan_chunks(query.interval, g.max_interval.get(), g.max_interval.get()) {
            let body = TranscriptAggregationQuery {
                interval: Some(chunk),
                granularity: Some(query.granularity.clone()),
                time_zone: query.time_zone.clone(),
                group_by: query.group_by.clone(),
                filter: query.filter.aggregate_filter(),
                metrics: query.metrics.clone(),
            };
            let response: TranscriptAggregateQueryResponse = self
                .send_json(
                    Endpoint::TranscriptAggregates,
                    Method::POST,
                    AGGREGATES_PATH,
                    &[],
                    Some(&body),
                )
                .await?;
            for container in response.results {
                for data in container.data {
                    let Some(interval) = data.interval else {
                        continue;
                    };
                    for m in data.metrics {
                        cells.push(AggregateCell {
                            group: container.group.clone(),
                            interval,
                            metric: m.metric,
                            count: m.stats.count.unwrap_or(0),
                            sum: m.stats.sum.unwrap_or(0.0),
                            min: m.stats.min,
                            max: m.stats.max,
                            count_positive: m.stats.count_positive,
                            count_negative: m.stats.count_negative,
                            scale,
                        });
                    }
                }
            }
        }
        Ok(cells)
    }
}
