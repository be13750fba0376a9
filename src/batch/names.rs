//! Display names for reports: the agents' and queues' names from Genesys
//! (`GET /api/v2/users?id=…`, `GET /api/v2/routing/queues?id=…`, 100 ids a request), cached
//! in the conversation store and asked again at most daily, and whenever a report names an
//! id the cache has not seen. A failed lookup (a missing permission, Genesys down) keeps
//! what is cached (or ids), with one warning per kind of failure naming what to fix; a run
//! never fails for want of names.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::Mutex;

use super::analyzer::Labels;
use crate::analytics::{Dimension, TrendReport};
use crate::genesys::names::NameKind;
use crate::genesys::{ErrorKind, GenesysClient, GenesysError};
use crate::store::Store;
use crate::telemetry::metrics::{Metrics, OutcomeLabel};

/// How long a cached name is trusted before it is asked for again.
pub const REFRESH_AFTER: TimeDelta = TimeDelta::days(1);

#[derive(Debug, Default)]
struct Cache {
    /// Loaded from the store yet.
    loaded: bool,
    /// id → (name, when asked); `None` for an id Genesys did not return.
    names: HashMap<String, (Option<String>, DateTime<Utc>)>,
}

/// The name cache of one org.
#[derive(Debug)]
pub struct NameResolver {
    client: GenesysClient,
    enabled: bool,
    users: Mutex<Cache>,
    queues: Mutex<Cache>,
    warned: std::sync::Mutex<HashSet<(&'static str, ErrorKind)>>,
    metrics: Metrics,
    store: Option<Store>,
}

fn store_kind(kind: NameKind) -> &'static str {
    match kind {
        NameKind::User => "user",
        NameKind::Queue => "queue",
    }
}

impl NameResolver {
    /// A resolver using `client` (real-time priority: name lookups share the reserve);
    /// `enabled = false` (`genesys.resolve_names`) keeps ids. With a store the cache survives
    /// restarts.
    pub fn new(
        client: GenesysClient,
        enabled: bool,
        metrics: Metrics,
        store: Option<Store>,
    ) -> NameResolver {
        NameResolver {
            client,
            enabled,
            users: Mutex::default(),
            queues: Mutex::default(),
            warned: std::sync::Mutex::default(),
            metrics,
            store,
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
        let mut cache = match kind {
            NameKind::User => self.users.lock().await,
            NameKind::Queue => self.queues.lock().await,
        };
        if !cache.loaded {
            cache.loaded = true;
            if let Some(store) = &self.store {
                match store.names(store_kind(kind)).await {
                    Ok(names) => cache.names = names,
                    Err(e) => {
                        tracing::warn!(error = %e, "Cannot read cached names from the store.")
                    }
                }
            }
        }
        let now = Utc::now();
        let wanted: Vec<String> = ids
            .iter()
            .filter(|id| {
                cache
                    .names
                    .get(*id)
                    .is_none_or(|(_, at)| now - *at > REFRESH_AFTER)
            })
            .cloned()
            .collect();
        if !wanted.is_empty() {
            match self.client.names(kind, &wanted).await {
                Ok(found) => {
                    self.count("looked_up");
                    let found: HashMap<String, String> = found.into_iter().collect();
                    let rows: Vec<(String, Option<String>)> = wanted
                        .into_iter()
                        .map(|id| {
                            let name = found.get(&id).cloned();
                            (id, name)
                        })
                        .collect();
                    for (id, name) in &rows {
                        cache.names.insert(id.clone(), (name.clone(), now));
                    }
                    if let Some(store) = &self.store
                        && let Err(e) = store.save_names(store_kind(kind), &rows, now).await
                    {
                        tracing::warn!(error = %e, "Cannot cache names in the store.");
                    }
                }
                Err(e) => {
                    // Stale names are better than ids; the next report asks again.
                    self.count("failed");
                    self.warn_once(kind, &e);
                }
            }
        }
        ids.into_iter()
            .filter_map(|id| {
                let name = cache.names.get(&id).and_then(|(n, _)| n.clone())?;
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
        if !self
            .warned
            .lock()
            .expect("warned lock")
            .insert((what, e.kind()))
        {
            return;
        }
        if e.kind() == ErrorKind::Forbidden {
            let permission = match kind {
                NameKind::User => {
                    "read access to the users' divisions (GET /api/v2/users lists no permission)"
                }
                NameKind::Queue => "routing:queue:view",
            };
            tracing::warn!(error = %e, permission, "Cannot look up {what} names; reports show ids. Add the permission to the OAuth client's role, or set genesys.resolve_names = false.");
        } else {
            tracing::warn!(error = %e, "Cannot look up {what} names; reports show ids (or the names last seen) until a lookup succeeds.");
        }
    }
}
