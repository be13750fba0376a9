//! The library entry point for CX reporting integrations that embed the crate instead of
//! running the daemon: an [`Analyzer`] built from the same configuration pulls from Genesys
//! and returns the trend report. The scheduled batch and `analyze` use it too.
//!
//! ```no_run
//! use chrono::{TimeZone, Utc};
//! use genesys_sentiment::analytics::Dimension;
//! use genesys_sentiment::batch::Analyzer;
//! use genesys_sentiment::config::{Purpose, Settings};
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! // Same layering as the daemon: defaults, a file, GENESYS_SENTIMENT__* variables.
//! let settings = Settings::load(Some("config/org.toml".as_ref()), std::env::vars(), Purpose::Pull)?;
//! let analyzer = Analyzer::new(&settings)?;
//! // Compare 1–8 November with the week before, over every conversation.
//! let from = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
//! let to = Utc.with_ymd_and_hms(2026, 11, 8, 0, 0, 0).unwrap();
//! let report = analyzer.run_batch(from, to, &[]).await?;
//! for group in report.groups_of(Dimension::Agent) {
//!     println!("{} {:?} {:?}", group.key, group.verdict.direction, group.verdict.effect_points);
//! }
//! # Ok(())
//! # }
//! ```

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::pull::{PullStats, pull_aggregates, pull_conversations};
use crate::analytics::report::{TrendReport, Window, Windows};
use crate::analytics::{Aggregator, Normalizer, TrendConfig, trend};
use crate::config::Settings;
use crate::domain::BatchSource;
use crate::genesys::details::DetailsFilter;
use crate::genesys::{GenesysClient, GenesysError, Interval};
use crate::telemetry::metrics::Metrics;

/// A report plus what producing it cost.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// The report.
    pub report: TrendReport,
    /// What the pull saw.
    pub pull: PullStats,
}

/// Pulls sentiment from Genesys and turns it into trend reports.
#[derive(Debug, Clone)]
pub struct Analyzer {
    client: GenesysClient,
    settings: Settings,
}

impl Analyzer {
    /// An analyzer with its own Genesys client (its own token cache and rate budget).
    ///
    /// # Errors
    /// [`GenesysError::InvalidQuery`] when the region or URLs do not resolve.
    pub fn new(settings: &Settings) -> Result<Analyzer, GenesysError> {
        Ok(Analyzer::with_client(
            GenesysClient::new(&settings.genesys, Metrics::new())?,
            settings,
        ))
    }

    /// An analyzer sharing an existing client (the daemon shares one per process).
    pub fn with_client(client: GenesysClient, settings: &Settings) -> Analyzer {
        Analyzer {
            client,
            settings: settings.clone(),
        }
    }

    /// The Genesys client.
    pub fn client(&self) -> &GenesysClient {
        &self.client
    }

    /// The trend report comparing `[from, to)` with the same length before it, over
    /// `conversation_ids` (empty = every conversation; the `batch.queue_ids` and
    /// `batch.media_type` filters apply).
    ///
    /// # Errors
    /// Any [`GenesysError`] (auth, permission, rate limit, retention, …).
    pub async fn run_batch(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        conversation_ids: &[String],
    ) -> Result<TrendReport, GenesysError> {
        if to <= from {
            return Err(GenesysError::InvalidQuery(format!(
                "{from} must be before {to}"
            )));
        }
        let windows = Windows {
            previous: Window {
                start: from - (to - from),
                end: from,
            },
            current: Window {
                start: from,
                end: to,
            },
        };
        let mut filter = self.filter();
        filter.conversation_ids = conversation_ids.to_vec();
        Ok(self.analyze(windows, filter, None).await?.report)
    }

    /// The filter from `[batch]`.
    pub fn filter(&self) -> DetailsFilter {
        let b = &self.settings.batch;
        DetailsFilter {
            queue_ids: b.queue_ids.clone(),
            media_type: (!b.media_type.trim().is_empty()).then(|| b.media_type.trim().to_owned()),
            ..Default::default()
        }
    }

    /// Pulls both windows from the configured `batch.source` and builds the report.
    ///
    /// # Errors
    /// Any [`GenesysError`].
    pub async fn analyze(
        &self,
        windows: Windows,
        filter: DetailsFilter,
        provisional_after: Option<DateTime<Utc>>,
    ) -> Result<Analysis, GenesysError> {
        let interval = Interval::new(windows.previous.start, windows.current.end);
        let mut agg = Aggregator::new(Normalizer::from_settings(&self.settings.analytics));
        let source = self.settings.batch.source;
        let pull = match source {
            BatchSource::Conversations => {
                pull_conversations(
                    &self.client,
                    interval,
                    filter,
                    self.settings.genesys.sta_concurrency.get(),
                    &mut agg,
                )
                .await?
            }
            BatchSource::Aggregates => {
                pull_aggregates(&self.client, interval, filter, &mut agg).await?
            }
        };
        let report = trend::build_report(
            &agg,
            windows,
            &TrendConfig::from_settings(&self.settings.analytics),
            Utc::now(),
            provisional_after.filter(|p| *p < windows.current.end),
            source.as_str(),
        );
        Ok(Analysis { report, pull })
    }
}

/// Display names for report groups, when the caller knows them (the emulator does).
pub type Labels = HashMap<String, String>;
