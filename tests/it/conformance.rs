//! Issue 12: the emulator speaks only real shapes, and so does the client. Every body the
//! emulator emits (API answers, error bodies, notifications, EventBridge events) and every
//! request body the client sends is checked against the official model field lists in
//! `tests/fixtures/genesys-models.json` (copied from the Python SDK 269.0.0): no field
//! outside the model, every value of its type, every enum value allowed.

use chrono::TimeDelta;
use genesys_sentiment::emulator::webhooks as events;
use genesys_sentiment::emulator::{Faults, RunningEmulator};
use genesys_sentiment::genesys::Interval;
use genesys_sentiment::genesys::aggregates::AggregateQuery;
use genesys_sentiment::genesys::details::DetailsFilter;
use genesys_sentiment::genesys::names::NameKind;
use serde_json::{Value, json};

use crate::helpers::emulator::{client_for, fixed_end, small_config, start, token};
use crate::helpers::models::{assert_conforms, violations};

/// The model of a notification's `eventBody`, from its topic.
fn payload_model(topic: &str) -> &'static str {
    if topic.ends_with(".sentiment") {
        "V2StaSentimentOverallTopicOverallSentimentMessage"
    } else if topic.ends_with(".acw") {
        "AcwDetailEventTopicAfterCallWorkEvent"
    } else if topic.ends_with(".user.end") {
        "UserEndDetailEventTopicUserEndEvent"
    } else if topic.ends_with(".customer.end") {
        "CustomerEndDetailEventTopicCustomerEndEvent"
    } else {
        panic!("no model for topic {topic}")
    }
}

/// Checks a webhook body as Genesys would post it: the envelope, then the payload.
fn assert_event_conforms(body: &Value) {
    let note = if body.get("detail-type").is_some() {
        assert_conforms(body, "EventBridgeEvent", "an EventBridge event");
        &body["detail"]
    } else {
        body
    };
    assert_conforms(note, "NotificationEnvelope", "a notification");
    let topic = note["topicName"].as_str().unwrap();
    assert_conforms(&note["eventBody"], payload_model(topic), topic);
}

