//! A local Genesys Cloud: the real wire format (docs/genesys-api.md), a synthetic org with known
//! ground truth, and fault injection. The embedded default `demo` runs against, and what
//! the tests use.
//!
//! Served paths:
//! - `POST /oauth/token` (client credentials, HTTP Basic)
//! - `POST /api/v2/analytics/conversations/details/query`
//! - `POST /api/v2/analytics/conversations/details/jobs`, `GET …/jobs/{id}`,
//!   `GET …/jobs/{id}/results`, `DELETE …/jobs/{id}`, `GET …/jobs/availability`
//! - `GET /api/v2/speechandtextanalytics/conversations/{id}`
//! - `POST /api/v2/analytics/transcripts/aggregates/query`
//! - `GET /api/v2/analytics/conversations/{id}/details`
//! - `GET /api/v2/users?id=…`, `GET /api/v2/routing/queues?id=…`
//! - emulator only: `GET /emulator/ground-truth`, `GET /emulator/org`, `GET /emulator/stats`,
//!   `GET|PUT /emulator/faults`, and the coaching sink under `/sink`.

pub mod api;
pub mod gate;
pub mod org;
pub mod sink;
pub mod webhooks;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub use gate::Faults;
pub use org::{Org, OrgSpec};

/// Default credentials the emulator accepts.
pub const DEFAULT_CLIENT_ID: &str = "emulator";
/// Default secret the emulator accepts.
pub const DEFAULT_CLIENT_SECRET: &str = "emulator-secret";

/// How the emulator behaves.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// The org to generate.
    pub org: OrgSpec,
    /// Accepted client id.
    pub client_id: String,
    /// Accepted client secret.
    pub client_secret: String,
    /// `expires_in` of issued tokens.
    pub token_lifetime: Duration,
    /// Requests per token per minute before 429.
    pub rate_limit_per_minute: u64,
    /// `dataAvailabilityDate` = history end minus this.
    pub availability_lag: Duration,
    /// Status polls a job answers QUEUED, then PENDING, before FULFILLED.
    pub job_polls_per_state: u32,
    /// Faults active from the start.
    pub faults: Faults,
    /// Coaching sink settings.
    pub sink: sink::SinkConfig,
    /// Results reachable by paging one details query (Genesys: 100 000); lower it to test
    /// what happens on a day with more conversations than that.
    pub max_paging_results: u64,
    /// Keep every request body the API receives (for the conformance test), at most
    /// [`RECORDED_MAX`].
    pub record_requests: bool,
    /// Topics the org does not offer to any transport (e.g. to try `doctor` on an org
    /// without the sentiment topic).
    pub unoffered_topics: Vec<String>,
}

/// Most request bodies kept when [`EmulatorConfig::record_requests`] is on.
pub const RECORDED_MAX: usize = 10_000;

/// A request body the emulator received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// `GET` or `POST`.
    pub method: &'static str,
    /// The path template, e.g. `/api/v2/analytics/conversations/details/query`.
    pub path: &'static str,
    /// The body (JSON for POSTs; empty for GETs).
    pub body: Vec<u8>,
}

impl EmulatorConfig {
    /// Defaults for an org generated from `seed`.
    pub fn new(seed: u64) -> EmulatorConfig {
        EmulatorConfig {
            org: OrgSpec::new(seed),
            client_id: DEFAULT_CLIENT_ID.into(),
            client_secret: DEFAULT_CLIENT_SECRET.into(),
            token_lifetime: Duration::from_secs(86_400),
            rate_limit_per_minute: 300,
            availability_lag: Duration::from_secs(6 * 3600),
            job_polls_per_state: 1,
            faults: Faults::default(),
            sink: sink::SinkConfig::default(),
            max_paging_results: 100_000,
            record_requests: false,
            unoffered_topics: Vec::new(),
        }
    }
}

/// Counters for benchmarks and the admin endpoint.
#[derive(Debug, Default)]
pub struct EmulatorStats {
    /// `/api/v2` requests received.
    pub api_requests: AtomicU64,
    /// 429 answers given.
    pub rate_limited: AtomicU64,
    /// Tokens issued.
    pub tokens_issued: AtomicU64,
    /// 401 answers given (a missing, expired or revoked token).
    pub unauthorized: AtomicU64,
}

