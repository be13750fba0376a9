//! Normalization, streaming aggregation and trend verdicts. Pure and deterministic: no I/O.
//!
//! Flow: [`normalize::Normalizer`] turns a raw score into a versioned 0–100 quality score
//! and a polarity; [`aggregate::Aggregator`] keeps one mergeable summary per (dimension,
//! entity, day); [`trend::build_report`] compares two windows per group, controls the false
//! discovery rate, and produces a [`report::TrendReport`].

pub mod aggregate;
pub mod input;
pub mod normalize;
pub mod render;
pub mod report;
pub mod stats;
pub mod summary;
pub mod trend;

use chrono::{DateTime, Utc};

use crate::config::AnalyticsSettings;
use crate::domain::SentimentRecord;

pub use aggregate::{Aggregator, Dimension};
pub use normalize::Normalizer;
pub use report::{Direction, TrendReport, Windows};
pub use trend::TrendConfig;

/// Normalizes, aggregates and reports `records` in one go (records outside the windows are
/// aggregated but do not enter the verdicts).
pub fn analyze_records<'a>(
    records: impl IntoIterator<Item = &'a SentimentRecord>,
    settings: &AnalyticsSettings,
    windows: Windows,
    generated_at: DateTime<Utc>,
    source: &str,
) -> TrendReport {
    let mut agg = Aggregator::new(Normalizer::from_settings(settings));
    for r in records {
        let _ = agg.push(r);
    }
    trend::build_report(
        &agg,
        windows,
        &TrendConfig::from_settings(settings),
        generated_at,
        None,
        source,
    )
}
