//! Issue 7: the scheduled batch end to end against the emulator, the trends API, and
//! coaching recommendations that are never sent twice.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use genesys_sentiment::analytics::Dimension;
use genesys_sentiment::emulator::{Faults, RunningEmulator};
use serde_json::Value;

use crate::helpers::TestApp;
use crate::helpers::emulator::{batch_org, spawn_sink, use_emulator};

/// An org whose history ends at today's UTC midnight, where the batch's windows end.
fn expected_declining(emu: &RunningEmulator, min_samples: u64) -> BTreeSet<String> {
    let org = &emu.state.org;
    org.ground_truth(org.spec.window_days, org.spec.end)
        .agents
        .into_iter()
        .filter(|t| {
            t.trend == "declining" && t.n_current >= min_samples && t.n_previous >= min_samples
        })
        .map(|t| t.agent_id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_flags_the_agents_the_emulator_made_decline_and_alerts_once() {
    let emu = crate::helpers::emulator::start(batch_org(1)).await;
    let (sink, url) = spawn_sink(None).await;
    let t = TestApp::started(|s| {
        use_emulator(s, &emu);
        s.coaching.url = url.clone();
    })
    .await;
    let services = t.app.as_ref().unwrap().state().services().unwrap().clone();
    services.reports.wait_for_runs(1).await;

    let runs: Value = t.get("/v1/runs").await.json().await.unwrap();
    assert_eq!(runs["runs"][0]["outcome"], "succeeded", "{runs}");
    assert!(
        runs["runs"][0]["requests"].as_u64().unwrap() > 1000,
        "one STA request per conversation"
    );
    assert_eq!(runs["runs"][0]["rate_limited"], 0);
    assert!(
        runs["runs"][0]["provisional_after"].is_string(),
        "the availability date marks provisional data"
    );

    let declining: Value = t
        .get("/v1/trends?verdict=declining&group_by=agent")
        .await
        .json()
        .await
        .unwrap();
    let flagged: BTreeSet<String> = declining["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            assert_eq!(g["verdict"]["direction"], "declining");
            assert!(g["verdict"]["q_value"].as_f64().unwrap() < 0.05);
            assert!(g["verdict"]["effect_points"].as_f64().unwrap() < 0.0);
            g["key"].as_str().unwrap().to_owned()
        })
        .collect();
    let expected = expected_declining(&emu, 30);
    assert!(!expected.is_empty());
    assert_eq!(
        flagged, expected,
        "the declining agents are exactly the emulator's (with enough data)"
    );

    let all: Value = t.get("/v1/trends").await.json().await.unwrap();
    for field in [
        "generated_at",
        "normalization_version",
        "algorithm_version",
        "windows",
        "settings",
        "records",
        "groups",
        "daily",
    ] {
        assert!(all.get(field).is_some(), "/v1/trends has {field}");
    }
    let queues: Value = t
        .get("/v1/trends?group_by=queue")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        queues["groups"]
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g["dimension"] == "queue")
    );
    assert_eq!(queues["groups"].as_array().unwrap().len(), 4);
    let days: Value = t.get("/v1/trends?group_by=day").await.json().await.unwrap();
    assert_eq!(
        days["daily"].as_array().unwrap().len(),
        14,
        "one point per day of both windows"
    );
    let bad = t.get("/v1/trends?verdict=sideways").await;
    assert_eq!(bad.status(), 400);

    // One recommendation per declining agent reaches the sink.
    assert!(
        sink.wait_for_unique(expected.len() as u64, Duration::from_secs(20))
            .await
    );
    let per_agent = |sink: &genesys_sentiment::emulator::sink::Sink| -> HashMap<String, u64> {
        let mut m = HashMap::new();
        for d in sink
            .events()
            .iter()
            .filter(|d| d.body["event_type"] == "coaching_recommendation")
        {
            *m.entry(d.body["agent_id"].as_str().unwrap().to_owned())
                .or_insert(0) += sink.counts()[&d.webhook_id];
        }
        m
    };
    let first = per_agent(&sink);
    assert_eq!(first.keys().cloned().collect::<BTreeSet<_>>(), expected);
    assert!(first.values().all(|n| *n == 1));

    // A second run, then a restart (which runs again at start-up): no new recommendations.
    services.batch.run_once(2).await.unwrap();
    let dir = t.stop().await;
    let t = TestApp::started_in(dir, |s| {
        use_emulator(s, &emu);
        s.coaching.url = url.clone();
    })
    .await;
    let services = t.app.as_ref().unwrap().state().services().unwrap().clone();
    services.reports.wait_for_runs(1).await;
    assert_eq!(
        services.reports.runs().len(),
        3,
        "runs are rebuilt from the journal"
    );
    let journal =
        std::fs::read_to_string(t.dir.path().join("journal/segment-00000001.jsonl")).unwrap();
    assert_eq!(
        journal
            .matches("\"type\":\"coaching_recommendation\"")
            .count(),
        expected.len()
    );
    assert_eq!(journal.matches("\"type\":\"batch_run\"").count(), 3);
    assert_eq!(
        per_agent(&sink),
        first,
        "exactly one recommendation per agent after two runs and a restart"
    );
    let metrics = t.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("genesys_sentiment_batch_runs_total{outcome=\"succeeded\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics
            .contains("genesys_sentiment_trend_groups{dimension=\"agent\",verdict=\"declining\"}"),
        "{metrics}"
    );
    // The restarted daemon's run found every score in the store: it asked STA for none.
    assert!(
        metrics.contains(
            "genesys_sentiment_genesys_requests_total{endpoint=\"sta_conversation\",status=\"200\"} 0\n"
        ),
        "{metrics}"
    );
    let latest = &services.reports.runs()[0];
    assert!(
        latest.requests < 50,
        "an incremental run over unchanged data asks for little: {latest:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_run_is_recorded_and_the_daemon_lives_on() {
    let mut config = batch_org(2);
    config.faults = Faults {
        forbidden: true,
        ..Faults::default()
    };
    let emu = crate::helpers::emulator::start(config).await;
    let t = TestApp::started(|s| use_emulator(s, &emu)).await;
    let services = t.app.as_ref().unwrap().state().services().unwrap().clone();
    services.reports.wait_for_runs(1).await;
    let runs: Value = t.get("/v1/runs").await.json().await.unwrap();
    assert_eq!(runs["runs"][0]["outcome"], "failed");
    let error = runs["runs"][0]["error"].as_str().unwrap();
    assert!(
        error.contains("analytics:conversationDetail:view") && error.contains("forbidden"),
        "{error}"
    );
    assert_eq!(t.get("/healthz").await.status(), 200);
    assert_eq!(t.get("/v1/trends").await.status(), 404, "no report yet");

    // Fixed on the Genesys side: the next run succeeds.
    emu.state.apply_faults(Faults::default());
    services.batch.run_once(2).await.unwrap();
    assert_eq!(t.get("/v1/trends").await.status(), 200);
    let journal =
        std::fs::read_to_string(t.dir.path().join("journal/segment-00000001.jsonl")).unwrap();
    assert!(journal.contains("\"outcome\":\"failed\",\"type\":\"batch_run\""));
    assert!(journal.contains("\"outcome\":\"succeeded\",\"type\":\"batch_run\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aggregates_source_reports_from_a_handful_of_requests() {
    let emu = crate::helpers::emulator::start(batch_org(1)).await;
    let (_t, services) = aggregates_app(&emu).await;
    let run = &services.reports.runs()[0];
    assert_eq!(run.outcome.as_str(), "succeeded", "{run:?}");
    assert!(
        run.requests <= 5,
        "availability + three aggregate queries: {}",
        run.requests
    );
    let report = services.reports.latest().unwrap();
    let declining: BTreeSet<String> = report
        .groups_of(Dimension::Agent)
        .filter(|g| g.verdict.direction == genesys_sentiment::analytics::Direction::Declining)
        .map(|g| g.key.clone())
        .collect();
    let truth = expected_declining(&emu, 30);
    assert!(
        declining.is_subset(&truth),
        "no false alarms from daily means: {declining:?}"
    );
    assert!(
        !declining.is_empty(),
        "the large declines show even in daily means"
    );
    let g = report.groups_of(Dimension::Agent).next().unwrap();
    assert_eq!(g.verdict.method, "welch_t_daily_means+benjamini_hochberg");
    assert!(
        g.current.std_dev.is_none() && g.current.p50.is_none(),
        "no per-record detail from aggregates"
    );
}

/// The daemon on the aggregates source against `emu`, once its first run has ended.
async fn aggregates_app(
    emu: &RunningEmulator,
) -> (
    TestApp,
    std::sync::Arc<genesys_sentiment::http::state::Services>,
) {
    let t = TestApp::started(|s| {
        use_emulator(s, emu);
        s.batch.source = genesys_sentiment::config::BatchSource::Aggregates;
    })
    .await;
    let services = t.app.as_ref().unwrap().state().services().unwrap().clone();
    services.reports.wait_for_runs(1).await;
    (t, services)
}

/// Runs the aggregates source twice against an org that reports `oSentimentScore` on
/// `scale` (the daemon expects `unit`), and gives how many days the second run covered.
async fn second_aggregates_run_days(scale: genesys_sentiment::domain::ScoreScale) -> u64 {
    let mut config = batch_org(1);
    config.org.aggregate_scale = scale;
    let emu = crate::helpers::emulator::start(config).await;
    let (_t, services) = aggregates_app(&emu).await;
    services.batch.run_once(2).await.unwrap();
    let run = &services.reports.finished_runs()[0];
    assert_eq!(run.outcome.as_str(), "succeeded", "{run:?}");
    run.progress.as_ref().expect("pull progress").days_covered
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregates_outside_the_configured_scale_leave_their_days_to_be_fetched_again() {
    use genesys_sentiment::domain::ScoreScale;
    // The scales agree: the second run finds every past day settled.
    let settled = second_aggregates_run_days(ScoreScale::Unit).await;
    // Genesys answers on -100..100 while the daemon expects -1..1: the cells are left out,
    // and their days stay unsettled so a corrected setting takes effect on the next run.
    let refetched = second_aggregates_run_days(ScoreScale::Percent).await;
    assert!(
        refetched >= settled + 7,
        "the second run covers the past days again ({refetched} days, against {settled})"
    );
}

/// Stops the daemon and gives the first run its journal records.
async fn stopped_run(t: TestApp) -> Value {
    let dir = t.stop().await;
    let journal =
        std::fs::read_to_string(dir.path().join("journal/segment-00000001.jsonl")).unwrap();
    journal
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|r| r["type"] == "batch_run")
        .expect("the run is journaled")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_cut_short_by_shutdown_is_journaled_as_interrupted() {
    let mut config = batch_org(3);
    // Slow answers: the run is still pulling when the daemon is stopped.
    config.faults = Faults {
        latency_ms: 200,
        ..Faults::default()
    };
    let emu = crate::helpers::emulator::start(config).await;
    let t = TestApp::started(|s| use_emulator(s, &emu)).await;
    let stats = emu.state.stats.clone();
    let underway = crate::helpers::poll(std::time::Duration::from_secs(30), async || {
        let runs: Value = t.get("/v1/runs").await.json().await.ok()?;
        (runs["runs"][0]["outcome"] == "running"
            && stats
                .api_requests
                .load(std::sync::atomic::Ordering::Relaxed)
                >= 3)
            .then_some(())
    })
    .await;
    assert!(underway.is_some(), "the run never got going");
    let run = stopped_run(t).await;
    assert_eq!(run["outcome"], "interrupted", "{run}");
    assert_eq!(run["error"], "interrupted by shutdown", "{run}");
}

/// A scale set wrong the quiet way (percent, while Genesys sends -1..1) turns every quality
/// score into about 50 and every polarity into neutral; the run says so.
#[tokio::test]
async fn a_run_on_the_percent_scale_whose_scores_all_lie_within_one_warns() {
    let logs = crate::helpers::captured_logs();
    let emu = crate::helpers::emulator::start(batch_org(71)).await;
    let t = TestApp::started(|s| {
        use_emulator(s, &emu);
        s.genesys.sentiment_scale = genesys_sentiment::domain::ScoreScale::Percent;
    })
    .await;
    let services = t.app.as_ref().unwrap().state().services().unwrap().clone();
    services.reports.wait_for_runs(1).await;
    let text = logs.text();
    assert!(
        text.lines()
            .any(|l| l.contains("lies within -1..1")
                && l.contains("genesys.sentiment_scale = \"unit\"")),
        "no scale warning"
    );
    t.stop().await;
}

/// STA scores found outside the configured scale (Genesys answers on -100..100, the daemon
/// expects -1..1) are not asked about at every run, but once the setting is corrected the
/// next run asks for them again and scores them: nothing is lost to a wrong setting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sta_scores_outside_the_scale_are_scored_once_the_scale_is_corrected() {
    let mut config = batch_org(72);
    config.org.score_scale = genesys_sentiment::domain::ScoreScale::Percent;
    config.org.days = 4;
    config.org.conversations_per_day = 150.0;
    let emu = crate::helpers::emulator::start(config).await;
    let progress = |t: &TestApp| {
        let services = t.app.as_ref().unwrap().state().services().unwrap().clone();
        let run = services.reports.finished_runs()[0].clone();
        assert_eq!(run.outcome.as_str(), "succeeded", "{run:?}");
        run.progress.expect("pull progress")
    };
    let t = TestApp::started(|s| use_emulator(s, &emu)).await;
    let services = t.app.as_ref().unwrap().state().services().unwrap().clone();
    services.reports.wait_for_runs(1).await;
    let wrong = progress(&t);
    assert!(wrong.rejected > 100, "{wrong:?}");
    // A second run under the same setting does not ask about them again.
    services.batch.run_once(2).await.unwrap();
    let again = progress(&t);
    assert_eq!(again.rejected, 0, "{again:?}");
    let dir = t.stop().await;

    let t = TestApp::started_in(dir, |s| {
        use_emulator(s, &emu);
        s.genesys.sentiment_scale = genesys_sentiment::domain::ScoreScale::Percent;
    })
    .await;
    let services = t.app.as_ref().unwrap().state().services().unwrap().clone();
    services.reports.wait_for_runs(1).await;
    let corrected = progress(&t);
    assert_eq!(corrected.rejected, 0, "{corrected:?}");
    assert!(
        corrected.analysed >= wrong.rejected,
        "every score refused under the wrong scale is scored now: {corrected:?} after {wrong:?}"
    );
    t.stop().await;
}

/// A Genesys that keeps answering the availability date with 503 and a long Retry-After
/// (the first request of every run) does not hold up a shutdown: the run is interrupted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_while_the_availability_date_is_retried_interrupts_the_run() {
    use crate::fake_genesys::{FakeGenesys, Reply};
    let fake = FakeGenesys::start().await;
    let availability = "/api/v2/analytics/conversations/details/jobs/availability";
    fake.default_reply(
        availability,
        Reply::json(
            503,
            serde_json::json!({"message": "busy", "code": "service.unavailable", "status": 503}),
        )
        .header("retry-after", "50"),
    );
    let t = TestApp::started(|s| {
        s.genesys.base_url = fake.url();
        s.batch.enabled = true;
        s.batch.run_at_startup = true;
        s.server.shutdown_deadline = Duration::from_secs(5).into();
    })
    .await;
    let asked = crate::helpers::poll(Duration::from_secs(10), async || {
        (!fake.seen(availability).is_empty()).then_some(())
    })
    .await;
    assert!(asked.is_some(), "the run never asked");
    // Within the 5 s deadline, though the next retry would come only after 50 s.
    let run = stopped_run(t).await;
    assert_eq!(run["outcome"], "interrupted", "{run}");
}
