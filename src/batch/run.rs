//! One scheduled batch run: pull both windows (ending at today's UTC midnight), build the
//! report, journal a `batch_run` record, log the report (one structured event per group and
//! one human summary line), update the metrics, keep the report for the API, and issue
//! coaching recommendations for agents whose verdict is `declining` (see [`super::alerts`]).

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};

use super::alerts::Alerts;
use super::analyzer::Analyzer;
use super::names::NameResolver;
use super::pull::{Progress, PullError};
use super::reports::{ReportStore, RunInfo};
use crate::analytics::report::{Direction, TrendReport};
use crate::analytics::{Dimension, Windows};
use crate::config::Settings;
use crate::domain::RunOutcome;
use crate::domain::events::{BatchRun, Entry};
use crate::genesys::GenesysError;
use crate::journal::Journal;
use crate::telemetry::metrics::{Metrics, OutcomeLabel, VerdictLabels};

/// Why a batch run produced no report.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// Genesys refused or failed, after the client's retries.
    #[error("{0} [{kind}]", kind = .0.kind())]
    Genesys(#[from] GenesysError),
    /// The conversation store failed.
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
    /// The daemon was stopped during the run.
    #[error("interrupted by shutdown")]
    Interrupted,
}

impl From<PullError> for BatchError {
    fn from(e: PullError) -> Self {
        match e {
            PullError::Genesys(g) => BatchError::Genesys(g),
            PullError::Store(s) => BatchError::Store(s),
        }
    }
}

/// The batch job.
#[derive(Clone)]
pub struct Batch {
    /// Pull + analytics.
    pub analyzer: Analyzer,
    /// The journal.
    pub journal: Journal,
    /// Where reports and runs are kept.
    pub reports: ReportStore,
    /// Coaching recommendations.
    pub alerts: Alerts,
    /// Metrics.
    pub metrics: Metrics,
    /// Settings.
    pub settings: Arc<Settings>,
    /// Agent and queue names from Genesys.
    pub names: Arc<NameResolver>,
    /// Fires when the daemon stops: a run in progress ends as `interrupted` (logged and
    /// journaled) instead of vanishing.
    pub stop: tokio_util::sync::CancellationToken,
}

impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch")
            .field("source", &self.settings.batch.source)
            .finish_non_exhaustive()
    }
}

/// The windows a run compares: `batch.window` days ending at `now`'s UTC midnight.
pub fn windows_at(now: DateTime<Utc>, window_days: u32) -> Windows {
    let midnight = now
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc();
    Windows::ending_at(midnight, window_days)
}

/// How often a run's progress is logged and shown in `/v1/runs` and the metrics.
const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_secs(15);

impl Batch {
    /// Runs once, for the windows ending at today's UTC midnight. Never panics on Genesys
    /// failures: the run is recorded as failed.
    ///
    /// # Errors
    /// The cause, when the run failed (already journaled, logged and counted).
    pub async fn run_once(&self, run: u64) -> Result<RunInfo, BatchError> {
        self.run_at(run, Utc::now()).await
    }

