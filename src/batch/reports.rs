//! Reports and runs kept in memory for `/v1/trends`, `/v1/trends/history`, `/v1/runs` and
//! the dashboard: bounded by `batch.history_limit` and `batch.runs_limit`.

use std::collections::VecDeque;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::analytics::TrendReport;
use crate::domain::{BatchSource, RunOutcome};

/// One batch run as `/v1/runs` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// Run number since start-up.
    pub run: u64,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: DateTime<Utc>,
    /// Current window start.
    pub window_start: DateTime<Utc>,
    /// Current window end.
    pub window_end: DateTime<Utc>,
    /// `conversations` or `aggregates`.
    pub source: BatchSource,
    /// `succeeded` or `failed`.
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
    /// Why it failed.
    pub error: Option<String>,
}

#[derive(Debug)]
struct Inner {
    history: VecDeque<Arc<TrendReport>>,
    runs: VecDeque<RunInfo>,
    history_limit: usize,
    runs_limit: usize,
}

/// The store. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ReportStore {
    inner: Arc<RwLock<Inner>>,
    runs_done: Arc<watch::Sender<u64>>,
}

impl ReportStore {
    /// An empty store keeping `history_limit` reports and `runs_limit` runs.
    pub fn new(history_limit: usize, runs_limit: usize) -> ReportStore {
        ReportStore {
            inner: Arc::new(RwLock::new(Inner {
                history: VecDeque::new(),
                runs: VecDeque::new(),
                history_limit: history_limit.max(1),
                runs_limit: runs_limit.max(1),
            })),
            runs_done: Arc::new(watch::channel(0).0),
        }
    }

    /// Keeps a new report as the latest.
    pub fn publish(&self, report: TrendReport) {
        let mut s = self.inner.write().expect("reports lock");
        s.history.push_front(Arc::new(report));
        let limit = s.history_limit;
        s.history.truncate(limit);
    }

    /// Records a finished run (successful or not) and wakes anyone waiting for runs.
    pub fn record_run(&self, run: RunInfo) {
        {
            let mut s = self.inner.write().expect("reports lock");
            s.runs.push_front(run);
            let limit = s.runs_limit;
            s.runs.truncate(limit);
        }
        self.runs_done.send_modify(|n| *n += 1);
    }

    /// Seeds the run list (oldest first) from the journal at start-up.
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

    /// Runs kept, newest first.
    pub fn runs(&self) -> Vec<RunInfo> {
        self.inner
            .read()
            .expect("reports lock")
            .runs
            .iter()
            .cloned()
            .collect()
    }

    /// Waits until at least `n` runs have finished since start-up.
    pub async fn wait_for_runs(&self, n: u64) {
        let mut rx = self.runs_done.subscribe();
        let _ = rx.wait_for(|v| *v >= n).await;
    }
}
