//! Issue 12: real-time scores get their agent. A real sentiment event (only its model's
//! fields: no agent) is attributed from the `.acw` of its conversation, else from the
//! conversation's details, else goes out `unknown` after `webhook.attribution_max_wait`;
//! `.customer.end` and `.acw` of one conversation are both accepted; every decision is
//! journaled; a late `.acw` is linked, not refused.

use std::time::{Duration, Instant};

use genesys_sentiment::config::Settings;
use genesys_sentiment::emulator::org::Conversation;
use genesys_sentiment::emulator::webhooks as events;
use genesys_sentiment::emulator::{Faults, RunningEmulator};
use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::helpers::emulator::{small_config, spawn_sink, start};

/// The daemon pointed at the emulator (details lookups) and a sink, batch off.
fn configure(s: &mut Settings, emu: &RunningEmulator, sink: &str, delay: u64, max_wait: u64) {
    s.genesys.base_url = emu.url();
    s.genesys.client_id = genesys_sentiment::emulator::DEFAULT_CLIENT_ID.into();
    s.genesys.client_secret =
        genesys_sentiment::config::Secret::new(genesys_sentiment::emulator::DEFAULT_CLIENT_SECRET);
    s.genesys.retention = Duration::from_secs(10 * 365 * 86_400).into();
    s.coaching.url = sink.to_owned();
    s.webhook.attribution_lookup_delay = Duration::from_millis(delay).into();
    s.webhook.attribution_max_wait = Duration::from_millis(max_wait).into();
    s.webhook.sta_retry_delay = Duration::from_millis(50).into();
}

fn analysed(emu: &RunningEmulator, skip: usize) -> Conversation {
    *emu.state
        .org
        .conversations
        .iter()
        .rev()
        .filter(|c| c.analysed)
        .nth(skip)
        .unwrap()
}

fn sentiment_notification(emu: &RunningEmulator, c: &Conversation) -> Value {
    let id = c.id_string();
    events::notification(
        &events::sentiment_topic(&id),
        events::sentiment_payload(&emu.state.org, c),
        "corr-s",
        &c.end().to_rfc3339(),
    )
}

/// An `.acw` of `c` naming `user` (not the emulator's agent, so it cannot be confused with a
/// details lookup).
fn acw_naming(emu: &RunningEmulator, c: &Conversation, user: &str) -> Value {
    let id = c.id_string();
    let mut payload = events::acw_payload(&emu.state.org, c);
    payload["userId"] = json!(user);
    events::notification(
        &events::detail_topic(&id, "acw"),
        payload,
        "corr-a",
        &c.end().to_rfc3339(),
    )
}

async fn deliveries_for(
    sink: &genesys_sentiment::emulator::sink::Sink,
    conversation: &str,
    within: Duration,
) -> Vec<Value> {
    let conversation = conversation.to_owned();
    crate::helpers::poll(within, async || {
        let found: Vec<Value> = sink
            .events()
            .into_iter()
            .map(|d| d.body)
            .filter(|b| b["conversation_id"] == conversation.as_str())
            .collect();
        (!found.is_empty()).then_some(found)
    })
    .await
    .unwrap_or_default()
}

#[tokio::test]
async fn a_real_sentiment_event_takes_its_agent_from_the_acw_in_both_envelopes() {
    let emu = start(small_config(41)).await;
    let (sink, url) = spawn_sink(None).await;
    // The lookup would only run after 5 s: the .acw, sent right after, must win.
    let t = TestApp::started(|s| configure(s, &emu, &url, 5_000, 10_000)).await;
    for (skip, wrap) in [(0, false), (1, true)] {
        let c = analysed(&emu, skip);
        let id = c.id_string();
        let user = format!("acw-agent-{skip}");
        let mut sentiment = sentiment_notification(&emu, &c);
        let mut acw = acw_naming(&emu, &c, &user);
        if wrap {
            sentiment =
                events::eventbridge(sentiment, &format!("eb-s-{id}"), "2026-06-01T00:00:00Z");
            acw = events::eventbridge(acw, &format!("eb-a-{id}"), "2026-06-01T00:00:00Z");
        }
        assert!(sentiment.to_string().contains("sentimentOverallScore"));
        assert!(
            !sentiment.to_string().contains("userId"),
            "no agent in the event"
        );
        assert_eq!(t.post_webhook(&sentiment).await.0, 202);
        assert_eq!(t.post_webhook(&acw).await.0, 202);
        let got = deliveries_for(&sink, &id, Duration::from_secs(5)).await;
        assert_eq!(got.len(), 1, "one delivery for the conversation: {got:?}");
        assert_eq!(got[0]["agent_id"], user.as_str());
        assert_eq!(got[0]["attribution"], "acw");
        assert_eq!(
            got[0]["queue_id"].as_str(),
            Some(emu.state.org.queues[usize::from(c.queue)].id.as_str())
        );
    }
    // Every decision is journaled.
    let decisions: Vec<Value> = t
        .journal()
        .into_iter()
        .filter(|r| r["type"] == "attributed")
        .collect();
    assert_eq!(decisions.len(), 2);
    assert!(
        decisions
            .iter()
            .all(|d| d["attribution"] == "acw" && d["cause_event_id"].is_string())
    );
}

