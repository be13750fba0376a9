//! Shared state of the HTTP server: cheap-to-clone handles.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};

use crate::config::Settings;
use crate::telemetry::metrics::Metrics;

/// Where the daemon is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Bound and answering probes, but start-up (journal recovery, …) is not complete.
    Starting,
    /// Taking traffic.
    Ready,
    /// A shutdown signal arrived; finishing in-flight work.
    Draining,
}

impl Phase {
    /// Whether traffic should be sent here.
    pub fn is_ready(self) -> bool {
        self == Phase::Ready
    }

    /// Lowercase name for probe bodies.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Starting => "starting",
            Phase::Ready => "ready",
            Phase::Draining => "draining",
        }
    }
}

/// The readiness switch shared by the server and the composition root.
#[derive(Debug, Clone, Default)]
pub struct Readiness(Arc<AtomicU8>);

impl Readiness {
    /// The current phase.
    pub fn phase(&self) -> Phase {
        match self.0.load(Ordering::Acquire) {
            0 => Phase::Starting,
            1 => Phase::Ready,
            _ => Phase::Draining,
        }
    }

    /// Moves to `phase`.
    pub fn set(&self, phase: Phase) {
        let v = match phase {
            Phase::Starting => 0,
            Phase::Ready => 1,
            Phase::Draining => 2,
        };
        self.0.store(v, Ordering::Release);
    }
}

/// Everything that exists only once start-up has completed.
#[derive(Debug, Clone)]
pub struct Services {
    /// Webhook intake (dedupe + journal + hand-off).
    pub intake: crate::ingest::Intake,
    /// Webhook authentication.
    pub webhook_auth: super::webhook::auth::WebhookAuth,
    /// The journal.
    pub journal: crate::journal::Journal,
    /// Owed deliveries.
    pub deliveries: crate::outbox::DeliveryQueue,
    /// Recent delivery outcomes.
    pub delivery_log: crate::outbox::DeliveryLog,
    /// Reports and runs.
    pub reports: crate::batch::ReportStore,
    /// The batch job (for on-demand runs and its labels).
    pub batch: crate::batch::Batch,
    /// The forwarder's progress and when it counts as stalled (forwarding on only).
    pub forwarder: Option<(Arc<crate::outbox::ForwarderHealth>, std::time::Duration)>,
}

/// Axum state: settings, metrics, readiness and (once ready) the services. One `Arc`, so
/// the per-request clone axum makes is a single atomic increment.
#[derive(Debug, Clone)]
pub struct AppState(Arc<StateInner>);

/// What [`AppState`] points to.
#[derive(Debug)]
pub struct StateInner {
    /// The effective configuration.
    pub settings: Arc<Settings>,
    /// Metrics registry.
    pub metrics: Metrics,
    /// Starting / ready / draining.
    pub readiness: Readiness,
    /// Budget of log lines for refused webhooks (other than authentication failures).
    pub rejections_logged: crate::telemetry::limited::LogLimiter,
    /// Budget of log lines for webhooks refused on authentication: a flood of them does not
    /// silence a real sender's other refusals.
    pub unauthorized_logged: crate::telemetry::limited::LogLimiter,
    /// The same for signatures that verified but are stale: a sender with a skewed clock,
    /// or a replay of a captured request (which must not use up the senders' lines).
    pub stale_logged: crate::telemetry::limited::LogLimiter,
    services: OnceLock<Arc<Services>>,
}

impl std::ops::Deref for AppState {
    type Target = StateInner;

    fn deref(&self) -> &StateInner {
        &self.0
    }
}

impl AppState {
    /// State for a daemon that has not completed start-up.
    pub fn new(settings: Arc<Settings>, metrics: Metrics) -> AppState {
        AppState(Arc::new(StateInner {
            settings,
            metrics,
            readiness: Readiness::default(),
            rejections_logged: Default::default(),
            unauthorized_logged: Default::default(),
            stale_logged: Default::default(),
            services: OnceLock::new(),
        }))
    }

    /// The services, once start-up has completed.
    pub fn services(&self) -> Option<&Arc<Services>> {
        self.0.services.get()
    }

    /// Installs the services (once).
    pub fn install(&self, services: Services) {
        let _ = self.0.services.set(Arc::new(services));
    }
}
