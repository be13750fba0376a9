//! One scheduled batch run: pull both windows (ending at today's UTC midnight), build the
//! report, journal a `batch_run` record, log the report (one structured event per group and
//! one human summary line), update the metrics, keep the report for the API, and issue
//! coaching recommendations for agents whose verdict is `declining`.
//!
//! A recommendation's id derives from (agent, window, rule, algorithm version), so a re-run
//! or a restart never notifies twice for the same window; a per-agent cool-down
//! (`coaching.alert_cooldown`) keeps sliding windows from notifying every day.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use chrono::{DateTime, TimeDelta, Utc};

use crate::analytics::Windows;
use crate::analytics::report::{ALGORITHM_VERSION, Direction, GroupReport, TrendReport};
use crate::analyzer::{Analyzer, Labels};
use crate::config::Settings;
use crate::jobs::forwarder::DeliveryQueue;
use crate::journal::Journal;
use crate::journal::record::{BatchRun, Entry, Recommendation, event_id};
use crate::journal::state::{Deliverable, Pending};
use crate::reports::{ReportStore, RunInfo};
use crate::telemetry::metrics::{Metrics, OutcomeLabel, VerdictLabels};

/// The rule name in recommendation keys.
pub const ALERT_RULE: &str = "declining_after_fdr";

/// Which recommendations exist (rebuilt from the journal at start-up).
#[derive(Debug, Default)]
pub struct AlertState {
    /// Recommendation ids already journaled.
    pub issued: HashSet<String>,
    /// Latest recommendation per agent.
    pub last: HashMap<String, DateTime<Utc>>,
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
    /// The forwarder's queue (recommendations).
    pub deliveries: DeliveryQueue,
    /// Metrics.
    pub metrics: Metrics,
    /// Settings.
    pub settings: Arc<Settings>,
    /// Recommendations issued.
    pub alerts: Arc<Mutex<AlertState>>,
    /// Display names (optional).
    pub labels: Arc<RwLock<Labels>>,
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

impl Batch {
    fn window_days(&self) -> u32 {
        (self.settings.batch.window.get().as_secs() / 86_400).max(1) as u32
    }

    /// Runs once. Never panics on Genesys failures: the run is recorded as failed.
    ///
    /// # Errors
    /// The cause, when the run failed (already journaled, logged and counted).
    pub async fn run_once(&self, run: u64) -> Result<RunInfo, String> {
        let started_at = Utc::now();
        let clock = Instant::now();
        let windows = windows_at(started_at, self.window_days());
        let client = self.analyzer.client();
        let before = client.stats();
        let provisional = match client.details_availability().await {
            Ok(date) => Some(date),
            Err(e) => {
                tracing::warn!(error = %e, "Cannot read the data availability date; the report is not marked provisional.");
                None
            }
        };
        let result = self
            .analyzer
            .analyze(windows, self.analyzer.filter(), provisional)
            .await;
        let cost = client.stats().since(before);
        let duration_ms = clock.elapsed().as_millis() as u64;
        self.metrics
            .batch_duration_seconds
            .observe(clock.elapsed().as_secs_f64());
        let source = self.settings.batch.source.as_str().to_owned();
        let mut info = RunInfo {
            run,
            started_at,
            finished_at: Utc::now(),
            window_start: windows.current.start,
            window_end: windows.current.end,
            source: source.clone(),
            outcome: "succeeded".into(),
            records: 0,
            requests: cost.requests,
            rate_limited: cost.rate_limited,
            duration_ms,
            declining: None,
            improving: None,
            provisional_after: None,
            error: None,
        };
        let analysis = match result {
            Ok(a) => a,
            Err(e) => {
                let cause = format!("{e} [{}]", e.kind());
                info.outcome = "failed".into();
                info.error = Some(cause.clone());
                self.finish(info, "failed").await;
                return Err(cause);
            }
        };
        let mut report = analysis.report;
        report.set_labels(&self.labels.read().expect("labels lock"));
        let count = |d: Direction| {
            report
                .groups_of("agent")
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
        self.issue_alerts(&report).await;
        self.reports.publish(report);
        self.finish(info.clone(), "succeeded").await;
        Ok(info)
    }

    async fn finish(&self, info: RunInfo, outcome: &'static str) {
        let record = BatchRun {
            run: info.run,
            window_start: info.window_start,
            window_end: info.window_end,
            data_source: info.source.clone(),
            records: info.records,
            requests: info.requests,
            rate_limited: info.rate_limited,
            duration_ms: info.duration_ms,
            declining: info.declining,
            improving: info.improving,
            error: info.error.clone(),
        };
        self.metrics
            .batch_runs
            .get_or_create(&OutcomeLabel { outcome })
            .inc();
        if let Err(e) = self
            .journal
            .record("batch", outcome, Entry::BatchRun(record))
            .await
        {
            tracing::error!(error = %e, "Cannot journal the batch run.");
        }
        tracing::info!(
            run = info.run,
            outcome,
            duration_ms = info.duration_ms,
            requests = info.requests,
            rate_limited = info.rate_limited,
            records = info.records,
            "Batch run finished."
        );
        self.reports.record_run(info);
    }

    fn set_verdict_gauges(&self, report: &TrendReport) {
        self.metrics.trend_groups.clear();
        for ((dimension, direction), n) in report.verdict_counts() {
            let dimension: &'static str = match dimension.as_str() {
                "overall" => "overall",
                "agent" => "agent",
                _ => "queue",
            };
            self.metrics
                .trend_groups
                .get_or_create(&VerdictLabels {
                    dimension,
                    verdict: direction.as_str(),
                })
                .set(n as i64);
        }
    }

