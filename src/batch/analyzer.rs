//! The library entry point for CX reporting integrations that embed the crate instead of
//! running the daemon: an [`Analyzer`] built from the same configuration pulls from Genesys
//! into a conversation store and returns the trend report. The scheduled batch (over the
//! daemon's store) and `analyze` (over a temporary one) use it too.
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
//! let (analyzer, _store_dir) = Analyzer::temporary(&settings).await?;
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

use chrono::{DateTime, TimeDelta, Utc};

use super::pull::{Progress, Pull, PullError, PullStats, aggregate_conversations, aggregate_days};
use crate::analytics::report::{TrendReport, Window, Windows};
use crate::analytics::{Aggregator, Normalizer, TrendConfig, trend};
use crate::config::Settings;
use crate::domain::BatchSource;
use crate::genesys::details::DetailsFilter;
use crate::genesys::{GenesysClient, GenesysError, Interval};
use crate::store::Store;
use crate::telemetry::metrics::Metrics;

/// A report plus what producing it cost.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// The report.
    pub report: TrendReport,
    /// What the pull did.
    pub pull: PullStats,
}

/// Pulls sentiment from Genesys into a store and turns it into trend reports.
#[derive(Debug, Clone)]
pub struct Analyzer {
    client: GenesysClient,
    settings: Settings,
    store: Store,
}

impl Analyzer {
    /// An analyzer over `store`, sharing an existing client (the daemon shares one per
    /// process).
    pub fn new(client: GenesysClient, settings: &Settings, store: Store) -> Analyzer {
        Analyzer {
            client,
            settings: settings.clone(),
            store,
        }
    }

    /// A one-shot analyzer (`analyze`, embedding integrations): its own Genesys client and a
    /// store in a temporary directory, removed when the returned guard is dropped.
    ///
    /// # Errors
    /// [`PullError`] when the client cannot be built or the store not created.
    pub async fn temporary(
        settings: &Settings,
    ) -> Result<(Analyzer, tempfile::TempDir), PullError> {
        let client = GenesysClient::new(&settings.genesys, Metrics::new())?;
        let dir = tempfile::tempdir().map_err(|e| {
            PullError::Store(crate::store::StoreError::Directory {
                dir: std::env::temp_dir().display().to_string(),
                source: e,
            })
        })?;
        let url = format!("sqlite://{}/analyze.db", dir.path().display());
        let store = Store::open(&url).await?;
        Ok((Analyzer::new(client, settings, store), dir))
    }

    /// The Genesys client.
    pub fn client(&self) -> &GenesysClient {
        &self.client
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The trend report comparing `[from, to)` with the same length before it, over
    /// `conversation_ids` (empty = every conversation; the `batch.queue_ids` and
    /// `batch.media_type` filters apply).
    ///
    /// # Errors
    /// Any [`PullError`] (auth, permission, rate limit, retention, store, …).
    pub async fn run_batch(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        conversation_ids: &[String],
    ) -> Result<TrendReport, PullError> {
        if to <= from {
            return Err(GenesysError::InvalidQuery(format!("{from} must be before {to}")).into());
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
        Ok(self
            .analyze(windows, filter, None, &Progress::default())
            .await?
            .report)
    }

    /// The filter from `[batch]`.
    pub fn filter(&self) -> DetailsFilter {
        DetailsFilter::for_batch(&self.settings.batch)
    }

    /// Brings the store up to date for both windows from the configured `batch.source`
    /// (asking Genesys only for what it does not have), then builds the report from it.
    /// `availability` is Genesys's data-availability date: days after it are listed again
    /// at the next run, and the report marks them provisional.
    ///
    /// # Errors
    /// Any [`PullError`]; what was fetched before it is kept.
    pub async fn analyze(
        &self,
        windows: Windows,
        filter: DetailsFilter,
        availability: Option<DateTime<Utc>>,
        progress: &Progress,
    ) -> Result<Analysis, PullError> {
        let interval = Interval::new(windows.previous.start, windows.current.end);
        let normalizer = Normalizer::from_settings(&self.settings.analytics);
        let pull = Pull {
            client: &self.client,
            store: &self.store,
            normalizer: &normalizer,
            concurrency: self.settings.genesys.sta_concurrency.get(),
            retention: self.settings.genesys.retention.get(),
            progress,
        };
        let mut agg = Aggregator::new(normalizer.clone());
        let source = self.settings.batch.source;
        match source {
            BatchSource::Conversations => {
                pull.cover(interval, &filter, availability).await?;
                let selection = super::pull::selection(&filter);
                pull.fetch_scores(interval, &selection, Utc::now()).await?;
                aggregate_conversations(&self.store, interval, &selection, &mut agg).await?;
            }
            BatchSource::Aggregates => {
                pull.cover_aggregates(interval, &filter, availability)
                    .await?;
                aggregate_days(&self.store, interval, &mut agg).await?;
            }
        }
        // Nothing before the previous window (and a week's margin) is used again.
        let cutoff = windows.previous.start - TimeDelta::days(KEEP_MARGIN_DAYS);
        match self.store.forget_before(cutoff).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::debug!(conversations = n, %cutoff, "Forgot conversations no report uses any more.")
            }
            Err(e) => {
                tracing::warn!(error = %e, "Cannot prune the conversation store; trying again at the next run.")
            }
        }
        let report = trend::build_report(
            &agg,
            windows,
            &TrendConfig::from_settings(&self.settings.analytics),
            Utc::now(),
            availability.filter(|p| *p < windows.current.end),
            source.as_str(),
        );
        Ok(Analysis {
            report,
            pull: progress.snapshot(),
        })
    }
}

/// Days kept in the store before the previous window (a run over an earlier end, or a
/// slightly longer window, needs nothing again).
pub const KEEP_MARGIN_DAYS: i64 = 7;

/// Display names for report groups, by id.
pub type Labels = HashMap<String, String>;
