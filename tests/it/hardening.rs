//! Issue 14: every hole of the hostile-input review, reproduced against the real server and
//! kept closed. Each test names the point of the issue it covers.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use genesys_sentiment::config::{Purpose, Secret};
use serde_json::{Value, json};

use crate::fake_genesys::{FakeGenesys, Reply};
use crate::helpers::{TestApp, load, poll, run_bin};

fn seed(id: &str) -> Value {
    json!({"interactionId": id, "sentiment": {"score": -0.5, "polarity": "negative"}})
}

/// The first journal record of `kind`, once there is one (10 s at most).
async fn first_record(t: &TestApp, kind: &str) -> Option<Value> {
    poll(Duration::from_secs(10), async || {
        t.journal().into_iter().find(|r| r["type"] == kind)
    })
    .await
}

/// A coaching platform stand-in (any path) answering with `reply` for each delivery.
async fn sink(reply: impl Fn(usize) -> Reply + Send + Sync + 'static) -> (FakeGenesys, String) {
    let fake = FakeGenesys::start().await;
    let count = std::sync::atomic::AtomicUsize::new(0);
    fake.handler("/coaching", move |_| {
        reply(count.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
    });
    let url = format!("{}/coaching", fake.url());
    (fake, url)
}

fn ok() -> Reply {
    Reply::json(200, json!({"ok": true}))
}

/// Distinct `webhook-id`s the sink received with a 2xx answer pending or given.
fn delivered_ids(fake: &FakeGenesys) -> std::collections::BTreeSet<String> {
    fake.seen("/coaching")
        .iter()
        .filter_map(|s| {
            s.headers
                .iter()
                .find(|(k, _)| k == "webhook-id")
                .map(|(_, v)| v.clone())
        })
        .collect()
}

// 1. A cancelled request leaves nothing stuck.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_whose_sender_hangs_up_at_once_are_still_delivered_and_then_duplicates() {
    let (fake, url) = sink(|_| ok()).await;
    let t = TestApp::started(|s| s.coaching.url = url.clone()).await;
    let address = t.address;
    let ids: Vec<String> = (0..40).map(|i| format!("hangup-{i}")).collect();
    let sent = ids.clone();
    tokio::task::spawn_blocking(move || {
        for id in &sent {
            let body = seed(id).to_string();
            let mut s = TcpStream::connect(address).unwrap();
            write!(
                s,
                "POST /webhooks/genesys HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .unwrap();
            // Half-close and go away without reading the answer.
            s.shutdown(std::net::Shutdown::Both).unwrap();
        }
    })
    .await
    .unwrap();
    // Each either was stored (then it is delivered, and a retry is a duplicate) or was
    // never stored (then a retry stores it): never stuck answering 503 in_progress.
    for id in &ids {
        let answered = poll(Duration::from_secs(10), async || {
            let (status, body) = t.post_webhook(&seed(id)).await;
            (status != 503).then_some((status, body))
        })
        .await;
        let (status, body) = answered.unwrap_or_else(|| panic!("{id} stays 503"));
        assert!(status == 200 || status == 202, "{id}: {status} {body}");
    }
    let all = poll(Duration::from_secs(20), async || {
        (delivered_ids(&fake).len() >= ids.len()).then_some(())
    })
    .await;
    assert!(
        all.is_some(),
        "delivered {} of {}",
        delivered_ids(&fake).len(),
        ids.len()
    );
    t.stop().await;
}

// 2. A hostile Retry-After neither panics nor stops forwarding.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_1e20_from_the_sink_is_capped_and_deliveries_still_arrive() {
    let (fake, url) = sink(|n| {
        if n < 12 {
            Reply::json(429, json!({})).header("retry-after", "1e20")
        } else {
            ok()
        }
    })
    .await;
    let t = TestApp::started(|s| {
        s.coaching.url = url.clone();
        s.coaching.retry_after_cap = Duration::from_millis(100).into();
        s.coaching.backoff_base = Duration::from_millis(10).into();
    })
    .await;
    for i in 0..12 {
        assert_eq!(t.post_webhook(&seed(&format!("ra-{i}"))).await.0, 202);
    }
    let all = poll(Duration::from_secs(20), async || {
        (delivered_ids(&fake).len() >= 12 && fake.seen("/coaching").len() > 12).then_some(())
    })
    .await;
    assert!(all.is_some(), "{} requests", fake.seen("/coaching").len());
    let metrics = t.get("/metrics").await.text().await.unwrap();
    let faults: Vec<&str> = metrics
        .lines()
        .filter(|l| {
            l.starts_with("genesys_sentiment_forwarder_faults_total{") && !l.ends_with(" 0")
        })
        .collect();
    assert!(faults.is_empty(), "no worker panicked: {faults:?}");
    assert_eq!(t.get("/readyz").await.status(), 200);
    t.stop().await;
}

// 2. The same header from Genesys ends the request with a rate-limit error, no panic.
#[tokio::test]
async fn retry_after_1e20_from_genesys_is_a_rate_limit_error() {
    let fake = FakeGenesys::start().await;
    fake.default_reply(
        "/api/v2/speechandtextanalytics/conversations/c-1",
        Reply::json(
            429,
            json!({"message": "slow down", "code": "too.many.requests", "status": 429}),
        )
        .header("retry-after", "1e20"),
    );
    let client = fake.client(|_| {});
    let err = client.conversation_sentiment("c-1").await.unwrap_err();
    assert_eq!(
        err.kind(),
        genesys_sentiment::genesys::ErrorKind::RateLimited,
        "{err}"
    );
}