async fn get(emu: &RunningEmulator, token: &str, path: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .get(format!("{}{path}", emu.url()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn post(emu: &RunningEmulator, token: &str, path: &str, body: Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{}{path}", emu.url()))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn every_body_the_emulator_emits_matches_its_official_model() {
    let emu = start(small_config(18)).await;
    let t = token(&emu).await;
    let org = emu.state.org.clone();
    let iv = Interval::new(fixed_end() - TimeDelta::days(1), fixed_end()).to_string();
    let c = org.conversations.iter().rev().find(|c| c.analysed).unwrap();
    let id = c.id_string();

    let mut answers: Vec<(&str, &str, Value)> = Vec::new();
    let (s, b) = post(
        &emu,
        &t,
        "/api/v2/analytics/conversations/details/query",
        json!({"interval": iv, "paging": {"pageSize": 5, "pageNumber": 1}}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    answers.push(("details query", "AnalyticsConversationQueryResponse", b));
    let (s, job) = post(
        &emu,
        &t,
        "/api/v2/analytics/conversations/details/jobs",
        json!({"interval": iv}),
    )
    .await;
    assert_eq!(s, 202, "{job}");
    let job_id = job["jobId"].as_str().unwrap().to_owned();
    answers.push(("job submit", "AsyncQueryResponse", job));
    for _ in 0..3 {
        let (_, b) = get(
            &emu,
            &t,
            &format!("/api/v2/analytics/conversations/details/jobs/{job_id}"),
        )
        .await;
        answers.push(("job status", "AsyncQueryStatus", b));
    }
    let gets = [
        (
            format!("/api/v2/analytics/conversations/details/jobs/{job_id}/results?pageSize=5"),
            "job results",
            "AnalyticsConversationAsyncQueryResponse",
        ),
        (
            "/api/v2/analytics/conversations/details/jobs/availability".to_owned(),
            "availability",
            "DataAvailabilityResponse",
        ),
        (
            format!("/api/v2/speechandtextanalytics/conversations/{id}"),
            "STA conversation",
            "ConversationMetrics",
        ),
        (
            format!("/api/v2/analytics/conversations/{id}/details"),
            "one conversation's details",
            "AnalyticsConversationWithoutAttributes",
        ),
        (
            format!("/api/v2/users?id={}&pageSize=100", org.agents[0].id),
            "users by id",
            "UserEntityListing",
        ),
        (
            format!(
                "/api/v2/routing/queues?id={}&pageSize=100",
                org.queues[0].id
            ),
            "queues by id",
            "QueueEntityListing",
        ),
        (
            "/api/v2/speechandtextanalytics/conversations/not-a-conversation".to_owned(),
            "a 404",
            "ErrorBody",
        ),
    ];
    for (path, what, model) in gets {
        let (_, b) = get(&emu, &t, &path).await;
        answers.push((what, model, b));
    }
    let (s, b) = post(
        &emu,
        &t,
        "/api/v2/analytics/transcripts/aggregates/query",
        json!({"interval": iv, "granularity": "P1D", "groupBy": ["userId", "queueId"],
               "metrics": ["oSentimentScore", "oCustomerSentiment", "nSpeechTextAnalyzedConversations"]}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    answers.push((
        "transcript aggregates",
        "TranscriptAggregateQueryResponse",
        b,
    ));
    // The topic lists `doctor` reads: a cursor page with a next page, and the transports.
    let (s, b) = get(
        &emu,
        &t,
        "/api/v2/processautomation/triggers/topics?pageSize=2",
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert!(b["nextUri"].as_str().is_some(), "{b}");
    answers.push(("trigger topics", "TopicCursorEntityListing", b));
    // A cursor past the end (or at the end of usize) is an empty page, not a panic.
    let (s, b) = get(
        &emu,
        &t,
        "/api/v2/processautomation/triggers/topics?after=t18446744073709551615",
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["entities"], serde_json::json!([]), "{b}");
    assert!(b.get("nextUri").is_none(), "{b}");
    let (s, b) = get(
        &emu,
        &t,
        "/api/v2/notifications/availabletopics?expand=transports",
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert!(b["entities"][0]["transports"].is_array(), "{b}");
    answers.push(("available topics", "AvailableTopicEntityListing", b));
    let (s, b) = post(
        &emu,
        &t,
        "/api/v2/analytics/conversations/details/query",
        json!({"interval": iv, "paging": {"pageSize": 100, "pageNumber": 1001}}),
    )
    .await;
    assert_eq!(s, 400);
    answers.push(("a 400", "ErrorBody", b));
    emu.state.apply_faults(Faults {
        forbid_paths: vec!["/api/v2/routing/".into()],
        ..Faults::default()
    });
    let (s, b) = get(&emu, &t, "/api/v2/routing/queues").await;
    assert_eq!(s, 403);
    answers.push(("a 403", "ErrorBody", b));
    emu.state.apply_faults(Faults {
        storm_seconds: 5,
        ..Faults::default()
    });
    let (s, b) = get(
        &emu,
        &t,
        "/api/v2/analytics/conversations/details/jobs/availability",
    )
    .await;
    assert_eq!(s, 429);
    answers.push(("a 429", "ErrorBody", b));
    for (what, model, body) in &answers {
        assert_conforms(body, model, what);
    }
    // The checks saw the nested models, not only the top level.
    let details = &answers[0].2;
    assert!(details["conversations"][0]["participants"][0]["sessions"][0]["segments"].is_array());

    // Events, as Genesys would post them, in both envelopes.
    let at = c.end().to_rfc3339();
    for (topic, payload) in [
        (
            events::sentiment_topic(&id),
            events::sentiment_payload(&org, c),
        ),
        (
            events::detail_topic(&id, "acw"),
            events::acw_payload(&org, c),
        ),
        (
            events::detail_topic(&id, "user.end"),
            events::user_end_payload(&org, c),
        ),
        (
            events::detail_topic(&id, "customer.end"),
            events::customer_end_payload(c),
        ),
    ] {
        let note = events::notification(&topic, payload, "corr-1", &at);
        assert_event_conforms(&note);
        assert_event_conforms(&events::eventbridge(note, "eb-1", &at));
    }
    let pushed: Vec<Value> = events::sentiment_bodies(&org, 30)
        .into_iter()
        .chain(events::acw_bodies(&org, 30))
        .filter(|b| b.get("interactionId").is_none()) // the original form is not Genesys's
        .collect();
    assert!(pushed.len() >= 40);
    for body in &pushed {
        assert_event_conforms(body);
    }
    // The sentiment payload names no agent, as on a real org.
    assert!(events::sentiment_payload(&org, c).get("agentId").is_none());
}

#[tokio::test]
async fn every_request_body_the_client_sends_matches_its_official_model() {
    let mut config = small_config(19);
    config.record_requests = true;
    let emu = start(config).await;
    let client = client_for(&emu, |_| {});
    let org = emu.state.org.clone();
    let day = Interval::new(fixed_end() - TimeDelta::days(1), fixed_end());
    let filter = DetailsFilter {
        queue_ids: vec![org.queues[0].id.clone()],
        media_type: Some("voice".into()),
        ..Default::default()
    };
    let _ = crate::helpers::all_details(&client, day).await;
    let filtered: Vec<_> = futures_util::TryStreamExt::try_collect::<Vec<_>>(
        client.conversation_details(day, filter.clone()).unwrap(),
    )
    .await
    .unwrap();
    assert!(!filtered.is_empty());
    let job = client
        .submit_details_job(
            Interval::new(day.start - TimeDelta::days(2), day.start),
            &filter,
        )
        .await
        .unwrap();
    client.wait_for_job(&job.job_id).await.unwrap();
    client
        .transcript_aggregates(&AggregateQuery {
            interval: day,
            granularity: "P1D".into(),
            time_zone: None,
            group_by: vec!["userId".into()],
            filter,
            metrics: vec!["oSentimentScore".into(), "oCustomerSentiment".into()],
        })
        .await
        .unwrap();
    let id = filtered[0].conversation_id.clone();
    client.conversation_sentiment(&id).await.unwrap();
    client.conversation(&id).await.unwrap();
    let agents: Vec<String> = org.agents.iter().map(|a| a.id.clone()).collect();
    assert_eq!(
        client.names(NameKind::User, &agents).await.unwrap().len(),
        agents.len()
    );
    client
        .names(NameKind::Queue, &[org.queues[0].id.clone()])
        .await
        .unwrap();

    let recorded = emu.state.recorded.lock().unwrap().clone();
    let mut seen = std::collections::BTreeSet::new();
    for r in &recorded {
        seen.insert(r.path);
        let model = match r.path {
            "/api/v2/analytics/conversations/details/query" => "ConversationQuery",
            "/api/v2/analytics/conversations/details/jobs" => "AsyncConversationQuery",
            "/api/v2/analytics/transcripts/aggregates/query" => "TranscriptAggregationQuery",
            "/api/v2/users" | "/api/v2/routing/queues" => {
                // GETs: the query names the ids, the page and (users) the state: the SDK's
                // parameters.
                let query = String::from_utf8_lossy(&r.body);
                for pair in query.split('&') {
                    let name = pair.split('=').next().unwrap();
                    assert!(
                        ["id", "pageSize", "pageNumber", "state"].contains(&name),
                        "{} query parameter {name}",
                        r.path
                    );
                }
                continue;
            }
            // A GET with no body and no query parameters beyond the path.
            "/api/v2/analytics/conversations/{id}/details" => {
                assert!(r.body.is_empty(), "{} sends no body", r.path);
                continue;
            }
            other => panic!(
                "the emulator recorded {} {other}, which this test does not check: add it",
                r.method
            ),
        };
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_conforms(&body, model, &format!("the client's {} body", r.path));
    }
    for path in [
        "/api/v2/analytics/conversations/details/query",
        "/api/v2/analytics/conversations/details/jobs",
        "/api/v2/analytics/transcripts/aggregates/query",
        "/api/v2/analytics/conversations/{id}/details",
        "/api/v2/users",
        "/api/v2/routing/queues",
    ] {
        assert!(seen.contains(path), "the client called {path}: {seen:?}");
    }
}

#[test]
fn a_field_or_value_outside_the_model_is_caught() {
    let org = genesys_sentiment::emulator::org::Org::generate(small_config(20).org);
    let c = org.conversations.iter().find(|c| c.analysed).unwrap();
    // The field the first emulator added and Genesys never sends.
    let mut payload = events::sentiment_payload(&org, c);
    payload["agentId"] = json!(org.agents[0].id);
    let v = violations(
        &payload,
        "V2StaSentimentOverallTopicOverallSentimentMessage",
    );
    assert!(
        v.iter().any(|l| l.contains("$.agentId: not a field")),
        "{v:?}"
    );
    // An enum value in the wrong case.
    let mut acw = events::acw_payload(&org, c);
    acw["mediaType"] = json!("voice");
    let v = violations(&acw, "AcwDetailEventTopicAfterCallWorkEvent");
    assert!(v.iter().any(|l| l.contains("mediaType")), "{v:?}");
    // A nested one, and a wrong type.
    let body =
        json!({"interval": "a/b", "paging": {"pageSize": "100", "pageNumber": 1, "cursor": "x"}});
    let v = violations(&body, "ConversationQuery");
    assert!(v.iter().any(|l| l.contains("$.paging.cursor")), "{v:?}");
    assert!(
        v.iter()
            .any(|l| l.contains("$.paging.pageSize: expected int")),
        "{v:?}"
    );
    // And a conforming body has none.
    assert!(
        violations(
            &events::sentiment_payload(&org, c),
            "V2StaSentimentOverallTopicOverallSentimentMessage"
        )
        .is_empty()
    );
}
