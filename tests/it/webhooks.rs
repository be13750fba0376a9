//! Issue 6: webhook intake answers, authentication, forwarding through outages, write
//! failures, and conversation-end enrichment.

use std::time::Duration;

use genesys_sentiment::config::Secret;
use genesys_sentiment::domain::signature::{SigningKey, hub_signature};
use genesys_sentiment::emulator::sink::{SinkFault, SinkMode};
use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::helpers::emulator::spawn_sink;

const KEY_OLD: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const KEY_NEW: &str = "whsec_c2Vjb25kLXNlY3JldC1rZXktZm9yLXJvdGF0aW9u";

fn seed(id: &str, score: f64) -> Value {
    json!({"interactionId": id, "sentiment": {"score": score, "polarity": if score < -0.2 { "negative" } else { "neutral" }}})
}

/// The event ids the journal records as delivered (one `delivered_batch` record may name
/// several).
fn delivered_ids(lines: &[Value]) -> Vec<&str> {
    lines
        .iter()
        .filter(|l| l["type"] == "delivered_batch")
        .flat_map(|l| l["deliveries"].as_array().into_iter().flatten())
        .filter_map(|d| d[0].as_str())
        .collect()
}

async fn post(t: &TestApp, body: &Value) -> (u16, Value) {
    post_raw(
        t,
        "/webhooks/genesys",
        body.to_string(),
        &[("content-type", "application/json")],
    )
    .await
}

async fn post_raw(t: &TestApp, path: &str, body: String, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut req = t.client.post(t.url(path)).body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let v = r.json().await.unwrap_or(Value::Null);
    (status, v)
}

/// Posts `body` signed the Standard Webhooks way with `key`, as message `id` sent at `ts`.
async fn post_standard_signed(
    t: &TestApp,
    key: &str,
    id: &str,
    ts: i64,
    body: String,
) -> (u16, Value) {
    let sig = SigningKey::from_text(key)
        .unwrap()
        .sign(id, ts, body.as_bytes());
    let ts = ts.to_string();
    post_raw(
        t,
        "/webhooks/genesys",
        body,
        &[
            ("content-type", "application/json"),
            ("webhook-id", id),
            ("webhook-timestamp", &ts),
            ("webhook-signature", &sig),
        ],
    )
    .await
}

fn journal_lines(t: &TestApp) -> Vec<Value> {
    let dir = t.dir.path().join("journal");
    let mut out = Vec::new();
    for seg in genesys_sentiment::journal::scan::list_segments(&dir).unwrap() {
        for line in std::fs::read_to_string(seg.path).unwrap().lines() {
            out.push(serde_json::from_str(line).unwrap());
        }
    }
    out
}

