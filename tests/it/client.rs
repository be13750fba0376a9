//! Issue 3: the Genesys client against scripted fakes.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use futures_util::TryStreamExt;
use genesys_sentiment::domain::ScoreScale;
use genesys_sentiment::genesys::aggregates::AggregateQuery;
use genesys_sentiment::genesys::details::{DETAILS_QUERY_PATH, DetailsFilter};
use genesys_sentiment::genesys::sta::StaOutcome;
use genesys_sentiment::genesys::{GenesysError, Interval};
use serde_json::json;
use tokio::time::Instant;

use crate::fake_genesys::{CLIENT_SECRET, FakeGenesys, Reply};

const STA: &str = "/api/v2/speechandtextanalytics/conversations/c-1";

fn sta_body(score: f64) -> serde_json::Value {
    json!({"conversation": {"id": "c-1", "selfUri": "/api/v2/conversations/c-1"},
           "sentimentScore": score, "sentimentTrend": 0.1, "sentimentTrendClass": "NoChange",
           "empathyScores": [{"userId": "agent-1", "score": 0.6}]})
}

fn official_429(seconds: u64) -> Reply {
    Reply::json(
        429,
        json!({"message": format!("Rate limit exceeded the maximum. Retry the request in [{seconds}] seconds"),
               "code": "too.many.requests.retry.after", "status": 429,
               "contextId": "ctx-429", "details": [], "errors": []}),
    )
    .header("retry-after", &seconds.to_string())
    .header("inin-correlation-id", "ctx-429")
}

#[tokio::test]
async fn fifty_concurrent_calls_on_a_cold_cache_make_exactly_one_token_request() {
    let fake = FakeGenesys::start().await;
    fake.default_reply(STA, Reply::json(200, sta_body(0.4)));
    let client = fake.client(|_| {});
    let calls = (0..50).map(|_| {
        let c = client.clone();
        tokio::spawn(async move { c.conversation_sentiment("c-1").await })
    });
    for call in calls.collect::<Vec<_>>() {
        assert!(matches!(
            call.await.unwrap().unwrap(),
            StaOutcome::Analysed(_)
        ));
    }
    assert_eq!(
        fake.token_requests(),
        1,
        "one token for fifty concurrent callers"
    );
    assert_eq!(fake.seen(STA).len(), 50);
    let basic = fake.token_basic_headers()[0].clone().unwrap();
    assert!(
        basic.starts_with("Basic "),
        "client credentials travel as HTTP Basic: {basic}"
    );
    let token_req = &fake.seen("/oauth/token")[0];
    assert_eq!(token_req.body, "grant_type=client_credentials");
    assert!(
        !token_req.body.contains(CLIENT_SECRET),
        "the secret is not in the form body"
    );
}

#[tokio::test(start_paused = true)]
async fn an_expiring_token_is_refreshed_before_use() {
    let fake = FakeGenesys::start().await;
    fake.token_lifetime(60);
    fake.default_reply(STA, Reply::json(200, sta_body(0.4)));
    let client = fake.client(|s| s.genesys.token_refresh_skew = Duration::from_secs(300).into());
    client.conversation_sentiment("c-1").await.unwrap();
    tokio::time::advance(Duration::from_secs(50)).await;
    client.conversation_sentiment("c-1").await.unwrap();
    assert_eq!(fake.token_requests(), 1, "still valid at 50 s of 60");
    // Skew is capped at a tenth of the 60 s lifetime: refresh from 54 s on.
    tokio::time::advance(Duration::from_secs(5)).await;
    client.conversation_sentiment("c-1").await.unwrap();
    assert_eq!(fake.token_requests(), 2, "refreshed ahead of expiry");
    let seen = fake.seen(STA);
    let tokens = fake.tokens_issued();
    assert_eq!(
        seen[2].authorization.as_deref(),
        Some(format!("Bearer {}", tokens[1]).as_str())
    );
}

