//! Issue 2: probes, metrics, drain, and the real binary under SIGTERM.

use std::time::Duration;

use crate::helpers::{RunningBinary, Signal, TestApp, wait_for_status};

#[tokio::test]
async fn probes_report_starting_then_ready_and_metrics_are_exposed() {
    let mut t = TestApp::bound(|_| {}).await;

    let health = t.get("/healthz").await;
    assert_eq!(health.status(), 200, "alive as soon as it is bound");
    let ready = t.get("/readyz").await;
    assert_eq!(ready.status(), 503, "not ready before start-up completes");
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "starting");

    t.app.as_mut().unwrap().start().await.unwrap();
    assert_eq!(t.get("/readyz").await.status(), 200);

    let metrics = t.get("/metrics").await;
    assert_eq!(metrics.status(), 200);
    let ct = metrics.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    // The classic text format unless OpenMetrics is asked for (tests/it/deploy.rs).
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    let text = metrics.text().await.unwrap();
    assert!(
        text.contains("# TYPE genesys_sentiment_ready gauge"),
        "{text}"
    );
    assert!(text.contains("genesys_sentiment_ready 1"), "{text}");
    assert!(!text.contains("# EOF"));

    let unknown = t.get("/nope").await;
    assert_eq!(unknown.status(), 404);
    let body: serde_json::Value = unknown.json().await.unwrap();
    assert_eq!(body["error"], "not_found");
    let wrong_method = t.client.post(t.url("/healthz")).send().await.unwrap();
    assert_eq!(wrong_method.status(), 405);
    let body: serde_json::Value = wrong_method.json().await.unwrap();
    assert_eq!(body["error"], "method_not_allowed");
}

#[tokio::test]
async fn cancellation_drains_and_returns_and_the_port_closes() {
    let mut t = TestApp::started(|_| {}).await;
    assert_eq!(t.get("/readyz").await.status(), 200);
    let state = t.app.as_ref().unwrap().state().clone();
    let token = t.app.as_ref().unwrap().cancellation();

    let app = t.app.take().unwrap();
    let drained = tokio::time::timeout(Duration::from_secs(10), app.shutdown()).await;
    assert!(
        matches!(drained, Ok(Ok(()))),
        "drain returns cleanly: {drained:?}"
    );
    assert!(token.is_cancelled(), "background tasks were told to stop");
    assert_eq!(state.readiness.phase().as_str(), "draining");
    let after = reqwest::Client::new().get(t.url("/healthz")).send().await;
    assert!(after.is_err(), "the listener is closed after draining");
}

/// The environment of a daemon binary on free loopback ports, journal and store in `dir`.
fn binary_env(dir: &std::path::Path) -> Vec<(&'static str, String)> {
    vec![
        ("GENESYS_SENTIMENT__SERVER__LISTEN", "127.0.0.1:0".into()),
        (
            "GENESYS_SENTIMENT__SERVER__ADMIN_LISTEN",
            "127.0.0.1:0".into(),
        ),
        ("GENESYS_SENTIMENT__LOG__FORMAT", "json".into()),
        ("GENESYS_SENTIMENT__GENESYS__CLIENT_ID", "id".into()),
        (
            "GENESYS_SENTIMENT__GENESYS__CLIENT_SECRET",
            "secret-for-binary-tests".into(),
        ),
        (
            "GENESYS_SENTIMENT__GENESYS__BASE_URL",
            "http://127.0.0.1:9".into(),
        ),
        (
            "GENESYS_SENTIMENT__WEBHOOK__ALLOW_UNAUTHENTICATED",
            "true".into(),
        ),
        ("GENESYS_SENTIMENT__BATCH__ENABLED", "false".into()),
        (
            "GENESYS_SENTIMENT__JOURNAL__DIR",
            dir.join("journal").to_string_lossy().into_owned(),
        ),
        (
            "GENESYS_SENTIMENT__STORE__URL",
            format!("sqlite://{}/genesys-sentiment.db", dir.display()),
        ),
    ]
}

