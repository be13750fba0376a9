//! Shared test helpers: settings pointing at temp dirs and loopback, a spawned app, and
//! running the real binary.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use genesys_sentiment::config::{Purpose, Settings};
use genesys_sentiment::startup::Application;
use tempfile::TempDir;

#[path = "../../common/binary.rs"]
mod binary;
#[cfg(feature = "emulator")]
pub mod emulator;
#[cfg(feature = "emulator")]
pub mod models;
pub mod postgres;
#[allow(unused_imports)] // BIN is only used by the emulator-backed tests.
pub use binary::{BIN, RunningBinary, Signal, run_bin};

/// Every conversation `client` lists for `interval` with no filter, collected; panics on
/// an error.
pub async fn all_details(
    client: &genesys_sentiment::genesys::GenesysClient,
    interval: genesys_sentiment::genesys::Interval,
) -> Vec<genesys_sentiment::genesys::models::AnalyticsConversation> {
    use futures_util::TryStreamExt;
    client
        .conversation_details(interval, Default::default())
        .unwrap()
        .try_collect()
        .await
        .unwrap()
}

/// A `webhook_received` record of a seed-form score for `conversation` (what most of a
/// journal holds), with `quality_score` 37.5 unless changed.
pub fn sentiment_entry(conversation: &str) -> genesys_sentiment::domain::events::Entry {
    use genesys_sentiment::domain::events::{AttributionSource, Entry, SentimentEvent, event_id};
    use genesys_sentiment::domain::{Polarity, ScoreScale};
    let key = format!("conv:{conversation}:sentiment");
    Entry::WebhookReceived(SentimentEvent {
        event_id: event_id(&key),
        dedupe_keys: vec![key],
        conversation_id: conversation.to_owned(),
        agent_id: Some("agent-1".into()),
        queue_id: Some("queue-1".into()),
        raw_score: -0.25,
        scale: ScoreScale::Unit,
        quality_score: 37.5,
        polarity: Polarity::Negative,
        action_required: true,
        normalization_version: "linear-v1".into(),
        trend_score: None,
        topic: None,
        cause_event_id: None,
        // The seed's form gives no time (the record's time stands for it).
        source_time: None,
        received_at: chrono::Utc::now(),
        attribution: Some(AttributionSource::Event),
    })
}

/// Settings for a test: loopback port 0, journal in `dir`, no batch, no real Genesys.
pub fn test_settings(dir: &TempDir) -> Settings {
    let mut s = Settings::defaults();
    s.server.listen = "127.0.0.1:0".parse().unwrap();
    s.server.admin_listen = "127.0.0.1:0".parse().unwrap();
    s.journal.dir = dir.path().join("journal").to_string_lossy().into_owned();
    s.journal.archive_dir = dir
        .path()
        .join("journal-archive")
        .to_string_lossy()
        .into_owned();
    s.store.url = genesys_sentiment::config::Secret::new(format!(
        "sqlite://{}/genesys-sentiment.db",
        dir.path().display()
    ));
    s.genesys.base_url = "http://127.0.0.1:9".into();
    s.genesys.client_id = "test-client".into();
    s.genesys.client_secret = genesys_sentiment::config::Secret::new("test-secret-value");
    s.webhook.allow_unauthenticated = true;
    // Scores without an agent are delivered at once (no Genesys to ask); the attribution
    // tests set their own waits.
    s.webhook.attribution_lookup_delay = Duration::ZERO.into();
    s.webhook.attribution_max_wait = Duration::ZERO.into();
    s.batch.enabled = false;
    // Tests stop their daemons at once (the drain delay has its own test).
    s.server.drain_delay = Duration::ZERO.into();
    s
}

/// A daemon bound on loopback, plus the temp dir it writes into.
pub struct TestApp {
    pub app: Option<Application>,
    pub address: SocketAddr,
    pub admin: SocketAddr,
    pub client: reqwest::Client,
    #[allow(dead_code)]
    pub dir: TempDir,
}

impl TestApp {
    /// Builds the app from test settings in `dir`, changed by `configure`.
    async fn build(dir: &TempDir, configure: impl FnOnce(&mut Settings)) -> Application {
        let mut settings = test_settings(dir);
        configure(&mut settings);
        Application::build(settings).await.expect("app builds")
    }