#[tokio::test]
async fn a_401_triggers_exactly_one_refresh_and_one_retry() {
    let fake = FakeGenesys::start().await;
    let unauthorized = Reply::json(
        401,
        json!({"message": "No authentication bearer token specified", "code": "bad.credentials", "status": 401}),
    );
    fake.script(STA, [unauthorized.clone()]);
    fake.default_reply(STA, Reply::json(200, sta_body(0.4)));
    let client = fake.client(|_| {});
    let outcome = client.conversation_sentiment("c-1").await.unwrap();
    assert!(matches!(outcome, StaOutcome::Analysed(_)));
    assert_eq!(fake.token_requests(), 2, "one refresh");
    assert_eq!(fake.seen(STA).len(), 2, "one retry");

    fake.script(STA, [unauthorized.clone(), unauthorized]);
    let err = client.conversation_sentiment("c-1").await.unwrap_err();
    assert!(matches!(err, GenesysError::Unauthorized { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("fake-client-id") && text.contains("genesys.region"),
        "{text}"
    );
    assert_eq!(fake.token_requests(), 3, "still only one refresh per call");
}

#[tokio::test]
async fn a_403_names_the_missing_permission() {
    let fake = FakeGenesys::start().await;
    fake.default_reply(
        STA,
        Reply::json(403, json!({"message": "You are missing the following permission(s): speechAndTextAnalytics:data:view",
            "code": "missing.any.permissions", "status": 403, "contextId": "ctx-403"})),
    );
    let err = fake
        .client(|_| {})
        .conversation_sentiment("c-1")
        .await
        .unwrap_err();
    assert!(matches!(err, GenesysError::Forbidden { .. }));
    let text = err.to_string();
    assert!(text.contains("speechAndTextAnalytics:data:view"), "{text}");
    assert!(text.contains("ctx-403"), "{text}");
    assert_eq!(fake.seen(STA).len(), 1, "403 is not retried");
}

#[tokio::test(start_paused = true)]
async fn a_429_with_retry_after_waits_that_long_before_retrying() {
    let fake = FakeGenesys::start().await;
    fake.script(STA, [official_429(2)]);
    fake.default_reply(STA, Reply::json(200, sta_body(0.4)));
    let client = fake.client(|_| {});
    let start = Instant::now();
    client.conversation_sentiment("c-1").await.unwrap();
    assert!(
        start.elapsed() >= Duration::from_secs(2),
        "waited {:?}",
        start.elapsed()
    );
    let seen = fake.seen(STA);
    assert_eq!(seen.len(), 2);
    assert!(seen[1].at - seen[0].at >= Duration::from_secs(2));
    assert_eq!(client.stats().rate_limited, 1);
}

#[tokio::test(start_paused = true)]
async fn a_429_asking_past_the_cap_fails_that_call_and_holds_every_other_for_the_cap() {
    let fake = FakeGenesys::start().await;
    // A year: no caller waits that long, but nobody sends straight back into the limit.
    fake.script(STA, [official_429(31_536_000)]);
    fake.default_reply(STA, Reply::json(200, sta_body(0.4)));
    let client = fake.client(|s| s.genesys.retry_after_cap = Duration::from_secs(60).into());
    let err = client.conversation_sentiment("c-1").await.unwrap_err();
    assert!(
        matches!(err, GenesysError::RateLimited { over_cap: true, .. }),
        "{err:?}"
    );
    let start = Instant::now();
    client.conversation_sentiment("c-1").await.unwrap();
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_secs(60) && waited < Duration::from_secs(120),
        "the next call waited the cap, not the year: {waited:?}"
    );
    let seen = fake.seen(STA);
    assert_eq!(seen.len(), 2);
    assert!(seen[1].at - seen[0].at >= Duration::from_secs(60));
}

#[tokio::test(start_paused = true)]
async fn a_call_out_of_retries_on_429_still_holds_the_others_as_asked() {
    let fake = FakeGenesys::start().await;
    fake.script(STA, [official_429(5), official_429(7)]);
    fake.default_reply(STA, Reply::json(200, sta_body(0.4)));
    let client = fake.client(|s| s.genesys.max_attempts = std::num::NonZero::new(2).unwrap());
    let err = client.conversation_sentiment("c-1").await.unwrap_err();
    assert!(
        matches!(err, GenesysError::Exhausted { attempts: 2, .. }),
        "{err:?}"
    );
    client.conversation_sentiment("c-1").await.unwrap();
    let seen = fake.seen(STA);
    assert_eq!(seen.len(), 3);
    assert!(
        seen[2].at - seen[1].at >= Duration::from_secs(7),
        "the next call waited the last Retry-After: {:?}",
        seen[2].at - seen[1].at
    );
}

#[tokio::test]
async fn a_503_then_200_succeeds_and_a_400_is_not_retried() {
    let fake = FakeGenesys::start().await;
    fake.script(
        STA,
        [Reply::json(
            503,
            json!({"message": "Service Unavailable", "code": "service.unavailable", "status": 503}),
        )],
    );
    fake.default_reply(STA, Reply::json(200, sta_body(0.4)));
    let client = fake.client(|_| {});
    assert!(matches!(
        client.conversation_sentiment("c-1").await.unwrap(),
        StaOutcome::Analysed(_)
    ));
    assert_eq!(fake.seen(STA).len(), 2);

    fake.default_reply(
        DETAILS_QUERY_PATH,
        Reply::json(400, json!({"message": "You must specify a search interval as part of your query that does not exceed 31 days.",
            "code": "bad.request", "status": 400, "contextId": "ctx-400"})),
    );
    let day = Interval::new(utc(2026, 5, 1), utc(2026, 5, 2));
    let err = details_error(&client, day).await;
    assert_eq!(err.status(), Some(400));
    assert_eq!(err.code(), Some("bad.request"));
    assert_eq!(err.correlation_id(), Some("ctx-400"));
    assert!(err.to_string().contains("does not exceed 31 days"), "{err}");
    assert_eq!(
        fake.seen(DETAILS_QUERY_PATH).len(),
        1,
        "a 400 is not retried"
    );
}

#[tokio::test]
async fn retries_are_bounded() {
    let fake = FakeGenesys::start().await;
    fake.default_reply(
        STA,
        Reply::json(
            500,
            json!({"message": "boom", "code": "internal", "status": 500}),
        ),
    );
    let client = fake.client(|s| s.genesys.max_attempts = std::num::NonZero::new(3).unwrap());
    let err = client.conversation_sentiment("c-1").await.unwrap_err();
    assert!(
        matches!(err, GenesysError::Exhausted { attempts: 3, .. }),
        "{err:?}"
    );
    assert_eq!(fake.seen(STA).len(), 3);
    assert!(err.to_string().contains("boom"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn a_shared_budget_of_60_per_minute_spreads_120_requests_over_a_minute() {
    let fake = FakeGenesys::start().await;
    fake.default_reply(STA, Reply::json(200, sta_body(0.1)));
    let client =
        fake.client(|s| s.genesys.requests_per_minute = std::num::NonZero::new(60).unwrap());
    let start = Instant::now();
    let tasks: Vec<_> = (0..120)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move { c.conversation_sentiment("c-1").await.unwrap() })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert!(
        start.elapsed() >= Duration::from_secs(59),
        "took {:?}",
        start.elapsed()
    );
    let mut arrivals: Vec<Instant> = fake.seen(STA).iter().map(|s| s.at).collect();
    arrivals.sort();
    assert_eq!(arrivals.len(), 120);
    for (i, a) in arrivals.iter().enumerate() {
        let within = arrivals[i..]
            .iter()
            .take_while(|t| **t < *a + Duration::from_secs(60))
            .count();
        assert!(
            within <= 60,
            "{within} requests in the 60 s after request {i}"
        );
    }
}

/// A fake Genesys whose data availability date is `date`.
async fn genesys_available_until(date: &str) -> FakeGenesys {
    let fake = FakeGenesys::start().await;
    fake.default_reply(
        "/api/v2/analytics/conversations/details/jobs/availability",
        Reply::json(200, json!({"dataAvailabilityDate": date})),
    );
    fake
}

/// The error that ends the listing of `day`'s conversations.
async fn details_error(
    client: &genesys_sentiment::genesys::GenesysClient,
    day: Interval,
) -> GenesysError {
    client
        .conversation_details(day, DetailsFilter::default())
        .unwrap()
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err()
}

fn utc(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap()
}

#[tokio::test]
async fn a_45_day_interval_is_split_into_days_and_paging_yields_each_conversation_once() {
    let fake = FakeGenesys::start().await;
    // 7 conversations per day, page size 3: pages overlap by one id (live data shifting).
    fake.handler(DETAILS_QUERY_PATH, |seen| {
        let body: serde_json::Value = serde_json::from_str(&seen.body).unwrap();
        let iv = Interval::parse(body["interval"].as_str().unwrap()).unwrap();
        let page = body["paging"]["pageNumber"].as_u64().unwrap() as usize;
        let size = body["paging"]["pageSize"].as_u64().unwrap() as usize;
        let day = iv.start;
        let all: Vec<serde_json::Value> = (0..7)
            .map(|i| {
                let start = day + chrono::TimeDelta::hours(i * 3);
                json!({"conversationId": format!("conv-{}-{i}", day.format("%m%d")),
                       "conversationStart": start.to_rfc3339(),
                       "conversationEnd": (start + chrono::TimeDelta::minutes(5)).to_rfc3339()})
            })
            .collect();
        let from = ((page - 1) * size).saturating_sub(if page > 1 { 1 } else { 0 });
        let slice: Vec<_> = all.iter().skip(from).take(size).cloned().collect();
        Reply::json(200, json!({"totalHits": 7, "conversations": slice}))
    });
    let client = fake.client(|s| s.genesys.page_size = std::num::NonZero::new(3).unwrap());
    let interval = Interval::new(utc(2026, 3, 1), utc(2026, 4, 15));
    let conversations = crate::helpers::all_details(&client, interval).await;
    let mut counts: HashMap<String, usize> = HashMap::new();
    for c in &conversations {
        *counts.entry(c.conversation_id.clone()).or_default() += 1;
    }
    assert_eq!(counts.len(), 45 * 7, "every conversation of every day");
    assert!(counts.values().all(|n| *n == 1), "each exactly once");
    let mut chunk_days = std::collections::BTreeSet::new();
    for seen in fake.seen(DETAILS_QUERY_PATH) {
        let body: serde_json::Value = serde_json::from_str(&seen.body).unwrap();
        let iv = Interval::parse(body["interval"].as_str().unwrap()).unwrap();
        assert!(
            iv.duration() <= chrono::TimeDelta::days(31),
            "no chunk over 31 days"
        );
        assert_eq!(
            iv.duration(),
            chrono::TimeDelta::days(1),
            "day chunks by default"
        );
        chunk_days.insert(iv.start);
    }
    assert_eq!(chunk_days.len(), 45);
}

#[tokio::test]
async fn an_understated_total_hits_does_not_end_paging_early() {
    let fake = FakeGenesys::start().await;
    // 10 conversations in the day; Genesys's totalHits is approximate and says 4.
    fake.handler(DETAILS_QUERY_PATH, |seen| {
        let body: serde_json::Value = serde_json::from_str(&seen.body).unwrap();
        let page = body["paging"]["pageNumber"].as_u64().unwrap() as usize;
        let size = body["paging"]["pageSize"].as_u64().unwrap() as usize;
        let slice: Vec<serde_json::Value> = (0..10)
            .skip((page - 1) * size)
            .take(size)
            .map(|i| {
                json!({"conversationId": format!("conv-{i}"),
                       "conversationStart": format!("2026-03-01T0{i}:00:00Z")})
            })
            .collect();
        Reply::json(200, json!({"totalHits": 4, "conversations": slice}))
    });
    let client = fake.client(|s| s.genesys.page_size = std::num::NonZero::new(3).unwrap());
    let conversations =
        crate::helpers::all_details(&client, Interval::new(utc(2026, 3, 1), utc(2026, 3, 2))).await;
    let ids: std::collections::BTreeSet<_> = conversations
        .iter()
        .map(|c| c.conversation_id.clone())
        .collect();
    assert_eq!(ids.len(), 10, "read until a short page: {ids:?}");
    assert_eq!(
        fake.seen(DETAILS_QUERY_PATH).len(),
        4,
        "pages of 3, 3, 3 and 1"
    );
}

#[tokio::test]
async fn job_results_that_never_end_are_an_error_not_an_endless_run() {
    let fake = FakeGenesys::start().await;
    let results = "/api/v2/analytics/conversations/details/jobs/job-9/results";
    let client = fake.client(|_| {});
    // The same cursor again and again, with rows.
    fake.default_reply(
        results,
        Reply::json(
            200,
            json!({"conversations": [{"conversationId": "a"}], "cursor": "same"}),
        ),
    );
    let err = client
        .details_job_results("job-9".into())
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("a cursor already followed"),
        "{err}"
    );
    assert_eq!(fake.seen(results).len(), 2);
    // A new cursor each time, but never a row.
    let n = std::sync::atomic::AtomicU64::new(0);
    fake.handler(results, move |_| {
        let i = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Reply::json(
            200,
            json!({"conversations": [], "cursor": format!("c-{i}")}),
        )
    });
    let err = client
        .details_job_results("job-9".into())
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("empty pages"), "{err}");
    assert_eq!(fake.seen(results).len(), 2 + 4);
    // Cursors that cycle (A, B, A, …), with rows: stopped at the first repeat.
    let n = std::sync::atomic::AtomicU64::new(0);
    fake.handler(results, move |_| {
        let i = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Reply::json(
            200,
            json!({"conversations": [{"conversationId": format!("r-{i}")}],
                   "cursor": if i.is_multiple_of(2) { "A" } else { "B" }}),
        )
    });
    let err = client
        .details_job_results("job-9".into())
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("a cursor already followed"),
        "{err}"
    );
    assert_eq!(fake.seen(results).len(), 2 + 4 + 3, "A, B, then A again");
    // Each listing given up on deleted its job (it would hold one of the org's concurrent
    // jobs until it expired).
    let deleted = crate::helpers::poll(Duration::from_secs(10), async || {
        let n = fake
            .seen("/api/v2/analytics/conversations/details/jobs/job-9")
            .iter()
            .filter(|s| s.method == "DELETE")
            .count();
        (n >= 3).then_some(n)
    })
    .await;
    assert_eq!(deleted, Some(3));
}

