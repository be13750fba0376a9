//! A stand-in coaching platform: accepts deliveries, verifies their Standard Webhooks
//! signature when it has the secret, counts them by `webhook-id` (so duplicates are
//! visible), can be told to fail for a while, and reports what it received.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::domain::signature::{SigningKey, StandardHeaders, verify_standard};

/// Sink settings.
#[derive(Debug, Clone, Default)]
pub struct SinkConfig {
    /// Standard Webhooks secret; when set, unsigned or badly signed deliveries get 401.
    pub secret: Option<String>,
}

/// How the sink answers for now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SinkMode {
    /// 200.
    #[default]
    Accept,
    /// 500.
    Fail,
    /// 429 with `Retry-After`.
    Throttle,
    /// Never answers (the sender must time out).
    Hang,
}

/// `PUT /faults` body: answer in `mode` for `seconds` (0 = until changed).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SinkFault {
    /// The mode.
    pub mode: SinkMode,
    /// For how long (0 = until the next change).
    #[serde(default)]
    pub seconds: u64,
    /// `Retry-After` seconds in throttle mode.
    #[serde(default = "one")]
    pub retry_after: u64,
}

fn one() -> u64 {
    1
}

/// One accepted delivery.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    /// `webhook-id`, or `unsigned-<n>` when absent.
    pub webhook_id: String,
    /// The JSON body.
    pub body: serde_json::Value,
}

#[derive(Debug, Default)]
struct SinkState {
    by_id: HashMap<String, u64>,
    first: Vec<Delivery>,
    accepted: u64,
    refused_signature: u64,
    failed_on_purpose: u64,
    test_deliveries: u64,
    fault: Option<(SinkFault, Option<Instant>)>,
}

/// What `GET /report` answers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SinkReport {
    /// Deliveries accepted (duplicates included).
    pub received: u64,
    /// Distinct `webhook-id`s accepted.
    pub unique: u64,
    /// Ids received more than once, with their counts.
    pub duplicates: HashMap<String, u64>,
    /// Deliveries refused for a bad or missing signature.
    pub refused_signature: u64,
    /// Deliveries answered with an injected failure.
    pub failed_on_purpose: u64,
    /// Signed test deliveries (`doctor --send-test`) to `…/test`, kept apart from events.
    #[serde(default)]
    pub test_deliveries: u64,
}

/// The sink. Cheap to clone.
#[derive(Clone)]
pub struct Sink {
    state: Arc<Mutex<SinkState>>,
    keys: Arc<Vec<SigningKey>>,
    unique_tx: Arc<watch::Sender<u64>>,
}

impl Sink {
    /// A sink verifying with `config.secret` when given.
    pub fn new(config: SinkConfig) -> Sink {
        let keys = config
            .secret
            .as_deref()
            .map(|s| SigningKey::from_text(s).expect("valid sink secret"))
            .into_iter()
            .collect();
        Sink {
            state: Arc::default(),
            keys: Arc::new(keys),
            unique_tx: Arc::new(watch::channel(0).0),
        }
    }