#[tokio::test]
async fn without_an_acw_the_conversation_details_name_the_agent() {
    let emu = start(small_config(42)).await;
    let (sink, url) = spawn_sink(None).await;
    let t = TestApp::started(|s| configure(s, &emu, &url, 200, 10_000)).await;
    let c = analysed(&emu, 0);
    let id = c.id_string();
    let eb = events::eventbridge(
        sentiment_notification(&emu, &c),
        "eb-1",
        "2026-06-01T00:00:00Z",
    );
    assert_eq!(t.post_webhook(&eb).await.0, 202);
    let got = deliveries_for(&sink, &id, Duration::from_secs(8)).await;
    assert_eq!(got.len(), 1, "{got:?}");
    let agent = &emu.state.org.agents[c.agent as usize].id;
    assert_eq!(got[0]["agent_id"], agent.as_str());
    assert_eq!(got[0]["attribution"], "details");
    // A late .acw is accepted (not a duplicate) and journaled as a link.
    let (status, body) = t.post_webhook(&acw_naming(&emu, &c, agent)).await;
    assert_eq!(status, 202, "{body}");
    let late = crate::helpers::poll(Duration::from_secs(5), async || {
        t.journal()
            .into_iter()
            .find(|r| r["type"] == "attributed" && r["late"] == true)
    })
    .await
    .expect("a late link is journaled");
    assert_eq!(late["event_id"], got[0]["event_id"]);
    assert_eq!(late["agent_id"], agent.as_str());
    assert_eq!(sink.events().len(), 1, "the delivery is not sent again");
}

#[tokio::test]
async fn when_the_lookup_fails_the_score_goes_out_unknown_after_the_max_wait() {
    let mut config = small_config(43);
    config.faults = Faults {
        forbid_paths: vec!["/api/v2/analytics/conversations/".into()],
        ..Faults::default()
    };
    let emu = start(config).await;
    let (sink, url) = spawn_sink(None).await;
    let max_wait = Duration::from_millis(1500);
    let t = TestApp::started(|s| configure(s, &emu, &url, 100, 1500)).await;
    let c = analysed(&emu, 0);
    let id = c.id_string();
    let sent = Instant::now();
    assert_eq!(
        t.post_webhook(&sentiment_notification(&emu, &c)).await.0,
        202
    );
    let got = deliveries_for(&sink, &id, Duration::from_secs(8)).await;
    assert!(sent.elapsed() >= max_wait, "it waited {:?}", sent.elapsed());
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["attribution"], "unknown");
    assert!(got[0]["agent_id"].is_null());
    let decision = t
        .journal()
        .into_iter()
        .find(|r| r["type"] == "attributed")
        .unwrap();
    assert_eq!(decision["attribution"], "unknown");
    assert!(
        decision["reason"]
            .as_str()
            .unwrap()
            .contains("details lookup failed"),
        "{decision}"
    );
}