#[tokio::test]
async fn an_async_job_is_followed_through_states_and_cursor_pages() {
    let jobs = "/api/v2/analytics/conversations/details/jobs";
    let fake = genesys_available_until("2026-05-10T00:00:00.000Z").await;
    fake.default_reply(jobs, Reply::json(202, json!({"jobId": "job-1"})));
    fake.script(
        &format!("{jobs}/job-1"),
        [
            Reply::json(200, json!({"state": "QUEUED"})),
            Reply::json(200, json!({"state": "PENDING"})),
            Reply::json(
                200,
                json!({"state": "FULFILLED", "expirationDate": "2026-05-11T00:00:00.000Z"}),
            ),
        ],
    );
    let page = |ids: &[&str], cursor: Option<&str>| {
        let convs: Vec<_> = ids.iter().map(|i| json!({"conversationId": i})).collect();
        let mut body =
            json!({"conversations": convs, "dataAvailabilityDate": "2026-05-10T00:00:00.000Z"});
        if let Some(c) = cursor {
            body["cursor"] = json!(c);
        }
        Reply::json(200, body)
    };
    fake.script(
        &format!("{jobs}/job-1/results"),
        [
            page(&["a", "b"], Some("cur-1")),
            page(&["c", "d"], Some("cur-2")),
            page(&["e"], None),
        ],
    );
    let client = fake.client(|s| {
        s.genesys.job_poll_min = Duration::from_millis(1).into();
        s.genesys.job_poll_max = Duration::from_millis(4).into();
    });
    let job = client
        .submit_details_job(
            Interval::new(utc(2026, 5, 1), utc(2026, 5, 20)),
            &DetailsFilter::default(),
        )
        .await
        .unwrap();
    assert!(
        job.clamped,
        "never asks for data after the availability date"
    );
    assert_eq!(job.interval.end, utc(2026, 5, 10));
    let submitted: serde_json::Value = serde_json::from_str(&fake.seen(jobs)[0].body).unwrap();
    assert_eq!(
        submitted["interval"],
        "2026-05-01T00:00:00.000Z/2026-05-10T00:00:00.000Z"
    );
    assert!(
        submitted.get("paging").is_none(),
        "async queries have no paging"
    );
    let status = client.wait_for_job(&job.job_id).await.unwrap();
    assert_eq!(status.state, "FULFILLED");
    assert_eq!(fake.seen(&format!("{jobs}/job-1")).len(), 3);
    let ids: Vec<String> = client
        .details_job_results(job.job_id.clone())
        .map_ok(|c| c.conversation_id)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids, ["a", "b", "c", "d", "e"]);
    let pages = fake.seen(&format!("{jobs}/job-1/results"));
    assert_eq!(pages.len(), 3);
    assert!(!pages[0].query.contains("cursor"));
    assert!(pages[1].query.contains("cursor=cur-1") && pages[2].query.contains("cursor=cur-2"));
    assert!(
        pages.iter().all(|p| p.query.contains("pageSize=")),
        "pageSize always explicit"
    );

    fake.script(
        &format!("{jobs}/job-2"),
        [Reply::json(
            200,
            json!({"state": "FAILED", "errorMessage": "Query exceeded maximum result size"}),
        )],
    );
    let err = client.wait_for_job("job-2").await.unwrap_err();
    assert!(
        matches!(&err, GenesysError::Job { state, .. } if state == "FAILED"),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("Query exceeded maximum result size"),
        "{err}"
    );
    assert!(
        fake.seen(&format!("{jobs}/job-2"))
            .iter()
            .all(|r| r.method != "DELETE"),
        "a failed job is not cancelled"
    );
    // A state this build does not know: given up on, and cancelled.
    fake.script(
        &format!("{jobs}/job-3"),
        [Reply::json(200, json!({"state": "RUNNING"}))],
    );
    let err = client.wait_for_job("job-3").await.unwrap_err();
    assert!(err.to_string().contains("RUNNING"), "{err}");
    assert!(
        fake.seen(&format!("{jobs}/job-3"))
            .iter()
            .any(|r| r.method == "DELETE"),
        "the job is cancelled"
    );
}

