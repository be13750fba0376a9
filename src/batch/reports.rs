//! Reports and runs for `/v1/trends`, `/v1/trends/history`, `/v1/runs` and the dashboard:
//! held in memory for fast answers, written through to the conversation store so they
//! survive a restart (seeded from it at start), bounded by `batch.history_limit` and
//! `batch.runs_limit`. A run in progress is shown first in `/v1/runs` with its progress.

use std::collections::VecDeque;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::pull::PullStats;
use crate::analytics::TrendReport;
use crate::domain::{BatchSource, RunOutcome};
use crate::store::{Store, StoreError};

/// One batch run as `/v1/runs` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// Run number since start-up.
    pub run: u64,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended (for a run in progress: the latest progress update).
    pub finished_at: DateTime<Utc>,
    /// Current window start.
    pub window_start: DateTime<Utc>,
    /// Current window end.
    pub window_end: DateTime<Utc>,
    /// `conversations` or `aggregates`.
    pub source: BatchSource,
    /// `running`, `succeeded` or `failed`.
    pub outcome: RunOutcome,
    /// Records aggregated.
    pub records: u64,
    /// Genesys requests made.
    pub requests: u64,
    /// 429s met.
    pub rate_limited: u64,
    /// Duration in milliseconds.
    pub duration_ms: u64,
    /// Agents declining in the report.
    pub declining: Option<u64>,
    /// Agents improving in the report.
    pub improving: Option<u64>,
    /// Data after this is provisional.
    pub provisional_after: Option<DateTime<Utc>>,
    /// What the pull did: days listed, scores fetched (a run in progress: so far).
    #[serde(default)]
    pub progress: Option<PullStats>,
    /// Why it failed.
    pub error: Option<String>,
    /// The replica that ran it (`server.replica_name`, or the host name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica: Option<String>,
}

impl RunInfo {
    /// The key runs are stored under.
    pub fn key(&self) -> String {
        format!("{}-{}", self.started_at.timestamp_millis(), self.run)
    }
}

#[derive(Debug)]
struct Inner {
    history: VecDeque<Arc<TrendReport>>,
    runs: VecDeque<RunInfo>,
    current: Option<RunInfo>,
    history_limit: usize,
    runs_limit: usize,
}

/// The reports and runs. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ReportStore {
    inner: Arc<RwLock<Inner>>,
    runs_done: Arc<watch::Sender<u64>>,
    store: Option<Store>,
}

impl ReportStore {
    /// An empty set keeping `history_limit` reports and `runs_limit` runs, written through to
    /// `store` when given.
    pub fn new(history_limit: usize, runs_limit: usize, store: Option<Store>) -> ReportStore {
        ReportStore {
            inner: Arc::new(RwLock::new(Inner {
                history: VecDeque::new(),
                runs: VecDeque::new(),
                current: None,
                history_limit: history_limit.max(1),
                runs_limit: runs_limit.max(1),
            })),
            runs_done: Arc::new(watch::channel(0).0),
            store,
        }
    }

    /// Loads the newest reports and runs from the store (at start-up). Returns how many runs
    /// it found (none: the caller may seed them from the journal).
    ///
    /// # Errors
    /// [`StoreError`].
    pub async fn load(&self) -> Result<usize, StoreError> {
        let Some(store) = &self.store else {
            return Ok(0);
        };
        let (history_limit, runs_limit) = {
            let s = self.inner.read().expect("reports lock");
            (s.history_limit, s.runs_limit)
        };
        let reports: Vec<TrendReport> = store.reports(history_limit).await?;
        let runs: Vec<RunInfo> = store.runs(runs_limit).await?;
        let found = runs.len();
        let mut s = self.inner.write().expect("reports lock");
        s.history = reports.into_iter().map(Arc::new).collect();
        s.runs = runs.into_iter().collect();
        Ok(found)
    }

    /// Keeps a new report as the latest (and in the store).
    pub async fn publish(&self, report: TrendReport) {
        let limit = {
            let mut s = self.inner.write().expect("reports lock");
            s.history.push_front(Arc::new(report.clone()));
            let limit = s.history_limit;
            s.history.truncate(limit);
            limit
        };
        if let Some(store) = &self.store
            && let Err(e) = store.save_report(report.generated_at, &report, limit).await
        {
            tracing::error!(error = %e, "Cannot store the report; it is served from memory until a restart.");
        }
    }

    /// Shows a run in progress (replaced by [`ReportStore::record_run`] when it ends).
    pub fn set_current(&self, run: RunInfo) {
        self.inner.write().expect("reports lock").current = Some(run);
    }

    /// Records a finished run (successful or not) and wakes anyone waiting for runs.
    pub async fn record_run(&self, run: RunInfo) {
        let limit = {
            let mut s = self.inner.write().expect("reports lock");
            s.current = None;
            s.runs.push_front(run.clone());
            let limit = s.runs_limit;
            s.runs.truncate(limit);
            limit
        };
        if let Some(store) = &self.store
            && let Err(e) = store
                .save_run(&run.key(), run.finished_at, &run, limit)
                .await
        {
            tracing::error!(error = %e, "Cannot store the batch run.");
        }
        self.runs_done.send_modify(|n| *n += 1);
    }

    /// Seeds the run list (oldest first), when the store had none (the journal's runs).
    pub fn seed_runs(&self, runs: impl IntoIterator<Item = RunInfo>) {
        let mut s = self.inner.write().expect("reports lock");
        for run in runs {
            s.runs.push_front(run);
        }
        let limit = s.runs_limit;
        s.runs.truncate(limit);
    }

    /// The latest report.
    pub fn latest(&self) -> Option<Arc<TrendReport>> {
        self.inner
            .read()
            .expect("reports lock")
            .history
            .front()
            .cloned()
    }

    /// Reports kept, newest first.
    pub fn history(&self) -> Vec<Arc<TrendReport>> {
        self.inner
            .read()
            .expect("reports lock")
            .history
            .iter()
            .cloned()
            .collect()
    }

    /// Runs kept, newest first, a run in progress before them.
    pub fn runs(&self) -> Vec<RunInfo> {
        let s = self.inner.read().expect("reports lock");
        s.current.iter().chain(s.runs.iter()).cloned().collect()
    }

    /// Finished runs kept, newest first.
    pub fn finished_runs(&self) -> Vec<RunInfo> {
        let s = self.inner.read().expect("reports lock");
        s.runs.iter().cloned().collect()
    }

    /// Waits until at least `n` runs have finished since start-up.
    pub async fn wait_for_runs(&self, n: u64) {
        let mut rx = self.runs_done.subscribe();
        let _ = rx.wait_for(|v| *v >= n).await;
    }
}
