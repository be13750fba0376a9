//! A scripted Genesys stand-in on the test's own runtime (so a paused clock governs both
//! sides): records every request with its arrival instant and answers from per-path
//! scripts, default answers, or handler closures.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use genesys_sentiment::config::{Secret, Settings};
use genesys_sentiment::genesys::GenesysClient;
use genesys_sentiment::telemetry::metrics::Metrics;
use tokio::time::Instant;

/// One scripted answer.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn json(status: u16, body: serde_json::Value) -> Reply {
        Reply {
            status,
            headers: vec![],
            body: body.to_string(),
        }
    }
    pub fn header(mut self, k: &str, v: &str) -> Reply {
        self.headers.push((k.into(), v.into()));
        self
    }
}

/// One recorded request.
#[derive(Clone, Debug)]
pub struct Seen {
    #[allow(dead_code)]
    pub method: String,
    pub path: String,
    pub query: String,
    pub authorization: Option<String>,
    /// Every header, lower-cased names.
    #[allow(dead_code)]
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub at: Instant,
}

type Handler = Arc<dyn Fn(&Seen) -> Reply + Send + Sync>;

#[derive(Default)]
struct State_ {
    token_lifetime: u64,
    refuse_tokens: bool,
    tokens_issued: Vec<String>,
    token_basic: Vec<Option<String>>,
    scripts: HashMap<String, VecDeque<Reply>>,
    defaults: HashMap<String, Reply>,
    handlers: HashMap<String, Handler>,
    seen: Vec<Seen>,
}

#[derive(Clone)]
pub struct FakeGenesys {
    pub addr: SocketAddr,
    state: Arc<Mutex<State_>>,
}

impl FakeGenesys {
    pub async fn start() -> FakeGenesys {
        let state = Arc::new(Mutex::new(State_ {
            token_lifetime: 86_400,
            ..Default::default()
        }));
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeGenesys { addr, state }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn token_lifetime(&self, secs: u64) {
        self.state.lock().unwrap().token_lifetime = secs;
    }

    /// Queues replies for `path` (used before the default).
    pub fn script(&self, path: &str, replies: impl IntoIterator<Item = Reply>) {
        self.state
            .lock()
            .unwrap()
            .scripts
            .entry(path.into())
            .or_default()
            .extend(replies);
    }

    pub fn default_reply(&self, path: &str, reply: Reply) {
        self.state
            .lock()
            .unwrap()
            .defaults
            .insert(path.into(), reply);
    }

    pub fn handler(&self, path: &str, f: impl Fn(&Seen) -> Reply + Send + Sync + 'static) {
        self.state
            .lock()
            .unwrap()
            .handlers
            .insert(path.into(), Arc::new(f));
    }

    pub fn seen(&self, path: &str) -> Vec<Seen> {
        self.state
            .lock()
            .unwrap()
            .seen
            .iter()
            .filter(|s| s.path == path)
            .cloned()
            .collect()
    }

    /// Answers token requests with 401 invalid_client from now on.
    pub fn refuse_tokens(&self) {
        self.state.lock().unwrap().refuse_tokens = true;
    }

    pub fn token_requests(&self) -> usize {
        self.state.lock().unwrap().tokens_issued.len()
    }

    pub fn tokens_issued(&self) -> Vec<String> {
        self.state.lock().unwrap().tokens_issued.clone()
    }

    pub fn token_basic_headers(&self) -> Vec<Option<String>> {
        self.state.lock().unwrap().token_basic.clone()
    }

    /// A client pointed at this fake: no request timeout (paused-clock friendly), fast
    /// backoff, and whatever `configure` changes.
    pub fn client(&self, configure: impl FnOnce(&mut Settings)) -> GenesysClient {
        let mut s = Settings::defaults();
        s.genesys.base_url = self.url();
        s.genesys.client_id = "fake-client-id".into();
        s.genesys.client_secret = Secret::new(CLIENT_SECRET);
        s.genesys.request_timeout = std::time::Duration::ZERO.into();
        s.genesys.backoff_base = std::time::Duration::from_millis(5).into();
        s.genesys.backoff_cap = std::time::Duration::from_millis(50).into();
        s.genesys.retention = std::time::Duration::from_secs(5 * 365 * 86_400).into();
        configure(&mut s);
        GenesysClient::new(&s.genesys, Metrics::new()).unwrap()
    }
}

/// The client secret every fake client uses (tests grep output for it).
pub const CLIENT_SECRET: &str = "fake-client-secret-Zq81x";

async fn handle(
    State(state): State<Arc<Mutex<State_>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let seen = Seen {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: uri.query().unwrap_or("").to_owned(),
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
        at: Instant::now(),
    };
    let reply = {
        let mut s = state.lock().unwrap();
        s.seen.push(seen.clone());
        let scripted_token =
            seen.path == "/oauth/token" && s.scripts.get(&seen.path).is_some_and(|r| !r.is_empty());
        if scripted_token {
            s.scripts
                .get_mut(&seen.path)
                .and_then(VecDeque::pop_front)
                .expect("scripted")
        } else if seen.path == "/oauth/token" && s.refuse_tokens {
            Reply::json(
                401,
                serde_json::json!({"error": "invalid_client", "description": "Client authentication failed"}),
            )
        } else if seen.path == "/oauth/token" {
            let n = s.tokens_issued.len() + 1;
            let token = format!("fake-access-token-{n}-Kp2");
            s.tokens_issued.push(token.clone());
            s.token_basic.push(seen.authorization.clone());
            Reply::json(
                200,
                serde_json::json!({"access_token": token, "token_type": "bearer", "expires_in": s.token_lifetime}),
            )
        } else if let Some(r) = s.scripts.get_mut(&seen.path).and_then(VecDeque::pop_front) {
            r
        } else if let Some(h) = s.handlers.get(&seen.path).cloned() {
            drop(s);
            h(&seen)
        } else if let Some(r) = s.defaults.get(&seen.path) {
            r.clone()
        } else {
            Reply::json(
                404,
                serde_json::json!({"message": "no script", "code": "resource.not.found", "status": 404}),
            )
        }
    };
    let mut response = (StatusCode::from_u16(reply.status).unwrap(), reply.body).into_response();
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    for (k, v) in reply.headers {
        response.headers_mut().insert(
            axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    response
}