    /// Runs once as if it were `now` (the windows end at `now`'s UTC midnight).
    ///
    /// # Errors
    /// See [`Batch::run_once`].
    pub async fn run_at(&self, run: u64, now: DateTime<Utc>) -> Result<RunInfo, BatchError> {
        let started_at = Utc::now();
        let clock = Instant::now();
        let windows = windows_at(now, self.settings.batch.window_days());
        let client = self.analyzer.client();
        let before = client.stats();
        let mut info = RunInfo {
            run,
            started_at,
            finished_at: started_at,
            window_start: windows.current.start,
            window_end: windows.current.end,
            source: self.settings.batch.source,
            outcome: RunOutcome::Running,
            records: 0,
            requests: 0,
            rate_limited: 0,
            duration_ms: 0,
            declining: None,
            improving: None,
            provisional_after: None,
            progress: None,
            error: None,
            replica: Some(self.settings.server.replica()),
        };
        self.reports.set_current(info.clone());
        let progress = Progress::default();
        let analysis = {
            // The availability date is asked inside the work, so a slow or retrying Genesys
            // there does not hold up a shutdown either.
            let work = async {
                let provisional = match client.details_availability().await {
                    Ok(date) => Some(date),
                    Err(e) => {
                        tracing::warn!(error = %e, "Cannot read the data availability date; every day is listed again and the report is not marked provisional.");
                        None
                    }
                };
                self.analyzer
                    .analyze(windows, self.analyzer.filter(), provisional, &progress)
                    .await
            };
            tokio::pin!(work);
            let mut ticks = tokio::time::interval_at(
                tokio::time::Instant::now() + PROGRESS_EVERY,
                PROGRESS_EVERY,
            );
            loop {
                tokio::select! {
                    result = &mut work => break Some(result),
                    _ = ticks.tick() => self.report_progress(&info, &progress, before, clock),
                    () = self.stop.cancelled() => break None,
                }
            }
        };
        let cost = client.stats().since(before);
        info.finished_at = Utc::now();
        info.duration_ms = clock.elapsed().as_millis() as u64;
        info.requests = cost.requests;
        info.rate_limited = cost.rate_limited;
        info.progress = Some(progress.snapshot());
        self.metrics
            .batch_duration_seconds
            .observe(clock.elapsed().as_secs_f64());
        let analysis = match analysis {
            Some(Ok(a)) => a,
            None => {
                info.outcome = RunOutcome::Interrupted;
                info.error = Some(BatchError::Interrupted.to_string());
                tracing::warn!(
                    run,
                    scores_fetched = progress.snapshot().scores_fetched,
                    "Batch run interrupted by shutdown; the next run starts over from what the store holds."
                );
                self.finish(info).await;
                return Err(BatchError::Interrupted);
            }
            Some(Err(e)) => {
                let error = BatchError::from(e);
                info.outcome = RunOutcome::Failed;
                info.error = Some(error.to_string());
                self.finish(info).await;
                return Err(error);
            }
        };
        info.outcome = RunOutcome::Succeeded;
        let mut report = analysis.report;
        let labels = self.names.labels_for(&report).await;
        report.set_labels(&labels);
        let count = |d: Direction| {
            report
                .groups_of(Dimension::Agent)
                .filter(|g| g.verdict.direction == d)
                .count() as u64
        };
        let (declining, improving) = (count(Direction::Declining), count(Direction::Improving));
        info.records = report.records.accepted;
        info.declining = Some(declining);
        info.improving = Some(improving);
        info.provisional_after = report.provisional_after;
        log_report(&report, run);
        self.set_verdict_gauges(&report);
        self.alerts.issue(&report).await;
        self.reports.publish(report).await;
        self.finish(info.clone()).await;
        Ok(info)
    }

    /// Logs the progress of a long run and shows it in `/v1/runs` and the metrics.
    fn report_progress(
        &self,
        info: &RunInfo,
        progress: &Progress,
        before: crate::genesys::StatsSnapshot,
        clock: Instant,
    ) {
        let p = progress.snapshot();
        let cost = self.analyzer.client().stats().since(before);
        let mut current = info.clone();
        current.finished_at = Utc::now();
        current.duration_ms = clock.elapsed().as_millis() as u64;
        current.requests = cost.requests;
        current.rate_limited = cost.rate_limited;
        current.progress = Some(p);
        self.reports.set_current(current);
        let remaining = p.scores_to_fetch.saturating_sub(p.scores_fetched);
        self.metrics.backfill_remaining.set(remaining as i64);
        tracing::info!(
            run = info.run,
            days_listed = p.days_covered,
            days_to_list = p.days_to_cover,
            scores_fetched = p.scores_fetched,
            scores_to_fetch = p.scores_to_fetch,
            requests = cost.requests,
            "Batch run in progress."
        );
    }