/// A Genesys whose tokens last `secs` and that has not analysed conversation c-1, and a
/// client of it.
async fn login_host_with_token_lifetime(
    secs: u64,
) -> (FakeGenesys, genesys_sentiment::genesys::GenesysClient) {
    let fake = FakeGenesys::start().await;
    fake.token_lifetime(secs);
    fake.default_reply(
        "/api/v2/speechandtextanalytics/conversations/c-1",
        Reply::json(
            404,
            json!({"message": "no such conversation", "code": "resource.not.found", "status": 404}),
        ),
    );
    let client = fake.client(|_| {});
    (fake, client)
}

// 2c. A login host that says the token expires at once: not a token per call.
#[tokio::test]
async fn a_token_lifetime_of_zero_does_not_fetch_a_token_per_call() {
    let (fake, client) = login_host_with_token_lifetime(0).await;
    for _ in 0..5 {
        client.conversation_sentiment("c-1").await.unwrap();
    }
    assert_eq!(fake.token_requests(), 1, "one token for five calls");
}

// 2b. A login host that claims a token lives for ever: fetched once, used, no panic.
#[tokio::test]
async fn a_token_lifetime_of_u64_max_is_cached_without_a_panic() {
    let (fake, client) = login_host_with_token_lifetime(u64::MAX).await;
    for _ in 0..2 {
        // The token is good; the conversation is simply not analysed (404).
        let outcome = client.conversation_sentiment("c-1").await.unwrap();
        assert!(
            matches!(
                outcome,
                genesys_sentiment::genesys::sta::StaOutcome::NotAnalysed
            ),
            "{outcome:?}"
        );
    }
    assert_eq!(fake.token_requests(), 1, "the token was cached");
}

// 2c. Callers queued behind a token request that fails share its failure: one retry cycle
// in all, not one per caller in turn (which would hold every Genesys call for N cycles).
#[tokio::test]
async fn callers_waiting_for_a_failing_token_request_share_its_failure() {
    let fake = FakeGenesys::start().await;
    fake.script(
        "/oauth/token",
        (0..40).map(|_| Reply::json(503, json!({"error": "busy"})).header("retry-after", "0")),
    );
    let client = fake.client(|s| s.genesys.max_attempts = std::num::NonZeroU32::new(3).unwrap());
    let calls = (0..4).map(|_| client.conversation_sentiment("c-1"));
    let results = futures_util::future::join_all(calls).await;
    assert!(results.iter().all(Result::is_err), "{results:?}");
    assert_eq!(
        fake.seen("/oauth/token").len(),
        3,
        "one cycle of three attempts"
    );
    assert!(
        results.iter().any(|r| r
            .as_ref()
            .unwrap_err()
            .to_string()
            .contains("token request in flight failed")),
        "{results:?}"
    );
}

