//! The composition root: the one place that knows every module. It binds the server,
//! opens the journal, builds the shared Genesys client and analytics engine, spawns the
//! background tasks under one [`CancellationToken`] and [`TaskTracker`], and drains them on
//! shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::analytics::Normalizer;
use crate::batch::{
    AlertState, Alerts, Analyzer, Batch, NameResolver, ReportStore, RunInfo, scheduler,
};
use crate::config::Settings;
use crate::domain::RunOutcome;
use crate::domain::events::{BatchRun, Entry, Recovered};
use crate::genesys::GenesysClient;
use crate::http::webhook::auth::WebhookAuth;
use crate::http::{self, AppState, Phase, Services};
use crate::ingest::attribution::{AttributionTiming, Attributor};
use crate::ingest::enrich::Enricher;
use crate::ingest::recorder::ScoreRecorder;
use crate::ingest::{Dedupe, Intake};
use crate::journal::Journal;
use crate::outbox::{CoachingClient, DeliveryLog, DeliveryQueue, Forwarder, ForwarderHealth};
use crate::store::Store;
use crate::telemetry::metrics::Metrics;

/// Connections the admin listener keeps open at most (a dashboard, a scraper, an operator).
pub const ADMIN_MAX_CONNECTIONS: usize = 256;

/// Why the daemon could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr} ({key}): {source}")]
    Bind {
        /// The setting naming it (`server.listen` or `server.admin_listen`).
        key: &'static str,
        /// The configured address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The HTTP server failed.
    #[error("HTTP server failed: {0}")]
    Serve(std::io::Error),
    /// Draining took longer than `server.shutdown_deadline`.
    #[error("shutdown did not complete within {0:?}; exiting with work unfinished")]
    DrainDeadline(Duration),
    /// The journal could not be opened or recovered.
    #[error(transparent)]
    Journal(#[from] crate::journal::JournalError),
    /// The Genesys client could not be built.
    #[error("cannot build the Genesys client: {0}")]
    Genesys(#[from] crate::genesys::GenesysError),
    /// The coaching client could not be built.
    #[error("cannot build the coaching client: {0}")]
    Coaching(String),
    /// The conversation store could not be opened or migrated.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// A daemon instance: bound, then started, then drained.
pub struct Application {
    state: AppState,
    address: SocketAddr,
    admin_address: SocketAddr,
    listeners: Option<(TcpListener, TcpListener)>,
    servers: Vec<JoinHandle<std::io::Result<()>>>,
    stop_http: CancellationToken,
    root: CancellationToken,
    tracker: TaskTracker,
    /// Set once started: its deletions of jobs given up on are waited for at shutdown.
    genesys: Option<GenesysClient>,
}

impl Application {
    /// Binds `server.listen` (port 0 picks a free port) and prepares the state. Probes can be
    /// served from here on; readiness stays false until [`Application::start`].
    ///
    /// # Errors
    /// [`StartupError::Bind`] when the address cannot be bound.
    pub async fn build(settings: Settings) -> Result<Application, StartupError> {
        let bind = |key: &'static str, addr: SocketAddr| async move {
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|source| StartupError::Bind { key, addr, source })?;
            let local =
                listener
                    .local_addr()
                    .map_err(|source| StartupError::Bind { key, addr, source })?;
            Ok::<_, StartupError>((listener, local))
        };
        let (listener, address) = bind("server.listen", settings.server.listen).await?;
        let (admin, admin_address) =
            bind("server.admin_listen", settings.server.admin_listen).await?;
        let state = AppState::new(Arc::new(settings), Metrics::new());
        Ok(Application {
            state,
            address,
            admin_address,
            listeners: Some((listener, admin)),
            servers: Vec::new(),
            stop_http: CancellationToken::new(),
            root: CancellationToken::new(),
            tracker: TaskTracker::new(),
            genesys: None,
        })
    }

    /// The bound public address (useful when `server.listen` asked for port 0).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The bound admin address (`server.admin_listen`).
    pub fn admin_address(&self) -> SocketAddr {
        self.admin_address
    }

    /// The shared state (settings, metrics, readiness, services).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The root cancellation token every background task watches.
    pub fn cancellation(&self) -> CancellationToken {
        self.root.clone()
    }

    /// Starts answering HTTP (probes first; the rest once started). Idempotent.
    pub fn serve_http(&mut self) {
        let Some((public, admin)) = self.listeners.take() else {
            return;
        };
        let server = &self.state.settings.server;
        let public_limits = http::serve::Limits {
            header_read_timeout: server.header_read_timeout.get(),
            max_connections: server.max_connections.get(),
        };
        let admin_limits = http::serve::Limits {
            max_connections: ADMIN_MAX_CONNECTIONS,
            ..public_limits
        };
        for (listener, router, limits) in [
            (
                public,
                http::public_router(self.state.clone()),
                public_limits,
            ),
            (admin, http::admin_router(self.state.clone()), admin_limits),
        ] {
            let (stop, metrics) = (self.stop_http.clone(), self.state.metrics.clone());
            self.servers.push(tokio::spawn(http::serve::serve(
                listener, router, limits, stop, metrics,
            )));
        }
        tracing::info!(address = %self.address, admin = %self.admin_address, "Listening.");
    }

    /// Completes start-up: opens and recovers the journal, builds the clients, spawns the
    /// background tasks, then turns readiness on.
    ///
    /// # Errors
    /// Any [`StartupError`] from the components.
    pub async fn start(&mut self) -> Result<(), StartupError> {
        self.serve_http();
        let settings = self.state.settings.clone();
        let metrics = self.state.metrics.clone();
        // The store first: on PostgreSQL its migrations create the shared journal's tables.
        let store = Store::open(settings.store.url()).await?;
        let mut unreadable = Vec::new();
        let mut shared_dead_letters = None;
        let (journal, mut recovered) = if store.backend() == crate::store::Backend::Postgres {
            let forwarding = !settings.coaching.url.trim().is_empty();
            let shared = crate::journal::postgres::Shared::connect(
                settings.store.url(),
                settings.server.replica(),
                settings.journal.outbox_lease.get(),
                settings.journal.dedupe_window.get(),
                // Forwarding off: owed rows stay in the database for a replica that forwards.
                // (At least one: 0 is how the shared journal knows forwarding is off.)
                if forwarding {
                    settings.coaching.owed_in_memory.max(1)
                } else {
                    0
                },
            )
            .await?;
            // Conversation ends this replica accepted and was still fetching scores for.
            let enrich_window =
                settings.webhook.sta_max_wait.get() + settings.webhook.sta_retry_delay.get();
            let (journal, recovery) =
                Journal::open_shared(Arc::new(shared), &settings.journal, enrich_window).await?;
            unreadable = recovery.unreadable;
            shared_dead_letters = Some(recovery.dead_letters);
            (journal, recovery.state)
        } else {
            let journal_settings = settings.journal.clone();
            let journal_metrics = metrics.clone();
            let (journal, recovered) = tokio::task::spawn_blocking(move || {
                Journal::open(&journal_settings, journal_metrics)
            })
            .await
            .map_err(|e| StartupError::Serve(std::io::Error::other(e.to_string())))??;
            if recovered.truncated_bytes > 0 {
                let entry = Entry::JournalRecovered(Recovered {
                    truncated_bytes: recovered.truncated_bytes,
                    records: recovered.records,
                });
                journal
                    .record("daemon", "truncated_torn_tail", entry)
                    .await?;
            }
            (journal, recovered)
        };
        for (event_id, why) in unreadable {
            dead_letter_unreadable(&journal, event_id, &why).await?;
        }
        recovered.prune_dedupe(
            chrono::Utc::now(),
            settings.journal.dedupe_window.get(),
            settings.journal.dedupe_max_keys,
        );
        tracing::info!(state = ?recovered.summary(), "Journal state rebuilt.");
        metrics.dead_letters.set(
            shared_dead_letters.map_or(recovered.dead_letters.len() as i64, |n| {
                i64::try_from(n).unwrap_or(i64::MAX)
            }),
        );

        let admin = settings.server.admin_listen;
        if !admin.ip().is_loopback() && settings.server.admin_token.expose().is_none() {
            tracing::warn!(
                %admin,
                "server.admin_listen is not a loopback address and server.admin_token is not set: anyone who can reach it can read agent scores. Set server.admin_token_file, or keep the port on a private network."
            );
        }
        let webhook = &settings.webhook;
        if webhook
            .basic_password
            .expose()
            .is_some_and(|p| p.chars().count() < crate::config::MIN_BASIC_PASSWORD_CHARS)
        {
            tracing::warn!(
                "webhook.basic_password is shorter than {} characters: anyone who can reach the webhook port can guess it; use a longer random one.",
                crate::config::MIN_BASIC_PASSWORD_CHARS
            );
        }
        if webhook.allow_unauthenticated {
            // Repeated hourly, so it is not lost at the top of a long log.
            let cancel = self.root.clone();
            self.tracker.spawn(async move {
                loop {
                    tracing::warn!("webhook.allow_unauthenticated is true: anyone who can reach the webhook port can post events. Only for demos and tests.");
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        () = tokio::time::sleep(Duration::from_secs(3600)) => {}
                    }
                }
            });
        }
        let normalizer = Arc::new(Normalizer::from_settings(&settings.analytics));
        let genesys = GenesysClient::new(&settings.genesys, metrics.clone())?;
        self.genesys = Some(genesys.clone());
        let coaching = CoachingClient::new(&settings.coaching).map_err(StartupError::Coaching)?;
        let deliveries = if coaching.is_some() {
            DeliveryQueue::new(metrics.clone()).holding(settings.coaching.owed_in_memory)
        } else {
            DeliveryQueue::counting_only(metrics.clone())
        };
        if let Some(shared) = journal.shared() {
            // Renewal first and on its own: the claims recovery just took stay this
            // replica's while they are routed, whatever else is slow.
            self.tracker.spawn(shared_upkeep(
                Upkeep::Renew,
                shared.clone(),
                journal.clone(),
                None,
                deliveries.clone(),
                settings.journal.outbox_lease.get(),
                self.root.clone(),
            ));
        }
        let (enrich_tx, enrich_rx) = tokio::sync::mpsc::channel(crate::ingest::enrich::QUEUE);
        let dedupe = Arc::new(Dedupe::new(
            std::mem::take(&mut recovered.dedupe),
            settings.journal.dedupe_window.get(),
            settings.journal.dedupe_max_keys,
        ));
        let attributor = Attributor::new(
            journal.clone(),
            deliveries.clone(),
            dedupe.clone(),
            Some(genesys.realtime()),
            ScoreRecorder::spawn(
                store.clone(),
                metrics.clone(),
                self.root.clone(),
                &self.tracker,
            ),
            AttributionTiming {
                lookup_delay: settings.webhook.attribution_lookup_delay.get(),
                max_wait: settings.webhook.attribution_max_wait.get(),
                max_held: settings.webhook.attribution_max_held,
                known_ttl: (2
                    * (settings.webhook.sta_max_wait.get()
                        + settings.webhook.attribution_max_wait.get()))
                .max(Duration::from_secs(3600)),
                max_known: settings.journal.dedupe_max_keys,
            },
            metrics.clone(),
        );
        attributor.seed_known(recovered.attributions.drain().map(|(_, v)| v));
        // Each owed event is read back (in batches, so memory stays bounded) for the live
        // reports and the attribution step; scores still waiting for their agent are held
        // again, from when they arrived.
        let owed = recovered.take_pending_in_order();
        for batch in owed.chunks(1000) {
            let (dir, copy) = (journal.dir().to_owned(), batch.to_vec());
            let read = tokio::task::spawn_blocking(move || {
                copy.into_iter()
                    .map(|o| {
                        let event = crate::journal::read::event(&dir, &o.body, &o.event_id);
                        (o, event)
                    })
                    .collect::<Vec<_>>()
            })
            .await;
            let Ok(read) = read else {
                // Owed all the same: the forwarder reads them when it sends.
                batch.iter().cloned().for_each(|o| deliveries.push_owed(o));
                continue;
            };
            for (owed, event) in read {
                match event {
                    Ok(event) => {
                        let pending = owed.with_event(event);
                        let since = pending.since;
                        attributor.route(pending, since).await;
                    }
                    Err(e) => {
                        // The forwarder dead-letters it with this reason.
                        tracing::error!(event_id = %owed.event_id, error = %e, "Cannot read an owed event back from the journal.");
                        deliveries.push_owed(owed);
                    }
                }
            }
        }
        self.tracker
            .spawn(attributor.clone().run(self.root.clone()));
        if let Some(shared) = journal.shared() {
            for task in [Upkeep::Seal, Upkeep::Claim, Upkeep::Expire] {
                self.tracker.spawn(shared_upkeep(
                    task,
                    shared.clone(),
                    journal.clone(),
                    Some(attributor.clone()),
                    deliveries.clone(),
                    settings.journal.outbox_lease.get(),
                    self.root.clone(),
                ));
            }
        }
        let intake = Intake::new(
            journal.clone(),
            dedupe,
            normalizer.clone(),
            attributor,
            enrich_tx,
        );

        let delivery_log = DeliveryLog::default();
        let mut forwarder_health = None;
        match coaching {
            Some(client) => {
                let health = Arc::new(ForwarderHealth::default());
                forwarder_health = Some((
                    health.clone(),
                    crate::outbox::forwarder::stall_after(&settings.coaching),
                ));
                let forwarder = Forwarder {
                    health,
                    log: delivery_log.clone(),
                    queue: deliveries.clone(),
                    journal: journal.clone(),
                    client,
                    settings: settings.coaching.clone(),
                    metrics: metrics.clone(),
                };
                self.tracker.spawn(forwarder.run(self.root.clone()));
            }
            None => tracing::warn!(
                owed = deliveries.len(),
                "coaching.url is empty: forwarding is off and accepted events stay owed in the journal (set it for production: what is owed grows in memory and in every checkpoint, and keeps its journal segments from being archived)."
            ),
        }
        let enricher = Enricher {
            client: genesys.realtime(),
            journal: journal.clone(),
            intake: intake.clone(),
            settings: settings.webhook.clone(),
            metrics: metrics.clone(),
        };
        let backlog: Vec<_> = recovered.enrichment.drain().map(|(_, e)| e).collect();
        self.tracker
            .spawn(enricher.run(backlog, enrich_rx, self.root.clone()));

        let reports = ReportStore::new(
            settings.batch.history_limit.get(),
            settings.batch.runs_limit.get(),
            Some(store.clone()),
        );
        if reports.load().await? == 0 {
            // A store from before runs were kept there: the journal has them.
            reports.seed_runs(
                recovered
                    .batch_runs
                    .iter()
                    .map(|(time, outcome, run)| run_info(*time, outcome, run)),
            );
        }
        let alerts = Alerts {
            state: Arc::new(std::sync::Mutex::new(AlertState {
                issued: recovered.recommendations.keys().cloned().collect(),
                last: recovered.last_recommendation.clone(),
            })),
            journal: journal.clone(),
            deliveries: deliveries.clone(),
            cooldown: settings.coaching.alert_cooldown.get(),
        };
        crate::batch::run::zero_verdict_gauges(&metrics);
        let batch = Batch {
            analyzer: Analyzer::new(genesys.clone(), &settings, store.clone()),
            journal: journal.clone(),
            reports: reports.clone(),
            alerts,
            metrics: metrics.clone(),
            settings: settings.clone(),
            names: Arc::new(NameResolver::new(
                genesys.realtime(),
                settings.genesys.resolve_names,
                metrics.clone(),
                Some(store.clone()),
            )),
            stop: self.root.clone(),
        };
        if settings.batch.enabled {
            let job = batch.clone();
            // Replicas on one PostgreSQL store: one runs each scheduled batch, the others
            // serve its reports from the store.
            let lease = Arc::new(crate::store::BatchLease::new(store.clone()));
            let leading = Arc::new(std::sync::atomic::AtomicU8::new(0));
            let follower_reports = reports.clone();
            let replica = settings.server.replica();
            self.tracker.spawn(scheduler::run_every(
                settings.batch.interval.get(),
                settings.batch.run_at_startup,
                self.root.clone(),
                move |run| {
                    let (job, lease, leading) = (job.clone(), lease.clone(), leading.clone());
                    let (reports, replica) = (follower_reports.clone(), replica.clone());
                    async move {
                        let leads = lease.lead().await.map_err(|e| {
                            format!("cannot tell which replica runs the batch: {e}")
                        })?;
                        let role = if leads { 1 } else { 2 };
                        if leading.swap(role, std::sync::atomic::Ordering::Relaxed) != role {
                            if leads {
                                tracing::info!(%replica, "This replica runs the scheduled batch.");
                            } else {
                                tracing::info!(%replica, "Another replica runs the scheduled batch; this one serves its reports from the store.");
                            }
                        }
                        if leads {
                            job.run_once(run).await.map(|_| ()).map_err(|e| e.to_string())
                        } else {
                            reports.load().await.map(|_| ()).map_err(|e| e.to_string())
                        }
                    }
                },
            ));
        }

        self.state.install(Services {
            intake,
            webhook_auth: WebhookAuth::from_settings(&settings.webhook),
            journal,
            deliveries,
            delivery_log,
            reports,
            batch,
            forwarder: forwarder_health,
        });
        self.state.readiness.set(Phase::Ready);
        self.state.metrics.ready.set(1);
        tracing::info!("Ready.");
        Ok(())
    }

    /// Drains: readiness off, stop accepting and finish in-flight requests, cancel the
    /// background tasks and wait for them, all within `server.shutdown_deadline`.
    ///
    /// # Errors
    /// [`StartupError::DrainDeadline`] when something did not finish in time.
    pub async fn shutdown(mut self) -> Result<(), StartupError> {
        let deadline_len = self.state.settings.server.shutdown_deadline.get();
        let deadline = Instant::now() + deadline_len;
        self.state.readiness.set(Phase::Draining);
        self.state.metrics.ready.set(0);
        let delay = self.state.settings.server.drain_delay.get();
        tracing::info!(deadline = ?deadline_len, drain_delay = ?delay, "Draining: readiness is off; the listeners close after the drain delay.");
        // The load balancer sees /readyz fail and stops sending while requests still succeed.
        tokio::time::sleep(delay).await;
        self.stop_http.cancel();
        for server in std::mem::take(&mut self.servers) {
            match tokio::time::timeout_at(deadline, server).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => return Err(StartupError::Serve(e)),
                Ok(Err(join)) => {
                    return Err(StartupError::Serve(std::io::Error::other(join.to_string())));
                }
                Err(_) => return Err(StartupError::DrainDeadline(deadline_len)),
            }
        }
        self.root.cancel();
        self.tracker.close();
        if tokio::time::timeout_at(deadline, self.tracker.wait())
            .await
            .is_err()
        {
            return Err(StartupError::DrainDeadline(deadline_len));
        }
        if let Some(genesys) = &self.genesys {
            // A run stopped above may have left a job to delete: best effort, with at most
            // half of the time left, so the journal still closes within the deadline.
            genesys
                .settle(deadline.saturating_duration_since(Instant::now()) / 2)
                .await;
        }
        if let Some(services) = self.state.services() {
            // Last: everything queued before this point is made durable, then the lock goes.
            if tokio::time::timeout_at(deadline, services.journal.close())
                .await
                .is_err()
            {
                return Err(StartupError::DrainDeadline(deadline_len));
            }
        }
        tracing::info!("Stopped.");
        Ok(())
    }

    /// `serve`: start, run until `stop` resolves, then drain.
    ///
    /// # Errors
    /// Start-up failures, or a drain that missed its deadline.
    pub async fn run_until_stopped(
        mut self,
        stop: impl Future<Output = ()>,
    ) -> Result<(), StartupError> {
        self.start().await?;
        stop.await;
        self.shutdown().await
    }
}

