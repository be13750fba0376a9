//! Shared test helpers: settings pointing at temp dirs and loopback, a spawned app, and
//! running the real binary.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::time::Duration;

use genesys_sentiment::config::{Purpose, Settings};
use genesys_sentiment::startup::Application;
use tempfile::TempDir;

/// The path of the real binary built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_genesys-sentiment");

/// Runs the real binary with `args` and extra environment variables, to completion.
pub fn run_bin(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("binary runs")
}

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

/// Settings for a test: loopback port 0, journal in `dir`, no batch, no real Genesys.
pub fn test_settings(dir: &TempDir) -> Settings {
    let mut s = Settings::defaults();
    s.server.listen = "127.0.0.1:0".parse().unwrap();
    s.journal.dir = dir.path().join("journal").to_string_lossy().into_owned();
    s.genesys.base_url = "http://127.0.0.1:9".into();
    s.genesys.client_id = "test-client".into();
    s.genesys.client_secret = genesys_sentiment::config::Secret::new("test-secret-value");
    s.webhook.allow_unauthenticated = true;
    s.batch.enabled = false;
    s
}

/// A daemon bound on loopback, plus the temp dir it writes into.
pub struct TestApp {
    pub app: Option<Application>,
    pub address: SocketAddr,
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

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.address, path)
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

/// A running real binary whose stderr lines are collected on a channel.
pub struct RunningBinary {
    child: Option<Child>,
    pub lines: mpsc::Receiver<String>,
}

impl RunningBinary {
    /// Starts the binary with `args`, extra environment, and stderr captured.
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> RunningBinary {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .stdin(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.env_remove("RUST_LOG");
        let mut child = cmd.spawn().expect("binary starts");
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        RunningBinary {
            child: Some(child),
            lines,
        }
    }

    /// Waits (up to `within`) for a log line containing `needle`, returning it.
    pub fn wait_for_line(&self, needle: &str, within: Duration) -> Option<String> {
        let deadline = std::time::Instant::now() + within;
        loop {
            let left = deadline.checked_duration_since(std::time::Instant::now())?;
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return Some(line),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
    }

    /// The address from the JSON "Listening." log line.
    pub fn wait_for_address(&self, within: Duration) -> SocketAddr {
        let line = self
            .wait_for_line("Listening.", within)
            .expect("the binary logs its address");
        let v: serde_json::Value = serde_json::from_str(&line).expect("json log line");
        v["fields"]["address"].as_str().unwrap().parse().unwrap()
    }

    /// Sends a signal.
    pub fn signal(&self, sig: i32) {
        let pid = self.child.as_ref().expect("still running").id() as i32;
        // SAFETY: kill(2) with a pid we own and a plain signal number.
        let rc = unsafe { libc::kill(pid, sig) };
        assert_eq!(rc, 0, "kill({sig}) failed");
    }

    /// Waits for exit, up to `within`; `None` if still running.
    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        let (tx, rx) = mpsc::channel();
        let pid = child.id();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        match rx.recv_timeout(within) {
            Ok(status) => status.ok(),
            Err(_) => {
                // Still running: kill it so the test does not leak a process.
                // SAFETY: kill(2) on our own child.
                unsafe { libc::kill(pid as i32, libc::SIGKILL) };
                None
            }
        }
    }
}

impl Drop for RunningBinary {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
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