    async fn finish(&self, info: RunInfo) {
        let record = BatchRun {
            run: info.run,
            window_start: info.window_start,
            window_end: info.window_end,
            data_source: info.source,
            records: info.records,
            requests: info.requests,
            rate_limited: info.rate_limited,
            duration_ms: info.duration_ms,
            declining: info.declining,
            improving: info.improving,
            error: info.error.clone(),
        };
        let outcome = info.outcome.as_str();
        self.metrics
            .batch_runs
            .get_or_create(&OutcomeLabel { outcome })
            .inc();
        if info.outcome == crate::domain::RunOutcome::Succeeded {
            self.metrics
                .batch_last_success
                .set(info.finished_at.timestamp());
        }
        if let Err(e) = self
            .journal
            .record("batch", outcome, Entry::BatchRun(record))
            .await
        {
            tracing::error!(error = %e, "Cannot journal the batch run.");
        }
        self.metrics.backfill_remaining.set(
            info.progress
                .map_or(0, |p| p.scores_to_fetch.saturating_sub(p.scores_fetched))
                as i64,
        );
        tracing::info!(
            run = info.run,
            outcome,
            duration_ms = info.duration_ms,
            requests = info.requests,
            rate_limited = info.rate_limited,
            records = info.records,
            "Batch run finished."
        );
        self.reports.record_run(info).await;
    }

    fn set_verdict_gauges(&self, report: &TrendReport) {
        zero_verdict_gauges(&self.metrics);
        for ((dimension, direction), n) in report.verdict_counts() {
            self.metrics
                .trend_groups
                .get_or_create(&VerdictLabels {
                    dimension: dimension.as_str(),
                    verdict: direction.as_str(),
                })
                .set(n as i64);
        }
    }
}

/// Sets the trend-group gauge of every dimension and verdict to 0: before the first report
/// (so dashboards and rules see the series from start-up), and before each report's counts.
pub fn zero_verdict_gauges(metrics: &Metrics) {
    for dimension in crate::analytics::aggregate::Dimension::ALL {
        for direction in Direction::ALL {
            metrics
                .trend_groups
                .get_or_create(&VerdictLabels {
                    dimension: dimension.as_str(),
                    verdict: direction.as_str(),
                })
                .set(0);
        }
    }
}

/// Logs a report: the summary line, one info line per group that is flagged (improving,
/// declining) or whose raw shift is mostly queue mix, and every other group at debug. Flat
/// fields, numbers as numbers (absent ones are left out, never printed as `None`).
pub fn log_report(report: &TrendReport, run: u64) {
    macro_rules! verdict {
        ($level:ident, $g:expr, $id:ident) => {
            tracing::$level!(
                target: "genesys_sentiment::trend",
                run,
                dimension = $g.dimension.as_str(),
                $id = %$g.key,
                label = $g.label.as_deref().unwrap_or(""),
                verdict = $g.verdict.direction.as_str(),
                effect_points = $g.verdict.effect_points,
                raw_effect_points = $g.verdict.raw_effect_points,
                mix_shift_points = $g.verdict.mix_shift_points,
                sen_slope_per_day = $g.verdict.sen_slope_per_day,
                q_value = $g.verdict.q_value,
                n_current = $g.verdict.n_current,
                n_previous = $g.verdict.n_previous,
                "Trend verdict."
            )
        };
    }
    for g in &report.groups {
        let notable = matches!(
            g.verdict.direction,
            Direction::Improving | Direction::Declining
        ) || !g.verdict.notes.is_empty();
        match (g.dimension, notable) {
            (Dimension::Agent, true) => verdict!(info, g, agent_id),
            (Dimension::Agent, false) => verdict!(debug, g, agent_id),
            (Dimension::Queue, true) => verdict!(info, g, queue_id),
            (Dimension::Queue, false) => verdict!(debug, g, queue_id),
            (Dimension::Overall, true) => verdict!(info, g, key),
            (Dimension::Overall, false) => verdict!(debug, g, key),
        }
    }
    tracing::info!(target: "genesys_sentiment::trend", run, "{}", report.summary_line());
}