// 3. Agent data is not on the public port; the admin token guards it.
#[tokio::test]
async fn admin_routes_are_absent_from_the_public_listener_and_need_the_admin_token() {
    let token = "admin-token-0123456789abcdef";
    let t = TestApp::started(|s| s.server.admin_token = Secret::new(token)).await;
    for path in ["/v1/trends", "/v1/runs", "/v1/deliveries", "/metrics", "/"] {
        let r = t.client.get(t.public_url(path)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path} on the public listener");
    }
    for path in ["/healthz", "/readyz"] {
        let r = t.client.get(t.public_url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path} on the public listener");
    }
    let r = t.get("/v1/runs").await;
    assert_eq!(r.status(), 401, "no token");
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let r = t
            .client
            .get(t.url("/v1/runs"))
            .header("authorization", format!("{scheme} {token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{scheme}");
    }
    let r = t
        .client
        .get(t.url("/metrics"))
        .header("authorization", "Bearer wrong-token-0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // The dashboard page holds no data; it asks for the token.
    assert_eq!(t.get("/").await.status(), 200);
    t.stop().await;
}

// 4. A client trickling headers is closed; connections over the cap are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_headers_are_cut_off_and_connections_over_the_cap_are_closed() {
    let t = TestApp::started(|s| {
        s.server.header_read_timeout = Duration::from_secs(1).into();
        s.server.max_connections = std::num::NonZero::new(4).unwrap();
    })
    .await;
    let address = t.address;
    let closed_within = tokio::task::spawn_blocking(move || {
        // Unfinished headers, nothing at all, a few bytes, a request line alone.
        let openings: [&[u8]; 4] = [
            b"POST /webhooks/genesys HTTP/1.1\r\nHost: x\r\nX-Slow: ",
            b"",
            b"GE",
            b"POST /webhooks/genesys HTTP/1.1\r\n",
        ];
        let mut slow: Vec<TcpStream> = openings
            .iter()
            .map(|opening| {
                let mut s = TcpStream::connect(address).unwrap();
                s.write_all(opening).unwrap();
                s
            })
            .collect();
        // The fifth connection is over the cap: closed at once, unanswered.
        let mut fifth = TcpStream::connect(address).unwrap();
        fifth
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let _ = fifth.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
        let mut buf = [0u8; 256];
        let n = fifth.read(&mut buf).unwrap_or(0);
        assert_eq!(n, 0, "{:?}", String::from_utf8_lossy(&buf[..n]));
        // The slow ones are closed after header_read_timeout.
        let started = Instant::now();
        for s in &mut slow {
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut buf = Vec::new();
            let _ = s.read_to_end(&mut buf);
        }
        let slow_closed = started.elapsed();
        // Half an HTTP/2 preface (what a version-sniffing server would wait on) is not
        // held open either.
        let started = Instant::now();
        let mut preface = TcpStream::connect(address).unwrap();
        preface.write_all(b"PRI * HTTP/2.0\r\n").unwrap();
        preface
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let _ = preface.read_to_end(&mut Vec::new());
        slow_closed.max(started.elapsed())
    })
    .await
    .unwrap();
    assert!(
        closed_within < Duration::from_secs(5),
        "slow connections closed after {closed_within:?}"
    );
    let metrics = t.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("genesys_sentiment_shed_total{outcome=\"max_connections\"}"),
        "{metrics}"
    );
    // Once they are gone, the listener serves again.
    assert_eq!(
        t.client
            .get(t.public_url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    t.stop().await;
}

// 5. A far-future eventTime is refused; time arithmetic never panics.
#[tokio::test]
async fn an_event_time_far_in_the_future_or_in_microseconds_is_422() {
    let t = TestApp::started(|_| {}).await;
    let now_ms = chrono::Utc::now().timestamp_millis();
    for (what, time) in [
        ("year 9999", json!("9999-01-01T00:00:00Z")),
        ("microseconds", json!(now_ms * 1000)),
        ("an hour ahead", json!(now_ms + 3_600_000)),
    ] {
        let body = json!({"topicName": "v2.detail.events.conversation.c-future.customer.end",
            "eventBody": {"conversationId": "c-future", "eventTime": time}});
        let (status, answer) = t.post_webhook(&body).await;
        assert_eq!(status, 422, "{what}: {answer}");
        assert!(
            answer["message"]
                .as_str()
                .unwrap()
                .contains("max_clock_skew"),
            "{what}: {answer}"
        );
    }
    // Within the skew it is accepted.
    let body = json!({"topicName": "v2.detail.events.conversation.c-now.customer.end",
        "eventBody": {"conversationId": "c-now", "eventTime": now_ms + 60_000}});
    assert_eq!(t.post_webhook(&body).await.0, 202);
    t.stop().await;
}

// 5a. An event time that does not parse is refused, not replaced by the receive time (which
// agent's .acw is credited goes by it); a float of whole milliseconds is read.
#[tokio::test]
async fn an_event_time_that_does_not_parse_is_422_not_the_receive_time() {
    let t = TestApp::started(|_| {}).await;
    for time in [
        json!("yesterday"),
        json!(true),
        json!({"ms": 1}),
        json!(1.5),
    ] {
        let body = json!({"topicName": "v2.detail.events.conversation.c-t.acw",
            "eventBody": {"conversationId": "c-t", "userId": "agent-1", "eventTime": time}});
        let (status, answer) = t.post_webhook(&body).await;
        assert_eq!(status, 422, "{time}: {answer}");
        assert!(
            answer["message"]
                .as_str()
                .unwrap()
                .contains("eventBody.eventTime must be epoch milliseconds or an ISO 8601 time"),
            "{time}: {answer}"
        );
    }
    let now_ms = chrono::Utc::now().timestamp_millis() as f64;
    let body = json!({"topicName": "v2.detail.events.conversation.c-f.acw",
        "eventBody": {"conversationId": "c-f", "userId": "agent-1", "eventTime": now_ms}});
    assert_eq!(t.post_webhook(&body).await.0, 202);
    t.stop().await;
}

// 5b. A refusal quotes at most the start of what the sender sent: a 60 KiB topic or id is
// not echoed back, nor written into the refusal's log line.
#[tokio::test]
async fn a_refusal_does_not_echo_a_huge_topic_or_id() {
    let t = TestApp::started(|_| {}).await;
    let huge = "x".repeat(60_000);
    for body in [
        json!({"topicName": format!("v2.users.{huge}.presence"), "eventBody": {}}),
        json!({"topicName": "v2.detail.events.conversation.c-1.customer.end",
               "eventBody": {"conversationId": huge}}),
    ] {
        let (status, answer) = t.post_webhook(&body).await;
        assert_eq!(status, 422, "{}", &answer.to_string()[..200]);
        let message = answer["message"].as_str().unwrap();
        assert!(message.len() < 600, "{} bytes echoed", message.len());
    }
    t.stop().await;
}

// 5c. The dashboard cannot be framed by another page, and no answer is content-sniffed.
#[tokio::test]
async fn the_dashboard_cannot_be_framed_and_answers_are_not_sniffed() {
    let t = TestApp::started(|_| {}).await;
    let page = t.get("/").await;
    let policy = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    for path in ["/", "/v1/runs", "/metrics", "/nothing-here"] {
        let r = t.get(path).await;
        assert_eq!(r.headers()["x-content-type-options"], "nosniff", "{path}");
    }
    let refused = t
        .client
        .post(t.url("/webhooks/genesys"))
        .json(&json!({"bad": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
    assert_eq!(refused.headers()["x-content-type-options"], "nosniff");
    t.stop().await;
}

// 6. An id is never put into a Genesys URL unchecked.
#[tokio::test]
async fn a_path_traversal_id_is_422_and_nothing_is_stored_or_fetched() {
    let fake = FakeGenesys::start().await;
    let t = TestApp::started(|s| {
        s.genesys.base_url = fake.url();
        s.webhook.sta_retry_delay = Duration::ZERO.into();
    })
    .await;
    for id in [
        "../../../../api/v2/users/me",
        "c-1/../../users/me",
        "c-1?x=1",
        "c 1",
        &"a".repeat(129),
    ] {
        let body = json!({"topicName": "v2.detail.events.conversation.{id}.customer.end",
            "eventBody": {"conversationId": id}});
        let (status, answer) = t.post_webhook(&body).await;
        assert_eq!(status, 422, "{id:?}: {answer}");
        let (status, _) = t.post_webhook(&seed(id)).await;
        assert_eq!(status, 422, "seed form {id:?}");
        // A dry run says the same as the real post.
        let dry = t
            .client
            .post(t.url("/webhooks/genesys?validate=true"))
            .header("content-type", "application/json")
            .body(seed(id).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(dry.status(), 422, "?validate=true for {id:?}");
    }
    let r = t
        .client
        .post(t.url("/webhooks/genesys"))
        .header("content-type", "application/json")
        .header("webhook-id", "w".repeat(300))
        .body(seed("c-ok").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422, "an over-long webhook-id");
    let dir = t.stop().await;
    let journal = std::fs::read_to_string(dir.path().join("journal/segment-00000001.jsonl"))
        .unwrap_or_default();
    assert!(!journal.contains("users/me"), "nothing journaled");
    assert!(
        fake.seen("/api/v2/users/me").is_empty(),
        "no request left for Genesys"
    );
}

// 7. Secrets that look like numbers stay as written; short webhook secrets are refused.
#[test]
fn numeric_looking_secrets_are_kept_and_short_ones_refused() {
    let token = "1234567890123456789012345";
    let s = load(
        None,
        &[
            ("GENESYS_SENTIMENT__WEBHOOK__BASIC_USERNAME", "007"),
            ("GENESYS_SENTIMENT__WEBHOOK__BASIC_PASSWORD", "007"),
            ("GENESYS_SENTIMENT__WEBHOOK__BEARER_TOKEN", token),
            ("GENESYS_SENTIMENT__GENESYS__CLIENT_SECRET", "0042"),
            ("GENESYS_SENTIMENT__SERVER__MAX_CONNECTIONS", "12"),
        ],
        Purpose::Inspect,
    )
    .unwrap();
    assert_eq!(s.webhook.basic_username, "007");
    assert_eq!(s.webhook.basic_password.expose(), Some("007"));
    assert_eq!(s.webhook.bearer_token.expose(), Some(token));
    assert_eq!(s.genesys.client_secret.expose(), Some("0042"));
    assert_eq!(s.server.max_connections.get(), 12, "numbers still parse");
    for (key, var) in [
        (
            "webhook.bearer_token",
            "GENESYS_SENTIMENT__WEBHOOK__BEARER_TOKEN",
        ),
        (
            "webhook.hub_signature_secret",
            "GENESYS_SENTIMENT__WEBHOOK__HUB_SIGNATURE_SECRET",
        ),
    ] {
        let out = run_bin(
            &["check-config"],
            &[(var, "short-secret"), CLIENT_ID, CLIENT_SECRET],
        );
        assert_eq!(out.status.code(), Some(2), "{key}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(key) && !err.contains("short-secret"), "{err}");
    }
}

// 8. Redirects are not followed: a 302 dead-letters with its status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_302_from_the_sink_dead_letters_and_nothing_follows_it() {
    let (fake, url) = sink(|_| Reply::json(302, json!({})).header("location", "/elsewhere")).await;
    fake.default_reply("/elsewhere", ok());
    let t = TestApp::started(|s| s.coaching.url = url.clone()).await;
    assert_eq!(t.post_webhook(&seed("moved-1")).await.0, 202);
    let dead = first_record(&t, "dead_lettered")
        .await
        .expect("dead-lettered");
    assert_eq!(dead["status"], 302, "{dead}");
    assert!(
        fake.seen("/elsewhere").is_empty(),
        "the redirect was not followed"
    );
    t.stop().await;
}

// 10. An empty or unreadable HEAD does not stop start-up.
#[tokio::test]
async fn an_empty_head_still_starts() {
    let t = TestApp::started(|_| {}).await;
    assert_eq!(t.post_webhook(&seed("head-1")).await.0, 202);
    let mut dir = t.stop().await;
    for contents in [&b""[..], b"not a head", &[0xff, 0xfe][..]] {
        std::fs::write(dir.path().join("journal/HEAD"), contents).unwrap();
        let t = TestApp::started_in(dir, |_| {}).await;
        assert_eq!(t.post_webhook(&seed("head-1")).await.0, 200, "a duplicate");
        dir = t.stop().await;
    }
}

// 11. Files are the daemon user's alone.
#[tokio::test]
async fn journal_and_store_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let t = TestApp::started(|_| {}).await;
    assert_eq!(t.post_webhook(&seed("mode-1")).await.0, 202);
    let dir = t.stop().await;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let journal = dir.path().join("journal");
    assert_eq!(mode(&journal), 0o700, "journal directory");
    for f in ["segment-00000001.jsonl", "HEAD", "LOCK"] {
        assert_eq!(mode(&journal.join(f)), 0o600, "{f}");
    }
    assert_eq!(
        mode(&dir.path().join("genesys-sentiment.db")),
        0o600,
        "store"
    );
}

/// What `check-config` needs besides the key under test (it refuses what `serve` refuses).
const CLIENT_ID: (&str, &str) = ("GENESYS_SENTIMENT__GENESYS__CLIENT_ID", "client-id-0001");
const CLIENT_SECRET: (&str, &str) = (
    "GENESYS_SENTIMENT__GENESYS__CLIENT_SECRET",
    "client-secret-0002",
);
const OPEN_WEBHOOK: (&str, &str) = ("GENESYS_SENTIMENT__WEBHOOK__ALLOW_UNAUTHENTICATED", "true");

// 12. Credentials in a URL never reach check-config, errors or the journal.
#[tokio::test]
async fn credentials_in_the_coaching_url_are_redacted_everywhere() {
    let url = "http://user:pa55word@127.0.0.1:9/hook?api_key=k3y-s3cret";
    let out = run_bin(
        &["check-config"],
        &[
            ("GENESYS_SENTIMENT__COACHING__URL", url),
            CLIENT_ID,
            CLIENT_SECRET,
            OPEN_WEBHOOK,
        ],
    );
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(shown.contains("127.0.0.1:9/hook"), "{shown}");
    assert!(
        !shown.contains("pa55word") && !shown.contains("k3y-s3cret"),
        "{shown}"
    );
    // A token as the user name alone is a credential too.
    let out = run_bin(
        &["check-config"],
        &[
            (
                "GENESYS_SENTIMENT__COACHING__URL",
                "https://t0ken-as-user@127.0.0.1:9/hook",
            ),
            CLIENT_ID,
            CLIENT_SECRET,
            OPEN_WEBHOOK,
        ],
    );
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(!shown.contains("t0ken-as-user"), "{shown}");
    let t = TestApp::started(|s| {
        s.coaching.url = url.into();
        s.coaching.backoff_base = Duration::from_millis(10).into();
    })
    .await;
    assert_eq!(t.post_webhook(&seed("cred-1")).await.0, 202);
    let failed = first_record(&t, "delivery_failed")
        .await
        .expect("a failed attempt is journaled");
    let text = failed.to_string();
    assert!(
        !text.contains("pa55word") && !text.contains("k3y-s3cret"),
        "{text}"
    );
    t.stop().await;
}

// 12. coaching.auth_header is sent instead.
#[tokio::test]
async fn the_auth_header_goes_with_every_delivery() {
    let (fake, url) = sink(|_| ok()).await;
    let t = TestApp::started(|s| {
        s.coaching.url = url.clone();
        s.coaching.auth_header = Secret::new("X-Api-Key: k-0123456789");
    })
    .await;
    assert_eq!(t.post_webhook(&seed("hdr-1")).await.0, 202);
    let seen = poll(Duration::from_secs(10), async || {
        fake.seen("/coaching").into_iter().next()
    })
    .await
    .expect("delivered");
    assert!(
        seen.headers
            .iter()
            .any(|(k, v)| k == "x-api-key" && v == "k-0123456789"),
        "{:?}",
        seen.headers
    );
    t.stop().await;
}

// 14. A stale Standard Webhooks timestamp is told apart only with a good signature.
#[tokio::test]
async fn a_bad_signature_with_a_stale_timestamp_learns_nothing() {
    const KEY: &str = "whsec_c2Vjb25kLXNlY3JldC1rZXktZm9yLXJvdGF0aW9u";
    let t = TestApp::started(|s| {
        s.webhook.allow_unauthenticated = false;
        s.webhook.standard_webhooks_secrets = vec![Secret::new(KEY)];
    })
    .await;
    let stale = chrono::Utc::now().timestamp() - 3600;
    for ts in [
        stale.to_string(),
        i64::MIN.to_string(),
        i64::MAX.to_string(),
    ] {
        let r = t
            .client
            .post(t.url("/webhooks/genesys"))
            .header("content-type", "application/json")
            .header("webhook-id", "msg-stale")
            .header("webhook-timestamp", &ts)
            .header(
                "webhook-signature",
                "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            )
            .body(seed("stale-1").to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{ts}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["message"], "authentication failed", "{ts}: {body}");
    }
    t.stop().await;
}

/// A sender with no credential is answered 401 on its headers: its body is never waited
/// for or buffered, so idle connections announcing large bodies hold no memory. A sender
/// with the token is still read and stored.
#[tokio::test]
async fn a_sender_without_credentials_is_refused_before_its_body_is_read() {
    const TOKEN: &str = "token-for-the-data-action";
    let t = TestApp::started(|s| {
        s.webhook.allow_unauthenticated = false;
        s.webhook.bearer_token = Secret::new(TOKEN);
    })
    .await;
    let address = t.address;
    let answers = tokio::task::spawn_blocking(move || {
        [
            "",
            "Authorization: Bearer wrong\r\n",
            "X-Hub-Signature-256: sha256=00\r\n",
        ]
        .map(|credential| {
            let mut s = TcpStream::connect(address).unwrap();
            // Announces 60 000 bytes and sends none of them.
            write!(
                s,
                "POST /webhooks/genesys HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{credential}Content-Length: 60000\r\n\r\n"
            )
            .unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut buf = [0u8; 512];
            let n = s.read(&mut buf).unwrap_or(0);
            String::from_utf8_lossy(&buf[..n]).into_owned()
        })
    })
    .await
    .unwrap();
    for answer in &answers {
        assert!(answer.starts_with("HTTP/1.1 401"), "{answer:?}");
    }
    // The credential problem is named before a wrong content type.
    let r = t
        .client
        .post(t.url("/webhooks/genesys"))
        .header("content-type", "text/plain")
        .body(seed("no-token-1").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = t
        .client
        .post(t.url("/webhooks/genesys"))
        .bearer_auth(TOKEN)
        .json(&seed("with-token-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    t.stop().await;
}

// 13, 14. Refusals are logged at a bounded rate, escaped.
#[test]
fn refusals_are_logged_escaped_and_rate_limited() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}/s.db", dir.path().display());
    let journal = dir.path().join("journal");
    let env = [
        ("GENESYS_SENTIMENT__SERVER__LISTEN", "127.0.0.1:0"),
        ("GENESYS_SENTIMENT__SERVER__ADMIN_LISTEN", "127.0.0.1:0"),
        // Pretty: the format a terminal shows (JSON escapes control characters anyway).
        ("GENESYS_SENTIMENT__LOG__FORMAT", "pretty"),
        ("GENESYS_SENTIMENT__GENESYS__CLIENT_ID", "x"),
        ("GENESYS_SENTIMENT__GENESYS__CLIENT_SECRET", "y"),
        ("GENESYS_SENTIMENT__GENESYS__BASE_URL", "http://127.0.0.1:9"),
        ("GENESYS_SENTIMENT__WEBHOOK__ALLOW_UNAUTHENTICATED", "true"),
        ("GENESYS_SENTIMENT__BATCH__ENABLED", "false"),
        ("GENESYS_SENTIMENT__JOURNAL__DIR", journal.to_str().unwrap()),
        ("GENESYS_SENTIMENT__STORE__URL", &store),
    ];
    let mut bin = crate::helpers::RunningBinary::start(&["serve"], &env);
    let listening = bin
        .wait_for_line("Listening.", Duration::from_secs(30))
        .expect("the address is logged");
    let address = listening
        .split_whitespace()
        .find_map(|w| w.strip_prefix("address="))
        .expect("address=…")
        .to_owned();
    let warning = bin.wait_for_line("allow_unauthenticated is true", Duration::from_secs(30));
    assert!(warning.is_some(), "the start-up warning");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = reqwest::Client::new();
        assert!(
            crate::helpers::wait_for_status(
                &client,
                &format!("http://{address}/readyz"),
                200,
                Duration::from_secs(30)
            )
            .await
        );
        for i in 0..200 {
            let body = json!({"topicName": format!("v2.other.\u{1b}[2J{i}"), "eventBody": {}});
            let r = client
                .post(format!("http://{address}/webhooks/genesys"))
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 422);
        }
    });
    bin.signal(crate::helpers::Signal::Term);
    bin.wait_exit(Duration::from_secs(15));
    let mut refused = 0;
    while let Some(line) = bin.wait_for_line("Webhook refused.", Duration::from_millis(200)) {
        assert!(!line.contains('\u{1b}'), "a raw escape in the log: {line}");
        refused += 1;
    }
    assert!(
        (1..=25).contains(&refused),
        "{refused} log lines for 200 refusals"
    );
}

#[tokio::test]
async fn without_an_admin_token_a_rebound_name_cannot_read_agent_data() {
    let t = TestApp::started(|_| {}).await;
    // A page at evil.example whose name now resolves to 127.0.0.1 sends its own name.
    let rebound = t
        .client
        .get(t.url("/v1/trends"))
        .header("host", "evil.example:8081")
        .send()
        .await
        .unwrap();
    assert_eq!(rebound.status().as_u16(), 421);
    let body: serde_json::Value = rebound.json().await.unwrap();
    assert_eq!(body["error"], "unknown_host", "{body}");
    // The same request addressed to the loopback address is answered (404 before the first
    // report, not 421).
    let local = t.get("/v1/trends").await;
    assert_ne!(local.status().as_u16(), 421);
    assert_eq!(t.get("/metrics").await.status().as_u16(), 200);
    t.stop().await;
}

/// What `Host` a request to the admin port at `url` is answered under.
async fn status_addressed_to(client: &reqwest::Client, url: &str, host: &str) -> u16 {
    client
        .get(url)
        .header("host", host)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

// The container binds the admin port on every address (compose, Kubernetes): a page whose
// name resolves to the host's address is refused there too, while Prometheus scraping the
// service name it was told about, or a pod IP, is answered.
#[tokio::test]
async fn an_admin_port_open_to_a_network_without_a_token_answers_only_known_names() {
    let t = TestApp::started(|s| {
        s.server.admin_listen = "0.0.0.0:0".parse().unwrap();
        s.server.admin_hosts = vec!["daemon".into()];
    })
    .await;
    // The test talks to loopback only; the listener is the one bound on every address.
    let metrics = format!("http://127.0.0.1:{}/metrics", t.admin.port());
    let trends = format!("http://127.0.0.1:{}/v1/trends", t.admin.port());
    assert_eq!(
        status_addressed_to(&t.client, &trends, "evil.example:8081").await,
        421
    );
    assert_eq!(
        status_addressed_to(&t.client, &metrics, "daemon.evil.example").await,
        421
    );
    assert_eq!(
        status_addressed_to(&t.client, &metrics, "daemon:8081").await,
        200
    );
    assert_eq!(
        status_addressed_to(&t.client, &metrics, "10.1.2.3:8081").await,
        200
    );
    // No Host at all (HTTP/1.0, as no browser sends it) is refused too.
    let admin = std::net::SocketAddr::from(([127, 0, 0, 1], t.admin.port()));
    let (status, _) =
        tokio::task::spawn_blocking(move || answer_to(admin, "GET /metrics HTTP/1.0\r\n\r\n", b""))
            .await
            .unwrap();
    assert!(status.contains(" 421 "), "{status}");
    t.stop().await;
}

#[test]
fn admin_hosts_come_as_a_list_from_the_environment_and_a_port_in_one_is_refused() {
    let var = "GENESYS_SENTIMENT__SERVER__ADMIN_HOSTS";
    let s = load(
        None,
        &[(var, "daemon, genesys_daemon, metrics.internal.")],
        Purpose::Inspect,
    )
    .unwrap();
    assert_eq!(
        s.server.admin_hosts,
        ["daemon", "genesys_daemon", "metrics.internal."]
    );
    let err = load(None, &[(var, "daemon,daemon:8081")], Purpose::Inspect)
        .unwrap_err()
        .to_string();
    assert!(err.contains("server.admin_hosts"), "{err}");
    assert!(err.contains("item 2 is not a host name"), "{err}");
}

// A gateway that echoes the credential it refused does not put it in the journal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_echoing_the_refused_key_does_not_get_it_journaled() {
    let (_fake, url) = sink(|_| {
        Reply::json(
            401,
            json!({"message": "invalid API key Bearer sk_live_0123456789abcdef for this account \
                                (signed with whsec_c2Vjb25kLXNlY3JldC1rZXktZm9yLXJvdGF0aW9u)"}),
        )
    })
    .await;
    let t = TestApp::started(|s| {
        s.coaching.url = url.clone();
        s.coaching.auth_header = Secret::new("Authorization: Bearer sk_live_0123456789abcdef");
        s.coaching.secret = Secret::new("whsec_c2Vjb25kLXNlY3JldC1rZXktZm9yLXJvdGF0aW9u");
    })
    .await;
    assert_eq!(t.post_webhook(&seed("echo-1")).await.0, 202);
    let dead = first_record(&t, "dead_lettered")
        .await
        .expect("dead-lettered");
    let text = dead.to_string();
    assert!(!text.contains("sk_live_0123456789abcdef"), "{text}");
    assert!(
        !text.contains("c2Vjb25kLXNlY3JldC1rZXktZm9yLXJvdGF0aW9u"),
        "{text}"
    );
    assert!(
        text.contains("invalid API key [redacted] for this account"),
        "{text}"
    );
    let journal =
        std::fs::read_to_string(t.dir.path().join("journal/segment-00000001.jsonl")).unwrap();
    assert!(!journal.contains("sk_live_0123456789abcdef"));
    assert!(!journal.contains("c2Vjb25kLXNlY3JldC1rZXktZm9yLXJvdGF0aW9u"));
    t.stop().await;
}

/// Sends `head` (and `body`, maybe short of its Content-Length) to `address` and gives the
/// status line of the answer, and how long it took to come.
fn answer_to(address: std::net::SocketAddr, head: &str, body: &[u8]) -> (String, Duration) {
    let mut s = TcpStream::connect(address).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 512];
    let n = s.read(&mut buf).unwrap_or(0);
    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
    (
        text.lines().next().unwrap_or("").to_owned(),
        started.elapsed(),
    )
}

// Signature headers that cannot verify (a timestamp that is not a number, no webhook-id) are
// refused on the headers, and a body that trickles in (or never comes, after a timestamp
// outside the tolerance) is cut off after header_read_timeout: none holds a connection for
// the 30 s request timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unverifiable_signature_headers_and_a_trickled_body_do_not_hold_the_connection() {
    let t = TestApp::started(|s| {
        s.webhook.allow_unauthenticated = false;
        s.webhook.standard_webhooks_secrets = vec![Secret::new(
            "whsec_c2Vjb25kLXNlY3JldC1rZXktZm9yLXJvdGF0aW9u",
        )];
        s.server.header_read_timeout = Duration::from_secs(1).into();
        s.server.request_timeout = Duration::from_secs(30).into();
    })
    .await;
    let address = t.address;
    let now = chrono::Utc::now().timestamp();
    // Well-formed (32 bytes), only not the right one.
    const SIG: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let head = |extra: &str| {
        format!(
            "POST /webhooks/genesys HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Content-Length: 500\r\nwebhook-signature: v1,{SIG}\r\n{extra}\r\n"
        )
    };
    let answers = tokio::task::spawn_blocking(move || {
        [
            answer_to(
                address,
                &head("webhook-id: m2\r\nwebhook-timestamp: soon\r\n"),
                b"",
            ),
            answer_to(
                address,
                &head(&format!("webhook-timestamp: {now}\r\n")),
                b"",
            ),
            answer_to(
                address,
                &head(&format!("webhook-id: m3\r\nwebhook-timestamp: {now}\r\n"))
                    .replace(SIG, "not-a-signature"),
                b"",
            ),
            answer_to(
                address,
                &head("webhook-id: m1\r\nwebhook-timestamp: 1\r\n"),
                b"",
            ),
            answer_to(
                address,
                &head(&format!("webhook-id: m4\r\nwebhook-timestamp: {now}\r\n")),
                b"{\"interactionId\":",
            ),
        ]
    })
    .await
    .unwrap();
    for (status, took) in &answers[..3] {
        assert!(status.contains(" 401 "), "{status}");
        assert!(*took < Duration::from_secs(5), "{status} after {took:?}");
    }
    for (status, took) in &answers[3..] {
        assert!(status.contains(" 408 "), "{status}");
        assert!(*took < Duration::from_secs(10), "{status} after {took:?}");
    }
    t.stop().await;
}

// A flood of unauthenticated posts does not use up the log lines a real sender's refusals
// need, and each refusal's line names the peer it came from.
#[tokio::test]
async fn a_flood_of_401s_does_not_silence_a_real_senders_refusal_which_names_its_peer() {
    const TOKEN: &str = "a-webhook-token-of-some-length";
    let logs = crate::helpers::captured_logs();
    let t = TestApp::started(|s| {
        s.webhook.allow_unauthenticated = false;
        s.webhook.bearer_token = Secret::new(TOKEN);
    })
    .await;
    let post = |path: &str, body: Value, token: Option<&str>| {
        let mut r = t.client.post(t.url(path)).json(&body);
        if let Some(token) = token {
            r = r.bearer_auth(token);
        }
        r
    };
    for i in 0..30 {
        let r = post("/webhooks/genesys", json!({"flood": i}), None)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        // Nor what a sender without credentials gets wrong before that (a bad query).
        let r = post("/webhooks/genesys?validate=zz", json!({}), None)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    let marker = format!("v2.other.marker-{}", std::process::id());
    let r = post(
        "/webhooks/genesys",
        json!({"topicName": marker, "eventBody": {}}),
        Some(TOKEN),
    )
    // What the client wrote comes first, what the balancer saw last: the end is kept.
    .header("x-forwarded-for", format!("{}, 10.9.9.9", "x".repeat(120)))
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 422);
    let text = logs.text();
    let line = text
        .lines()
        .find(|l| l.contains("Webhook refused.") && l.contains(&marker))
        .unwrap_or_else(|| panic!("the real sender's refusal is not logged"));
    // The capture is coloured: the field name and its value are apart.
    assert!(
        line.contains("peer") && line.contains("127.0.0.1:"),
        "{line}"
    );
    assert!(line.contains("10.9.9.9"), "{line}");
    t.stop().await;
}

// A sender whose signature verifies but whose clock is off is a real sender: its 401 is
// logged even during a flood of unauthenticated ones.
#[tokio::test]
async fn a_signed_sender_with_a_stale_clock_is_logged_during_a_flood_of_401s() {
    const KEY: &str = "whsec_c2Vjb25kLXNlY3JldC1rZXktZm9yLXJvdGF0aW9u";
    let logs = crate::helpers::captured_logs();
    let t = TestApp::started(|s| {
        s.webhook.allow_unauthenticated = false;
        s.webhook.standard_webhooks_secrets = vec![Secret::new(KEY)];
    })
    .await;
    for i in 0..30 {
        let r = t
            .client
            .post(t.url("/webhooks/genesys"))
            .bearer_auth("not-a-known-token")
            .json(&json!({"flood": i}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    let body = seed(&format!("skewed-{}", std::process::id())).to_string();
    let stale = chrono::Utc::now().timestamp() - 3600;
    let signature = genesys_sentiment::domain::signature::SigningKey::from_text(KEY)
        .unwrap()
        .sign("msg-skewed", stale, body.as_bytes());
    let r = t
        .client
        .post(t.url("/webhooks/genesys"))
        .header("content-type", "application/json")
        .header("webhook-id", "msg-skewed")
        .header("webhook-timestamp", stale.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let answer: Value = r.json().await.unwrap();
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("outside the accepted tolerance"),
        "{answer}"
    );
    let text = logs.text();
    assert!(
        text.lines().any(|l| l.contains("Webhook refused.")
            && l.contains("outside the accepted tolerance")),
        "the signed sender's refusal is not logged"
    );
    // Replaying a captured signed request needs no key: a flood of replays does not
    // silence an authenticated sender's refusal either.
    let signed = |body: &str, at: i64| {
        let signature = genesys_sentiment::domain::signature::SigningKey::from_text(KEY)
            .unwrap()
            .sign("msg-1", at, body.as_bytes());
        t.client
            .post(t.url("/webhooks/genesys"))
            .header("content-type", "application/json")
            .header("webhook-id", "msg-1")
            .header("webhook-timestamp", at.to_string())
            .header("webhook-signature", signature)
            .body(body.to_owned())
    };
    let replayed = seed("replayed").to_string();
    for _ in 0..30 {
        let r = signed(&replayed, stale).send().await.unwrap();
        assert_eq!(r.status(), 401);
    }
    let marker = format!("v2.other.replay-marker-{}", std::process::id());
    let body = json!({"topicName": marker, "eventBody": {}}).to_string();
    let r = signed(&body, chrono::Utc::now().timestamp())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert!(
        logs.text()
            .lines()
            .any(|l| l.contains("Webhook refused.") && l.contains(&marker)),
        "the authenticated sender's refusal is not logged after replays"
    );
    // The metrics tell the stale signatures (1 skewed + 30 replays) from the bad tokens.
    let metrics = t.get("/metrics").await.text().await.unwrap();
    for (outcome, count) in [("unauthorized", 30), ("stale_signature", 31)] {
        let line = format!("genesys_sentiment_webhooks_total{{outcome=\"{outcome}\"}} {count}");
        assert!(
            metrics.lines().any(|l| l == line),
            "no `{line}` in {metrics}"
        );
    }
    t.stop().await;
}