    async fn issue_alerts(&self, report: &TrendReport) {
        let cooldown = TimeDelta::from_std(self.settings.coaching.alert_cooldown.get())
            .unwrap_or(TimeDelta::MAX);
        let now = Utc::now();
        for g in report
            .groups_of("agent")
            .filter(|g| g.verdict.direction == Direction::Declining)
        {
            let recommendation = recommendation(g, report);
            {
                let alerts = self.alerts.lock().expect("alerts lock");
                if alerts.issued.contains(&recommendation.event_id) {
                    continue;
                }
                if alerts.last.get(&g.key).is_some_and(|t| now - *t < cooldown) {
                    tracing::debug!(agent = %g.key, "Declining again within the alert cool-down; no new recommendation.");
                    continue;
                }
            }
            let id = recommendation.event_id.clone();
            match self
                .journal
                .record(
                    "batch",
                    "issued",
                    Entry::CoachingRecommendation(recommendation.clone()),
                )
                .await
            {
                Ok(appended) => {
                    {
                        let mut alerts = self.alerts.lock().expect("alerts lock");
                        alerts.issued.insert(id);
                        alerts.last.insert(g.key.clone(), now);
                    }
                    tracing::info!(agent = %g.key, effect = ?g.verdict.effect_points, q = ?g.verdict.q_value, "Coaching recommendation issued.");
                    self.deliveries.push(Pending {
                        event: Deliverable::Recommendation(recommendation),
                        attempts: 0,
                        since: now,
                        next_attempt: None,
                        seq: appended.seq,
                    });
                }
                Err(e) => {
                    tracing::error!(error = %e, agent = %g.key, "Cannot journal a coaching recommendation; the next run will try again.")
                }
            }
        }
    }
}

fn recommendation(g: &GroupReport, report: &TrendReport) -> Recommendation {
    let w = report.windows.current;
    let key = format!(
        "reco:{}:{}:{}:{ALERT_RULE}:{ALGORITHM_VERSION}",
        g.key,
        w.start.format("%Y-%m-%d"),
        w.end.format("%Y-%m-%d")
    );
    Recommendation {
        event_id: event_id(&key),
        agent_id: g.key.clone(),
        agent_name: g.label.clone(),
        window_start: w.start,
        window_end: w.end,
        rule: ALERT_RULE.into(),
        algorithm_version: ALGORITHM_VERSION.into(),
        normalization_version: report.normalization_version.clone(),
        effect_points: g.verdict.effect_points.unwrap_or(0.0),
        q_value: g.verdict.q_value.unwrap_or(1.0),
        n_current: g.verdict.n_current,
        n_previous: g.verdict.n_previous,
        mean_current: g.current.mean.unwrap_or(0.0),
        mean_previous: g.previous.mean.unwrap_or(0.0),
    }
}

/// Logs a report: one structured event per group, then the summary line.
pub fn log_report(report: &TrendReport, run: u64) {
    for g in &report.groups {
        tracing::info!(
            target: "genesys_sentiment::trend",
            run,
            dimension = %g.dimension,
            key = %g.key,
            label = g.label.as_deref().unwrap_or(""),
            verdict = g.verdict.direction.as_str(),
            effect_points = g.verdict.effect_points,
            sen_slope_per_day = g.verdict.sen_slope_per_day,
            q_value = g.verdict.q_value,
            n_current = g.verdict.n_current,
            n_previous = g.verdict.n_previous,
            "Trend verdict."
        );
    }
    tracing::info!(target: "genesys_sentiment::trend", run, "{}", report.summary_line());
}
