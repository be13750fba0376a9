//! Issue 4: the client driven against the emulator; determinism; wire fidelity.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use chrono::TimeDelta;
use futures_util::TryStreamExt;
use genesys_sentiment::emulator::{self, Faults, RunningEmulator};
use genesys_sentiment::genesys::Interval;
use genesys_sentiment::genesys::aggregates::AggregateQuery;
use genesys_sentiment::genesys::details::DetailsFilter;
use genesys_sentiment::genesys::sta::StaOutcome;
use serde_json::{Value, json};

use crate::helpers::emulator::{client_for, fixed_end, small_config, start};

fn days(n: i64) -> TimeDelta {
    TimeDelta::days(n)
}

#[tokio::test]
async fn the_client_reads_every_endpoint_of_the_emulator_consistently() {
    let emu = start(small_config(11)).await;
    let client = client_for(&emu, |_| {});
    let org = emu.state.org.clone();
    let interval = Interval::new(fixed_end() - days(3), fixed_end());

    // Details (sync): exactly the conversations that started in the interval.
    let details = crate::helpers::all_details(&client, interval).await;
    let expected: BTreeSet<String> = org
        .starting_between(interval.start, interval.end)
        .iter()
        .map(|c| c.id_string())
        .collect();
    let got: BTreeSet<String> = details.iter().map(|c| c.conversation_id.clone()).collect();
    assert_eq!(got, expected);
    assert_eq!(details.len(), expected.len(), "no duplicates");
    let sample = &details[0];
    assert!(
        sample.agent_id().is_some() && sample.queue_id().is_some(),
        "agent and queue are readable"
    );

    // Filters: one queue.
    let queue = org.queues[1].id.clone();
    let filtered: Vec<_> = client
        .conversation_details(
            interval,
            DetailsFilter {
                queue_ids: vec![queue.clone()],
                ..Default::default()
            },
        )
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert!(!filtered.is_empty() && filtered.len() < details.len());
    assert!(
        filtered
            .iter()
            .all(|c| c.queue_id() == Some(queue.as_str()))
    );

    // STA: analysed ones carry the emulator's score, the others are "not analysed".
    let mut analysed_scores: HashMap<String, f64> = HashMap::new();
    for c in org
        .starting_between(interval.start, interval.end)
        .iter()
        .take(60)
    {
        match client.conversation_sentiment(&c.id_string()).await.unwrap() {
            StaOutcome::Analysed(s) => {
                assert!(c.analysed);
                assert!((s.score.value - f64::from(c.score)).abs() < 1e-4);
                analysed_scores.insert(c.id_string(), s.score.value);
            }
            StaOutcome::NotAnalysed => assert!(!c.analysed),
        }
    }
    assert!(!analysed_scores.is_empty());

    // Jobs: submit, follow, read; the availability date bounds what is asked.
    let job = client
        .submit_details_job(interval, &DetailsFilter::default())
        .await
        .unwrap();
    assert!(job.clamped, "the emulator's availability lags its history");
    client.wait_for_job(&job.job_id).await.unwrap();
    let from_job: Vec<_> = client
        .details_job_results(job.job_id.clone())
        .try_collect()
        .await
        .unwrap();
    assert!(!from_job.is_empty());
    assert!(
        from_job
            .iter()
            .all(|c| c.conversation_start.unwrap() < job.availability)
    );

    // Aggregates: per agent and day, consistent with the per-conversation scores.
    let cells = client
        .transcript_aggregates(&AggregateQuery {
            interval,
            granularity: "P1D".into(),
            time_zone: None,
            group_by: vec!["userId".into()],
            filter: DetailsFilter::default(),
            metrics: vec!["oSentimentScore".into()],
        })
        .await
        .unwrap();
    let analysed: Vec<_> = org
        .starting_between(interval.start, interval.end)
        .iter()
        .filter(|c| c.analysed)
        .collect();
    assert_eq!(
        cells.iter().map(|c| c.count).sum::<u64>(),
        analysed.len() as u64
    );
    let agent = &org.agents[0];
    let day = interval.start;
    let mine: Vec<f64> = analysed
        .iter()
        .filter(|c| c.agent == 0 && c.start() < day + days(1))
        .map(|c| f64::from(c.score))
        .collect();
    let cell = cells
        .iter()
        .find(|c| c.group["userId"] == agent.id && c.interval.start == day)
        .expect("a cell for agent 0 on day 1");
    assert_eq!(cell.count, mine.len() as u64);
    assert!((cell.mean().unwrap() - mine.iter().sum::<f64>() / mine.len() as f64).abs() < 1e-3);
}