#[test]
fn the_real_binary_exits_zero_on_sigterm_within_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let mut env = binary_env(dir.path());
    env.push(("GENESYS_SENTIMENT__SERVER__SHUTDOWN_DEADLINE", "5s".into()));
    env.push(("GENESYS_SENTIMENT__SERVER__DRAIN_DELAY", "2s".into()));
    let mut bin = RunningBinary::start(&["serve"], &env);
    let address = bin.wait_for_address(Duration::from_secs(30));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ready = rt.block_on(wait_for_status(
        &reqwest::Client::new(),
        &format!("http://{address}/readyz"),
        200,
        Duration::from_secs(30),
    ));
    assert!(ready, "the binary becomes ready");

    let sent = std::time::Instant::now();
    bin.signal(Signal::Term);
    // For the drain delay the replica still answers, and says it is not ready: a load
    // balancer polling /readyz takes it out before connections are refused.
    let (mut unready, mut closed_after) = (0, None);
    let client = reqwest::Client::new();
    while sent.elapsed() < Duration::from_secs(5) {
        match rt.block_on(client.get(format!("http://{address}/readyz")).send()) {
            Ok(r) => {
                assert_eq!(r.status(), 503, "draining: not ready");
                unready += 1;
            }
            Err(_) => {
                closed_after = Some(sent.elapsed());
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(unready > 0, "/readyz answered 503 while draining");
    let closed_after = closed_after.expect("the listener closes before the deadline");
    assert!(
        closed_after >= Duration::from_secs(2),
        "503 for the whole server.drain_delay (2 s), closed after {closed_after:?}"
    );
    let status = bin
        .wait_exit(Duration::from_secs(5))
        .expect("exits within the 5 s deadline");
    assert!(
        status.success(),
        "exit status 0 after SIGTERM, got {status:?}"
    );
    assert!(sent.elapsed() < Duration::from_secs(5));
    assert!(
        bin.wait_for_line("Stopped.", Duration::from_secs(1))
            .is_some(),
        "logs a clean stop"
    );
}

#[test]
fn a_coaching_platform_that_refuses_connections_is_logged_at_warn_with_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    // A port nothing listens on: every attempt is refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let refused = format!("http://{}/coaching", closed.local_addr().unwrap());
    drop(closed);
    let mut env = binary_env(dir.path());
    env.push(("GENESYS_SENTIMENT__SERVER__DRAIN_DELAY", "0s".into()));
    env.push(("GENESYS_SENTIMENT__COACHING__URL", refused.clone()));
    env.push(("GENESYS_SENTIMENT__COACHING__BACKOFF_BASE", "200ms".into()));
    env.push(("GENESYS_SENTIMENT__COACHING__BACKOFF_CAP", "1s".into()));
    let bin = RunningBinary::start(&["serve"], &env);
    let (address, admin) = bin.wait_for_addresses(Duration::from_secs(30));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = reqwest::Client::new();
    assert!(rt.block_on(wait_for_status(
        &client,
        &format!("http://{address}/readyz"),
        200,
        Duration::from_secs(30)
    )));
    let answer: serde_json::Value = rt.block_on(async {
        client
            .post(format!("http://{address}/webhooks/genesys"))
            .json(
                &serde_json::json!({"interactionId": "refused-1", "agentId": "a-1",
                   "sentiment": {"score": -0.5, "polarity": "negative"}}),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    let id = answer["id"].as_str().expect("accepted").to_owned();
    // The first attempt fails at once; its warn line names the destination and the cause.
    let line = bin
        .wait_for_line("A coaching delivery failed", Duration::from_secs(10))
        .expect("a warn line within one retry interval");
    assert!(line.contains("\"level\":\"WARN\""), "{line}");
    assert!(line.contains(&id), "{line}");
    assert!(line.contains(&refused), "names the destination: {line}");
    assert!(
        line.to_lowercase().contains("connect"),
        "carries the cause: {line}"
    );
    let deliveries: serde_json::Value = rt.block_on(async {
        client
            .get(format!("http://{admin}/v1/deliveries"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    let recent = &deliveries["recent"][0];
    assert_eq!(recent["event_id"], id.as_str(), "{deliveries}");
    assert_eq!(recent["outcome"], "failed", "{deliveries}");
    assert!(
        recent["error"]
            .as_str()
            .is_some_and(|e| e.to_lowercase().contains("connect")),
        "/v1/deliveries shows the cause: {deliveries}"
    );
    // Later failures of the same streak are not logged again within the minute.
    assert!(
        bin.wait_for_line("A coaching delivery failed", Duration::from_secs(3))
            .is_none(),
        "one line a minute while it keeps failing"
    );
    bin.signal(Signal::Term);
}

#[tokio::test]
async fn alertable_series_exist_at_zero_from_the_start() {
    let t = TestApp::started(|_| {}).await;
    let metrics = t.get("/metrics").await.text().await.unwrap();
    for series in [
        "genesys_sentiment_batch_runs_total{outcome=\"failed\"} 0",
        "genesys_sentiment_batch_runs_total{outcome=\"succeeded\"} 0",
        "genesys_sentiment_webhooks_total{outcome=\"journal_unavailable\"} 0",
        "genesys_sentiment_deliveries_total{outcome=\"dead_lettered\"} 0",
        "genesys_sentiment_shed_total{outcome=\"outbox_lag\"} 0",
        "genesys_sentiment_batch_last_success_timestamp_seconds 0",
    ] {
        assert!(metrics.contains(series), "{series} missing:\n{metrics}");
    }
    assert!(
        metrics.contains(&format!(
            "genesys_sentiment_build_info{{version=\"{}\",commit=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION"),
            genesys_sentiment::domain::COMMIT
        )),
        "{metrics}"
    );
    t.stop().await;
}