fn run_info(time: chrono::DateTime<chrono::Utc>, outcome: &str, run: &BatchRun) -> RunInfo {
    RunInfo {
        run: run.run,
        started_at: time - chrono::TimeDelta::milliseconds(run.duration_ms as i64),
        finished_at: time,
        window_start: run.window_start,
        window_end: run.window_end,
        source: run.data_source,
        outcome: RunOutcome::parse(outcome).unwrap_or(RunOutcome::Failed),
        records: run.records,
        requests: run.requests,
        rate_limited: run.rate_limited,
        duration_ms: run.duration_ms,
        declining: run.declining,
        improving: run.improving,
        provisional_after: None,
        progress: None,
        error: run.error.clone(),
        replica: None,
    }
}

/// Resolves at the first SIGTERM or Ctrl-C, and arranges for a second one to end the
/// process at once (exit status 130).
pub async fn shutdown_signal() {
    wait_for_signal().await;
    tracing::info!("Shutdown signal received; a second signal exits immediately.");
    tokio::spawn(async {
        wait_for_signal().await;
        tracing::warn!("Second signal received; exiting now.");
        std::process::exit(130);
    });
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).expect("can install a SIGTERM handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The shared journal's background work on every replica, each in its own task so a long
/// sealing pass never delays the renewal of claims.
#[derive(Debug, Clone, Copy)]
enum Upkeep {
    /// Seal committed records into the chain (one replica at a time), every 200 ms.
    Seal,
    /// Renew this replica's claims and stop sending what another replica took over, every
    /// third of the lease; count what the shared outbox owes (for `coaching.max_lag`).
    Renew,
    /// Claim what a replica stopped renewing (as far as this one has room), every third of
    /// the lease.
    Claim,
    /// Forget dedupe keys past the window, every minute.
    Expire,
}

async fn shared_upkeep(
    task: Upkeep,
    shared: Arc<crate::journal::postgres::Shared>,
    journal: Journal,
    attributor: Option<Attributor>,
    deliveries: DeliveryQueue,
    lease: Duration,
    cancel: CancellationToken,
) {
    let every = match task {
        Upkeep::Seal => Duration::from_millis(200),
        Upkeep::Renew | Upkeep::Claim => lease / 3,
        Upkeep::Expire => Duration::from_secs(60),
    };
    let mut timer = tokio::time::interval(every);
    timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // One warning until it works again: a database outage is not a flood.
    let mut failing = false;
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = timer.tick() => {}
        }
        let result = match task {
            Upkeep::Seal => shared.seal().await.map(|_| ()),
            Upkeep::Expire => shared.expire().await.map(|_| ()),
            Upkeep::Renew => renew(&shared, &deliveries).await,
            Upkeep::Claim => match &attributor {
                Some(attributor) => claims(&shared, &journal, attributor).await,
                None => Ok(()),
            },
        };
        if let Upkeep::Renew = task {
            // Renewing is a write: whether it worked is whether the database takes them.
            if result.is_ok() {
                journal.database_answered();
            } else {
                journal.database_failed();
            }
        }
        match result {
            Ok(()) if failing => {
                failing = false;
                tracing::info!(task = ?task, "Shared journal upkeep works again.");
            }
            Ok(()) => {}
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(task = ?task, error = %e, "Shared journal upkeep failed; retrying.");
            }
            Err(_) => {}
        }
    }
}