    /// Routes: `POST /` and `POST /coaching` (deliveries), `POST /test` and
    /// `POST /coaching/test` (signed test deliveries, counted apart), `GET /report`,
    /// `GET /events`, `PUT /faults`.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/", post(receive))
            .route("/coaching", post(receive))
            .route("/test", post(receive_test))
            .route("/coaching/test", post(receive_test))
            .route("/report", get(report))
            .route("/events", get(events))
            .route("/faults", put(set_fault))
            .with_state(self.clone())
    }

    /// Makes the sink answer in `fault.mode` for `fault.seconds`.
    pub fn set_fault(&self, fault: SinkFault) {
        let until =
            (fault.seconds > 0).then(|| Instant::now() + Duration::from_secs(fault.seconds));
        self.state.lock().expect("sink lock").fault =
            (fault.mode != SinkMode::Accept).then_some((fault, until));
    }

    /// The counts so far.
    pub fn report(&self) -> SinkReport {
        let s = self.state.lock().expect("sink lock");
        SinkReport {
            received: s.accepted,
            unique: s.by_id.len() as u64,
            duplicates: s
                .by_id
                .iter()
                .filter(|(_, n)| **n > 1)
                .map(|(k, n)| (k.clone(), *n))
                .collect(),
            refused_signature: s.refused_signature,
            failed_on_purpose: s.failed_on_purpose,
            test_deliveries: s.test_deliveries,
        }
    }

    /// The first delivery of every distinct id, in arrival order.
    pub fn events(&self) -> Vec<Delivery> {
        self.state.lock().expect("sink lock").first.clone()
    }

    /// How many times each id arrived.
    pub fn counts(&self) -> HashMap<String, u64> {
        self.state.lock().expect("sink lock").by_id.clone()
    }

    /// Waits until at least `n` distinct ids have arrived, or `within` passes. Returns
    /// whether they did.
    pub async fn wait_for_unique(&self, n: u64, within: Duration) -> bool {
        let mut rx = self.unique_tx.subscribe();
        tokio::time::timeout(within, rx.wait_for(|v| *v >= n))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

/// A 401 when the sink has keys and the delivery's signature does not verify.
fn refuse_unsigned(sink: &Sink, headers: &HeaderMap, body: &[u8]) -> Option<Response> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if !sink.keys.is_empty() {
        let now = chrono::Utc::now().timestamp();
        let verdict = verify_standard(
            &sink.keys,
            StandardHeaders {
                id: header("webhook-id"),
                timestamp: header("webhook-timestamp"),
                signature: header("webhook-signature"),
            },
            body,
            now,
            300,
        );
        if let Err(e) = verdict {
            sink.state.lock().expect("sink lock").refused_signature += 1;
            return Some(
                (
                    StatusCode::UNAUTHORIZED,
                    Json(json!({"error": "bad_signature", "message": e.to_string()})),
                )
                    .into_response(),
            );
        }
    }
    None
}

async fn receive_test(State(sink): State<Sink>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(refused) = refuse_unsigned(&sink, &headers, &body) {
        return refused;
    }
    sink.state.lock().expect("sink lock").test_deliveries += 1;
    (
        StatusCode::OK,
        Json(json!({"received": true, "test": true})),
    )
        .into_response()
}

async fn receive(State(sink): State<Sink>, headers: HeaderMap, body: Bytes) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(refused) = refuse_unsigned(&sink, &headers, &body) {
        return refused;
    }
    let fault = {
        let mut s = sink.state.lock().expect("sink lock");
        if let Some((_, Some(until))) = s.fault
            && Instant::now() >= until
        {
            s.fault = None;
        }
        if s.fault.is_some() {
            s.failed_on_purpose += 1;
        }
        s.fault.map(|(f, _)| f)
    };
    if let Some(f) = fault {
        match f.mode {
            SinkMode::Accept => {}
            SinkMode::Fail => {
                return (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Json(json!({"error": "injected"})),
                )
                    .into_response();
            }
            SinkMode::Throttle => {
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    [(header::RETRY_AFTER, f.retry_after.to_string())],
                    Json(json!({"error": "throttled"})),
                )
                    .into_response();
            }
            SinkMode::Hang => {
                std::future::pending::<()>().await;
            }
        }
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "not_json"}))).into_response();
    };
    let unique = {
        let mut s = sink.state.lock().expect("sink lock");
        s.accepted += 1;
        let id =
            header("webhook-id").map_or_else(|| format!("unsigned-{}", s.accepted), str::to_owned);
        let count = s.by_id.entry(id.clone()).or_insert(0);
        *count += 1;
        if *count == 1 {
            s.first.push(Delivery {
                webhook_id: id,
                body: value,
            });
        }
        s.by_id.len() as u64
    };
    sink.unique_tx.send_replace(unique);
    (StatusCode::OK, Json(json!({"received": true}))).into_response()
}

async fn report(State(sink): State<Sink>) -> Response {
    Json(sink.report()).into_response()
}

async fn events(State(sink): State<Sink>) -> Response {
    Json(sink.events()).into_response()
}

async fn set_fault(State(sink): State<Sink>, Json(fault): Json<SinkFault>) -> Response {
    sink.set_fault(fault);
    Json(json!({"mode": fault.mode, "seconds": fault.seconds})).into_response()
}
