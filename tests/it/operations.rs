//! Issue 8: the steps of docs/operations.md §1, run as written (free ports instead of 8080
//! and 9090): the emulator in place of the org, the shipped example configuration, secrets
//! from files, a batch, a data-action style webhook, a delivery to the coaching sink.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::helpers::{BIN, RunningBinary, Signal, wait_for_status};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_setup_runs_against_the_emulator() {
    // Terminal 1.
    let mut emulate = Command::new(BIN)
        .args([
            "emulate",
            "--listen",
            "127.0.0.1:0",
            "--rate-limit",
            "60000",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(emulate.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    // Keep draining its output, as a terminal would.
    std::thread::spawn(move || lines.for_each(drop));
    let emu = first.rsplit(' ').next().unwrap().to_owned();
    assert!(emu.starts_with("http://127.0.0.1:"), "{first}");

    // Terminal 2.
    let secrets = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let write = |name: &str, value: &str| {
        let p = secrets.path().join(name);
        std::fs::write(&p, value).unwrap();
        p.to_string_lossy().into_owned()
    };
    let env = [
        (
            "GENESYS_SENTIMENT__SERVER__LISTEN",
            "127.0.0.1:0".to_owned(),
        ),
        (
            "GENESYS_SENTIMENT__SERVER__ADMIN_LISTEN",
            "127.0.0.1:0".to_owned(),
        ),
        ("GENESYS_SENTIMENT__GENESYS__BASE_URL", emu.clone()),
        (
            "GENESYS_SENTIMENT__GENESYS__CLIENT_ID",
            "emulator".to_owned(),
        ),
        (
            "GENESYS_SENTIMENT__GENESYS__REQUESTS_PER_MINUTE",
            "60000".to_owned(),
        ),
        (
            "GENESYS_SENTIMENT__GENESYS__CLIENT_SECRET_FILE",
            write("genesys_client_secret", "emulator-secret"),
        ),
        (
            "GENESYS_SENTIMENT__WEBHOOK__BEARER_TOKEN_FILE",
            write("webhook_token", "data-action-token-please-change"),
        ),
        (
            "GENESYS_SENTIMENT__COACHING__URL",
            format!("{emu}/sink/coaching"),
        ),
        (
            "GENESYS_SENTIMENT__COACHING__SECRET_FILE",
            write(
                "coaching_secret",
                "whsec_c2Vjb25kLXNlY3JldC1rZXktZm9yLXJvdGF0aW9u",
            ),
        ),
        (
            "GENESYS_SENTIMENT__JOURNAL__DIR",
            data.path().join("journal").to_string_lossy().into_owned(),
        ),
        (
            "GENESYS_SENTIMENT__STORE__URL",
            format!("sqlite://{}/genesys-sentiment.db", data.path().display()),
        ),
        (
            "GENESYS_SENTIMENT__JOURNAL__ARCHIVE_DIR",
            data.path()
                .join("journal-archive")
                .to_string_lossy()
                .into_owned(),
        ),
    ];
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/config/example-org.toml");
    let check = Command::new(BIN)
        .args(["--config", config, "check-config"])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    assert_eq!(
        check.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    // The pre-flight, as the guide runs it: every check passes against the emulator.
    let doctor = Command::new(BIN)
        .args(["--config", config, "doctor"])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&doctor.stdout);
    assert_eq!(doctor.status.code(), Some(0), "{report}");
    assert!(
        report
            .lines()
            .all(|l| !l.starts_with('✗') && !l.starts_with('!')),
        "{report}"
    );
    let shown = String::from_utf8_lossy(&check.stdout);
    assert!(
        shown.contains("client_secret = \"[redacted]\"")
            && shown.contains("region = \"eu_west_1\""),
        "{shown}"
    );
    assert!(!shown.contains("emulator-secret") && !shown.contains("data-action-token"));

    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut serve = RunningBinary::start(&["--config", config, "serve"], &env_refs);
    let (address, admin) = serve.wait_for_addresses(Duration::from_secs(30));
    let base = format!("http://{address}");
    let admin = format!("http://{admin}");

    // Terminal 3.
    let client = reqwest::Client::new();
    assert!(
        wait_for_status(
            &client,
            &format!("{base}/readyz"),
            200,
            Duration::from_secs(30)
        )
        .await
    );
    let run = crate::helpers::poll(Duration::from_secs(60), async || {
        let runs = get_json(&client, &format!("{admin}/v1/runs")).await?;
        let first = &runs["runs"][0];
        (!first.is_null() && first["outcome"] != "running").then(|| first.clone())
    })
    .await
    .expect("the first batch run finishes");
    assert_eq!(run["outcome"], "succeeded", "{run}");
    let body = r#"{"topicName":"v2.speechandtextanalytics.conversation.c-1.sentiment","eventBody":{"conversationId":"c-1","sentimentOverallScore":-0.4,"queueIds":["q-1"]}}"#;
    let accepted = client
        .post(format!("{base}/webhooks/genesys"))
        .header("Authorization", "Bearer data-action-token-please-change")
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 202);
    let delivered = crate::helpers::poll(Duration::from_secs(30), async || {
        let report = get_json(&client, &format!("{emu}/sink/report")).await?;
        (report["received"].as_u64().unwrap_or(0) >= 1 && report["refused_signature"] == 0)
            .then_some(())
    })
    .await;
    assert!(
        delivered.is_some(),
        "the coaching sink receives the event, correctly signed"
    );
    serve.signal(Signal::Term);
    assert!(
        serve
            .wait_exit(Duration::from_secs(15))
            .is_some_and(|s| s.success())
    );
    let _ = emulate.kill();
    let _ = emulate.wait();
}

/// GETs `url` as JSON; `None` while it does not answer with JSON yet.
async fn get_json(client: &reqwest::Client, url: &str) -> Option<Value> {
    client.get(url).send().await.ok()?.json().await.ok()
}