#[tokio::test]
async fn every_answer_code_of_the_intake() {
    let t = TestApp::started(|s| s.server.body_limit_bytes = 2048).await;

    let (status, body) = post(&t, &seed("conv-1", -0.5)).await;
    assert_eq!(status, 202, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("evt_"));

    // The same conversation and kind again: a duplicate, nothing written.
    let before = journal_lines(&t).len();
    let (status, body) = post(&t, &seed("conv-1", 0.9)).await;
    assert_eq!(
        (status, body["duplicate"].as_bool(), body["id"].as_str()),
        (200, Some(true), Some(id.as_str()))
    );
    // The same webhook-id for another conversation: also a duplicate.
    let (status, _) = post_raw(
        &t,
        "/webhooks/genesys",
        seed("conv-2", 0.1).to_string(),
        &[
            ("content-type", "application/json"),
            ("webhook-id", "msg-1"),
        ],
    )
    .await;
    assert_eq!(status, 202);
    let (status, body) = post_raw(
        &t,
        "/webhooks/genesys",
        seed("conv-3", 0.1).to_string(),
        &[
            ("content-type", "application/json"),
            ("webhook-id", "msg-1"),
        ],
    )
    .await;
    assert_eq!((status, body["duplicate"].as_bool()), (200, Some(true)));
    // conv-2 wrote its record and its attribution decision (it names no agent); the two
    // duplicates wrote nothing.
    assert_eq!(
        journal_lines(&t).len(),
        before + 2,
        "duplicates write nothing"
    );

    let (status, body) = post_raw(
        &t,
        "/webhooks/genesys",
        "{not json".into(),
        &[("content-type", "application/json")],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("malformed_json"))
    );
    let (status, body) = post_raw(
        &t,
        "/webhooks/genesys",
        seed("x", 0.1).to_string(),
        &[("content-type", "text/plain")],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (415, Some("unsupported_media_type"))
    );
    let big = json!({"interactionId": "big", "sentiment": {"score": 0.1}, "pad": "x".repeat(4096)});
    let (status, body) = post(&t, &big).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (413, Some("payload_too_large"))
    );
    let r = t
        .client
        .get(t.url("/webhooks/genesys"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "method_not_allowed"
    );

    for (body, needle) in [
        (
            json!({"sentiment": {"score": 0.1}}),
            "interactionId is required",
        ),
        (
            json!({"interactionId": "c", "sentiment": {"score": 1.01}}),
            "outside the unit scale [-1, 1] (the scale is genesys.sentiment_scale",
        ),
        (
            json!({"interactionId": "c", "sentiment": {"score": "NaN"}}),
            "must be a number",
        ),
        (
            json!({"interactionId": "c", "sentiment": {"score": 0.2, "polarity": "meh"}}),
            "unknown polarity",
        ),
        (
            json!({"topicName": "v2.speechandtextanalytics.conversation.c.sentiment", "eventBody": {"conversationId": "c", "sentimentOverallScore": 3.0}}),
            "outside the unit scale",
        ),
    ] {
        let (status, answer) = post(&t, &body).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(answer["error"], "invalid_event");
        assert!(
            answer["message"].as_str().unwrap().contains(needle),
            "{answer}"
        );
    }

    // The original design's path is an alias.
    let (status, _) = post_raw(
        &t,
        "/webhook/coaching",
        seed("conv-alias", 0.3).to_string(),
        &[("content-type", "application/json")],
    )
    .await;
    assert_eq!(status, 202);
}

#[tokio::test]
async fn the_topics_scale_can_be_set_apart_from_the_sta_endpoints() {
    let t = TestApp::started(|s| {
        s.genesys.topic_sentiment_scale = Some(genesys_sentiment::domain::ScoreScale::Percent);
    })
    .await;
    let event = |id: &str, score: f64| json!({"topicName": format!("v2.speechandtextanalytics.conversation.{id}.sentiment"), "eventBody": {"conversationId": id, "sentimentOverallScore": score}});
    let (status, answer) = post(&t, &event("c-pct", 40.0)).await;
    assert_eq!(status, 202, "{answer}");
    let (status, answer) = post(&t, &event("c-over", 140.0)).await;
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["message"].as_str().unwrap().contains("percent"),
        "{answer}"
    );
    // The seed's form keeps its unit scale.
    let (status, _) = post(&t, &seed("c-seed", 0.4)).await;
    assert_eq!(status, 202);
}

#[tokio::test]
async fn nothing_is_accepted_before_start_up_completes() {
    let t = TestApp::bound(|_| {}).await;
    let (status, body) = post(&t, &seed("early", 0.1)).await;
    assert_eq!((status, body["error"].as_str()), (503, Some("not_ready")));
}