#[tokio::test]
async fn the_emulator_rejects_over_31_days_unless_the_client_splits() {
    let emu = start(small_config(12)).await;
    let client = client_for(&emu, |s| {
        s.genesys.details_chunk = Duration::from_secs(40 * 86_400).into()
    });
    let long = Interval::new(fixed_end() - days(14) - days(30), fixed_end());
    let raw = reqwest::Client::new()
        .post(format!(
            "{}/api/v2/analytics/conversations/details/query",
            emu.url()
        ))
        .bearer_auth(token(&emu).await)
        .json(&json!({"interval": long.to_string()}))
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
    let body: Value = raw.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("does not exceed 31 days")
    );

    // Even with a chunk setting above 31 days, chunks are capped at genesys.max_interval.
    let all = crate::helpers::all_details(&client, long).await;
    assert_eq!(
        all.len(),
        emu.state.org.starting_between(long.start, long.end).len()
    );
}

async fn token(emu: &RunningEmulator) -> String {
    let r: Value = reqwest::Client::new()
        .post(format!("{}/oauth/token", emu.url()))
        .basic_auth(
            emulator::DEFAULT_CLIENT_ID,
            Some(emulator::DEFAULT_CLIENT_SECRET),
        )
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test(start_paused = true)]
async fn a_token_that_expires_mid_run_is_replaced_without_losing_pages() {
    let mut config = small_config(13);
    config.token_lifetime = Duration::from_secs(10);
    config.faults.latency_ms = 1000;
    let emu = start(config).await;
    let client = client_for(&emu, |s| {
        s.genesys.page_size = std::num::NonZero::new(5).unwrap()
    });
    let interval = Interval::new(fixed_end() - days(2), fixed_end());
    let all = crate::helpers::all_details(&client, interval).await;
    let expected = emu
        .state
        .org
        .starting_between(interval.start, interval.end)
        .len();
    assert_eq!(all.len(), expected);
    let issued = emu
        .state
        .stats
        .tokens_issued
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        issued >= 4,
        "pages took {} s of emulator latency; tokens issued: {issued}",
        expected / 5
    );
}

#[tokio::test(start_paused = true)]
async fn a_429_storm_is_ridden_out() {
    let mut config = small_config(14);
    config.faults = Faults {
        storm_seconds: 45,
        ..Faults::default()
    };
    let emu = start(config).await;
    let client = client_for(&emu, |_| {});
    let started = tokio::time::Instant::now();
    let interval = Interval::new(fixed_end() - days(1), fixed_end());
    let all = crate::helpers::all_details(&client, interval).await;
    assert_eq!(
        all.len(),
        emu.state
            .org
            .starting_between(interval.start, interval.end)
            .len()
    );
    assert!(started.elapsed() >= Duration::from_secs(45));
    assert!(client.stats().rate_limited >= 1);
    // Retry-After was honoured: a few 429s, not a hammering.
    assert!(client.stats().rate_limited <= 3, "{:?}", client.stats());
}