#[tokio::test]
async fn customer_end_then_acw_are_both_accepted_and_the_fetched_score_carries_the_acw_agent() {
    let emu = start(small_config(44)).await;
    let (sink, url) = spawn_sink(None).await;
    let t = TestApp::started(|s| configure(s, &emu, &url, 5_000, 10_000)).await;
    let c = analysed(&emu, 0);
    let id = c.id_string();
    let at = c.end().to_rfc3339();
    let end = events::notification(
        &events::detail_topic(&id, "customer.end"),
        events::customer_end_payload(&c),
        "corr-e",
        &at,
    );
    let acw = events::notification(
        &events::detail_topic(&id, "acw"),
        events::acw_payload(&emu.state.org, &c),
        "corr-a",
        &at,
    );
    assert_eq!(t.post_webhook(&end).await.0, 202);
    assert_eq!(
        t.post_webhook(&acw).await.0,
        202,
        "not a duplicate of the customer.end"
    );
    assert_eq!(t.post_webhook(&acw).await.0, 200, "the same .acw again is");
    let got = deliveries_for(&sink, &id, Duration::from_secs(8)).await;
    assert_eq!(got.len(), 1, "one score for the conversation: {got:?}");
    let agent = &emu.state.org.agents[c.agent as usize].id;
    assert_eq!(got[0]["agent_id"], agent.as_str());
    assert_eq!(got[0]["attribution"], "acw");
    let kinds: Vec<String> = t
        .journal()
        .iter()
        .map(|r| r["type"].as_str().unwrap().to_owned())
        .collect();
    for kind in [
        "conversation_end_received",
        "attribution_received",
        "sentiment_fetched",
        "attributed",
    ] {
        assert_eq!(
            kinds.iter().filter(|k| *k == kind).count(),
            1,
            "{kind} in {kinds:?}"
        );
    }
}

#[tokio::test]
async fn held_scores_are_held_again_after_a_restart() {
    let emu = start(small_config(45)).await;
    let (sink, url) = spawn_sink(None).await;
    let t = TestApp::started(|s| configure(s, &emu, &url, 60_000, 120_000)).await;
    let c = analysed(&emu, 0);
    assert_eq!(
        t.post_webhook(&sentiment_notification(&emu, &c)).await.0,
        202
    );
    let dir = t.stop().await;
    assert!(sink.events().is_empty(), "still waiting for its agent");
    // Restarted: the .acw releases the held score.
    let t = TestApp::started_in(dir, |s| configure(s, &emu, &url, 60_000, 120_000)).await;
    assert_eq!(
        t.post_webhook(&acw_naming(&emu, &c, "after-restart"))
            .await
            .0,
        202
    );
    let got = deliveries_for(&sink, &c.id_string(), Duration::from_secs(5)).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["agent_id"], "after-restart");
}

#[tokio::test]
async fn owed_events_not_held_in_memory_go_out_from_the_journal_as_they_were_decided() {
    use genesys_sentiment::emulator::sink::{SinkFault, SinkMode};
    let emu = start(small_config(47)).await;
    let (sink, url) = spawn_sink(None).await;
    // An outage, and no event content kept in memory: each is read back when sent.
    sink.set_fault(SinkFault {
        mode: SinkMode::Fail,
        seconds: 0,
        retry_after: 1,
    });
    let configure_outage = |s: &mut Settings| {
        // No details lookup before the 300 ms wait ends: a score without an .acw goes out
        // `unknown`.
        configure(s, &emu, &url, 60_000, 300);
        s.coaching.owed_in_memory = 0;
        s.coaching.backoff_base = Duration::from_millis(50).into();
        s.coaching.backoff_cap = Duration::from_millis(200).into();
    };
    let t = TestApp::started(configure_outage).await;
    let (early, late) = (analysed(&emu, 0), analysed(&emu, 1));
    // The first is attributed by its .acw before it is queued; the second is queued
    // `unknown`, then named by an .acw that comes late, after a restart.
    assert_eq!(
        t.post_webhook(&sentiment_notification(&emu, &early))
            .await
            .0,
        202
    );
    assert_eq!(
        t.post_webhook(&acw_naming(&emu, &early, "agent-early"))
            .await
            .0,
        202
    );
    assert_eq!(
        t.post_webhook(&sentiment_notification(&emu, &late)).await.0,
        202
    );
    let failed = crate::helpers::poll(Duration::from_secs(10), async || {
        let failed = t
            .journal()
            .into_iter()
            .filter(|r| r["type"] == "delivery_failed")
            .count();
        (failed >= 2).then_some(failed)
    })
    .await;
    assert!(failed.is_some(), "both are tried while the sink is down");
    let dir = t.stop().await;
    sink.set_fault(SinkFault {
        mode: SinkMode::Accept,
        seconds: 0,
        retry_after: 1,
    });
    let t = TestApp::started_in(dir, |s| {
        configure_outage(s);
        // Long enough that the late .acw finds it still queued.
        s.coaching.backoff_base = Duration::from_secs(2).into();
        s.coaching.backoff_cap = Duration::from_secs(2).into();
    })
    .await;
    assert_eq!(
        t.post_webhook(&acw_naming(&emu, &late, "agent-late"))
            .await
            .0,
        202
    );
    let early_got = deliveries_for(&sink, &early.id_string(), Duration::from_secs(10)).await;
    let late_got = deliveries_for(&sink, &late.id_string(), Duration::from_secs(10)).await;
    assert_eq!(
        (early_got.len(), late_got.len()),
        (1, 1),
        "{:?}",
        sink.report()
    );
    assert_eq!(early_got[0]["agent_id"], "agent-early");
    assert_eq!(early_got[0]["attribution"], "acw");
    assert_eq!(late_got[0]["agent_id"], "agent-late", "{late_got:?}");
    assert_eq!(late_got[0]["attribution"], "acw");
    t.stop().await;
}