/// Fault state: the settings, plus when a storm ends.
#[derive(Debug, Default)]
pub struct FaultState {
    /// Current settings.
    pub current: Faults,
    /// End of the 429 storm, if one is on.
    pub storm_until: Option<Instant>,
}

/// Shared emulator state.
#[derive(Clone)]
pub struct EmulatorState {
    /// The org.
    pub org: Arc<Org>,
    /// Configuration.
    pub config: Arc<EmulatorConfig>,
    /// Issued tokens.
    pub tokens: Arc<Mutex<HashMap<String, gate::TokenState>>>,
    /// Faults.
    pub faults: Arc<Mutex<FaultState>>,
    /// Jobs.
    pub jobs: Arc<Mutex<HashMap<String, api::Job>>>,
    /// Randomness for faults and ids.
    pub rng: Arc<Mutex<ChaCha8Rng>>,
    /// Counters.
    pub stats: Arc<EmulatorStats>,
    /// The coaching sink.
    pub sink: sink::Sink,
    /// Request bodies received, when recording is on.
    pub recorded: Arc<Mutex<Vec<RecordedRequest>>>,
    /// STA answers given with a score, per conversation id (how often each was fetched).
    pub sta_answers: Arc<Mutex<HashMap<String, u32>>>,
    /// The `ongoing` fault's ids, for lookups per conversation.
    pub ongoing: Arc<std::sync::RwLock<std::collections::HashSet<String>>>,
}

impl EmulatorState {
    /// Builds the state (generates the org).
    pub fn new(config: EmulatorConfig) -> EmulatorState {
        let org = Org::generate(config.org.clone());
        let state = EmulatorState {
            org: Arc::new(org),
            tokens: Arc::default(),
            faults: Arc::new(Mutex::new(FaultState::default())),
            jobs: Arc::default(),
            rng: Arc::new(Mutex::new(ChaCha8Rng::seed_from_u64(
                config.org.seed ^ 0x5eed,
            ))),
            stats: Arc::default(),
            sink: sink::Sink::new(config.sink.clone()),
            recorded: Arc::default(),
            sta_answers: Arc::default(),
            ongoing: Arc::default(),
            config: Arc::new(config),
        };
        let initial = state.config.faults.clone();
        state.apply_faults(initial);
        state
    }

    /// Replaces the fault settings; `storm_seconds` starts a storm now; `revoke_tokens`
    /// revokes every token issued so far (and is not kept).
    pub fn apply_faults(&self, mut faults: Faults) {
        if faults.revoke_tokens {
            for t in self.tokens.lock().expect("tokens lock").values_mut() {
                t.revoked = true;
            }
            faults.revoke_tokens = false;
        }
        let ongoing: std::collections::HashSet<String> = faults.ongoing.iter().cloned().collect();
        let mut state = self.faults.lock().expect("faults lock");
        state.storm_until = (faults.storm_seconds > 0)
            .then(|| Instant::now() + Duration::from_secs(faults.storm_seconds));
        state.current = faults;
        drop(state);
        *self.ongoing.write().expect("ongoing lock") = ongoing;
    }

    /// Whether conversation `c` is still going on (the `ongoing` fault).
    pub fn is_ongoing(&self, c: &org::Conversation) -> bool {
        let ongoing = self.ongoing.read().expect("ongoing lock");
        !ongoing.is_empty() && ongoing.contains(&c.id_string())
    }

    /// Keeps a request body when recording is on (bounded by [`RECORDED_MAX`]).
    pub fn record(&self, method: &'static str, path: &'static str, body: &[u8]) {
        if !self.config.record_requests {
            return;
        }
        let mut recorded = self.recorded.lock().expect("recorded lock");
        if recorded.len() < RECORDED_MAX {
            recorded.push(RecordedRequest {
                method,
                path,
                body: body.to_vec(),
            });
        }
    }