#[tokio::test]
async fn a_job_submission_that_may_have_made_its_job_is_not_sent_again() {
    let jobs = "/api/v2/analytics/conversations/details/jobs";
    let fake = genesys_available_until("2026-05-10T00:00:00.000Z").await;
    let client = fake.client(|_| {});
    let interval = Interval::new(utc(2026, 5, 1), utc(2026, 5, 2));
    let error = |status: u16| {
        Reply::json(
            status,
            json!({"message": "upstream", "code": "internal.server.error", "status": status}),
        )
    };
    // A 500 may come after the job was made: a second submission would make a second job.
    fake.script(jobs, [error(500)]);
    let err = client
        .submit_details_job(interval, &DetailsFilter::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("500"), "{err}");
    assert_eq!(fake.seen(jobs).len(), 1, "submitted once");
    // A 503 (or a 429) is refused before any work: sent again.
    fake.script(
        jobs,
        [error(503), Reply::json(202, json!({"jobId": "job-1"}))],
    );
    let job = client
        .submit_details_job(interval, &DetailsFilter::default())
        .await
        .unwrap();
    assert_eq!(job.job_id, "job-1");
    assert_eq!(fake.seen(jobs).len(), 3);
    // Reads are still asked again after a 500.
    let status = format!("{jobs}/job-1");
    fake.script(
        &status,
        [error(500), Reply::json(200, json!({"state": "QUEUED"}))],
    );
    assert_eq!(
        client.details_job_status("job-1").await.unwrap().state,
        "QUEUED"
    );
}