#[tokio::test]
async fn beyond_attribution_max_held_scores_go_out_at_once_unknown() {
    let emu = start(small_config(46)).await;
    let (sink, url) = spawn_sink(None).await;
    let t = TestApp::started(|s| {
        configure(s, &emu, &url, 60_000, 120_000);
        s.webhook.attribution_max_held = 2;
    })
    .await;
    let conversations: Vec<Conversation> = (0..3).map(|i| analysed(&emu, i)).collect();
    for c in &conversations {
        assert_eq!(
            t.post_webhook(&sentiment_notification(&emu, c)).await.0,
            202
        );
    }
    let third = deliveries_for(&sink, &conversations[2].id_string(), Duration::from_secs(5)).await;
    assert_eq!(third.len(), 1);
    assert_eq!(third[0]["attribution"], "unknown");
    assert_eq!(sink.events().len(), 1, "the first two are still held");
    let held = t.app.as_ref().unwrap().state().metrics.render();
    assert!(
        held.contains("genesys_sentiment_attribution_held 2"),
        "{held}"
    );
}

/// A sentiment event lists every queue of a transferred call, in no stated order: the
/// queue credited is the one of the agent who wrapped up, as the batch would credit it.
#[tokio::test]
async fn a_score_listing_several_queues_takes_the_queue_of_the_acw() {
    let emu = start(small_config(46)).await;
    let (sink, url) = spawn_sink(None).await;
    let t = TestApp::started(|s| configure(s, &emu, &url, 5_000, 10_000)).await;
    let c = analysed(&emu, 3);
    let id = c.id_string();
    let wrapped_up_in = emu.state.org.queues[usize::from(c.queue)].id.clone();
    let first_queue = emu
        .state
        .org
        .queues
        .iter()
        .find(|q| q.id != wrapped_up_in)
        .unwrap()
        .id
        .clone();
    let mut sentiment = sentiment_notification(&emu, &c);
    sentiment["eventBody"]["queueIds"] = json!([first_queue, wrapped_up_in]);
    let acw = acw_naming(&emu, &c, "agent-who-wrapped-up");
    assert_eq!(acw["eventBody"]["queueId"], wrapped_up_in.as_str());
    assert_eq!(t.post_webhook(&sentiment).await.0, 202);
    assert_eq!(t.post_webhook(&acw).await.0, 202);
    let got = deliveries_for(&sink, &id, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["queue_id"], wrapped_up_in.as_str(), "{got:?}");
    let row = stored_row(&t, &id, |r| r["agent_id"].is_some())
        .await
        .expect("stored");
    assert_eq!(
        row["queue_id"].as_deref(),
        Some(wrapped_up_in.as_str()),
        "{row:?}"
    );
}

