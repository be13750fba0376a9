//! Issue 4: the client driven against the emulator; determinism; wire fidelity.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use chrono::TimeDelta;
use futures_util::TryStreamExt;
use genesys_sentiment::emulator::{Faults, RunningEmulator};
use genesys_sentiment::genesys::Interval;
use genesys_sentiment::genesys::aggregates::AggregateQuery;
use genesys_sentiment::genesys::details::DetailsFilter;
use genesys_sentiment::genesys::sta::StaOutcome;
use serde_json::{Value, json};

use crate::helpers::emulator::{client_for, fixed_end, small_config, start, token};

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

#[tokio::test]
async fn the_details_query_matches_days_touched_and_limits_unfiltered_intervals_to_7_days() {
    let emu = start(small_config(21)).await;
    let org = emu.state.org.clone();
    let t = token(&emu).await;
    let http = reqwest::Client::new();
    let query = |body: Value| {
        let (http, t, url) = (http.clone(), t.clone(), emu.url());
        async move {
            let r = http
                .post(format!(
                    "{url}/api/v2/analytics/conversations/details/query"
                ))
                .bearer_auth(t)
                .json(&body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    // 18:00–20:00 of one day touches the whole day: conversations from 08:00 on are in it.
    let day = fixed_end() - days(1);
    let evening = Interval::new(day + TimeDelta::hours(18), day + TimeDelta::hours(20));
    let (status, body) = query(json!({"interval": evening.to_string(),
        "paging": {"pageSize": 100, "pageNumber": 1}}))
    .await;
    assert_eq!(status, 200, "{body}");
    let whole_day = org.starting_between(day, day + days(1)).len() as u64;
    assert_eq!(body["totalHits"].as_u64(), Some(whole_day));
    assert!(whole_day > org.starting_between(evening.start, evening.end).len() as u64);
    // The client still yields only what started inside the interval it asked for.
    let client = client_for(&emu, |_| {});
    let got = crate::helpers::all_details(&client, evening).await;
    assert_eq!(
        got.len(),
        org.starting_between(evening.start, evening.end).len()
    );

    // 8 days: refused without a filter, answered with one.
    let eight = Interval::new(fixed_end() - days(8), fixed_end()).to_string();
    let (status, body) = query(json!({"interval": eight})).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("7 days"),
        "{body}"
    );
    let (status, _) = query(json!({"interval": eight, "conversationFilters": [{"type": "and",
        "predicates": [{"type": "dimension", "dimension": "conversationEnd", "operator": "exists"}]}]}))
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_day_with_more_conversations_than_the_paging_cap_is_read_through_a_details_job() {
    let mut config = small_config(22);
    // A day of ~300 conversations against a cap of 120 results (Genesys: 100 000).
    config.max_paging_results = 120;
    config.org.conversations_per_day = 300.0;
    config.availability_lag = Duration::ZERO;
    let emu = start(config).await;
    let client = client_for(&emu, |s| {
        s.genesys.max_paging_results = 120;
        s.genesys.page_size = std::num::NonZero::new(20).unwrap();
        s.genesys.job_poll_min = Duration::from_millis(5).into();
        s.genesys.job_poll_max = Duration::from_millis(20).into();
    });
    let org = emu.state.org.clone();
    let two_days = Interval::new(fixed_end() - days(2), fixed_end());
    let expected: BTreeSet<String> = org
        .starting_between(two_days.start, two_days.end)
        .iter()
        .map(|c| c.id_string())
        .collect();
    for d in [2, 1] {
        let start = fixed_end() - days(d);
        assert!(
            org.starting_between(start, start + days(1)).len() > 120,
            "each day is over the cap"
        );
    }
    let got = crate::helpers::all_details(&client, two_days).await;
    let ids: Vec<String> = got.iter().map(|c| c.conversation_id.clone()).collect();
    let unique: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(unique.len(), ids.len(), "every conversation exactly once");
    assert_eq!(unique, expected, "and every one of them");
    assert_eq!(
        emu.state.jobs.lock().unwrap().len(),
        2,
        "one details job per heavy day"
    );
}

#[tokio::test]
async fn a_heavy_day_after_the_availability_date_is_read_as_far_as_the_query_pages() {
    for (lag_hours, all_found) in [(6, true), (30, false)] {
        let mut config = small_config(23);
        config.max_paging_results = 120;
        config.org.conversations_per_day = 300.0;
        config.availability_lag = Duration::from_secs(lag_hours * 3600);
        let emu = start(config).await;
        let client = client_for(&emu, |s| {
            s.genesys.max_paging_results = 120;
            s.genesys.page_size = std::num::NonZero::new(20).unwrap();
            s.genesys.job_poll_min = Duration::from_millis(5).into();
            s.genesys.job_poll_max = Duration::from_millis(20).into();
        });
        let org = emu.state.org.clone();
        let availability = org.spec.end - TimeDelta::hours(lag_hours as i64);
        let two_days = Interval::new(fixed_end() - days(2), fixed_end());
        let settled: BTreeSet<String> = org
            .starting_between(two_days.start, availability.min(two_days.end))
            .iter()
            .map(|c| c.id_string())
            .collect();
        let recent = org.starting_between(availability, two_days.end).len();
        // With a 30 h lag the availability date falls inside the first day: its last hours
        // page within the cap; the second day lies wholly after it.
        let first_day_end = two_days.start + days(1);
        let first_day_recent = org
            .starting_between(availability.min(first_day_end), first_day_end)
            .len();
        let got = crate::helpers::all_details(&client, two_days).await;
        let ids: Vec<String> = got.iter().map(|c| c.conversation_id.clone()).collect();
        let unique: BTreeSet<String> = ids.iter().cloned().collect();
        assert_eq!(
            unique.len(),
            ids.len(),
            "lag {lag_hours}h: each conversation once"
        );
        assert!(
            settled.is_subset(&unique),
            "lag {lag_hours}h: every settled conversation, from the jobs"
        );
        let after = unique.len() - settled.len();
        if all_found {
            assert_eq!(after, recent, "the recent hours page within the cap");
        } else {
            assert!(recent > 120 + first_day_recent, "over the cap: {recent}");
            // The second day: its newest 120 conversations.
            assert_eq!(
                after,
                first_day_recent + 120,
                "as far as the synchronous query pages"
            );
        }
    }
}

#[tokio::test]
async fn a_job_still_running_after_the_job_timeout_is_cancelled() {
    // The emulator keeps the job QUEUED for far longer than the client waits.
    let mut config = small_config(12);
    config.job_polls_per_state = 1_000_000;
    let emu = start(config).await;
    let client = client_for(&emu, |s| {
        s.genesys.job_poll_min = Duration::from_millis(5).into();
        s.genesys.job_poll_max = Duration::from_millis(5).into();
        s.genesys.job_timeout = Duration::from_millis(100).into();
    });
    let interval = Interval::new(fixed_end() - days(9), fixed_end() - days(3));
    let job = client
        .submit_details_job(interval, &DetailsFilter::default())
        .await
        .unwrap();
    assert!(emu.state.jobs.lock().unwrap().contains_key(&job.job_id));
    let err = client.wait_for_job(&job.job_id).await.unwrap_err();
    assert!(err.to_string().contains("TIMEOUT"), "{err}");
    assert!(
        !emu.state.jobs.lock().unwrap().contains_key(&job.job_id),
        "the job given up on was deleted at Genesys, not left running"
    );
}
