//! Replicas on one PostgreSQL: the shared journal, its dedupe keys and outbox, the sealed
//! chain and `audit verify --store`. (The SIGKILL rounds are in the resilience suite.)

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde_json::{Value, json};
use sqlx::Connection;

use crate::helpers::TestApp;
use crate::helpers::emulator::spawn_sink;

const SECRET: &str = "whsec_c2Vjb25kLXNlY3JldC1rZXktZm9yLXJvdGF0aW9u";

async fn replica(url: &str, name: &str, sink: &str) -> TestApp {
    let (url, name, sink) = (url.to_owned(), name.to_owned(), sink.to_owned());
    TestApp::started(move |s| {
        s.store.url = genesys_sentiment::config::Secret::new(url);
        s.server.replica_name = name;
        s.coaching.url = sink;
        s.coaching.secret = genesys_sentiment::config::Secret::new(SECRET);
    })
    .await
}

fn score(conversation: &str) -> Value {
    json!({"interactionId": conversation, "agentId": "agent-1",
           "sentiment": {"score": -0.4, "polarity": "negative"}})
}

/// Webhook records per event id, read from the database (sealed lines or unsealed entries).
async fn stored_events(url: &str) -> HashMap<String, usize> {
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT COALESCE(entry, line)::jsonb->>'event_id' FROM journal_records WHERE kind = 'webhook_received'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let mut out = HashMap::new();
    for id in ids {
        *out.entry(id).or_default() += 1;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_the_same_event_posted_to_both_replicas_at_once_is_stored_once() {
    let Some(url) = crate::helpers::postgres::fresh_database("replicas_same_event").await else {
        return;
    };
    let (sink, sink_url) = spawn_sink(Some(SECRET)).await;
    let a = replica(&url, "replica-a", &sink_url).await;
    let b = replica(&url, "replica-b", &sink_url).await;
    let mut accepted = HashMap::new();
    for i in 0..60 {
        let body = score(&format!("both-{i}"));
        let ((sa, ja), (sb, jb)) = tokio::join!(a.post_webhook(&body), b.post_webhook(&body));
        let mut statuses = [sa, sb];
        statuses.sort_unstable();
        assert!(
            statuses == [200, 202] || statuses == [202, 503],
            "event {i}: one replica accepts it and the other answers duplicate (or in flight): {sa} {ja} / {sb} {jb}"
        );
        let (won, other) = if sa == 202 { (&ja, &jb) } else { (&jb, &ja) };
        if statuses == [200, 202] {
            assert_eq!(other["duplicate"], true, "{other}");
            assert_eq!(
                other["id"], won["id"],
                "the duplicate names the stored event"
            );
        }
        accepted.insert(won["id"].as_str().unwrap().to_owned(), format!("both-{i}"));
    }
    // A retry of an accepted event at either replica later is a duplicate too.
    for (status, answer) in [
        a.post_webhook(&score("both-7")).await,
        b.post_webhook(&score("both-7")).await,
    ] {
        assert_eq!(
            (status, &answer["duplicate"]),
            (200, &json!(true)),
            "{answer}"
        );
    }
    let stored = stored_events(&url).await;
    assert_eq!(stored.len(), 60, "one record per event: {stored:?}");
    assert!(stored.values().all(|&n| n == 1), "{stored:?}");
    for id in accepted.keys() {
        assert_eq!(stored.get(id), Some(&1), "{id} is stored once");
    }
    let delivered = crate::helpers::poll(Duration::from_secs(30), async || {
        let counts = sink.counts();
        accepted
            .keys()
            .all(|id| counts.contains_key(id))
            .then_some(())
    })
    .await;
    assert!(delivered.is_some(), "every accepted event reaches the sink");
    let ids: HashSet<String> = sink.events().into_iter().map(|d| d.webhook_id).collect();
    assert_eq!(ids.len(), 60, "each under one webhook-id");
    a.stop().await;
    b.stop().await;
    let verified = genesys_sentiment::journal::postgres::verify(&url)
        .await
        .expect("the shared chain verifies");
    assert_eq!(
        verified.unsealed, 0,
        "closing replicas seal what they wrote"
    );
    // Every accepted event is journaled as delivered (several to a `delivered_batch`).
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let acked: Vec<String> = sqlx::query_scalar(
        "SELECT d->>0 FROM journal_records, jsonb_array_elements(line::jsonb->'deliveries') AS d \
         WHERE kind = 'delivered_batch'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let acked: HashSet<String> = acked.into_iter().collect();
    let accepted_ids: HashSet<String> = accepted.keys().cloned().collect();
    assert_eq!(acked, accepted_ids, "each delivery is in the chain");
    assert!(verified.records > 60, "{verified:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_audit_verify_store_names_the_first_changed_or_missing_seq() {
    let Some(url) = crate::helpers::postgres::fresh_database("replicas_verify").await else {
        return;
    };
    let (_sink, sink_url) = spawn_sink(Some(SECRET)).await;
    let a = replica(&url, "replica-a", &sink_url).await;
    for i in 0..20 {
        assert_eq!(a.post_webhook(&score(&format!("v-{i}"))).await.0, 202);
    }
    a.stop().await;
    let verify = |url: String| {
        let out = crate::helpers::run_bin(&["audit", "verify", "--store", &url], &[]);
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let (ok, out) = verify(url.clone());
    assert!(ok, "a sealed chain verifies: {out}");
    assert!(out.contains("journal OK"), "{out}");

    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    // Change one sealed record's content: a score in the middle of the chain.
    let target: i64 = sqlx::query_scalar(
        "SELECT min(seq) FROM journal_records WHERE kind = 'webhook_received' AND seq > 3",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    let changed = sqlx::query(
        "UPDATE journal_records SET line = replace(line, '\"quality_score\":30.0', '\"quality_score\":90.0') WHERE seq = $1",
    )
    .bind(target)
    .execute(&mut conn)
    .await
    .unwrap();
    assert_eq!(changed.rows_affected(), 1);
    let (ok, out) = verify(url.clone());
    assert!(!ok, "an edited record fails: {out}");
    assert!(
        out.contains(&format!("seq {target}:")),
        "names seq {target}: {out}"
    );
    // Delete it instead.
    sqlx::query("DELETE FROM journal_records WHERE seq = $1")
        .bind(target)
        .execute(&mut conn)
        .await
        .unwrap();
    let (ok, out) = verify(url.clone());
    assert!(
        !ok && out.contains(&format!("seq {target}:")) && out.contains("missing"),
        "{out}"
    );
    // Cut the end instead: the head the sealer wrote shows it.
    let fresh = crate::helpers::postgres::fresh_database("replicas_verify_tail")
        .await
        .unwrap();
    let (_sink2, sink_url2) = spawn_sink(Some(SECRET)).await;
    let b = replica(&fresh, "replica-b", &sink_url2).await;
    for i in 0..5 {
        assert_eq!(b.post_webhook(&score(&format!("t-{i}"))).await.0, 202);
    }
    b.stop().await;
    let mut conn = sqlx::PgConnection::connect(&fresh).await.unwrap();
    let last: i64 = sqlx::query_scalar("SELECT max(seq) FROM journal_records")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    sqlx::query("DELETE FROM journal_records WHERE seq = $1")
        .bind(last)
        .execute(&mut conn)
        .await
        .unwrap();
    let (ok, out) = verify(fresh.clone());
    assert!(!ok, "a record cut from the end fails: {out}");
    assert!(
        out.contains(&format!("seq {last}")),
        "names seq {last}: {out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_a_stopped_replicas_owed_deliveries_are_sent_by_the_other() {
    let Some(url) = crate::helpers::postgres::fresh_database("replicas_takeover").await else {
        return;
    };
    // A coaching platform that is down while replica-a accepts.
    let (sink, sink_url) = spawn_sink(Some(SECRET)).await;
    sink.set_fault(genesys_sentiment::emulator::sink::SinkFault {
        mode: genesys_sentiment::emulator::sink::SinkMode::Fail,
        seconds: 3600,
        retry_after: 1,
    });
    let a = replica(&url, "replica-a", &sink_url).await;
    let mut ids = Vec::new();
    for i in 0..25 {
        let (status, answer) = a.post_webhook(&score(&format!("owed-{i}"))).await;
        assert_eq!(status, 202, "{answer}");
        ids.push(answer["id"].as_str().unwrap().to_owned());
    }
    a.stop().await;
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let owed: i64 = sqlx::query_scalar("SELECT count(*) FROM journal_outbox WHERE dead IS NULL")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        owed, 25,
        "nothing was delivered; all are owed in the database"
    );
    sink.set_fault(genesys_sentiment::emulator::sink::SinkFault {
        mode: genesys_sentiment::emulator::sink::SinkMode::Accept,
        seconds: 0,
        retry_after: 0,
    });
    let b = replica(&url, "replica-b", &sink_url).await;
    let delivered = crate::helpers::poll(Duration::from_secs(30), async || {
        let counts = sink.counts();
        ids.iter().all(|id| counts.contains_key(id)).then_some(())
    })
    .await;
    assert!(
        delivered.is_some(),
        "replica-b sends what replica-a owed: {:?}",
        sink.report()
    );
    // Acknowledged (in a `delivered_batch` record) just after the sink answered.
    let emptied = crate::helpers::poll(Duration::from_secs(10), async || {
        let left: i64 = sqlx::query_scalar("SELECT count(*) FROM journal_outbox")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        (left == 0).then_some(())
    })
    .await;
    assert!(emptied.is_some(), "delivered rows leave the outbox");
    // The seed's form sends no time: each score says it happened when replica-a received
    // it, its record's time, which replica-b read from the database (the entry, or once
    // sealed its line).
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "SELECT recorded_at, COALESCE(entry, line) FROM journal_records WHERE kind = 'webhook_received'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let received: HashMap<String, String> = rows
        .into_iter()
        .map(|(at, entry)| {
            let entry: Value = serde_json::from_str(&entry).unwrap();
            assert!(entry.get("occurred_at").is_none(), "{entry}");
            let at = chrono::DateTime::from_timestamp_micros(at).unwrap();
            let at = at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            (entry["event_id"].as_str().unwrap().to_owned(), at)
        })
        .collect();
    let deliveries = sink.events();
    for id in &ids {
        let sent = deliveries.iter().find(|d| &d.webhook_id == id).unwrap();
        assert_eq!(
            sent.body["timestamp"].as_str(),
            received.get(id).map(String::as_str),
            "{}",
            sent.body
        );
    }
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_dead_letters_are_replayed_while_the_replicas_run() {
    let Some(url) = crate::helpers::postgres::fresh_database("replicas_replay").await else {
        return;
    };
    let (sink, sink_url) = spawn_sink(Some(SECRET)).await;
    let refuse = |mode| genesys_sentiment::emulator::sink::SinkFault {
        mode,
        seconds: 0,
        retry_after: 1,
    };
    sink.set_fault(refuse(genesys_sentiment::emulator::sink::SinkMode::Fail));
    let (u, s) = (url.clone(), sink_url.clone());
    let a = TestApp::started(move |settings| {
        settings.store.url = genesys_sentiment::config::Secret::new(u);
        settings.server.replica_name = "replica-a".into();
        settings.coaching.url = s;
        settings.coaching.secret = genesys_sentiment::config::Secret::new(SECRET);
        settings.coaching.max_attempts = std::num::NonZeroU32::MIN;
    })
    .await;
    let (status, answer) = a.post_webhook(&score("dead-1")).await;
    assert_eq!(status, 202, "{answer}");
    let id = answer["id"].as_str().unwrap().to_owned();
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let dead = crate::helpers::poll(Duration::from_secs(20), async || {
        let n: i64 =
            sqlx::query_scalar("SELECT count(*) FROM journal_outbox WHERE dead IS NOT NULL")
                .fetch_one(&mut conn)
                .await
                .unwrap();
        (n == 1).then_some(())
    })
    .await;
    assert!(
        dead.is_some(),
        "one attempt allowed: the event is dead-lettered"
    );
    sink.set_fault(refuse(genesys_sentiment::emulator::sink::SinkMode::Accept));
    let out = crate::helpers::run_bin(
        &["audit", "replay", "--dead-letters"],
        &[
            ("GENESYS_SENTIMENT__STORE__URL", url.as_str()),
            ("GENESYS_SENTIMENT__GENESYS__CLIENT_ID", "test-client"),
            (
                "GENESYS_SENTIMENT__GENESYS__CLIENT_SECRET",
                "test-secret-value",
            ),
            ("GENESYS_SENTIMENT__WEBHOOK__ALLOW_UNAUTHENTICATED", "true"),
        ],
    );
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("1 dead-lettered event(s) put back"), "{text}");
    // The running replica claims it (its lease is the default 30 s: a third of it at most).
    let delivered = crate::helpers::poll(Duration::from_secs(30), async || {
        sink.counts().contains_key(&id).then_some(())
    })
    .await;
    assert!(
        delivered.is_some(),
        "the running replica sends the replayed event"
    );
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_a_second_live_replica_under_the_same_name_is_refused() {
    let Some(url) = crate::helpers::postgres::fresh_database("replicas_same_name").await else {
        return;
    };
    let (_sink, sink_url) = spawn_sink(Some(SECRET)).await;
    let a = replica(&url, "replica-a", &sink_url).await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = crate::helpers::test_settings(&dir);
    settings.store.url = genesys_sentiment::config::Secret::new(url.clone());
    settings.server.replica_name = "replica-a".into();
    settings.coaching.url = sink_url.clone();
    settings.coaching.secret = genesys_sentiment::config::Secret::new(SECRET);
    let mut twin = genesys_sentiment::startup::Application::build(settings)
        .await
        .unwrap();
    let refused = twin.start().await.expect_err("the twin does not start");
    assert!(
        refused
            .to_string()
            .contains("another running replica is named \"replica-a\""),
        "{refused}"
    );
    a.stop().await;
    // Once the first is gone, the name is free again.
    let again = replica(&url, "replica-a", &sink_url).await;
    again.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_a_replica_stopping_while_another_seals_still_seals_its_last_records() {
    let Some(url) = crate::helpers::postgres::fresh_database("replicas_close_seal").await else {
        return;
    };
    let (sink, sink_url) = spawn_sink(Some(SECRET)).await;
    let a = replica(&url, "replica-a", &sink_url).await;
    // Another replica is sealing: it holds the sealer's lock while replica-a takes events
    // and then stops.
    let mut sealer = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(genesys_sentiment::journal::postgres::SEAL_LOCK)
        .execute(&mut sealer)
        .await
        .unwrap();
    let mut ids = Vec::new();
    for i in 0..10 {
        let (status, answer) = a.post_webhook(&score(&format!("last-{i}"))).await;
        assert_eq!(status, 202, "{answer}");
        ids.push(answer["id"].as_str().unwrap().to_owned());
    }
    let delivered = crate::helpers::poll(Duration::from_secs(30), async || {
        let counts = sink.counts();
        ids.iter().all(|id| counts.contains_key(id)).then_some(())
    })
    .await;
    assert!(delivered.is_some(), "{:?}", sink.report());
    let stopping = tokio::spawn(a.stop());
    // replica-a's shutdown waits for the lock rather than leaving its records to a sealer
    // that may already have looked.
    let mut watch = sqlx::PgConnection::connect(&url).await.unwrap();
    let waiting = crate::helpers::poll(Duration::from_secs(20), async || {
        // The sealer's lock, in this test's database (bigint keys are classid, objid).
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted \
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
             AND classid::int8 = ($1 >> 32) AND objid::int8 = ($1 & 4294967295) AND objsubid = 1",
        )
        .bind(genesys_sentiment::journal::postgres::SEAL_LOCK)
        .fetch_one(&mut watch)
        .await
        .unwrap();
        (n > 0).then_some(())
    })
    .await;
    assert!(
        waiting.is_some(),
        "the stopping replica waits for the sealer's lock (finished: {})",
        stopping.is_finished()
    );
    let unsealed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM journal_records WHERE seq IS NULL")
            .fetch_one(&mut watch)
            .await
            .unwrap();
    assert!(
        unsealed >= 10,
        "nothing sealed while the lock was held: {unsealed}"
    );
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(genesys_sentiment::journal::postgres::SEAL_LOCK)
        .execute(&mut sealer)
        .await
        .unwrap();
    stopping.await.unwrap();
    let verified = genesys_sentiment::journal::postgres::verify(&url)
        .await
        .expect("the shared chain verifies");
    assert_eq!(verified.unsealed, 0, "{verified:?}");
    assert_eq!(stored_events(&url).await.len(), 10);
}