    /// The router serving everything.
    pub fn router(&self) -> Router {
        let api = Router::new()
            .route(
                "/api/v2/analytics/conversations/details/query",
                post(api::details_query),
            )
            .route(
                "/api/v2/analytics/conversations/details/jobs",
                post(api::submit_job),
            )
            .route(
                "/api/v2/analytics/conversations/details/jobs/availability",
                get(api::availability),
            )
            .route(
                "/api/v2/analytics/conversations/details/jobs/{job_id}",
                get(api::job_status).delete(api::cancel_job),
            )
            .route(
                "/api/v2/analytics/conversations/details/jobs/{job_id}/results",
                get(api::job_results),
            )
            .route(
                "/api/v2/speechandtextanalytics/conversations/{id}",
                get(api::sta_conversation),
            )
            .route(
                "/api/v2/analytics/transcripts/aggregates/query",
                post(api::transcript_aggregates),
            )
            .route(
                "/api/v2/analytics/conversations/{id}/details",
                get(api::conversation_details),
            )
            .route("/api/v2/users", get(api::users))
            .route("/api/v2/routing/queues", get(api::queues))
            .route(
                "/api/v2/processautomation/triggers/topics",
                get(api::trigger_topics),
            )
            .route(
                "/api/v2/notifications/availabletopics",
                get(api::available_topics),
            )
            .route_layer(axum::middleware::from_fn_with_state(
                self.clone(),
                gate::api_gate,
            ));
        Router::new()
            .merge(api)
            .route("/oauth/token", post(api::token))
            .route("/emulator/ground-truth", get(ground_truth))
            .route("/emulator/org", get(org_summary))
            .route("/emulator/stats", get(stats))
            .route("/emulator/faults", get(get_faults).put(put_faults))
            .nest_service("/sink", self.sink.router())
            .fallback(|| async {
                gate::genesys_error(
                    StatusCode::NOT_FOUND,
                    "not.found",
                    "The requested resource was not found.",
                )
            })
            .with_state(self.clone())
    }
}

/// A running emulator.
pub struct RunningEmulator {
    /// Where it listens.
    pub address: SocketAddr,
    /// Its state (org, faults, sink, stats).
    pub state: EmulatorState,
    handle: JoinHandle<()>,
}

impl RunningEmulator {
    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Stops serving.
    pub fn stop(&self) {
        self.handle.abort();
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

/// Generates the org and serves it on `listen` (port 0 picks a free port).
///
/// # Errors
/// When the address cannot be bound.
pub async fn spawn(config: EmulatorConfig, listen: SocketAddr) -> std::io::Result<RunningEmulator> {
    let state = tokio::task::spawn_blocking(move || EmulatorState::new(config))
        .await
        .map_err(std::io::Error::other)?;
    let listener = TcpListener::bind(listen).await?;
    let address = listener.local_addr()?;
    let router = state.router();
    let handle = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "Emulator server stopped.");
        }
    });
    Ok(RunningEmulator {
        address,
        state,
        handle,
    })
}

#[derive(Deserialize)]
struct TruthQuery {
    window_days: Option<u32>,
    end: Option<chrono::DateTime<chrono::Utc>>,
}

async fn ground_truth(State(state): State<EmulatorState>, Query(q): Query<TruthQuery>) -> Response {
    let window = q.window_days.unwrap_or(state.org.spec.window_days);
    let end = q.end.unwrap_or(state.org.spec.end);
    axum::Json(state.org.ground_truth(window, end)).into_response()
}

#[derive(Serialize)]
struct OrgSummary<'a> {
    spec: &'a OrgSpec,
    conversations: usize,
    agents: &'a [org::Agent],
    queues: &'a [org::Queue],
}

async fn org_summary(State(state): State<EmulatorState>) -> Response {
    axum::Json(OrgSummary {
        spec: &state.org.spec,
        conversations: state.org.conversations.len(),
        agents: &state.org.agents,
        queues: &state.org.queues,
    })
    .into_response()
}

async fn stats(State(state): State<EmulatorState>) -> Response {
    axum::Json(serde_json::json!({
        "api_requests": state.stats.api_requests.load(Ordering::Relaxed),
        "rate_limited": state.stats.rate_limited.load(Ordering::Relaxed),
        "tokens_issued": state.stats.tokens_issued.load(Ordering::Relaxed),
        "unauthorized": state.stats.unauthorized.load(Ordering::Relaxed),
    }))
    .into_response()
}

async fn get_faults(State(state): State<EmulatorState>) -> Response {
    let faults = state.faults.lock().expect("faults lock").current.clone();
    axum::Json(faults).into_response()
}

async fn put_faults(
    State(state): State<EmulatorState>,
    axum::Json(faults): axum::Json<Faults>,
) -> Response {
    tracing::info!(?faults, "Emulator faults changed.");
    state.apply_faults(faults);
    get_faults(State(state)).await
}