#[tokio::test]
async fn a_job_given_up_on_while_it_is_waited_for_is_deleted_before_the_command_ends() {
    let jobs = "/api/v2/analytics/conversations/details/jobs";
    let fake = genesys_available_until("2026-05-10T00:00:00.000Z").await;
    fake.default_reply(
        &format!("{jobs}/job-4"),
        Reply::json(200, json!({"state": "QUEUED"})),
    );
    fake.default_reply(
        &format!("{jobs}/job-5"),
        Reply::json(
            400,
            json!({"message": "no", "code": "bad.request", "status": 400}),
        ),
    );
    let client = fake.client(|s| {
        s.genesys.job_poll_min = Duration::from_millis(1).into();
        s.genesys.job_poll_max = Duration::from_millis(4).into();
    });
    let deletes = |job: &str| {
        fake.seen(&format!("{jobs}/{job}"))
            .iter()
            .filter(|r| r.method == "DELETE")
            .count()
    };
    // The run is stopped while the job is still queued (the future is dropped).
    let waiting = tokio::spawn({
        let client = client.clone();
        async move { client.wait_for_job("job-4").await }
    });
    let polled = crate::helpers::poll(Duration::from_secs(10), async || {
        (fake.seen(&format!("{jobs}/job-4")).len() >= 2).then_some(())
    })
    .await;
    assert!(polled.is_some(), "the job was polled");
    waiting.abort();
    assert!(waiting.await.unwrap_err().is_cancelled());
    // A one-shot command waits for the deletion before it exits.
    client.settle(Duration::from_secs(10)).await;
    assert_eq!(deletes("job-4"), 1, "the stopped run's job is deleted");
    // Its status cannot be read: given up on, and deleted too.
    let err = client.wait_for_job("job-5").await.unwrap_err();
    assert!(err.to_string().contains("400"), "{err}");
    client.settle(Duration::from_secs(10)).await;
    assert_eq!(
        deletes("job-5"),
        1,
        "the job whose status failed is deleted"
    );
}

