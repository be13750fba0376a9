//! `POST /api/v2/analytics/transcripts/aggregates/query` (docs/genesys-api.md §4.3).

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::TimeDelta;

use super::super::EmulatorState;
use super::filters::{all_match, dimension_value};
use super::sta::reported;
use super::{bad_request, check_interval};
use crate::genesys::models::{
    AggregateMetricData, Interval, QueryFilter, StatisticalResponse, StatisticalSummary,
    TranscriptAggregateDataContainer, TranscriptAggregateQueryResponse, TranscriptAggregationQuery,
};

fn parse_period(p: &str) -> Option<TimeDelta> {
    if let Some(d) = p.strip_prefix('P').and_then(|s| s.strip_suffix('D')) {
        return d
            .parse::<i64>()
            .ok()
            .filter(|d| *d > 0)
            .map(TimeDelta::days);
    }
    if let Some(h) = p.strip_prefix("PT").and_then(|s| s.strip_suffix('H')) {
        return h
            .parse::<i64>()
            .ok()
            .filter(|h| *h > 0)
            .map(TimeDelta::hours);
    }
    None
}

#[derive(Default, Clone, Copy)]
struct Acc {
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
    positive: u64,
    negative: u64,
}

/// `POST /api/v2/analytics/transcripts/aggregates/query`.
pub async fn transcript_aggregates(State(state): State<EmulatorState>, body: Bytes) -> Response {
    state.record(
        "POST",
        "/api/v2/analytics/transcripts/aggregates/query",
        &body,
    );
    let query: TranscriptAggregationQuery = match serde_json::from_slice(&body) {
        Ok(q) => q,
        Err(e) => return bad_request(&format!("Unable to parse the request body: {e}")),
    };
    let interval = match check_interval(query.interval) {
        Ok(iv) => iv,
        Err(m) => return bad_request(&m),
    };
    if let Some(tz) = query.time_zone.as_deref()
        && !matches!(tz, "UTC" | "Etc/UTC")
    {
        return bad_request(&format!("timeZone {tz:?}: the emulator supports UTC only."));
    }
    let bucket = match query.granularity.as_deref() {
        None => interval.duration(),
        Some(p) => match parse_period(p) {
            Some(d) => d,
            None => {
                return bad_request(&format!(
                    "granularity {p:?} is not an ISO-8601 period such as P1D or PT1H."
                ));
            }
        },
    };
    for g in &query.group_by {
        if !matches!(g.as_str(), "userId" | "queueId" | "mediaType") {
            return bad_request(&format!("groupBy {g:?} is not supported by the emulator."));
        }
    }
    for m in &query.metrics {
        if !matches!(
            m.as_str(),
            "oSentimentScore" | "oCustomerSentiment" | "nSpeechTextAnalyzedConversations"
        ) {
            return bad_request(&format!("metric {m:?} is not supported by the emulator."));
        }
    }
    let filters: Vec<QueryFilter> = query.filter.iter().cloned().collect();
    let scale = state.config.org.aggregate_scale;
    let mut groups: BTreeMap<Vec<String>, BTreeMap<i64, Acc>> = BTreeMap::new();
    let bucket_ms = bucket.num_milliseconds().max(1);
    for c in state.org.starting_between(interval.start, interval.end) {
        if !c.analysed {
            continue;
        }
        match all_match(&state, c, &filters) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => return bad_request(&e),
        }
        let mut key = Vec::with_capacity(query.group_by.len());
        for g in &query.group_by {
            match dimension_value(&state, c, g) {
                Ok(Some(v)) => key.push(v),
                Ok(None) => key.push(String::new()),
                Err(e) => return bad_request(&e),
            }
        }
        let slot = (c.start_ms - interval.start.timestamp_millis()) / bucket_ms;
        let value = reported(c.score, scale);
        let percent = scale.to_percent(value);
        let acc = groups.entry(key).or_default().entry(slot).or_insert(Acc {
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            ..Acc::default()
        });
        acc.count += 1;
        acc.sum += value;
        acc.min = acc.min.min(value);
        acc.max = acc.max.max(value);
        if percent > 20.0 {
            acc.positive += 1;
        } else if percent < -20.0 {
            acc.negative += 1;
        }
    }
    let results = groups
        .into_iter()
        .map(|(key, buckets)| TranscriptAggregateDataContainer {
            group: query.group_by.iter().cloned().zip(key).collect(),
            data: buckets
                .into_iter()
                .map(|(slot, acc)| {
                    let start = interval.start + TimeDelta::milliseconds(slot * bucket_ms);
                    let end = (start + bucket).min(interval.end);
                    StatisticalResponse {
                        interval: Some(Interval::new(start, end)),
                        metrics: query
                            .metrics
                            .iter()
                            .map(|m| AggregateMetricData {
                                metric: m.clone(),
                                qualifier: None,
                                stats: match m.as_str() {
                                    "oSentimentScore" => StatisticalSummary {
                                        count: Some(acc.count),
                                        sum: Some((acc.sum * 10_000.0).round() / 10_000.0),
                                        min: Some(acc.min),
                                        max: Some(acc.max),
                                        ..Default::default()
                                    },
                                    "oCustomerSentiment" => StatisticalSummary {
                                        count: Some(acc.count),
                                        count_positive: Some(acc.positive),
                                        count_negative: Some(acc.negative),
                                        ..Default::default()
                                    },
                                    _ => StatisticalSummary {
                                        count: Some(acc.count),
                                        ..Default::default()
                                    },
                                },
                            })
                            .collect(),
                    }
                })
                .collect(),
        })
        .collect();
    Json(TranscriptAggregateQueryResponse { results }).into_response()
}