#[tokio::test]
async fn the_stored_score_behind_reports_carries_the_agent_the_acw_named() {
    let emu = start(small_config(45)).await;
    let (sink, url) = spawn_sink(None).await;
    let t = TestApp::started(|s| configure(s, &emu, &url, 5_000, 10_000)).await;
    let c = analysed(&emu, 2);
    let id = c.id_string();
    // The .acw names someone other than the emulator's agent: the row must follow the event.
    let named = "agent-from-the-acw";
    let end = events::notification(
        &events::detail_topic(&id, "customer.end"),
        events::customer_end_payload(&c),
        "corr-e2",
        &c.end().to_rfc3339(),
    );
    assert_eq!(t.post_webhook(&end).await.0, 202);
    assert_eq!(t.post_webhook(&acw_naming(&emu, &c, named)).await.0, 202);
    let got = deliveries_for(&sink, &id, Duration::from_secs(8)).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["agent_id"], named);

    let row = stored_row(&t, &id, |r| r["source"].is_some())
        .await
        .expect("the fetched score reached the store");
    assert_eq!(row["agent_id"].as_deref(), Some(named), "{row:?}");
    assert_eq!(row["attribution"].as_deref(), Some("acw"), "{row:?}");
    assert_eq!(
        row["source"].as_deref(),
        Some("sta"),
        "fetched after the customer.end: {row:?}"
    );
}

/// The conversation's row in the test app's store once `ready` holds (within 10 s).
async fn stored_row(
    t: &TestApp,
    id: &str,
    ready: impl Fn(&std::collections::HashMap<&'static str, Option<String>>) -> bool,
) -> Option<std::collections::HashMap<&'static str, Option<String>>> {
    let store = genesys_sentiment::store::Store::open(&format!(
        "sqlite://{}/genesys-sentiment.db",
        t.dir.path().display()
    ))
    .await
    .unwrap();
    crate::helpers::poll(Duration::from_secs(10), async || {
        store.conversation(id).await.unwrap().filter(&ready)
    })
    .await
}

/// A sink and the daemon with no STA fetch while a test posts its events (the score comes
/// by webhook).
async fn scores_by_webhook_only(
    emu: &RunningEmulator,
) -> (genesys_sentiment::emulator::sink::Sink, TestApp) {
    let (sink, url) = spawn_sink(None).await;
    let t = TestApp::started(|s| {
        configure(s, emu, &url, 5_000, 10_000);
        s.webhook.sta_retry_delay = Duration::from_secs(60).into();
    })
    .await;
    (sink, t)
}

/// An `.acw` (or other detail event) of `c` naming `user` at `millis_before_end` before the
/// conversation's end.
fn detail_naming(
    emu: &RunningEmulator,
    c: &Conversation,
    kind: &str,
    user: &str,
    millis_before_end: i64,
) -> Value {
    let id = c.id_string();
    let mut payload = if kind == "acw" {
        events::acw_payload(&emu.state.org, c)
    } else {
        events::user_end_payload(&emu.state.org, c)
    };
    payload["userId"] = json!(user);
    payload["eventTime"] = json!(c.end().timestamp_millis() - millis_before_end);
    events::notification(
        &events::detail_topic(&id, kind),
        payload,
        &format!("corr-{kind}-{user}"),
        &c.end().to_rfc3339(),
    )
}

#[tokio::test]
async fn on_a_transferred_call_the_last_agent_to_wrap_up_is_credited_as_the_batch_would() {
    let emu = start(small_config(46)).await;
    let (sink, t) = scores_by_webhook_only(&emu).await;
    let c = analysed(&emu, 3);
    let id = c.id_string();
    // Heard out of order: the second agent's wrap-up first, the first agent's (five minutes
    // earlier, at the transfer) after it, then a leg end of a third that came later still.
    let second = detail_naming(&emu, &c, "acw", "agent-after-transfer", 0);
    let first = detail_naming(&emu, &c, "acw", "agent-before-transfer", 300_000);
    let leg = detail_naming(&emu, &c, "user.end", "agent-consulted", -10_000);
    assert_eq!(t.post_webhook(&second).await.0, 202);
    assert_eq!(
        t.post_webhook(&first).await.0,
        202,
        "another agent's .acw of the conversation is heard, not a duplicate"
    );
    assert_eq!(
        t.post_webhook(&first).await.0,
        200,
        "the same .acw again is"
    );
    assert_eq!(t.post_webhook(&leg).await.0, 202);
    assert_eq!(
        t.post_webhook(&sentiment_notification(&emu, &c)).await.0,
        202
    );
    let got = deliveries_for(&sink, &id, Duration::from_secs(8)).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["agent_id"], "agent-after-transfer", "{got:?}");
    assert_eq!(got[0]["attribution"], "acw");
    // Neither the earlier .acw nor the leg end relinked the score.
    let links: Vec<Value> = t
        .journal()
        .into_iter()
        .filter(|r| r["type"] == "attributed")
        .collect();
    assert_eq!(links.len(), 1, "{links:?}");
    assert_eq!(links[0]["agent_id"], "agent-after-transfer");
}