#[tokio::test]
async fn sta_404_is_not_analysed_and_aggregates_decode_per_group() {
    let fake = FakeGenesys::start().await;
    fake.default_reply(
        "/api/v2/speechandtextanalytics/conversations/missing",
        Reply::json(
            404,
            json!({"message": "Conversation missing not found", "code": "resource.not.found",
            "status": 404, "messageParams": {"id": "missing"}}),
        ),
    );
    // A 404 that is not Genesys's (a proxy's page, a wrong base URL): an error, never "not
    // analysed", which would give up on the score for good.
    fake.default_reply(
        "/api/v2/speechandtextanalytics/conversations/behind-a-proxy",
        Reply {
            status: 404,
            headers: vec![("content-type".into(), "text/html".into())],
            body: "<html><body><h1>404 Not Found</h1>nginx</body></html>".into(),
        },
    );
    fake.default_reply(STA, Reply::json(200, sta_body(-0.35)));
    let client = fake.client(|s| s.genesys.aggregate_scale = ScoreScale::Percent);
    assert_eq!(
        client.conversation_sentiment("missing").await.unwrap(),
        StaOutcome::NotAnalysed
    );
    let err = client
        .conversation_sentiment("behind-a-proxy")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404), "{err}");
    let StaOutcome::Analysed(s) = client.conversation_sentiment("c-1").await.unwrap() else {
        panic!("analysed")
    };
    assert_eq!(s.score.value, -0.35, "reported exactly as received");
    assert_eq!(s.score.scale, ScoreScale::Unit, "with the configured scale");
    assert_eq!(s.trend_class.as_deref(), Some("NoChange"));
    assert_eq!(s.empathy, vec![("agent-1".to_owned(), 0.6)]);

    fake.default_reply(
        "/api/v2/analytics/transcripts/aggregates/query",
        Reply::json(200, json!({"results": [
            {"group": {"userId": "agent-1"}, "data": [
                {"interval": "2026-05-01T00:00:00.000Z/2026-05-02T00:00:00.000Z",
                 "metrics": [{"metric": "oSentimentScore", "stats": {"count": 4, "sum": 80.0, "min": -10.0, "max": 60.0}},
                             {"metric": "oCustomerSentiment", "stats": {"count": 30, "countPositive": 20, "countNegative": 3}}]},
                {"interval": "2026-05-02T00:00:00.000Z/2026-05-03T00:00:00.000Z",
                 "metrics": [{"metric": "oSentimentScore", "stats": {"count": 2, "sum": -30.0, "min": -40.0, "max": 10.0}}]}]},
            {"group": {"userId": "agent-2"}, "data": [
                {"interval": "2026-05-01T00:00:00.000Z/2026-05-02T00:00:00.000Z",
                 "metrics": [{"metric": "oSentimentScore", "stats": {"count": 1, "sum": 5.0, "min": 5.0, "max": 5.0}}]}]}
        ]})),
    );
    let cells = client
        .transcript_aggregates(&AggregateQuery {
            interval: Interval::new(utc(2026, 5, 1), utc(2026, 5, 3)),
            granularity: "P1D".into(),
            time_zone: None,
            group_by: vec!["userId".into()],
            filter: DetailsFilter::default(),
            metrics: vec!["oSentimentScore".into(), "oCustomerSentiment".into()],
        })
        .await
        .unwrap();
    let score_cells: Vec<_> = cells
        .iter()
        .filter(|c| c.metric == "oSentimentScore")
        .collect();
    assert_eq!(score_cells.len(), 3);
    assert_eq!(score_cells[0].group["userId"], "agent-1");
    assert_eq!(score_cells[0].mean(), Some(20.0));
    assert_eq!(score_cells[0].scale, ScoreScale::Percent);
    assert_eq!(score_cells[1].interval.start, utc(2026, 5, 2));
    let customer = cells
        .iter()
        .find(|c| c.metric == "oCustomerSentiment")
        .unwrap();
    assert_eq!(
        (customer.count_positive, customer.count_negative),
        (Some(20), Some(3))
    );
    let sent: serde_json::Value =
        serde_json::from_str(&fake.seen("/api/v2/analytics/transcripts/aggregates/query")[0].body)
            .unwrap();
    assert_eq!(sent["granularity"], "P1D");
    assert_eq!(sent["groupBy"], json!(["userId"]));
}

#[tokio::test]
async fn no_log_line_error_or_debug_output_contains_the_secret_or_a_token() {
    let logs = crate::helpers::captured_logs();
    let fake = FakeGenesys::start().await;
    fake.script(
        STA,
        [Reply::json(
            401,
            json!({"message": "expired", "status": 401}),
        )],
    );
    fake.script(STA, [official_429(1)]);
    fake.script(
        STA,
        [Reply::json(500, json!({"message": "boom", "status": 500}))],
    );
    fake.default_reply(STA, Reply::json(200, sta_body(0.4)));
    let client = fake.client(|_| {});
    let mut outputs = vec![format!("{client:?}")];
    outputs.push(format!("{:?}", client.conversation_sentiment("c-1").await));
    fake.default_reply(
        STA,
        Reply::json(401, json!({"message": "revoked", "status": 401})),
    );
    let err = client.conversation_sentiment("c-1").await.unwrap_err();
    outputs.push(err.to_string());
    outputs.push(format!("{err:?}"));
    fake.refuse_tokens();
    let fresh = fake.client(|_| {});
    let err = fresh.conversation_sentiment("c-1").await.unwrap_err();
    assert!(matches!(err, GenesysError::Auth { .. }), "{err:?}");
    assert!(
        err.to_string().contains("genesys.client_secret"),
        "says what to check: {err}"
    );
    outputs.push(err.to_string());
    outputs.push(format!("{err:?}"));
    outputs.push(format!("{fresh:?}"));
    outputs.push(logs.text());

    let tokens = fake.tokens_issued();
    assert!(tokens.len() >= 2, "tokens were issued and used: {tokens:?}");
    let everything = outputs.join("\n");
    assert!(
        everything.contains("Fetched a Genesys access token"),
        "logs were captured"
    );
    assert_no_credential_in(&everything, &fake);
}

/// The fake client's credential (its secret, its Basic header value, every token issued)
/// appears nowhere in `text`.
fn assert_no_credential_in(text: &str, fake: &FakeGenesys) {
    assert!(
        !text.contains(CLIENT_SECRET),
        "client secret leaked: {text}"
    );
    assert!(
        !text.contains(&basic_credential()),
        "basic credentials leaked: {text}"
    );
    for t in fake.tokens_issued() {
        assert!(!text.contains(&t), "access token {t} leaked: {text}");
    }
}

/// `base64(client id:secret)` of the fake client.
fn basic_credential() -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("fake-client-id:{CLIENT_SECRET}"))
}

