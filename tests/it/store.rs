//! Issue 13: the conversation store (SQLite by default): schema migrated at open, listed and
//! scored conversations, the STA schedule, coverage, reports, runs and names survive a
//! reopen.

use chrono::{TimeDelta, TimeZone, Utc};
use genesys_sentiment::domain::{RawSentiment, ScoreScale};
use genesys_sentiment::store::{Coverage, Listed, ScoreSource, Scored, Selection, Store};

fn listed(id: &str, hour: i64) -> Listed {
    Listed {
        id: id.into(),
        started_at: Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap() + TimeDelta::hours(hour),
        agent_id: Some("agent-1".into()),
        queue_id: Some("queue-1".into()),
        media_type: Some("voice".into()),
        open: false,
    }
}

fn scored(v: f64, source: ScoreSource) -> Scored {
    Scored {
        raw: RawSentiment {
            value: v,
            scale: ScoreScale::Unit,
        },
        quality_score: (v + 1.0) * 50.0,
        normalization_version: "linear-v1".into(),
        trend: Some(0.1),
        trend_class: None,
        source,
        agent_id: None,
        queue_id: None,
        attribution: None,
    }
}

#[tokio::test]
async fn the_store_keeps_conversations_schedules_and_reports_across_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    keeps_everything_across_a_reopen(&format!("sqlite://{}/data/store.db", dir.path().display()))
        .await;
}

#[tokio::test]
async fn on_postgresql_the_store_keeps_conversations_schedules_and_reports_across_a_reopen() {
    let Some(url) = crate::helpers::postgres::fresh_database("store_reopen").await else {
        return;
    };
    keeps_everything_across_a_reopen(&url).await;
}