#[tokio::test(start_paused = true)]
async fn a_client_within_the_limit_meets_no_429_and_one_above_it_adapts() {
    let mut config = small_config(15);
    config.rate_limit_per_minute = 60;
    let emu = start(config).await;
    let ids: Vec<String> = emu
        .state
        .org
        .conversations
        .iter()
        .take(150)
        .map(|c| c.id_string())
        .collect();
    // A client configured above the server's limit learns the real allowance from the
    // inin-ratelimit-allowed header after its first answer.
    let client = client_for(&emu, |s| {
        s.genesys.requests_per_minute = std::num::NonZero::new(300).unwrap()
    });
    for id in &ids[..5] {
        client.conversation_sentiment(id).await.unwrap();
    }
    assert_eq!(client.budget().limit(), 60);
    let tasks: Vec<_> = ids[5..]
        .iter()
        .cloned()
        .map(|id| {
            let c = client.clone();
            tokio::spawn(async move { c.conversation_sentiment(&id).await.unwrap() })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(
        client.stats().rate_limited,
        0,
        "no 429 once within the limit"
    );
}

#[tokio::test]
async fn same_seed_same_data_different_seed_different_data() {
    let a = start(small_config(21)).await;
    let b = start(small_config(21)).await;
    let c = start(small_config(22)).await;
    async fn page(emu: &RunningEmulator) -> String {
        let t = token(emu).await;
        reqwest::Client::new()
            .post(format!(
                "{}/api/v2/analytics/conversations/details/query",
                emu.url()
            ))
            .bearer_auth(t)
            .json(
                &json!({"interval": Interval::new(fixed_end() - days(2), fixed_end()).to_string(),
                          "paging": {"pageSize": 50, "pageNumber": 1}}),
            )
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
    let truth = |emu: &RunningEmulator| {
        let url = format!("{}/emulator/ground-truth", emu.url());
        async move { reqwest::get(url).await.unwrap().text().await.unwrap() }
    };
    assert_eq!(page(&a).await, page(&b).await);
    assert_eq!(truth(&a).await, truth(&b).await);
    assert_ne!(page(&a).await, page(&c).await);
    assert_ne!(truth(&a).await, truth(&c).await);
}

#[tokio::test]
async fn error_bodies_and_429s_match_the_reference_field_for_field() {
    let mut config = small_config(16);
    config.rate_limit_per_minute = 2;
    let emu = start(config).await;
    let t = token(&emu).await;
    let http = reqwest::Client::new();
    let url = format!(
        "{}/api/v2/speechandtextanalytics/conversations/not-a-conversation",
        emu.url()
    );
    let mut last = None;
    for _ in 0..3 {
        last = Some(http.get(&url).bearer_auth(&t).send().await.unwrap());
    }
    let r = last.unwrap();
    assert_eq!(r.status(), 429);
    let retry_after: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let correlation = r.headers()["inin-correlation-id"]
        .to_str()
        .unwrap()
        .to_owned();
    for h in [
        "inin-ratelimit-count",
        "inin-ratelimit-allowed",
        "inin-ratelimit-reset",
    ] {
        assert!(r.headers().contains_key(h), "{h} on every response");
    }
    let body: Value = r.json().await.unwrap();
    let keys: BTreeSet<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            "message",
            "code",
            "status",
            "contextId",
            "details",
            "errors"
        ])
    );
    assert_eq!(body["code"], "too.many.requests.retry.after");
    assert_eq!(body["status"], 429);
    assert_eq!(body["contextId"], correlation.as_str());
    assert_eq!(
        body["message"],
        format!("Rate limit exceeded the maximum. Retry the request in [{retry_after}] seconds")
    );
    assert_eq!(body["details"], json!([]));
    assert_eq!(body["errors"], json!([]));

    let emu = start(small_config(17)).await;
    let t = token(&emu).await;
    let missing = format!(
        "{}/api/v2/speechandtextanalytics/conversations/not-a-conversation",
        emu.url()
    );
    let r = http.get(missing).bearer_auth(&t).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "resource.not.found");
    assert_eq!(body["status"], 404);
    assert_eq!(body["messageParams"]["id"], "not-a-conversation");
    let r = http
        .get(format!(
            "{}/api/v2/speechandtextanalytics/conversations/x",
            emu.url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    for k in [
        "message",
        "code",
        "status",
        "contextId",
        "details",
        "errors",
    ] {
        assert!(body.get(k).is_some(), "401 body has {k}");
    }
    let r = http
        .post(format!(
            "{}/api/v2/analytics/conversations/details/query",
            emu.url()
        ))
        .bearer_auth(&t)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "malformed body");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "bad.request");
    let r = http
        .post(format!(
            "{}/api/v2/analytics/conversations/details/query",
            emu.url()
        ))
        .bearer_auth(&t)
        .json(
            &json!({"interval": Interval::new(fixed_end() - days(1), fixed_end()).to_string(),
                      "paging": {"pageSize": 100, "pageNumber": 1001}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["message"], "Pagination may not exceed 100000 results.");
}

/// Field names of the official generated models (PureCloudPlatformClientV2 `attribute_map`s)
/// for the objects the emulator writes.
const OFFICIAL_FIELDS: &[&str] = &[
    // AnalyticsConversationQueryResponse
    "conversations",
    "aggregations",
    "totalHits",
    // AnalyticsConversation(WithoutAttributes)
    "conversationId",
    "conversationStart",
    "conversationEnd",
    "conversationInitiator",
    "originatingDirection",
    "divisionIds",
    "externalTag",
    "knowledgeBaseIds",
    "mediaStatsMinConversationMos",
    "mediaStatsMinConversationRFactor",
    "customerParticipation",
    "selfServed",
    "participants",
    "evaluations",
    "surveys",
    "resolutions",
    // AnalyticsParticipant
    "participantId",
    "participantName",
    "purpose",
    "userId",
    "teamId",
    "externalContactId",
    "externalOrganizationId",
    "flaggedReason",
    "screenRecording",
    "sessions",
    "attributes",
    // AnalyticsSession
    "sessionId",
    "mediaType",
    "direction",
    "ani",
    "dnis",
    "recording",
    "provider",
    "edgeId",
    "metrics",
    "segments",
    "flow",
    "mediaEndpointStats",
    // AnalyticsSessionMetric
    "name",
    "value",
    "emitDate",
    // AnalyticsConversationSegment
    "segmentStart",
    "segmentEnd",
    "segmentType",
    "queueId",
    "wrapUpCode",
    "wrapUpNote",
    "wrapUpTags",
    "disconnectType",
    "requestedRoutingSkillIds",
    "requestedLanguageId",
    "errorCode",
    "conference",
    "properties",
    "scoredAgents",
    // ConversationMetrics
    "conversation",
    "sentimentScore",
    "sentimentTrend",
    "sentimentTrendClass",
    "empathyScores",
    "participantMetrics",
    "id",
    "selfUri",
    "score",
    // ParticipantMetrics
    "agentDurationPercentage",
    "customerDurationPercentage",
    "silenceDurationPercentage",
    "ivrDurationPercentage",
    "acdDurationPercentage",
    "overtalkDurationPercentage",
    "otherDurationPercentage",
    "overtalkCount",
    // Async
    "jobId",
    "state",
    "errorMessage",
    "submissionDate",
    "completionDate",
    "expirationDate",
    "cursor",
    "dataAvailabilityDate",
    // Transcript aggregates
    "results",
    "group",
    "data",
    "interval",
    "metric",
    "qualifier",
    "stats",
    "max",
    "min",
    "count",
    "countNegative",
    "countPositive",
    "sum",
];

fn collect_keys(v: &Value, out: &mut BTreeSet<String>, skip_group_values: bool) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                out.insert(k.clone());
                if !(skip_group_values && k == "group") {
                    collect_keys(child, out, skip_group_values);
                }
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|i| collect_keys(i, out, skip_group_values)),
        _ => {}
    }
}