#[tokio::test]
async fn a_peer_that_echoes_the_secret_or_the_token_in_its_error_has_it_redacted() {
    let fake = FakeGenesys::start().await;
    let basic = basic_credential();
    // The API repeats the request's Authorization header, in the message and deeper in.
    fake.handler(STA, |seen| {
        let echoed = seen.authorization.clone().unwrap_or_default();
        Reply::json(
            400,
            json!({"message": format!("bad request with {echoed}"), "code": "bad.request",
                   "status": 400, "messageParams": {"header": echoed}}),
        )
    });
    let client = fake.client(|_| {});
    let err = client.conversation_sentiment("c-1").await.unwrap_err();
    let mut outputs = vec![err.to_string(), format!("{err:?}")];
    assert!(err.to_string().contains("[redacted]"), "{err}");
    // The login host repeats the client secret and the Basic credential.
    fake.script(
        "/oauth/token",
        [Reply::json(
            400,
            json!({"error": "invalid_client",
                   "error_description": format!("secret '{CLIENT_SECRET}' or Basic {basic} is not valid")}),
        )],
    );
    let fresh = fake.client(|_| {});
    let err = fresh.conversation_sentiment("c-1").await.unwrap_err();
    assert!(matches!(err, GenesysError::Auth { .. }), "{err:?}");
    assert!(
        err.to_string().contains("is not valid"),
        "the reason stays: {err}"
    );
    outputs.push(err.to_string());
    outputs.push(format!("{err:?}"));
    assert_no_credential_in(&outputs.join("\n"), &fake);
}

/// A job submission answered 2xx has made its job, even when the answer is unreadable: it
/// is not sent again (each copy would be another job against the concurrent-job limit).
#[tokio::test]
async fn an_unreadable_answer_to_a_job_submission_does_not_submit_another() {
    let jobs = "/api/v2/analytics/conversations/details/jobs";
    let fake = genesys_available_until("2026-05-10T00:00:00.000Z").await;
    fake.default_reply(
        jobs,
        Reply {
            status: 202,
            headers: vec![],
            body: "{\"jobId\": \"job-".into(),
        },
    );
    let client = fake.client(|_| {});
    let err = client
        .submit_details_job(
            Interval::new(utc(2026, 5, 1), utc(2026, 5, 9)),
            &DetailsFilter::default(),
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("details_job_submit") || err.to_string().contains("jobs"),
        "{err}"
    );
    assert_eq!(fake.seen(jobs).len(), 1, "submitted once");
}

// One conversation Genesys (or a proxy) sends in a shape this build cannot read is left out
// and counted; the rest of its page and the pages after it are still listed, so the same
// bad record does not fail every run at the same page.
#[tokio::test]
async fn a_malformed_conversation_is_set_aside_and_the_rest_of_the_listing_goes_on() {
    let fake = FakeGenesys::start().await;
    fake.handler(DETAILS_QUERY_PATH, |seen| {
        let body: serde_json::Value = serde_json::from_str(&seen.body).unwrap();
        let good = |id: &str, hour: u32| {
            json!({"conversationId": id,
                   "conversationStart": format!("2026-03-01T{hour:02}:00:00.000Z"),
                   "conversationEnd": format!("2026-03-01T{hour:02}:05:00.000Z")})
        };
        let page = match body["paging"]["pageNumber"].as_u64().unwrap() {
            1 => json!([good("a", 1),
                        {"conversationId": "b", "conversationStart": "yesterday at noon",
                         "participants": "none"},
                        good("c", 3)]),
            2 => json!([good("d", 4)]),
            _ => json!([]),
        };
        Reply::json(200, json!({"totalHits": 4, "conversations": page}))
    });
    let client = fake.client(|s| s.genesys.page_size = std::num::NonZero::new(3).unwrap());
    let day = Interval::new(utc(2026, 3, 1), utc(2026, 3, 2));
    let ids: Vec<String> = crate::helpers::all_details(&client, day)
        .await
        .into_iter()
        .map(|c| c.conversation_id)
        .collect();
    assert_eq!(ids, ["a", "c", "d"]);
    // The malformed one still filled page 1, so page 2 was asked for.
    assert_eq!(fake.seen(DETAILS_QUERY_PATH).len(), 2);
}

// A settled day is never listed again, so an availability date from the future (a clock or
// a proxy gone wrong) must not settle days still taking conversations.
#[tokio::test]
async fn an_availability_date_in_the_future_is_refused() {
    let fake = genesys_available_until("2099-01-01T00:00:00.000Z").await;
    let client = fake.client(|_| {});
    let err = client.details_availability().await.unwrap_err();
    assert!(err.to_string().contains("lies in the future"), "{err}");
}