/// Dead-letters an owed event of the shared journal whose record cannot be read back.
async fn dead_letter_unreadable(
    journal: &Journal,
    event_id: String,
    why: &str,
) -> Result<(), crate::journal::JournalError> {
    tracing::error!(%event_id, error = %why, "Cannot read an owed event back from the shared journal; dead-lettering it.");
    let outcome = crate::domain::events::DeliveryOutcome {
        event_id,
        attempt: 0,
        status: None,
        error: Some(format!("cannot read the event back: {why}")),
        retry_at: None,
    };
    journal
        .record("daemon", "unreadable", Entry::DeadLettered(outcome))
        .await
        .map(|_| ())
}

/// One pass of [`Upkeep::Renew`].
async fn renew(
    shared: &crate::journal::postgres::Shared,
    deliveries: &DeliveryQueue,
) -> Result<(), crate::journal::JournalError> {
    let lost = shared.renew().await?;
    if !lost.is_empty() {
        tracing::warn!(
            owed = lost.len(),
            "Another replica took over deliveries this one was too slow to renew; it stops sending them."
        );
        for id in &lost {
            deliveries.withdraw(id);
        }
    }
    shared.count_owed().await?;
    Ok(())
}

/// One pass of [`Upkeep::Claim`].
async fn claims(
    shared: &crate::journal::postgres::Shared,
    journal: &Journal,
    attributor: &Attributor,
) -> Result<(), crate::journal::JournalError> {
    let claimed = shared.claim(shared.room().min(1000), false).await?;
    if !claimed.is_empty() {
        tracing::info!(
            owed = claimed.len(),
            "Took over owed deliveries whose replica stopped renewing its claim."
        );
    }
    for c in claimed {
        match c {
            Ok(p) => {
                let since = p.since;
                attributor.route(p, since).await;
            }
            Err((event_id, why)) => {
                if let Err(e) = dead_letter_unreadable(journal, event_id.clone(), &why).await {
                    // Not renewed from now on: its claim runs out and it is claimed again.
                    shared.release(&event_id);
                    tracing::warn!(error = %e, "Cannot dead-letter an unreadable owed event now; it is claimed again later.");
                }
            }
        }
    }
    Ok(())
}