    fn new(app: Application, dir: TempDir) -> TestApp {
        TestApp {
            address: app.address(),
            admin: app.admin_address(),
            app: Some(app),
            client: reqwest::Client::new(),
            dir,
        }
    }

    /// Builds and serves HTTP, but does not complete start-up.
    pub async fn bound(configure: impl FnOnce(&mut Settings)) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let mut app = TestApp::build(&dir, configure).await;
        app.serve_http();
        TestApp::new(app, dir)
    }

    /// Builds, serves and completes start-up.
    pub async fn started(configure: impl FnOnce(&mut Settings)) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        TestApp::started_in(dir, configure).await
    }

    /// Builds, serves and completes start-up with its journal in `dir`.
    pub async fn started_in(dir: TempDir, configure: impl FnOnce(&mut Settings)) -> TestApp {
        let mut app = TestApp::build(&dir, configure).await;
        app.start().await.expect("app starts");
        TestApp::new(app, dir)
    }

    /// Drains the daemon and hands back its directory.
    pub async fn stop(mut self) -> TempDir {
        self.app
            .take()
            .unwrap()
            .shutdown()
            .await
            .expect("clean drain");
        self.dir
    }

    /// A URL on the listener that serves `path`: the public one for the webhook routes, the
    /// admin one for everything else.
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("/webhook") {
            self.public_url(path)
        } else {
            format!("http://{}{}", self.admin, path)
        }
    }

    /// A URL on the public listener (`server.listen`).
    pub fn public_url(&self, path: &str) -> String {
        format!("http://{}{}", self.address, path)
    }

    /// Every journal record written so far, parsed.
    #[cfg_attr(not(feature = "emulator"), allow(dead_code))]
    pub fn journal(&self) -> Vec<serde_json::Value> {
        let dir = self.dir.path().join("journal");
        let mut out = Vec::new();
        for seg in genesys_sentiment::journal::scan::list_segments(&dir).unwrap() {
            for line in std::fs::read_to_string(seg.path).unwrap().lines() {
                out.push(serde_json::from_str(line).unwrap());
            }
        }
        out
    }

    /// POSTs a JSON body to the webhook intake; returns the status and the JSON answer.
    #[cfg_attr(not(feature = "emulator"), allow(dead_code))]
    pub async fn post_webhook(&self, body: &serde_json::Value) -> (u16, serde_json::Value) {
        let r = self
            .client
            .post(self.url("/webhooks/genesys"))
            .json(body)
            .send()
            .await
            .expect("request reaches the app");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or_default())
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request reaches the app")
    }
}

/// Loads settings the way the binary does, from a file and an explicit environment.
pub fn load(
    file: Option<&std::path::Path>,
    env: &[(&str, &str)],
    purpose: Purpose,
) -> Result<Settings, genesys_sentiment::config::ConfigError> {
    Settings::load(
        file,
        env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        purpose,
    )
}

/// Polls `url` until it answers `status`, up to `within`.
pub async fn wait_for_status(
    client: &reqwest::Client,
    url: &str,
    status: u16,
    within: Duration,
) -> bool {
    poll(within, async || {
        let r = client.get(url).send().await.ok()?;
        (r.status().as_u16() == status).then_some(())
    })
    .await
    .is_some()
}

/// Polls `check` every 20 ms until it yields a value or `within` passes.
pub async fn poll<T>(within: Duration, mut check: impl AsyncFnMut() -> Option<T>) -> Option<T> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Everything the test binary logs, through one global subscriber (debug level, trace for
/// this crate). Per-thread subscribers race with tracing's callsite cache when tests run
/// in parallel; one global subscriber does not.
pub struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl CapturedLogs {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

struct CaptureWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for CaptureWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs (once) and returns the global log capture.
pub fn captured_logs() -> CapturedLogs {
    static BUFFER: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    let buffer = BUFFER.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "debug,genesys_sentiment=trace",
            ))
            .with_writer(move || CaptureWriter(writer.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber");
        buffer
    });
    CapturedLogs(buffer.clone())
}