// One conversation that did not decode leaves its day unsettled: the next run lists the day
// again, and once the answer is right the conversation is stored and the day settled.
#[tokio::test]
async fn a_day_with_a_conversation_that_did_not_decode_is_listed_again_until_it_does() {
    use genesys_sentiment::batch::pull::{Progress, Pull, selection};
    use std::sync::atomic::{AtomicBool, Ordering};
    let fake = FakeGenesys::start().await;
    let broken = std::sync::Arc::new(AtomicBool::new(true));
    let answer = broken.clone();
    fake.handler(DETAILS_QUERY_PATH, move |_| {
        let start = if answer.load(Ordering::Relaxed) {
            json!(1_772_359_200_000u64)
        } else {
            json!("2026-03-01T10:00:00.000Z")
        };
        Reply::json(
            200,
            json!({"totalHits": 2, "conversations": [
                {"conversationId": "a", "conversationStart": "2026-03-01T09:00:00.000Z",
                 "conversationEnd": "2026-03-01T09:05:00.000Z"},
                {"conversationId": "b", "conversationStart": start,
                 "conversationEnd": "2026-03-01T10:05:00.000Z"}]}),
        )
    });
    let client = fake.client(|_| {});
    let dir = tempfile::tempdir().unwrap();
    let store =
        genesys_sentiment::store::Store::open(&format!("sqlite://{}/c.db", dir.path().display()))
            .await
            .unwrap();
    let settings = genesys_sentiment::config::Settings::defaults();
    let normalizer =
        genesys_sentiment::analytics::normalize::Normalizer::from_settings(&settings.analytics);
    let progress = Progress::default();
    let pull = Pull {
        client: &client,
        store: &store,
        normalizer: &normalizer,
        concurrency: 1,
        retention: Duration::from_secs(10 * 365 * 86_400),
        progress: &progress,
    };
    let day = Interval::new(utc(2026, 3, 1), utc(2026, 3, 2));
    let filter = DetailsFilter::default();
    let listed = async || {
        store
            .counts(day.start, day.end, &selection(&filter))
            .await
            .unwrap()
            .0
    };
    let day_number = day.start.timestamp() / 86_400;
    let settled = async || {
        store
            .coverage("details", day_number, day_number + 1)
            .await
            .unwrap()[&day_number]
            .settled
    };
    pull.cover(day, &filter, Some(utc(2026, 4, 1)))
        .await
        .unwrap();
    assert_eq!(listed().await, 1, "the good one is stored");
    assert!(!settled().await, "the day is not settled without b");
    broken.store(false, Ordering::Relaxed);
    pull.cover(day, &filter, Some(utc(2026, 4, 1)))
        .await
        .unwrap();
    assert_eq!(listed().await, 2, "b is stored once it decodes");
    assert!(settled().await);
    // Settled: a third run does not ask again.
    let asked = fake.seen(DETAILS_QUERY_PATH).len();
    pull.cover(day, &filter, Some(utc(2026, 4, 1)))
        .await
        .unwrap();
    assert_eq!(fake.seen(DETAILS_QUERY_PATH).len(), asked);
}

// Most of a full page not decoding is a change of shape, not a bad record: the listing fails
// (as it did before conversations were decoded one by one) rather than take them for gone. A
// short page (a day's last) with the same few bad records does not: where they happen to fall
// must not stop every run.
#[tokio::test]
async fn most_of_a_full_page_not_decoding_fails_the_listing_but_a_short_page_does_not() {
    let fake = FakeGenesys::start().await;
    fake.handler(DETAILS_QUERY_PATH, |_| {
        let mut page: Vec<serde_json::Value> = (0..3)
            .map(|i| json!({"conversationId": format!("bad-{i}"), "conversationStart": 1_772_359_200_000u64 + i}))
            .collect();
        page.push(json!({"conversationId": "good", "conversationStart": "2026-03-01T09:00:00.000Z"}));
        Reply::json(200, json!({"totalHits": 4, "conversations": page}))
    });
    let day = Interval::new(utc(2026, 3, 1), utc(2026, 3, 2));
    let full = fake.client(|s| s.genesys.page_size = std::num::NonZero::new(4).unwrap());
    let err = details_error(&full, day).await;
    assert!(
        err.to_string().contains("3 of the 4 conversations"),
        "{err}"
    );
    let short = fake.client(|s| s.genesys.page_size = std::num::NonZero::new(10).unwrap());
    let listed = crate::helpers::all_details(&short, day).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].conversation_id, "good");
}

// Each endpoint reads at most what a real answer of its kind can reach: with 32 STA calls
// at once, a peer answering each with tens of MiB would otherwise hold a gigabyte.
#[tokio::test]
async fn an_sta_answer_far_larger_than_any_real_one_is_refused_unread() {
    let fake = FakeGenesys::start().await;
    let mut body = sta_body(0.4);
    body["padding"] = json!("x".repeat(2 << 20));
    fake.default_reply(STA, Reply::json(200, body));
    let client = fake.client(|_| {});
    let err = client.conversation_sentiment("c-1").await.unwrap_err();
    assert!(
        err.to_string().contains("larger than 1048576 bytes"),
        "{err}"
    );
}

// A heavy day (more conversations than the details query pages through) needs the
// availability date for its job; without a usable one (a date in the future) it is read
// synchronously, newest first, as far as the query pages, instead of failing the listing.
#[tokio::test]
async fn a_heavy_day_without_a_usable_availability_date_is_read_synchronously() {
    let jobs = "/api/v2/analytics/conversations/details/jobs";
    let fake = genesys_available_until("2099-01-01T00:00:00.000Z").await;
    fake.handler(DETAILS_QUERY_PATH, |seen| {
        let body: serde_json::Value = serde_json::from_str(&seen.body).unwrap();
        let page = body["paging"]["pageNumber"].as_u64().unwrap();
        let page: Vec<serde_json::Value> = (0..2)
            .map(|i| {
                json!({"conversationId": format!("p{page}-{i}"),
                       "conversationStart": format!("2026-03-01T{:02}:00:00.000Z", 20 - page * 2 - i),
                       "conversationEnd": format!("2026-03-01T{:02}:05:00.000Z", 20 - page * 2 - i)})
            })
            .collect();
        Reply::json(200, json!({"totalHits": 1000, "conversations": page}))
    });
    let client = fake.client(|s| {
        s.genesys.page_size = std::num::NonZero::new(2).unwrap();
        s.genesys.max_paging_results = 6;
    });
    let day = Interval::new(utc(2026, 3, 1), utc(2026, 3, 2));
    let listed = crate::helpers::all_details(&client, day).await;
    assert!(listed.len() >= 4, "{listed:?}");
    assert!(fake.seen(jobs).is_empty(), "no job without a date");
}