#[tokio::test]
async fn every_field_the_emulator_writes_is_an_official_model_field() {
    let emu = start(small_config(18)).await;
    let t = token(&emu).await;
    let http = reqwest::Client::new();
    let iv = Interval::new(fixed_end() - days(1), fixed_end()).to_string();
    let analysed = emu
        .state
        .org
        .conversations
        .iter()
        .rev()
        .find(|c| c.analysed)
        .unwrap()
        .id_string();
    let base = emu.url();
    let job: Value = http
        .post(format!(
            "{base}/api/v2/analytics/conversations/details/jobs"
        ))
        .bearer_auth(&t)
        .json(&json!({"interval": iv}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let job_id = job["jobId"].as_str().unwrap().to_owned();
    let mut bodies = vec![job];
    for _ in 0..3 {
        bodies.push(
            http.get(format!(
                "{base}/api/v2/analytics/conversations/details/jobs/{job_id}"
            ))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap(),
        );
    }
    let gets = [
        format!("{base}/api/v2/analytics/conversations/details/jobs/{job_id}/results?pageSize=5"),
        format!("{base}/api/v2/speechandtextanalytics/conversations/{analysed}"),
        format!("{base}/api/v2/analytics/conversations/details/jobs/availability"),
    ];
    for url in gets {
        let r = http.get(&url).bearer_auth(&t).send().await.unwrap();
        assert!(r.status().is_success(), "{url}: {}", r.status());
        bodies.push(r.json().await.unwrap());
    }
    let posts = [
        (
            "/api/v2/analytics/conversations/details/query",
            json!({"interval": iv, "paging": {"pageSize": 5, "pageNumber": 1}}),
        ),
        (
            "/api/v2/analytics/transcripts/aggregates/query",
            json!({"interval": iv, "granularity": "P1D", "groupBy": ["userId", "queueId"],
                "metrics": ["oSentimentScore", "oCustomerSentiment", "nSpeechTextAnalyzedConversations"]}),
        ),
    ];
    for (path, body) in posts {
        let r = http
            .post(format!("{base}{path}"))
            .bearer_auth(&t)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        bodies.push(r.json().await.unwrap());
    }
    let mut keys = BTreeSet::new();
    for b in &bodies {
        collect_keys(b, &mut keys, true);
    }
    let unknown: Vec<_> = keys
        .iter()
        .filter(|k| !OFFICIAL_FIELDS.contains(&k.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "fields not in the official models: {unknown:?}"
    );
    assert!(
        keys.contains("sentimentTrendClass")
            && keys.contains("countPositive")
            && keys.contains("cursor")
    );
}

#[tokio::test]
async fn a_fault_mix_of_errors_and_truncated_bodies_loses_nothing() {
    let mut config = small_config(19);
    config.faults = Faults {
        error_rate: 0.2,
        malformed_rate: 0.1,
        ..Faults::default()
    };
    let emu = start(config).await;
    let client = client_for(&emu, |s| {
        s.genesys.page_size = std::num::NonZero::new(10).unwrap();
        s.genesys.max_attempts = std::num::NonZero::new(12).unwrap();
    });
    let interval = Interval::new(fixed_end() - days(2), fixed_end());
    let all = crate::helpers::all_details(&client, interval).await;
    let ids: BTreeSet<_> = all.iter().map(|c| c.conversation_id.clone()).collect();
    assert_eq!(ids.len(), all.len());
    assert_eq!(
        all.len(),
        emu.state
            .org
            .starting_between(interval.start, interval.end)
            .len()
    );
    let requests = emu
        .state
        .stats
        .api_requests
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        requests > (all.len() / 10) as u64,
        "faults forced retries: {requests} requests"
    );
}
