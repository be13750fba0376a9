//! Display names for reports: the agents' and queues' names from Genesys
//! (`GET /api/v2/users?id=…`, `GET /api/v2/routing/queues?id=…`, 100 ids a request), cached
//! and refreshed at most daily, and whenever a report names an id the cache has not seen.
//! A failed lookup (a missing permission, Genesys down) leaves ids in the report, with one
//! warning naming what to fix; a run never fails for want of names.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use chrono::{DateTime, TimeDelta, Utc};

use super::analyzer::Labels;
use crate::analytics::{Dimension, TrendReport};
use crate::genesys::names::NameKind;
use crate::genesys::{ErrorKind, GenesysClient, GenesysError};
use crate::telemetry::metrics::{Metrics, OutcomeLabel};

/// How long cached names are trusted before they are asked for again.
pub const REFRESH_AFTER: TimeDelta = TimeDelta::days(1);

#[derive(Debug, Default)]
struct Cache {
    /// id → name; `None` for an id Genesys did not return (deleted, another division).
    names: HashMap<String, Option<String>>,
    refreshed_at: Option<DateTime<Utc>>,
}

/// The name cache of one org. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct NameResolver {
    client: GenesysClient,
    enabled: bool,
    users: Mutex<Cache>,
    queues: Mutex<Cache>,
    warned: Mutex<HashSet<&'static str>>,
    metrics: Metrics,
}

impl NameResolver {
    /// A resolver using `client`; `enabled = false` (`genesys.resolve_names`) keeps ids.
    pub fn new(client: GenesysClient, enabled: bool, metrics: Metrics) -> NameResolver {
        NameResolver {
            client,
            enabled,
            users: Mutex::default(),
            queues: Mutex::default(),
            warned: Mutex::default(),
            metrics,
        }
    }

    /// Names for every agent and queue of `report` that Genesys knows.
    pub async fn labels_for(&self, report: &TrendReport) -> Labels {
        let ids =
            |d: Dimension| -> Vec<String> { report.groups_of(d).map(|g| g.key.clone()).collect() };
        let mut labels = self.names(NameKind::User, ids(Dimension::Agent)).await;
        labels.extend(self.names(NameKind::Queue, ids(Dimension::Queue)).await);
        labels
    }

    /// Names of `ids` (those Genesys knows), from the cache where it is fresh.
    pub async fn names(&self, kind: NameKind, ids: Vec<String>) -> Labels {
        if !self.enabled || ids.is_empty() {
            return Labels::new();
        }
        let cache = match kind {
            NameKind::User => &self.users,
            NameKind::Queue => &self.queues,
        };
        let now = Utc::now();
        let wanted: Vec<String> = {
            let mut c = cache.lock().expect("names lock");
            if c.refreshed_at.is_none_or(|t| now - t > REFRESH_AFTER) {
                c.names.clear();
                c.refreshed_at = Some(now);
            }
            ids.iter()
                .filter(|id| !c.names.contains_key(*id))
                .cloned()
                .collect()
        };
        if !wanted.is_empty() {
            match self.client.names(kind, &wanted).await {
                Ok(found) => {
                    self.count("looked_up");
                    let found: HashMap<String, String> = found.into_iter().collect();
                    let mut c = cache.lock().expect("names lock");
                    for id in wanted {
                        let name = found.get(&id).cloned();
                        c.names.insert(id, name);
                    }
                }
                Err(e) => {
                    self.count("failed");
                    self.warn_once(kind, &e);
                    // Ask again next time: the failure may be temporary.
                    cache.lock().expect("names lock").refreshed_at = None;
                }
            }
        }
        let c = cache.lock().expect("names lock");
        ids.into_iter()
            .filter_map(|id| {
                let name = c.names.get(&id).cloned().flatten()?;
                Some((id, name))
            })
            .collect()
    }

    fn count(&self, outcome: &'static str) {
        self.metrics
            .name_lookups
            .get_or_create(&OutcomeLabel { outcome })
            .inc();
    }

    fn warn_once(&self, kind: NameKind, e: &GenesysError) {
        let what = match kind {
            NameKind::User => "users",
            NameKind::Queue => "queues",
        };
        if !self.warned.lock().expect("warned lock").insert(what) {
            return;
        }
        if e.kind() == ErrorKind::Forbidden {
            let permission = match kind {
                NameKind::User => "a permission to list users (the SDK documents none)",
                NameKind::Queue => "routing:queue:view",
            };
            tracing::warn!(error = %e, permission, "Cannot look up {what} names; reports show ids. Add the permission to the OAuth client's role, or set genesys.resolve_names = false.");
        } else {
            tracing::warn!(error = %e, "Cannot look up {what} names; reports show ids until a lookup succeeds.");
        }
    }
}