/// Once the score went out, an attribution event that the known one outranks (a `.user.end`
/// after an `.acw`, an earlier agent's `.acw`) does not relink it, as after a restart.
#[tokio::test]
async fn after_the_score_went_out_an_outranked_event_does_not_relink_it() {
    let emu = start(small_config(48)).await;
    let (sink, t) = scores_by_webhook_only(&emu).await;
    let c = analysed(&emu, 5);
    let id = c.id_string();
    let wrapped_up = detail_naming(&emu, &c, "acw", "agent-who-wrapped-up", 60_000);
    assert_eq!(t.post_webhook(&wrapped_up).await.0, 202);
    assert_eq!(
        t.post_webhook(&sentiment_notification(&emu, &c)).await.0,
        202
    );
    let got = deliveries_for(&sink, &id, Duration::from_secs(8)).await;
    assert_eq!(got[0]["agent_id"], "agent-who-wrapped-up");
    let leg_end = detail_naming(&emu, &c, "user.end", "agent-consulted", 30_000);
    let earlier = detail_naming(&emu, &c, "acw", "agent-before-transfer", 300_000);
    assert_eq!(t.post_webhook(&leg_end).await.0, 202);
    assert_eq!(t.post_webhook(&earlier).await.0, 202);
    // A later agent's .acw does relink: once it is journaled, the others would be too.
    let later = detail_naming(&emu, &c, "acw", "agent-after-transfer", 0);
    assert_eq!(t.post_webhook(&later).await.0, 202);
    let late = crate::helpers::poll(Duration::from_secs(8), async || {
        let links: Vec<Value> = t
            .journal()
            .into_iter()
            .filter(|r| r["type"] == "attributed" && r["late"] == true)
            .collect();
        links
            .iter()
            .any(|l| l["agent_id"] == "agent-after-transfer")
            .then_some(links)
    })
    .await
    .expect("the later agent's late link");
    assert_eq!(late.len(), 1, "only the later .acw relinked: {late:?}");
}

#[tokio::test]
async fn a_later_agents_acw_after_the_score_went_out_relinks_the_stored_score() {
    let emu = start(small_config(47)).await;
    let (sink, t) = scores_by_webhook_only(&emu).await;
    let c = analysed(&emu, 4);
    let id = c.id_string();
    let first = detail_naming(&emu, &c, "acw", "agent-before-transfer", 300_000);
    assert_eq!(t.post_webhook(&first).await.0, 202);
    assert_eq!(
        t.post_webhook(&sentiment_notification(&emu, &c)).await.0,
        202
    );
    let got = deliveries_for(&sink, &id, Duration::from_secs(8)).await;
    assert_eq!(got[0]["agent_id"], "agent-before-transfer");
    let second = detail_naming(&emu, &c, "acw", "agent-after-transfer", 0);
    assert_eq!(t.post_webhook(&second).await.0, 202);
    let late = crate::helpers::poll(Duration::from_secs(8), async || {
        t.journal()
            .into_iter()
            .find(|r| r["type"] == "attributed" && r["late"] == true)
    })
    .await
    .expect("a late link");
    assert_eq!(late["agent_id"], "agent-after-transfer", "{late}");
    let row = stored_row(&t, &id, |r| {
        r["agent_id"].as_deref() == Some("agent-after-transfer")
    })
    .await;
    assert!(row.is_some(), "reports credit the last agent");
    assert_eq!(
        sink.events().len(),
        1,
        "the delivery made is not sent again"
    );
}