async fn keeps_everything_across_a_reopen(url: &str) {
    let url = url.to_owned();
    let day = Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap();
    {
        let store = Store::open(&url).await.unwrap();
        store
            .upsert_listed(
                &[listed("c-1", 9), listed("c-2", 10), listed("c-3", 30)],
                &Selection::default(),
            )
            .await
            .unwrap();
        store
            .record_score("c-1", &scored(0.5, ScoreSource::Sta))
            .await
            .unwrap();
        // A webhook score for a conversation not listed yet, naming its agent.
        let mut webhook = scored(-0.5, ScoreSource::Webhook);
        webhook.agent_id = Some("agent-from-acw".into());
        store.record_score("c-4", &webhook).await.unwrap();
        store
            .record_not_analysed("c-2", Some(day + TimeDelta::days(2)))
            .await
            .unwrap();
        store
            .set_coverage(
                "details",
                20_574,
                &Coverage {
                    filter_key: "all".into(),
                    settled: true,
                    conversations: 2,
                    covered_at: day,
                },
            )
            .await
            .unwrap();
        store
            .save_report(day, &serde_json::json!({"n": 1}), 2)
            .await
            .unwrap();
        store
            .save_report(day + TimeDelta::hours(1), &serde_json::json!({"n": 2}), 2)
            .await
            .unwrap();
        store
            .save_report(day + TimeDelta::hours(2), &serde_json::json!({"n": 3}), 2)
            .await
            .unwrap();
        store
            .save_names(
                "user",
                &[
                    ("agent-1".into(), Some("Ada".into())),
                    ("gone".into(), None),
                ],
                day,
            )
            .await
            .unwrap();
        store.close().await;
    }
    // Reopened: migrations are not applied twice, everything is there.
    let store = Store::open(&url).await.unwrap();
    let first_day = (day, day + TimeDelta::days(1));
    let all = Selection::default();
    let due = store
        .due_for_sta(first_day.0, first_day.1, day + TimeDelta::days(1), 10, &all)
        .await
        .unwrap();
    assert!(due.is_empty(), "c-1 is scored, c-2 is not due yet: {due:?}");
    let due = store
        .due_for_sta(first_day.0, first_day.1, day + TimeDelta::days(3), 10, &all)
        .await
        .unwrap();
    assert_eq!(
        due,
        vec![("c-2".to_owned(), 1, day + TimeDelta::hours(10))],
        "c-2 is due again after its backoff"
    );
    let mut records = Vec::new();
    store
        .scored_between(first_day.0, first_day.1, &all, |r| records.push(r))
        .await
        .unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].conversation_id.as_str(), "c-1");
    assert_eq!(records[0].raw.value, 0.5);
    assert_eq!(
        store.counts(first_day.0, first_day.1, &all).await.unwrap(),
        (2, 1, 1)
    );
    // Under a batch filter, only what that filter's listing found: c-2 listed again under
    // it, whatever queue its row names.
    let filtered = Selection {
        listed_under: Some("queue-filter".into()),
    };
    assert_eq!(
        store
            .counts(first_day.0, first_day.1, &filtered)
            .await
            .unwrap(),
        (0, 0, 0)
    );
    store
        .upsert_listed(&[listed("c-2", 10)], &filtered)
        .await
        .unwrap();
    assert_eq!(
        store
            .counts(first_day.0, first_day.1, &filtered)
            .await
            .unwrap(),
        (1, 0, 1)
    );
    let mut none = 0;
    store
        .scored_between(first_day.0, first_day.1, &filtered, |_| none += 1)
        .await
        .unwrap();
    assert_eq!(none, 0, "c-1 (scored) was not listed under the filter");
    // The webhook score gets its start from the listing, and keeps the agent it named.
    store
        .upsert_listed(&[listed("c-4", 11)], &Selection::default())
        .await
        .unwrap();
    let c4 = store.conversation("c-4").await.unwrap().unwrap();
    assert_eq!(c4["agent_id"].as_deref(), Some("agent-from-acw"));
    assert_eq!(c4["source"].as_deref(), Some("webhook"));
    let coverage = store.coverage("details", 20_570, 20_580).await.unwrap();
    assert!(coverage[&20_574].settled);
    let reports: Vec<serde_json::Value> = store.reports(10).await.unwrap();
    assert_eq!(
        reports,
        vec![serde_json::json!({"n": 3}), serde_json::json!({"n": 2})]
    );
    let names = store.names("user").await.unwrap();
    assert_eq!(names["agent-1"].0.as_deref(), Some("Ada"));
    assert_eq!(names["gone"].0, None);

    // What no report can use any more goes: the first day's conversations and coverage.
    assert_eq!(
        store.forget_before(day + TimeDelta::days(1)).await.unwrap(),
        3
    );
    assert!(store.conversation("c-1").await.unwrap().is_none());
    assert!(
        store.conversation("c-3").await.unwrap().is_some(),
        "the next day stays"
    );
    assert!(
        store
            .coverage("details", 20_570, 20_580)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_store_url_that_is_neither_sqlite_nor_postgres_is_refused() {
    let e = Store::open("mysql://localhost/x").await.unwrap_err();
    assert!(e.to_string().contains("store.url"), "{e}");
}

/// A conversation listed while still going on is kept from STA until a listing finds it
/// ended; its STA asks then count from that listing, not from its start days earlier (or a
/// three-day thread would get one ask, answered "not analysed yet", and none after it).
async fn an_open_conversation_waits_and_its_asks_count_from_its_end(url: &str) {
    let store = Store::open(url).await.unwrap();
    let all = Selection::default();
    let mut thread = listed("thread", 1);
    thread.open = true;
    store.upsert_listed(&[thread.clone()], &all).await.unwrap();
    let (from, to) = (thread.started_at, thread.started_at + TimeDelta::days(1));
    let later = Utc::now() + TimeDelta::days(1);
    assert!(
        store
            .due_for_sta(from, to, later, 10, &all)
            .await
            .unwrap()
            .is_empty()
    );
    let open = store
        .open_conversations(from, to, later, 10, &all)
        .await
        .unwrap();
    assert_eq!(open.len(), 1, "asked about again by id");

    // Found ended.
    let ended_at = Utc::now() - TimeDelta::seconds(1);
    thread.open = false;
    store.upsert_listed(&[thread], &all).await.unwrap();
    let due = store.due_for_sta(from, to, later, 10, &all).await.unwrap();
    assert_eq!(due.len(), 1);
    let (id, attempts, asks_from) = &due[0];
    assert_eq!((id.as_str(), *attempts), ("thread", 0));
    assert!(
        *asks_from >= ended_at,
        "counted from {asks_from}, its start was {from}"
    );
    assert!(
        store
            .open_conversations(from, to, later, 10, &all)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn an_open_conversation_waits_for_its_end_on_sqlite_and_postgresql() {
    let dir = tempfile::tempdir().unwrap();
    an_open_conversation_waits_and_its_asks_count_from_its_end(&format!(
        "sqlite://{}/open.db",
        dir.path().display()
    ))
    .await;
    if let Some(url) = crate::helpers::postgres::fresh_database("store_open").await {
        an_open_conversation_waits_and_its_asks_count_from_its_end(&url).await;
    }
}

#[tokio::test]
async fn a_store_that_cannot_be_reached_or_created_is_named_with_the_reason_at_once() {
    // Nothing listens on port 1: the reason comes at once, not a pool timeout 30 s later.
    let Err(err) = Store::open("postgres://someone:hunter2-secret@127.0.0.1:1/db").await else {
        panic!("no server there");
    };
    let text = err.to_string();
    assert!(
        text.contains("store.url")
            && text.contains("127.0.0.1:1/db")
            && text.contains("Connection refused"),
        "{text}"
    );
    assert!(
        !text.contains("hunter2"),
        "the password is not shown: {text}"
    );
    // A SQLite file whose directory cannot be made: the absolute path and the key.
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, b"").unwrap();
    let Err(err) = Store::open(&format!("sqlite://{}/sub/s.db", blocker.display())).await else {
        panic!("a file is in the way");
    };
    let text = err.to_string();
    assert!(
        text.contains("store's directory")
            && text.contains(&blocker.join("sub").display().to_string())
            && text.contains("store.url"),
        "{text}"
    );
}
