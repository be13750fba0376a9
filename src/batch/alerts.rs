//! Coaching recommendations from a report: one per agent whose verdict is `declining`.
//!
//! A recommendation's id derives from (agent, window, rule, algorithm version), so a re-run
//! or a restart never notifies twice for the same window; a per-agent cool-down
//! (`coaching.alert_cooldown`) keeps sliding windows from notifying every day.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};

use crate::analytics::Dimension;
use crate::analytics::report::{Direction, GroupReport, TrendReport};
use crate::domain::delivery::{Deliverable, Pending};
use crate::domain::events::{Entry, Recommendation, event_id};
use crate::journal::Journal;
use crate::outbox::DeliveryQueue;

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

/// Issues recommendations: journals each, then queues it for delivery.
#[derive(Debug, Clone)]
pub struct Alerts {
    /// What was issued.
    pub state: Arc<Mutex<AlertState>>,
    /// The journal.
    pub journal: Journal,
    /// The forwarder's queue.
    pub deliveries: DeliveryQueue,
    /// `coaching.alert_cooldown`.
    pub cooldown: std::time::Duration,
}

impl Alerts {
    /// Issues a recommendation for every declining agent of `report` not yet notified for
    /// this window and outside the cool-down. A journal failure is logged; the next run
    /// tries again.
    pub async fn issue(&self, report: &TrendReport) {
        let cooldown = TimeDelta::from_std(self.cooldown).unwrap_or(TimeDelta::MAX);
        let now = Utc::now();
        // Replicas: another replica may have led (and issued) since this one started.
        if let Some(shared) = self.journal.shared() {
            match shared.recommendations().await {
                Ok((issued, last)) => {
                    let mut alerts = self.state.lock().expect("alerts lock");
                    alerts.issued.extend(issued.into_keys());
                    for (agent, at) in last {
                        let t = alerts.last.entry(agent).or_insert(at);
                        *t = (*t).max(at);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "Cannot read the recommendations other replicas issued; none issued this run.");
                    return;
                }
            }
        }
        for g in report
            .groups_of(Dimension::Agent)
            .filter(|g| g.verdict.direction == Direction::Declining)
        {
            let recommendation = recommendation(g, report);
            {
                let alerts = self.state.lock().expect("alerts lock");
                if alerts.issued.contains(&recommendation.event_id) {
                    continue;
                }
                if alerts.last.get(&g.key).is_some_and(|t| now - *t < cooldown) {
                    tracing::debug!(agent_id = %g.key, "Declining again within the alert cool-down; no new recommendation.");
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
                        let mut alerts = self.state.lock().expect("alerts lock");
                        alerts.issued.insert(id);
                        alerts.last.insert(g.key.clone(), now);
                    }
                    tracing::info!(agent_id = %g.key, effect_points = g.verdict.effect_points.unwrap_or(0.0), q_value = g.verdict.q_value.unwrap_or(1.0), "Coaching recommendation issued.");
                    if appended.owned {
                        self.deliveries.push(Pending {
                            event: Deliverable::Recommendation(recommendation),
                            attempts: 0,
                            since: now,
                            next_attempt: None,
                            seq: appended.seq,
                            at: appended.at,
                            amended: false,
                        });
                    }
                }
                Err(crate::journal::JournalError::Duplicate(_)) => {
                    // Issued by another replica meanwhile.
                    self.state.lock().expect("alerts lock").issued.insert(id);
                }
                Err(e) => {
                    tracing::error!(error = %e, agent_id = %g.key, "Cannot journal a coaching recommendation; the next run will try again.")
                }
            }
        }
    }
}

fn recommendation(g: &GroupReport, report: &TrendReport) -> Recommendation {
    let w = report.windows.current;
    let key = format!(
        "reco:{}:{}:{}:{ALERT_RULE}:{}",
        g.key,
        w.start.format("%Y-%m-%d"),
        w.end.format("%Y-%m-%d"),
        report.algorithm_version
    );
    Recommendation {
        event_id: event_id(&key),
        agent_id: g.key.clone(),
        agent_name: g.label.clone(),
        window_start: w.start,
        window_end: w.end,
        rule: ALERT_RULE.into(),
        algorithm_version: report.algorithm_version.clone(),
        normalization_version: report.normalization_version.clone(),
        effect_points: g.verdict.effect_points.unwrap_or(0.0),
        q_value: g.verdict.q_value.unwrap_or(1.0),
        n_current: g.verdict.n_current,
        n_previous: g.verdict.n_previous,
        mean_current: g.current.mean.unwrap_or(0.0),
        mean_previous: g.previous.mean.unwrap_or(0.0),
    }
}