#[tokio::test]
async fn authentication_methods_and_rotation() {
    let t = TestApp::started(|s| {
        s.webhook.allow_unauthenticated = false;
        s.webhook.bearer_token = Secret::new("data-action-token");
        s.webhook.basic_username = "genesys".into();
        s.webhook.basic_password = Secret::new("basic-pw");
        s.webhook.hub_signature_secret = Secret::new("hub-secret");
        s.webhook.standard_webhooks_secrets = vec![Secret::new(KEY_OLD), Secret::new(KEY_NEW)];
    })
    .await;
    let json_ct = ("content-type", "application/json");
    let body = seed("auth-1", 0.2).to_string();
    let (status, answer) = post_raw(&t, "/webhooks/genesys", body.clone(), &[json_ct]).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (401, Some("unauthorized"))
    );

    let (s, _) = post_raw(
        &t,
        "/webhooks/genesys",
        body.clone(),
        &[json_ct, ("authorization", "Bearer data-action-token")],
    )
    .await;
    assert_eq!(s, 202);
    let (s, _) = post_raw(
        &t,
        "/webhooks/genesys",
        seed("auth-2", 0.2).to_string(),
        &[json_ct, ("authorization", "Bearer wrong")],
    )
    .await;
    assert_eq!(s, 401);
    let basic = format!("Basic {}", base64_encode("genesys:basic-pw"));
    let (s, _) = post_raw(
        &t,
        "/webhooks/genesys",
        seed("auth-3", 0.2).to_string(),
        &[json_ct, ("authorization", &basic)],
    )
    .await;
    assert_eq!(s, 202);
    let body4 = seed("auth-4", 0.2).to_string();
    let hub = hub_signature("hub-secret", body4.as_bytes());
    let (s, _) = post_raw(
        &t,
        "/webhooks/genesys",
        body4.clone(),
        &[json_ct, ("x-hub-signature-256", &hub)],
    )
    .await;
    assert_eq!(s, 202);
    let mut tampered = body4.clone().into_bytes();
    tampered[10] ^= 1;
    let (s, _) = post_raw(
        &t,
        "/webhooks/genesys",
        String::from_utf8(tampered).unwrap(),
        &[json_ct, ("x-hub-signature-256", &hub)],
    )
    .await;
    assert_eq!(s, 401, "one flipped byte fails the HMAC");

    // Standard Webhooks with either key during a rotation.
    let now = chrono::Utc::now().timestamp();
    for (n, key) in [(5, KEY_OLD), (6, KEY_NEW)] {
        let body = seed(&format!("auth-{n}"), 0.2).to_string();
        let id = format!("msg-auth-{n}");
        let (s, _) = post_standard_signed(&t, key, &id, now, body).await;
        assert_eq!(s, 202, "signed with {key}");
    }
    // A stale timestamp is refused even with a valid signature.
    let body = seed("auth-7", 0.2).to_string();
    let (s, answer) = post_standard_signed(&t, KEY_NEW, "msg-auth-7", now - 600, body).await;
    assert_eq!(s, 401);
    assert!(
        answer["message"].as_str().unwrap().contains("tolerance"),
        "{answer}"
    );
    // An unknown key is refused.
    let body = seed("auth-8", 0.2).to_string();
    let unknown = "whsec_dW5rbm93bi1rZXktdGhhdC1pcy1sb25n";
    let (s, _) = post_standard_signed(&t, unknown, "m8", now, body).await;
    assert_eq!(s, 401);
}

