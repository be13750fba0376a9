//! Issue 12: reports name agents and queues with the names Genesys has for them, looked up
//! through `GET /api/v2/users?id=…` and `GET /api/v2/routing/queues?id=…` (the emulator
//! serves both), cached between runs; a missing permission leaves ids and one warning.

use std::collections::HashMap;

use genesys_sentiment::emulator::{EmulatorConfig, Faults, RunningEmulator};
use serde_json::Value;

use crate::helpers::TestApp;
use crate::helpers::emulator::{batch_org, start, use_emulator};

fn lookups(emu: &RunningEmulator, path: &str) -> usize {
    emu.state
        .recorded
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.path == path)
        .count()
}

fn recording(seed: u64) -> EmulatorConfig {
    let mut c = batch_org(seed);
    c.record_requests = true;
    c
}

async fn labels(t: &TestApp) -> HashMap<String, Option<String>> {
    let report: Value = t.get("/v1/trends").await.json().await.unwrap();
    report["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["key"].as_str().unwrap().to_owned(),
                g["label"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

#[tokio::test]
async fn reports_carry_the_names_genesys_has_for_agents_and_queues() {
    let emu = start(recording(51)).await;
    let t = TestApp::started(|s| use_emulator(s, &emu)).await;
    let services = t.app.as_ref().unwrap().state().services().unwrap().clone();
    services.reports.wait_for_runs(1).await;
    let labels = labels(&t).await;
    let org = &emu.state.org;
    for a in &org.agents {
        if let Some(label) = labels.get(&a.id) {
            assert_eq!(label.as_deref(), Some(a.name.as_str()), "agent {}", a.id);
        }
    }
    for q in &org.queues {
        assert_eq!(labels[&q.id].as_deref(), Some(q.name.as_str()));
    }
    // An agent who has left the org is still named (Genesys lists only active users unless
    // asked for every state).
    let departed = org
        .agents
        .iter()
        .find(|a| a.departed)
        .expect("one has left");
    assert_eq!(
        labels.get(&departed.id).cloned().flatten().as_deref(),
        Some(departed.name.as_str())
    );
    assert!(lookups(&emu, "/api/v2/users") >= 1);
    assert!(lookups(&emu, "/api/v2/routing/queues") >= 1);
    // Names come from those endpoints: the daemon has no other source.
    let (users, queues) = (
        lookups(&emu, "/api/v2/users"),
        lookups(&emu, "/api/v2/routing/queues"),
    );
    services.batch.run_once(2).await.unwrap();
    assert_eq!(
        (
            lookups(&emu, "/api/v2/users"),
            lookups(&emu, "/api/v2/routing/queues")
        ),
        (users, queues),
        "the second run uses the cache"
    );
}

#[tokio::test]
async fn without_the_permission_reports_show_ids_and_the_run_succeeds() {
    let logs = crate::helpers::captured_logs();
    let mut config = recording(52);
    config.faults = Faults {
        forbid_paths: vec!["/api/v2/routing/queues".into()],
        ..Faults::default()
    };
    let emu = start(config).await;
    let t = TestApp::started(|s| use_emulator(s, &emu)).await;
    let services = t.app.as_ref().unwrap().state().services().unwrap().clone();
    services.reports.wait_for_runs(1).await;
    assert_eq!(services.reports.runs()[0].outcome.as_str(), "succeeded");
    let labels = labels(&t).await;
    let org = &emu.state.org;
    for q in &org.queues {
        assert_eq!(labels[&q.id], None, "queues fall back to ids");
    }
    assert!(
        org.agents.iter().any(|a| labels
            .get(&a.id)
            .is_some_and(|l| l.as_deref() == Some(a.name.as_str()))),
        "agents are still named"
    );
    services.batch.run_once(2).await.unwrap();
    let text = logs.text();
    let warnings = text
        .lines()
        .filter(|l| l.contains("Cannot look up queues names") && l.contains("routing:queue:view"))
        .count();
    assert_eq!(
        warnings, 1,
        "one warning naming the permission, not one per run"
    );
}

#[tokio::test]
async fn resolve_names_off_asks_nothing() {
    let emu = start(recording(53)).await;
    let t = TestApp::started(|s| {
        use_emulator(s, &emu);
        s.genesys.resolve_names = false;
    })
    .await;
    let services = t.app.as_ref().unwrap().state().services().unwrap().clone();
    services.reports.wait_for_runs(1).await;
    assert!(labels(&t).await.values().all(Option::is_none));
    assert_eq!(lookups(&emu, "/api/v2/users"), 0);
}