fn base64_encode(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[tokio::test]
async fn deliveries_ride_out_a_sink_outage_and_nothing_is_dead_lettered() {
    let (sink, url) = spawn_sink(Some(KEY_NEW)).await;
    sink.set_fault(SinkFault {
        mode: SinkMode::Fail,
        seconds: 0,
        retry_after: 1,
    });
    let t = TestApp::started(|s| {
        s.coaching.url = url.clone();
        s.coaching.secret = Secret::new(KEY_NEW);
        s.coaching.backoff_base = Duration::from_millis(50).into();
        s.coaching.backoff_cap = Duration::from_millis(400).into();
    })
    .await;
    let mut ids = Vec::new();
    for i in 0..30 {
        let (status, body) = post(&t, &seed(&format!("out-{i}"), -0.4)).await;
        assert_eq!(status, 202);
        ids.push(body["id"].as_str().unwrap().to_owned());
    }
    // 500s until every event has failed at least once, then 429s with Retry-After until
    // a second round has been throttled, then the platform is back.
    assert!(
        eventually(|| sink.report().failed_on_purpose >= 30).await,
        "{:?}",
        sink.report()
    );
    sink.set_fault(SinkFault {
        mode: SinkMode::Throttle,
        seconds: 0,
        retry_after: 1,
    });
    assert!(
        eventually(|| sink.report().failed_on_purpose >= 60).await,
        "{:?}",
        sink.report()
    );
    sink.set_fault(SinkFault {
        mode: SinkMode::Accept,
        seconds: 0,
        retry_after: 1,
    });
    assert!(
        sink.wait_for_unique(30, Duration::from_secs(30)).await,
        "{:?}",
        sink.report()
    );
    let report = sink.report();
    assert!(
        report.failed_on_purpose > 0,
        "the outage was really met: {report:?}"
    );
    assert_eq!(
        report.refused_signature, 0,
        "every attempt was signed correctly"
    );
    let received: std::collections::BTreeSet<String> =
        sink.events().into_iter().map(|d| d.webhook_id).collect();
    assert_eq!(
        received,
        ids.iter().cloned().collect(),
        "every accepted event, under its own id"
    );
    let delivered = sink.events();
    let first = delivered.iter().find(|d| d.webhook_id == ids[0]).unwrap();
    for field in [
        "agent_interaction",
        "quality_score",
        "polarity",
        "action_required",
        "timestamp",
        "event_id",
        "conversation_id",
        "raw_score",
        "normalization_version",
    ] {
        assert!(
            first.body.get(field).is_some(),
            "payload has {field}: {}",
            first.body
        );
    }
    assert_eq!(first.body["quality_score"], 30.0);
    assert_eq!(first.body["action_required"], true);
    // Outcomes are journaled: failures, then deliveries (acknowledged together in
    // `delivered_batch` records); nothing dead-lettered.
    let journal = wait_for_journal(&t, |lines| delivered_ids(lines).len() == 30).await;
    // The seed's form sends no time: the score happened when it was received, which is its
    // record's time (the record does not repeat it), and every delivery says so.
    assert_eq!(first.body["timestamp"], received_at(&journal, &ids[0]));
    assert!(journal.iter().any(|l| l["type"] == "delivery_failed"));
    assert!(!journal.iter().any(|l| l["type"] == "dead_lettered"));
}

/// Waits (up to 20 s) until `cond` holds.
async fn eventually(cond: impl Fn() -> bool) -> bool {
    crate::helpers::poll(Duration::from_secs(20), async || cond().then_some(()))
        .await
        .is_some()
}

/// The journal once `done` holds for it (or as it is after 20 s).
async fn wait_for_journal(t: &TestApp, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    crate::helpers::poll(Duration::from_secs(20), async || {
        let lines = journal_lines(t);
        done(&lines).then_some(lines)
    })
    .await
    .unwrap_or_else(|| journal_lines(t))
}

#[tokio::test]
async fn a_4xx_from_the_coaching_platform_dead_letters_at_once_and_replay_requeues_it() {
    // A sink with a secret the daemon does not have: every delivery gets 401.
    let (sink, url) = spawn_sink(Some(KEY_OLD)).await;
    let t = TestApp::started(|s| s.coaching.url = url.clone()).await;
    let (status, body) = post(&t, &seed("dl-1", 0.1)).await;
    assert_eq!(status, 202);
    let id = body["id"].as_str().unwrap().to_owned();
    let lines = wait_for_journal(&t, |l| l.iter().any(|x| x["type"] == "dead_lettered")).await;
    let dl = lines
        .iter()
        .find(|l| l["type"] == "dead_lettered")
        .expect("dead-lettered");
    assert_eq!(
        (
            dl["event_id"].as_str(),
            dl["attempt"].as_u64(),
            dl["status"].as_u64()
        ),
        (Some(id.as_str()), Some(1), Some(401))
    );
    assert_eq!(sink.report().refused_signature, 1);
    let metrics = t.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("genesys_sentiment_dead_letters 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("genesys_sentiment_deliveries_total{outcome=\"dead_lettered\"} 1"),
        "{metrics}"
    );

    // While the daemon runs, the journal is locked: replay refuses.
    let journal_dir = t.dir.path().join("journal");
    let out = std::process::Command::new(crate::helpers::BIN)
        .args([
            "audit",
            "replay",
            "--dead-letters",
            journal_dir.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("in use by another process"));

    // Stopped, the replay is journaled; after a restart with the right secret it is delivered.
    let dir = t.stop().await;
    let out = std::process::Command::new(crate::helpers::BIN)
        .args([
            "audit",
            "replay",
            "--dead-letters",
            journal_dir.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(&id));
    let t = TestApp::started_in(dir, |s| {
        s.coaching.url = url.clone();
        s.coaching.secret = Secret::new(KEY_OLD);
    })
    .await;
    assert!(sink.wait_for_unique(1, Duration::from_secs(20)).await);
    assert_eq!(
        sink.events()[0].webhook_id,
        id,
        "the replay carries the same id"
    );
    let lines = wait_for_journal(&t, |l| delivered_ids(l) == [id.as_str()]).await;
    let kinds: Vec<&str> = lines.iter().map(|l| l["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "webhook_received",
            "attributed",
            "dead_lettered",
            "replay_requested",
            "delivered_batch"
        ]
    );
    assert_eq!(
        lines[4]["deliveries"][0][1], 1,
        "the attempt after the replay is the first of its own"
    );
    assert_eq!(lines[3]["source"], "cli");
    // Read back from the journal after the restart, the score says when it was received.
    assert_eq!(
        sink.events()[0].body["timestamp"],
        received_at(&lines, &id),
        "{}",
        sink.events()[0].body
    );
}

/// When the score `id` was received, as a delivery states it (milliseconds): its
/// `webhook_received` record's time. The record holds no `occurred_at` of its own.
fn received_at(journal: &[Value], id: &str) -> String {
    let record = journal
        .iter()
        .find(|l| l["type"] == "webhook_received" && l["event_id"] == id)
        .expect("the score's record");
    assert!(record.get("occurred_at").is_none(), "{record}");
    let time = chrono::DateTime::parse_from_rfc3339(record["time"].as_str().unwrap()).unwrap();
    time.with_timezone(&chrono::Utc)
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[tokio::test]
async fn a_write_failure_answers_503_and_acknowledges_nothing() {
    if !std::path::Path::new("/dev/full").exists() {
        panic!("this test simulates a full disk with /dev/full");
    }
    let t = TestApp::started(|s| s.journal.segment_max_bytes = 4096).await;
    let journal_dir = t.dir.path().join("journal");
    // The next segment "is on a full disk": writes to it fail with ENOSPC.
    std::os::unix::fs::symlink("/dev/full", journal_dir.join("segment-00000002.jsonl")).unwrap();
    let mut accepted = Vec::new();
    let mut refused = 0;
    for i in 0..60 {
        let (status, body) = post(&t, &seed(&format!("full-{i}"), 0.1)).await;
        match status {
            202 => accepted.push(body["id"].as_str().unwrap().to_owned()),
            503 => {
                assert_eq!(body["error"], "journal_unavailable");
                refused += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(
        refused > 0 && !accepted.is_empty(),
        "accepted {} then refused {refused}",
        accepted.len()
    );
    let metrics = t.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("genesys_sentiment_webhooks_total{outcome=\"journal_unavailable\"}"),
        "{metrics}"
    );
    // A load balancer stops sending here while the journal cannot write.
    let ready = t.client.get(t.public_url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["reason"], "journal_unwritable", "{body}");
    // Every 202 is in the first segment; the chain there verifies.
    std::fs::remove_file(journal_dir.join("segment-00000002.jsonl")).unwrap();
    let outcome = genesys_sentiment::journal::verify(&journal_dir).unwrap();
    assert!(outcome.records >= accepted.len() as u64);
    let text = std::fs::read_to_string(journal_dir.join("segment-00000001.jsonl")).unwrap();
    for id in &accepted {
        assert_eq!(
            text.matches(&format!(
                "\"type\":\"webhook_received\",\"event_id\":\"{id}\""
            ))
            .count(),
            1
        );
    }
}

#[tokio::test]
async fn a_conversation_end_event_gets_its_score_from_sta_and_is_forwarded() {
    let emu = crate::helpers::emulator::start(crate::helpers::emulator::small_config(31)).await;
    let (sink, url) = spawn_sink(None).await;
    let analysed = emu
        .state
        .org
        .conversations
        .iter()
        .find(|c| c.analysed)
        .unwrap()
        .id_string();
    let unanalysed = emu
        .state
        .org
        .conversations
        .iter()
        .find(|c| !c.analysed)
        .unwrap()
        .id_string();
    let t = TestApp::started(|s| {
        s.coaching.url = url.clone();
        s.genesys.base_url = emu.url();
        s.genesys.client_id = genesys_sentiment::emulator::DEFAULT_CLIENT_ID.into();
        s.genesys.client_secret = Secret::new(genesys_sentiment::emulator::DEFAULT_CLIENT_SECRET);
        s.webhook.sta_retry_delay = Duration::from_millis(20).into();
        s.webhook.sta_max_wait = Duration::from_millis(300).into();
    })
    .await;
    for (conv, topic) in [(&analysed, "acw"), (&unanalysed, "customer.end")] {
        let event = json!({"topicName": format!("v2.detail.events.conversation.{conv}.{topic}"),
            "eventBody": {"conversationId": conv, "userId": "agent-x", "queueId": "queue-x", "eventTime": chrono::Utc::now().timestamp_millis()}});
        let (status, body) = post(&t, &event).await;
        assert_eq!(status, 202, "{body}");
    }
    assert!(sink.wait_for_unique(1, Duration::from_secs(20)).await);
    let delivered = sink.events();
    assert_eq!(delivered[0].body["conversation_id"], analysed.as_str());
    assert_eq!(delivered[0].body["agent_id"], "agent-x");
    let lines = wait_for_journal(&t, |l| l.iter().any(|x| x["type"] == "enrichment_failed")).await;
    assert!(
        lines
            .iter()
            .any(|l| l["type"] == "sentiment_fetched" && l["conversation_id"] == analysed.as_str())
    );
    let failed = lines
        .iter()
        .find(|l| l["type"] == "enrichment_failed")
        .unwrap();
    assert_eq!(failed["conversation_id"], unanalysed.as_str());
    assert!(failed["reason"].as_str().unwrap().contains("not analysed"));
}

#[tokio::test]
async fn validate_checks_a_webhook_without_storing_it() {
    let t = TestApp::started(|_| {}).await;
    let before = journal_lines(&t).len();
    let (status, body) = post_raw(
        &t,
        "/webhooks/genesys?validate=true",
        seed("v-1", -0.5).to_string(),
        &[("content-type", "application/json")],
    )
    .await;
    assert_eq!(
        (status, body["valid"].as_bool(), body["stored"].as_bool()),
        (200, Some(true), Some(false)),
        "{body}"
    );
    assert_eq!(body["reading"]["quality_score"], 25.0);
    let (status, _) = post_raw(
        &t,
        "/webhooks/genesys?validate=true",
        seed("v-2", 2.0).to_string(),
        &[("content-type", "application/json")],
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(journal_lines(&t).len(), before, "nothing stored");
    // The same event sent for real afterwards is new, not a duplicate.
    let (status, _) = post(&t, &seed("v-1", -0.5)).await;
    assert_eq!(status, 202);
}

#[tokio::test]
async fn past_coaching_max_lag_the_intake_sheds_with_503_and_takes_events_again_once_delivered() {
    let (sink, sink_url) = spawn_sink(Some(KEY_NEW)).await;
    sink.set_fault(SinkFault {
        mode: SinkMode::Fail,
        seconds: 0,
        retry_after: 1,
    });
    let t = TestApp::started(move |s| {
        s.coaching.url = sink_url;
        s.coaching.secret = Secret::new(KEY_NEW);
        s.coaching.backoff_base = Duration::from_millis(20).into();
        s.coaching.backoff_cap = Duration::from_millis(200).into();
        s.coaching.max_lag = 5;
    })
    .await;
    for i in 0..5 {
        let (status, answer) = post(&t, &seed(&format!("lag-{i}"), -0.5)).await;
        assert_eq!(status, 202, "under the bound: {answer}");
    }
    let r = t
        .client
        .post(t.url("/webhooks/genesys"))
        .json(&seed("lag-5", -0.5))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503, "five owed: the sixth is shed");
    assert_eq!(
        r.headers().get("retry-after").map(|v| v.to_str().unwrap()),
        Some("1")
    );
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["error"], "overloaded", "{answer}");
    let metrics = t.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("genesys_sentiment_shed_total{outcome=\"outbox_lag\"} 1"),
        "{metrics}"
    );
    assert!(
        !t.journal().iter().any(|r| r["conversation_id"] == "lag-5"),
        "nothing shed is journaled"
    );
    // The coaching platform is back: the backlog drains and the intake takes events again.
    sink.set_fault(SinkFault {
        mode: SinkMode::Accept,
        seconds: 0,
        retry_after: 1,
    });
    let taken = crate::helpers::poll(Duration::from_secs(20), async || {
        let (status, _) = post(&t, &seed("lag-5", -0.5)).await;
        (status == 202).then_some(())
    })
    .await;
    assert!(
        taken.is_some(),
        "accepted again once the backlog is delivered"
    );
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_dedupe_set_forgets_its_oldest_keys_and_says_so() {
    let logs = crate::helpers::captured_logs();
    let t = TestApp::started(|s| s.journal.dedupe_max_keys = 1_000).await;
    let mut ids = Vec::new();
    for i in 0..2_000 {
        let (status, answer) = t.post_webhook(&seed(&format!("full-{i}"), -0.5)).await;
        assert_eq!(status, 202, "{answer}");
        ids.push(answer["id"].as_str().unwrap().to_owned());
    }
    // The newest are still known: repeats are duplicates naming the stored event.
    for (i, stored) in ids.iter().enumerate().skip(1_950) {
        let (status, answer) = t.post_webhook(&seed(&format!("full-{i}"), -0.5)).await;
        assert_eq!(
            (status, &answer["duplicate"]),
            (200, &json!(true)),
            "{answer}"
        );
        assert_eq!(&answer["id"], stored);
    }
    // The oldest were forgotten to keep memory bounded: a repeat is accepted again, under
    // the same event id.
    for (i, first) in ids.iter().enumerate().take(50) {
        let (status, answer) = t.post_webhook(&seed(&format!("full-{i}"), -0.5)).await;
        assert_eq!(status, 202, "full-{i} was forgotten: {answer}");
        assert_eq!(&answer["id"], first);
    }
    assert!(
        logs.text()
            .contains("Dedupe set full (journal.dedupe_max_keys)"),
        "the operator is told"
    );
    t.stop().await;
}

#[tokio::test]
async fn an_empty_webhook_id_is_refused_rather_than_making_later_events_duplicates() {
    let t = TestApp::started(|_| {}).await;
    for (i, id) in ["", " ", "two words"].into_iter().enumerate() {
        let (status, body) = post_raw(
            &t,
            "/webhooks/genesys",
            seed(&format!("blank-id-{i}"), -0.5).to_string(),
            &[("content-type", "application/json"), ("webhook-id", id)],
        )
        .await;
        assert_eq!(status, 422, "{id:?}: {body}");
        assert!(
            body["message"].as_str().unwrap().contains("webhook-id"),
            "{body}"
        );
    }
    // Each is taken once it carries an id of its own.
    for i in 0..3 {
        let (status, body) = post_raw(
            &t,
            "/webhooks/genesys",
            seed(&format!("blank-id-{i}"), -0.5).to_string(),
            &[
                ("content-type", "application/json"),
                ("webhook-id", &format!("msg_{i}")),
            ],
        )
        .await;
        assert_eq!(status, 202, "{body}");
    }
    t.stop().await;
}

#[tokio::test]
async fn an_event_time_in_seconds_instead_of_milliseconds_is_refused() {
    let t = TestApp::started(|_| {}).await;
    let event = |at: i64| {
        json!({"topicName": "v2.detail.events.conversation.c-secs.acw",
               "eventBody": {"conversationId": "c-secs", "userId": "agent-x", "eventTime": at}})
    };
    // 1 714 560 000 read as milliseconds is 1970-01-20.
    let (status, body) = post(&t, &event(1_714_560_000)).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("milliseconds"),
        "{body}"
    );
    let (status, body) = post(&t, &event(1_714_560_000_000)).await;
    assert_eq!(status, 202, "the same in milliseconds: {body}");
    t.stop().await;
}

#[tokio::test]
async fn a_rejection_does_not_repeat_a_huge_value_back() {
    let t = TestApp::started(|_| {}).await;
    let huge = "x".repeat(20_000);
    for body in [
        json!({"interactionId": "c-huge", "sentiment": {"score": huge, "polarity": "negative"}}),
        json!({"interactionId": "c-huge", "sentiment": {"score": 0.1, "polarity": huge}}),
    ] {
        let (status, answer) = post(&t, &body).await;
        assert_eq!(status, 422, "{answer}");
        let message = answer["message"].as_str().unwrap();
        assert!(message.len() < 400, "{} characters", message.len());
    }
    t.stop().await;
}

#[tokio::test]
async fn a_bad_query_string_gets_the_json_error_like_any_other_refusal() {
    let t = TestApp::started(|_| {}).await;
    let (status, body) = post_raw(
        &t,
        "/webhooks/genesys?validate=1",
        seed("q-1", 0.1).to_string(),
        &[("content-type", "application/json")],
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("query string"),
        "{body}"
    );
    for path in [
        "/v1/trends/history?limit=-1",
        "/v1/trends?group_by=agent&group_by=queue",
    ] {
        let r = t.get(path).await;
        assert_eq!(r.status().as_u16(), 400, "{path}");
        let body: Value = r.json().await.expect("a JSON body");
        assert_eq!(body["error"], "bad_query", "{path}: {body}");
    }
    t.stop().await;
}
